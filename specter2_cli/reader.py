"""Read an OUTDIR back: ids and one numpy array, newest vector per id, Parquet or .npy.

    from specter2_cli import read_embeddings

    emb = read_embeddings("out/papers")
    emb.ids          # numpy: int64, or object (str) for string ids
    emb.embeddings   # numpy [n, dim], float32 (or float16 with --output-dtype float16)
    emb.to_arrow()   # pyarrow Table: id, embedding (fixed_size_list)

The rows are those `specter2 merge` writes, in the same order: input order, each
id once, the newest `--incremental` generation winning (merge.survivors). A single
.npy shard whose rows all survive is memory-mapped, not read; otherwise the
surviving rows are copied into one array of the stored dtype.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .errors import InputError, UsageError
from .merge import committed_shards, survivors_of
from .store.outdir import OutDir
from .store.shards import (
    embedding_array,
    read_index,
    read_shard_embeddings,
    shard_metadata,
)

log = logging.getLogger("specter2")


@dataclass
class Embeddings:
    """Ids, vectors (row i belongs to ids[i]), their 64-bit id keys and the shard metadata."""

    ids: np.ndarray
    embeddings: np.ndarray
    id_keys: np.ndarray  # uint64: the stored hash of each id (what `export` indexes by)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def to_arrow(self) -> pa.Table:
        """id + embedding (fixed_size_list of the stored float type)."""
        dtype = "float16" if self.embeddings.dtype == np.float16 else "float32"
        ids = pa.array(self.ids, type=pa.int64() if self.ids.dtype.kind == "i" else pa.string())
        return pa.table({"id": ids, "embedding": embedding_array(self.embeddings, dtype)})


def read_embeddings(path: str | os.PathLike[str]) -> Embeddings:
    """Every committed embedding of an OUTDIR, newest per id (see the module docstring), or
    the rows of a file `specter2 merge` wrote. `path` may be an s3:// OUTDIR."""
    from .objstore.outdir import local_view, named_as

    shown = os.fspath(path)
    local = local_view(path)
    with named_as(local, shown):
        return _read_outdir(local, shown)


def _read_outdir(path: str | os.PathLike[str], shown: str) -> Embeddings:
    p = Path(path)
    if p.is_file():
        return _read_merged(p)
    out = OutDir(path)
    if not out.path.is_dir() or out.job() is None:
        raise UsageError(
            f"{shown}: not the output folder of `specter2 embed` (no _specter2/job.json), "
            "nor a file that `specter2 merge` wrote"
        )
    if not (out.path / "_SUCCESS").exists():
        log.warning("%s is not complete (no _SUCCESS): reading the rows committed so far", shown)
    shards = list(committed_shards(out))
    if not shards:
        raise UsageError(f"{shown} holds no committed embeddings")
    return _read_shards(out.path, [(m.gen, sh.files) for m, sh in shards])


def _read_merged(p: Path) -> Embeddings:
    """The FILE.parquet, or FILE.npy + FILE.ids.parquet, that `specter2 merge` writes."""
    if p.suffix == ".parquet" and not p.name.endswith(".ids.parquet"):
        files = [p.name]
    elif p.suffix == ".npy" and p.with_suffix(".ids.parquet").is_file():
        files = [p.name, p.with_suffix(".ids.parquet").name]
    else:
        raise UsageError(
            f"{p}: give an OUTDIR, a FILE.parquet or a FILE.npy (with FILE.ids.parquet beside "
            "it) from `specter2 merge`"
        )
    return _read_shards(p.parent, [(0, files)])


def _read_shards(folder: Path, shards: list[tuple[int, list[str]]]) -> Embeddings:
    surv = survivors_of(folder, shards)
    meta = shard_metadata(folder / shards[0][1][-1])
    ids: list[pa.Array] = []
    keys: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    offset = 0
    for (_gen, files), count in zip(shards, surv.counts, strict=True):
        mask = surv.keep[offset : offset + count]
        offset += count
        if not mask.any():
            continue
        index = read_index(folder, files, ("id", "id_key")).filter(pa.array(mask))
        ids.append(index.column("id").combine_chunks())
        keys.append(index.column("id_key").to_numpy())
        emb = read_shard_embeddings(folder, files, mmap=True)
        if len(emb) != count:
            raise InputError(
                f"{folder / files[0]}: {len(emb)} vectors but {count} ids; the shard is damaged"
            )
        parts.append(emb if mask.all() else np.asarray(emb[mask]))
    if not parts:  # a merged file of 0 rows (an --allow-empty job): an empty (0, dim) result
        files = shards[0][1]
        index = read_index(folder, files, ("id", "id_key")).slice(0, 0)
        ids.append(index.column("id").combine_chunks())
        keys.append(index.column("id_key").to_numpy())
        emb = read_shard_embeddings(folder, files, mmap=False)
        parts.append(np.asarray(emb[:0]))
    embeddings = parts[0] if len(parts) == 1 else np.concatenate(parts)
    id_array = pa.concat_arrays(ids)
    return Embeddings(
        id_array.to_numpy(zero_copy_only=False),
        embeddings,
        np.concatenate(keys).astype(np.uint64, copy=False),
        meta,
    )
