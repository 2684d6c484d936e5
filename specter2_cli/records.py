"""Stream paper records from JSONL (plain, gzip, stdin) and Parquet; validate; split across ranks.

Every record has a position that does not depend on how the job is split:
`(file_index, pos)` where `pos` is the byte offset of its line in the
(decompressed) JSONL stream, or its row number in a Parquet file. That position
orders the output, lets a resumed run seek straight to where it stopped, and
decides which rank owns the record: the inputs are laid end to end on one byte
axis and rank r owns the records that start in the r-th of `world` equal parts.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, cast

from .config import ID_FIELDS, FieldSettings
from .errors import InputError, UsageError

Kind = Literal["jsonl", "jsonl.gz", "parquet", "stdin"]

RAW_PREVIEW_CHARS = 2_000
PARQUET_BATCH_ROWS = 4_096


@dataclass(frozen=True)
class InputFile:
    path: str  # as given; "-" for stdin
    kind: Kind
    size: int
    mtime_ns: int

    @property
    def display(self) -> str:
        return "<stdin>" if self.kind == "stdin" else self.path

    def identity(self) -> dict[str, Any]:
        if self.kind == "stdin":
            return {"path": "-"}
        return {"path": os.path.realpath(self.path), "size": self.size, "mtime_ns": self.mtime_ns}


@dataclass(slots=True)
class Record:
    id: int | str
    text: str
    file_index: int
    pos: int


@dataclass(slots=True)
class Rejected:
    source: str
    location: Any  # "row 7", or a lazily counted "line 12"
    id: int | str | None
    reason: str
    raw: str
    file_index: int
    pos: int

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "location": str(self.location),
            "id": self.id,
            "reason": self.reason,
            "raw": self.raw[:RAW_PREVIEW_CHARS],
        }

    def message(self) -> str:
        return f"{self.source}:{str(self.location).split()[-1]}: {self.reason}"


Item = Record | Rejected


def detect_kind(path: str) -> Kind:
    if path == "-":
        return "stdin"
    name = path.lower()
    if name.endswith((".jsonl.gz", ".ndjson.gz", ".json.gz")):
        return "jsonl.gz"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise UsageError(
        f"{path}: unknown input format; use .jsonl, .jsonl.gz or .parquet (or - for JSONL on stdin)"
    )


def resolve_inputs(paths: list[str]) -> list[InputFile]:
    """Check that every input exists and is a readable file, before any work starts."""
    if not paths:
        raise UsageError("no input given: name one or more .jsonl, .jsonl.gz, .parquet files or -")
    if paths.count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    out: list[InputFile] = []
    for p in paths:
        kind = detect_kind(p)
        if kind == "stdin":
            out.append(InputFile("-", "stdin", 0, 0))
            continue
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file")
        if os.path.isdir(p):
            raise InputError(
                f"{p}: is a directory; name the files instead (for example {p}/*.jsonl)"
            )
        if not os.access(p, os.R_OK):
            raise InputError(f"{p}: not readable (check its permissions)")
        st = os.stat(p)
        out.append(InputFile(p, kind, st.st_size, st.st_mtime_ns))
    return out


# ---------------------------------------------------------------- rank planning


@dataclass(frozen=True)
class Slice:
    """The part of one input file that one rank reads: [start, end) in that file's units.

    Units are bytes for plain JSONL (record owned if its line starts inside), row
    groups for Parquet, and the whole file for gzip and stdin (start=0, end=1).
    """

    file_index: int
    start: int
    end: int


def _parquet_row_groups(path: str) -> list[int]:
    import pyarrow.parquet as pq

    md = pq.ParquetFile(path).metadata
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
        if f.kind == "jsonl":
            start, end = max(lo, a) - a, min(hi, b) - a
            if start < end:
                slices.append(Slice(i, start, end))
        elif f.kind == "parquet":
            groups = _parquet_row_groups(f.path)
            n = len(groups)
            owned = [g for g in range(n) if lo <= a + g * size // n < hi]
            if owned:
                slices.append(Slice(i, owned[0], owned[-1] + 1))
        elif lo <= a < hi:  # gzip: unsplittable, owned by whoever owns its first byte
            slices.append(Slice(i, 0, 1))
    return slices


def _full_end(f: InputFile) -> int:
    if f.kind == "jsonl":
        return max(f.size, 1)
    if f.kind == "parquet":
        return len(_parquet_row_groups(f.path))
    return 1


# ---------------------------------------------------------------- validation


class RecordValidator:
    """Turns one parsed object into a Record (formatted text) or a Rejected with a reason."""

    def __init__(
        self, fields: FieldSettings, query_mode: bool, sep_token: str, id_type: str
    ) -> None:
        self.fields = fields
        self.query_mode = query_mode
        self.sep = sep_token
        self.id_type = id_type  # "int" or "string", resolved

    def id_of(self, obj: dict[str, Any]) -> tuple[Any, str | None]:
        """(value, field name) of the record's id; value None when absent."""
        if self.fields.id_field is not None:
            return obj.get(self.fields.id_field), self.fields.id_field
        for name in ID_FIELDS:
            if name in obj and obj[name] is not None:
                return obj[name], name
        return None, None

    def check_id(self, value: Any) -> tuple[int | str | None, str | None]:
        """(normalised id, None) or (None, reason)."""
        looked = self.fields.id_field or ", ".join(ID_FIELDS)
        if value is None:
            return None, f"missing id (looked for: {looked}); set --id-field"
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None, f"id must be a string or an integer, got {type(value).__name__}"
        if isinstance(value, str) and not value.strip():
            return None, "empty id"
        if self.id_type == "any":  # in-memory API: ids are returned as given
            return value, None
        if self.id_type == "int":
            if isinstance(value, str):
                return None, (
                    f"id {value!r} is a string but this job's ids are integers; "
                    "rerun with --id-type string"
                )
            if not -(2**63) <= value < 2**63:
                return None, f"integer id {value} does not fit in 64 bits; use --id-type string"
            return value, None
        return str(value), None

    def validate(
        self, obj: Any, source: str, location: Any, raw: str, file_index: int, pos: int
    ) -> Item:
        def reject(reason: str, rid: Any = None) -> Rejected:
            return Rejected(source, location, rid, reason, raw, file_index, pos)

        if not isinstance(obj, dict):
            return reject(f"expected a JSON object, got {_json_type(obj)}")
        value, _ = self.id_of(obj)
        rid, why = self.check_id(value)
        if rid is None:
            return reject(why or "bad id", value if isinstance(value, int | str) else None)
        if self.query_mode:
            q = obj.get(self.fields.text_field)
            if q is not None and not isinstance(q, str):
                return reject(
                    f"field {self.fields.text_field!r} is {_json_type(q)}, expected a string", rid
                )
            if not q or not q.strip():
                return reject(f"missing or empty query field {self.fields.text_field!r}", rid)
            return Record(rid, q, file_index, pos)
        title = obj.get(self.fields.title_field)
        abstract = obj.get(self.fields.abstract_field)
        for name, v in ((self.fields.title_field, title), (self.fields.abstract_field, abstract)):
            if v is not None and not isinstance(v, str):
                return reject(f"field {name!r} is {_json_type(v)}, expected a string or null", rid)
        if not (title and title.strip()) and not (abstract and abstract.strip()):
            return reject(
                f"no text: {self.fields.title_field!r} and {self.fields.abstract_field!r} "
                "are both missing or empty",
                rid,
            )
        # Exactly the model card's formatting: title + sep_token + (abstract or "").
        return Record(rid, (title or "") + self.sep + (abstract or ""), file_index, pos)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


