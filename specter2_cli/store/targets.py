"""Files written outside an OUTDIR (`merge --to`, `export --to`): one writer at a time, temp
names no other process shares, and never inside the OUTDIR they are made from."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import LockHeld, UsageError
from ..objstore.urls import looks_like_url
from .durable import output_error, unique_suffix
from .locks import RankLock

log = logging.getLogger("specter2")


def refuse_inside(outdir: str | os.PathLike[str], targets: list[Path], option: str) -> None:
    """A merged file or index inside OUTDIR would be read back as more shards (every vector
    twice for `pq.read_table(OUTDIR)`)."""
    if looks_like_url(os.fspath(outdir)) is not None:
        return  # a local --to is never inside an s3:// OUTDIR (a URL --to is checked apart)
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


def _written_by_a_lock(path: Path) -> bool:
    """Empty, or the holder line RankLock writes: a file this tool made, safe to reuse."""
    try:
        with path.open("rb") as f:
            head = f.read(200)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return head == b"" or (head.startswith(b"pid ") and head.count(b"\n") <= 1)


_TEMP_END = re.compile(r"\.tmp\.[^/]+\.[0-9]+\Z")  # unique_suffix(): HOST.PID


def sweep_temps(target: Path) -> list[str]:
    """Delete the temp files a killed merge or export to `target` left (the names `temp_name`
    and merge's writer give: `.NAME.tmp.HOST.PID`, also for the id files beside it). Called
    with the target's lock held, so no live writer owns one; the names it deleted."""
    names = {target.name, target.name + ".ids.parquet", target.with_suffix(".ids.parquet").name}
    prefixes = tuple(f".{n}.tmp." for n in names)
    gone = []
    with contextlib.suppress(OSError):
        for p in target.parent.iterdir():
            ours = p.name.startswith(prefixes) and _TEMP_END.search(p.name) is not None
            if ours and p.is_file() and not p.is_symlink():
                with contextlib.suppress(OSError):
                    p.unlink()
                    gone.append(p.name)
    if gone:
        log.info(
            "removed %d temp files an interrupted write of %s left (%s)",
            len(gone),
            target,
            ", ".join(sorted(gone)[:5]),
        )
    return gone


@contextlib.contextmanager
def target_lock(target: Path, what: str) -> Iterator[None]:
    """An exclusive flock beside `target` while it is written: a second merge or export to
    the same file is refused (exit 4) instead of interleaving with the first. A file of the
    lock's name that the tool did not write is never truncated or removed."""
    lock_path = target.with_name(f".{target.name}.specter2-lock")
    if not _written_by_a_lock(lock_path):
        raise UsageError(
            f"{lock_path} exists and was not written by specter2; it would be used as the lock "
            f"of {target}: move it away"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = RankLock(lock_path, f"{target} ({what})")
    except LockHeld:
        raise
    except OSError as e:
        raise output_error(lock_path, e) from e
    try:
        # the holder before us may have removed the file after we opened it: then our lock is
        # on a name no one else sees, and a third writer could hold the new file's lock
        try:
            same = os.path.samestat(os.fstat(lock.fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if not same:
            raise LockHeld(
                f"{target} ({what}) was being written by another process that just finished; "
                "run the command again"
            )
        sweep_temps(target)
        yield
    finally:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(lock.fd), os.stat(lock_path)):
                lock_path.unlink()
        lock.release()
