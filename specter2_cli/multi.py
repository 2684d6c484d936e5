"""`--devices`: one worker process per device on this node, through the same rank machinery.

With D devices inside rank R of W (a SLURM array task, say), worker i runs as
shard R*D+i of W*D, so a 4-GPU node needs no array and an array of 4-GPU nodes
still covers the input exactly once.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from .errors import EXIT_INTERRUPTED, EXIT_OK, EnvironmentProblem, UsageError
from .launchers import detect_rank

EXIT_SECOND_INTERRUPT = 130  # a second Ctrl-C: stopped without committing

_DROP = {"--devices": 1, "--device": 1, "--shard-index": 1, "--num-shards": 1}
# the same options as environment variables: a worker must not start workers itself
_DROP_ENV = {"SPECTER2_EMBED_" + k[2:].upper().replace("-", "_") for k in _DROP}

DEVICE_FORMS = "auto, cpu, cuda or cuda:N (e.g. cuda:0)"
_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def check_device(option: str, value: str) -> None:
    """A usage error (before anything loads) unless `value` names a device form we accept."""
    if not _DEVICE.match(value):
        raise UsageError(f"{option} {value!r} is not a device: use {DEVICE_FORMS}")


def check_devices(spec: str) -> None:
    """--devices: 'all' or a comma-separated list of devices (cuda:N, cuda or cpu)."""
    if spec == "all":
        return
    devices = [d.strip() for d in spec.split(",") if d.strip()]
    bad = [d for d in devices if d == "auto" or not _DEVICE.match(d)]
    if not devices or bad:
        raise UsageError(
            f"--devices {spec!r}: name the devices as a comma-separated list, "
            "e.g. cuda:0,cuda:1 (cpu also works, for tests), or use 'all'"
        )


def parse_devices(spec: str) -> list[str]:
    if spec == "all":
        import torch

        n = torch.cuda.device_count()
        if n == 0:
            raise EnvironmentProblem(
                "--devices all: no CUDA device is visible to this process: check nvidia-smi, "
                "the driver, and CUDA_VISIBLE_DEVICES"
            )
        return [f"cuda:{i}" for i in range(n)]
    devices = [d.strip() for d in spec.split(",") if d.strip()]
    if not devices:
        raise UsageError("--devices: name devices, e.g. cuda:0,cuda:1, or 'all'")
    return devices


def strip_options(argv: list[str]) -> list[str]:
    """argv without the options that each worker gets its own value of."""
    out: list[str] = []
    skip = 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        name = a.split("=", 1)[0]
        if name in _DROP:
            skip = 0 if "=" in a else _DROP[name]
            continue
        out.append(a)
    return out


def run_devices(spec: str, argv: list[str], shard_index: int | None, num_shards: int | None) -> int:
    devices = parse_devices(spec)
    outer = detect_rank(shard_index, num_shards)
    d = len(devices)
    base = strip_options(argv)
    if not _names_workers(base):
        from .config import default_workers

        base += share_workers(default_workers() + 1, d)
    # each worker sees its own GPU only (a usage error here, before any worker starts)
    placed = [worker_device(dev, {k: v for k, v in os.environ.items() if k not in _DROP_ENV})
              for dev in devices]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    # before the workers start: a signal in between is forwarded, not lost
    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    parent = os.getpid()
    for i, (dev, env) in enumerate(placed):
        cmd = [
            sys.executable,
            "-m",
            "specter2_cli",
            *base,
            "--device",
            dev,
            "--shard-index",
            str(outer.rank * d + i),
            "--num-shards",
            str(outer.world * d),
        ]
        # own session: a terminal's Ctrl-C reaches the workers once, through forward();
        # and a SIGTERM from the kernel when the parent dies, even by kill -9 (they commit
        # their finished work and exit, so a rerun is not locked out)
        procs.append(
            subprocess.Popen(
                cmd, start_new_session=True, env=env, preexec_fn=lambda: _die_with(parent)
            )
        )
    try:
        codes = [p.wait() for p in procs]
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    code, lines = combine_exit_codes(codes, devices)
    for line in lines:
        print(f"specter2: {line}", file=sys.stderr)
    return code


def combine_exit_codes(codes: list[int], devices: list[str]) -> tuple[int, list[str]]:
    """The parent's exit code from its workers' (Popen: -N for a signal), and a line for each
    worker that did not finish.

    A worker's own error (2 usage, 3 input, 4 environment, 1 a bug) wins: rerunning would
    not help. A worker ended by a signal (preempted, OOM-killed, kill -9) or interrupted (75)
    makes 75: its committed work is kept and a rerun or requeue resumes it, as the README
    promises SLURM scripts. 130 (a second Ctrl-C) stays 130.
    """
    lines = []
    for i, c in enumerate(codes):
        dev = devices[i] if i < len(devices) else "?"
        if c < 0:
            try:
                name = signal.Signals(-c).name
            except ValueError:
                name = f"signal {-c}"
            lines.append(
                f"worker {i} ({dev}) was ended by {name}: its committed shards are kept; "
                "rerun the same command to resume"
            )
        elif c not in (EXIT_OK, EXIT_INTERRUPTED):
            lines.append(f"worker {i} ({dev}) failed with exit code {c} (see its message above)")
        elif c == EXIT_INTERRUPTED:
            lines.append(f"worker {i} ({dev}) was interrupted: rerun the same command to resume")
    failed = [c for c in codes if c > 0 and c not in (EXIT_INTERRUPTED, EXIT_SECOND_INTERRUPT)]
    if failed:
        return failed[0], lines
    if EXIT_SECOND_INTERRUPT in codes:
        return EXIT_SECOND_INTERRUPT, lines
    if any(c < 0 or c == EXIT_INTERRUPTED for c in codes):
        return EXIT_INTERRUPTED, lines
    return EXIT_OK, lines


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def worker_device(
    dev: str, environ: dict[str, str], gpu_count: Callable[[], int] = _gpu_count
) -> tuple[str, dict[str, str]]:
    """(--device, environment) for the worker of `dev`: a GPU worker sees only its own GPU.

    `cuda:N` names the N-th GPU this process sees, so the worker gets
    CUDA_VISIBLE_DEVICES set to that one entry of ours (physical index, UUID or MIG id
    alike) and runs on `cuda:0`, the only device it has: no CUDA context, stream or
    pinned buffer of the worker can land on another worker's GPU.
    """
    if not dev.startswith("cuda"):
        return dev, dict(environ)
    index = int(dev.partition(":")[2] or 0)
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:  # every GPU of the node: check the index against how many there are
        count = gpu_count()
        if count == 0:
            raise EnvironmentProblem(
                f"--devices names {dev}, but no CUDA device is visible to this process: "
                "check nvidia-smi, the driver, and CUDA_VISIBLE_DEVICES"
            )
        if index >= count:
            raise UsageError(
                f"--devices names {dev}, but this node has {count} GPU(s) "
                f"(cuda:0 to cuda:{count - 1}); name only those"
            )
        chosen = str(index)
    else:
        entries = [e.strip() for e in visible.split(",") if e.strip()]
        if "-1" in entries:  # CUDA ignores the entries from an invalid one on
            entries = entries[: entries.index("-1")]
        if index >= len(entries):
            shown = len(entries)
            raise UsageError(
                f"--devices names {dev}, but CUDA_VISIBLE_DEVICES={visible!r} leaves this "
                f"process {shown} GPU(s) (cuda:0 to cuda:{shown - 1}); name only those"
                if shown
                else f"--devices names {dev}, but CUDA_VISIBLE_DEVICES={visible!r} hides "
                "every GPU from this process"
            )
        chosen = entries[index]
    env = dict(environ)
    env["CUDA_VISIBLE_DEVICES"] = chosen
    return "cuda:0", env


def _die_with(parent: int) -> None:
    """In the worker before exec: SIGTERM when the parent process dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's forward() is all there is
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def share_workers(cpus: int, devices: int) -> list[str]:
    """--workers for each of `devices` workers: the node's CPUs shared among their tokenizer
    threads (one CPU each left for the device loop), instead of every worker taking them all."""
    return ["--workers", str(max(1, cpus // devices - 1))]


def _names_workers(argv: list[str]) -> bool:
    given = any(a == "--workers" or a.startswith("--workers=") for a in argv)
    return given or bool(os.environ.get("SPECTER2_EMBED_WORKERS"))
