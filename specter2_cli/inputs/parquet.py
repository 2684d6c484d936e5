"""Parquet: records are rows, located by row number; ranks own whole row groups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..config import ID_FIELDS, FieldSettings
from ..errors import InputError
from ..objstore.inputs import parquet_source
from .fields import TITLE_FALLBACK
from .files import InputFile
from .slicing import Cursor, Slice
from .validate import Item, RecordValidator, preview

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 4_096


def read_parquet(
    f: InputFile, sl: Slice, resume: int | None, validator: RecordValidator
) -> Iterator[tuple[Item, Cursor]]:
    """(record or reject, cursor after it) for each row of the row groups in the slice."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(parquet_source(f.path))
    columns = parquet_columns(f.path, pf.schema_arrow.names, validator)
    md = pf.metadata
    first_row = sum(md.row_group(g).num_rows for g in range(sl.start))
    for g in range(sl.start, sl.end):
        n = md.row_group(g).num_rows
        if resume is not None and first_row + n <= resume:
            first_row += n
            continue
        row = first_row
        batches = pf.iter_batches(
            batch_size=BATCH_ROWS, row_groups=[g], columns=columns, use_threads=False
        )
        while True:
            try:
                batch = next(batches, None)
                objs = batch.to_pylist() if batch is not None else []
            except (OSError, ValueError, pa.ArrowException) as e:
                raise InputError(
                    f"{f.display}: cannot read row group {g} (rows from {row}): {e}; the "
                    "file is truncated or corrupt. Finished shards are kept: repair or "
                    "re-download the file and rerun to continue."
                ) from e
            if batch is None:
                break
            for obj in objs:
                if resume is None or row >= resume:
                    item = validator.validate(
                        obj, f.display, f"row {row}", preview(obj), sl.file_index, row
                    )
                    yield item, Cursor(sl.file_index, row + 1)
                row += 1
        first_row += n


def parquet_columns(path: str, names: list[str], validator: RecordValidator) -> list[str]:
    """The columns to read from a Parquet file; raises InputError naming every missing one."""
    flds = validator.fields
    missing: list[str] = []
    if flds.id_field is not None:
        id_col = flds.id_field if flds.id_field in names else None
    else:
        id_col = next((c for c in ID_FIELDS if c in names), None)
    if id_col is None:
        missing.append(f"id column ({flds.id_field or ' or '.join(ID_FIELDS)})")
    if validator.query_mode:
        text_cols = [flds.text_field] if flds.text_field in names else []
        if not text_cols:
            missing.append(f"query column {flds.text_field!r}")
        hint = "Use --id-field / --text-field to name them."
    else:
        wanted = (flds.title_field, TITLE_FALLBACK, flds.abstract_field)
        text_cols = [c for c in dict.fromkeys(wanted) if c in names]
        if flds.title_field not in names and TITLE_FALLBACK not in names:
            missing.append(f"title column {flds.title_field!r}")
        hint = "Use --id-field / --title-field / --abstract-field or --preset to name them."
    if missing:
        raise InputError(
            f"{path}: no {' and no '.join(missing)}; it has columns: {', '.join(names)}. {hint}"
        )
    return [c for c in (id_col, *text_cols) if c is not None]


def parquet_schema(path: str) -> pa.Schema:
    """The Arrow schema of a Parquet file; InputError when it is not readable Parquet."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(parquet_source(path)).schema_arrow
    except Exception as e:  # not Parquet at all, or a truncated footer
        raise InputError(f"{path}: not a readable Parquet file ({e})") from e


def parquet_id_type(f: InputFile, fields: FieldSettings) -> str:
    """'int' when the id column is an integer column, else 'string'."""
    import pyarrow as pa

    schema = parquet_schema(f.path)
    for c in [fields.id_field] if fields.id_field else list(ID_FIELDS):
        if c in schema.names:
            return "int" if pa.types.is_integer(schema.field(c).type) else "string"
    return "string"
