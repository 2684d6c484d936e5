"""--workers changes how many threads tokenize, never the output."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from specter2_cli.cli import app
from specter2_cli.config import EmbedSettings, default_workers
from specter2_cli.pipeline.windows import Failed, Window, started_windows
from specter2_cli.synthetic import synthetic_papers
from tests.helpers import tricky_papers, write_jsonl

runner = CliRunner()


def test_output_is_bitwise_identical_with_1_and_3_workers(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    papers = [*tricky_papers(), *synthetic_papers(1_400, seed=3)]
    for i, p in enumerate(papers):
        p["id"] = i
    src = write_jsonl(tmp_path / "papers.jsonl", papers)
    outs = []
    for workers in (1, 3):
        out = tmp_path / f"w{workers}"
        args = [str(src), "-o", str(out), "--base-model", str(tiny_models["base"])]
        args += ["--adapter-path", str(tiny_models["proximity"]), "--workers", str(workers)]
        # windows of 1,000 records: several 256-text chunks per window, and two windows
        args += ["--sort-window", "1000", "--shard-size", "900", "--no-progress"]
        result = runner.invoke(app, ["embed", *args])
        assert result.exit_code == 0, result.output
        outs.append(out)
    shards = sorted(p.name for p in outs[0].glob("part-*"))
    assert len(shards) == 2
    assert shards == sorted(p.name for p in outs[1].glob("part-*"))
    for name in shards:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_workers_default_and_validation() -> None:
    assert default_workers() >= 1
    assert EmbedSettings().resolved_workers() == default_workers()
    assert EmbedSettings(workers=5).resolved_workers() == 5
    with pytest.raises(ValueError, match="workers"):
        EmbedSettings(workers=-1)


def _start(w: Window) -> Callable[[], Window]:
    return lambda: w


def test_started_windows_keeps_order_and_hands_on_windows_before_a_failure() -> None:
    q: queue.Queue[Any] = queue.Queue()
    ws = [Window() for _ in range(5)]
    for w in ws:
        q.put(w)
    q.put(Failed(ValueError("reader failed")))
    got: list[Window] = []
    with pytest.raises(ValueError, match="reader failed"):
        for w in started_windows(q, threading.Event(), _start, depth=2):
            got.append(w)
    assert [id(w) for w in got] == [id(w) for w in ws]


def test_started_windows_never_holds_a_window_back_for_more_input() -> None:
    q: queue.Queue[Any] = queue.Queue()
    first = Window()
    q.put(first)
    out: list[Window] = []
    gen = started_windows(q, threading.Event(), _start, depth=2)
    t = threading.Thread(target=lambda: out.append(next(gen)), daemon=True)
    t.start()
    t.join(timeout=5)
    assert out and out[0] is first  # handed on although no second window ever came
