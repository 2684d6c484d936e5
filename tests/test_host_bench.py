"""The host benchmark runs the real pipeline with a null encoder and reports every stage."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from transformers import AutoTokenizer

from specter2_cli.bench.corpus import write_synthetic_corpus
from specter2_cli.bench.host import run_host_bench, run_job


def test_host_bench_reports_stages_and_core_counts(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    tok = AutoTokenizer.from_pretrained(str(tiny_models["base"]))
    path = write_synthetic_corpus(tmp_path / "c.jsonl", 300, ["graph", "model", "data", "the"], 0)
    r = run_host_bench(path, tok, [1], repeats=1, sort_window=128)
    assert r["records"] == 300
    assert set(r["stages_cpu_us_per_record"]) >= {"read", "parse", "validate", "tokenize", "pack"}
    assert r["stages_cpu_us_per_record"]["tokenize"] > 0
    assert [x["cores"] for x in r["runs"]] == [1]
    assert r["runs"][0]["records_per_s"] > 0
    # the null device step still writes every record into real shards
    run_job(path, tok, 2, 128, tmp_path)
    assert pq.read_table(tmp_path / "out-2").num_rows == 300
