"""An operator review's findings: a failing --overwrite keeps the old output, emptiness is
judged over the whole job, merges and exports leave no temp files, damaged shards are found.

In-process on the fake encoder (tests/fakes.py): the file takes about a second.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings
from specter2_cli.errors import InputError
from specter2_cli.store.outdir import ASIDE, OutDir
from tests.fakes import FakeEncoder


def paper(i: int) -> dict[str, Any]:
    return {"id": i, "title": f"t{i}", "abstract": f"w{i} a b c"}


def write(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def run(inputs: list[str], out: Path, **kw: Any) -> Any:
    enc = FakeEncoder()
    return embed_files(inputs, out, encoder=enc, settings=EmbedSettings(model=enc.settings), **kw)


def rows_of(out: Path) -> dict[Any, list[float]]:
    t = pq.read_table(out)
    return dict(zip(t.column("id").to_pylist(), t.column("embedding").to_pylist(), strict=True))


def broken_inputs(tmp_path: Path) -> dict[str, str]:
    """Inputs a failed download leaves: all pass a size check, none holds a usable record
    (the truncated one holds some, then ends mid-stream)."""
    empty_gz = tmp_path / "empty.jsonl.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n")
    full = gzip.compress("".join(json.dumps(paper(i)) + "\n" for i in range(3000)).encode())
    trunc = tmp_path / "trunc.jsonl.gz"
    trunc.write_bytes(full[: len(full) // 2])
    return {"empty gzip": str(empty_gz), "one newline": str(blank), "truncated gzip": str(trunc)}


# ----------------------------------------------------------------- --overwrite


def test_a_failing_overwrite_leaves_the_old_output_readable(tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(50)])
    out = tmp_path / "out"
    run([src], out)
    before = rows_of(out)
    assert len(before) == 50
    for what, bad in broken_inputs(tmp_path).items():
        with pytest.raises(InputError):
            run([bad], out, overwrite=True)
        assert rows_of(out) == before, what
        assert (out / "_SUCCESS").exists() and not (out / ASIDE).exists(), what
        assert run([src], out).already_done, what  # the old job is whole again
    # a good --overwrite replaces it, and nothing is left aside
    src2 = write(tmp_path / "in2.jsonl", [paper(i) for i in range(100, 110)])
    run([src2], out, overwrite=True)
    assert sorted(rows_of(out)) == list(range(100, 110))
    assert not (out / ASIDE).exists()


def test_a_run_killed_after_overwrite_moved_the_old_output_gets_it_back(tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(20)])
    out = tmp_path / "out"
    run([src], out)
    before = rows_of(out)
    OutDir(out).wipe()  # what a run killed -9 right after the move leaves
    assert (out / ASIDE).is_dir() and not (out / "_specter2").exists()
    from specter2_cli.errors import UsageError
    from specter2_cli.status import job_status

    with pytest.raises(UsageError, match="put back by the next"):  # status says what to do
        job_status(out)
    assert run([src], out).already_done  # the next run puts it back and finds it complete
    assert rows_of(out) == before and not (out / ASIDE).exists()


# ----------------------------------------------------------------- emptiness of the job


def test_an_empty_input_fails_on_every_rank(tmp_path: Path) -> None:
    for what, bad in broken_inputs(tmp_path).items():
        if what == "truncated gzip":
            continue  # holds records: its damage is found by the rank that reads it
        out = tmp_path / f"ranks-{what.replace(' ', '_')}"
        for r in range(2):
            with pytest.raises(InputError, match="no records"):
                run([bad], out, shard_index=r, num_shards=2)
        assert not (out / "_SUCCESS").exists(), what
        # --allow-empty says it is fine: then both ranks finish
        for r in range(2):
            run([bad], out, shard_index=r, num_shards=2, allow_empty=True)
        assert (out / "_SUCCESS").exists(), what


def test_an_empty_nightly_file_does_not_block_later_incremental_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    n1 = write(tmp_path / "n1.jsonl", [paper(i) for i in range(5)])
    run([n1], out, incremental=True)
    empty = tmp_path / "n2.jsonl.gz"
    empty.write_bytes(gzip.compress(b""))
    with pytest.raises(InputError, match="no records"):
        run([str(empty)], out, incremental=True)
    assert (out / "_SUCCESS").exists()  # the job is still complete: nothing was opened
    assert len(OutDir(out).generations()) == 1
    n3 = write(tmp_path / "n3.jsonl", [paper(i) for i in range(5, 8)])
    s = run([n3], out, incremental=True)
    assert s.embedded == 3 and (out / "_SUCCESS").exists()
    assert sorted(rows_of(out)) == list(range(8))


# ----------------------------------------------------------------- -o, globs


def test_output_naming_a_file_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    from specter2_cli.errors import OutputError

    src = write(tmp_path / "in.jsonl", [paper(0)])
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not a folder"):
            run([src], target, overwrite=overwrite)
    assert target.read_text() == "mine"


def test_a_glob_that_matches_a_fifo_names_it(tmp_path: Path) -> None:
    import os

    d = tmp_path / "fdir"
    d.mkdir()
    write(d / "a.jsonl", [paper(0)])
    os.mkfifo(d / "b.jsonl")
    with pytest.raises(InputError, match=r"b\.jsonl: is a named pipe"):
        run([str(d / "*.jsonl")], tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------- merge, export, reader


def test_a_merge_removes_the_temp_files_a_killed_merge_left(tmp_path: Path) -> None:
    from specter2_cli.merge import merge

    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(6)])
    out = tmp_path / "out"
    run([src], out)
    dest = tmp_path / "dest"
    dest.mkdir()
    left = [".m.parquet.tmp.othernode.4242", ".m.npy.tmp.othernode.1", ".m.ids.parquet.tmp.n.2"]
    mine = [
        "m.parquet.tmp.x",
        ".m.parquet.tmpfile",
        ".other.parquet.tmp.n.1",
        "notes.txt",
        ".m.parquet.tmp.backup",
    ]
    for name in left + mine:
        (dest / name).write_bytes(b"x" * 10)
    merge(out, dest / "m.parquet")
    merge(out, dest / "m.npy")
    present = {p.name for p in dest.iterdir()}
    assert not present & set(left)
    assert set(mine) <= present  # names the tool does not give are never touched
    assert sorted(rows_of_file(dest / "m.parquet")) == list(range(6))


def rows_of_file(path: Path) -> list[Any]:
    return list(pq.read_table(path).column("id").to_pylist())


def test_an_export_that_fails_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specter2_cli import index as index_mod
    from specter2_cli.reader import read_embeddings

    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(6)])
    out = tmp_path / "out"
    run([src], out)
    emb = read_embeddings(out)

    def full_disk(*a: Any, **k: Any) -> None:
        raise OSError(28, "No space left on device")

    # the index is written, then writing its id map fails
    monkeypatch.setattr(index_mod.pq, "write_table", full_disk)
    with pytest.raises(OSError):
        index_mod.write_index(emb, tmp_path / "x.usearch")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out"]


def test_reading_a_merged_file_of_zero_rows(tmp_path: Path) -> None:
    from specter2_cli.merge import merge
    from specter2_cli.reader import read_embeddings

    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n")
    out = tmp_path / "empty"
    run([str(blank)], out, allow_empty=True)
    merge(out, tmp_path / "empty.parquet")
    e = read_embeddings(tmp_path / "empty.parquet")
    assert len(e.ids) == 0 and len(e.id_keys) == 0
    assert e.embeddings.shape[0] == 0


# ----------------------------------------------------------------- shards damaged in place


def _damage(path: Path, at: int, n: int) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(b"\0" * n)
    assert path.stat().st_size == size  # the same size: a size check cannot see it


def test_a_shard_damaged_in_place_is_never_read_as_vectors(tmp_path: Path) -> None:
    import shutil

    from specter2_cli.merge import merge
    from specter2_cli.reader import read_embeddings
    from specter2_cli.status import job_status

    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(200)])
    out = tmp_path / "out"
    run([src], out)
    ref = rows_of(out)
    shard = out / "part-00000.parquet"
    shutil.copytree(out, tmp_path / "mid")
    # the footer overwritten: status sees it, and the rerun re-embeds the shard
    size = shard.stat().st_size
    footer = int.from_bytes(shard.read_bytes()[-8:-4], "little")
    _damage(shard, size - 8 - footer, 40)
    assert not job_status(out).complete
    s = run([src], out)
    assert not s.already_done and rows_of(out) == ref
    # zeros inside the pages: every reader refuses it (never other vectors)
    mid = tmp_path / "mid" / "part-00000.parquet"
    col = pq.read_metadata(mid).row_group(0).column(1)  # the embeddings' pages
    assert col.path_in_schema.startswith("embedding")
    _damage(mid, col.data_page_offset + 291, 8)
    # a plain read gives other vectors without a word: what the page checksums are for
    plain = pq.read_table(mid, page_checksum_verification=False).column("embedding")
    assert plain.to_pylist() != [ref[i] for i in range(200)]
    with pytest.raises(InputError, match="damaged"):
        merge(tmp_path / "mid", tmp_path / "m.parquet")
    with pytest.raises(InputError, match="damaged"):
        read_embeddings(tmp_path / "mid")
    assert not (tmp_path / "m.parquet").exists()


def test_an_empty_incremental_run_from_stdin_is_forgotten(tmp_path: Path) -> None:
    import io

    from specter2_cli.merge import merge

    out = tmp_path / "out"
    n1 = write(tmp_path / "n1.jsonl", [paper(i) for i in range(4)])
    run([n1], out, incremental=True)
    with pytest.raises(InputError, match="no records"):
        run(["-"], out, incremental=True, stdin=io.BytesIO(b"\n"))
    assert (out / "_SUCCESS").exists() and len(OutDir(out).generations()) == 1
    merge(out, tmp_path / "m.parquet")  # not "interrupted"
    s = run(["-"], out, incremental=True, stdin=io.BytesIO(json.dumps(paper(9)).encode()))
    assert s.embedded == 1 and (out / "_SUCCESS").exists()
    assert sorted(rows_of(out)) == [0, 1, 2, 3, 9]


# ----------------------------------------------------------------- --inputs-from, symlinks


def test_an_inputs_from_list_leaves_out_the_outdirs_own_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from specter2_cli.cli import app

    data = tmp_path / "data"
    data.mkdir()
    src = data / "a.jsonl"
    src.write_text(json.dumps(paper(0)) + "\n" + "not json\n" + json.dumps(paper(1)) + "\n")
    out = data / "emb"
    enc = FakeEncoder()
    settings = EmbedSettings(model=enc.settings, on_error="skip")
    embed_files([str(src)], out, encoder=enc, settings=settings)
    assert (out / "_rejects.jsonl").stat().st_size > 0
    # what `find data -name '*.jsonl'` lists
    listing = tmp_path / "list.txt"
    listing.write_text(f"{src}\n{out / '_rejects.jsonl'}\n")
    args = ["embed", "--inputs-from", str(listing), "-o", str(out), "--on-error", "skip"]
    env = {k: None for k in ("SPECTER2_EMBED_ON_ERROR", "SPECTER2_EMBED_INPUTS_FROM")}
    r = CliRunner().invoke(app, [*args, "--max-length", "64", "--device", "cpu"], env=env)
    assert r.exit_code == 0, r.output
    assert "left out 1 files of the --inputs-from list" in r.output


def test_overwrite_never_follows_a_state_folder_that_is_a_link(tmp_path: Path) -> None:
    import os

    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(3)])
    elsewhere = tmp_path / "elsewhere"
    run([src], elsewhere)
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(elsewhere / "_specter2", out / "_specter2")
    from specter2_cli.errors import UsageError

    with pytest.raises(UsageError, match="symbolic link"):
        run([src], out, overwrite=True)
    assert (elsewhere / "_specter2" / "job.json").exists()
    assert run([src], elsewhere).already_done


@pytest.mark.parametrize("backend", ["faiss", "usearch"])
def test_an_id_map_of_another_export_with_the_same_ids_is_refused(
    tmp_path: Path, backend: str
) -> None:
    from specter2_cli.errors import UsageError
    from specter2_cli.index import id_map_path, load_index, write_index
    from specter2_cli.reader import read_embeddings

    pytest.importorskip(backend)
    src = write(tmp_path / "in.jsonl", [paper(i) for i in range(20)])
    run([src], tmp_path / "out")
    emb = read_embeddings(tmp_path / "out")
    ext = "faiss" if backend == "faiss" else "usearch"
    a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    write_index(emb, a, metric="cosine")
    write_index(emb, b, metric="dot")  # the same ids: a key-set check cannot tell them apart
    assert load_index(a).metric == "cosine"
    id_map_path(b).write_bytes(id_map_path(a).read_bytes())  # a copy from the other export
    with pytest.raises(UsageError, match="another index file"):
        load_index(b)


def test_a_merged_npy_is_never_paired_with_the_ids_of_another_write(tmp_path: Path) -> None:
    import numpy as np

    from specter2_cli.merge import merge
    from specter2_cli.reader import read_embeddings

    for name, first in (("a", 0), ("b", 100)):
        src = write(tmp_path / f"{name}.jsonl", [paper(i) for i in range(first, first + 10)])
        run([src], tmp_path / name)
        merge(tmp_path / name, tmp_path / f"{name}.npy")
    a = read_embeddings(tmp_path / "a.npy")
    assert sorted(a.ids.tolist()) == list(range(10))
    assert np.array_equal(a.embeddings, read_embeddings(tmp_path / "a").embeddings)
    # what a reader sees while `merge --overwrite` has published one of the two files
    ids_b = (tmp_path / "b.ids.parquet").read_bytes()
    (tmp_path / "a.ids.parquet").write_bytes(ids_b)
    with pytest.raises(InputError, match="written with another"):
        read_embeddings(tmp_path / "a.npy")


def test_a_run_an_earlier_version_opened_over_an_empty_night_is_forgotten(tmp_path: Path) -> None:
    from specter2_cli.inputs import input_identity, resolve_inputs

    out = tmp_path / "out"
    n1 = write(tmp_path / "n1.jsonl", [paper(i) for i in range(4)])
    run([n1], out, incremental=True)
    empty = tmp_path / "n2.jsonl.gz"
    empty.write_bytes(gzip.compress(b""))
    # the state the earlier version left: a new run opened (and _SUCCESS deleted), nothing in it
    OutDir(out).join_generation(input_identity(resolve_inputs([str(empty)])), 1, True)
    assert not (out / "_SUCCESS").exists()
    with pytest.raises(InputError, match="earlier failed run over it is forgotten"):
        run([str(empty)], out, incremental=True)
    assert (out / "_SUCCESS").exists() and len(OutDir(out).generations()) == 1
