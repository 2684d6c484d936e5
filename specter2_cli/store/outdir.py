"""An OUTDIR: its job identity, generations, per-rank manifests and locks.

Layout (state lives in `_specter2/`, which pyarrow skips):

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
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import describe_differences
from ..errors import LockHeld, OutputError, UsageError
from ..objstore.urls import is_url, looks_like_url
from .durable import atomic_write_text, fsync_dir, output_error, publish, unique_suffix
from .locks import RankLock, is_locked
from .manifest import Generation, Manifest
from .verify import DamagedOutput, covered, read_manifest, read_state

STATE = "_specter2"
# where --overwrite moves the earlier output until the new run commits (hidden from readers)
ASIDE = ".specter2-overwritten"

log = logging.getLogger("specter2")

# Every file this tool writes in OUTDIR matches one of these; nothing else is ever deleted.
SHARD_FILE = re.compile(r"^\.?part(-g\d{4})?(-r\d{5})?-\d{5}\.(parquet|npy|ids\.parquet)(\.tmp)?$")
OWN_FILE = re.compile(r"^(_rejects(-g\d{4})?(-r\d{5})?\.jsonl|_SUCCESS)$")


def _suffix(gen: int, rank: int, world: int) -> str:
    return ("" if gen == 0 else f"-g{gen:04d}") + ("" if world == 1 else f"-r{rank:05d}")


def shard_name(gen: int, rank: int, world: int, index: int) -> str:
    return f"part{_suffix(gen, rank, world)}-{index:05d}"


def rejects_name(gen: int, rank: int, world: int) -> str:
    return f"_rejects{_suffix(gen, rank, world)}.jsonl"


class OutDir:
    def __init__(self, path: str | os.PathLike[str], _remote_ok: bool = False) -> None:
        if not _remote_ok and looks_like_url(os.fspath(path)) is not None:
            raise UsageError(f"{path}: a URL, not a local folder (objstore.outdir.open_outdir)")
        self.path = Path(path)
        self.state = self.path / STATE

    @property
    def display(self) -> str:
        """How messages name this OUTDIR."""
        return str(self.path)

    def read_index(self, files: list[str], columns: tuple[str, ...]) -> Any:
        """Index columns of one committed shard (a pyarrow Table)."""
        from .shards import read_index

        return read_index(self.path, files, columns)

    def read_skipped(self, name: str) -> Any:
        """The id keys an --incremental shard skipped (a uint64 array)."""
        import numpy as np

        return np.load(self.state / name, allow_pickle=False)

    def drop_damaged(self, m: Manifest) -> str | None:
        """Forget m's first damaged committed shard and all after it (see verify)."""
        from .verify import drop_damaged

        return drop_damaged(self.path, m)

    def rejects_shown(self, gen: int, rank: int, world: int) -> str:
        """How messages name the rank's rejects."""
        return str(self.rejects_path(gen, rank, world))

    def unmark_success(self) -> None:
        (self.path / "_SUCCESS").unlink(missing_ok=True)

    # setup -------------------------------------------------------------

    def refuse_not_a_folder(self) -> None:
        """-o names an existing file (or other non-folder): refused before anything loads or
        moves, with or without --overwrite (which never deletes a file it did not write)."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(
                f"-o/--output {self.path} exists and is not a folder; the output is a folder "
                "of shards: choose another -o/--output"
            )

    def refuse_foreign_files(self) -> None:
        """A folder without our state must not hold files named like ours: they are not
        ours to replace, truncate or delete (checked before --overwrite wipes anything)."""
        if not self.path.is_dir() or self.exists():
            return
        foreign = sorted(
            p.name
            for p in self.path.iterdir()
            if SHARD_FILE.match(p.name) or OWN_FILE.match(p.name)
        )
        if foreign:
            raise UsageError(
                f"{self.path} holds files named like specter2's ({', '.join(foreign[:3])}"
                f"{', ...' if len(foreign) > 3 else ''}) but no _specter2/job.json: they were "
                "not written by specter2 (or its state was deleted); use an empty folder"
            )

    def refuse_inputs_inside(self, files: list[Any]) -> None:
        """An input inside OUTDIR would be read back as output (pq.read_table(OUTDIR))."""
        root = self.path.resolve()
        for f in files:
            if f.kind == "stdin" or is_url(f.path):
                continue
            p = Path(f.path).resolve()
            if p == root or root in p.parents:
                raise UsageError(
                    f"input {f.path} is inside the output folder {self.path}: readers of the "
                    "folder would take it for output; move it or choose another -o/--output"
                )

    def prepare(self) -> None:
        self.refuse_foreign_files()
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            probe = self.state / f".probe{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise output_error(self.path, e) from e

    def prepare_new(self) -> list[Path]:
        """`prepare()`, returning the folders it created (for `removed_on_error`)."""
        made = [p for p in (self.path, self.state) if not p.exists()]
        self.prepare()
        return made

    @contextlib.contextmanager
    def removed_on_error(self, made: list[Path]) -> Iterator[None]:
        """A failure inside the block removes the (still empty) folders `prepare` made."""
        try:
            yield
        except BaseException:
            for p in reversed(made):
                with contextlib.suppress(OSError):
                    p.rmdir()
            raise

    def exists(self) -> bool:
        return (self.state / "job.json").exists()

    def wipe(self) -> list[str]:
        """--overwrite: move what earlier runs wrote (only files this tool names) aside into
        ASIDE, logging what; the names it moved. They are deleted when the new run commits
        its first shard (`save_manifest`) and put back if it fails before (`restore_aside`)."""
        if not self.path.exists():
            return []
        if self.state.is_symlink():
            raise UsageError(
                f"{self.state} is a symbolic link: --overwrite deletes only a specter2 "
                "OUTDIR's own state, never what a link points to; remove the link or choose "
                "another -o/--output"
            )
        if self.state.is_dir() and not self.exists() and _foreign_state(self.state):
            raise UsageError(
                f"{self.state} exists but holds no job.json: it was not written by specter2 "
                "(or its state was damaged); --overwrite deletes only a specter2 OUTDIR's "
                "state, so move that folder away or choose another -o/--output"
            )
        if self.state.exists():
            for p in self.state.glob("*.lock"):
                if is_locked(p):
                    raise LockHeld(
                        f"{self.path} is being written by another process; not wiping it"
                    )
        moved = self._own_files()
        if not moved and not self.state.exists():
            return []
        rows = _committed_rows(self)
        aside = self.path / ASIDE
        try:
            aside.mkdir()
            for name in moved:
                os.rename(self.path / name, aside / name)
            if self.state.exists():
                os.rename(self.state, aside / STATE)
            fsync_dir(aside)
            fsync_dir(self.path)
        except OSError as e:
            raise output_error(self.path, e) from e
        self._aside_note = (
            f"{len(moved)} files of an earlier job ({', '.join(moved[:5])}"
            f"{', ...' if len(moved) > 5 else ''}; {rows} committed records) and its state "
            f"folder {STATE}/"
        )
        log.warning(
            "--overwrite: moved %s aside into %s/; they are deleted when the new run commits "
            "its first shard, and put back if it fails before",
            self._aside_note,
            aside,
        )
        return moved

    def _own_files(self) -> list[str]:
        return sorted(
            p.name
            for p in self.path.iterdir()
            if (SHARD_FILE.match(p.name) or OWN_FILE.match(p.name)) and p.is_file()
        )

    def aside_pending(self) -> bool:
        """Earlier output that --overwrite moved aside waits for the new run's first commit."""
        return (self.path / ASIDE).is_dir()

    def drop_aside(self) -> None:
        """The new run committed: delete what --overwrite moved aside."""
        aside = self.path / ASIDE
        if not aside.is_dir():
            return
        shutil.rmtree(aside)
        log.warning(
            "--overwrite: deleted %s from %s",
            getattr(self, "_aside_note", "the earlier job's files"),
            self.path,
        )

    def restore_aside(self) -> None:
        """The new run failed before its first commit: remove what it wrote and put the
        earlier output back as it was."""
        aside = self.path / ASIDE
        if not aside.is_dir():
            return
        for name in self._own_files():
            (self.path / name).unlink(missing_ok=True)
        if self.state.is_dir() and not self.state.is_symlink():
            shutil.rmtree(self.state)
        for p in sorted(aside.iterdir()):
            os.rename(p, self.path / p.name)
        aside.rmdir()
        fsync_dir(self.path)
        log.warning(
            "--overwrite: the new run committed nothing; the earlier output in %s is restored",
            self.path,
        )

    def settle_aside(self) -> None:
        """What a run killed after --overwrite left in ASIDE: put back if the new run
        committed nothing (and none is at work), else deleted."""
        aside = self.path / ASIDE
        if not aside.is_dir():
            return
        if self.state.is_dir() and any(is_locked(p) for p in self.state.glob("*.lock")):
            return  # the new run is at work right now
        if self.exists() and self.holds_work():
            self.drop_aside()
        else:
            self.restore_aside()

    def job(self) -> dict[str, Any] | None:
        p = self.state / "job.json"
        return read_state(p, "job settings file") if p.exists() else None

    def init_job(self, identity: dict[str, Any]) -> None:
        """Record the job's settings once; later runs must match them."""
        path = self.state / "job.json"
        if not path.exists():
            tmp = self.state / f".job.json.{unique_suffix()}"
            tmp.write_text(json.dumps(identity, indent=1, sort_keys=True))
            try:
                os.link(tmp, path)  # atomic create-if-absent, also on NFS
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(self.state)
        old = read_state(path, "job settings file")
        refuse_other_settings(str(self.path), "folder", old, identity)

    def holds_work(self) -> bool:
        """Anything committed (a shard's rows, rejects or skips, a finished or failed rank),
        or a process at work on a rank."""
        if any(is_locked(p) for p in self.state.glob("*.lock")):
            return True
        return any(committed_work(m) for m in self.manifests())

    def forget_failed_start(self, identity: dict[str, Any], inputs: list[dict[str, Any]]) -> bool:
        """A single-process run that failed before committing anything (a wrong adapter, a bad
        first record) left only state: forget it, so that the corrected command, with other
        settings or input, is not refused. True when it did."""
        if not self.exists() or not self.manifests() or self.holds_work():
            return False
        gens = self.generations()
        if any(g.world != 1 for g in gens):
            return False  # ranks of an array may be starting right now
        same_paths = bool(gens) and [d["path"] for d in gens[-1].inputs] == [
            d["path"] for d in inputs
        ]
        if same_paths and not describe_differences(self.job() or {}, identity):
            return False  # the same command again: it resumes (and checks its input)
        self._forget_state()
        return True

    def _forget_state(self) -> None:
        """Remove a failed start's job settings, run records and manifests (and its empty
        rejects files), logging what."""
        names = sorted(
            p.name
            for p in self.state.iterdir()
            if p.name == "job.json" or re.match(r"^(gen-\d{4}|g\d{4}-r\d{5})\.json$", p.name)
        )
        for name in names:
            (self.state / name).unlink(missing_ok=True)
        for p in self.path.glob("_rejects*.jsonl"):
            if OWN_FILE.match(p.name) and p.stat().st_size == 0:
                p.unlink()
        fsync_dir(self.state)
        log.warning(
            "%s: the earlier run committed nothing; its settings and input record are "
            "forgotten (%s)",
            self.path,
            ", ".join(names),
        )

    # generations -----------------------------------------------------------

    def generations(self) -> list[Generation]:
        out = []
        for p in sorted(self.state.glob("gen-*.json")):
            try:
                out.append(Generation(**read_state(p, "run record")))
            except TypeError as e:
                raise DamagedOutput(f"{p}: the run record is damaged ({e})") from None
        return out

    def join_generation(
        self,
        inputs: list[dict[str, Any]],
        world: int,
        incremental: bool,
        resume_changed: bool = False,
    ) -> Generation:
        """The generation this run belongs to: one per distinct input (incremental runs).

        With `resume_changed`, an unfinished newest run over the same paths is resumed even
        if a file's size or time changed; the run then checks its committed input.
        """
        stdin = inputs == [{"path": "-"}]
        while True:
            gens = self.generations()
            if stdin:
                inputs = self._stdin_inputs(gens, incremental)
            for g in gens:
                if g.inputs == inputs:
                    if g.world != world:
                        raise UsageError(
                            f"{self.path} is being embedded with {g.world} ranks, "
                            f"not {world}; keep the same --num-shards/array size to resume"
                        )
                    return g
            if resume_changed and gens and self._same_paths_unfinished(gens[-1], inputs, world):
                self._record_inputs(gens[-1], inputs)
                return gens[-1]
            if gens and not incremental:
                raise UsageError(
                    f"{self.path} holds embeddings of other input:\n  "
                    + "\n  ".join(_describe_input_change(gens[-1].inputs, inputs))
                    + "\nPass --incremental to embed only new and changed records, "
                    "--overwrite to start over, or use another output folder."
                )
            created = self._create_generation(
                gens[-1].gen + 1 if gens else 0, inputs, world, incremental
            )
            if created is not None:
                return created
            # another rank created it first: look again

    def _same_paths_unfinished(
        self, g: Generation, inputs: list[dict[str, Any]], world: int
    ) -> bool:
        paths = [d["path"] for d in inputs]
        return (
            [d["path"] for d in g.inputs] == paths
            and "-" not in paths
            and g.world == world
            and not self.generation_complete(g)
        )

    def _record_inputs(self, g: Generation, inputs: list[dict[str, Any]]) -> None:
        """The generation now stands for the input as it is (its committed part is checked)."""
        g.inputs = inputs
        atomic_write_text(self.state / f"gen-{g.gen:04d}.json", json.dumps(asdict(g), indent=1))

    def _stdin_inputs(self, gens: list[Generation], incremental: bool) -> list[dict[str, Any]]:
        """stdin has no identity: resume its newest unfinished run, or start a new one."""
        mine = [g for g in gens if [d["path"] for d in g.inputs] == ["-"]]
        if mine and not self.generation_complete(mine[-1]):
            return mine[-1].inputs
        if mine and not incremental:
            raise UsageError(
                f"{self.path} already holds a finished run from stdin; pass "
                "--incremental to add the records on stdin, or --overwrite to start over"
            )
        return [{"path": "-", "run": len(mine)}] if gens else [{"path": "-"}]

    def _create_generation(
        self, n: int, inputs: list[dict[str, Any]], world: int, incremental: bool
    ) -> Generation | None:
        g = Generation(n, inputs, world, incremental, time.time())
        tmp = self.state / f".gen-{n:04d}.json.{unique_suffix()}"
        tmp.write_text(json.dumps(asdict(g), indent=1))
        try:
            os.link(tmp, self.state / f"gen-{n:04d}.json")
            fsync_dir(self.state)
            if n > 0:  # the job is not complete again until the new run is
                (self.path / "_SUCCESS").unlink(missing_ok=True)
            return g
        except FileExistsError:
            return None
        finally:
            tmp.unlink(missing_ok=True)

    def forget_empty_generation(self, gen: int, holding_lock: bool = False) -> bool:
        """The newest run (gen > 0, one process) found no record: its run record and manifest
        are removed and `_SUCCESS` comes back if the earlier runs are complete. True if so."""
        gens = self.generations()
        if gen == 0 or not gens or gens[-1].gen != gen or gens[-1].world != 1:
            return False
        if any(m.done or m.shards for m in self.manifests(gen)):
            return False
        if is_locked(self.lock_path(gen, 0)) and not holding_lock:
            return False  # a process works on it right now
        self.manifest_path(gen, 0).unlink(missing_ok=True)
        (self.state / f"gen-{gen:04d}.json").unlink()
        fsync_dir(self.state)
        complete = self.mark_success_if_complete(gens[-2])
        log.warning(
            "%s: the run over %s found no record and is forgotten; the job is %s",
            self.path,
            ", ".join(d["path"] for d in gens[-1].inputs[:3]),
            "complete as before" if complete else "as it was",
        )
        return True

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
        return read_manifest(p) if p.exists() else None

    def save_manifest(self, m: Manifest) -> None:
        atomic_write_text(self.manifest_path(m.gen, m.rank), m.to_json())
        if m.done or any(sh.files or sh.rows for sh in m.shards):
            self.drop_aside()  # the new run holds committed work: the old output goes

    def manifests(self, gen: int | None = None) -> list[Manifest]:
        out = []
        for p in sorted(self.state.glob("g*-r*.json")):
            m = read_manifest(p)
            if gen is None or m.gen == gen:
                out.append(m)
        return out

    def sweep(self, gen: int, rank: int, world: int, keep: set[str]) -> int:
        """Remove temp files and uncommitted shards of this rank left by a killed run."""
        prefix = shard_name(gen, rank, world, 0)[:-5]  # "part-r00003-" for rank 3
        n = 0
        swept: list[str] = []
        for p in self.path.iterdir():
            name = p.name
            bare = name.lstrip(".")
            if name in keep or not SHARD_FILE.match(name):
                continue
            if not bare.startswith(prefix) or not bare[len(prefix) :][:5].isdigit():
                continue  # another rank's or generation's shard
            p.unlink(missing_ok=True)
            n += 1
            swept.append(name)
        for p in self.state.glob(f".{self.manifest_path(gen, rank).name}.tmp*"):
            with contextlib.suppress(OSError):
                p.unlink()  # only this rank's: other ranks write theirs right now
        if swept:
            log.info(
                "%s: removed %d uncommitted files an interrupted run left (%s%s); they are "
                "written again",
                self.path,
                len(swept),
                ", ".join(sorted(swept)[:5]),
                ", ..." if len(swept) > 5 else "",
            )
        return n

    def save_skipped(self, m: Manifest, index: int, keys: list[int]) -> str:
        """Durably store the keys of ids an --incremental shard skipped; the file's name."""
        import numpy as np

        name = f"g{m.gen:04d}-r{m.rank:05d}-{index:05d}.skipped.npy"
        path = self.state / name
        tmp = path.with_name(f".{name}.tmp{unique_suffix()}")
        try:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(keys, dtype=np.uint64))
            publish(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise output_error(path, e) from e
        return name

    def file_sizes(self, files: list[str]) -> list[int]:
        return [(self.path / f).stat().st_size for f in files]

    def rejects_path(self, gen: int, rank: int, world: int) -> Path:
        return self.path / rejects_name(gen, rank, world)

    def generation_complete(self, gen: Generation) -> bool:
        done = {m.rank for m in self.manifests(gen.gen) if m.done}
        return len(done) == gen.world

    def job_complete(self) -> bool:
        """Every run is done, or superseded by a done newer run that read all its input."""
        gens = self.generations()
        done = [self.generation_complete(g) for g in gens]
        return bool(gens) and all(
            done[i]
            or any(done[j] and covered(g.inputs, gens[j].inputs) for j in range(i + 1, len(gens)))
            for i, g in enumerate(gens)
        )

    def mark_success_if_complete(self, gen: Generation) -> bool:
        if self.job_complete():
            atomic_write_text(
                self.path / "_SUCCESS", json.dumps({"gen": gen.gen, "ranks": gen.world}) + "\n"
            )
            return True
        return False


def committed_work(m: Manifest) -> bool:
    """Whether a manifest records work: a shard's rows, rejects or skips, or an ended rank."""
    return (
        m.done
        or bool(m.failed)
        or any(sh.files or sh.rows or sh.rejected or sh.skipped for sh in m.shards)
    )


def refuse_other_settings(where: str, noun: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """UsageError when an OUTDIR's recorded settings differ from this run's."""
    diffs = describe_differences(old, new)
    if diffs:
        raise UsageError(
            f"{where} holds embeddings made with other settings:\n  "
            + "\n  ".join(diffs)
            + f"\nUse another output {noun}, repeat the original settings, "
            "or pass --overwrite to start over."
        )


def _foreign_state(state: Path) -> list[str]:
    """What a state folder without job.json holds beyond a killed first run's leftovers."""
    return [p.name for p in state.iterdir() if not p.name.startswith((".probe", ".job.json."))]


def _committed_rows(out: OutDir) -> int:
    """Records the OUTDIR's manifests list (for the log line of a wipe); 0 if unreadable."""
    try:
        return sum(sh.rows for m in out.manifests() for sh in m.shards)
    except Exception:  # a damaged state is still wiped; the count is only for the log
        return 0


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
