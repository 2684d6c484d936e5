"""The rejects file of a rank: bad records, appended as JSON lines, committed with the shards.

Each shard entry records the file's size once its rejects were written; a resumed
run cuts the file back to the committed size, so rejects are neither lost nor
repeated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from .durable import output_error


class RejectsFile:
    def __init__(self, path: Path, committed_bytes: int) -> None:
        self.path = path
        self.size = committed_bytes
        self._fh: IO[bytes] | None = None
        if path.exists() and path.stat().st_size != committed_bytes:
            with open(path, "rb+") as f:  # drop rejects of uncommitted work
                f.truncate(committed_bytes)

    def append(self, rejects: Sequence[Any]) -> None:
        """Append rejects (objects with `to_json()`)."""
        if not rejects:
            return
        data = b"".join(
            (json.dumps(r.to_json(), ensure_ascii=False) + "\n").encode("utf-8", "replace")
            for r in rejects
        )
        try:
            if self._fh is None:
                self._fh = open(self.path, "ab")
            self._fh.write(data)
        except OSError as e:
            raise output_error(self.path, e) from e
        self.size += len(data)

    def sync(self) -> None:
        """Make what was appended durable (part of a commit)."""
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as e:
                raise output_error(self.path, e) from e

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.close()
            except OSError as e:
                raise output_error(self.path, e) from e
