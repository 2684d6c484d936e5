"""Input URLs for the readers: expand prefixes and globs, look up sizes, open for reading.

The readers take a path and call `open_input(path)`: a local path opens as a file,
a URL as a seekable stream of range reads, so every format (JSONL by byte ranges,
Parquet by row groups, gzip, zstd, CSV, PubMed XML) reads the same way from both.

A URL ending in "/" is a prefix: every data file under it, recursively, in key order,
skipping `_name` and `.name` segments, as for a local folder; so is a URL whose last
segment has no "." and names no object (`s3://openalex/data/works`). A last segment
with a "." names an object (no request until it is looked up with the others). Globs:
`*` and `?` stay inside one path segment, `**` crosses them.
"""

from __future__ import annotations

import functools
import logging
import os
import posixpath
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import IO

from ..errors import EnvironmentProblem, InputError
from .opening import open_store
from .store import GLOB_CHARS, ObjectInfo, ObjectStore, anonymous_from_env
from .urls import ObjectURL, is_url, parse_url

log = logging.getLogger("specter2")

# several files in one "folder" are looked up with one listing rather than one HEAD each
# (a million-file --inputs-from list costs a listing per folder, not a million requests)
LIST_WHEN = 8
# sizes and versions seen while listing, so that opening an input needs no HEAD request
# (bounded: a huge job falls back to a HEAD per opened file)
_KNOWN_MAX = 200_000
_known: dict[str, ObjectInfo] = {}
# the start of each input, read ahead in parallel (see _Heads)
SNIFF_BYTES = 1 << 17
WINDOW = 16


def _remember(url: str, info: ObjectInfo) -> None:
    if len(_known) < _KNOWN_MAX:
        _known[url] = info


@functools.lru_cache(maxsize=64)
def _store(scheme: str, bucket: str, anonymous: bool) -> ObjectStore:
    return open_store(ObjectURL(scheme, bucket, ""), anonymous=anonymous)


def store_for(url: ObjectURL) -> ObjectStore:
    """One client per bucket and process (credentials are resolved once)."""
    return _store(url.scheme, url.bucket, anonymous_from_env())


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/"))


def list_url(text: str) -> list[str] | None:
    """The visible objects under a prefix or matching a glob, as URLs in key order; None
    when the URL names one object (or nothing: the caller reports it as a missing file).
    InputError for a glob that matches nothing."""
    u = parse_url(text)
    store = store_for(u)
    if GLOB_CHARS & set(u.key):
        cut = min(u.key.index(c) for c in GLOB_CHARS if c in u.key)
        fixed = u.key[: u.key.rfind("/", 0, cut) + 1]
        found = [o.key for o in store.glob(u.key) if not _hidden(o.key[len(fixed) :])]
        if not found:
            raise InputError(f"{text}: the pattern matches no object")
        return [store.url(k) for k in found]
    last = u.key.rsplit("/", 1)[-1]
    if "." in last:  # a file name (part_000.gz, x.parquet): an object, checked by stat_urls
        return None
    if u.key and not u.key.endswith("/") and store.info(u.key) is not None:
        return None
    prefix = u.prefix
    found = []
    for o in store.iter_objects(prefix):
        if not _hidden(o.key[len(prefix) :]):
            found.append(store.url(o.key))
            _remember(found[-1], o)
    return found or None


def expand_url(text: str, is_data_file: Callable[[str], bool]) -> list[str]:
    """The input files a URL names: itself, the data files under a prefix, or a glob's
    matches, as URLs in key order. InputError when it names nothing."""
    listed = list_url(text)
    if listed is None:
        u = parse_url(text)
        if u.key and not u.key.endswith("/") and store_for(u).info(u.key) is not None:
            return [text]
        listed = []
    glob = bool(GLOB_CHARS & set(parse_url(text).key))
    found = listed if glob else [x for x in listed if is_data_file(x)]
    if not found:
        raise InputError(
            f"{text}: no such object, and no data files (.jsonl, .json, .csv, .tsv, .xml, "
            ".parquet, .gz, .zst) under it as a prefix; check the URL (and --anonymous / "
            "the credentials for a private bucket)"
        )
    return found


