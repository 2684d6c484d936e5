"""A seekable, buffered binary file over ranged GETs.

Sequential reads stream: each request asks for the next span, and the span
doubles (128 KiB up to 32 MiB) while reads continue where the last one ended, so a
JSONL scan costs a few requests per file and a Parquet footer read costs one
small one. Once reads are sequential, the next span is fetched in the background
while this one is parsed (at most two spans in memory). A connection that drops
or stalls mid-body is reopened at the current offset (with backoff), so a long
scan survives what a single GET would not.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import IO, Protocol, cast

log = logging.getLogger("specter2")

FIRST_SPAN = 1 << 17
# an abandoned body with at most this much left is read out, so that its connection is
# reused (closing it unread closes the connection: a new TCP/TLS handshake per file sniffed)
DRAIN_MAX = 1 << 16
MAX_SPAN = 32 << 20
BUFFER = 1 << 17  # also the least a request asks for: a 64 KiB format sniff fetches 128 KiB


class Body(Protocol):
    def read(self, n: int = -1) -> bytes: ...

    def close(self) -> None: ...


class RangeReader(io.RawIOBase):
    """`fetch(start, end)` returns a stream of bytes [start, end) of the object.

    `transient` lists the exceptions after which the read is retried by reopening at
    the current offset; other exceptions propagate.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Body],
        size: int,
        name: str,
        transient: tuple[type[BaseException], ...] = (),
        attempts: int = 6,
        prefetch: bool = True,
        head: bytes = b"",
    ) -> None:
        super().__init__()
        self.fetch = fetch
        self.size = size
        self.name = name
        self.transient = transient
        self.attempts = attempts
        self.pos = 0
        self.body: Body | None = None
        self.body_pos = 0  # offset of the body's next byte
        self.body_end = 0
        self.span = FIRST_SPAN
        self.requests = 0
        self.prefetch = prefetch
        self.head = head  # the object's first bytes, fetched already: served from memory
        self._ahead: tuple[int, int, _Prefetch] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self.pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise OSError(f"{self.name}: seek to a negative offset")
        self.pos = pos
        return pos

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        want = min(len(b), self.size - self.pos)
        if want <= 0:
            return 0
        for attempt in range(self.attempts):
            try:
                body = self._body_at(self.pos, want)
                data = body.read(min(want, self.body_end - self.body_pos))
            except self.transient as e:
                self._drop()
                if attempt + 1 == self.attempts:
                    raise
                delay = min(20.0, random.uniform(0, 2**attempt))
                log.info("%s: read at byte %d failed (%s); retrying", self.name, self.pos, e)
                time.sleep(delay)
                continue
            if not data:  # the server ended the body early: reopen where we are
                self._drop()
                if attempt + 1 == self.attempts:
                    raise OSError(f"{self.name}: the store ended the object early at {self.pos}")
                continue
            n = len(data)
            b[:n] = data
            self.pos += n
            self.body_pos += n
            if self.body_pos >= self.body_end:
                self._drop(keep_span=True)
            return n
        return 0  # unreachable: the loop returns or raises

    def _body_at(self, pos: int, want: int) -> Body:
        if self.body is not None and self.body_pos == pos:
            return self.body
        sequential = self.body_end == pos and pos > 0
        self._drop()
        self.span = min(MAX_SPAN, self.span * 2) if sequential else FIRST_SPAN
        if pos < len(self.head):
            self.body = io.BytesIO(self.head[pos:])
            self.body_pos, self.body_end = pos, len(self.head)
            return self.body
        ahead, self._ahead = self._ahead, None
        data = None
        if ahead is not None and ahead[0] == pos and ahead[1] - pos >= want:
            data = ahead[2].result()  # None when the prefetch failed: fetch it here
        if data is not None and ahead is not None:
            end = ahead[1]
            self.body = io.BytesIO(data)
        else:
            end = min(self.size, pos + max(want, self.span))
            self.body = self.fetch(pos, end)
            self.requests += 1
        self.body_pos, self.body_end = pos, end
        if sequential and self.prefetch and end < self.size:
            nxt = min(self.size, end + min(MAX_SPAN, self.span * 2))
            self._ahead = (end, nxt, _Prefetch(self._fetch_all, end, nxt))
            self.requests += 1
        return self.body

    def _fetch_all(self, start: int, end: int) -> bytes | None:
        try:
            body = self.fetch(start, end)
            try:
                data = body.read()
            finally:
                body.close()
        except Exception:  # the reader fetches the span itself, with its retries
            return None
        return data if len(data) == end - start else None

    def _drop(self, keep_span: bool = False) -> None:
        if self.body is not None:
            # a broken connection may fail to close; it is discarded either way
            with contextlib.suppress(Exception):
                if 0 < self.body_end - self.body_pos <= DRAIN_MAX:
                    self.body.read()
                self.body.close()
            self.body = None
        if not keep_span:
            self.body_end = -1

    def close(self) -> None:
        self._drop()
        self._ahead = None  # a fetch in flight finishes on its own (daemon) thread
        super().close()


class _Prefetch:
    """One span fetched on a daemon thread: a stop (exit 75) never waits for it."""

    def __init__(self, fetch: Callable[[int, int], bytes | None], start: int, end: int) -> None:
        self.data: bytes | None = None
        self.thread = threading.Thread(
            target=self._run, args=(fetch, start, end), name="specter2-readahead", daemon=True
        )
        self.thread.start()

    def _run(self, fetch: Callable[[int, int], bytes | None], start: int, end: int) -> None:
        self.data = fetch(start, end)

    def result(self) -> bytes | None:
        self.thread.join()
        return self.data


def buffered(raw: RangeReader) -> IO[bytes]:
    return cast(IO[bytes], io.BufferedReader(raw, buffer_size=BUFFER))
