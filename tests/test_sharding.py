"""Ranks cover the input exactly once; merge reproduces the single-process output; incremental runs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings, ModelSettings
from specter2_cli.inputs import plan_slices, resolve_inputs
from specter2_cli.launchers import detect_rank
from specter2_cli.merge import merge
from specter2_cli.model.encoder import Encoder
from specter2_cli.model.loader import load_encoder
from specter2_cli.status import job_status
from specter2_cli.store.outdir import OutDir
from specter2_cli.synthetic import synthetic_papers
from tests.helpers import write_jsonl


@pytest.fixture(scope="module")
def encoder(tiny_models: dict[str, Path]) -> Encoder:
    return load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        )
    )


def settings(enc: Encoder, **kw: object) -> EmbedSettings:
    return EmbedSettings(model=enc.settings, shard_size=9, sort_window=5, batch_tokens=1024, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    d = tmp_path_factory.mktemp("inputs")
    papers = list(synthetic_papers(90, seed=11, mean_words=12, sd_words=8))
    a = write_jsonl(d / "a.jsonl", papers[:40])
    gz = d / "b.jsonl.gz"
    gz.write_bytes(gzip.compress("".join(json.dumps(p) + "\n" for p in papers[40:55]).encode()))
    pqf = d / "c.parquet"
    pq.write_table(pa.Table.from_pylist(papers[55:]), pqf, row_group_size=4)
    return {"jsonl": [str(a)], "parquet": [str(pqf)], "mixed": [str(a), str(gz), str(pqf)]}


def test_slices_cover_every_record_once(inputs: dict[str, list[str]]) -> None:
    """Reading every rank's slices yields each input record exactly once, for any world size."""
    from specter2_cli.config import FieldSettings
    from specter2_cli.inputs import Record, RecordStream, RecordValidator

    files = resolve_inputs(inputs["mixed"])
    validator = RecordValidator(FieldSettings(), False, "[SEP]", "int")
    everything = [r.id for r, _ in RecordStream(files, plan_slices(files, 0, 1), validator)]
    assert len(everything) == 90 and len(set(everything)) == 90
    for world in (2, 3, 7, 50, 200):
        read: list[object] = []
        for rank in range(world):
            stream = RecordStream(files, plan_slices(files, rank, world), validator)
            read += [r.id for r, _ in stream if isinstance(r, Record)]
        assert sorted(read) == sorted(everything), f"world {world}"


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "mixed"])
@pytest.mark.parametrize("world", [1, 3, 7])
def test_ranks_cover_input_once_and_merge_matches_single_process(
    encoder: Encoder, inputs: dict[str, list[str]], tmp_path: Path, kind: str, world: int
) -> None:
    single = tmp_path / "single"
    embed_files(inputs[kind], single, encoder=encoder, settings=settings(encoder))
    sharded = tmp_path / "sharded"
    for rank in reversed(range(world)):  # any order
        if rank == 0 and world > 1:
            assert not job_status(sharded).complete
            with pytest.raises(Exception, match="incomplete"):
                merge(sharded, tmp_path / "early.parquet")
        embed_files(inputs[kind], sharded, encoder=encoder, settings=settings(encoder),
                    shard_index=rank, num_shards=world)  # fmt: skip
    assert (sharded / "_SUCCESS").exists()
    merge(single, tmp_path / "single.parquet")
    merge(sharded, tmp_path / "sharded.parquet")
    a = pq.read_table(tmp_path / "single.parquet")
    b = pq.read_table(tmp_path / "sharded.parquet")
    assert a.column("id").to_pylist() == b.column("id").to_pylist()  # input order, each id once
    assert a.num_rows == {"jsonl": 40, "parquet": 35, "mixed": 90}[kind]
    np.testing.assert_allclose(
        np.stack(a.column("embedding").to_numpy(zero_copy_only=False)),
        np.stack(b.column("embedding").to_numpy(zero_copy_only=False)),
        atol=1e-5,
    )


