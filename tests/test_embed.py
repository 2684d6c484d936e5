"""`specter2 embed` against the model-card recipe, through the real CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from specter2_cli.cli import app
from tests.helpers import model_card_embeddings, paper_text, read_output, tricky_papers, write_jsonl

runner = CliRunner()


def embed(args: list[str]) -> None:
    result = runner.invoke(app, ["embed", *args, "--no-progress"])
    assert result.exit_code == 0, result.output


def model_args(models: dict[str, Path], adapter: str = "proximity") -> list[str]:
    args = ["--base-model", str(models["base"]), "--adapter", adapter]
    if adapter != "none":
        args += ["--adapter-path", str(models[adapter])]
    return args


def _has_adapters() -> bool:
    try:  # find_spec raises ValueError once another test has left a stand-in module behind
        import adapters  # noqa: F401
    except ImportError:
        return False
    return True


# --engine reference runs the adapters library (an optional extra); without it, only the
# base model (--adapter none) runs through the reference (transformers) forward pass.
@pytest.mark.parametrize("adapter", ["proximity", "classification", "regression", "none"])
@pytest.mark.parametrize(
    "engine", ["fused", pytest.param("reference", marks=pytest.mark.reference)]
)
def test_paper_mode_matches_model_card(
    tiny_models: dict[str, Path], tmp_path: Path, adapter: str, engine: str
) -> None:
    if engine == "reference" and adapter != "none" and not _has_adapters():
        pytest.skip("--engine reference needs the adapters library (the reference lane)")
    papers = tricky_papers()
    src = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "out"
    embed([str(src), "-o", str(out), *model_args(tiny_models, adapter), "--engine", engine])
    got = read_output(out)
    ref = model_card_embeddings(
        tiny_models["base"],
        tiny_models.get(adapter) if adapter != "none" else None,
        adapter,
        [paper_text(p) for p in papers],
    )
    assert sorted(got) == [p["id"] for p in papers]
    for p, r in zip(papers, ref, strict=True):
        np.testing.assert_allclose(got[p["id"]], r, atol=1e-5, rtol=0)


def test_adapter_changes_the_embedding(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """A run that silently fell back to the base model would pass an equivalence test against
    itself; make sure the adapter's effect is far above the tolerance."""
    src = write_jsonl(tmp_path / "p.jsonl", tricky_papers())
    embed([str(src), "-o", str(tmp_path / "a"), *model_args(tiny_models, "proximity")])
    embed([str(src), "-o", str(tmp_path / "b"), *model_args(tiny_models, "none")])
    a, b = read_output(tmp_path / "a"), read_output(tmp_path / "b")
    assert min(float(np.abs(a[k] - b[k]).max()) for k in a) > 1e-2