# ---------------------------------------------------------------- readers


@dataclass(slots=True)
class Cursor:
    """Where to resume: the next unread position in input file `file_index`."""

    file_index: int
    pos: int

    def as_list(self) -> list[int]:
        return [self.file_index, self.pos]


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
        for sl in self.slices:
            if self.start is not None and sl.file_index < self.start.file_index:
                continue
            resume = (
                self.start.pos
                if self.start is not None and sl.file_index == self.start.file_index
                else None
            )
            f = self.inputs[sl.file_index]
            if f.kind == "parquet":
                yield from self._parquet(f, sl, resume)
            else:
                yield from self._jsonl(f, sl, resume)

    # JSONL ---------------------------------------------------------------

    def _open(self, f: InputFile) -> IO[bytes]:
        if f.kind == "stdin":
            return self.stdin or sys.stdin.buffer
        if f.kind == "jsonl.gz":
            return cast(IO[bytes], gzip.open(f.path, "rb"))
        return open(f.path, "rb", buffering=1 << 20)

    def _jsonl(self, f: InputFile, sl: Slice, resume: int | None) -> Iterator[tuple[Item, Cursor]]:
        fh = self._open(f)
        try:
            pos = 0
            if f.kind == "jsonl":
                if resume is not None:
                    pos = resume
                    fh.seek(pos)
                elif sl.start > 0:
                    fh.seek(sl.start - 1)  # a line starting exactly at sl.start is ours
                    pos = sl.start - 1 + len(fh.readline())
                end = sl.end
            else:  # gzip or stdin: read from the beginning, skip what is done
                end = 1 << 62
                if resume:
                    pos = _skip_bytes(fh, resume, f)
            while pos < end:
                try:
                    line = fh.readline()
                except (EOFError, OSError, zlib.error) as e:
                    raise InputError(
                        f"{f.display}: cannot read past byte {pos} of the decompressed stream "
                        f"({e}); the file is truncated or corrupt. Finished shards are kept: "
                        "repair or re-download the file and rerun to continue."
                    ) from e
                if not line:
                    break
                start, pos = pos, pos + len(line)
                item = self._parse_line(line, f, start, sl.file_index)
                if item is not None:
                    yield item, Cursor(sl.file_index, pos)
        finally:
            if f.kind != "stdin":
                fh.close()

    def _parse_line(self, line: bytes, f: InputFile, start: int, file_index: int) -> Item | None:
        if start == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        stripped = line.strip()
        if not stripped:
            return None
        location = _LazyLine(f, start)
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as e:
            raw = stripped.decode("utf-8", errors="replace")
            return Rejected(
                f.display, location, None, f"invalid UTF-8 at byte {e.start}", raw,
                file_index, start,
            )  # fmt: skip
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            reason = f"invalid JSON: {e.msg if hasattr(e, 'msg') else e}"
            if isinstance(e, json.JSONDecodeError):
                reason += f" at column {e.colno}"
            return Rejected(f.display, location, None, reason, text, file_index, start)
        return self.validator.validate(obj, f.display, location, text, file_index, start)

    # Parquet -------------------------------------------------------------

    def _parquet(
        self, f: InputFile, sl: Slice, resume: int | None
    ) -> Iterator[tuple[Item, Cursor]]:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(f.path)
        columns = parquet_columns(f.path, pf.schema_arrow.names, self.validator)
        md = pf.metadata
        first_row = sum(md.row_group(g).num_rows for g in range(sl.start))
        for g in range(sl.start, sl.end):
            n = md.row_group(g).num_rows
            if resume is not None and first_row + n <= resume:
                first_row += n
                continue
            row = first_row
            for batch in pf.iter_batches(
                batch_size=PARQUET_BATCH_ROWS, row_groups=[g], columns=columns, use_threads=False
            ):
                for obj in batch.to_pylist():
                    if resume is None or row >= resume:
                        item = self.validator.validate(
                            obj, f.display, f"row {row}", _preview(obj), sl.file_index, row
                        )
                        yield item, Cursor(sl.file_index, row + 1)
                    row += 1
            first_row += n


