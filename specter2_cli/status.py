"""What a job has done: per rank done, running, interrupted or not started, and its counts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .store.locks import is_locked
from .store.manifest import Generation, Manifest
from .store.outdir import ASIDE, OutDir
from .store.verify import covered, first_damage


@dataclass
class RankStatus:
    gen: int
    rank: int
    state: str  # done | running | interrupted | failed | not started | superseded
    rows: int = 0
    rejected: int = 0
    shards: int = 0
    problem: str = ""  # what is damaged
    inputs: list[str] = field(default_factory=list)  # the run's input files


@dataclass
class JobStatus:
    outdir: str
    job: dict[str, Any] | None
    generations: list[Generation] = field(default_factory=list)
    ranks: list[RankStatus] = field(default_factory=list)

    @property
    def missing(self) -> list[RankStatus]:
        return [r for r in self.ranks if r.state not in ("done", "superseded")]

    @property
    def complete(self) -> bool:
        return bool(self.ranks) and not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "outdir": self.outdir,
            "complete": self.complete,
            "generations": len(self.generations),
            "ranks": [r.__dict__ for r in self.ranks],
            "rows": sum(r.rows for r in self.ranks),
            "rejected": sum(r.rejected for r in self.ranks),
            "missing": [
                {"gen": r.gen, "rank": r.rank, "state": r.state, "inputs": r.inputs}
                for r in self.missing
            ],
        }


def job_status(path: str | os.PathLike[str]) -> JobStatus:
    from .objstore.urls import looks_like_url

    url = looks_like_url(os.fspath(path))
    if url is not None:
        return _remote_status(url)
    out = OutDir(path)
    return _status(
        out, lambda m: first_damage(out.path, m), lambda g, r: is_locked(out.lock_path(g, r))
    )


def _remote_status(url: str) -> JobStatus:
    """Status of an OUTDIR on an object store, from its objects: no shard is downloaded; a
    committed object that is missing or not its committed size is damage."""
    from .objstore.outdir import RemoteOutDir

    out = RemoteOutDir(url)
    root = out.remote.root
    sizes = {o.key[len(root) :]: o.size for o in out.remote.store.iter_objects(root)}

    def damage(m: Manifest) -> tuple[int, str] | None:
        return out.first_damage(m, sizes, footers=False)

    return _status(out, damage, out.is_running)


def _status(
    out: OutDir,
    damage_of: Callable[[Manifest], tuple[int, str] | None],
    running: Callable[[int, int], bool],
) -> JobStatus:
    path = out.display
    if not out.exists():
        if out.aside_pending():
            raise UsageError(
                f"{path}: an --overwrite run was stopped before its first commit; the earlier "
                f"output waits in {ASIDE}/ and is put back by the next `specter2 embed` on "
                "this folder (rerun the command)"
            )
        raise UsageError(f"{path}: not a specter2 output folder (no _specter2/job.json)")
    st = JobStatus(out.display, out.job(), out.generations())
    manifests = {(m.gen, m.rank): m for m in out.manifests()}
    done = {g.gen: out.generation_complete(g) for g in st.generations}
    for i, g in enumerate(st.generations):
        # a later --incremental run that is done and read every input file of this one
        # embedded whatever this one had not committed
        later = [h for h in st.generations[i + 1 :] if done[h.gen] and covered(g.inputs, h.inputs)]
        for r in range(g.world):
            m = manifests.get((g.gen, r))
            damage = damage_of(m) if m is not None else None
            if running(g.gen, r):
                state = "running"
            elif m is None:
                state = "not started"
            elif damage is not None:
                state = "damaged"
            elif m.failed and not m.done:
                state = "failed"
            else:
                state = "done" if m.done else "interrupted"
            if state not in ("done", "damaged") and later:
                state = "superseded"
            st.ranks.append(
                RankStatus(
                    g.gen,
                    r,
                    state,
                    m.rows if m else 0,
                    m.rejected if m else 0,
                    len(m.shards) if m else 0,
                    f"shard {damage[0]}: {damage[1]}" if damage else "",
                    [d["path"] for d in g.inputs],
                )
            )
    return st


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 record', '2 records'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def format_status(st: JobStatus) -> str:
    lines = [f"{st.outdir}:"]
    if st.job:
        model = st.job.get("model", {})
        lines.append(
            f"  model {model.get('base_model')} + adapter {model.get('adapter')}, "
            f"max length {model.get('max_length')}, format {st.job.get('format')}"
        )
    for g in st.generations:
        ranks = [r for r in st.ranks if r.gen == g.gen]
        done = sum(r.state == "done" for r in ranks)
        label = f"  run {g.gen}" if len(st.generations) > 1 else " "
        lines.append(
            f"{label} {done} of {plural(g.world, 'rank')} done, "
            f"{plural(sum(r.rows for r in ranks), 'record')}, "
            f"{sum(r.rejected for r in ranks)} rejected"
        )
        for r in ranks:
            lines.append(
                f"    rank {r.rank:>5}: {r.state:<12} {plural(r.rows, 'record'):>16} "
                f"{r.rejected:>7} rejected {plural(r.shards, 'shard'):>10}"
                + (f"  {r.problem}: rerun to re-embed it" if r.problem else "")
            )
    if st.complete:
        lines.append("  complete: ready for `specter2 merge`")
    else:
        shown = st.missing[:50]
        names = ", ".join(
            f"{r.rank}"
            + (f" of run {r.gen} ({' '.join(r.inputs)})" if len(st.generations) > 1 else "")
            for r in shown
        ) + (" ..." if len(st.missing) > 50 else "")
        failed = sum(r.state == "failed" for r in st.missing)
        verb = "is" if len(st.missing) == 1 else "are"
        lines.append(
            f"  incomplete: {'rank' if len(st.missing) == 1 else 'ranks'} {names} {verb} not done"
            + (f" ({failed} failed: too many rejected records)" if failed else "")
        )
    return "\n".join(lines)
