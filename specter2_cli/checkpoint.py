"""OUTDIR state: job identity, generations, per-rank manifests (the commit point), locks.

Layout of an OUTDIR (state lives in `_specter2/`, which pyarrow skips):

    part-00000.parquet ...         committed shards (rank/generation in the name when >1)
    _rejects.jsonl                 bad records with --on-error skip (one file per rank)
    _SUCCESS                       written last, when every rank of the newest run is done
    _specter2/job.json             model/format settings every run must match
    _specter2/gen-0000.json        one per input version (incremental runs add more)
    _specter2/g0000-r00000.json    the rank's manifest: committed shards and its input cursor
    _specter2/g0000-r00000.lock    flock held while a process works on that rank

A shard is committed when the manifest that lists it has been atomically
replaced. Files not listed in a manifest are leftovers of a killed run and are
rewritten, identically, when the rank resumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import describe_differences
from .errors import EnvironmentProblem, LockHeld, UsageError
from .writers import atomic_write_text, fsync_dir, output_error

STATE = "_specter2"
FORMAT_VERSION = 1


def suffix(gen: int, rank: int, world: int) -> str:
    return ("" if gen == 0 else f"-g{gen:04d}") + ("" if world == 1 else f"-r{rank:05d}")


# Every file this tool writes in OUTDIR matches one of these; nothing else is ever deleted.
SHARD_FILE = re.compile(r"^\.?part(-g\d{4})?(-r\d{5})?-\d{5}\.(parquet|npy|ids\.parquet)(\.tmp)?$")
OWN_FILE = re.compile(r"^(_rejects(-g\d{4})?(-r\d{5})?\.jsonl|_SUCCESS)$")


def shard_name(gen: int, rank: int, world: int, index: int) -> str:
    return f"part{suffix(gen, rank, world)}-{index:05d}"


def rejects_name(gen: int, rank: int, world: int) -> str:
    return f"_rejects{suffix(gen, rank, world)}.jsonl"


# ----------------------------------------------------------------- manifests


@dataclass
class ShardEntry:
    index: int
    files: list[str]
    rows: int
    rejected: int
    truncated: int
    cursor: list[int]  # [file_index, pos] after the shard's last record
    rejects_bytes: int  # size of the rejects file once this shard's rejects were written
    real_tokens: int = 0
    padded_tokens: int = 0
    skipped: int = 0  # incremental: unchanged records not re-embedded
    changed: int = 0  # incremental: ids whose text changed


@dataclass
class Manifest:
    gen: int
    rank: int
    world: int
    shards: list[ShardEntry] = field(default_factory=list)
    done: bool = False
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    format_version: int = FORMAT_VERSION

    @property
    def cursor(self) -> list[int] | None:
        return self.shards[-1].cursor if self.shards else None

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.shards)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        d = json.loads(text)
        d["shards"] = [ShardEntry(**s) for s in d.get("shards", [])]
        return cls(**d)


@dataclass
class Generation:
    gen: int
    inputs: list[dict[str, Any]]
    world: int
    incremental: bool
    created_at: float


# ----------------------------------------------------------------- locks


class RankLock:
    """An exclusive flock: released by the kernel when the process dies, even by kill -9."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self.fd)
            if not isinstance(e, BlockingIOError):
                raise EnvironmentProblem(
                    f"{path}: the file system does not support locks ({e.strerror}); "
                    "put the output on a file system with flock support (local disk, NFSv4, "
                    "Lustre mounted with -o flock)"
                ) from e
            holder = _read_holder(path)
            raise LockHeld(
                f"{what} is being written by another process{holder}; wait for it to finish "
                "(two runs on the same output would corrupt it)"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode())

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def _read_holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""


def is_locked(path: Path) -> bool:
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# ----------------------------------------------------------------- the OUTDIR


class OutDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.state = self.path / STATE

    # setup -------------------------------------------------------------

    def prepare(self) -> None:
        if self.path.is_dir() and not self.exists():
            foreign = sorted(p.name for p in self.path.iterdir() if SHARD_FILE.match(p.name))
            if foreign:
                raise UsageError(
                    f"{self.path} holds files named like specter2 shards ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}) but no _specter2/job.json: they were "
                    "not written by specter2 (or its state was deleted); use an empty folder"
                )
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            probe = self.state / f".probe{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise output_error(self.path, e) from e

    def exists(self) -> bool:
        return (self.state / "job.json").exists()

    def wipe(self) -> None:
        """--overwrite: remove what earlier runs wrote (only files this tool names)."""
        if not self.path.exists():
            return
        if self.state.exists():
            for p in self.state.glob("*.lock"):
                if is_locked(p):
                    raise LockHeld(
                        f"{self.path} is being written by another process; not wiping it"
                    )
        for p in self.path.iterdir():
            if (SHARD_FILE.match(p.name) or OWN_FILE.match(p.name)) and p.is_file():
                p.unlink()
        if self.state.exists():
            shutil.rmtree(self.state)

    def job(self) -> dict[str, Any] | None:
        p = self.state / "job.json"
        return json.loads(p.read_text()) if p.exists() else None

    def init_job(self, identity: dict[str, Any]) -> None:
        """Record the job's settings once; later runs must match them."""
        path = self.state / "job.json"
        if not path.exists():
            tmp = self.state / f".job.json.{_unique()}"
            tmp.write_text(json.dumps(identity, indent=1, sort_keys=True))
            try:
                os.link(tmp, path)  # atomic create-if-absent, also on NFS
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(self.state)
        old = json.loads(path.read_text())
        diffs = describe_differences(old, identity)
        if diffs:
            raise UsageError(
                f"{self.path} holds embeddings made with other settings:\n  "
                + "\n  ".join(diffs)
                + "\nUse another output folder, repeat the original settings, "
                "or pass --overwrite to start over."
            )

    # generations -----------------------------------------------------------

    def generations(self) -> list[Generation]:
        gens = []
        for p in sorted(self.state.glob("gen-*.json")):
            d = json.loads(p.read_text())
            gens.append(Generation(**d))
        return gens

    def join_generation(
        self, inputs: list[dict[str, Any]], world: int, incremental: bool
    ) -> Generation:
        """The generation this run belongs to: one per distinct input (incremental runs)."""
        stdin = inputs == [{"path": "-"}]
        while True:
            gens = self.generations()
            if stdin:
                # stdin has no identity: resume its newest unfinished run, or start a new one
                mine = [g for g in gens if [d["path"] for d in g.inputs] == ["-"]]
                if mine and not self.generation_complete(mine[-1]):
                    return mine[-1]
                if mine and not incremental:
                    raise UsageError(
                        f"{self.path} already holds a finished run from stdin; pass "
                        "--incremental to add the records on stdin, or --overwrite to start over"
                    )
                if gens:
                    inputs = [{"path": "-", "run": len(mine)}]
            for g in gens:
                if g.inputs == inputs:
                    if g.world != world:
                        raise UsageError(
                            f"{self.path} is being embedded with {g.world} ranks, "
                            f"not {world}; keep the same --num-shards/array size to resume"
                        )
                    return g
            if gens and not incremental:
                raise UsageError(
                    f"{self.path} holds embeddings of other input:\n  "
                    + "\n  ".join(_describe_input_change(gens[-1].inputs, inputs))
                    + "\nPass --incremental to embed only new and changed records, "
                    "--overwrite to start over, or use another output folder."
                )
            n = gens[-1].gen + 1 if gens else 0
            g = Generation(n, inputs, world, incremental, time.time())
            tmp = self.state / f".gen-{n:04d}.json.{_unique()}"
            tmp.write_text(json.dumps(asdict(g), indent=1))
            try:
                os.link(tmp, self.state / f"gen-{n:04d}.json")
                fsync_dir(self.state)
                if n > 0:  # the job is not complete again until the new run is
                    (self.path / "_SUCCESS").unlink(missing_ok=True)
                return g
            except FileExistsError:
                continue  # another rank created it first: look again
            finally:
                tmp.unlink(missing_ok=True)

    # ranks -----------------------------------------------------------------

    def manifest_path(self, gen: int, rank: int) -> Path:
        return self.state / f"g{gen:04d}-r{rank:05d}.json"

    def lock_path(self, gen: int, rank: int) -> Path:
        return self.state / f"g{gen:04d}-r{rank:05d}.lock"

    def lock_rank(self, gen: int, rank: int, world: int) -> RankLock:
        what = f"{self.path}" + (f" (rank {rank} of {world})" if world > 1 else "")
        return RankLock(self.lock_path(gen, rank), what)

    def load_manifest(self, gen: int, rank: int) -> Manifest | None:
        p = self.manifest_path(gen, rank)
        return Manifest.from_json(p.read_text()) if p.exists() else None

    def save_manifest(self, m: Manifest) -> None:
        atomic_write_text(self.manifest_path(m.gen, m.rank), m.to_json())

    def manifests(self, gen: int | None = None) -> list[Manifest]:
        out = []
        for p in sorted(self.state.glob("g*-r*.json")):
            m = Manifest.from_json(p.read_text())
            if gen is None or m.gen == gen:
                out.append(m)
        return out

    def sweep(self, gen: int, rank: int, world: int, keep: set[str]) -> int:
        """Remove temp files and uncommitted shards of this rank left by a killed run."""
        prefix = shard_name(gen, rank, world, 0)[:-5]  # "part-r00003-" for rank 3
        n = 0
        for p in self.path.iterdir():
            name = p.name
            if name in keep or not SHARD_FILE.match(name):
                continue
            if not name.lstrip(".")[len(prefix) :][:5].isdigit() or not name.lstrip(".").startswith(
                prefix
            ):
                continue  # another rank's or generation's shard
            p.unlink(missing_ok=True)
            n += 1
        for p in self.state.glob(f".{self.manifest_path(gen, rank).name}.tmp*"):
            with contextlib.suppress(OSError):
                p.unlink()  # only this rank's: other ranks write theirs right now
        return n

    def rejects_path(self, gen: int, rank: int, world: int) -> Path:
        return self.path / rejects_name(gen, rank, world)

    def generation_complete(self, gen: Generation) -> bool:
        done = {m.rank for m in self.manifests(gen.gen) if m.done}
        return len(done) == gen.world

    def mark_success_if_complete(self, gen: Generation) -> bool:
        newest = self.generations()[-1]
        if gen.gen == newest.gen and self.generation_complete(gen):
            atomic_write_text(
                self.path / "_SUCCESS", json.dumps({"gen": gen.gen, "ranks": gen.world}) + "\n"
            )
            return True
        return False


