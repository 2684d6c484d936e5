"""`specter2 merge`: one file from all the shards of a complete job, in input order, each id once."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .errors import InputError, UsageError
from .status import JobStatus, job_status
from .store.durable import unique_suffix
from .store.manifest import Manifest, ShardEntry, in_run_order
from .store.outdir import OutDir
from .store.shards import Rows, ShardWriter, read_index, read_shard_embeddings, shard_metadata
from .store.targets import refuse_inside, target_lock
from .store.verify import first_damage

log = logging.getLogger("specter2")


@dataclass
class MergeReport:
    to: str
    rows: int
    duplicates_dropped: int
    replaced_by_newer: int
    shards: int


def committed_shards(out: OutDir) -> Iterator[tuple[Manifest, ShardEntry]]:
    """Every committed shard with rows, in input order (generation, rank, shard).

    A committed file that is missing or cut short (what `status` calls damaged) is an input
    error that names it, before anything is read: not a traceback halfway through."""
    manifests = in_run_order(out.manifests())
    for m in manifests:
        damage = first_damage(out.path, m)
        if damage is not None:
            raise InputError(
                f"{out.path} is damaged: run {m.gen}, rank {m.rank}, shard {damage[0]}: "
                f"{damage[1]} (`specter2 status {out.path}` shows it). Rerun the embed "
                "command of that rank: it re-embeds the damaged shard and those after it"
            )
    for m in manifests:
        for sh in m.shards:
            if sh.files:
                yield m, sh


@dataclass
class Survivors:
    """Which row survives for each id: the first row of the newest generation that has it."""

    keep: np.ndarray  # bool per row, over all committed shards in input order
    counts: list[int]  # rows per shard
    duplicates: int  # rows dropped: the same id twice inside one generation
    superseded: int  # rows dropped: the id was embedded again by a newer generation


def survivors(out: OutDir, shards: list[tuple[Manifest, ShardEntry]]) -> Survivors:
    """The one rule for repeated ids, shared by merge, read_embeddings, export and search:
    the newest generation wins, and inside it the first row in input order."""
    return survivors_of(out.path, [(m.gen, sh.files) for m, sh in shards])


def survivors_of(folder: Path, shards: list[tuple[int, list[str]]]) -> Survivors:
    """`survivors` over (generation, files) of shards given in input order."""
    keys, gens, counts = [], [], []
    for gen, files in shards:
        k = read_index(folder, files, ("id_key",)).column("id_key").to_numpy()
        keys.append(k.astype(np.uint64, copy=False))
        gens.append(np.full(len(k), gen, np.int32))
        counts.append(len(k))
    all_keys = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    all_gens = np.concatenate(gens) if gens else np.zeros(0, np.int32)
    n = len(all_keys)
    order = np.lexsort((np.arange(n), -all_gens.astype(np.int64), all_keys))
    first = np.ones(n, dtype=bool)
    if n:
        first[1:] = all_keys[order][1:] != all_keys[order][:-1]
    keep = np.zeros(n, dtype=bool)
    keep[order[first]] = True
    superseded = 0
    if n:
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        newest = all_gens[order][group_start]
        superseded = int(np.sum(all_gens[order][~first] < newest[~first]))
    return Survivors(keep, counts, int((~first).sum()) - superseded, superseded)


def _refuse_incomplete(path: str | os.PathLike[str], st: JobStatus) -> None:
    missing = ", ".join(
        f"rank {r.rank}"
        + (f" (run {r.gen} over {' '.join(r.inputs)})" if len(st.generations) > 1 else "")
        + f": {r.state}"
        + (f" ({r.problem})" if r.problem else "")
        for r in st.missing
    )
    raise UsageError(
        f"{path} is incomplete; not merging. Missing: {missing}. "
        "Rerun those ranks (the same command resumes them)."
    )


def merge_targets(to: str | os.PathLike[str]) -> list[Path]:
    """The files a merge to `to` writes: FILE.parquet, or FILE.npy and FILE.ids.parquet."""
    target = Path(to)
    if target.suffix == ".npy":
        return [target, target.with_suffix(".ids.parquet")]
    return [target]


def merge_target_names(to: str) -> list[str]:
    """`merge_targets` for a URL (a Path would turn s3://b/k into s3:/b/k)."""
    return [to, to[: -len(".npy")] + ".ids.parquet"] if to.endswith(".npy") else [to]


def merge(
    path: str | os.PathLike[str], to: str | os.PathLike[str], overwrite: bool = False
) -> MergeReport:
    """One file in input order; refuses when ranks are missing. Newest generation wins.

    An existing target is replaced only with `overwrite`. `path` and `to` may be s3:// URLs.
    """
    from .objstore.outdir import local_view, named_as
    from .objstore.urls import inside, looks_like_url

    url = looks_like_url(os.fspath(to))
    if url is not None:
        from .objstore.upload_target import write_then_upload

        if not url.endswith((".parquet", ".npy")):
            raise UsageError(f"--to {url}: name a .parquet or .npy file")
        src = looks_like_url(os.fspath(path))
        if src is not None and inside(url, src):
            raise UsageError(
                f"--to {url} is inside the output prefix {src}: readers of the prefix would "
                "see its rows twice; write it outside OUTDIR"
            )
        report = write_then_upload(
            url, merge_target_names, lambda local: merge(path, local, True), lambda _: overwrite
        )
        report.to = url
        return report
    shown = os.fspath(path)
    st = job_status(path)  # for a URL, from the store's listing: it names the URL
    if not st.complete:
        _refuse_incomplete(path, st)
    path = local_view(path)
    target = Path(to)
    if target.suffix not in (".parquet", ".npy"):
        raise UsageError(f"--to {to}: name a .parquet or .npy file")
    refuse_inside(path, merge_targets(target), "--to")
    with target_lock(target, f"merge of {shown}"), named_as(path, shown):
        return _merge_locked(path, target, overwrite, shown)


def _merge_locked(
    path: str | os.PathLike[str], target: Path, overwrite: bool, shown: str
) -> MergeReport:
    present = [str(p) for p in merge_targets(target) if p.exists()]
    if present and not overwrite:
        raise UsageError(
            f"{' and '.join(present)} already {'exists' if len(present) == 1 else 'exist'}; "
            "choose another --to, or add --overwrite to replace it"
        )
    if present:
        log.warning(
            "--overwrite: %s will be replaced once the merge is written", " and ".join(present)
        )
    out = OutDir(path)
    shards = list(committed_shards(out))
    surv = survivors(out, shards)
    job = out.job() or {}
    id_type = job.get("id_type", "string")
    meta = shard_metadata(out.path / shards[0][1].files[-1]) if shards else {}
    dim = int(meta.get("hidden_size") or 0)
    if shards and not dim:
        dim = int(read_shard_embeddings(out.path, shards[0][1].files).shape[1])
    meta = {**meta, "merged_from": shown, "rank": None, "world": None}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from .store.durable import output_error

        raise output_error(target, e) from e
    writer = ShardWriter(
        target.with_suffix(""),
        target.suffix[1:],
        id_type,
        dim,
        job.get("output_dtype", "float32"),
        meta,
        tmp_suffix="." + unique_suffix(),
    )
    try:
        offset = 0
        for (_m, sh), count in zip(shards, surv.counts, strict=True):
            mask = surv.keep[offset : offset + count]
            offset += count
            if mask.any():
                idx = read_index(out.path, sh.files).filter(pa.array(mask))
                emb = np.asarray(read_shard_embeddings(out.path, sh.files))[mask]
                writer.write(Rows(idx, emb))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return MergeReport(
        str(target), int(surv.keep.sum()), surv.duplicates, surv.superseded, len(shards)
    )
