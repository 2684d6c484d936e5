"""Invariants that a deliberate break cannot pass, checked against brute-force answers.

Fake encoder only (tests/fakes.py): every vector is the fake model's output for the
record's own text, so a row under the wrong id, a row twice or a lost row shows. A
session-scoped OUTDIR of 3 ranks with ids repeated across ranks serves several tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from specter2_cli.api import embed_files
from specter2_cli.cli import app
from specter2_cli.config import EmbedSettings
from specter2_cli.errors import EXIT_INPUT, EXIT_USAGE, InputError, LockHeld, UsageError
from specter2_cli.merge import merge
from specter2_cli.reader import read_embeddings
from specter2_cli.store.keys import KeySet
from tests.fakes import FakeEncoder, reference

runner = CliRunner()


def text(r: dict[str, Any]) -> str:
    return f"{r['title']}[SEP]{r['abstract']}"


def write(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def records_with_cross_rank_duplicates() -> list[dict[str, Any]]:
    """90 records; ids 3 and 7 appear again near the end (another rank), with other text."""
    recs = [{"id": i, "title": f"t{i}", "abstract": f"a{i} b c"} for i in range(90)]
    recs.insert(85, {"id": 3, "title": "later copy", "abstract": "of three"})
    recs.insert(60, {"id": 7, "title": "later copy", "abstract": "of seven"})
    return recs


@pytest.fixture(scope="session")
def ranked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """An OUTDIR written by 3 ranks (each with its own run), and its input records."""
    root = tmp_path_factory.mktemp("ranked")
    recs = records_with_cross_rank_duplicates()
    src = write(root / "in.jsonl", recs)
    out = root / "out"
    for r in range(3):
        embed_files([src], out, encoder=FakeEncoder(), shard_index=r, num_shards=3,
                    settings=EmbedSettings(model=FakeEncoder().settings, shard_size=7))  # fmt: skip
    return out, recs


def first_occurrence(recs: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Brute force: each id's record as the one rule says (first in input order)."""
    out: dict[Any, dict[str, Any]] = {}
    for r in recs:
        out.setdefault(r["id"], r)
    return out


# ----------------------------------------------------------------- exactly once over ranks


def test_ranks_write_every_input_line_exactly_once_before_merge(ranked: Any) -> None:
    out, recs = ranked
    raw = pq.read_table(out, columns=["id", "input_pos"])  # every rank's shards, no dedupe
    assert raw.num_rows == len(recs)  # the cross-rank copies included: nothing dropped twice
    assert sorted(raw.column("id").to_pylist()) == sorted(r["id"] for r in recs)
    pos = raw.column("input_pos").to_pylist()
    assert len(set(pos)) == len(pos)  # no input line read by two ranks


def test_parquet_row_groups_have_exactly_one_owner(tmp_path: Path) -> None:
    import pyarrow as pa

    recs = [{"id": i, "title": f"t{i}", "abstract": "x y"} for i in range(48)]
    src = tmp_path / "in.parquet"
    # 12 row groups over 3 ranks: groups 4 and 8 start exactly on a rank boundary
    pq.write_table(pa.Table.from_pylist(recs), src, row_group_size=4)
    out = tmp_path / "out"
    for r in range(3):
        embed_files([str(src)], out, encoder=FakeEncoder(), shard_index=r, num_shards=3,
                    settings=EmbedSettings(model=FakeEncoder().settings))  # fmt: skip
    ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(48))  # raw shards: a row group read twice shows here


def test_whole_files_have_exactly_one_owner(tmp_path: Path) -> None:
    """CSV (like gzip) is owned whole; three files of one size start on rank boundaries."""
    paths = []
    for f in range(3):
        rows = "".join(f"{f}{i:02d},title {f}{i:02d},abstract\n" for i in range(10))
        p = tmp_path / f"part{f}.csv"
        p.write_text("id,title,abstract\n" + rows)
        paths.append(str(p))
    assert len({Path(p).stat().st_size for p in paths}) == 1
    out = tmp_path / "out"
    for r in range(3):
        embed_files(paths, out, encoder=FakeEncoder(), shard_index=r, num_shards=3,
                    settings=EmbedSettings(model=FakeEncoder().settings))  # fmt: skip
    ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == sorted(f"{f}{i:02d}" for f in range(3) for i in range(10))


