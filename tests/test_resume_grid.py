"""Stop the real CLI with SIGKILL, SIGTERM or SIGUSR1 at an exact batch, resume, and compare
bit for bit with an uninterrupted run, over shard sizes that are not multiples of the sort
window (the defaults, 50,000 / 8,192, are not either)."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from specter2_cli.synthetic import synthetic_papers
from tests.helpers import write_jsonl
from tests.test_resume import EXIT_INTERRUPTED, run

# (shard size, sort window): a multiple, two non-multiples, a window larger than the shard
GRID = [(16, 8), (21, 8), (25, 7), (10, 16)]
CODES = {"KILL": -signal.SIGKILL, "TERM": EXIT_INTERRUPTED, "USR1": EXIT_INTERRUPTED}
# every size with a graceful stop, every signal on a non-multiple; kept small (each run
# starts a process)
CASES = [
    (16, 8, "KILL"),
    (21, 8, "TERM"),
    (21, 8, "USR1"),
    (25, 7, "TERM"),
    (25, 7, "KILL"),
    (10, 16, "USR1"),
]


@pytest.fixture(scope="module")
def grid_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("grid")
    papers = list(synthetic_papers(70, seed=11, mean_words=30, sd_words=20))
    return write_jsonl(d / "papers.jsonl", papers)


def opts(shard: int, window: int) -> list[str]:
    return ["--shard-size", str(shard), "--sort-window", str(window), "--batch-tokens", "512"]


def rows_in_order(outdir: Path) -> tuple[list[object], np.ndarray]:
    t = pq.read_table(outdir)
    order = np.lexsort((t.column("input_pos").to_numpy(), t.column("input_file").to_numpy()))
    ids = t.column("id").to_pylist()
    emb = np.asarray(t.column("embedding").to_pylist(), np.float32)
    return [ids[i] for i in order], emb[order]


@pytest.fixture(scope="module")
def clean_runs(
    tiny_models: dict[str, Path], grid_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[int, int], tuple[list[object], np.ndarray]]:
    out = {}
    for shard, window in GRID:
        d = tmp_path_factory.mktemp("clean") / "out"
        code, log = run(tiny_models, "embed", str(grid_corpus), "-o", str(d), *opts(shard, window))
        assert code == 0, log
        out[(shard, window)] = rows_in_order(d)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("shard,window,sig", CASES)
def test_stop_then_resume_is_bit_identical(
    tiny_models: dict[str, Path],
    grid_corpus: Path,
    tmp_path: Path,
    clean_runs: dict[tuple[int, int], tuple[list[object], np.ndarray]],
    shard: int,
    window: int,
    sig: str,
) -> None:
    out = tmp_path / "out"
    args = ["embed", str(grid_corpus), "-o", str(out), *opts(shard, window)]
    got_code, log = run(tiny_models, *args, fault=f"batch:4:{sig}")
    assert got_code == CODES[sig], log
    got_code, log = run(tiny_models, *args)
    assert got_code == 0, log
    ids, emb = rows_in_order(out)
    want_ids, want = clean_runs[(shard, window)]
    assert ids == want_ids
    np.testing.assert_array_equal(emb, want)  # the same batches: bit-identical floats