def _unique() -> str:
    """A temp-name suffix no other process on any node uses at the same time."""
    return f"{socket.gethostname()}.{os.getpid()}"


def _describe_input_change(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    out = []
    old_by = {d["path"]: d for d in old}
    new_by = {d["path"]: d for d in new}
    for p in new_by:
        if p not in old_by:
            out.append(f"new input {p}")
        elif old_by[p] != new_by[p]:
            o, n = old_by[p], new_by[p]
            out.append(f"{p} changed (size {o.get('size')} -> {n.get('size')})")
    for p in old_by:
        if p not in new_by:
            out.append(f"input {p} is no longer given")
    if [d["path"] for d in old] != [d["path"] for d in new] and not out:
        out.append("the inputs are given in another order")
    return out or ["the input differs"]


# ----------------------------------------------------------------- id sets


def id_key(value: int | str) -> int:
    """A 64-bit key for an id; ints and strings never collide with each other."""
    tag = b"i" if isinstance(value, int) else b"s"
    h = hashlib.blake2b(tag + str(value).encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def text_hash(text: str) -> int:
    h = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(h.digest(), "little")


class KeySet:
    """A set of 64-bit keys in ~8 bytes each: sorted runs of geometric sizes plus a small set.

    A Python set of 200M ids would not fit in memory. New keys collect in a set;
    every 64k they become a sorted run, and runs of similar size are merged, so
    each key is re-sorted O(log n) times in all and a lookup checks O(log n) runs.
    """

    _FLUSH = 65_536

    def __init__(self, keys: np.ndarray | None = None) -> None:
        self._runs: list[np.ndarray] = []
        if keys is not None and len(keys):
            self._runs.append(np.unique(keys.astype(np.uint64)))
        self._pending: set[int] = set()

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs) + len(self._pending)

    def __contains__(self, key: int) -> bool:
        if key in self._pending:
            return True
        k = np.uint64(key)
        for run in self._runs:
            i = int(np.searchsorted(run, k))
            if i < len(run) and run[i] == k:
                return True
        return False

    def add(self, key: int) -> None:
        """Add a key that is not in the set yet (callers check `key in set` first)."""
        self._pending.add(key)
        if len(self._pending) >= self._FLUSH:
            self._flush()

    def _flush(self) -> None:
        run = np.sort(np.fromiter(self._pending, dtype=np.uint64, count=len(self._pending)))
        self._pending.clear()
        while self._runs and len(self._runs[-1]) <= 2 * len(run):
            # add() is only called for keys not in the set, so runs never overlap: a plain
            # concatenate + in-place sort (np.union1d would need ~3x the merged size)
            merged = np.concatenate((self._runs.pop(), run))
            merged.sort()
            run = merged
        self._runs.append(run)


class KeyMap:
    """id key -> text hash, for --incremental: 16 bytes a record, sorted arrays."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order].astype(np.uint64)
        self.values = values[order].astype(np.uint64)

    def get(self, key: int) -> int | None:
        i = int(np.searchsorted(self.keys, np.uint64(key), side="right")) - 1
        if i >= 0 and int(self.keys[i]) == key:
            return int(self.values[i])
        return None

    def __len__(self) -> int:
        return len(self.keys)
