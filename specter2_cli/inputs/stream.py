"""One rank's records in input order, from whatever readers its files need."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from ..config import FieldSettings
from .csvfile import read_csv
from .document import load_document, read_document
from .files import InputFile
from .jsonl import first_json_object, read_jsonl
from .parquet import parquet_id_type, read_parquet
from .pubmed import read_pubmed
from .slicing import Cursor, Slice
from .sniff import check_first_records
from .validate import Item, RecordValidator


class RecordStream:
    """Iterates one rank's records in input order, starting at a cursor.

    Yields (item, next_cursor): the cursor is where a resumed run would continue
    after this item, so a shard commits the cursor of its last item.
    """

    def __init__(
        self,
        inputs: list[InputFile],
        slices: list[Slice],
        validator: RecordValidator,
        start: Cursor | None = None,
        stdin: IO[bytes] | None = None,
    ) -> None:
        self.inputs = inputs
        self.slices = slices
        self.validator = validator
        self.start = start
        self.stdin = stdin

    def __iter__(self) -> Iterator[tuple[Item, Cursor]]:
        start = self.start
        for sl in self.slices:
            if start is not None and sl.file_index < start.file_index:
                continue
            resume = start.pos if start is not None and sl.file_index == start.file_index else None
            f = self.inputs[sl.file_index]
            if f.kind == "parquet":
                yield from read_parquet(f, sl, resume, self.validator)
            elif f.kind in ("csv", "tsv"):
                yield from read_csv(f, sl, resume, self.validator)
            elif f.kind == "xml":
                yield from read_pubmed(f, sl, resume, self.validator)
            elif f.kind == "json":
                yield from read_document(f, sl, resume, self.validator)
            else:
                yield from read_jsonl(f, sl, resume, self.validator, self.stdin)


def check_inputs_readable(
    inputs: list[InputFile], validator: RecordValidator, peeked: Any = None
) -> None:
    """Fail before the model loads on inputs the settings cannot read (see sniff.py)."""
    check_first_records(inputs, validator.fields, validator.query_mode, peeked)


def resolve_id_type(inputs: list[InputFile], fields: FieldSettings, peeked: Any = None) -> str:
    """'int' or 'string' for this job: from --id-type, else from the first record of the input.

    Every rank decides the same way (it looks at the inputs from the first file on,
    not at its own slice), so all shards of a job share one id column type. Inputs
    with no JSON object (empty, blank or all bad) are passed over.
    """
    if fields.id_type != "auto":
        return fields.id_type
    probe = RecordValidator(fields, False, "[SEP]", "string")
    for f in inputs:
        if f.kind == "parquet":
            return parquet_id_type(f, fields)
        if f.kind in ("csv", "tsv"):
            return "string"  # every CSV column is read as text
        if f.kind == "xml":
            return "int"  # PMIDs
        if f.kind == "json":
            obj = load_document(f)
        else:
            obj = peeked if f.kind == "stdin" else first_json_object(f)
        if isinstance(obj, dict):
            value, _ = probe.id_of(obj)
            return "int" if isinstance(value, int) and not isinstance(value, bool) else "string"
    return "string"
