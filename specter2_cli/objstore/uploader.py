"""Uploading finished shards while the next one is computed.

A rank writes each shard to local disk (fast, and a kill leaves nothing on the
store), then hands it here: one thread uploads it under the attempt's names and
runs its commit, in submission order, while the encoder works on the next shard.
At most `depth` shards wait, which bounds the local disk a rank uses; an upload
that fails stops the rank at its next `submit` or at `drain`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .commit import ObjectOutDir

Uploaded = list[tuple[str, int]]  # (object name, size) per file, in the order given


@dataclass
class _Job:
    files: list[tuple[str, str]]  # (local path, shard file name)
    then: Callable[[Uploaded], None]  # the commit, given what was uploaded
    remove_local: bool


class BackgroundUploader:
    def __init__(self, out: ObjectOutDir, attempt: str, depth: int = 1) -> None:
        self.out = out
        self.attempt = attempt
        self.jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="specter2-upload", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                if self.error is None:
                    done = [self.out.upload(p, name, self.attempt) for p, name in job.files]
                    job.then(done)
                if job.remove_local:
                    _remove(job)  # uploaded, or never to be: a resume writes it again
            except BaseException as e:  # handed to the caller's thread at its next call
                self.error = e
                if job is not None and job.remove_local:
                    _remove(job)
            finally:
                self.jobs.task_done()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def submit(
        self,
        files: list[tuple[str, str]],
        then: Callable[[Uploaded], None],
        remove_local: bool = True,
    ) -> None:
        """Queue a shard's local files; blocks while `depth` shards are already waiting."""
        self._raise()
        self.jobs.put(_Job(files, then, remove_local))

    def drain(self) -> None:
        """Wait until every queued shard is uploaded and committed (before exit 0 or 75)."""
        self.jobs.join()
        self._raise()

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


def _remove(job: _Job) -> None:
    for p, _ in job.files:
        with contextlib.suppress(OSError):
            os.unlink(p)
