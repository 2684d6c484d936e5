"""Committing shards to an OUTDIR on an object store, which has no atomic rename.

The protocol (README "Output on object storage"):

1. A writer takes its rank's lease, `_specter2/locks/<rank>.json`, by creating it with
   If-None-Match: * ; a second writer finds it and is refused (exit 4). The holder renews
   it (If-Match on the version it wrote) every RENEW seconds; a lease whose holder is dead
   (same host: its pid is gone; elsewhere: not renewed for TTL seconds) is taken over with
   If-Match on the version that was read, so of two writers taking it over one wins.
2. Each shard is uploaded under a name unique to the attempt, `part-00003.<attempt>.parquet`:
   a PUT or a completed multipart upload makes an object visible whole or not at all, and no
   attempt can overwrite an object another attempt wrote.
3. The commit is a new version of the rank's manifest, `_specter2/<rank>/m00000007.json`,
   created with If-None-Match: * at the next sequence number: it exists once or not at all,
   and two writers cannot both commit sequence 7. The newest version is the rank's state.
4. A resumed writer deletes the objects of its rank that no manifest version lists (uploads
   of killed attempts), aborts their unfinished multipart uploads, and continues after the
   last commit. `_SUCCESS` is written after every rank's last manifest says done.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .. import faults
from ..errors import LockHeld, Specter2Error, UsageError
from .opening import open_store
from .store import ObjectInfo, ObjectStore, PreconditionFailed
from .urls import ObjectURL, parse_url

log = logging.getLogger("specter2")

STATE = "_specter2"
SUCCESS = "_SUCCESS"
TTL_ENV = "SPECTER2_LEASE_SECONDS"
DEFAULT_TTL = 120.0
KEEP_VERSIONS = 8  # manifest versions kept per rank; a reader that lost one reads the newest
_MANIFEST = re.compile(r"^m(\d{8})\.json$")


def lease_ttl() -> float:
    try:
        return max(2.0, float(os.environ.get(TTL_ENV, DEFAULT_TTL)))
    except ValueError:
        raise UsageError(f"{TTL_ENV}={os.environ[TTL_ENV]!r}: not a number of seconds") from None


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Holder:
    owner: str
    host: str
    boot_id: str
    pid: int
    started: float

    @classmethod
    def me(cls) -> Holder:
        return cls(uuid.uuid4().hex, socket.gethostname(), _boot_id(), os.getpid(), time.time())

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__).encode()

    @classmethod
    def parse(cls, data: bytes | None) -> Holder | None:
        try:
            d = json.loads(data or b"")
            return cls(
                str(d["owner"]),
                str(d["host"]),
                str(d["boot_id"]),
                int(d["pid"]),
                float(d["started"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def gone(self) -> bool:
        """Whether this holder is known dead: it ran on this machine (since this boot)
        and its process no longer exists."""
        return (
            self.host == socket.gethostname()
            and self.boot_id == _boot_id()
            and bool(self.boot_id)
            and not _pid_alive(self.pid)
        )


class Lease:
    """One writer's claim on a rank, renewed in the background until released."""

    def __init__(self, store: ObjectStore, key: str, etag: str, holder: Holder, ttl: float) -> None:
        self.store = store
        self.key = key
        self.etag = etag
        self.holder = holder
        self.ttl = ttl
        self.lost: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._renew_loop, name="specter2-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 6):
            try:
                self.renew()
            except Exception as e:  # the next renewal or the commit reports it
                log.warning("%s: could not renew the lease (%s)", self.store.url(self.key), e)

    def renew(self) -> None:
        with self._lock:
            if self.lost or self._stop.is_set():
                return
            try:
                self.etag = self.store.put_bytes(
                    self.key, self.holder.to_bytes(), if_match=self.etag
                )
            except PreconditionFailed:
                self.lost = "another process took the lease over"

    def fence(self) -> None:
        """Renew now, before a commit: a writer that was stopped (suspended, cut off) while
        another took its lease over finds out here, instead of committing over the new
        holder's work."""
        self.renew()
        self.check()

    def check(self) -> None:
        if self.lost:
            raise LockHeld(
                f"{self.store.url(self.key)}: {self.lost} (this process was presumed dead); "
                "stopping without committing more"
            )

    def release(self) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock, contextlib.suppress(PreconditionFailed):
            if not self.lost:
                try:
                    self.store.delete(self.key, if_match=self.etag)
                except Specter2Error as e:  # the work is committed; the lease just expires
                    log.warning(
                        "%s: could not remove the lease (%s); it expires in %.0f s",
                        self.store.url(self.key),
                        e,
                        self.ttl,
                    )


