"""`specter2 status` and `specter2 merge`: what a job has done, and one file from all its shards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .checkpoint import Generation, Manifest, OutDir, ShardEntry, is_locked
from .errors import UsageError
from .writers import (
    METADATA_KEY,
    index_schema,
    npy_header,
    output_error,
    publish,
    read_embeddings,
    read_index,
    shard_metadata,
    shard_schema,
    with_embeddings,
)


@dataclass
class RankStatus:
    gen: int
    rank: int
    state: str  # done | running | interrupted | not started
    rows: int = 0
    rejected: int = 0
    shards: int = 0


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
            "missing": [{"gen": r.gen, "rank": r.rank, "state": r.state} for r in self.missing],
        }


def job_status(path: str | os.PathLike[str]) -> JobStatus:
    out = OutDir(path)
    if not out.exists():
        raise UsageError(f"{path}: not a specter2 output folder (no _specter2/job.json)")
    st = JobStatus(str(out.path), out.job(), out.generations())
    manifests = {(m.gen, m.rank): m for m in out.manifests()}
    newest = st.generations[-1].gen if st.generations else -1
    for g in st.generations:
        for r in range(g.world):
            m = manifests.get((g.gen, r))
            if is_locked(out.lock_path(g.gen, r)):
                state = "running"
            elif m is None:
                state = "not started"
            else:
                state = "done" if m.done else "interrupted"
            if state != "done" and g.gen < newest:
                # a later --incremental run re-read the whole input and embedded
                # whatever this one had not committed
                state = "superseded"
            st.ranks.append(
                RankStatus(
                    g.gen,
                    r,
                    state,
                    m.rows if m else 0,
                    m.rejected if m else 0,
                    len(m.shards) if m else 0,
                )
            )
    return st


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
        lines.append(f"{label} {done}/{g.world} ranks done, {sum(r.rows for r in ranks)} records")
        for r in ranks:
            lines.append(
                f"    rank {r.rank:>5}: {r.state:<12} {r.rows:>10} records "
                f"{r.rejected:>7} rejected {r.shards:>5} shards"
            )
    if st.complete:
        lines.append("  complete: ready for `specter2 merge`")
    else:
        missing = ", ".join(f"{r.rank}" for r in st.missing[:50])
        lines.append(
            f"  incomplete: ranks not done: {missing}" + (" ..." if len(st.missing) > 50 else "")
        )
    return "\n".join(lines)


# ----------------------------------------------------------------- merge


@dataclass
class MergeReport:
    to: str
    rows: int
    duplicates_dropped: int
    replaced_by_newer: int
    shards: int


def _committed(out: OutDir) -> Iterator[tuple[Manifest, ShardEntry]]:
    for m in sorted(out.manifests(), key=lambda m: (m.gen, m.rank)):
        for sh in m.shards:
            if sh.files:
                yield m, sh


def merge(path: str | os.PathLike[str], to: str | os.PathLike[str]) -> MergeReport:
    """One file in input order; refuses when ranks are missing. Newest generation wins."""
    st = job_status(path)
    if not st.complete:
        missing = ", ".join(
            f"rank {r.rank}"
            + (f" (run {r.gen})" if len(st.generations) > 1 else "")
            + f": {r.state}"
            for r in st.missing
        )
        raise UsageError(
            f"{path} is incomplete; not merging. Missing: {missing}. "
            "Rerun those ranks (the same command resumes them)."
        )
    out = OutDir(path)
    target = Path(to)
    if target.suffix not in (".parquet", ".npy"):
        raise UsageError(f"--to {to}: name a .parquet or .npy file")
    shards = list(_committed(out))

    # Pass 1: which row survives for each id (first row of the newest generation).
    keys, gens, counts = [], [], []
    for m, sh in shards:
        k = read_index(out.path, sh.files, ("id_key",)).column("id_key").to_numpy()
        keys.append(k.astype(np.uint64, copy=False))
        gens.append(np.full(len(k), m.gen, np.int32))
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
    dropped = order[~first]
    if n:
        winner_gen = np.empty(n, np.int32)
        winner_gen[order] = np.maximum.accumulate(np.where(first, all_gens[order], 0))
        # rows dropped because an older copy was superseded vs duplicates inside one generation
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        newest = all_gens[order][group_start]
        superseded = int(np.sum(all_gens[order][~first] < newest[~first]))
    else:
        superseded = 0
    duplicates = len(dropped) - superseded

    # Pass 2: stream the kept rows, in (generation, rank, shard, row) order = input order.
    job = out.job() or {}
    id_type = job.get("id_type", "string")
    dtype = job.get("output_dtype", "float32")
    meta = shard_metadata(out.path / shards[0][1].files[-1]) if shards else {}
    meta = {**meta, "merged_from": str(out.path), "rank": None, "world": None}
    tmp = target.with_name(f".{target.name}.tmp")
    ids_target = target.with_suffix(".ids.parquet")
    ids_tmp = ids_target.with_name(f".{ids_target.name}.tmp")
    total = int(keep.sum())
    offset = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        dim = 0
        writer: pq.ParquetWriter | None = None
        ids_writer: pq.ParquetWriter | None = None
        npy = None
        for (_m, sh), count in zip(shards, counts, strict=True):
            mask = keep[offset : offset + count]
            offset += count
            if not mask.any():
                continue
            idx = read_index(out.path, sh.files).filter(pa.array(mask))
            emb = np.asarray(read_embeddings(out.path, sh.files))[mask]
            dim = emb.shape[1]
            if target.suffix == ".parquet":
                if writer is None:
                    schema = shard_schema(id_type, dim, dtype, meta)
                    writer = pq.ParquetWriter(tmp, schema)
                table = with_embeddings(idx, emb, dtype, writer.schema)
                writer.write_table(table)
            else:
                if npy is None:
                    npy = open(tmp, "wb")
                    npy.write(npy_header(total, dim, dtype))
                    ids_writer = pq.ParquetWriter(
                        ids_tmp,
                        index_schema(id_type).with_metadata(
                            {METADATA_KEY: json.dumps(meta, sort_keys=True)}
                        ),
                    )
                np_dtype = np.float16 if dtype == "float16" else np.float32
                npy.write(np.ascontiguousarray(emb, dtype=np_dtype).tobytes())
                assert ids_writer is not None
                ids_writer.write_table(idx.cast(index_schema(id_type)))
        if target.suffix == ".parquet":
            if writer is None:  # nothing embedded: an empty file with the right columns
                writer = pq.ParquetWriter(tmp, index_schema(id_type))
            writer.close()
            publish(tmp, target)
        else:
            if npy is None:
                npy = open(tmp, "wb")
                npy.write(npy_header(0, dim, dtype))
                ids_writer = pq.ParquetWriter(ids_tmp, index_schema(id_type))
            npy.close()
            assert ids_writer is not None
            ids_writer.close()
            publish(ids_tmp, ids_target)
            publish(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        ids_tmp.unlink(missing_ok=True)
        raise output_error(target, e) from e
    return MergeReport(str(target), total, duplicates, superseded, len(shards))
