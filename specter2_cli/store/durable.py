"""Durable file writes: temp name, fsync, rename, fsync the folder.

Rename is atomic but not durable on its own: the file is fsynced before the
rename and its folder after, so a crash leaves either the old file or the new
one, never a torn one.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from .. import faults
from ..errors import OutputError


def unique_suffix() -> str:
    """A temp-name suffix that no other process on any node uses at the same time."""
    return f"{socket.gethostname()}.{os.getpid()}"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, final: Path) -> None:
    """fsync the file, rename it over `final`, fsync the folder: atomic and durable."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{unique_suffix()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        faults.point("manifest")
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise output_error(path, e) from e


def file_fingerprint(path: Path, span: int = 1 << 20) -> str:
    """A file's size and a digest of its first and last MiB: cheap on any size, and enough
    to tell that two files written together (a .npy and its ids, an index and its id map)
    still belong together."""
    import hashlib

    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(span))
        if size > span:
            f.seek(max(span, size - span))
            h.update(f.read(span))
    return f"{size}:{h.hexdigest()}"


def output_error(path: Path, e: OSError) -> OutputError:
    """An OSError while writing `path`, as a message that says what to do (exit code 4)."""
    if e.errno == errno.ENOSPC:
        return OutputError(
            f"{path}: no space left on the device. Finished shards are committed; "
            "free some space and rerun the same command to resume."
        )
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"{path}: not writable ({e.strerror}); choose another -o/--output")
    return OutputError(f"{path}: cannot write ({e})")
