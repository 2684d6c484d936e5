"""JSON lines (plain, gzip, zstd, stdin): one record per line, located by the line's byte offset.

Plain files seek straight to a rank's byte range or a resume point; compressed
files and stdin are read from the start and skip what is done. Line numbers for messages
are counted as lines are read, or from the file only when an error needs one.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from ..errors import InputError
from .compressed import READ_ERRORS, open_decompressed
from .files import InputFile
from .slicing import Cursor, Slice
from .validate import RAW_PREVIEW_CHARS, Item, RecordValidator, Rejected


def open_binary(f: InputFile, stdin: IO[bytes] | None = None) -> IO[bytes]:
    if f.kind == "stdin":
        return stdin or sys.stdin.buffer
    return open_decompressed(f)


def read_jsonl(
    f: InputFile,
    sl: Slice,
    resume: int | None,
    validator: RecordValidator,
    stdin: IO[bytes] | None = None,
) -> Iterator[tuple[Item, Cursor]]:
    """(record or reject, cursor after it) for each non-blank line of one rank's slice."""
    fh = open_binary(f, stdin)
    try:
        pos = 0
        base = LineBase(f, 0, 1)
        if f.splittable:
            if resume is not None:
                pos = resume
                fh.seek(pos)
            elif sl.start > 0:
                fh.seek(sl.start - 1)  # a line starting exactly at sl.start is ours
                pos = sl.start - 1 + len(fh.readline())
            if pos > 0:
                base = LineBase(f, pos)
            end = sl.end
        else:  # compressed or stdin: read from the beginning, skip what is done
            end = 1 << 62
            if resume:
                pos, newlines = _skip_bytes(fh, resume, f)
                base = LineBase(f, pos, 1 + newlines)
        k = 0  # lines read since `base`
        while pos < end:
            try:
                line = fh.readline()
            except READ_ERRORS as e:
                raise _unreadable(f, pos, e) from e
            if not line:
                break
            start, pos = pos, pos + len(line)
            item = parse_line(line, f, start, sl.file_index, validator, LazyLine(f, start, base, k))
            k += 1
            if item is not None:
                yield item, Cursor(sl.file_index, pos)
    finally:
        if f.kind != "stdin":
            fh.close()


def parse_line(
    line: bytes,
    f: InputFile,
    start: int,
    file_index: int,
    validator: RecordValidator,
    location: Any = None,
) -> Item | None:
    """One line -> a Record, a Rejected, or None for a blank line. Never raises."""
    if line.startswith(b"\xef\xbb\xbf"):  # a BOM: at the start, or where files were joined
        line = line[3:]
    stripped = line.strip()
    if not stripped:
        return None
    if location is None:
        location = LazyLine(f, start)

    def reject(reason: str, raw: str) -> Rejected:
        return Rejected(f.display, location, None, reason, raw, file_index, start)

    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError as e:
        raw = stripped[: RAW_PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
        return reject(f"invalid UTF-8 at byte {e.start} of the line", raw)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return reject(f"invalid JSON: {e.msg} at column {e.colno}", text)
    except RecursionError:
        return reject("invalid JSON: nested too deeply", text)
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        return reject(f"invalid JSON: {e}", text)
    return validator.validate(obj, f.display, location, text, file_index, start)


class LineBase:
    """The line number of the line starting at byte `offset`: known, or counted once on demand."""

    __slots__ = ("f", "n", "offset")

    def __init__(self, f: InputFile, offset: int, n: int | None = None) -> None:
        self.f, self.offset, self.n = f, offset, n

    def get(self) -> int | None:
        if self.n is None:
            self.n = count_lines(self.f, self.offset)
        return self.n


class LazyLine:
    """Renders 'line N' for a byte offset, counting newlines only when an error needs it.

    With a `base` (the line number where reading started) and `k` (lines read since),
    no file is reread, however many rejects there are.
    """

    __slots__ = ("_text", "base", "f", "k", "offset")

    def __init__(self, f: InputFile, offset: int, base: LineBase | None = None, k: int = 0) -> None:
        self.f, self.offset, self.base, self.k = f, offset, base, k
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            n = self.base.get() if self.base is not None else count_lines(self.f, self.offset)
            self._text = f"line {n + self.k}" if n is not None else f"byte {self.offset}"
        return self._text

    def __repr__(self) -> str:
        return str(self)


def count_lines(f: InputFile, offset: int) -> int | None:
    """1-based number of the line that starts at byte `offset` (None for stdin or a bad file)."""
    if offset == 0:
        return 1
    if f.kind == "stdin":
        return None  # cannot be reread
    count, left = 1, offset
    try:
        with open_binary(f) as fh:
            while left > 0:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                left -= len(chunk)
    except READ_ERRORS:
        return None
    return count


def _unreadable(f: InputFile, pos: int, e: BaseException) -> InputError:
    where = "of the decompressed stream " if f.compression else ""
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
        except READ_ERRORS as e:
            raise _unreadable(f, n - left, e) from e
        if not chunk:
            raise InputError(
                f"{f.display}: ended after {n - left} bytes, but {n} were already embedded; "
                "a resumed run must read the same input (use --overwrite to start over)"
            )
        newlines += chunk.count(b"\n")
        left -= len(chunk)
    return n, newlines


# ---------------------------------------------------------------- the first record


def loads_or_none(line: bytes) -> Any:
    line = line.removeprefix(b"\xef\xbb\xbf").strip()
    if not line:
        return None
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def first_json_object(f: InputFile, max_lines: int = 1000) -> Any:
    """The first JSON object among the first lines of a file, or None."""
    try:
        with open_binary(f) as fh:
            for _ in range(max_lines):
                line = fh.readline()
                if not line:
                    return None
                obj = loads_or_none(line)
                if isinstance(obj, dict):
                    return obj
    except READ_ERRORS:
        return None
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
            obj = loads_or_none(line)
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
