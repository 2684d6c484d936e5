"""Files written outside an OUTDIR (`merge --to`, `export --to`): one writer at a time, temp
names no other process shares, and never inside the OUTDIR they are made from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import LockHeld, UsageError
from .durable import output_error, unique_suffix
from .locks import RankLock


def refuse_inside(outdir: str | os.PathLike[str], targets: list[Path], option: str) -> None:
    """A merged file or index inside OUTDIR would be read back as more shards (every vector
    twice for `pq.read_table(OUTDIR)`)."""
    root = Path(outdir).resolve()
    for t in targets:
        p = t.resolve()
        if root == p or root in p.parents:
            raise UsageError(
                f"{option} {t} is inside the output folder {outdir}: readers of the folder "
                "would see its rows twice; write it outside OUTDIR"
            )


def temp_name(target: Path) -> Path:
    """A hidden temp name beside `target` that no other process on any node uses."""
    return target.with_name(f".{target.name}.tmp.{unique_suffix()}")


@contextlib.contextmanager
def target_lock(target: Path, what: str) -> Iterator[None]:
    """An exclusive flock beside `target` while it is written: a second merge or export to
    the same file is refused (exit 4) instead of interleaving with the first."""
    lock_path = target.with_name(f".{target.name}.lock")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = RankLock(lock_path, f"{target} ({what})")
    except LockHeld:
        raise
    except OSError as e:
        raise output_error(lock_path, e) from e
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        lock.release()
