"""Rank and world size from whatever launched us: SLURM, torchrun, Kubernetes, or flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True)
class RankInfo:
    rank: int
    world: int
    source: str


def _int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"environment variable {name}={value!r} is not an integer") from None


def detect_rank(
    shard_index: int | None = None,
    num_shards: int | None = None,
    env: Mapping[str, str] | None = None,
) -> RankInfo:
    """Explicit --shard-index/--num-shards win; then SLURM array, SLURM steps, torchrun, k8s."""
    env = os.environ if env is None else env
    if shard_index is not None or num_shards is not None:
        if num_shards is None:
            raise UsageError("--shard-index needs --num-shards")
        if shard_index is None:
            k8s = _int(env, "JOB_COMPLETION_INDEX")
            if k8s is None:
                raise UsageError(
                    "--num-shards needs --shard-index (or JOB_COMPLETION_INDEX, "
                    "set by a Kubernetes indexed job)"
                )
            return _checked(k8s, num_shards, "Kubernetes indexed job")
        return _checked(shard_index, num_shards, "--shard-index/--num-shards")

    task = _int(env, "SLURM_ARRAY_TASK_ID")
    if task is not None:
        lo, hi = _int(env, "SLURM_ARRAY_TASK_MIN"), _int(env, "SLURM_ARRAY_TASK_MAX")
        count = _int(env, "SLURM_ARRAY_TASK_COUNT")
        lo = 0 if lo is None else lo
        if hi is not None:
            world = hi - lo + 1
            if count is not None and count != world:
                raise UsageError(
                    f"SLURM array {lo}-{hi} has {count} tasks: arrays with gaps or steps "
                    "(like --array=0-9:2 or 1,5,7) cannot split the input evenly; "
                    "use a contiguous range such as --array=0-N"
                )
        elif count is not None:
            world = count
        else:
            raise UsageError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT/MAX are not")
        return _checked(task - lo, world, "SLURM array")

    procid, ntasks = _int(env, "SLURM_PROCID"), _int(env, "SLURM_NTASKS")
    if procid is not None and ntasks is not None and ntasks > 1:
        return _checked(procid, ntasks, "SLURM step")

    torch_rank, torch_world = _int(env, "RANK"), _int(env, "WORLD_SIZE")
    if torch_rank is not None and torch_world is not None:
        return _checked(torch_rank, torch_world, "torchrun")

    index = _int(env, "JOB_COMPLETION_INDEX")
    if index is not None:
        completions = _int(env, "SPECTER2_NUM_SHARDS")
        if completions is None:
            raise UsageError(
                "JOB_COMPLETION_INDEX is set (Kubernetes indexed job): also set "
                "SPECTER2_NUM_SHARDS to the job's completions, or pass --num-shards"
            )
        return _checked(index, completions, "Kubernetes indexed job")

    return RankInfo(0, 1, "single process")


def _checked(rank: int, world: int, source: str) -> RankInfo:
    if world < 1:
        raise UsageError(f"{source}: number of shards must be at least 1, got {world}")
    if not 0 <= rank < world:
        raise UsageError(f"{source}: shard index {rank} is outside 0..{world - 1}")
    return RankInfo(rank, world, source)
