"""Pipeline behaviour on the fake encoder (no model): batches, windows, shards, dedupe, incremental.

Every vector is checked against the fake model's output for the record's own text, so a
record written under the wrong id, twice, or not at all is caught.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings
from tests.fakes import FakeEncoder, reference


def paper(i: int, words: int = 5, salt: str = "") -> dict[str, Any]:
    body = " ".join(f"w{i}x{k}{salt}" for k in range(words - 1))
    return {"id": i, "title": f"t{i}", "abstract": body}


def write(path: Path, records: list[Any]) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(path)


def run(inputs: list[str], out: Path, enc: FakeEncoder, **kw: Any) -> Any:
    opts = {k: kw.pop(k) for k in list(kw) if k in ("incremental", "overwrite")}
    settings = EmbedSettings(model=enc.settings, **kw)
    return embed_files(inputs, out, encoder=enc, settings=settings, **opts)


def output(out: Path) -> dict[Any, np.ndarray]:
    t = pq.read_table(out)
    ids = t.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "an id written twice"
    emb = np.asarray(t.column("embedding").to_pylist(), dtype=np.float32)
    return dict(zip(ids, emb, strict=True))


def assert_matches(out: Path, records: list[dict[str, Any]]) -> None:
    got = output(out)
    assert sorted(got) == sorted(r["id"] for r in records)
    for r in records:
        np.testing.assert_array_equal(got[r["id"]], reference(f"{r['title']}[SEP]{r['abstract']}"))


def test_token_budget_decides_the_batches(tmp_path: Path) -> None:
    # every text is 8 tokens ([CLS] title [SEP] 4 words [SEP]): width 8, 64 // 8 = 8 rows a batch
    records = [paper(i) for i in range(50)]
    enc = FakeEncoder()
    s = run([write(tmp_path / "p.jsonl", records)], tmp_path / "out", enc,
            batch_tokens=64, sort_window=20, shard_size=1000)  # fmt: skip
    assert enc.windows == [20, 20, 10]
    assert enc.batch_shapes == [(8, 8)] * 2 + [(4, 8)] + [(8, 8)] * 2 + [(4, 8)] + [(8, 8), (2, 8)]
    assert s.embedded == 50 and s.padded_tokens == s.real_tokens == 50 * 8
    assert_matches(tmp_path / "out", records)


def test_long_and_short_records_are_sorted_into_separate_batches(tmp_path: Path) -> None:
    records = [paper(i, words=40 if i % 2 else 3) for i in range(16)]
    enc = FakeEncoder()
    s = run([write(tmp_path / "p.jsonl", records)], tmp_path / "out", enc,
            batch_tokens=200, sort_window=16, max_batch_rows=100)  # fmt: skip
    widths = [w for _, w in enc.batch_shapes]
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == 2
    assert s.padding_efficiency == (43 + 6) / (48 + 8)  # widths rounded up to multiples of 8
    assert_matches(tmp_path / "out", records)


@pytest.mark.parametrize(("shard_size", "window"), [(7, 3), (10, 10), (5, 50), (64, 9)])
def test_windows_never_cross_a_shard_and_shards_have_fixed_size(
    tmp_path: Path, shard_size: int, window: int
) -> None:
    records = [paper(i) for i in range(40)]
    enc = FakeEncoder()
    s = run([write(tmp_path / "p.jsonl", records)], tmp_path / "out", enc,
            shard_size=shard_size, sort_window=window)  # fmt: skip
    sizes = [
        pq.read_metadata(p).num_rows for p in sorted((tmp_path / "out").glob("part-*.parquet"))
    ]
    expected = [shard_size] * (40 // shard_size) + ([40 % shard_size] if 40 % shard_size else [])
    assert sizes == expected and s.shards == len(expected)
    assert max(enc.windows) <= window
    # windows add up to each shard exactly: no window spans two shards
    bounds = np.cumsum(expected).tolist()
    assert set(bounds) <= set(np.cumsum(enc.windows).tolist())
    assert_matches(tmp_path / "out", records)


def test_duplicate_ids_keep_the_first_record(tmp_path: Path) -> None:
    first = [paper(i) for i in range(6)]
    again = [paper(2, salt="b"), paper(4, salt="c")]
    enc = FakeEncoder()
    s = run([write(tmp_path / "p.jsonl", [*first, *again])], tmp_path / "out", enc,
            on_error="skip", sort_window=4)  # fmt: skip
    assert s.embedded == 6 and s.rejected == 2
    assert_matches(tmp_path / "out", first)
    rejects = [
        json.loads(x) for x in (tmp_path / "out" / "_rejects.jsonl").read_text().splitlines()
    ]
    assert [(r["id"], r["location"]) for r in rejects] == [(2, "line 7"), (4, "line 8")]
    assert all("duplicate id" in r["reason"] for r in rejects)


def test_incremental_embeds_only_new_and_changed_records(tmp_path: Path) -> None:
    day1 = [paper(i) for i in range(10)]
    day2 = [*day1[:7], paper(7, salt="new text"), *day1[8:], paper(10), paper(11)]
    enc = FakeEncoder()
    out = tmp_path / "out"
    run([write(tmp_path / "d1.jsonl", day1)], out, enc, incremental=True)
    rows_before = enc.stats.rows
    s = run([write(tmp_path / "d2.jsonl", day2)], out, enc, incremental=True)
    assert enc.stats.rows - rows_before == 3  # the changed one and two new ones, nothing else
    assert (s.embedded, s.skipped, s.changed, s.new) == (3, 9, 1, 2)
    from specter2_cli.merge import merge

    merge(out, tmp_path / "all.parquet")
    got = dict(zip(*(pq.read_table(tmp_path / "all.parquet").column(c).to_pylist()
                     for c in ("id", "embedding")), strict=True))  # fmt: skip
    assert sorted(got) == list(range(12))
    for r in day2:
        want = reference(f"{r['title']}[SEP]{r['abstract']}")
        np.testing.assert_array_equal(np.asarray(got[r["id"]], np.float32), want)