def test_query_mode_matches_model_card(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    queries = [
        {"id": "q1", "query": "graph neural networks"},
        {"id": "q2", "query": "protein structure"},
        {"id": "q3", "query": "naïve Bayes α"},
        {"id": "q4", "query": "galaxy " * 600},
    ]
    src = write_jsonl(tmp_path / "q.jsonl", queries)
    out = tmp_path / "out"
    embed([str(src), "-o", str(out), *model_args(tiny_models, "adhoc_query")])
    got = read_output(out)
    ref = model_card_embeddings(
        tiny_models["base"],
        tiny_models["adhoc_query"],
        "adhoc_query",
        [q["query"] for q in queries],
    )
    for q, r in zip(queries, ref, strict=True):
        np.testing.assert_allclose(got[q["id"]], r, atol=1e-5, rtol=0)


def test_order_and_batch_size_do_not_change_embeddings(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from specter2_cli.synthetic import synthetic_papers

    papers = list(synthetic_papers(60, seed=3, mean_words=40, sd_words=30))
    shuffled = papers[:]
    random.Random(0).shuffle(shuffled)
    a = write_jsonl(tmp_path / "a.jsonl", papers)
    b = write_jsonl(tmp_path / "b.jsonl", shuffled)
    m = model_args(tiny_models)
    embed([str(a), "-o", str(tmp_path / "oa"), *m, "--batch-tokens", "512", "--sort-window", "7"])
    embed([str(b), "-o", str(tmp_path / "ob"), *m, "--batch-tokens", "8192", "--shard-size", "13"])
    ea, eb = read_output(tmp_path / "oa"), read_output(tmp_path / "ob")
    assert ea.keys() == eb.keys()
    for k in ea:
        np.testing.assert_allclose(ea[k], eb[k], atol=1e-5, rtol=0)
    # rows come back in input order
    t = pq.read_table(tmp_path / "ob")
    assert t.column("id").to_pylist() == [p["id"] for p in shuffled]
    assert len(list((tmp_path / "ob").glob("part-*.parquet"))) == 5  # 60 rows, 13 per shard


def test_parquet_input_npy_output_and_metadata(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    import pyarrow as pa

    papers = tricky_papers()
    table = pa.table(
        {
            "corpusid": [p["id"] for p in papers],
            "title": [p["title"] for p in papers],
            "abstract": [p.get("abstract") for p in papers],
        }
    )
    src = tmp_path / "papers.parquet"
    pq.write_table(table, src, row_group_size=3)
    out = tmp_path / "out"
    embed(
        [str(src), "-o", str(out), *model_args(tiny_models), "--format", "npy", "--normalize",
         "--output-dtype", "float16"]
    )  # fmt: skip
    emb = np.load(out / "part-00000.npy", allow_pickle=False)
    ids = pq.read_table(out / "part-00000.ids.parquet")
    assert emb.dtype == np.float16 and emb.shape == (len(papers), 32)
    assert ids.column("id").to_pylist() == [p["id"] for p in papers]  # numeric ids stay numbers
    assert ids.schema.field("id").type == pa.int64()
    ref = model_card_embeddings(
        tiny_models["base"], tiny_models["proximity"], "proximity", [paper_text(p) for p in papers]
    )
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(emb.astype(np.float32), ref, atol=2e-3)
    meta = json.loads(ids.schema.metadata[b"specter2"])
    assert meta["adapter"] == "proximity" and meta["max_length"] == 512
    assert meta["normalize"] is True and meta["output_dtype"] == "float16"
    assert meta["tool_version"]


def test_stdin_and_gzip_inputs(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    import gzip

    papers = tricky_papers()
    lines = "".join(json.dumps(p) + "\n" for p in papers)
    gz = tmp_path / "p.jsonl.gz"
    gz.write_bytes(gzip.compress(lines.encode()))
    embed([str(gz), "-o", str(tmp_path / "g"), *model_args(tiny_models)])
    result = runner.invoke(
        app, ["embed", "-", "-o", str(tmp_path / "s"), *model_args(tiny_models), "--no-progress"],
        input=lines,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    g, s = read_output(tmp_path / "g"), read_output(tmp_path / "s")
    assert sorted(g) == sorted(s) == [p["id"] for p in papers]
    for k in g:
        np.testing.assert_allclose(g[k], s[k], atol=1e-6)


def test_library_api(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from specter2_cli import ModelSettings, embed_files, load_encoder

    settings = ModelSettings(
        base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
    )
    enc = load_encoder(settings)
    papers = tricky_papers()
    texts = [enc.format_paper(p["title"], p.get("abstract")) for p in papers]
    vecs = enc.embed_texts(texts)
    ref = model_card_embeddings(tiny_models["base"], tiny_models["proximity"], "proximity", texts)
    np.testing.assert_allclose(vecs, ref, atol=1e-5)
    src = write_jsonl(tmp_path / "p.jsonl", papers)
    summary = embed_files([str(src)], tmp_path / "o", encoder=enc)
    assert summary.embedded == len(papers) and summary.rejected == 0
    assert summary.truncated == 1  # the long abstract
    got = read_output(tmp_path / "o")
    np.testing.assert_allclose(np.stack([got[p["id"]] for p in papers]), vecs, atol=1e-5)


def test_embed_records_in_memory(tiny_models: dict[str, Path]) -> None:
    from specter2_cli import ModelSettings, embed_records, load_encoder

    enc = load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        )
    )
    papers = [*tricky_papers(), {"id": 99, "title": None, "abstract": None}]
    ids, vecs, rejects = embed_records(enc, iter(papers))
    assert ids == [p["id"] for p in papers[:-1]]
    assert len(rejects) == 1 and "both missing or empty" in rejects[0].reason
    ref = model_card_embeddings(
        tiny_models["base"], tiny_models["proximity"], "proximity",
        [paper_text(p) for p in papers[:-1]],
    )  # fmt: skip
    np.testing.assert_allclose(vecs, ref, atol=1e-5)
