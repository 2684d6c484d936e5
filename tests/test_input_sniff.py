"""A first look at the inputs names the problem before the model loads; presets; warnings."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from specter2_cli.errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE
from tests.helpers import read_output
from tests.test_bad_input import invoke, model_args

PAPERS = [{"id": i, "title": f"paper {i}", "abstract": "the model of the data"} for i in range(3)]


def no_model(tmp_path: Path) -> list[str]:
    return ["--base-model", str(tmp_path / "no-such-model"), "--adapter", "none"]


def fails_fast(tmp_path: Path, inputs: list[Path], *extra: str) -> str:
    """The input error (exit 3) wins over a missing model, and comes well within a second."""
    t0 = time.perf_counter()
    result = invoke([*map(str, inputs), "-o", str(tmp_path / "out"), *no_model(tmp_path), *extra])
    elapsed = time.perf_counter() - t0
    assert result.exit_code == EXIT_INPUT, result.output
    # the start line names the model; no load was attempted (no "loading" line, no model error)
    assert "loading" not in result.output and "cannot load" not in result.output
    assert "Traceback" not in result.output
    assert elapsed < 1.0, f"the input error took {elapsed:.2f} s"
    return str(result.output)


@pytest.mark.parametrize("indent", [None, 2])
def test_json_array_is_named_with_the_jq_fix(tmp_path: Path, indent: int | None) -> None:
    src = tmp_path / "papers.jsonl"
    src.write_text(json.dumps(PAPERS, indent=indent))
    out = fails_fast(tmp_path, [src])
    assert f"{src}: this is a JSON array" in out and "jq -c '.[]'" in out


def test_concatenated_pretty_printed_objects_are_named(tmp_path: Path) -> None:
    src = tmp_path / "papers.json"
    src.write_text("".join(json.dumps(p, indent=2) + "\n" for p in PAPERS))
    out = fails_fast(tmp_path, [src])
    assert "pretty-printed JSON objects" in out and "jq -c" in out


def test_missing_id_lists_the_fields_the_records_have(tmp_path: Path) -> None:
    src = tmp_path / "papers.jsonl.gz"
    recs = [{"paper": i, "name": "x", "summary": "y"} for i in range(3)]
    src.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in recs).encode()))
    out = fails_fast(tmp_path, [src])
    assert "no id field" in out and "fields are: paper, name, summary" in out
    assert "--id-field" in out and "--preset" in out


def test_parquet_reports_every_missing_column_at_once(tmp_path: Path) -> None:
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({"pid": [1], "name": ["a"]}), src)
    out = fails_fast(tmp_path, [src])
    assert "no id column" in out and "no title column 'title'" in out
    assert "it has columns: pid, name" in out


def test_gzip_named_jsonl_is_read_as_gzip(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "papers.jsonl"
    src.write_bytes(gzip.compress("".join(json.dumps(p) + "\n" for p in PAPERS).encode()))
    result = invoke([str(src), "-o", str(tmp_path / "out"), *model_args(tiny_models)])
    assert result.exit_code == EXIT_OK, result.output
    assert "gzip-compressed" in result.output
    assert sorted(read_output(tmp_path / "out")) == [0, 1, 2]


def test_titles_only_is_warned_and_counted(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "papers.jsonl"
    src.write_text(
        "".join(json.dumps({"id": i, "title": "t", "summary": "s"}) + "\n" for i in range(4))
    )
    summary = tmp_path / "s.json"
    args = [str(src), "-o", str(tmp_path / "out"), *model_args(tiny_models)]
    result = invoke([*args, "--summary-json", str(summary)])
    assert result.exit_code == EXIT_OK, result.output
    assert "has a 'abstract' field: embedding without abstracts" in result.output
    assert "The records have: id, title, summary" in result.output
    assert "fields: id=id, title=title, abstract=abstract" in result.output
    d = json.loads(summary.read_text())
    assert d["no_abstract"] == 4 and d["no_title"] == 0


def test_preset_sets_the_fields_and_is_part_of_the_job(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    beir = tmp_path / "corpus.jsonl"
    docs = [
        {"_id": f"d{i}", "title": f"t {i}", "text": f"body {i}", "metadata": {}} for i in range(3)
    ]
    beir.write_text("".join(json.dumps(d) + "\n" for d in docs))
    same = tmp_path / "same.jsonl"
    same.write_text(
        "".join(
            json.dumps({"id": d["_id"], "title": d["title"], "abstract": d["text"]}) + "\n"
            for d in docs
        )
    )
    out = tmp_path / "out"
    result = invoke([str(beir), "-o", str(out), *model_args(tiny_models), "--preset", "beir"])
    assert result.exit_code == EXIT_OK, result.output
    assert "fields (preset beir): id=_id, title=title, abstract=text" in result.output
    assert invoke([str(same), "-o", str(tmp_path / "ref"), *model_args(tiny_models)]).exit_code == 0
    got, ref = read_output(out), read_output(tmp_path / "ref")
    assert list(got) == list(ref)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k])
    # the same fields through another preset: still another job, refused
    other = ["--preset", "scirepeval", "--id-field", "_id", "--abstract-field", "text"]
    again = invoke([str(beir), "-o", str(out), *model_args(tiny_models), *other])
    assert again.exit_code == EXIT_USAGE and "fields.preset" in again.output, again.output


def test_csv_bad_row_is_located_by_its_physical_line(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "papers.csv"
    src.write_text('id,title,abstract\n1,"two\nlines",a\n2,b\n3,c,d\n')
    result = invoke([str(src), "-o", str(tmp_path / "out"), *model_args(tiny_models)])
    assert result.exit_code == EXIT_INPUT, result.output
    assert f"{src}:4: expected 3 fields" in result.output


def test_inputs_from_a_list(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i, p in enumerate(PAPERS):
        (tmp_path / f"{i}.jsonl").write_text(json.dumps(p) + "\n")
    (tmp_path / "list.txt").write_text("# papers\n0.jsonl\n\n1.jsonl\n")
    monkeypatch.chdir(tmp_path)
    result = invoke(
        [
            str(tmp_path / "2.jsonl"),
            "--inputs-from",
            "list.txt",
            "-o",
            "out",
            *model_args(tiny_models),
        ]
    )
    assert result.exit_code == EXIT_OK, result.output
    assert list(read_output(tmp_path / "out")) == [2, 0, 1]


def test_csv_ids_are_integers_with_an_integer_preset(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "s2.csv"
    src.write_text("corpusid,title,abstract\n10,a,b\n11,c,\n")
    result = invoke(
        [str(src), "-o", str(tmp_path / "out"), *model_args(tiny_models), "--preset", "s2"]
    )
    assert result.exit_code == EXIT_OK, result.output
    assert list(read_output(tmp_path / "out")) == [10, 11]
