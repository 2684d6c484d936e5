"""CSV and TSV with a header row (RFC 4180 quoting), streamed with pyarrow's CSV reader.

The field separator is --delimiter when given, else found from the header line:
the one of `,` `;` tab `|` that occurs most often outside quotes (Excel writes `;`
in locales whose decimal mark is a comma); `.tsv` files default to tab.

Every column is read as text (an id like `0704.0010` must not become a number);
an empty field is an empty string. A record's position is its row number among
the data rows (0-based), so a resumed run skips the rows already done. Messages
name the physical line, counted with Python's csv module only when one is needed
(a quoted value may span lines, so row and line numbers differ).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import IO, Any

from ..errors import InputError
from .compressed import READ_ERRORS, open_decompressed
from .files import InputFile
from .slicing import Cursor, Slice
from .validate import Item, RecordValidator, Rejected, preview

BLOCK_BYTES = 16 << 20  # every row must fit in one block
INT_TEXT = re.compile(r"-?[0-9]{1,19}")
ROW_IN_ERROR = re.compile(r"Row #(\d+)")


EXCEL_HINT = (
    "Excel saves CSV in the locale's code page unless told otherwise: save it as 'CSV UTF-8', "
    "or convert it, e.g. `iconv -f cp1252 -t utf-8 FILE > FILE.utf8.csv`"
)
NOT_UTF8 = "is not UTF-8; " + EXCEL_HINT
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class Utf8Recoded(io.RawIOBase):
    """A UTF-16 byte stream (Excel's 'Unicode Text'), read as UTF-8 bytes."""

    def __init__(self, raw: IO[bytes], encoding: str) -> None:
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder(encoding)()
        self.buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf:
            chunk = self.raw.read(1 << 16)
            self.buf = self.decoder.decode(chunk, final=not chunk).encode("utf-8")
            if not chunk:
                break
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_csv_bytes(f: InputFile) -> IO[bytes]:
    """The file's decompressed bytes as UTF-8 (a UTF-16 file, found by its BOM, is recoded)."""
    with open_decompressed(f) as fh:
        head = fh.read(2)
    raw = open_decompressed(f)
    if head in UTF16_BOMS:
        return io.BufferedReader(Utf8Recoded(raw, "utf-16"), buffer_size=1 << 20)
    return raw


DELIMITERS = (",", "\t", ";", "|")  # in order of preference on a tie


def delimiter(f: InputFile) -> str:
    return f.delimiter or ("\t" if f.kind == "tsv" else ",")


def sniff_delimiter(f: InputFile, given: str | None = None) -> str:
    """The field separator of a CSV/TSV file: `given`, else the most frequent candidate
    outside quotes in the header line (the default of the kind when there is none)."""
    default = given or ("\t" if f.kind == "tsv" else ",")
    try:
        with open_csv_bytes(f) as fh:
            head = fh.read(1 << 16)
    except READ_ERRORS:
        return default  # the reader names the problem
    try:  # strict, but a character cut at the end of the head is fine
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError as e:
        raise InputError(f"{f.display} {NOT_UTF8} ({e})") from e
    if given:
        return given
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "\r\n":
            break
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: (counts[d], d == default))
    return best if counts[best] else default


def csv_header(f: InputFile) -> list[str]:
    """The column names, from the header row; InputError when there is none."""
    try:
        with io.TextIOWrapper(open_csv_bytes(f), encoding="utf-8-sig", newline="") as fh:
            row = next(csv.reader(fh, delimiter=delimiter(f)), None)
    except UnicodeDecodeError as e:
        raise InputError(f"{f.display} {NOT_UTF8} ({e})") from e
    except (*READ_ERRORS, csv.Error) as e:
        raise InputError(f"{f.display}: cannot read the header row ({e})") from e
    if not row or not any(c.strip() for c in row):
        raise InputError(f"{f.display}: empty file; CSV/TSV input needs a header row")
    return row


class CsvLines:
    """Physical line numbers of data rows, found by reading the file with the csv module.

    Asked in increasing row order (as rejects come), it reads the file once.
    """

    def __init__(self, f: InputFile) -> None:
        self.f = f
        self._fh: Any = None
        self._reader: Any = None
        self._row = -2  # the header is row -1

    def line_of(self, row: int) -> int | None:
        try:
            if self._reader is None or row < self._row:
                if self._fh is not None:
                    self._fh.close()
                raw = open_csv_bytes(self.f)
                self._fh = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
                self._reader, self._row = csv.reader(self._fh, delimiter=delimiter(self.f)), -2
            line = self._reader.line_num + 1
            while self._row < row:
                line = self._reader.line_num + 1  # where the next record starts
                next(self._reader)
                self._row += 1
            return line
        except (*READ_ERRORS, csv.Error, StopIteration):
            return None


class CsvLocation:
    """'line N' of a data row, computed only when printed."""

    __slots__ = ("_text", "lines", "row")

    def __init__(self, lines: CsvLines, row: int) -> None:
        self.lines, self.row = lines, row
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            n = self.lines.line_of(self.row)
            self._text = f"line {n}" if n is not None else f"row {self.row + 1}"
        return self._text

    def __repr__(self) -> str:
        return str(self)


