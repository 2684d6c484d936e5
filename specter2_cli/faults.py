"""Fault injection for the crash tests: `SPECTER2_FAULT=point:N` kills the process (SIGKILL)
the N-th time it reaches `point`. Points: batch, shard_write, after_rename, manifest.
`SPECTER2_FAULT=delay:SECONDS` instead sleeps at every batch, so that a test can
signal a job that is still running.

Unset (always, outside tests) this costs one dict lookup per call.
"""

from __future__ import annotations

import os
import signal
import time

_spec = os.environ.get("SPECTER2_FAULT", "")
_target: dict[str, int] = {}
if _spec and not _spec.startswith("delay:"):
    name, _, n = _spec.partition(":")
    _target[name] = int(n or 1)
_seen: dict[str, int] = {}
_delay = float(_spec.partition(":")[2]) if _spec.startswith("delay:") else 0.0


def point(name: str) -> None:
    if _delay and name == "batch":
        time.sleep(_delay)
    if name not in _target:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == _target[name]:
        os.kill(os.getpid(), signal.SIGKILL)
