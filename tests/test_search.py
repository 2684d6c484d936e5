"""`specter2 search` against a brute-force reference on the tiny model."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from specter2_cli import search as search_mod
from specter2_cli.cli import app
from tests.helpers import model_card_embeddings, write_jsonl

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def sample_papers(n: int = 120) -> list[dict[str, Any]]:
    with (SAMPLE / "papers.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line, _ in zip(f, range(n), strict=False)]


def sample_queries() -> list[dict[str, Any]]:
    with (SAMPLE / "queries.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def embed(args: list[str]) -> None:
    result = runner.invoke(app, ["embed", *args, "--no-progress"])
    assert result.exit_code == 0, result.output


def search(args: list[str], code: int = 0) -> str:
    result = runner.invoke(app, ["search", *args])
    assert result.exit_code == code, result.output
    return result.output


def query_model(models: dict[str, Path]) -> list[str]:
    return ["--base-model", str(models["base"]), "--adapter-path", str(models["adhoc_query"])]


def all_embeddings(outdir: Path, fmt: str) -> tuple[list[Any], np.ndarray]:
    """Every row of the OUTDIR in shard order, read with plain pyarrow/numpy."""
    ids: list[Any] = []
    vecs = []
    if fmt == "npy":
        for p in sorted(outdir.glob("part-*.npy")):
            vecs.append(np.load(p).astype(np.float32))
            ids += pq.read_table(p.with_name(p.stem + ".ids.parquet")).column("id").to_pylist()
    else:
        for p in sorted(outdir.glob("part-*.parquet")):
            t = pq.read_table(p)
            ids += t.column("id").to_pylist()
            vecs.append(np.asarray(t.column("embedding").to_pylist(), dtype=np.float32))
    return ids, np.concatenate(vecs)


def brute_force(
    models: dict[str, Path],
    ids: list[Any],
    emb: np.ndarray,
    texts: list[str],
    k: int,
    metric: str = "l2",
) -> list[Reference]:
    """The model card's query embedding (adhoc_query adapter, text alone), then the metric
    computed directly: the model card's Euclidean distance (smallest first), dot or cosine."""
    q = model_card_embeddings(models["base"], models["adhoc_query"], "adhoc_query", texts)
    q, e = q.astype(np.float64), emb.astype(np.float64)
    if metric == "l2":
        scores = np.linalg.norm(q[:, None, :] - e[None, :, :], axis=2)
    elif metric == "dot":
        scores = q @ e.T
    else:
        scores = (q @ e.T) / np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(e, axis=1))
    out = []
    for row in scores:
        order = np.argsort(row if metric == "l2" else -row, kind="stable")[:k]
        out.append(Reference([ids[j] for j in order], row[order], dict(zip(ids, row, strict=True))))
    return out


@dataclass
class Reference:
    ids: list[Any]  # the top k, best first
    scores: np.ndarray  # their scores
    all_scores: dict[Any, float]  # every paper's score


def assert_same_ranking(got: list[dict[str, Any]], ref: list[Reference], tol: float = 1e-5) -> None:
    """Ids and scores equal; only papers whose reference scores tie within `tol` may swap."""
    assert len(got) == len(ref)
    exact = total = 0
    for g, r in zip(got, ref, strict=True):
        hits = g["results"]
        assert [h["rank"] for h in hits] == list(range(1, len(r.ids) + 1))
        got_ids = [h["id"] for h in hits]
        assert len(set(got_ids)) == len(got_ids)
        got_scores = np.array([h["score"] for h in hits])
        np.testing.assert_allclose(got_scores, r.scores, rtol=tol, atol=tol, err_msg=g["query"])
        # a different id at a rank is fine only if it has (within tol) the reference's score there
        theirs = np.array([r.all_scores[i] for i in got_ids])
        np.testing.assert_allclose(theirs, r.scores, rtol=tol, atol=tol, err_msg=g["query"])
        exact += sum(a == b for a, b in zip(got_ids, r.ids, strict=True))
        total += len(got_ids)
    assert exact >= 0.95 * total, f"only {exact} of {total} ranks agree exactly"