def read_csv(
    f: InputFile, sl: Slice, resume: int | None, validator: RecordValidator
) -> Iterator[tuple[Item, Cursor]]:
    """(record or reject, cursor after it) for each data row of the whole file."""
    import pyarrow as pa

    lines = CsvLines(f)
    bad: dict[int, tuple[str, str]] = {}  # data row -> (why, its text), for rows with the
    # wrong number of fields
    reader = _open(f, csv_header(f), bad)
    row = 0

    def emit(item: Item) -> Iterator[tuple[Item, Cursor]]:
        if resume is None or row >= resume:
            yield item, Cursor(sl.file_index, row + 1)

    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            batch = None
        except (pa.ArrowException, UnicodeDecodeError, *READ_ERRORS) as e:
            raise _corrupt(f, e, lines) from e
        for obj in _rows(batch) if batch is not None else [None]:
            while row in bad:  # skipped by the parser: rejected in their place
                why, text = bad.pop(row)
                yield from emit(
                    Rejected(
                        f.display, CsvLocation(lines, row), None, why, text, sl.file_index, row
                    )
                )
                row += 1
            if isinstance(obj, NotUtf8):
                yield from emit(
                    Rejected(
                        f.display,
                        CsvLocation(lines, row),
                        None,
                        f"invalid UTF-8 at byte {obj.at} of field {obj.field!r}; {EXCEL_HINT}",
                        obj.text,
                        sl.file_index,
                        row,
                    )
                )
                row += 1
            elif obj is not None:
                if validator.id_type == "int":
                    _int_id(obj, validator)
                where = CsvLocation(lines, row)
                yield from emit(
                    validator.validate(obj, f.display, where, preview(obj), sl.file_index, row)
                )
                row += 1
        if batch is None:
            return


class NotUtf8:
    """A row with a field that is not UTF-8 (a code-page row deep in a UTF-8 file)."""

    def __init__(self, field: str, at: int, text: str) -> None:
        self.field, self.at, self.text = field, at, text


def _rows(batch: Any) -> list[Any]:
    """The batch's rows as {column: text}. Columns are read as bytes and checked as UTF-8
    here, a whole batch at once; only a batch holding a bad row is decoded row by row, so
    one such row is a reject at its line instead of stopping the file."""
    import pyarrow as pa

    try:
        cols = [c.cast(pa.string()) for c in batch.columns]
    except (pa.ArrowInvalid, UnicodeDecodeError):
        pass
    else:
        return pa.RecordBatch.from_arrays(cols, names=batch.schema.names).to_pylist()
    out: list[Any] = []
    for raw in batch.to_pylist():
        obj: dict[str, Any] = {}
        for k, v in raw.items():
            try:
                obj[k] = v.decode("utf-8")
            except UnicodeDecodeError as e:
                text = preview({n: b.decode("utf-8", "replace") for n, b in raw.items()})
                obj = NotUtf8(k, e.start, text)  # type: ignore[assignment]
                break
        out.append(obj)
    return out


def _open(f: InputFile, names: list[str], bad: dict[int, tuple[str, str]]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pc

    def invalid(r: Any) -> str:
        # r.number counts records from 1 with the header as record 1
        row = r.number - 2 if r.number is not None else -1
        bad[row] = (
            f"expected {r.expected_columns} fields (as in the header), got {r.actual_columns}",
            str(r.text or ""),
        )
        return "skip"

    try:
        source = open_csv_bytes(f)
        return pc.open_csv(
            source,
            read_options=pc.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
            parse_options=pc.ParseOptions(
                delimiter=delimiter(f), newlines_in_values=True, invalid_row_handler=invalid
            ),
            convert_options=pc.ConvertOptions(
                column_types=dict.fromkeys(names, pa.binary()), strings_can_be_null=False
            ),
        )
    except (pa.ArrowException, *READ_ERRORS) as e:
        raise _corrupt(f, e) from e


def _int_id(obj: dict[str, Any], validator: RecordValidator) -> None:
    """With integer ids (--id-type int, --preset s2/pubmed), a decimal text id becomes an int."""
    name = validator.id_name(obj)
    v = obj.get(name) if name else None
    if isinstance(v, str) and INT_TEXT.fullmatch(v):
        obj[name] = int(v)  # type: ignore[index]


def _corrupt(f: InputFile, e: BaseException, lines: CsvLines | None = None) -> InputError:
    if "invalid UTF8" in str(e) or isinstance(e, UnicodeDecodeError):
        return InputError(
            f"{f.display}: a row is not UTF-8 ({e}); {EXCEL_HINT}. Finished shards are "
            "kept: convert the file and rerun to continue."
        )
    m = ROW_IN_ERROR.search(str(e))
    if m and lines is not None:  # pyarrow counts records (the header is #1); say the line
        n = lines.line_of(int(m.group(1)) - 2)
        if n is not None:
            return InputError(
                f"{f.display}:{n}: cannot parse this {f.kind.upper()} row ({e}); check the "
                'quoting (a stray " inside a field). Finished shards are kept: fix the file '
                "and rerun to continue."
            )
    return InputError(
        f"{f.display}: cannot read as {f.kind.upper()} ({e}); check the quoting (a stray "
        '" inside a field) or that the file is not truncated. Finished shards are kept: '
        "fix the file and rerun to continue."
    )


def csv_dicts(f: InputFile, n: int) -> Iterator[dict[str, Any]]:
    """The first n data rows as {column: text}, read with the csv module (for a first look)."""
    import itertools

    with io.TextIOWrapper(
        open_csv_bytes(f), encoding="utf-8-sig", errors="replace", newline=""
    ) as fh:
        rows = csv.DictReader(fh, delimiter=delimiter(f))
        for row in itertools.islice(rows, n):
            row.pop(None, None)  # fields beyond the header's: the reader rejects that row
            yield {k: v for k, v in row.items() if v is not None}
