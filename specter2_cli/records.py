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
    location: Any = None  # "line 12" / "row 7" (lazily rendered): where to point a later reject


@dataclass(slots=True)
class Rejected:
    source: str
    location: Any  # "row 7", or a lazily counted "line 12"
    id: int | str | None
    reason: str
    raw: str
    file_index: int
    pos: int

    def __post_init__(self) -> None:
        # Keep only a preview: a window may hold many rejects, each from a huge line.
        if len(self.raw) > RAW_PREVIEW_CHARS:
            self.raw = self.raw[:RAW_PREVIEW_CHARS]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "location": str(self.location),
            "id": self.id,
            "reason": self.reason,
            "raw": self.raw[:RAW_PREVIEW_CHARS],
        }

    def message(self) -> str:
        """`FILE:LINE: reason` for JSONL, `FILE: row N: reason` for Parquet."""
        where = str(self.location)
        if where.startswith("line "):
            return f"{self.source}:{where[5:]}: {self.reason}"
        return f"{self.source}: {where}: {self.reason}"


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
        if p == "-":
            out.append(InputFile("-", "stdin", 0, 0))
            continue
        # A missing path or a folder is an input problem whatever its name looks like.
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file")
        if os.path.isdir(p):
            raise InputError(
                f"{p}: is a directory; name the files instead (for example {p}/*.jsonl)"
            )
        kind = detect_kind(p)
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
            return None, f"id must be a string or an integer, got {_json_type(value)}"
        if isinstance(value, str):
            if not value.strip():
                return None, "empty id"
            bad = _unicode_problem(value)
            if bad:
                return None, f"id is not valid Unicode: {bad}"
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
            shown = value if isinstance(value, int | str) and not isinstance(value, bool) else None
            if isinstance(shown, str) and _unicode_problem(shown):
                shown = None  # could not be written to the rejects file as it is
            return reject(why or "bad id", shown)
        if self.query_mode:
            q = obj.get(self.fields.text_field)
            if q is not None and not isinstance(q, str):
                return reject(
                    f"field {self.fields.text_field!r} is {_json_type(q)}, expected a string", rid
                )
            if not q or not q.strip():
                return reject(f"missing or empty query field {self.fields.text_field!r}", rid)
            bad = _unicode_problem(q)
            if bad:
                return reject(f"field {self.fields.text_field!r} is not valid Unicode: {bad}", rid)
            return Record(rid, q, file_index, pos, location)
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
        text = (title or "") + self.sep + (abstract or "")
        if not text.isascii() and _unicode_problem(text):
            for name, v in (
                (self.fields.title_field, title),
                (self.fields.abstract_field, abstract),
            ):
                bad = _unicode_problem(v) if v else None
                if bad:
                    return reject(f"field {name!r} is not valid Unicode: {bad}", rid)
        return Record(rid, text, file_index, pos, location)


