"""read_embeddings against `merge`, the Parquet layout, and the readers the README shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from specter2_cli import read_embeddings
from specter2_cli.cli import app
from specter2_cli.store import shards as shards_mod
from tests.helpers import write_jsonl

runner = CliRunner()


def run(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def papers(n: int, changed: int | None = None) -> list[dict[str, Any]]:
    out = [{"id": i, "title": f"paper {i} on graph", "abstract": f"we study {i} cells"}
           for i in range(n)]  # fmt: skip
    if changed is not None:
        out[changed]["abstract"] = "a changed abstract on protein"
    return out


def make_outdir(models: dict[str, Path], tmp: Path, fmt: str, dtype: str, gens: int) -> Path:
    """An OUTDIR of 1 or 3 generations (--incremental with changed, new and repeated ids)."""
    out, src = tmp / "out", tmp / "p.jsonl"
    m = ["--base-model", str(models["base"]), "--adapter-path", str(models["proximity"])]
    opts = ["--format", fmt, "--output-dtype", dtype, "--shard-size", "7", "--no-progress"]
    write_jsonl(src, papers(20))
    run(["embed", str(src), "-o", str(out), *m, *opts])
    if gens > 1:
        write_jsonl(src, papers(25, changed=3))
        run(["embed", str(src), "-o", str(out), *m, *opts, "--incremental"])
        write_jsonl(src, [*papers(26, changed=4), {"id": 5, "title": "duplicate id 5"}])
        run(["embed", str(src), "-o", str(out), *m, *opts, "--incremental", "--on-error", "skip"])
    return out


@pytest.mark.parametrize("gens", [1, 3])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("fmt", ["parquet", "npy"])
def test_read_embeddings_equals_merge(
    tiny_models: dict[str, Path], tmp_path: Path, fmt: str, dtype: str, gens: int
) -> None:
    out = make_outdir(tiny_models, tmp_path, fmt, dtype, gens)
    merged = tmp_path / f"merged.{fmt}"
    run(["merge", str(out), "--to", str(merged)])
    got = read_embeddings(out)
    if fmt == "npy":
        want_emb = np.load(merged)
        want_ids = pq.read_table(tmp_path / "merged.ids.parquet").column("id").to_pylist()
    else:
        t = pq.read_table(merged)
        want_ids = t.column("id").to_pylist()
        want_emb = np.stack(t.column("embedding").to_numpy(zero_copy_only=False))
    assert got.ids.tolist() == want_ids
    assert len(set(want_ids)) == len(want_ids) == (26 if gens > 1 else 20)
    assert got.embeddings.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got.embeddings, want_emb)
    table = got.to_arrow()
    assert table.column("id").to_pylist() == want_ids
    back = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(back, want_emb)
    if fmt == "npy" and gens == 1:
        # one shard whose rows all survive would be mapped, not read: here 3 shards are copied
        assert isinstance(got.embeddings, np.ndarray)


def test_single_npy_shard_is_memory_mapped(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out, src = tmp_path / "out", write_jsonl(tmp_path / "p.jsonl", papers(5))
    run(["embed", str(src), "-o", str(out), "--base-model", str(tiny_models["base"]),
         "--adapter-path", str(tiny_models["proximity"]), "--format", "npy", "--no-progress"])  # fmt: skip
    assert isinstance(read_embeddings(out).embeddings, np.memmap)


# ----------------------------------------------------------------- Parquet layout


def leaf_encodings(path: Path) -> set[str]:
    md = pq.ParquetFile(path).metadata
    names = [md.schema.column(i).path for i in range(md.num_columns)]
    col = names.index("embedding.list.element")
    found: set[str] = set()
    for rg in range(md.num_row_groups):
        c = md.row_group(rg).column(col)
        assert c.compression == "ZSTD"
        found |= set(c.encodings)
    return found


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_parquet_layout_embed_and_merge(
    tiny_models: dict[str, Path], tmp_path: Path, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a small bound, so that the 7-row shards and the merged file are cut into row groups
    monkeypatch.setattr(shards_mod, "ROW_GROUP_BYTES", 3 * 200)
    out = make_outdir(tiny_models, tmp_path, "parquet", dtype, 1)
    merged = tmp_path / "merged.parquet"
    run(["merge", str(out), "--to", str(merged)])
    for path in [*sorted(out.glob("part-*.parquet")), merged]:
        enc = leaf_encodings(path)
        if dtype == "float32":
            assert "BYTE_STREAM_SPLIT" in enc and "RLE_DICTIONARY" not in enc, (path, enc)
        else:  # DuckDB cannot read float16 + BYTE_STREAM_SPLIT
            assert "BYTE_STREAM_SPLIT" not in enc
        md = pq.ParquetFile(path).metadata
        rows = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        # a row: 32 values + 36 bytes of index columns (int ids)
        bound = 600 // (32 * (4 if dtype == "float32" else 2) + 36)
        assert max(rows) == bound and sum(rows) == md.num_rows, rows
    assert pq.ParquetFile(merged).metadata.num_row_groups >= 20 // bound


# ----------------------------------------------------------------- README readers


@pytest.fixture
def outdir(tiny_models: dict[str, Path], tmp_path: Path) -> Path:
    out = make_outdir(tiny_models, tmp_path, "parquet", "float32", 1)
    # what a finished OUTDIR also holds: a rejects file (polars refuses a bare folder)
    (out / "_rejects.jsonl").write_text("")
    return out


def test_duckdb_reads_the_shards(outdir: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    ref = read_embeddings(outdir)
    dim = ref.embeddings.shape[1]
    con = duckdb.connect()
    got = con.execute(
        f"""
        WITH t AS (SELECT id, embedding::FLOAT[{dim}] AS e FROM read_parquet('{outdir}/*.parquet')),
             q AS (SELECT e AS qe FROM t WHERE id = 3)
        SELECT id, array_distance(e, qe) AS l2, array_cosine_similarity(e, qe) AS cos
        FROM t, q ORDER BY l2, id LIMIT 5
        """
    ).fetchall()
    e = ref.embeddings.astype(np.float64)
    q = e[ref.ids.tolist().index(3)]
    l2 = np.linalg.norm(e - q, axis=1)
    order = np.lexsort((ref.ids, l2))[:5]
    assert [r[0] for r in got] == ref.ids[order].tolist()
    np.testing.assert_allclose([r[1] for r in got], l2[order], rtol=1e-4, atol=1e-4)
    cos = e[order] @ q / (np.linalg.norm(e[order], axis=1) * np.linalg.norm(q))
    np.testing.assert_allclose([r[2] for r in got], cos, rtol=1e-4, atol=1e-5)


def test_polars_and_pandas_read_the_shards(outdir: Path) -> None:
    ref = read_embeddings(outdir)
    order = np.argsort(ref.ids)
    pl = pytest.importorskip("polars")
    df = pl.scan_parquet(f"{outdir}/*.parquet").select("id", "embedding").collect().sort("id")
    assert df["id"].to_list() == sorted(ref.ids.tolist())
    np.testing.assert_array_equal(df["embedding"].to_numpy(), ref.embeddings[order])
    pd = pytest.importorskip("pandas")
    pdf = pd.read_parquet(outdir, columns=["id", "embedding"]).sort_values("id")
    np.testing.assert_array_equal(np.stack(pdf.embedding.to_numpy()), ref.embeddings[order])


def test_reader_refuses_other_folders(tmp_path: Path) -> None:
    from specter2_cli.errors import UsageError

    with pytest.raises(UsageError, match="not the output folder"):
        read_embeddings(tmp_path)
