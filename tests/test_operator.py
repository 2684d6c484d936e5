"""The operator's view: progress on a terminal and in logs, loud failures, env-var options.

The progress tests run the real CLI in a subprocess (on a pseudo-terminal for the
bar), slowed per batch with SPECTER2_FAULT=delay so that a window takes seconds.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specter2_cli.cli import app
from specter2_cli.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_OK, EXIT_USAGE
from tests.helpers import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def papers(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {"id": i, "title": f"paper {i} on topic {i % 7}", "abstract": "word " * (i % 40)}
        for i in range(start, start + n)
    ]


def model_args(models: dict[str, Path]) -> list[str]:
    return ["--base-model", str(models["base"]), "--adapter-path", str(models["proximity"])]


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTER2_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **extra}


def invoke(args: list[str], env: dict[str, str] | None = None) -> object:
    return runner.invoke(app, args, env=env)


# ----------------------------------------------------------------- progress


@pytest.mark.slow
def test_terminal_shows_percent_and_eta_before_the_first_window_is_done(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1500))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "specter2_cli", "embed", str(src), "-o", str(out),
           *model_args(tiny_models), "--device", "cpu", "--sort-window", "1500",
           "--shard-size", "1500", "--max-batch-rows", "32"]  # fmt: skip
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        cmd, stdin=slave, stdout=slave, stderr=slave, env=cli_env(SPECTER2_FAULT="delay:0.05")
    )
    os.close(slave)
    seen = b""
    mid_window = None  # the screen when a percentage and ETA showed with no shard written
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                screen = seen.decode(errors="replace")
                last = screen.replace("\r", "\n").strip().splitlines()[-1]
                if (
                    mid_window is None
                    and re.search(r"\b([1-9]|[1-9]\d)%", last)
                    and re.search(r"ETA \d+:\d\d", last)
                    and not list(out.glob("part-*"))
                ):
                    mid_window = last
            elif proc.poll() is not None:
                break
    finally:
        proc.wait(timeout=120)
        os.close(master)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "loading " in text and " on cpu" in text, text  # a line before the model loads
    assert mid_window is not None, text
    assert "papers/s" in mid_window


@pytest.mark.slow
def test_log_has_a_start_line_at_once_and_periodic_lines(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(600))
    cmd = [sys.executable, "-m", "specter2_cli", "embed", str(src), "-o", str(tmp_path / "o"),
           *model_args(tiny_models), "--device", "cpu", "--log-every", "0.3"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(SPECTER2_FAULT="delay:0.05"),
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    first_s = time.perf_counter() - t0
    rest = proc.stderr.read()
    assert proc.wait() == 0, first + rest
    # the start line: inputs, OUTDIR, rank/world and where it came from, model, device, dtype
    assert "starting: input " in first and str(src) in first, first
    assert "rank 0 of 1 (from single process)" in first and "device cpu" in first
    # one interpreter start plus the imports of the CLI: well under the model load
    assert first_s < 5.0, f"start line after {first_s:.1f} s"
    periodic = [line for line in rest.splitlines() if "since the start" in line]
    assert len(periodic) >= 3, rest
    assert any(re.search(r"\d+\.\d% read, .* papers/s, ETA \d+:\d\d", x) for x in periodic), rest
    summary = rest.splitlines()
    assert any("speed:" in x and "of embedding" in x and "model load" in x for x in summary)
    assert not any("first window" in x for x in summary)


# ----------------------------------------------------------------- failing loudly


def test_all_records_rejected_exits_3_without_success(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "title": i} for i in range(5)])
    out = tmp_path / "out"
    r = invoke(["embed", str(src), "-o", str(out), *model_args(tiny_models),
                "--on-error", "skip", "--no-progress"])  # fmt: skip
    assert r.exit_code == EXIT_INPUT, r.output
    assert "all 5 records were rejected" in r.output and "_rejects.jsonl" in r.output
    assert not (out / "_SUCCESS").exists()
    st = invoke(["status", str(out)])
    assert st.exit_code == EXIT_INPUT
    assert "failed" in st.output and "rank 0 is not done" in st.output, st.output
    assert re.search(r"0 records\s+5 rejected", st.output), st.output
    again = invoke(["embed", str(src), "-o", str(out), *model_args(tiny_models),
                    "--on-error", "skip", "--no-progress"])  # fmt: skip
    assert again.exit_code == EXIT_INPUT, again.output  # a rerun does not "succeed" either


def test_max_reject_rate(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [*papers(8), {"x": 1}, {"y": 2}])
    common = [str(src), *model_args(tiny_models), "--on-error", "skip", "--no-progress"]
    r = invoke(["embed", *common, "-o", str(tmp_path / "a"), "--max-reject-rate", "0.1"])
    assert r.exit_code == EXIT_INPUT, r.output
    assert "2 of 10 records were rejected (20.0%)" in r.output and "--max-reject-rate" in r.output
    assert not (tmp_path / "a" / "_SUCCESS").exists()
    ok = invoke(["embed", *common, "-o", str(tmp_path / "b"), "--max-reject-rate", "0.25"])
    assert ok.exit_code == EXIT_OK, ok.output
    assert (tmp_path / "b" / "_SUCCESS").exists()
    bad = invoke(["embed", *common, "-o", str(tmp_path / "c"), "--max-reject-rate", "5"])
    assert bad.exit_code == EXIT_USAGE and "fraction" in bad.output


@pytest.mark.parametrize(
    ("option", "value"), [("--device", "gpu"), ("--device", "cuda0"), ("--devices", "gpu0,gpu1")]
)
def test_bad_device_is_a_usage_error_before_anything_loads(
    tmp_path: Path, option: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import specter2_cli.model.loader as loader

    def no_load(*a: object, **k: object) -> None:
        raise AssertionError("the model must not load")

    monkeypatch.setattr(loader, "load_encoder", no_load)
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    t0 = time.perf_counter()
    r = invoke(["embed", str(src), "-o", str(tmp_path / "o"), option, value, "--no-progress"])
    assert time.perf_counter() - t0 < 2.0
    assert r.exit_code == EXIT_USAGE, r.output
    assert "cuda:0" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_failed_model_load_leaves_no_state_folder(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    out = tmp_path / "out"
    r = invoke(["embed", str(src), "-o", str(out), "--base-model", str(tmp_path / "nope"),
                "--device", "cpu", "--no-progress"])  # fmt: skip
    assert r.exit_code == EXIT_ENVIRONMENT, r.output
    assert not out.exists()


def test_import_error_of_a_dependency_is_an_environment_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import specter2_cli.cli as cli

    def broken() -> None:
        raise ImportError(
            "cannot import name 'HfFolder' from 'huggingface_hub'", name="huggingface_hub"
        )

    monkeypatch.setattr(cli, "app", broken)
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert (
        "huggingface_hub>=0.34,<3" in err and "pip install" in err and "internal error" not in err
    )


# ----------------------------------------------------------------- conventions


def shards(out: Path) -> int:
    return len(list(out.glob("part-*.parquet")))


def test_options_from_environment_variables_and_flags_win(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(12))
    env = {
        "SPECTER2_EMBED_SHARD_SIZE": "5",
        "SPECTER2_EMBED_BASE_MODEL": str(tiny_models["base"]),
        "SPECTER2_EMBED_ADAPTER_PATH": str(tiny_models["proximity"]),
        "SPECTER2_EMBED_PROGRESS": "0",
        "SPECTER2_EMBED_FORMAT": "npy",
    }
    r = invoke(["embed", str(src), "-o", str(tmp_path / "env")], env=env)
    assert r.exit_code == EXIT_OK, r.output
    assert len(list((tmp_path / "env").glob("part-*.npy"))) == 3  # 12 records, 5 per shard
    r = invoke(["embed", str(src), "-o", str(tmp_path / "flag"), "--shard-size", "100",
                "--format", "parquet"], env=env)  # fmt: skip
    assert r.exit_code == EXIT_OK, r.output
    assert shards(tmp_path / "flag") == 1
    help_text = invoke(["embed", "-h"]).output
    assert "SPECTER2_EMBED_SHARD_SIZE" in help_text and "SPECTER2_EMBED_ADAPTER" in help_text
    assert "<list[str]>" not in help_text and "Examples:" in help_text


def test_version_lists_the_libraries() -> None:
    r = invoke(["--version"])
    assert r.exit_code == 0
    for name in ("specter2_cli", "torch", "transformers", "adapters", "pyarrow", "CUDA"):
        assert name in r.output


def test_merge_keeps_an_existing_file_and_summary_json_to_stdout(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(6))
    out = tmp_path / "out"
    r = invoke(["embed", str(src), "-o", str(out), *model_args(tiny_models), "--no-progress",
                "--summary-json", "-"])  # fmt: skip
    assert r.exit_code == EXIT_OK, r.output
    summary = json.loads(r.stdout[r.stdout.index("{") :])
    assert summary["embedded"] == 6 and summary["total_rows"] == 6 and summary["embed_s"] > 0
    target = tmp_path / "m.npy"
    assert invoke(["merge", str(out), "--to", str(target)]).exit_code == EXIT_OK
    ids = tmp_path / "m.ids.parquet"
    before = ids.stat().st_mtime_ns
    again = invoke(["merge", str(out), "--to", str(target)])
    assert again.exit_code == EXIT_USAGE and "--overwrite" in again.output
    assert str(ids) in again.output and ids.stat().st_mtime_ns == before
    assert invoke(["merge", str(out), "--to", str(target), "--overwrite"]).exit_code == EXIT_OK


def test_input_extent_counts_bytes_of_jsonl_and_rows_of_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from specter2_cli.inputs import Cursor, plan_slices, resolve_inputs
    from specter2_cli.pipeline.progress import InputExtent

    js = write_jsonl(tmp_path / "a.jsonl", papers(10))
    pqf = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist(papers(30)), pqf, row_group_size=10)
    files = resolve_inputs([str(js), str(pqf)])
    size = js.stat().st_size
    whole = InputExtent(files, plan_slices(files, 0, 1))
    assert whole.total == size + 30
    assert whole.at(Cursor(0, size // 2)) == size // 2
    assert whole.at(Cursor(1, 7)) == size + 7
    assert whole.at(Cursor(1, 30)) == whole.total
    # two ranks: each counts only its own slices, and together they cover the input
    parts = [InputExtent(files, plan_slices(files, r, 2)) for r in range(2)]
    assert sum(p.total or 0 for p in parts) == whole.total
    gz = tmp_path / "c.jsonl.gz"
    import gzip

    gz.write_bytes(gzip.compress(js.read_bytes()))
    files = resolve_inputs([str(gz)])
    assert InputExtent(files, plan_slices(files, 0, 1)).total is None  # no percentage