def _unicode_problem(s: str) -> str | None:
    """Why `s` cannot be encoded as UTF-8 (a lone surrogate from a broken \\u escape), or None.

    JSON allows escapes such as "\\ud800" that decode to half a surrogate pair; the
    tokenizer and Parquet both refuse such strings, so the record is rejected here.
    """
    if s.isascii():
        return None
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        return (
            f"lone surrogate \\u{ord(s[e.start]):04x} at character {e.start} "
            "(a broken \\u escape in the JSON)"
        )
    return None


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a floating-point number"
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
            # Line numbers are counted as we read; after a seek, the number of the line
            # read first is counted from the file only if an error needs it.
            base = _LineBase(f, 0, 1)
            if f.kind == "jsonl":
                if resume is not None:
                    pos = resume
                    fh.seek(pos)
                elif sl.start > 0:
                    fh.seek(sl.start - 1)  # a line starting exactly at sl.start is ours
                    pos = sl.start - 1 + len(fh.readline())
                if pos > 0:
                    base = _LineBase(f, pos)
                end = sl.end
            else:  # gzip or stdin: read from the beginning, skip what is done
                end = 1 << 62
                if resume:
                    pos, newlines = _skip_bytes(fh, resume, f)
                    base = _LineBase(f, pos, 1 + newlines)
            k = 0  # lines read since `base`
            while pos < end:
                try:
                    line = fh.readline()
                except (EOFError, OSError, zlib.error) as e:
                    raise _unreadable(f, pos, e) from e
                if not line:
                    break
                start, pos = pos, pos + len(line)
                item = self._parse_line(line, f, start, sl.file_index, _LazyLine(f, start, base, k))
                k += 1
                if item is not None:
                    yield item, Cursor(sl.file_index, pos)
        finally:
            if f.kind != "stdin":
                fh.close()

    def _parse_line(
        self, line: bytes, f: InputFile, start: int, file_index: int, location: Any = None
    ) -> Item | None:
        """One line -> a Record, a Rejected, or None for a blank line. Never raises."""
        if line.startswith(b"\xef\xbb\xbf"):  # a BOM: at the start, or where files were joined
            line = line[3:]
        stripped = line.strip()
        if not stripped:
            return None
        if location is None:
            location = _LazyLine(f, start)
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as e:
            raw = stripped[: RAW_PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
            return Rejected(
                f.display, location, None, f"invalid UTF-8 at byte {e.start} of the line", raw,
                file_index, start,
            )  # fmt: skip
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            reason = f"invalid JSON: {e.msg} at column {e.colno}"
            return Rejected(f.display, location, None, reason, text, file_index, start)
        except RecursionError:
            reason = "invalid JSON: nested too deeply"
            return Rejected(f.display, location, None, reason, text, file_index, start)
        except ValueError as e:  # e.g. an integer of more than 4300 digits
            reason = f"invalid JSON: {e}"
            return Rejected(f.display, location, None, reason, text, file_index, start)
        return self.validator.validate(obj, f.display, location, text, file_index, start)

    # Parquet -------------------------------------------------------------

    def _parquet(
        self, f: InputFile, sl: Slice, resume: int | None
    ) -> Iterator[tuple[Item, Cursor]]:
        import pyarrow as pa
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
            batches = pf.iter_batches(
                batch_size=PARQUET_BATCH_ROWS, row_groups=[g], columns=columns, use_threads=False
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
                        item = self.validator.validate(
                            obj, f.display, f"row {row}", _preview(obj), sl.file_index, row
                        )
                        yield item, Cursor(sl.file_index, row + 1)
                    row += 1
            first_row += n


class _LineBase:
    """The line number of the line starting at byte `offset`: known, or counted once on demand."""

    __slots__ = ("f", "n", "offset")

    def __init__(self, f: InputFile, offset: int, n: int | None = None) -> None:
        self.f, self.offset, self.n = f, offset, n

    def get(self) -> int | None:
        if self.n is None:
            self.n = _count_lines(self.f, self.offset)
        return self.n


class _LazyLine:
    """Renders 'line N' for a byte offset, counting newlines only when an error needs it.

    With a `base` (the line number where reading started) and `k` (lines read since),
    no file is reread, however many rejects there are.
    """

    __slots__ = ("_text", "base", "f", "k", "offset")

    def __init__(
        self, f: InputFile, offset: int, base: _LineBase | None = None, k: int = 0
    ) -> None:
        self.f, self.offset, self.base, self.k = f, offset, base, k
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            n = self.base.get() if self.base is not None else None
            if n is None and self.base is None:
                n = _count_lines(self.f, self.offset)
            self._text = f"line {n + self.k}" if n is not None else f"byte {self.offset}"
        return self._text

    def __repr__(self) -> str:
        return str(self)


def line_number(f: InputFile, offset: int) -> str:
    """1-based line number of the line starting at `offset` (byte offset when unknowable)."""
    n = _count_lines(f, offset)
    return f"byte {offset}" if n is None else str(n)


def _count_lines(f: InputFile, offset: int) -> int | None:
    if offset == 0:
        return 1
    if f.kind == "stdin":
        return None  # cannot be reread
    opener = gzip.open if f.kind == "jsonl.gz" else open
    count, left = 1, offset
    try:
        with opener(f.path, "rb") as fh:
            while left > 0:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                left -= len(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return count


def _unreadable(f: InputFile, pos: int, e: BaseException) -> InputError:
    where = "of the decompressed stream " if f.kind == "jsonl.gz" else ""
    return InputError(
        f"{f.display}: cannot read past byte {pos} {where}({e}); the file is truncated or "
        "corrupt. Finished shards are kept: repair or re-download the file and rerun to continue."
    )


def _skip_bytes(fh: IO[bytes], n: int, f: InputFile) -> tuple[int, int]:
    """Read past the first n bytes (already embedded); returns (n, newlines among them)."""
    left, newlines = n, 0
    while left > 0:
        try:
            chunk = fh.read(min(left, 1 << 20))
        except (EOFError, OSError, zlib.error) as e:
            raise _unreadable(f, n - left, e) from e
        if not chunk:
            raise InputError(
                f"{f.display}: ended after {n - left} bytes, but {n} were already embedded; "
                "a resumed run must read the same input (use --overwrite to start over)"
            )
        newlines += chunk.count(b"\n")
        left -= len(chunk)
    return n, newlines


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
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                schema = pq.ParquetFile(f.path).schema_arrow
            except Exception as e:  # not Parquet at all, or a truncated footer
                raise InputError(f"{f.path}: not a readable Parquet file ({e})") from e
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
    return "string"


def _first_json_object(f: InputFile, max_lines: int = 1000) -> Any:
    opener = gzip.open if f.kind == "jsonl.gz" else open
    try:
        with opener(f.path, "rb") as fh:
            for _ in range(max_lines):
                line = fh.readline()
                if not line:
                    return None
                obj = _loads_or_none(line)
                if isinstance(obj, dict):
                    return obj
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _loads_or_none(line: bytes) -> Any:
    line = line.removeprefix(b"\xef\xbb\xbf").strip()
    if not line:
        return None
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


class PeekableStdin(io.RawIOBase):
    """stdin with its first lines read ahead (to decide the id type) and put back.

    Reads up to the first JSON object, so leading blank or bad lines do not hide it
    (at most `max_lines` lines or `max_bytes` bytes).
    """

    def __init__(self, raw: IO[bytes], max_lines: int = 1000, max_bytes: int = 1 << 24) -> None:
        self.raw = raw
        self._first: Any = None
        lines: list[bytes] = []
        size = 0
        while len(lines) < max_lines and size < max_bytes:
            line = raw.readline()
            if not line:
                break
            lines.append(line)
            size += len(line)
            obj = _loads_or_none(line)
            if isinstance(obj, dict):
                self._first = obj
                break
        self.head = b"".join(lines)

    def first_object(self) -> Any:
        return self._first

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