@pytest.fixture(scope="module")
def models(
    tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The tiny models with the base model's matrices scaled up 10x and random LayerNorms.

    With the small initial weights of a random BERT every paper gets nearly the same
    CLS vector (scores differ by ~1e-3), so rankings would be decided by rounding.
    Larger weights spread the scores (std ~0.2) and make the ranking test meaningful.
    With LayerNorm weight 1 and bias 0 every vector has the same norm and dot product
    ranks as L2 distance does; random LayerNorms let the tests tell them apart.
    """
    import torch
    from transformers import BertModel

    from specter2_cli.synthetic import randomize_layernorms

    base = Path(shutil.copytree(tiny_models["base"], tmp_path_factory.mktemp("spread") / "base"))
    model = BertModel.from_pretrained(str(base))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and "embeddings" not in name:
                param.mul_(10)
    randomize_layernorms(model, seed=3)
    model.save_pretrained(str(base))
    return {**tiny_models, "base": base}


@pytest.fixture(scope="module")
def papers_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("papers") / "papers.jsonl", sample_papers())


@pytest.mark.parametrize(
    ("fmt", "dtype"), [("parquet", "float32"), ("npy", "float32"), ("parquet", "float16")]
)
def test_search_matches_brute_force(
    models: dict[str, Path],
    papers_file: Path,
    tmp_path: Path,
    fmt: str,
    dtype: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    embed(
        [str(papers_file), "-o", str(out), "--base-model", str(models["base"]),
         "--adapter-path", str(models["proximity"]), "--format", fmt, "--shard-size", "50", "--output-dtype", dtype]
    )  # fmt: skip
    # small chunks, so that the running top-k merges many pieces of each shard
    monkeypatch.setattr(search_mod, "_CHUNK_CELLS", 1)
    monkeypatch.setattr(search_mod, "_MIN_CHUNK_ROWS", 7)
    queries = sample_queries()
    k = 10
    text = search(
        [str(out), "--queries", str(SAMPLE / "queries.jsonl"), "-k", str(k), "--json",
         *query_model(models)]
    )  # fmt: skip
    got = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert [g["query_id"] for g in got] == [q["id"] for q in queries]
    assert [g["query"] for g in got] == [q["query"] for q in queries]
    ids, emb = all_embeddings(out, fmt)
    assert len(ids) == 120
    assert_same_ranking(got, brute_force(models, ids, emb, [q["query"] for q in queries], k))


def test_single_query_table_with_titles(
    models: dict[str, Path], papers_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    embed(
        [str(papers_file), "-o", str(out), "--base-model", str(models["base"]),
         "--adapter-path", str(models["proximity"])]
    )  # fmt: skip
    text = search(
        [str(out), "protein structure prediction", "-k", "3", "--papers", str(papers_file),
         *query_model(models)]
    )  # fmt: skip
    ids, emb = all_embeddings(out, "parquet")
    ref = brute_force(models, ids, emb, ["protein structure prediction"], 3)[0]
    titles = {p["id"]: p["title"] for p in sample_papers()}
    lines = text.strip().splitlines()
    assert lines[0] == "query query: protein structure prediction"
    assert lines[1].split() == ["rank", "id", "l2_distance", "title"]
    for n, (line, pid, score) in enumerate(zip(lines[2:], ref.ids, ref.scores, strict=True), 1):
        rank, rid, sc, title = line.split(maxsplit=3)
        assert (int(rank), int(rid)) == (n, pid)
        assert abs(float(sc) - score) < 1e-3
        assert titles[pid].startswith(title.removesuffix("..."))

    # --json with --papers: titles in each hit; parquet --papers works too
    pq_papers = tmp_path / "papers.parquet"
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(sample_papers()), pq_papers)
    for src in (papers_file, pq_papers):
        text = search(
            [str(out), "protein structure prediction", "-k", "3", "--papers", str(src), "--json",
             *query_model(models)]
        )  # fmt: skip
        (obj,) = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert [h["title"] for h in obj["results"]] == [titles[i] for i in ref.ids]


def test_refuses_other_adapter(models: dict[str, Path], papers_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cls"
    embed(
        [str(papers_file), "-o", str(out), "--base-model", str(models["base"]),
         "--adapter", "classification", "--adapter-path", str(models["classification"])]
    )  # fmt: skip
    text = search([str(out), "graph neural networks", *query_model(models)], code=2)
    assert "embedded with --adapter classification" in text
    assert "--adapter proximity" in text


def test_refuses_other_base_model(
    models: dict[str, Path], papers_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    embed(
        [str(papers_file), "-o", str(out), "--base-model", str(models["base"]),
         "--adapter-path", str(models["proximity"])]
    )  # fmt: skip
    other = shutil.copytree(models["base"], tmp_path / "other_base")
    text = search(
        [str(out), "graph", "--base-model", str(other), "--adapter-path",
         str(models["adhoc_query"])],
        code=2,
    )  # fmt: skip
    assert "differs from the base model" in text
    # the default is the OUTDIR's own base model
    search([str(out), "graph", "--adapter-path", str(models["adhoc_query"])])


def test_usage_errors(models: dict[str, Path], tmp_path: Path) -> None:
    assert "no such folder" in search([str(tmp_path / "missing"), "q"], code=2)
    (tmp_path / "empty").mkdir()
    assert "no committed embeddings" in search([str(tmp_path / "empty"), "q"], code=2)
    bad = write_jsonl(tmp_path / "q.jsonl", [{"id": 1, "text": "wrong field"}])
    out = tmp_path / "o"
    embed(
        [str(write_jsonl(tmp_path / "p.jsonl", sample_papers(5))), "-o", str(out),
         "--base-model", str(models["base"]), "--adapter-path", str(models["proximity"])]
    )  # fmt: skip
    assert "give a query" in search([str(out)], code=2)
    assert "field 'query'" in search([str(out), "--queries", str(bad)], code=3)
    assert "-k 0" in search([str(out), "q", "-k", "0"], code=2)


def test_incremental_generations_newest_row_wins(models: dict[str, Path], tmp_path: Path) -> None:
    papers = sample_papers(30)
    src = tmp_path / "papers.jsonl"
    write_jsonl(src, papers)
    out = tmp_path / "out"
    m = ["--base-model", str(models["base"]), "--adapter-path", str(models["proximity"])]
    embed([str(src), "-o", str(out), *m])
    changed = [dict(p) for p in papers]
    changed[4]["abstract"] = "protein structure prediction " * 20
    write_jsonl(src, [*changed, {"id": 1, "title": "a new paper on proteins"}])
    embed([str(src), "-o", str(out), *m, "--incremental"])
    text = search(
        [str(out), "--queries", str(SAMPLE / "queries.jsonl"), "-k", "31", "--json",
         *query_model(models)]
    )  # fmt: skip
    got = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    # reference: the current version of each record, embedded from scratch
    fresh = tmp_path / "fresh"
    embed([str(src), "-o", str(fresh), *m])
    ids, emb = all_embeddings(fresh, "parquet")
    assert len(ids) == 31
    for g in got:
        assert len(g["results"]) == 31  # each id once
    ref = brute_force(models, ids, emb, [q["query"] for q in sample_queries()], 31)
    assert_same_ranking(got, ref)


@pytest.mark.parametrize("metric", ["l2", "dot", "cosine"])
def test_metric_flag_matches_brute_force(
    models: dict[str, Path], papers_file: Path, tmp_path: Path, metric: str
) -> None:
    out = tmp_path / "out"
    embed(
        [str(papers_file), "-o", str(out), "--base-model", str(models["base"]),
         "--adapter-path", str(models["proximity"]), "--shard-size", "40"]
    )  # fmt: skip
    texts = [q["query"] for q in sample_queries()]
    text = search(
        [str(out), "--queries", str(SAMPLE / "queries.jsonl"), "-k", "10", "--json",
         "--metric", metric, *query_model(models)]
    )  # fmt: skip
    got = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert {g["metric"] for g in got} == {metric}
    ids, emb = all_embeddings(out, "parquet")
    assert_same_ranking(got, brute_force(models, ids, emb, texts, 10, metric))
    table = search([str(out), texts[0], "-k", "2", "--metric", metric, *query_model(models)])
    name = {"l2": "l2_distance", "dot": "dot_product", "cosine": "cosine"}[metric]
    assert table.splitlines()[1].split() == ["rank", "id", name]


def test_l2_ranks_differently_from_dot(
    models: dict[str, Path], papers_file: Path, tmp_path: Path
) -> None:
    """On this model the default (L2) ranking is not the dot-product ranking, so the tests
    above can tell the metrics apart; the vectors' norms really differ."""
    out = tmp_path / "out"
    embed(
        [str(papers_file), "-o", str(out), "--base-model", str(models["base"]),
         "--adapter-path", str(models["proximity"])]
    )  # fmt: skip
    _ids, emb = all_embeddings(out, "parquet")
    norms = np.linalg.norm(emb, axis=1)
    assert norms.std() > 1e-3 * norms.mean()  # weight 1, bias 0: ~1e-7
    args = [str(out), "--queries", str(SAMPLE / "queries.jsonl"), "-k", "10", "--json"]
    default = search([*args, *query_model(models)])
    dot = search([*args, "--metric", "dot", *query_model(models)])
    rank = [[h["id"] for h in json.loads(x)["results"]] for x in default.splitlines()]
    rank_dot = [[h["id"] for h in json.loads(x)["results"]] for x in dot.splitlines()]
    assert rank != rank_dot
    assert "--metric bogus: choose" in search([*args, "--metric", "bogus"], code=2)
