"""Crash safety: kill -9 the real CLI at many points, rerun until done, compare with a clean run."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from specter2_cli.synthetic import synthetic_papers
from tests.forkserver import spawn
from tests.helpers import write_jsonl

EXIT_INTERRUPTED = 75


def cli(models: dict[str, Path], *args: str, fault: str | None = None, **kw: object) -> Any:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("SPECTER2_FAULT", None)
    if fault:
        env["SPECTER2_FAULT"] = fault
    argv = list(args)
    if args and args[0] == "embed":
        argv += ["--base-model", str(models["base"]), "--adapter-path", str(models["proximity"])]
        argv += ["--no-progress", "--log-every", "0"]
    return spawn(argv, env=env, **kw)  # a real process, forked from preloaded imports


def run(models: dict[str, Path], *args: str, fault: str | None = None) -> tuple[int, str]:
    p = cli(models, *args, fault=fault)
    out, _ = p.communicate(timeout=300)
    return p.returncode, out


def table_by_id(outdir: Path) -> dict[object, np.ndarray]:
    t = pq.read_table(outdir)  # must always work, even right after a kill -9
    ids = t.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "an id was written twice"
    emb = t.column("embedding").to_pylist()
    return {i: np.asarray(e, np.float32) for i, e in zip(ids, emb, strict=True)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    return write_jsonl(
        d / "papers.jsonl", list(synthetic_papers(150, seed=7, mean_words=25, sd_words=15))
    )


OPTS = ["--shard-size", "40", "--sort-window", "16", "--batch-tokens", "1024"]


@pytest.fixture(scope="module")
def clean_run(
    tiny_models: dict[str, Path], corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[object, np.ndarray]:
    out = tmp_path_factory.mktemp("clean") / "out"
    code, log = run(tiny_models, "embed", str(corpus), "-o", str(out), *OPTS)
    assert code == 0, log
    return table_by_id(out)


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults",
    [
        ["batch:3", "batch:9"],  # mid-window, in the first and in a later shard
        ["shard_write:2", "shard_write:3"],  # a shard half written (temp file on disk)
        ["after_rename:1", "after_rename:2"],  # shard published, manifest not yet updated
        ["manifest:2"],  # manifest temp written, not yet renamed
    ],
)
def test_kill9_then_resume_equals_clean_run(
    tiny_models: dict[str, Path],
    corpus: Path,
    tmp_path: Path,
    clean_run: dict[object, np.ndarray],
    faults: list[str],
) -> None:
    out = tmp_path / "out"
    for fault in faults:
        code, log = run(tiny_models, "embed", str(corpus), "-o", str(out), *OPTS, fault=fault)
        assert code == -signal.SIGKILL, log
        if any(out.glob("part-*.parquet")):
            table_by_id(out)  # readable mid-job, no torn file visible
    code, log = run(tiny_models, "embed", str(corpus), "-o", str(out), *OPTS)
    assert code == 0, log
    got = table_by_id(out)
    assert got.keys() == clean_run.keys()
    for k, v in clean_run.items():
        np.testing.assert_array_equal(got[k], v)  # shards are deterministic: bit-identical
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"
    code, log = run(tiny_models, "embed", str(corpus), "-o", str(out), *OPTS)
    assert code == 0 and "nothing to do" in log, log


@pytest.mark.slow
def test_sigterm_commits_finished_work_and_exits_75(
    tiny_models: dict[str, Path], corpus: Path, tmp_path: Path, clean_run: dict[object, np.ndarray]
) -> None:
    out = tmp_path / "out"
    manifest = out / "_specter2" / "g0000-r00000.json"
    p = cli(tiny_models, "embed", str(corpus), "-o", str(out), *OPTS, "--shard-size", "20")
    deadline = time.time() + 120
    while not manifest.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    log, _ = p.communicate(timeout=120)
    if p.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert p.returncode == EXIT_INTERRUPTED, log
    assert "rerun the same command to resume" in log
    partial = table_by_id(out)
    assert 0 < len(partial) < len(clean_run)
    code, log = run(tiny_models, "status", str(out))
    assert code == 3 and "interrupted" in log, log
    code, log = run(tiny_models, "embed", str(corpus), "-o", str(out), *OPTS, "--shard-size", "20")
    assert code == 0, log
    got = table_by_id(out)
    assert got.keys() == clean_run.keys()
    for k, v in clean_run.items():
        np.testing.assert_allclose(got[k], v, atol=1e-5)


def test_rerun_with_other_settings_is_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from specter2_cli.cli import app

    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(5)))
    out = tmp_path / "out"
    base = [
        "embed",
        str(src),
        "-o",
        str(out),
        "--base-model",
        str(tiny_models["base"]),
        "--no-progress",
    ]
    prox = ["--adapter-path", str(tiny_models["proximity"])]
    r = CliRunner().invoke(app, [*base, *prox])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*base, *prox, "--max-length", "256"])
    assert r.exit_code == 2 and "max_length: was 512, now 256" in r.output, r.output
    r = CliRunner().invoke(
        app,
        [
            *base,
            "--adapter",
            "classification",
            "--adapter-path",
            str(tiny_models["classification"]),
        ],
    )
    assert r.exit_code == 2 and "adapter" in r.output, r.output
    with src.open("a") as f:
        f.write('{"id": 99, "title": "new"}\n')
    r = CliRunner().invoke(app, [*base, *prox])
    assert r.exit_code == 2 and "changed" in r.output and "--incremental" in r.output, r.output
    r = CliRunner().invoke(app, [*base, *prox, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert len(pq.read_table(out)) == 6


def test_second_writer_is_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from specter2_cli.errors import LockHeld
    from specter2_cli.pipeline import EmbedJob
    from specter2_cli.store.outdir import OutDir

    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(5)))
    out = tmp_path / "out"
    job = EmbedJob([str(src)], out)
    od = OutDir(out)
    od.prepare()
    held = od.lock_rank(0, 0, 1)  # as if another process were running this rank
    try:
        with pytest.raises(LockHeld, match="being written by another process"):
            from specter2_cli.config import EmbedSettings, ModelSettings

            job.settings = EmbedSettings(
                model=ModelSettings(
                    base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
                )
            )
            job.run()
    finally:
        held.release()
    assert not list(out.glob("part-*"))


def _settings(models: dict[str, Path], **kw: object) -> object:
    from specter2_cli.config import EmbedSettings, ModelSettings

    model = ModelSettings(base_model=str(models["base"]), adapter_path=str(models["proximity"]))
    return EmbedSettings(model=model, shard_size=5, sort_window=5, **kw)  # type: ignore[arg-type]


def test_files_specter2_did_not_write_are_never_touched(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from specter2_cli.api import embed_files
    from specter2_cli.errors import UsageError

    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(12)))
    out = tmp_path / "out"
    out.mkdir()
    keep = [
        out / "part-00007-other-tool.parquet",
        out / "notes.txt",
        out / "part-00000.parquet.bak",
    ]
    for p in keep:
        p.write_text("not ours")
    embed_files([str(src)], out, settings=_settings(tiny_models), overwrite=True)
    embed_files([str(src)], out, settings=_settings(tiny_models), overwrite=True)
    assert all(p.read_text() == "not ours" for p in keep)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "part-00000.parquet").write_text("someone else's")
    with pytest.raises(UsageError, match="not written by specter2"):
        embed_files([str(src)], foreign, settings=_settings(tiny_models))
    assert (foreign / "part-00000.parquet").read_text() == "someone else's"


def test_stdin_incremental_runs_add_records(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    import io

    from specter2_cli.api import embed_files
    from specter2_cli.errors import UsageError

    papers = list(synthetic_papers(20))
    first = "".join(json.dumps(p) + "\n" for p in papers[:12]).encode()
    second = "".join(json.dumps(p) + "\n" for p in papers[8:]).encode()
    out = tmp_path / "out"
    s1 = embed_files(
        ["-"], out, settings=_settings(tiny_models), incremental=True, stdin=io.BytesIO(first)
    )
    s2 = embed_files(
        ["-"], out, settings=_settings(tiny_models), incremental=True, stdin=io.BytesIO(second)
    )
    assert (s1.embedded, s2.embedded, s2.skipped) == (12, 8, 4)
    assert sorted(table_by_id(out)) == [p["id"] for p in papers]
    with pytest.raises(UsageError, match="finished run from stdin"):
        embed_files(["-"], out, settings=_settings(tiny_models), stdin=io.BytesIO(second))


def test_interrupted_run_superseded_by_an_incremental_one(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """A failed night followed by a good one: status is complete and merge has every id."""
    from specter2_cli.errors import Interrupted
    from specter2_cli.merge import merge
    from specter2_cli.pipeline import EmbedJob
    from specter2_cli.status import job_status

    papers = list(synthetic_papers(30))
    src = write_jsonl(tmp_path / "p.jsonl", papers[:20])
    out = tmp_path / "out"
    job = EmbedJob([str(src)], out, settings=_settings(tiny_models), incremental=True)  # type: ignore[arg-type]
    job.on_shard_committed = lambda entry: job.stop.set("test")
    with pytest.raises(Interrupted):
        job.run()
    committed = job_status(out).ranks[0].rows
    assert 0 < committed < 20
    write_jsonl(src, papers)  # the input grew before the next night
    s = EmbedJob([str(src)], out, settings=_settings(tiny_models), incremental=True).run()  # type: ignore[arg-type]
    assert s.skipped == committed and s.embedded == 30 - committed
    st = job_status(out)
    assert st.complete, st.as_dict()
    assert [r.state for r in st.ranks] == ["superseded", "done"]
    assert (out / "_SUCCESS").exists()
    merge(out, tmp_path / "m.parquet")
    assert pq.read_table(tmp_path / "m.parquet").column("id").to_pylist() == [
        p["id"] for p in papers
    ]


def test_resuming_in_another_dtype_is_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from specter2_cli.api import embed_files
    from specter2_cli.errors import UsageError

    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(5)))
    out = tmp_path / "out"
    embed_files([str(src)], out, settings=_settings(tiny_models))  # auto = float32 on CPU
    with pytest.raises(UsageError, match="compute_dtype: was 'float32', now 'bfloat16'"):
        embed_files([str(src)], out, settings=_settings(tiny_models, dtype="bfloat16"))