class ObjectOutDir:
    """An OUTDIR at `s3://bucket/prefix/`: shards, versioned manifests, leases, _SUCCESS."""

    def __init__(self, url: str | ObjectURL, store: ObjectStore | None = None) -> None:
        self.url = parse_url(url) if isinstance(url, str) else url
        self.store = store if store is not None else open_store(self.url, anonymous=False)
        self.store.for_writes = True
        if not self.store.writable:
            raise UsageError(f"-o {self.url}: {self.store._read_only()}")
        self.root = self.url.prefix

    def key(self, name: str) -> str:
        return self.root + name

    def show(self, name: str) -> str:
        return self.store.url(self.key(name))

    # job identity --------------------------------------------------------

    def claim_job(self, text: str) -> str | None:
        """Write `_specter2/job.json` unless it exists; the existing text when it does."""
        key = self.key(f"{STATE}/job.json")
        try:
            self.store.put_bytes(key, text.encode(), if_absent=True)
            return None
        except PreconditionFailed:
            data = self.store.read_bytes(key)
            return data.decode() if data is not None else None

    def read_state(self, name: str) -> bytes | None:
        return self.store.read_bytes(self.key(f"{STATE}/{name}"))

    # leases --------------------------------------------------------------

    def acquire(self, rank: str, what: str) -> Lease:
        """The rank's lease, or LockHeld naming the live holder."""
        key = self.key(f"{STATE}/locks/{rank}.json")
        me = Holder.me()
        ttl = lease_ttl()
        try:
            etag = self.store.put_bytes(key, me.to_bytes(), if_absent=True)
            return Lease(self.store, key, etag, me, ttl)
        except PreconditionFailed:
            pass
        info = self.store.info(key)
        if info is None:  # released in between: try once more
            try:
                etag = self.store.put_bytes(key, me.to_bytes(), if_absent=True)
                return Lease(self.store, key, etag, me, ttl)
            except PreconditionFailed:
                info = self.store.info(key)
        holder = Holder.parse(self.store.read_bytes(key)) if info is not None else None
        age = info.age() if info is not None else 0.0
        if info is not None and holder is not None and not holder.gone() and age < ttl:
            raise LockHeld(
                f"{what} ({self.url}) is being written by another process (pid {holder.pid} "
                f"on {holder.host}, lease renewed {age:.0f} s ago); wait for it to finish. "
                f"A lease not renewed for {ttl:.0f} s ({TTL_ENV}) is taken over."
            )
        try:
            etag = self.store.put_bytes(
                key, me.to_bytes(), if_match=info.etag if info is not None else None
            )
        except PreconditionFailed:
            raise LockHeld(
                f"{what} ({self.url}): another process took the lease over at the same time; "
                "it writes this output now"
            ) from None
        why = "its process is gone" if holder is not None and holder.gone() else "expired"
        log.info("%s: took over the lease of a writer that stopped (%s)", self.store.url(key), why)
        return Lease(self.store, key, etag, me, ttl)

    # manifests -----------------------------------------------------------

    def manifests(self, rank: str) -> list[tuple[int, str]]:
        prefix = self.key(f"{STATE}/{rank}/")
        out = []
        for o in self.store.iter_objects(prefix):
            m = _MANIFEST.match(o.key[len(prefix) :])
            if m:
                out.append((int(m.group(1)), o.key))
        return sorted(out)

    def latest(self, rank: str) -> tuple[int, bytes] | None:
        """(sequence, text) of the rank's newest manifest; None before its first commit."""
        found = self.manifests(rank)
        for seq, key in reversed(found):
            data = self.store.read_bytes(key)
            if data is not None:
                return seq, data
        return None

    def commit(self, rank: str, seq: int, text: bytes, lease: Lease) -> None:
        """Create manifest version `seq`: the commit point. Exactly once, or LockHeld."""
        lease.fence()
        faults.point("object_commit")
        key = self.key(f"{STATE}/{rank}/m{seq:08d}.json")
        try:
            self.store.put_bytes(key, text, if_absent=True)
        except PreconditionFailed:
            raise LockHeld(
                f"{self.show(f'{STATE}/{rank}/m{seq:08d}.json')}: another writer committed this "
                "sequence number first; two processes are writing the same rank, so this one stops"
            ) from None
        faults.point("after_object_commit")
        if seq > KEEP_VERSIONS:  # the newest ones stay (readers may be reading them)
            with contextlib.suppress(PreconditionFailed):
                self.store.delete(self.key(f"{STATE}/{rank}/m{seq - KEEP_VERSIONS:08d}.json"))

    # shards --------------------------------------------------------------

    def upload(self, local_path: str, name: str, attempt: str) -> tuple[str, int]:
        """Upload a finished local shard as `name` with the attempt in it; (object name, size).

        `part-00003.parquet` becomes `part-00003.<attempt>.parquet` (npy shards keep their
        `.ids.parquet` companion's suffix the same way)."""
        stem, dot, ext = name.partition(".")
        final = f"{stem}.{attempt}{dot}{ext}"
        size = os.path.getsize(local_path)
        faults.point("object_upload")
        self.store.upload_file(self.key(final), local_path)
        faults.point("after_object_upload")
        return final, size

    def sweep(self, committed: Iterable[str], owns: Callable[[str], bool]) -> list[str]:
        """Delete this writer's leftovers: objects `owns(name)` claims that no commit lists,
        and unfinished multipart uploads of such names. Returns the names deleted."""
        keep = set(committed)
        gone = []
        for o in list(self.store.iter_objects(self.root)):
            name = o.key[len(self.root) :]
            if "/" in name or name in keep or not owns(name):
                continue
            self.store.delete(o.key)
            gone.append(name)
        root = self.root
        self.store.abort_uploads(
            root, lambda key: "/" not in key[len(root) :] and owns(key[len(root) :])
        )
        return gone

    def committed_size(self, name: str) -> ObjectInfo | None:
        return self.store.info(self.key(name))

    # _SUCCESS ------------------------------------------------------------

    def write_success(self, text: bytes = b"") -> None:
        self.store.put_bytes(self.key(SUCCESS), text)

    def remove_success(self) -> None:
        with contextlib.suppress(PreconditionFailed):
            self.store.delete(self.key(SUCCESS))

    def has_success(self) -> bool:
        return self.store.info(self.key(SUCCESS)) is not None


def new_attempt() -> str:
    """An id no other attempt uses: 8 random hex digits (a collision needs ~65k attempts
    on one shard index to become likely; the commit's If-None-Match still guards it)."""
    return uuid.uuid4().hex[:8]