def stat_urls(urls: Iterable[str]) -> dict[str, ObjectInfo | None]:
    """Size and version of each URL (None: no such object), listing a folder once when
    it holds several of them."""
    urls = list(urls)
    groups: dict[tuple[str, str, str], list[ObjectURL]] = defaultdict(list)
    for text in urls:
        u = parse_url(text)
        groups[(u.scheme, u.bucket, posixpath.dirname(u.key))].append(u)
    out: dict[str, ObjectInfo | None] = {}
    for (_, _, folder), members in groups.items():
        store = store_for(members[0])
        listed = _listing(store, folder) if len(members) >= LIST_WHEN else None
        if listed is not None:
            for u in members:
                out[str(u)] = listed.get(u.key)
        else:
            for u in members:
                out[str(u)] = store.info(u.key)
    for url, info in out.items():
        if info is not None:
            _remember(url, info)
    _plan_heads(urls, out)  # the caller sniffs them next, in this order
    return out


def _listing(store: ObjectStore, folder: str) -> dict[str, ObjectInfo] | None:
    """The folder's objects by key; None where listing is not allowed (credentials that may
    read objects but not list the bucket): the caller then asks for each object."""
    prefix = folder + "/" if folder else ""
    try:
        return {o.key: o for o in store.iter_objects(prefix, recursive=False)}
    except EnvironmentProblem as e:
        if "access denied" not in str(e):
            raise
        log.info("%s: listing not allowed; looking the inputs up one by one", store.url(prefix))
        return None


class _Heads:
    """The first SNIFF_BYTES of the inputs, fetched in parallel (a daemon thread each, so a
    stop never waits for one) up to WINDOW files ahead of the one being opened.

    Resolving the inputs reads the start of every file (its format, its JSON layout) one
    file after another; with a round trip of 50-150 ms to the store that was minutes for
    a few thousand files. Files behind the one opened are dropped, so at most WINDOW heads
    (2 MiB) are held.
    """

    def __init__(self, urls: list[str], infos: dict[str, ObjectInfo | None]) -> None:
        self.urls = [u for u in urls if infos.get(u) is not None]
        self.infos = infos
        self.index = {u: i for i, u in enumerate(self.urls)}
        self.pending: dict[int, _Head] = {}
        self.next = 0
        self.lock = threading.Lock()

    def take(self, url: str) -> bytes:
        """The head of `url` (b"" when it is not planned or its fetch failed: the reader
        then asks the store itself, and reports any error there)."""
        i = self.index.get(url)
        if i is None:
            return b""
        with self.lock:
            for j in [j for j in self.pending if j < i]:
                del self.pending[j]
            self.next = max(self.next, i)
            while self.next < min(len(self.urls), i + WINDOW):
                ahead = self.urls[self.next]
                info = self.infos[ahead]
                assert info is not None
                self.pending[self.next] = _Head(ahead, info)
                self.next += 1
            head = self.pending.get(i)
        return head.result() if head is not None else b""


class _Head:
    def __init__(self, url: str, info: ObjectInfo) -> None:
        self.data = b""
        self.thread = threading.Thread(
            target=self._run, args=(url, info), name="specter2-head", daemon=True
        )
        self.thread.start()

    def _run(self, url: str, info: ObjectInfo) -> None:
        u = parse_url(url)
        try:
            self.data = store_for(u).read_head(u.key, info, SNIFF_BYTES)
        except Exception:  # the reader asks the store itself, and reports the error there
            self.data = b""

    def result(self) -> bytes:
        self.thread.join()
        return self.data


_heads: _Heads | None = None


def _plan_heads(urls: list[str], infos: dict[str, ObjectInfo | None]) -> None:
    global _heads
    _heads = _Heads(urls, infos) if len(urls) > 1 else None


def open_input(path: str, buffering: int = 1 << 20) -> IO[bytes]:
    """A local file, or an object by URL, opened for binary reading (seekable)."""
    if is_url(path):
        u = parse_url(path)
        info = _known.get(str(u))
        head = _heads.take(str(u)) if _heads is not None and info is not None else b""
        return store_for(u).open_read(u.key, info, head)
    return open(path, "rb", buffering=buffering)


def input_identity(path: str, size: int, mtime_ns: int) -> dict[str, object]:
    """What a resumed run compares: the URL itself (not a local realpath), size, time."""
    if is_url(path):
        return {"path": str(parse_url(path)), "size": size, "mtime_ns": mtime_ns}
    return {"path": os.path.realpath(path), "size": size, "mtime_ns": mtime_ns}


def parquet_source(path: str) -> str | IO[bytes]:
    """What pq.ParquetFile reads: a local path as is, a URL as a range-reading stream."""
    return open_input(path) if is_url(path) else path
