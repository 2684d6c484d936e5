"""An OUTDIR on an object store (`-o s3://bucket/prefix/`), worked through a local folder.

A rank writes each shard to a local staging folder exactly as it does for a local
OUTDIR, then hands it to a background thread that uploads it under a name unique to the
attempt and commits it with the protocol in commit.py (a new manifest version created
with If-None-Match). The store holds the only state: job.json and the run records are
created with If-None-Match too, so ranks on many nodes agree on them, and a resumed run,
on any node, starts from the newest committed manifest. Uploads overlap with compute;
a finished, failed or stopped rank waits for its uploads before it exits.

Layout under the prefix (readers see whole objects only, never a half-written one):

    part-00003.<attempt>.parquet           committed shards (rank/run in the name as locally)
    _rejects-00003.<attempt>.jsonl         the rejects of shard 3 (the file is their concatenation)
    _SUCCESS                               written last
    _specter2/job.json, gen-0000.json      settings and run records (create-if-absent)
    _specter2/g0000-r00000/m00000007.json  the rank's manifest, version 7: the commit point
    _specter2/g0000-r00000-00003.<attempt>.skipped.npy   --incremental: ids skipped in shard 3
    _specter2/locks/g0000-r00000.json      the writer's lease

Readers (status, merge, search, export, read_embeddings) copy the committed objects into
a local cache folder (`materialize`): object names are unique per attempt, so a copy is
never stale, and only what changed since the last read is downloaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, LockHeld, OutputError, Specter2Error, UsageError
from ..store.durable import atomic_write_text
from ..store.manifest import Generation, Manifest
from ..store.outdir import (
    ASIDE,
    OWN_FILE,
    SHARD_FILE,
    OutDir,
    committed_work,
    refuse_other_settings,
    rejects_name,
)
from ..store.verify import DamagedOutput, forget_from
from .commit import STATE, SUCCESS, Holder, Lease, ObjectOutDir, lease_ttl, new_attempt
from .store import ObjectInfo, PreconditionFailed
from .uploader import BackgroundUploader, Uploaded
from .urls import ObjectURL, inside, parse_url

log = logging.getLogger("specter2")

STAGING_ENV = "SPECTER2_STAGING_DIR"
ATTEMPT = r"\.[0-9a-f]{8}"
# objects this tool writes under the prefix (besides _specter2/): shards and rejects pieces
OWN_OBJECT = re.compile(
    r"^(part(-g\d{4})?(-r\d{5})?-\d{5}" + ATTEMPT + r"\.(parquet|npy|ids\.parquet)"
    r"|_rejects(-g\d{4})?(-r\d{5})?-\d{5}" + ATTEMPT + r"\.jsonl|_SUCCESS)$"
)
_MANIFEST_KEY = re.compile(r"^(g\d{4}-r\d{5})/m(\d{8})\.json$")


def open_outdir(path: str | os.PathLike[str]) -> OutDir:
    """The OUTDIR `-o` names: a local folder, or a prefix on an object store (s3://)."""
    from .urls import looks_like_url

    url = looks_like_url(os.fspath(path))
    return OutDir(path) if url is None else RemoteOutDir(url)


def staging_root() -> Path:
    """Where local copies of object-store OUTDIRs live: $SPECTER2_STAGING_DIR, else the user's
    cache folder."""
    env = os.environ.get(STAGING_ENV, "").strip()
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "specter2" / "outdirs"


def _folder(url: ObjectURL, kind: str) -> Path:
    digest = hashlib.sha256(str(url).encode()).hexdigest()[:16]
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", url.prefix.rstrip("/").rsplit("/", 1)[-1])[:40]
    return staging_root() / f"{digest}-{tail or url.bucket}-{kind}"


def _rank_name(gen: int, rank: int) -> str:
    return f"g{gen:04d}-r{rank:05d}"


def _rank_suffix(gen: int, rank: int, world: int) -> str:
    return ("" if gen == 0 else f"-g{gen:04d}") + ("" if world == 1 else f"-r{rank:05d}")


def _renamed(e: Specter2Error, local: Path, url: str) -> Specter2Error:
    """The same error, naming the OUTDIR's URL instead of its local staging folder."""
    text = str(e).replace(str(local), url)
    new = type(e)(text)
    new.__cause__ = e.__cause__
    return new


class _State:
    """One listing of the prefix's `_specter2/` objects."""

    def __init__(self, objects: list[ObjectInfo], root: str) -> None:
        self.by_name = {o.key[len(root) :]: o for o in objects}

    def newest_manifests(self) -> dict[str, str]:
        newest: dict[str, tuple[int, str]] = {}
        for name in self.by_name:
            m = (
                _MANIFEST_KEY.match(name[len(STATE) + 1 :])
                if name.startswith(STATE + "/")
                else None
            )
            if m and (m.group(1) not in newest or int(m.group(2)) > newest[m.group(1)][0]):
                newest[m.group(1)] = (int(m.group(2)), name)
        return {rank: name for rank, (_, name) in sorted(newest.items())}


class RemoteRankLock:
    """The rank's lease; released after the rank's uploads are committed."""

    def __init__(self, out: RemoteOutDir, key: tuple[int, int], lease: Lease) -> None:
        self.out, self.key, self.lease = out, key, lease

    def release(self) -> None:
        try:
            self.out.drain()
        finally:
            self.out._close_uploader()
            self.lease.release()
            self.out._leases.pop(self.key, None)
            self.out._drop_local_copies()


class RemoteOutDir(OutDir):
    """An OUTDIR at s3://bucket/prefix/: state on the store, shards staged locally."""

    def __init__(self, url: str | ObjectURL) -> None:
        self.remote = ObjectOutDir(url)
        self.url = self.remote.url
        self.shown = str(self.url).rstrip("/") + "/"
        super().__init__(_folder(self.url, f"{socket.gethostname()}-write"), _remote_ok=True)
        self.attempt = new_attempt()
        self._leases: dict[tuple[int, int], Lease] = {}
        self._seq: dict[tuple[int, int], int] = {}
        self._names: dict[str, str] = {}  # local file name -> its committed object name
        self._pieces: dict[tuple[int, int], list[str | None]] = {}  # rejects per shard entry
        self._uploader: BackgroundUploader | None = None
        self._job: bytes | None = None
        self._loaded: dict[tuple[int, int], Manifest] = {}
        self._queued: set[str] = set()  # local names handed to the uploader (or committed)
        self._copies: list[Path] = []  # local files rebuilt from the store, dropped at the end

    @property
    def display(self) -> str:
        return self.shown

    def key(self, name: str) -> str:
        return self.remote.key(name)

    def _list_state(self) -> _State:
        root = self.remote.root
        return _State(list(self.remote.store.iter_objects(root + STATE + "/")), root)

    def _read_json(self, name: str, what: str) -> Any:
        data = self.remote.store.read_bytes(self.key(name))
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as e:
            raise DamagedOutput(
                f"{self.remote.show(name)}: the {what} is damaged ({e}); delete the OUTDIR's "
                "objects to start over"
            ) from None

    @contextlib.contextmanager
    def _named(self) -> Iterator[None]:
        try:
            yield
        except Specter2Error as e:
            raise _renamed(e, self.path, self.shown) from None

    # setup -------------------------------------------------------------

    def refuse_not_a_folder(self) -> None:
        bare = self.remote.root.rstrip("/")
        if bare and self.remote.store.info(bare) is not None:
            raise UsageError(
                f"-o/--output {self.url}: an object of that name exists; the output is a "
                "prefix of shards: end the URL with '/' and a new name"
            )

    def refuse_foreign_files(self) -> None:
        if self.exists():
            return
        root = self.remote.root
        foreign = []
        for o in self.remote.store.iter_objects(root, recursive=False):
            name = o.key[len(root) :]
            if OWN_OBJECT.match(name) or SHARD_FILE.match(name) or OWN_FILE.match(name):
                foreign.append(name)
            if len(foreign) > 3:
                break
        if foreign:
            raise UsageError(
                f"{self.shown} holds objects named like specter2's ({', '.join(foreign[:3])}"
                f"{', ...' if len(foreign) > 3 else ''}) but no {STATE}/job.json: they were "
                "not written by specter2 (or its state was deleted); use an empty prefix"
            )

    def refuse_inputs_inside(self, files: list[Any]) -> None:
        for f in files:
            p = str(getattr(f, "path", ""))
            if inside(p, str(self.url)):
                raise UsageError(
                    f"input {p} is inside the output prefix {self.shown}: readers of the "
                    "prefix would take it for output; choose another -o/--output"
                )

    def prepare(self) -> None:
        try:
            super().prepare()  # the local staging folder
        except OutputError as e:
            raise OutputError(
                f"{self.path}: the local staging folder of {self.shown} cannot be written "
                f"({e}); set {STAGING_ENV} to a writable local folder"
            ) from None
        self._list_state()  # the bucket exists and can be listed: exit 4 before the model loads

    def prepare_new(self) -> list[Path]:
        self.prepare()
        return []  # the staging folder is kept for the next run

    def exists(self) -> bool:
        if self._job is None:
            self._job = self.remote.read_state("job.json")
        return self._job is not None

    def job(self) -> dict[str, Any] | None:
        return self._read_json(f"{STATE}/job.json", "job settings file") if self.exists() else None

    def init_job(self, identity: dict[str, Any]) -> None:
        text = json.dumps(identity, indent=1, sort_keys=True)
        existing = self.remote.claim_job(text)
        self._job = (existing or text).encode()
        if existing is None:
            return
        try:
            old = json.loads(existing)
        except ValueError as e:
            raise DamagedOutput(f"{self.remote.show(STATE + '/job.json')}: damaged ({e})") from None
        refuse_other_settings(self.shown, "prefix", old, identity)

    # --overwrite: no rename on a store, so there is nothing to move aside ------------------

    def aside_pending(self) -> bool:
        return False

    def settle_aside(self) -> None:
        return None

    def drop_aside(self) -> None:
        return None

    def restore_aside(self) -> None:
        return None

    def wipe(self) -> list[str]:
        """--overwrite: delete what earlier runs wrote under the prefix (only names this tool
        gives, and `_specter2/` when it holds job.json), after the input and model were
        checked. A store has no rename, so the earlier output cannot be kept aside."""
        root = self.remote.root
        state = _State(list(self.remote.store.iter_objects(root + STATE + "/")), root)
        if state.by_name and f"{STATE}/job.json" not in state.by_name:
            raise UsageError(
                f"{self.remote.show(STATE + '/')} holds objects but no job.json: it was not "
                "written by specter2; --overwrite deletes only a specter2 OUTDIR's state"
            )
        self._refuse_live_leases(state)
        own = [
            o.key[len(root) :]
            for o in self.remote.store.iter_objects(root, recursive=False)
            if OWN_OBJECT.match(o.key[len(root) :])
        ]
        if not own and not state.by_name:
            return []
        rows = _committed_rows(self)
        for name in [*own, *sorted(n for n in state.by_name if n != f"{STATE}/job.json")]:
            self.remote.store.delete(self.key(name))
        self.remote.store.delete(self.key(f"{STATE}/job.json"))  # last: the prefix is ours
        self.remote.store.abort_uploads(
            root, lambda k: "/" not in k[len(root) :] and bool(OWN_OBJECT.match(k[len(root) :]))
        )
        self._job = None
        log.warning(
            "--overwrite: deleted %d objects of an earlier job from %s (%s%s; %d committed "
            "records) and its state %s/",
            len(own),
            self.shown,
            ", ".join(own[:5]),
            ", ..." if len(own) > 5 else "",
            rows,
            STATE,
        )
        return own

    def _refuse_live_leases(self, state: _State) -> None:
        ttl = lease_ttl()
        for name, o in state.by_name.items():
            if not name.startswith(f"{STATE}/locks/"):
                continue
            info = self.remote.store.info(o.key)  # with the store's clock
            holder = Holder.parse(self.remote.store.read_bytes(o.key))
            if info is not None and info.age() < ttl and not (holder and holder.gone()):
                raise LockHeld(f"{self.shown} is being written by another process; not wiping it")

    # state -------------------------------------------------------------

    def holds_work(self) -> bool:
        state = self._list_state()
        for name in state.by_name:  # a live lease: a writer at work (a dead one's does not count)
            m = re.match(rf"^{STATE}/locks/g(\d{{4}})-r(\d{{5}})\.json$", name)
            if m and self.is_running(int(m.group(1)), int(m.group(2))):
                return True
        return any(committed_work(m) for m in self.manifests())

    def _forget_state(self) -> None:
        names = sorted(self._list_state().by_name)
        for name in names:
            if name != f"{STATE}/job.json":
                self.remote.store.delete(self.key(name))
        self.remote.store.delete(self.key(f"{STATE}/job.json"))
        self._job = None
        log.warning(
            "%s: the earlier run committed nothing; its settings and input record are "
            "forgotten (%s)",
            self.shown,
            ", ".join(n[len(STATE) + 1 :] for n in names),
        )

    def generations(self) -> list[Generation]:
        out = []
        for name in sorted(self._list_state().by_name):
            if re.match(rf"^{STATE}/gen-\d{{4}}\.json$", name):
                d = self._read_json(name, "run record")
                if d is None:
                    continue  # deleted since the listing (a forgotten empty run)
                try:
                    out.append(Generation(**d))
                except TypeError as e:
                    raise DamagedOutput(
                        f"{self.remote.show(name)}: the run record is damaged ({e})"
                    ) from None
        return out

    def join_generation(
        self,
        inputs: list[dict[str, Any]],
        world: int,
        incremental: bool,
        resume_changed: bool = False,
    ) -> Generation:
        with self._named():
            return super().join_generation(inputs, world, incremental, resume_changed)

    def _record_inputs(self, g: Generation, inputs: list[dict[str, Any]]) -> None:
        g.inputs = inputs
        self.remote.store.put_bytes(self.key(f"{STATE}/gen-{g.gen:04d}.json"), _gen_bytes(g))

    def _create_generation(
        self, n: int, inputs: list[dict[str, Any]], world: int, incremental: bool
    ) -> Generation | None:
        g = Generation(n, inputs, world, incremental, time.time())
        try:
            self.remote.store.put_bytes(
                self.key(f"{STATE}/gen-{n:04d}.json"), _gen_bytes(g), if_absent=True
            )
        except PreconditionFailed:
            return None
        if n > 0:
            self.remote.remove_success()
        return g

    def forget_empty_generation(self, gen: int, holding_lock: bool = False) -> bool:
        gens = self.generations()
        if gen == 0 or not gens or gens[-1].gen != gen or gens[-1].world != 1:
            return False
        if any(m.done or m.shards for m in self.manifests(gen)):
            return False
        if not holding_lock and self.is_running(gen, 0):
            return False
        rank = _rank_name(gen, 0)
        for name in sorted(self._list_state().by_name):
            if name.startswith(f"{STATE}/{rank}/"):
                self.remote.store.delete(self.key(name))
        self.remote.store.delete(self.key(f"{STATE}/gen-{gen:04d}.json"))
        complete = self.mark_success_if_complete(gens[-2])
        log.warning(
            "%s: the run over %s found no record and is forgotten; the job is %s",
            self.shown,
            ", ".join(d["path"] for d in gens[-1].inputs[:3]),
            "complete as before" if complete else "as it was",
        )
        return True

    # ranks -------------------------------------------------------------

    def _lock_key(self, gen: int, rank: int) -> str:
        return self.key(f"{STATE}/locks/{_rank_name(gen, rank)}.json")

    def lock_rank(self, gen: int, rank: int, world: int) -> RemoteRankLock:  # type: ignore[override]
        what = self.shown + (f" (rank {rank} of {world})" if world > 1 else "")
        lease = self.remote.acquire(_rank_name(gen, rank), what)
        self._leases[(gen, rank)] = lease
        return RemoteRankLock(self, (gen, rank), lease)

    def is_running(self, gen: int, rank: int) -> bool:
        """A live lease on the rank: a writer at work (or one killed less than TTL ago)."""
        key = self._lock_key(gen, rank)
        info = self.remote.store.info(key)
        if info is None:
            return False
        holder = Holder.parse(self.remote.store.read_bytes(key))
        return info.age() < lease_ttl() and not (holder and holder.gone())

    def _load(self, name: str) -> tuple[Manifest, list[str | None]]:
        """The manifest version `name`, or the rank's newest if a commit retired it since
        the listing that named it."""
        d = self._read_json(name, "manifest")
        if d is None:
            newest = self.remote.latest(name.split("/")[1])
            if newest is None:
                raise DamagedOutput(f"{self.remote.show(name)}: the rank's manifests are gone")
            name = f"{STATE}/{name.split('/')[1]}/m{newest[0]:08d}.json"
            try:
                d = json.loads(newest[1])
            except ValueError as e:
                raise DamagedOutput(f"{self.remote.show(name)}: damaged ({e})") from None
        try:
            return Manifest.from_dict(d["manifest"]), list(d.get("rejects") or [])
        except (TypeError, KeyError, AttributeError) as e:
            raise DamagedOutput(
                f"{self.remote.show(name)}: the manifest is damaged ({e}); delete it to "
                "re-embed this rank"
            ) from None

    def load_manifest(self, gen: int, rank: int) -> Manifest | None:
        """The rank's newest committed manifest; its rejects file is rebuilt in the staging
        folder from the committed pieces."""
        found = self._seq_and_manifest(gen, rank)
        if found is None:
            self._pieces[(gen, rank)] = []
            return None
        m, pieces = self._load(f"{STATE}/{_rank_name(gen, rank)}/m{found[0]:08d}.json")
        self._pieces[(gen, rank)] = pieces
        self._names.update({f: f for f in m.committed_files})
        self._names.update({sh.skipped_file: sh.skipped_file for sh in m.shards if sh.skipped_file})
        self._queued.update(self._names)
        self._loaded[(gen, rank)] = m
        self._restore_rejects(m, pieces)
        return m

    def _seq_and_manifest(self, gen: int, rank: int) -> tuple[int, bytes] | None:
        found = self.remote.latest(_rank_name(gen, rank))
        self._seq[(gen, rank)] = found[0] if found is not None else 0
        world = next((g.world for g in self.generations() if g.gen == gen), 1)
        self._copies.append(self.rejects_path(gen, rank, world))  # rebuilt or new: ours
        return found

    def _restore_rejects(self, m: Manifest, pieces: list[str | None]) -> None:
        """The local rejects file: the committed pieces in order."""
        path = self.rejects_path(m.gen, m.rank, m.world)
        tmp = path.with_name(f".{path.name}.restore")
        with open(tmp, "wb") as fh:
            for name in pieces:
                if name is not None:
                    data = self.remote.store.read_bytes(self.key(name))
                    fh.write(data or b"")
        os.replace(tmp, path)

    def read_index(self, files: list[str], columns: tuple[str, ...]) -> Any:
        """Index columns of a committed shard, read from the store: only their column chunks
        are fetched (range reads), never the vectors."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        src = next((f for f in files if f.endswith(".ids.parquet")), files[0])
        try:
            with self.remote.store.open_read(self.key(src)) as fh:
                return pq.read_table(fh, columns=list(columns), page_checksum_verification=True)
        except (OSError, pa.ArrowException, ValueError) as e:
            raise DamagedOutput(
                f"{self.remote.show(src)}: a committed shard cannot be read ({e}); rerun the "
                "embed command to re-embed it (a resume checks and replaces damaged shards)"
            ) from None

    def read_skipped(self, name: str) -> Any:
        import io

        import numpy as np

        data = self.remote.store.read_bytes(self.key(f"{STATE}/{name}"))
        if data is None:
            raise DamagedOutput(f"{self.remote.show(f'{STATE}/{name}')}: missing")
        return np.load(io.BytesIO(data), allow_pickle=False)

    def first_damage(
        self,
        m: Manifest,
        sizes: dict[str, int] | None = None,
        footers: bool = True,
        pieces: list[str | None] | None = None,
    ) -> tuple[int, str] | None:
        """(shard index, what is wrong) of m's first committed shard whose objects are
        missing, not their committed size or (with `footers`) not their committed row count;
        `sizes`: name -> size from a listing of the prefix (listed here when None)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if sizes is None:
            root = self.remote.root
            sizes = {o.key[len(root) :]: o.size for o in self.remote.store.iter_objects(root)}
        known = sizes

        def present(name: str) -> bool:
            if name not in known:  # committed after the listing, or missing
                info = self.remote.store.info(self.key(name))
                if info is None:
                    return False
                known[name] = info.size
            return True

        for i, sh in enumerate(m.shards):
            for j, name in enumerate(sh.files):
                if not present(name):
                    return i, f"{name} is missing"
                if sh.sizes is not None and j < len(sh.sizes) and sizes[name] != sh.sizes[j]:
                    return i, f"{name} has {sizes[name]} bytes, committed with {sh.sizes[j]}"
                if footers and name.endswith(".parquet"):
                    try:
                        with self.remote.store.open_read(self.key(name)) as fh:
                            n = pq.read_metadata(fh).num_rows
                    except (OSError, pa.ArrowException, ValueError) as e:
                        return i, f"{name} cannot be read ({type(e).__name__}: {e})"
                    if n != sh.rows:
                        return i, f"{name} holds {n} rows, committed with {sh.rows}"
            if sh.skipped_file and not present(f"{STATE}/{sh.skipped_file}"):
                return i, f"{STATE}/{sh.skipped_file} is missing"
            piece = pieces[i] if pieces is not None and i < len(pieces) else None
            if piece and not present(piece):
                return i, f"{piece} (its rejects) is missing"
        return None

    def drop_damaged(self, m: Manifest) -> str | None:
        return forget_from(m, self.first_damage(m, pieces=self._pieces.get((m.gen, m.rank))))

    def manifests(self, gen: int | None = None) -> list[Manifest]:
        out = []
        for rank, name in self._list_state().newest_manifests().items():
            if gen is not None and not rank.startswith(f"g{gen:04d}-"):
                continue
            out.append(self._load(name)[0])
        return out

    def save_manifest(self, m: Manifest) -> None:
        """Commit `m`: upload its new files in the background, then create the next manifest
        version. A finished or failed rank waits until it is committed."""
        key = (m.gen, m.rank)
        lease = self._leases.get(key)
        if lease is None:
            raise RuntimeError(f"rank {m.rank} of run {m.gen} saved without its lease")
        snapshot = Manifest.from_json(m.to_json())
        pieces = list(self._pieces.get(key, []))[: len(snapshot.shards)]
        uploads: list[tuple[str, str]] = []
        for sh in snapshot.shards:  # files no earlier commit uploaded or queued
            uploads += [(str(self.path / f), f) for f in sh.files if f not in self._queued]
            if sh.skipped_file and sh.skipped_file not in self._queued:
                uploads.append((str(self.state / sh.skipped_file), f"{STATE}/{sh.skipped_file}"))
        self._queued.update(n.split("/")[-1] for _, n in uploads)
        new_pieces = self._cut_pieces(snapshot, len(pieces))
        uploads += [(p, n) for p, n in new_pieces if p]
        # per shard entry: its rejects piece's object name (committed) or upload name (queued);
        # kept by this thread only, translated when the commit runs (after the uploads)
        pieces += [n or None for _, n in new_pieces]
        self._pieces[key] = pieces

        def commit(done: Uploaded) -> None:
            objs = {name: obj for (_, name), (obj, _) in zip(uploads, done, strict=True)}
            for name, obj in objs.items():
                if name.startswith(STATE + "/"):
                    self._names[name[len(STATE) + 1 :]] = obj[len(STATE) + 1 :]
                else:
                    self._names[name] = obj
            for sh in snapshot.shards:
                sh.files = [self._names.get(f, f) for f in sh.files]
                if sh.skipped_file:
                    sh.skipped_file = self._names.get(sh.skipped_file, sh.skipped_file)
            committed = [self._names.get(p, p) if p else None for p in pieces]
            self._seq[key] = self._seq.get(key, 0) + 1
            text = json.dumps({"manifest": json.loads(snapshot.to_json()), "rejects": committed})
            self.remote.commit(_rank_name(*key), self._seq[key], text.encode(), lease)

        uploader = self._uploader_for()
        uploader.submit(uploads, commit)
        if m.done or m.failed:
            self.drain()

    def _cut_pieces(self, m: Manifest, have: int) -> list[tuple[str, str]]:
        """(local file, name) of the rejects that shard entries `have`.. added ("" where
        none): copies of their byte ranges of the local rejects file, taken now."""
        out = []
        path = self.rejects_path(m.gen, m.rank, m.world)
        start = m.shards[have - 1].rejects_bytes if have else 0
        suffix = _rank_suffix(m.gen, m.rank, m.world)
        for sh in m.shards[have:]:
            if sh.rejects_bytes <= start:
                out.append(("", ""))
                continue
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(sh.rejects_bytes - start)
            piece = self.path / f".{rejects_name(m.gen, m.rank, m.world)}.{sh.index:05d}"
            piece.write_bytes(data)
            out.append((str(piece), f"_rejects{suffix}-{sh.index:05d}.jsonl"))
            start = sh.rejects_bytes
        return out

    def _uploader_for(self) -> BackgroundUploader:
        if self._uploader is None:
            self._uploader = BackgroundUploader(self.remote, self.attempt, depth=1)
        return self._uploader

    def drain(self) -> None:
        """Wait until every queued shard is uploaded and committed (or raise why not)."""
        if self._uploader is not None:
            self._uploader.drain()

    def _drop_local_copies(self) -> None:
        """The rank is over: its local rejects file goes (the store has the pieces; a resume
        rebuilds it)."""
        for path in self._copies:
            path.unlink(missing_ok=True)
        self._copies = []

    def _close_uploader(self) -> None:
        if self._uploader is not None:
            up, self._uploader = self._uploader, None
            up.close()

    def sweep(self, gen: int, rank: int, world: int, keep: set[str]) -> int:
        """This rank's leftovers of a killed run: local staging files, and objects (with
        unfinished multipart uploads) that no committed manifest lists."""
        n = super().sweep(gen, rank, world, set())
        local = [*self.path.glob(f".{rejects_name(gen, rank, world)}.[0-9]*")]
        local += [*self.state.glob(f"{_rank_name(gen, rank)}-[0-9]*.skipped.npy")]
        for p in local:  # pieces and skipped ids staged for an upload that never committed
            p.unlink(missing_ok=True)
        suffix = re.escape(_rank_suffix(gen, rank, world))
        owns_rx = re.compile(
            rf"^(part{suffix}-\d{{5}}{ATTEMPT}\.(parquet|npy|ids\.parquet)"
            rf"|_rejects{suffix}-\d{{5}}{ATTEMPT}\.jsonl)$"
        )
        committed = set(keep) | {p for p in self._pieces.get((gen, rank), []) if p}
        gone = self.remote.sweep(committed, lambda name: bool(owns_rx.match(name)))
        skipped_rx = re.compile(
            rf"^{STATE}/{_rank_name(gen, rank)}-\d{{5}}{ATTEMPT}\.skipped\.npy$"
        )
        loaded = self._loaded.get((gen, rank))
        m_skipped = {
            f"{STATE}/{sh.skipped_file}"
            for sh in (loaded.shards if loaded else [])
            if sh.skipped_file
        }
        for name in self._list_state().by_name:
            if skipped_rx.match(name) and name not in m_skipped:
                self.remote.store.delete(self.key(name))
                gone.append(name)
        if gone:
            log.info(
                "%s: removed %d objects an interrupted run uploaded but never committed (%s%s)",
                self.shown,
                len(gone),
                ", ".join(sorted(gone)[:5]),
                ", ..." if len(gone) > 5 else "",
            )
        return n + len(gone)

    def generation_complete(self, gen: Generation) -> bool:
        done = {m.rank for m in self.manifests(gen.gen) if m.done}
        return len(done) == gen.world

    def mark_success_if_complete(self, gen: Generation) -> bool:
        self.drain()
        if self.job_complete():
            self.remote.write_success(
                (json.dumps({"gen": gen.gen, "ranks": gen.world}) + "\n").encode()
            )
            return True
        return False

    def unmark_success(self) -> None:
        self.remote.remove_success()

    def rejects_shown(self, gen: int, rank: int, world: int) -> str:
        return f"{self.shown}_rejects{_rank_suffix(gen, rank, world)}-*.jsonl (a piece per shard)"


def _gen_bytes(g: Generation) -> bytes:
    from dataclasses import asdict

    return json.dumps(asdict(g), indent=1).encode()


def _committed_rows(out: OutDir) -> int:
    try:
        return sum(sh.rows for m in out.manifests() for sh in m.shards)
    except Exception:  # only for the log line
        return 0


# reading -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise EnvironmentProblem(
            f"{folder}: cannot write the local copy of an s3:// OUTDIR ({e.strerror}); set "
            f"{STAGING_ENV} to a writable local folder"
        ) from None
    try:
        with contextlib.suppress(OSError):  # no locks on this file system: readers race, no more
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def materialize(
    url: str | ObjectURL,
    shards: bool = True,
    on_file: Callable[[str], None] | None = None,
) -> Path:
    """A local folder that is a copy of the committed state of the OUTDIR at `url`: its
    job.json, run records, newest manifests, rejects and `_SUCCESS`, and (with `shards`)
    every committed shard. Readers of local OUTDIRs read it as they read any OUTDIR."""
    u = parse_url(url) if isinstance(url, str) else url
    remote = ObjectOutDir(u)
    store, root = remote.store, remote.root
    folder = _folder(u, f"{socket.gethostname()}-read")
    state_dir = folder / STATE
    with _folder_lock(folder):
        state_dir.mkdir(exist_ok=True)
        for p in folder.glob(".*.download"):  # a reader killed mid-download
            p.unlink(missing_ok=True)
        objects = {o.key[len(root) :]: o for o in store.iter_objects(root)}
        if f"{STATE}/job.json" not in objects:
            return _empty(folder)
        keep_state = {"job.json"}
        keep = set()
        for name, o in objects.items():
            if re.match(rf"^{STATE}/(job|gen-\d{{4}})\.json$", name):
                _copy_small(store, o, state_dir / name[len(STATE) + 1 :])
                keep_state.add(name[len(STATE) + 1 :])
        listing = _State([o for n, o in objects.items() if n.startswith(STATE + "/")], root)
        for rank, name in listing.newest_manifests().items():
            data = store.read_bytes(root + name)
            if data is None:  # two commits since the listing: read the newest again
                newest = remote.latest(rank)
                if newest is None:
                    continue
                data = newest[1]
            try:
                d = json.loads(data)
                m = Manifest.from_dict(d["manifest"])
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                raise DamagedOutput(
                    f"{store.url(root + name)}: the manifest is damaged ({e}); delete it to "
                    "re-embed this rank"
                ) from None
            atomic_write_text(state_dir / f"{rank}.json", m.to_json())
            keep_state.add(f"{rank}.json")
            rej = rejects_name(m.gen, m.rank, m.world)
            with open(folder / f".{rej}.tmp", "wb") as fh:
                for piece in d.get("rejects") or []:
                    if piece:
                        fh.write(store.read_bytes(root + piece) or b"")
            os.replace(folder / f".{rej}.tmp", folder / rej)
            keep.add(rej)
            for sh in m.shards:
                if sh.skipped_file and f"{STATE}/{sh.skipped_file}" in objects:
                    o = objects[f"{STATE}/{sh.skipped_file}"]
                    _copy(store, o, state_dir / sh.skipped_file, on_file)
                    keep_state.add(sh.skipped_file)
                for f in sh.files:
                    keep.add(f)
                    if f not in objects:  # committed after the listing
                        info = store.info(root + f)
                        if info is not None:
                            objects[f] = info
                    if shards and f in objects:
                        _copy(store, objects[f], folder / f, on_file)
        success = store.read_bytes(objects[SUCCESS].key) if SUCCESS in objects else None
        if success is not None:
            atomic_write_text(folder / SUCCESS, success.decode("utf-8", "replace"))
            keep.add(SUCCESS)
        for p in folder.iterdir():  # what the store no longer holds
            if p.is_file() and not p.name.startswith(".") and p.name not in keep:
                p.unlink()
        for p in state_dir.iterdir():
            if p.is_file() and p.name not in keep_state:
                p.unlink()
    return folder


