"""--dtype int8 is opt-in, and says in every shard how close it is to fp32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from typer.testing import CliRunner

from specter2_cli.cli import app
from specter2_cli.synthetic import synthetic_papers
from tests.helpers import read_output, tricky_papers, write_jsonl

runner = CliRunner()


def _embed(models: dict[str, Path], src: Path, out: Path, *extra: str) -> int:
    args = [str(src), "-o", str(out), "--base-model", str(models["base"]), "--device", "cpu"]
    args += ["--adapter-path", str(models["proximity"]), "--no-progress", *extra]
    return runner.invoke(app, ["embed", *args]).exit_code


def test_int8_records_its_measured_cosine(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    papers = [*tricky_papers(), *synthetic_papers(60, seed=5)]
    for i, p in enumerate(papers):
        p["id"] = i
    src = write_jsonl(tmp_path / "p.jsonl", papers)
    s32, s8 = tmp_path / "fp32.json", tmp_path / "int8.json"
    assert _embed(tiny_models, src, tmp_path / "fp32", "--summary-json", str(s32)) == 0
    assert (
        _embed(tiny_models, src, tmp_path / "int8", "--dtype", "int8", "--summary-json", str(s8))
        == 0
    )
    # the summary names what ran: int8 linears are never reported as the exact kernels
    assert json.loads(s8.read_text())["kernels"] == "unpadded, int8 dynamic linears"
    assert json.loads(s32.read_text())["kernels"] in (
        "unpadded, oneDNN linears",
        "unpadded, aten linears",
    )
    meta = [
        json.loads(pq.read_schema(f).metadata[b"specter2"])
        for f in sorted((tmp_path / "int8").glob("part-*.parquet"))
    ]
    assert meta and all(m["compute_dtype"] == "int8" for m in meta)
    assert all(m["kernels"] == "unpadded, int8 dynamic linears" for m in meta)
    lo, mean = meta[0]["int8_cosine_to_fp32_min"], meta[0]["int8_cosine_to_fp32_mean"]
    assert 0.9 < lo <= mean < 1.0  # measured, and not exact
    fp32_meta = json.loads(
        pq.read_schema(next((tmp_path / "fp32").glob("part-*"))).metadata[b"specter2"]
    )
    assert fp32_meta["compute_dtype"] == "float32" and "int8_cosine_to_fp32_min" not in fp32_meta
    # the recorded figure describes what int8 does to real output too
    a, b = read_output(tmp_path / "fp32"), read_output(tmp_path / "int8")
    cos = [float(a[k] @ b[k] / np.linalg.norm(a[k]) / np.linalg.norm(b[k])) for k in a]
    assert min(cos) < 1 - 1e-6  # int8 really ran
    assert min(cos) > 0.9 and abs(float(np.mean(cos)) - mean) < 0.05
    # an fp32 rerun into the int8 folder is refused: the compute dtype is part of the job
    assert _embed(tiny_models, src, tmp_path / "int8") == 2
