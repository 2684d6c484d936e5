"""Paper records in: input files, one reader per format, validation, rank slices.

Every record has a position that does not depend on how the job is split:
`(file_index, pos)` where `pos` is the byte offset of its line in the
(decompressed) JSONL stream, its row number in a Parquet or CSV file, its
article number in a PubMed XML file, or 0 for a one-document JSON file. That position
orders the output, lets a resumed run seek straight to where it stopped, and
decides which rank owns the record.
"""

from .files import InputFile, input_identity
from .resolve import resolve_inputs
from .slicing import Cursor, Slice, plan_slices
from .stream import RecordStream, check_inputs_readable, resolve_id_type
from .validate import Item, Record, RecordValidator, Rejected

__all__ = [
    "Cursor",
    "InputFile",
    "Item",
    "Record",
    "RecordStream",
    "RecordValidator",
    "Rejected",
    "Slice",
    "check_inputs_readable",
    "input_identity",
    "plan_slices",
    "resolve_id_type",
    "resolve_inputs",
]
