"""Fault injection for the crash tests: `SPECTER2_FAULT=point:N` kills the process (SIGKILL)
the N-th time it reaches `point`. Points: batch, shard_write, after_rename, manifest.

Unset (always, outside tests) this costs one dict lookup per call.
"""

from __future__ import annotations

import os
import signal

_spec = os.environ.get("SPECTER2_FAULT", "")
_target: dict[str, int] = {}
if _spec:
    name, _, n = _spec.partition(":")
    _target[name] = int(n or 1)
_seen: dict[str, int] = {}


def point(name: str) -> None:
    if name not in _target:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == _target[name]:
        os.kill(os.getpid(), signal.SIGKILL)