class _LazyLine:
    """Renders 'line N' for a byte offset, counting newlines only when an error needs it."""

    def __init__(self, f: InputFile, offset: int) -> None:
        self.f, self.offset = f, offset
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = f"line {line_number(self.f, self.offset)}"
        return self._text


def line_number(f: InputFile, offset: int) -> str:
    """1-based line number of the line starting at `offset` (byte offset when unknowable)."""
    if f.kind == "stdin":
        return f"byte {offset}"
    opener = gzip.open if f.kind == "jsonl.gz" else open
    count, left = 1, offset
    with opener(f.path, "rb") as fh:
        while left > 0:
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            left -= len(chunk)
    return str(count)


def _skip_bytes(fh: IO[bytes], n: int, f: InputFile) -> int:
    left = n
    while left > 0:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            raise InputError(
                f"{f.display}: ended after {n - left} bytes, but {n} were already embedded; "
                "a resumed run must read the same input (use --overwrite to start over)"
            )
        left -= len(chunk)
    return n


def _preview(obj: dict[str, Any]) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, default=str)[:RAW_PREVIEW_CHARS]
    except (TypeError, ValueError):
        return repr(obj)[:RAW_PREVIEW_CHARS]


def parquet_columns(path: str, names: list[str], validator: RecordValidator) -> list[str]:
    """The columns to read from a Parquet file; raises InputError listing what it has."""
    flds = validator.fields
    if flds.id_field is not None:
        id_col = flds.id_field if flds.id_field in names else None
    else:
        id_col = next((c for c in ID_FIELDS if c in names), None)
    if id_col is None:
        wanted = flds.id_field or " or ".join(ID_FIELDS)
        raise InputError(
            f"{path}: no id column ({wanted}); it has columns: {', '.join(names)}. "
            "Use --id-field to name the id column."
        )
    if validator.query_mode:
        text_cols = [flds.text_field] if flds.text_field in names else []
        if not text_cols:
            raise InputError(
                f"{path}: no query column {flds.text_field!r}; it has columns: "
                f"{', '.join(names)}. Use --text-field to name it."
            )
    else:
        text_cols = [c for c in (flds.title_field, flds.abstract_field) if c in names]
        if flds.title_field not in names:
            raise InputError(
                f"{path}: no title column {flds.title_field!r}; it has columns: "
                f"{', '.join(names)}. Use --title-field / --abstract-field to name them."
            )
    return [id_col, *text_cols]


