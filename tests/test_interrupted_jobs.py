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