def test_a_shard_renamed_into_place_but_not_in_the_manifest_is_rewritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the rename and the manifest: the leftover is swept (and logged) and
    the resumed run writes it again, equal to an uninterrupted run."""
    import logging

    # the CLI's setup_logging (run by other tests) stops propagation to caplog's handler
    monkeypatch.setattr(logging.getLogger("specter2"), "propagate", True)
    recs = [{"id": i, "title": f"t{i}", "abstract": "x y"} for i in range(25)]
    src = write(tmp_path / "in.jsonl", recs)
    settings = EmbedSettings(model=FakeEncoder().settings, shard_size=10)
    out = tmp_path / "out"
    embed_files([src], out, encoder=FakeEncoder(), settings=settings)
    clean = read_embeddings(out)
    manifest = out / "_specter2" / "g0000-r00000.json"
    m = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**m, "shards": m["shards"][:1], "done": False}))
    (out / "_SUCCESS").unlink()
    with caplog.at_level("INFO", logger="specter2"):
        s = embed_files([src], out, encoder=FakeEncoder(), settings=settings)
    assert s.embedded == 15
    assert "removed 2 uncommitted files" in caplog.text and "part-00001.parquet" in caplog.text
    again = read_embeddings(out)
    assert again.ids.tolist() == clean.ids.tolist()
    np.testing.assert_array_equal(again.embeddings, clean.embeddings)


# ----------------------------------------------------------------- one rule for repeated ids


def test_merge_reader_and_search_keep_the_same_row_per_id(ranked: Any, tmp_path: Path) -> None:
    from specter2_cli.search import open_corpus, search_corpus

    out, recs = ranked
    want = first_occurrence(recs)
    emb = read_embeddings(out)
    assert sorted(emb.ids.tolist()) == sorted(want)
    for i, v in zip(emb.ids.tolist(), emb.embeddings, strict=True):
        np.testing.assert_array_equal(v, reference(text(want[i])))
    # merge: the same rows; and the merged file reads back through read_embeddings
    for name in ("m.parquet", "m.npy"):
        merge(out, tmp_path / name)
        got = read_embeddings(tmp_path / name)
        assert got.ids.tolist() == emb.ids.tolist()
        np.testing.assert_array_equal(got.embeddings, emb.embeddings)
    # search: each id once, and the exact top-k of the deduplicated rows
    queries = np.stack([reference(text(want[i])) for i in (3, 7, 11)])
    hits = search_corpus(open_corpus(out), queries, k=len(want) + 5)
    brute = emb.embeddings.astype(np.float64)
    for q, row in zip(queries, hits, strict=True):
        ids = [i for i, _ in row]
        assert len(ids) == len(set(ids)) == len(want)  # no id twice, none lost
        d = np.linalg.norm(brute - q.astype(np.float64), axis=1)
        assert ids[:5] == [emb.ids[j] for j in np.argsort(d, kind="stable")[:5]]
    assert hits[0][0][0] == 3 and hits[0][0][1] == pytest.approx(0.0, abs=1e-5)


def test_incremental_newest_generation_wins_everywhere(tmp_path: Path) -> None:
    from specter2_cli.search import open_corpus, search_corpus

    day1 = [{"id": i, "title": f"t{i}", "abstract": "old"} for i in range(6)]
    day2 = [{"id": i, "title": f"t{i}", "abstract": "new"} for i in (2, 4)] + [
        {"id": 9, "title": "t9", "abstract": "new"}
    ]
    out = tmp_path / "out"
    embed_files([write(tmp_path / "d1.jsonl", day1)], out, encoder=FakeEncoder(),
                settings=EmbedSettings(model=FakeEncoder().settings))  # fmt: skip
    embed_files([write(tmp_path / "d2.jsonl", day2)], out, encoder=FakeEncoder(), incremental=True,
                settings=EmbedSettings(model=FakeEncoder().settings))  # fmt: skip
    want = {r["id"]: r for r in day1} | {r["id"]: r for r in day2}
    emb = read_embeddings(out)
    assert sorted(emb.ids.tolist()) == sorted(want)
    for i, v in zip(emb.ids.tolist(), emb.embeddings, strict=True):
        np.testing.assert_array_equal(v, reference(text(want[i])))
    merge(out, tmp_path / "m.parquet")
    assert read_embeddings(tmp_path / "m.parquet").ids.tolist() == emb.ids.tolist()
    hits = search_corpus(open_corpus(out), reference(text(want[2]))[None], k=20)[0]
    assert len(hits) == len(want) and hits[0][0] == 2 and hits[0][1] == pytest.approx(0, abs=1e-5)


# ----------------------------------------------------------------- damaged OUTDIRs, --to


def test_a_damaged_outdir_is_an_input_error_for_every_reader(ranked: Any, tmp_path: Path) -> None:
    import shutil

    from specter2_cli.search import open_corpus

    src, _ = ranked
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    victim = sorted(out.glob("part-r00001-*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # cut short
    with pytest.raises(InputError, match="damaged"):
        read_embeddings(out)
    with pytest.raises(InputError, match=victim.name):
        open_corpus(out)
    r = runner.invoke(app, ["export", str(out), "--to", str(tmp_path / "i.faiss")])
    assert r.exit_code == EXIT_INPUT and "Traceback" not in r.output, r.output


def test_merge_and_export_refuse_a_target_inside_outdir(ranked: Any) -> None:
    out, _ = ranked
    before = sorted(p.name for p in out.iterdir())
    for cmd in (["merge", str(out), "--to", str(out / "all.parquet")],
                ["merge", str(out), "--to", str(out / "sub" / "all.npy")],
                ["export", str(out), "--to", str(out / "i.faiss")]):  # fmt: skip
        r = runner.invoke(app, cmd)
        assert r.exit_code == EXIT_USAGE and "inside the output folder" in r.output, r.output
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_second_merge_to_the_same_file_is_refused(ranked: Any, tmp_path: Path) -> None:
    from specter2_cli.store.targets import target_lock

    out, _ = ranked
    target = tmp_path / "m.parquet"
    with target_lock(target, "a merge in another process"), pytest.raises(LockHeld):
        merge(out, target)
    assert not target.exists() and not list(tmp_path.glob(".m.parquet.tmp*"))
    merge(out, target)  # the lock is gone with its holder
    assert len(read_embeddings(target)) == 90


def test_search_index_refuses_an_id_map_of_another_export(ranked: Any, tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    from specter2_cli.index import id_map_path, load_index, write_index

    out, _ = ranked
    emb = read_embeddings(out)
    write_index(emb, tmp_path / "a.faiss")
    half = type(emb)(emb.ids[:40], emb.embeddings[:40], emb.id_keys[:40], emb.metadata)
    write_index(half, tmp_path / "b.faiss")
    assert len(load_index(tmp_path / "a.faiss").keys) == 90
    id_map_path(tmp_path / "a.faiss").write_bytes(id_map_path(tmp_path / "b.faiss").read_bytes())
    with pytest.raises(UsageError, match="does not belong to this index"):
        load_index(tmp_path / "a.faiss")


# ----------------------------------------------------------------- key sets, batches


def test_key_set_is_exact_past_many_flushes() -> None:
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, 2**64 - 1, size=150_000, dtype=np.uint64))
    ks = KeySet()
    for k in keys[:140_000].tolist():
        ks.add(k)
    assert len(ks) == 140_000
    present = keys[:140_000:97].tolist()
    absent = keys[140_000:].tolist()
    assert all(k in ks for k in present)
    assert not any(k in ks for k in absent)
    assert all(k in ks for k in keys[65_530:65_540].tolist())  # around the first flush


def test_batches_never_exceed_the_token_budget(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    recs = [{"id": i, "title": f"t{i}", "abstract": " ".join(["w"] * int(rng.integers(0, 60)))}
            for i in range(300)]  # fmt: skip
    enc = FakeEncoder()
    budget, max_rows = 256, 8  # both bind: short rows by max_rows, long ones by the budget
    embed_files([write(tmp_path / "in.jsonl", recs)], tmp_path / "out", encoder=enc,
                settings=EmbedSettings(model=enc.settings, batch_tokens=budget,
                                       max_batch_rows=max_rows))  # fmt: skip
    assert enc.batch_shapes and sum(rows for rows, _ in enc.batch_shapes) == 300
    for rows, length in enc.batch_shapes:
        assert rows * length <= budget and rows <= max_rows, (rows, length)


# ----------------------------------------------------------------- commit and rename


def test_a_committed_shard_renamed_afterwards_is_damage(ranked: Any, tmp_path: Path) -> None:
    import shutil

    from specter2_cli.status import job_status

    src, _ = ranked
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    assert job_status(out).complete
    victim = sorted(out.glob("part-r00002-*.parquet"))[-1]
    victim.rename(victim.with_name("renamed.parquet"))
    st = job_status(out)
    assert not st.complete and [r.state for r in st.ranks].count("damaged") == 1
    with pytest.raises(UsageError, match="incomplete"):
        merge(out, tmp_path / "m.parquet")


# ----------------------------------------------------------------- --devices exit codes


@pytest.mark.parametrize(
    ("codes", "want"),
    [
        ([0, 0], 0),
        ([0, 75], 75),
        ([0, -9], 75),  # OOM-killed or preempted: resumable, SLURM requeues on 75
        ([-15, 0], 75),
        ([75, 3], 3),  # a worker's own error wins: a rerun would not help
        ([-9, 4], 4),
        ([2, 0], 2),
        ([1, 75], 1),
        ([130, 75], 130),
    ],
)
def test_devices_parent_exit_code(codes: list[int], want: int) -> None:
    from specter2_cli.multi import combine_exit_codes

    code, lines = combine_exit_codes(codes, [f"cuda:{i}" for i in range(len(codes))])
    assert code == want
    assert len(lines) == sum(c != 0 for c in codes)  # every worker that did not finish is named
    if -9 in codes:
        assert any("SIGKILL" in line and "cuda:" in line for line in lines)


def test_success_only_when_every_rank_is_done(tmp_path: Path) -> None:
    from specter2_cli.status import job_status

    src = write(
        tmp_path / "in.jsonl", [{"id": i, "title": f"t{i}", "abstract": "x"} for i in range(30)]
    )
    out = tmp_path / "out"
    for r in (2, 0, 1):
        assert not (out / "_SUCCESS").exists() and not (out.exists() and job_status(out).complete)
        embed_files([src], out, encoder=FakeEncoder(), shard_index=r, num_shards=3,
                    settings=EmbedSettings(model=FakeEncoder().settings))  # fmt: skip
    assert (out / "_SUCCESS").exists() and job_status(out).complete


def test_a_users_file_named_like_the_merge_lock_is_left_alone(ranked: Any, tmp_path: Path) -> None:
    out, _ = ranked
    target = tmp_path / "m.parquet"
    mine = tmp_path / ".m.parquet.specter2-lock"
    mine.write_text("my notes\nline two\n")
    with pytest.raises(UsageError, match="not written by specter2"):
        merge(out, target)
    assert mine.read_text() == "my notes\nline two\n" and not target.exists()
    mine.unlink()
    merge(out, target)
    assert len(read_embeddings(target)) == 90 and not mine.exists()
