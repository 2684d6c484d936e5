"""Signals at the edges of a run, --devices workers whose parent dies, an unwritable folder."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest

from specter2_cli.synthetic import synthetic_papers
from tests.helpers import write_jsonl
from tests.test_resume import cli, run

OPTS = ["--shard-size", "8", "--sort-window", "4", "--batch-tokens", "512"]


@pytest.mark.slow
def test_sigterm_after_the_work_is_done_exits_0(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(6)))
    out = tmp_path / "out"
    code, log = run(tiny_models, "embed", str(src), "-o", str(out), *OPTS, fault="exit:1:TERM")
    assert code == 0, log


def _children(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in kids.read_text().split()] if kids.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_devices_workers_stop_when_the_parent_is_killed(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(40)))
    out = tmp_path / "out"
    args = ["embed", str(src), "-o", str(out), *OPTS, "--devices", "cpu,cpu"]
    p = cli(tiny_models, *args, fault="delay:2")
    deadline = time.time() + 120
    while len(list((out / "_specter2").glob("*.lock"))) < 2 and time.time() < deadline:
        time.sleep(0.1)
    workers = _children(p.pid)
    assert len(workers) == 2
    p.kill()
    p.wait()
    deadline = time.time() + 15  # a worker finishes its batch (2 s here), commits, exits
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "a worker outlived its parent"
    code, log = run(tiny_models, *args)
    assert code == 0, log


def test_unwritable_folder_mid_run_is_exit_4_not_a_traceback(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like `chattr +i OUTDIR` during a run: writing and deleting in it both fail."""
    from specter2_cli import faults
    from specter2_cli.api import embed_files
    from specter2_cli.errors import OutputError
    from tests.test_interrupted_jobs import _settings

    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(12)))
    out = tmp_path / "out"
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.parent == out:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(self))
        real_unlink(self, missing_ok=missing_ok)

    def immutable(**details: object) -> None:
        monkeypatch.setattr(Path, "unlink", unlink)
        raise PermissionError(errno.EPERM, "Operation not permitted", str(details["path"]))

    with faults.injected("write", immutable), pytest.raises(OutputError, match="not writable"):
        embed_files([str(src)], out, settings=_settings(tiny_models))
    monkeypatch.undo()