def _empty(folder: Path) -> Path:
    """No job under the prefix: an empty copy (its readers say 'not a specter2 output')."""
    for p in [*folder.glob("*"), *(folder / STATE).glob("*")]:
        if p.is_file() and p.name != ".lock":
            p.unlink()
    return folder


def _copy_small(store: Any, o: ObjectInfo, path: Path) -> None:
    data = store.read_bytes(o.key)
    if data is not None:
        atomic_write_text(path, data.decode("utf-8", "replace"))


def _copy(store: Any, o: ObjectInfo, path: Path, on_file: Callable[[str], None] | None) -> None:
    if path.is_file() and path.stat().st_size == o.size:
        return  # names are unique per attempt: a copy of the right size is that object
    tmp = path.with_name(f".{path.name}.download")
    store.download_file(o.key, str(tmp), o)
    os.replace(tmp, path)
    if on_file is not None:
        on_file(path.name)


@contextlib.contextmanager
def named_as(local: str | os.PathLike[str], shown: str | os.PathLike[str]) -> Iterator[None]:
    """Errors raised inside name `shown` (the URL a user gave) where they say `local` (its
    local copy)."""
    if os.fspath(local) == os.fspath(shown):
        yield
        return
    try:
        yield
    except Specter2Error as e:
        raise _renamed(e, Path(local), os.fspath(shown)) from None


def local_view(path: str | os.PathLike[str], shards: bool = True) -> str | os.PathLike[str]:
    """`path` itself for a local OUTDIR; for an object-store URL, its local copy."""
    from .urls import looks_like_url

    u = looks_like_url(os.fspath(path))
    if u is None:
        return path
    log.info("reading %s through a local copy of its committed objects", u)
    return materialize(u, shards)


__all__ = [
    "ASIDE",
    "RemoteOutDir",
    "local_view",
    "materialize",
    "named_as",
    "open_outdir",
    "staging_root",
]
