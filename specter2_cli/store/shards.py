"""Shard files: the Parquet schema, a writer that publishes whole files only, and readers.

A shard becomes visible only when complete: it is written under a hidden temp
name (a leading dot, which pyarrow skips when reading a folder), closed, fsynced,
renamed into place and its folder fsynced. A kill at any moment leaves either no
shard or a whole one, so `pq.read_table(OUTDIR)` always works. `merge` writes its
single file with the same writer.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import faults
from ..errors import InputError
from .durable import file_fingerprint, output_error, publish

INDEX_COLUMNS = ("id", "input_file", "input_pos", "text_hash", "id_key")
# Parquet layout: zstd, and BYTE_STREAM_SPLIT for float32 vectors (~15% smaller than snappy,
# which saves nothing on floats). The leaf path is what pyarrow names a list's values;
# the bare column name would be ignored without a word. Not for float16: DuckDB cannot
# read float16 + BYTE_STREAM_SPLIT, and pyarrow < 16 cannot write it.
EMBEDDING_LEAF = "embedding.list.element"
COMPRESSION = "zstd"
ROW_GROUP_BYTES = 32 << 20  # upper bound of a row group (uncompressed), so readers stream
METADATA_KEY = b"specter2"
_NPY_MAGIC = b"\x93NUMPY\x01\x00"
_NPY_HEADER_LEN = 128  # room for any shape; padded with spaces as the format allows


def numpy_dtype(name: str) -> type[np.floating[Any]]:
    """The numpy type of an --output-dtype name."""
    return np.float16 if name == "float16" else np.float32


# ----------------------------------------------------------------- schema


def embedding_type(dim: int, dtype: str) -> pa.DataType:
    value = pa.from_numpy_dtype(numpy_dtype(dtype))
    return pa.list_(pa.field("item", value, nullable=False), dim)


def index_schema(id_type: str) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.int64() if id_type == "int" else pa.string(), nullable=False),
            pa.field("input_file", pa.int32(), nullable=False),
            pa.field("input_pos", pa.int64(), nullable=False),
            pa.field("text_hash", pa.uint64(), nullable=False),
            # 64-bit hash of the id: incremental runs and merge read it instead of rehashing
            pa.field("id_key", pa.uint64(), nullable=False),
        ]
    )


def _with_metadata(schema: pa.Schema, metadata: dict[str, Any]) -> pa.Schema:
    return schema.with_metadata({METADATA_KEY: json.dumps(metadata, sort_keys=True)})


def shard_schema(id_type: str, dim: int, dtype: str, metadata: dict[str, Any]) -> pa.Schema:
    idx = index_schema(id_type)
    fields = [idx.field("id"), pa.field("embedding", embedding_type(dim, dtype), nullable=False)]
    fields += [idx.field(n) for n in INDEX_COLUMNS[1:]]
    return _with_metadata(pa.schema(fields), metadata)


@dataclass
class Rows:
    """Embedded rows in input order: the index columns as arrow or numpy, and the vectors."""

    index: pa.Table  # INDEX_COLUMNS
    embeddings: np.ndarray  # [n, dim]

    def __len__(self) -> int:
        return self.index.num_rows

    @classmethod
    def build(
        cls,
        ids: list[int | str],
        embeddings: np.ndarray,
        input_file: np.ndarray,
        input_pos: np.ndarray,
        text_hash: np.ndarray,
        id_key: np.ndarray,
        id_type: str,
    ) -> Rows:
        schema = index_schema(id_type)
        index = pa.table(
            [
                pa.array(ids, type=schema.field("id").type),
                pa.array(input_file, type=pa.int32()),
                pa.array(input_pos, type=pa.int64()),
                pa.array(text_hash, type=pa.uint64()),
                pa.array(id_key, type=pa.uint64()),
            ],
            schema=schema,
        )
        return cls(index, embeddings)


def embedding_array(emb: np.ndarray, dtype: str) -> pa.FixedSizeListArray:
    values = np.ascontiguousarray(emb, dtype=numpy_dtype(dtype))
    flat = pa.array(values.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, emb.shape[1])


# ----------------------------------------------------------------- writer


class ShardWriter:
    """Writes `<stem>.parquet`, or `<stem>.npy` + `<stem>.ids.parquet`, batch by batch.

    `commit()` publishes the files and returns their names; `abort()` removes the
    temp files. Nothing is visible under the final names before `commit()`.
    """

    def __init__(
        self,
        stem: Path,
        fmt: str,
        id_type: str,
        dim: int,
        out_dtype: str,
        metadata: dict[str, Any],
        tmp_suffix: str = "",
    ) -> None:
        """`tmp_suffix` makes the temp names unique to this process (files outside an OUTDIR,
        where no rank owns the name); OUTDIR shards keep the fixed names a resume sweeps."""
        self.fmt, self.id_type, self.dim, self.out_dtype = fmt, id_type, dim, out_dtype
        self.rows = 0
        folder, name = stem.parent, stem.name
        self.final = folder / f"{name}.{fmt}"
        self.tmp = folder / f".{name}.{fmt}.tmp{tmp_suffix}"
        self.ids_final = folder / f"{name}.ids.parquet"
        self.ids_tmp = folder / f".{name}.ids.parquet.tmp{tmp_suffix}"
        self._pq: pq.ParquetWriter | None = None
        self._ids_pq: pq.ParquetWriter | None = None
        self._npy: Any = None
        try:
            if fmt == "parquet":
                self._pq = pq.ParquetWriter(
                    self.tmp,
                    shard_schema(id_type, dim, out_dtype, metadata),
                    compression=COMPRESSION,
                    # dictionary encoding would win over BYTE_STREAM_SPLIT: never on vectors
                    use_dictionary=["id"] if id_type == "string" else False,
                    use_byte_stream_split=[EMBEDDING_LEAF] if out_dtype == "float32" else False,
                    write_statistics=["id", "input_file", "input_pos"],
                    # a CRC per page: a shard damaged in place (same size) fails to read
                    # instead of giving other vectors
                    write_page_checksum=True,
                )
            else:
                self._npy = open(self.tmp, "wb")
                self._npy.write(b"\0" * _NPY_HEADER_LEN)
                self._ids_pq = pq.ParquetWriter(
                    self.ids_tmp,
                    _with_metadata(index_schema(id_type), metadata),
                    compression=COMPRESSION,
                    write_page_checksum=True,
                )
        except OSError as e:
            self.abort()
            raise output_error(self.tmp, e) from e

    def write(self, rows: Rows) -> None:
        if len(rows) == 0:
            return
        try:
            faults.point("write", path=self.tmp)
            if self._pq is not None:
                cols = [rows.index.column("id"), embedding_array(rows.embeddings, self.out_dtype)]
                cols += [rows.index.column(c) for c in INDEX_COLUMNS[1:]]
                table = pa.table(cols, schema=self._pq.schema)
                self._pq.write_table(table, row_group_size=group_rows(table))
            else:
                dtype = numpy_dtype(self.out_dtype)
                self._npy.write(np.ascontiguousarray(rows.embeddings, dtype=dtype).tobytes())
                assert self._ids_pq is not None
                self._ids_pq.write_table(rows.index.cast(self._ids_pq.schema))
        except OSError as e:
            self.abort()
            raise output_error(self.tmp, e) from e
        self.rows += len(rows)

    def commit(self) -> list[str]:
        """Publish the shard; returns the file names it consists of."""
        try:
            if self._pq is not None:
                self._pq.close()
                self._pq = None
                publish(self.tmp, self.final)
                return [self.final.name]
            self._npy.seek(0)
            self._npy.write(npy_header(self.rows, self.dim, self.out_dtype))
            self._npy.flush()
            self._npy.close()
            self._npy = None
            assert self._ids_pq is not None
            # the id file names its vectors: a reader that finds the two files of different
            # writes (a merge --overwrite publishing, a copy) stops instead of pairing them
            self._ids_pq.add_key_value_metadata({NPY_FINGERPRINT_KEY: file_fingerprint(self.tmp)})
            self._ids_pq.close()
            self._ids_pq = None
            publish(self.ids_tmp, self.ids_final)
            publish(self.tmp, self.final)
            return [self.final.name, self.ids_final.name]
        except OSError as e:
            self.abort()
            raise output_error(self.final, e) from e

    def abort(self) -> None:
        for handle in (self._pq, self._ids_pq, self._npy):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
        self._pq = self._ids_pq = self._npy = None
        for tmp in (self.tmp, self.ids_tmp):
            with contextlib.suppress(OSError):  # an unwritable folder: the rerun sweeps it
                tmp.unlink(missing_ok=True)


def group_rows(table: pa.Table, target: int | None = None) -> int:
    """Rows per row group so that one holds at most `target` bytes (ROW_GROUP_BYTES)."""
    per_row = max(1, table.nbytes // max(table.num_rows, 1))
    return max(1, (target or ROW_GROUP_BYTES) // per_row)


def npy_header(rows: int, dim: int, dtype: str) -> bytes:
    descr = np.dtype(numpy_dtype(dtype)).newbyteorder("<").str
    d = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {dim}), }}"
    body = d.encode("latin1")
    pad = _NPY_HEADER_LEN - len(_NPY_MAGIC) - 2 - len(body) - 1
    if pad < 0:
        raise ValueError("shape too large for the .npy header")
    return _NPY_MAGIC + (_NPY_HEADER_LEN - 10).to_bytes(2, "little") + body + b" " * pad + b"\n"


# ----------------------------------------------------------------- readers


def shard_metadata(path: Path) -> dict[str, Any]:
    md = pq.read_schema(path).metadata or {}
    raw = md.get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def read_index(
    outdir: Path, files: list[str], columns: tuple[str, ...] = INDEX_COLUMNS
) -> pa.Table:
    """The index columns of one committed shard (from the .parquet or the .ids.parquet)."""
    src = next((f for f in files if f.endswith(".ids.parquet")), files[0])
    try:
        return pq.read_table(outdir / src, columns=list(columns), page_checksum_verification=True)
    except (OSError, pa.ArrowException, ValueError) as e:
        raise _unreadable(outdir / src, e) from None


def read_shard_embeddings(outdir: Path, files: list[str], mmap: bool = True) -> np.ndarray:
    """The [n, dim] embeddings of one committed shard (memory-mapped for .npy)."""
    npy = next((f for f in files if f.endswith(".npy")), None)
    try:
        if npy is not None:
            _check_pair(outdir, npy, files)
            return np.load(outdir / npy, mmap_mode="r" if mmap else None, allow_pickle=False)
        col = pq.read_table(
            outdir / files[0], columns=["embedding"], page_checksum_verification=True
        ).column("embedding")
    except (OSError, pa.ArrowException, ValueError) as e:
        raise _unreadable(outdir / (npy or files[0]), e) from None
    return fixed_list_to_numpy(col)


NPY_FINGERPRINT_KEY = "specter2_npy"


def _check_pair(outdir: Path, npy: str, files: list[str]) -> None:
    """The .ids.parquet beside a .npy was written with it (when it records a fingerprint)."""
    ids = next((f for f in files if f.endswith(".ids.parquet")), None)
    if ids is None:
        return
    want = (pq.read_metadata(outdir / ids).metadata or {}).get(NPY_FINGERPRINT_KEY.encode())
    if want is not None and want.decode() != file_fingerprint(outdir / npy):
        raise ValueError(
            f"{ids} was written with another {npy} (a merge or copy in progress, or one "
            "of the two replaced); read again once the writer is done"
        )


def _unreadable(path: Path, e: Exception) -> InputError:
    """A shard that cannot be read (deleted, cut short, not ours): exit 3, naming it."""
    return InputError(
        f"{path}: cannot read this shard ({type(e).__name__}: {e}); it is missing or damaged. "
        "`specter2 status` on its folder names damaged shards, and rerunning the embed command "
        "re-embeds them; a shard damaged in place is found only on reading it: delete the "
        "file and rerun the same embed command, which re-embeds a missing shard (a file that "
        "`specter2 merge` wrote: merge again)"
    )


def fixed_list_to_numpy(col: pa.ChunkedArray | pa.FixedSizeListArray) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    dim = arr.type.list_size
    if len(arr) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return arr.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
