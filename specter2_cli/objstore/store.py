"""What every object store offers the tool, and the factory that picks one for a URL.

Reads (inputs) work on every store; conditional writes, which an OUTDIR's commit
protocol needs (commit.py), only on S3 and S3-compatible stores.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from ..errors import UsageError

# what `embed --anonymous` (SPECTER2_EMBED_ANONYMOUS) sets, for this process and its workers;
# library users may set it too. Not SPECTER2_ANONYMOUS: that is the old shared form of the
# option's variable, which the CLI names as unread.
ANONYMOUS_ENV = "SPECTER2_ANONYMOUS_READS"
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # changes whenever the object is replaced
    mtime_ns: int
    seen_ns: int = field(default=0, compare=False)  # the store's clock when it answered

    def age(self) -> float:
        """Seconds since the object was written, by the store's clock when it says it (a
        node whose clock is off does not judge a lease by its own time)."""
        return ((self.seen_ns or time.time_ns()) - self.mtime_ns) / 1e9


class PreconditionFailed(Exception):
    """A conditional write lost: the object exists (If-None-Match) or changed (If-Match)."""


def anonymous_from_env() -> bool:
    """`SPECTER2_ANONYMOUS_READS=1` (or true/yes): unsigned requests, for public buckets."""
    return os.environ.get(ANONYMOUS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class ObjectStore:
    """One bucket (or Hub repository) of one store. Keys are paths inside it."""

    scheme = ""
    writable = False
    for_writes = False  # opened for an OUTDIR or --to: errors do not suggest --anonymous

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def url(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    # reading -----------------------------------------------------------

    def info(self, key: str) -> ObjectInfo | None:
        """The object's size and version, or None when there is no such object."""
        raise NotImplementedError

    def iter_objects(self, prefix: str, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order (`recursive=False`:
        only those with no further "/" after the prefix)."""
        raise NotImplementedError

    def open_read(self, key: str, info: ObjectInfo | None = None, head: bytes = b"") -> IO[bytes]:
        """A seekable binary file: sequential reads stream, seeks become range reads.
        `head`: the object's first bytes (of version `info`), when already fetched."""
        raise NotImplementedError

    def read_head(self, key: str, info: ObjectInfo, n: int) -> bytes:
        """The object's first `n` bytes (fewer when it is shorter)."""
        with self.open_read(key, info) as fh:
            return fh.read(n)

    def read_bytes(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no such object (also when it is deleted
        between the HEAD and the GET: a manifest version a commit retired)."""
        from .failures import NoSuchObject

        info = self.info(key)
        if info is None:
            return None
        try:
            with self.open_read(key, info) as fh:
                return fh.read()
        except NoSuchObject:
            return None

    def download_file(self, key: str, path: str, info: ObjectInfo | None = None) -> None:
        """Copy the object to a local file (streamed, through the store's range reads)."""
        import shutil

        with self.open_read(key, info) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)

    def glob(self, pattern: str) -> list[ObjectInfo]:
        """Objects whose keys match a shell pattern (`*` stays inside one path segment,
        `**` crosses them), listed from the longest prefix without a wildcard."""
        cut = min((pattern.index(c) for c in GLOB_CHARS if c in pattern), default=len(pattern))
        prefix = pattern[:cut]
        rx = _glob_regex(pattern)
        return [o for o in self.iter_objects(prefix) if rx.match(o.key)]

    # writing (S3 only) -------------------------------------------------

    def put_bytes(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        """Write a whole object; returns its ETag. Conditional forms raise PreconditionFailed."""
        raise UsageError(self._read_only())

    def upload_file(self, key: str, path: str) -> str:
        raise UsageError(self._read_only())

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        raise UsageError(self._read_only())

    def abort_uploads(self, prefix: str, owns: Callable[[str], bool]) -> int:
        """Abort the unfinished multipart uploads under `prefix` whose keys `owns` claims
        (a killed writer's); their count."""
        return 0

    def _read_only(self) -> str:
        return (
            f"{self.scheme}:// can be read but not written by specter2 (an OUTDIR needs "
            "conditional writes, which it uses on S3 and S3-compatible stores): write to a "
            "local folder or an s3:// URL"
        )


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):
                out[-1] = "(?:.*/)?"
                i += 1
            continue
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                out.append(fnmatch.translate(pattern[i : j + 1])[4:-3])
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)