def test_merge_to_npy(encoder: Encoder, inputs: dict[str, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "o"
    for r in range(3):
        embed_files(inputs["mixed"], out, encoder=encoder, settings=settings(encoder, format="npy"),
                    shard_index=r, num_shards=3)  # fmt: skip
    merge(out, tmp_path / "all.npy")
    emb = np.load(tmp_path / "all.npy", allow_pickle=False)
    ids = pq.read_table(tmp_path / "all.ids.parquet").column("id").to_pylist()
    assert emb.shape == (90, encoder.hidden_size) and len(set(ids)) == 90


def test_incremental_embeds_only_new_and_changed(encoder: Encoder, tmp_path: Path) -> None:
    papers = list(synthetic_papers(30, seed=5, mean_words=10, sd_words=4))
    src = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "out"
    s = embed_files([str(src)], out, encoder=encoder, settings=settings(encoder), incremental=True)
    assert s.embedded == 30
    # nightly: 10 new records appended, 3 changed, the rest unchanged
    changed = {3: "a new title", 7: "another title", 21: "retitled"}
    updated = [dict(p, title=changed.get(p["id"], p["title"])) for p in papers]
    updated += list(synthetic_papers(40, seed=6, mean_words=10, sd_words=4))[30:]
    for i, p in enumerate(updated[30:]):
        p["id"] = 1000 + i
    write_jsonl(src, updated)
    rows_before = encoder.stats.rows
    s2 = embed_files([str(src)], out, encoder=encoder, settings=settings(encoder), incremental=True)
    assert encoder.stats.rows - rows_before == 13  # the encoder saw only new + changed
    assert (s2.embedded, s2.skipped, s2.changed, s2.new) == (13, 27, 3, 10)
    s3 = embed_files([str(src)], out, encoder=encoder, settings=settings(encoder), incremental=True)
    assert s3.already_done
    merge(out, tmp_path / "m.parquet")
    t = pq.read_table(tmp_path / "m.parquet")
    got = dict(zip(t.column("id").to_pylist(), t.column("embedding").to_pylist(), strict=True))
    assert sorted(got) == sorted(p["id"] for p in updated)
    fresh = tmp_path / "fresh"
    embed_files([str(src)], fresh, encoder=encoder, settings=settings(encoder))
    ref = pq.read_table(fresh)
    for i, e in zip(ref.column("id").to_pylist(), ref.column("embedding").to_pylist(), strict=True):
        np.testing.assert_allclose(got[i], e, atol=1e-5)  # newest vectors won
    assert len(OutDir(out).generations()) == 2


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (0, 1)),
        (
            {
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_MIN": "0",
                "SLURM_ARRAY_TASK_MAX": "3",
            },
            (3, 4),
        ),
        (
            {
                "SLURM_ARRAY_TASK_ID": "5",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_MIN": "5",
                "SLURM_ARRAY_TASK_MAX": "8",
            },
            (0, 4),
        ),
        ({"SLURM_PROCID": "2", "SLURM_NTASKS": "8"}, (2, 8)),
        ({"RANK": "1", "WORLD_SIZE": "2"}, (1, 2)),
        ({"JOB_COMPLETION_INDEX": "4", "SPECTER2_NUM_SHARDS": "6"}, (4, 6)),
    ],
)
def test_rank_detection(env: dict[str, str], expected: tuple[int, int]) -> None:
    r = detect_rank(env=env)
    assert (r.rank, r.world) == expected


def test_explicit_flags_win_and_bad_ranks_are_usage_errors() -> None:
    from specter2_cli.errors import UsageError

    env = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MAX": "3"}
    assert detect_rank(1, 2, env=env).rank == 1
    assert detect_rank(None, 6, env={"JOB_COMPLETION_INDEX": "5"}).rank == 5
    with pytest.raises(UsageError):
        detect_rank(4, 4, env={})
    with pytest.raises(UsageError, match="gaps"):
        detect_rank(
            env={
                "SLURM_ARRAY_TASK_ID": "2",
                "SLURM_ARRAY_TASK_COUNT": "3",
                "SLURM_ARRAY_TASK_MIN": "0",
                "SLURM_ARRAY_TASK_MAX": "4",
            }
        )


@pytest.mark.slow
def test_devices_runs_one_worker_per_device(
    tiny_models: dict[str, Path], encoder: Encoder, inputs: dict[str, list[str]], tmp_path: Path
) -> None:
    import subprocess
    import sys

    from specter2_cli.multi import strip_options

    assert strip_options(["a", "--devices", "x", "--device=cpu", "--num-shards", "3", "b"]) == [
        "a",
        "b",
    ]
    out = tmp_path / "multi"
    cmd = [sys.executable, "-m", "specter2_cli", "embed", *inputs["mixed"], "-o", str(out),
           "--base-model", str(tiny_models["base"]), "--adapter-path", str(tiny_models["proximity"]),
           "--devices", "cpu,cpu", "--shard-size", "9", "--no-progress"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    st = job_status(out)
    assert st.complete and len(st.ranks) == 2
    single = tmp_path / "single"
    embed_files(inputs["mixed"], single, encoder=encoder, settings=settings(encoder))
    merge(out, tmp_path / "a.parquet")
    merge(single, tmp_path / "b.parquet")
    a, b = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    assert a.column("id").to_pylist() == b.column("id").to_pylist()


def test_devices_share_the_cpus_among_workers() -> None:
    from specter2_cli.multi import share_workers

    assert share_workers(16, 4) == ["--workers", "3"]  # 4 CPUs each: 3 tokenizing, 1 device loop
    assert share_workers(16, 1) == ["--workers", "15"]
    assert share_workers(2, 8) == ["--workers", "1"]
