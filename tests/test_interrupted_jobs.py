"""Interrupted incremental runs, damaged output folders and files specter2 did not write."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from specter2_cli.synthetic import synthetic_papers
from tests.helpers import write_jsonl


def _settings(models: dict[str, Path], **kw: object) -> object:
    from specter2_cli.config import EmbedSettings, ModelSettings

    model = ModelSettings(base_model=str(models["base"]), adapter_path=str(models["proximity"]))
    kw = {"shard_size": 5, "sort_window": 5, "on_error": "skip", **kw}
    return EmbedSettings(model=model, **kw)  # type: ignore[arg-type]


def _night2(
    models: dict[str, Path], src: Path, out: Path, stop_after: int | None
) -> tuple[list[object], int]:
    from specter2_cli.errors import Interrupted
    from specter2_cli.pipeline import EmbedJob
    from specter2_cli.status import job_status

    job = EmbedJob([str(src)], out, settings=_settings(models), incremental=True)  # type: ignore[arg-type]
    if stop_after is not None:
        commits = []

        def stop(entry: object) -> None:
            commits.append(entry)
            if len(commits) == stop_after:
                job.stop.set("test")

        job.on_shard_committed = stop
        with pytest.raises(Interrupted):
            job.run()
    EmbedJob([str(src)], out, settings=_settings(models), incremental=True).run()  # type: ignore[arg-type]
    st = job_status(out)
    return sorted(pq.read_table(out).column("id").to_pylist()), st.as_dict()["rejected"]


def test_resumed_incremental_run_remembers_skipped_ids(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """A duplicate of an id that this run skipped (unchanged) stays a duplicate after a stop."""
    from specter2_cli.api import embed_files

    papers = list(synthetic_papers(40, seed=3))
    dup = {**papers[2], "title": "the same id again, with another text"}
    results = []
    for stop_after in (None, 1):
        d = tmp_path / f"stop{stop_after}"
        d.mkdir()
        src = write_jsonl(d / "p.jsonl", papers[:10])
        embed_files([str(src)], d / "out", settings=_settings(tiny_models), incremental=True)
        write_jsonl(src, [*papers, dup])
        results.append(_night2(tiny_models, src, d / "out", stop_after))
    clean, resumed = results
    assert clean[1] == 1  # the uninterrupted run rejects the duplicate
    assert resumed == clean


def _table(out: Path) -> dict[object, list[float]]:
    t = pq.read_table(out)
    return dict(zip(t.column("id").to_pylist(), t.column("embedding").to_pylist(), strict=True))


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_damaged_shard_is_reported_and_re_embedded(
    tiny_models: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    from typer.testing import CliRunner

    from specter2_cli.api import embed_files
    from specter2_cli.cli import app
    from specter2_cli.status import job_status

    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(12)))
    out = tmp_path / "out"
    embed_files([str(src)], out, settings=_settings(tiny_models))
    clean = _table(out)
    shard = out / "part-00001.parquet"
    if damage == "delete":
        shard.unlink()
    else:
        shard.write_bytes(shard.read_bytes()[:-100])
    st = job_status(out)
    assert not st.complete and st.ranks[0].state == "damaged", st.as_dict()
    r = CliRunner().invoke(app, ["status", str(out)])
    assert r.exit_code == 3 and "part-00001.parquet" in r.output, r.output
    embed_files([str(src)], out, settings=_settings(tiny_models))
    assert job_status(out).complete
    assert _table(out) == clean


def test_damaged_manifest_is_a_located_error(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from specter2_cli.api import embed_files
    from specter2_cli.cli import app

    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(12)))
    out = tmp_path / "out"
    embed_files([str(src)], out, settings=_settings(tiny_models))
    manifest = out / "_specter2" / "g0000-r00000.json"
    for text in (manifest.read_text()[:40], '{"gen": 0, "rank": 0, "world": 1, "shards": [{}]}'):
        manifest.write_text(text)
        for args in (["status", str(out)], ["merge", str(out), "--to", str(tmp_path / "m.pq")]):
            r = CliRunner().invoke(app, args)
            assert r.exit_code == 4 and "g0000-r00000.json" in r.output, r.output
        r = CliRunner().invoke(
            app,
            [
                "embed",
                str(src),
                "-o",
                str(out),
                "--base-model",
                str(tiny_models["base"]),
                "--adapter-path",
                str(tiny_models["proximity"]),
                "--no-progress",
            ],
        )
        assert r.exit_code == 4 and "manifest is damaged" in r.output, r.output


def test_superseded_only_for_input_the_newer_run_read(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from specter2_cli.errors import Interrupted, UsageError
    from specter2_cli.merge import merge
    from specter2_cli.pipeline import EmbedJob
    from specter2_cli.status import job_status

    papers = list(synthetic_papers(30, seed=5))
    day1 = write_jsonl(tmp_path / "day1.jsonl", papers[:20])
    day2 = write_jsonl(tmp_path / "day2.jsonl", papers[20:])
    out = tmp_path / "out"

    def night(src: Path) -> EmbedJob:
        return EmbedJob([str(src)], out, settings=_settings(tiny_models), incremental=True)  # type: ignore[arg-type]

    job = night(day1)
    job.on_shard_committed = lambda entry: job.stop.set("test")
    with pytest.raises(Interrupted):
        job.run()
    night(day2).run()
    st = job_status(out)
    assert not st.complete and [r.state for r in st.ranks] == ["interrupted", "done"]
    assert not (out / "_SUCCESS").exists()
    with pytest.raises(UsageError, match=r"day1\.jsonl"):
        merge(out, tmp_path / "m.parquet")
    night(day1).run()  # finishing night 1 completes the job
    assert job_status(out).complete and (out / "_SUCCESS").exists()
    merge(out, tmp_path / "m.parquet")
    got = pq.read_table(tmp_path / "m.parquet").column("id").to_pylist()
    assert sorted(got) == sorted(p["id"] for p in papers)


def test_files_not_written_by_specter2_are_kept(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from specter2_cli.api import embed_files
    from specter2_cli.errors import UsageError

    src = write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(6)))
    for name in ("_rejects.jsonl", "_SUCCESS", "part-00000.parquet"):
        out = tmp_path / name.strip("_.")
        out.mkdir()
        (out / name).write_text("someone else's")
        for overwrite in (False, True):
            with pytest.raises(UsageError, match="not written by specter2"):
                embed_files([str(src)], out, settings=_settings(tiny_models), overwrite=overwrite)
            assert (out / name).read_text() == "someone else's"


def test_input_inside_outdir_and_empty_output_are_refused(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from specter2_cli.api import embed_files
    from specter2_cli.errors import UsageError

    out = tmp_path / "out"
    (out / "in").mkdir(parents=True)
    src = write_jsonl(out / "in" / "p.jsonl", list(synthetic_papers(6)))
    with pytest.raises(UsageError, match="inside the output folder"):
        embed_files([str(src)], out, settings=_settings(tiny_models))
    with pytest.raises(UsageError, match="-o/--output is empty"):
        embed_files([str(src)], "", settings=_settings(tiny_models))
    assert not (out / "_specter2").exists()
