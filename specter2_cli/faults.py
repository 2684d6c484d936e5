"""Fault injection points for the crash and fault tests.

`SPECTER2_FAULT=point:N` (environment, read at each call) kills the process with
SIGKILL the N-th time it reaches `point` (`point:N:TERM` sends itself SIGTERM instead,
`point:N:USR1` SIGUSR1: a real signal at an exact place); `SPECTER2_FAULT=delay:SECONDS` sleeps at
every batch instead, so that a test can signal a job that is still running.
Points: batch, forward, copy, copy_back, fp32_copy (device memory), write, shard_write,
after_rename, manifest, exit (CLI, after the run).

In-process tests use `injected(point, hook)`: the hook runs at that point with
the point's details and may raise (a full disk, an out-of-memory error).

Unset (always, outside tests) a point costs two dict lookups.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

_hooks: dict[str, Callable[..., None]] = {}
_parsed: tuple[str, str, int, float] = ("", "", 0, 0.0)  # (spec, point, n, delay)
_signal: signal.Signals = signal.SIGKILL
_seen: dict[str, int] = {}


def _spec() -> tuple[str, int, float]:
    global _parsed, _signal
    raw = os.environ.get("SPECTER2_FAULT", "")
    if raw != _parsed[0]:
        _signal = signal.SIGKILL
        if raw.startswith("delay:"):
            _parsed = (raw, "", 0, float(raw.partition(":")[2]))
        elif raw:
            name, _, rest = raw.partition(":")
            n, _, sig = rest.partition(":")
            if sig:
                _signal = signal.Signals[f"SIG{sig}"]
            _parsed = (raw, name, int(n or 1), 0.0)
        else:
            _parsed = ("", "", 0, 0.0)
        _seen.clear()
    return _parsed[1], _parsed[2], _parsed[3]


def point(name: str, **details: Any) -> None:
    hook = _hooks.get(name)
    if hook is not None:
        hook(**details)
    target, n, delay = _spec()
    if delay and name == "batch":
        time.sleep(delay)
    if name != target:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == n:
        os.kill(os.getpid(), _signal)


@contextlib.contextmanager
def injected(name: str, hook: Callable[..., None]) -> Iterator[None]:
    """Run `hook(**details)` whenever `point(name, **details)` is reached inside the block."""
    _hooks[name] = hook
    try:
        yield
    finally:
        _hooks.pop(name, None)