def check_inputs_readable(inputs: list[InputFile], validator: RecordValidator) -> None:
    """Fail before the model loads if a Parquet input lacks the needed columns."""
    import pyarrow.parquet as pq

    for f in inputs:
        if f.kind != "parquet":
            continue
        try:
            names = pq.ParquetFile(f.path).schema_arrow.names
        except Exception as e:
            raise InputError(f"{f.path}: not a readable Parquet file ({e})") from e
        parquet_columns(f.path, names, validator)


def resolve_id_type(inputs: list[InputFile], fields: FieldSettings, peeked: Any = None) -> str:
    """'int' or 'string' for this job: from --id-type, else from the first input.

    Every rank decides the same way (it looks at the first input file, not at its
    own slice), so all shards of a job share one id column type.
    """
    if fields.id_type != "auto":
        return fields.id_type
    f = inputs[0]
    probe = RecordValidator(fields, False, "[SEP]", "string")
    if f.kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(f.path).schema_arrow
        for c in [fields.id_field] if fields.id_field else list(ID_FIELDS):
            if c in schema.names:
                return "int" if pa.types.is_integer(schema.field(c).type) else "string"
        return "string"
    obj = peeked if f.kind == "stdin" else _first_json_object(f)
    if isinstance(obj, dict):
        value, _ = probe.id_of(obj)
        if isinstance(value, int) and not isinstance(value, bool):
            return "int"
    return "string"


def _first_json_object(f: InputFile, max_lines: int = 1000) -> Any:
    opener = gzip.open if f.kind == "jsonl.gz" else open
    try:
        with opener(f.path, "rb") as fh:
            for _ in range(max_lines):
                line = fh.readline()
                if not line:
                    return None
                line = line.lstrip(b"\xef\xbb\xbf").strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(obj, dict):
                    return obj
    except (OSError, EOFError, zlib.error):
        return None
    return None


class PeekableStdin(io.RawIOBase):
    """stdin with its first line read ahead (to decide the id type) and put back."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.head = raw.readline()

    def first_object(self) -> Any:
        try:
            return json.loads(self.head.lstrip(b"\xef\xbb\xbf"))
        except (ValueError, RecursionError):
            return None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        return n


def input_identity(inputs: list[InputFile]) -> list[dict[str, Any]]:
    return [f.identity() for f in inputs]


def display_path(p: str | Path) -> str:
    return str(p)
