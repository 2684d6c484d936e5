"""`specter2 export` + `search --index` against the exact scan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from specter2_cli.cli import app
from specter2_cli.index import load_index, search_index, write_index
from specter2_cli.reader import Embeddings
from specter2_cli.store.keys import id_key
from tests.test_search import embed, models, papers_file, query_model  # noqa: F401

runner = CliRunner()
BACKENDS = ["faiss", "usearch"]


def synthetic(n: int = 10_000, dim: int = 64, seed: int = 0) -> Embeddings:
    """Vectors whose norms differ (as SPECTER2's do), so L2, dot and cosine rank apart."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x *= rng.uniform(0.5, 2.0, (n, 1)).astype(np.float32)
    ids = np.array([f"paper-{i}" for i in range(n)], dtype=object)
    keys = np.array([id_key(str(i)) for i in ids], dtype=np.uint64)
    return Embeddings(ids, x, keys, {"base_model": "m", "adapter": "proximity"})


def exact(emb: Embeddings, q: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Brute force in float64: (row indices [m, k], scores [m, k]) best first."""
    x, q = emb.embeddings.astype(np.float64), q.astype(np.float64)
    if metric == "l2":
        s = np.linalg.norm(q[:, None, :] - x[None, :, :], axis=2)
        order = np.argsort(s, axis=1)[:, :k]
    else:
        s = q @ x.T
        if metric == "cosine":
            s /= np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(x, axis=1))
        order = np.argsort(-s, axis=1)[:, :k]
    return order, np.take_along_axis(s, order, axis=1)


@pytest.mark.parametrize("metric", ["l2", "dot", "cosine"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_flat_index_equals_exact_topk_on_10000(tmp_path: Path, backend: str, metric: str) -> None:
    pytest.importorskip("faiss" if backend == "faiss" else "usearch")
    emb = synthetic()
    path = tmp_path / f"x.{backend}"
    write_index(emb, path, metric)  # type: ignore[arg-type]
    q = np.random.default_rng(1).standard_normal((25, 64)).astype(np.float32)
    got = search_index(load_index(path), q, 10)
    order, scores = exact(emb, q, 10, metric)
    for hits, o, s in zip(got, order, scores, strict=True):
        assert [h[0] for h in hits] == emb.ids[o].tolist()
        np.testing.assert_allclose([h[1] for h in hits], s, rtol=1e-4, atol=1e-3)
    # more than there are rows: every row once, no padding or "no result" keys
    small = Embeddings(emb.ids[:5], emb.embeddings[:5], emb.id_keys[:5], emb.metadata)
    write_index(small, path, metric)  # type: ignore[arg-type]
    hits = search_index(load_index(path), q[:2], 10)
    assert [sorted(h[0] for h in row) for row in hits] == [sorted(emb.ids[:5].tolist())] * 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_hnsw_index_finds_nearly_all(tmp_path: Path, backend: str) -> None:
    pytest.importorskip("faiss" if backend == "faiss" else "usearch")
    emb = synthetic()
    path = tmp_path / f"x.{backend}"
    write_index(emb, path, "l2", hnsw=True)
    q = np.random.default_rng(2).standard_normal((25, 64)).astype(np.float32)
    got = search_index(load_index(path), q, 10)
    order, _ = exact(emb, q, 10, "l2")
    found = sum(
        len({h[0] for h in hits} & set(emb.ids[o])) for hits, o in zip(got, order, strict=True)
    )
    assert found >= 0.9 * 250


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_export_then_search_index_equals_scan(
    models: dict[str, Path],  # noqa: F811
    papers_file: Path,  # noqa: F811
    tmp_path: Path,
    backend: str,
) -> None:
    pytest.importorskip("faiss" if backend == "faiss" else "usearch")
    out = tmp_path / "out"
    embed([str(papers_file), "-o", str(out), "--base-model", str(models["base"]),
           "--adapter-path", str(models["proximity"]), "--shard-size", "50"])  # fmt: skip
    for metric in ("l2", "cosine"):
        idx = tmp_path / f"i-{metric}.{backend}"
        r = runner.invoke(app, ["export", str(out), "--to", str(idx), "--metric", metric])
        assert r.exit_code == 0, r.output
        args = [str(out), "--queries", "sample_data/queries.jsonl", "-k", "10", "--json"]
        args += query_model(models)
        scan = runner.invoke(app, ["search", *args, "--metric", metric])
        via = runner.invoke(app, ["search", *args, "--index", str(idx)])
        assert scan.exit_code == 0 and via.exit_code == 0, scan.output + via.output
        a = [json.loads(x) for x in scan.output.splitlines() if x.startswith("{")]
        b = [json.loads(x) for x in via.output.splitlines() if x.startswith("{")]
        assert [g["metric"] for g in b] == [metric] * len(a)
        for ga, gb in zip(a, b, strict=True):
            assert [h["id"] for h in ga["results"]] == [h["id"] for h in gb["results"]]
            np.testing.assert_allclose(
                [h["score"] for h in ga["results"]], [h["score"] for h in gb["results"]],
                rtol=1e-4, atol=1e-4,
            )  # fmt: skip
        other = runner.invoke(app, ["search", *args, "--index", str(idx), "--metric", "dot"])
        assert other.exit_code == 2 and "exported with --metric" in other.output


def test_missing_library_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError
    emb = synthetic(10, 8)
    from specter2_cli.errors import EnvironmentProblem

    with pytest.raises(EnvironmentProblem, match=r"pip install 'specter2-cli\[faiss\]'"):
        write_index(emb, tmp_path / "x.faiss")
    r = runner.invoke(app, ["export", str(tmp_path), "--to", str(tmp_path / "x.bin")])
    assert r.exit_code == 2 and "name a .faiss or .usearch file" in r.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_export_never_replaces_a_foreign_file(tmp_path: Path, backend: str) -> None:
    pytest.importorskip("faiss" if backend == "faiss" else "usearch")
    from specter2_cli.errors import UsageError

    target = tmp_path / f"mine.{backend}"
    target.write_bytes(b"the user's own file")
    with pytest.raises(UsageError, match="not written by `specter2 export`"):
        write_index(synthetic(10, 8), target)
    assert target.read_bytes() == b"the user's own file"
    target.unlink()
    write_index(synthetic(10, 8), target)
    write_index(synthetic(20, 8), target)  # its own export is replaced
    assert load_index(target).info["rows"] == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name, target.name + ".ids.parquet"]
