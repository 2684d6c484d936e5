"""Operator habits: exported variables, failed first runs, empty input, --overwrite's reach.

Everything runs in-process on the fake encoder (tests/fakes.py) or through CliRunner on an
OUTDIR that is already complete (no model loads), so the file takes about a second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from specter2_cli.api import embed_files
from specter2_cli.cli import app
from specter2_cli.config import EmbedSettings, ModelSettings
from specter2_cli.errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE, InputError, UsageError
from tests.fakes import FakeEncoder

runner = CliRunner()


def paper(i: int, salt: str = "") -> dict[str, Any]:
    return {"id": i, "title": f"t{i}{salt}", "abstract": f"w{i} a b c"}


def write(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def run(inputs: list[str], out: Path, enc: FakeEncoder | None = None, **kw: Any) -> Any:
    enc = enc or FakeEncoder()
    opts = {k: kw.pop(k) for k in list(kw) if k in ("incremental", "overwrite", "allow_empty")}
    settings = EmbedSettings(model=kw.pop("model", enc.settings), **kw)
    return embed_files(inputs, out, encoder=enc, settings=settings, **opts)


def snapshot(out: Path) -> dict[str, int]:
    """Shards and state files with their times (a rerun touches its lock and _SUCCESS)."""
    return {
        p.name: p.stat().st_mtime_ns
        for p in out.rglob("*")
        if p.is_file() and not p.name.endswith(".lock") and p.name != "_SUCCESS"
    }


def clean_env(**extra: str) -> dict[str, str | None]:
    """CliRunner's env: every SPECTER2_* of the outer environment unset, `extra` set."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SPECTER2_")}
    return {**env, **extra}


# ----------------------------------------------------------------- environment variables


def test_an_exported_overwrite_never_wipes_a_finished_outdir(tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(6)])
    out = tmp_path / "out"
    run([src], out)
    before = snapshot(out)
    args = ["embed", src, "-o", str(out), "--max-length", "64", "--device", "cpu"]
    for var in ("SPECTER2_OVERWRITE", "SPECTER2_EMBED_OVERWRITE"):
        r = runner.invoke(app, args, env=clean_env(**{var: "1"}))
        assert r.exit_code == EXIT_OK, r.output
        assert f"{var} is set but `specter2 embed` does not read it" in r.output
        assert snapshot(out) == before  # nothing deleted, nothing rewritten
    # the flag on the command line still works, and says what it deleted
    # --overwrite with a model that does not load deletes nothing
    r = runner.invoke(app, [*args, "--overwrite", "--base-model", str(tmp_path / "nomodel")],
                      env=clean_env())  # fmt: skip
    assert r.exit_code == 4 and snapshot(out) == before, r.output
    # the flag on the command line works, and says what it deleted
    s = run([src], out, overwrite=True)
    assert s.embedded == 6


def test_variables_belong_to_one_subcommand() -> None:
    help_embed = runner.invoke(app, ["embed", "-h"], env=clean_env()).output
    assert "SPECTER2_EMBED_SHARD_SIZE" in help_embed
    assert "SPECTER2_EMBED_OVERWRITE" not in help_embed  # destructive: no variable
    help_merge = runner.invoke(app, ["merge", "-h"], env=clean_env()).output
    assert "SPECTER2_MERGE_TO" in help_merge and "SPECTER2_TO" not in help_merge
    # embed's adapter path never reaches search, and merge's --to never reaches export
    r = runner.invoke(app, ["export", "nowhere"], env=clean_env(SPECTER2_MERGE_TO="x.faiss"))
    assert r.exit_code == EXIT_USAGE and "--to" in r.output
    r = runner.invoke(app, ["search", "nowhere", "--query", "q"],
                      env=clean_env(SPECTER2_ADAPTER_PATH="/x", SPECTER2_EMBED_ADAPTER_PATH="/x"))  # fmt: skip
    assert "--adapter" not in r.output and "SPECTER2_ADAPTER_PATH is set" in r.output


# ----------------------------------------------------------------- a failed first run


def test_a_run_that_committed_nothing_does_not_pin_the_outdir(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.jsonl", [{"title": "no id"}, paper(1)])
    out = tmp_path / "out"
    with pytest.raises(InputError):
        run([bad], out)  # fails on record 1: nothing committed
    good = write(tmp_path / "good.jsonl", [paper(i) for i in range(3)])
    other = FakeEncoder(settings=ModelSettings(max_length=32))
    s = run([good], out, other)  # other settings and input: accepted
    assert s.embedded == 3
    with pytest.raises(UsageError, match="other settings"):  # now it holds work: pinned
        run([good], out, FakeEncoder())
    # interrupted after a commit (not done): still pinned
    manifest = out / "_specter2" / "g0000-r00000.json"
    m = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**m, "done": False}))
    with pytest.raises(UsageError, match="other settings"):
        run([good], out, FakeEncoder())


# ----------------------------------------------------------------- empty input


