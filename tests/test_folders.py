"""Folders of mixed formats: ranks cover every record once; kill -9 and resume over a folder."""

from __future__ import annotations

import csv
import gzip
import json
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings, FieldSettings, ModelSettings
from specter2_cli.inputs import Record, RecordStream, RecordValidator, plan_slices, resolve_inputs
from specter2_cli.merge import merge
from specter2_cli.model.encoder import Encoder
from specter2_cli.model.loader import load_encoder
from specter2_cli.synthetic import synthetic_papers
from tests import formats_data as fd
from tests.test_resume import run, table_by_id

N_PLAIN = 60


def mixed_folder(root: Path) -> list[Any]:
    """Every format in one tree; returns every id written (strings; PMIDs as str)."""
    papers = [
        dict(p, id=f"p{p['id']}")
        for p in synthetic_papers(N_PLAIN + 40, seed=3, mean_words=15, sd_words=8)
    ]
    root.mkdir()
    ids: list[Any] = []
    with (root / "a.csv").open("w", newline="") as fh:  # first in sorted order: string ids
        w = csv.writer(fh)
        w.writerow(["id", "title", "abstract"])
        for p in papers[:10]:
            w.writerow([p["id"], p["title"], p["abstract"]])
    ids += [p["id"] for p in papers[:10]]
    (root / "b").mkdir()
    fd.write_equivalent(root / "b" / "plain.jsonl", papers[10 : 10 + N_PLAIN])
    ids += [p["id"] for p in papers[10 : 10 + N_PLAIN]]
    chunk = "".join(json.dumps(p) + "\n" for p in papers[70:80])
    (root / "b" / "c.json.gz").write_bytes(gzip.compress(chunk.encode()))
    ids += [p["id"] for p in papers[70:80]]
    fd.write_zstd_jsonl(root / "b" / "d.jsonl.zst", papers[80:90])
    ids += [p["id"] for p in papers[80:90]]
    pq.write_table(pa.Table.from_pylist(papers[90:100]), root / "e.parquet", row_group_size=3)
    ids += [p["id"] for p in papers[90:100]]
    fd.write_pubmed(root / "f.xml.gz")
    ids += [str(r["id"]) for r in fd.PUBMED_EXPECTED]
    ids += [r["id"] for r in fd.write_core(root / "g")]
    ids += [r["id"] for r in fd.write_openalex(root / "h")]
    return ids


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    root = tmp_path_factory.mktemp("mixed") / "corpus"
    return root, mixed_folder(root)


def test_ranks_cover_every_record_of_a_mixed_folder_once(folder: tuple[Path, list[Any]]) -> None:
    root, ids = folder
    files = resolve_inputs([str(root)])
    assert [f.kind for f in files[:2]] == ["csv", "jsonl"]
    validator = RecordValidator(FieldSettings(), False, "[SEP]", "string")
    for world in (1, 3, 7):
        read: list[Any] = []
        for rank in range(world):
            stream = RecordStream(files, plan_slices(files, rank, world), validator)
            read += [r.id for r, _ in stream if isinstance(r, Record)]
        assert sorted(read) == sorted(ids), f"world {world}"
        assert len(read) == len(set(read))


@pytest.fixture(scope="module")
def encoder(tiny_models: dict[str, Path]) -> Encoder:
    return load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        )
    )


@pytest.mark.parametrize("world", [3, 7])
def test_ranks_over_a_folder_merge_to_the_single_run(
    encoder: Encoder, folder: tuple[Path, list[Any]], tmp_path: Path, world: int
) -> None:
    root, ids = folder
    s = EmbedSettings(model=encoder.settings, shard_size=7, sort_window=5)
    embed_files([str(root)], tmp_path / "single", encoder=encoder, settings=s)
    for rank in range(world):
        embed_files([str(root)], tmp_path / "sharded", encoder=encoder, settings=s,
                    shard_index=rank, num_shards=world)  # fmt: skip
    merge(tmp_path / "single", tmp_path / "single.parquet")
    merge(tmp_path / "sharded", tmp_path / "sharded.parquet")
    a = pq.read_table(tmp_path / "single.parquet")
    b = pq.read_table(tmp_path / "sharded.parquet")
    assert a.column("id").to_pylist() == b.column("id").to_pylist()
    assert sorted(a.column("id").to_pylist()) == sorted(ids)
    np.testing.assert_allclose(
        np.stack(a.column("embedding").to_numpy(zero_copy_only=False)),
        np.stack(b.column("embedding").to_numpy(zero_copy_only=False)),
        atol=1e-5,
    )


OPTS = ["--shard-size", "8", "--sort-window", "4", "--batch-tokens", "1024"]


@pytest.mark.slow
def test_kill9_and_resume_over_a_folder(
    tiny_models: dict[str, Path], folder: tuple[Path, list[Any]], tmp_path: Path
) -> None:
    """Killed twice mid-run, resumed with the same files listed in --inputs-from instead of
    the folder (the same input, so the same job): the result is the uninterrupted one."""
    root, ids = folder
    clean = tmp_path / "clean"
    code, log = run(tiny_models, "embed", str(root), "-o", str(clean), *OPTS)
    assert code == 0, log
    out = tmp_path / "out"
    for fault in ("batch:4", "after_rename:3"):
        code, log = run(tiny_models, "embed", str(root), "-o", str(out), *OPTS, fault=fault)
        assert code == -signal.SIGKILL, log
    listing = tmp_path / "files.txt"
    listing.write_text("".join(f.path + "\n" for f in resolve_inputs([str(root)])))
    code, log = run(tiny_models, "embed", "--inputs-from", str(listing), "-o", str(out), *OPTS)
    assert code == 0, log
    got, want = table_by_id(out), table_by_id(clean)
    assert sorted(got) == sorted(want) == sorted(ids)
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v)
