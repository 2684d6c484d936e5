"""One writer per rank: an exclusive flock that the kernel releases even after kill -9."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import EnvironmentProblem, LockHeld


class RankLock:
    """An exclusive flock on `path`, held until `release()` or the process ends."""

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