def test_empty_input_fails_unless_allowed(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "out"
    with pytest.raises(InputError, match="the input is empty"):
        run([str(empty)], out)
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")
    with pytest.raises(InputError, match="no records in the input"):
        run([str(blank)], out)
    assert not (out / "_SUCCESS").exists()
    s = run([str(empty)], out, allow_empty=True)
    assert s.embedded == 0 and (out / "_SUCCESS").exists()
    # a rank of several that owns no part of the input is not an empty input
    one = write(tmp_path / "one.jsonl", [paper(0)])
    assert embed_files([one], tmp_path / "ranks", encoder=FakeEncoder(), settings=EmbedSettings(
        model=FakeEncoder().settings), shard_index=1, num_shards=3).embedded == 0  # fmt: skip


def test_empty_input_exits_3_on_the_command_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = runner.invoke(app, ["embed", str(empty), "-o", str(tmp_path / "o"),
                            "--base-model", str(tmp_path / "none")], env=clean_env())  # fmt: skip
    # the empty input is found before the model would load (the model does not exist)
    assert r.exit_code == EXIT_INPUT, r.output


# ----------------------------------------------------------------- --overwrite's reach


def test_overwrite_keeps_a_users_own_state_named_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "_specter2").mkdir(parents=True)
    (out / "_specter2" / "notes.txt").write_text("mine")
    src = write(tmp_path / "in.jsonl", [paper(0)])
    with pytest.raises(UsageError, match=r"no job\.json"):
        run([src], out, overwrite=True)
    assert (out / "_specter2" / "notes.txt").read_text() == "mine"


def test_overwrite_with_a_bad_input_deletes_nothing(tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(4)])
    out = tmp_path / "out"
    run([src], out)
    before = snapshot(out)
    with pytest.raises(InputError):
        run([str(tmp_path / "missing.jsonl")], out, overwrite=True)
    assert snapshot(out) == before


# ----------------------------------------------------------------- stdin, FIFOs, folders


def test_resuming_from_stdin_checks_the_stream(tmp_path: Path) -> None:
    import io

    from specter2_cli.pipeline.runtime import StopFlag
    from specter2_cli.reader import read_embeddings

    recs = [paper(i) for i in range(200)]
    data = "".join(json.dumps(r) + "\n" for r in recs).encode()
    settings = EmbedSettings(model=FakeEncoder().settings, shard_size=10, sort_window=5)

    def interrupted(out: Path) -> None:
        stop = StopFlag()
        with pytest.raises(Exception, match="stopped"):
            embed_files(["-"], out, encoder=FakeEncoder(), settings=settings, stop=stop,
                        stdin=io.BytesIO(data),
                        on_shard_committed=lambda sh: sh.index == 1 and stop.set())  # fmt: skip
        assert 0 < len(read_embeddings(out)) < 200

    # the same records in another order: refused, nothing more committed
    out = tmp_path / "shuffled"
    interrupted(out)
    before = snapshot(out)
    shuffled = "".join(json.dumps(r) + "\n" for r in reversed(recs)).encode()
    with pytest.raises(UsageError, match="same records in the same order"):
        embed_files(["-"], out, encoder=FakeEncoder(), settings=settings,
                    stdin=io.BytesIO(shuffled))  # fmt: skip
    assert snapshot(out) == before
    # the same stream again: resumed to every id exactly once
    out = tmp_path / "same"
    interrupted(out)
    embed_files(["-"], out, encoder=FakeEncoder(), settings=settings, stdin=io.BytesIO(data))
    emb = read_embeddings(out)
    assert sorted(emb.ids.tolist()) == list(range(200))


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "papers.jsonl"
    os.mkfifo(fifo)  # no writer: opening it would block
    with pytest.raises(InputError, match="named pipe"):
        run([str(fifo)], tmp_path / "out")
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "b.jsonl")
    write(folder / "a.jsonl", [paper(0)])
    with pytest.raises(InputError, match="named pipe"):
        run([str(folder)], tmp_path / "out")


def test_an_outdir_inside_the_input_folder_resumes_and_runs_incrementally(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder / "day1.jsonl", [paper(i) for i in range(5)])
    out = folder / "emb"
    assert run([str(folder)], out).embedded == 5
    assert run([str(folder)], out).already_done  # the rerun: its own shards are not input
    write(folder / "day2.jsonl", [paper(i) for i in range(5, 8)])
    s = run([str(folder)], out, incremental=True)
    assert (s.embedded, s.skipped) == (3, 5)


def test_an_unchanged_incremental_night_says_nothing_new(tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(3)])
    out = tmp_path / "out"
    run([src], out, incremental=True)
    args = ["embed", src, "-o", str(out), "--max-length", "64", "--device", "cpu"]
    r = runner.invoke(app, [*args, "--incremental"], env=clean_env())
    assert r.exit_code == EXIT_OK and "nothing new" in r.output, r.output
    assert "use --incremental" not in r.output
    r = runner.invoke(app, args, env=clean_env())  # without the flag, the hint stays
    assert r.exit_code == EXIT_OK and "use --incremental" in r.output, r.output


def test_no_progress_keeps_the_periodic_log_lines(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging
    import time

    # the CLI's setup_logging (run by earlier tests) stops propagation to caplog's handler
    monkeypatch.setattr(logging.getLogger("specter2"), "propagate", True)

    from specter2_cli.pipeline.progress import Progress

    with caplog.at_level("INFO", logger="specter2"):
        for bar, tty in ((False, True), (True, False), (False, False)):  # no bar drawn
            caplog.clear()
            p = Progress(bar, every_s=0.02, tty=tty)
            p.start("starting")
            time.sleep(0.15)
            p.close()
            assert "checking the input and loading the model" in caplog.text, (bar, tty)
