"""Which rank reads what: the inputs laid end to end on one byte axis, cut into equal parts.

Rank r of `world` owns the records that start in the r-th part: byte ranges of
plain JSONL (a line belongs to the part its first byte is in), row groups of
Parquet, whole files for everything else: compressed streams cannot be split, and
CSV, XML and one-document JSON files are read from their start.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..objstore.inputs import parquet_source
from .files import InputFile


@dataclass(frozen=True)
class Slice:
    """The part of one input file that one rank reads: [start, end) in that file's units.

    Units are bytes for plain JSONL (record owned if its line starts inside), row
    groups for Parquet, and the whole file for gzip and stdin (start=0, end=1).
    """

    file_index: int
    start: int
    end: int


@dataclass(slots=True)
class Cursor:
    """Where to resume: the next unread position in input file `file_index`."""

    file_index: int
    pos: int

    def as_list(self) -> list[int]:
        return [self.file_index, self.pos]


def parquet_row_groups(path: str) -> list[int]:
    """Rows per row group of a Parquet file."""
    import pyarrow.parquet as pq

    md = pq.ParquetFile(parquet_source(path)).metadata
    return [md.row_group(i).num_rows for i in range(md.num_row_groups)]


def plan_slices(inputs: list[InputFile], rank: int, world: int) -> list[Slice]:
    """The slices of the input that `rank` of `world` owns. Every record has exactly one owner."""
    if world > 1 and any(f.kind == "stdin" for f in inputs):
        raise UsageError("stdin (-) cannot be split across ranks; give files, or run one rank")
    if world == 1:
        return [Slice(i, 0, _full_end(f)) for i, f in enumerate(inputs)]
    total = sum(max(f.size, 1) for f in inputs)
    lo, hi = total * rank // world, total * (rank + 1) // world
    slices: list[Slice] = []
    offset = 0
    for i, f in enumerate(inputs):
        size = max(f.size, 1)
        a, b = offset, offset + size
        offset = b
        if f.kind == "jsonl" and f.splittable:
            start, end = max(lo, a) - a, min(hi, b) - a
            if start < end:
                slices.append(Slice(i, start, end))
        elif f.kind == "parquet":
            groups = parquet_row_groups(f.path)
            n = len(groups)
            owned = [g for g in range(n) if lo <= a + g * size // n < hi]
            if owned:
                slices.append(Slice(i, owned[0], owned[-1] + 1))
        elif lo <= a < hi:  # compressed, CSV, XML, one-document JSON: owned whole
            slices.append(Slice(i, 0, 1))
    return slices


def _full_end(f: InputFile) -> int:
    if f.kind == "jsonl" and f.splittable:
        return max(f.size, 1)
    if f.kind == "parquet":
        return len(parquet_row_groups(f.path))
    return 1
