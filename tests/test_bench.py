"""`specter2 bench` on a tiny random model: the report, its accuracy checks, --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from specter2_cli.bench import (
    BenchConfig,
    format_report,
    generated_vocab,
    read_corpus,
    run_bench,
    token_lengths,
    word_pool,
    write_synthetic_corpus,
)
from specter2_cli.bench.onnx import ort_available
from specter2_cli.cli import app

HAS_ORT = ort_available()
TINY = dict(size="quick", records=12, layers=1, hidden=32, warmup=4, device="cpu")


@pytest.fixture(scope="module")
def report() -> dict:
    return run_bench(BenchConfig(**TINY))  # type: ignore[arg-type]


def test_report_has_every_case_and_positive_rates(report: dict) -> None:
    assert set(report) >= {"machine", "config", "model", "corpus", "cases", "ratios", "accuracy"}
    # auto on a CPU: o too where onnxruntime is installed (it is in the test extra)
    assert set(report["cases"]) == {"a", "b", "c", *(["o"] if HAS_ORT else [])}
    for r in report["cases"].values():
        for key in ("seconds", "papers_per_s", "tokens_per_s", "padding_efficiency"):
            assert r[key] > 0, (r["case"], key)
        assert r["records"] == 12
        assert r["nonfinite_rows"] == 0
        assert r["peak_mem_mb"] > 0
        assert 0 < r["padding_efficiency"] <= 1
    # Every case saw the same real tokens (same truncation), the tool's engine is the fused one.
    assert len({r["real_tokens"] for r in report["cases"].values()}) == 1
    assert report["cases"]["c"]["extra"]["engine"] == "fused"
    assert report["cases"]["c"]["extra"]["kernels"].startswith("unpadded")
    if HAS_ORT:
        assert report["cases"]["o"]["extra"]["onnxruntime"]
        assert set(report["ratios"]) == {"c/a", "c/b", "c/o", "b/a", "o/a"}
    assert report["model"]["shape"]["layers"] == 1
    assert report["model"]["shape"]["vocab_size"] == 31_090
    assert report["machine"]["cpu_count"] >= 1


def test_tool_matches_fp32_reference(report: dict) -> None:
    for key in ("b", "o", "c") if HAS_ORT else ("b", "c"):
        acc = report["accuracy"][key]
        assert acc["compared"] == 12
        assert acc["min_cosine"] > 0.9999
        assert acc["max_abs_diff"] <= 1e-5


def test_table_names_shape_and_cases(report: dict) -> None:
    table = format_report(report)
    assert "1 layers, hidden 32" in table
    names = ["model-card loop", "best plain recipe", "specter2 embed", "c/a"]
    for name in names + (["ONNX Runtime", "c/o"] if HAS_ORT else []):
        assert name in table


def test_synthetic_lengths_are_exact(tmp_path: Path) -> None:
    """Each vocabulary word is one token, so the corpus has exactly the drawn token lengths."""
    from specter2_cli.synthetic import wordpiece_tokenizer

    vocab = generated_vocab()
    assert len(vocab) == 31_090 and len(set(vocab)) == len(vocab)
    assert vocab.index("[PAD]") == 0 and vocab.index("[CLS]") == 102
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = wordpiece_tokenizer(str(tmp_path / "vocab.txt"))
    path = write_synthetic_corpus(tmp_path / "c.jsonl", 200, word_pool(tok), seed=3)
    corpus = read_corpus(path, tok.sep_token)
    got = [len(x) for x in tok(corpus.texts, truncation=True, max_length=512)["input_ids"]]
    want = token_lengths(200, 3)
    assert got == want.tolist()
    assert min(got) >= 16 and max(got) <= 512
    assert abs(np.mean(want) - 250) < 20


def test_cli_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "bench", "--quick", "-n", "6", "--layers", "1", "--hidden", "32",
            "--device", "cpu", "--cases", "a,c", "--json", str(out), "-q",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rep = json.loads(out.read_text())
    assert set(rep["cases"]) == {"a", "c"}
    assert rep["ratios"].keys() == {"c/a"}
    assert rep["accuracy"]["c"]["max_abs_diff"] <= 1e-5
    assert "c/a" in result.output


def test_case_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from specter2_cli.bench import onnx
    from specter2_cli.bench.run import chosen_cases

    monkeypatch.setattr(onnx, "ort_available", lambda: True)
    assert chosen_cases(("auto",), "cpu") == ["a", "b", "o", "c"]
    assert chosen_cases(("auto",), "cuda:0") == ["a", "b", "c"]
    assert chosen_cases(("auto",), "mps") == ["a", "b", "c"]  # o would run on another device
    assert chosen_cases(("c", "a"), "cpu") == ["a", "c"]
    with pytest.raises(ValueError, match="CPU only"):
        chosen_cases(("o",), "cuda:0")
    monkeypatch.setattr(onnx, "ort_available", lambda: False)
    assert chosen_cases(("auto",), "cpu") == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"specter2-cli\[onnx\]"):
        chosen_cases(("a", "o"), "cpu")


def test_cli_rejects_unknown_case() -> None:
    result = CliRunner().invoke(app, ["bench", "--cases", "a,x", "-q"])
    assert result.exit_code == 2
    assert "--cases" in result.output


def test_user_corpus_with_records_the_tool_rejects(tmp_path: Path) -> None:
    """--input: a duplicate id and a record without text are set aside, the rest compared."""
    rows = [
        {"id": 1, "title": "Graph neural networks", "abstract": "We study graphs."},
        {"id": 2, "title": "Protein folding", "abstract": None},
        {"id": 3, "title": "", "abstract": ""},  # no text: skipped by both
        {"id": 1, "title": "Duplicate id", "abstract": "kept by the model card, not the tool"},
        {"id": 4, "title": "Quantum field theory of stars", "abstract": "energy " * 30},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = BenchConfig(**{**TINY, "records": None, "input": str(path), "cases": ("a", "c")})  # type: ignore[arg-type]
    rep = run_bench(cfg)
    assert rep["corpus"]["records"] == 4
    assert rep["cases"]["c"]["extra"]["missing_from_output"] == 1
    assert rep["cases"]["c"]["nonfinite_rows"] == 0
    acc = rep["accuracy"]["c"]
    assert acc["compared"] == 3 and acc["max_abs_diff"] <= 1e-5


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_onnx_export_failure_is_an_environment_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from specter2_cli.bench import onnx

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("exporter says no")

    monkeypatch.setattr(onnx, "export_fused", broken)
    args = ["bench", "--quick", "-n", "4", "--layers", "1", "--hidden", "32", "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--cases", "a,o", "-q"])
    assert result.exit_code == 4, result.output
    assert "case o" in result.output and "exporter says no" in result.output
