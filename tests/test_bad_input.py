"""Bad input, bad environments and `--on-error`: the documented outcome, and committed work kept.

Every case runs the real CLI in process (typer's CliRunner, stderr mixed into
`result.output`) on the session's tiny random model, so the whole file stays fast.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from specter2_cli.cli import app
from specter2_cli.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_OK, EXIT_USAGE
from tests.helpers import read_output

runner = CliRunner()

BAD_JSON_LINES = [  # (line, what the reason must say)
    ('{"id": 900, "title": "cut short", "abstract": "the', "invalid JSON"),
    ('{"id": 901, "title": "x"} trailing garbage', "invalid JSON"),
    ("42", "expected a JSON object, got an integer"),
    ('"just a string"', "expected a JSON object, got a string"),
    ("null", "expected a JSON object, got null"),
    ("true", "expected a JSON object, got a boolean"),
    ('[{"id": 902, "title": "in an array"}]', "expected a JSON object, got an array"),
    ("{", "invalid JSON"),
    ("[" * 100_000, "invalid JSON: nested too deeply"),
    ('{"id": ' + "7" * 5000 + ', "title": "huge number"}', "invalid JSON"),
    ('{"id": 903, "title": "broken escape \\ud800 here"}', "not valid Unicode"),
    ('{"id": "ok\\udc00", "title": "broken escape in the id"}', "id is not valid Unicode"),
]


def good(i: int, title: str = "paper") -> str:
    return json.dumps({"id": i, "title": f"{title} {i}", "abstract": "the model of the data"})


def write_lines(path: Path, lines: Sequence[str | bytes], end: bytes = b"\n") -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + end for x in lines))
    return path


def model_args(models: dict[str, Path], adapter: str = "proximity") -> list[str]:
    return ["--base-model", str(models["base"]), "--adapter-path", str(models[adapter])]


def invoke(args: list[str], input: str | bytes | None = None) -> Result:
    return runner.invoke(app, ["embed", *args, "--no-progress"], input=input)


def embed(
    models: dict[str, Path],
    inputs: list[Any],
    out: Path,
    *extra: str,
    expect: int = EXIT_OK,
    input: str | bytes | None = None,
) -> tuple[Result, dict[str, Any] | None]:
    """Run `specter2 embed`; returns the result and, on success, the summary JSON."""
    summary = out.parent / f"{out.name}-summary-{time.monotonic_ns()}.json"
    args = [*map(str, inputs), "-o", str(out), *model_args(models)]
    result = invoke([*args, "--summary-json", str(summary), *extra], input=input)
    assert result.exit_code == expect, (result.output, result.exception)
    if expect != EXIT_OK:
        assert "specter2: error: " in result.output
    return result, (json.loads(summary.read_text()) if expect == EXIT_OK else None)


def read_rejects(out: Path) -> list[dict[str, Any]]:
    p = out / "_rejects.jsonl"
    if not p.exists():
        return []
    # split on \n only: the rejects file may hold U+2028 and friends unescaped
    return [json.loads(x) for x in p.read_bytes().split(b"\n") if x]


def out_ids(out: Path) -> list[Any]:
    return pq.read_table(out).column("id").to_pylist()


# ---------------------------------------------------------------- malformed JSON


@pytest.mark.parametrize(("bad", "reason"), BAD_JSON_LINES)
def test_fail_stops_at_first_bad_record_keeping_committed_shards(
    tiny_models: dict[str, Path], tmp_path: Path, bad: str, reason: str
) -> None:
    src = write_lines(tmp_path / "in.jsonl", [good(1), good(2), good(3), bad, good(5)])
    out = tmp_path / "out"
    result, _ = embed(tiny_models, [src], out, "--shard-size", "2", expect=EXIT_INPUT)
    assert f"{src}:4: " in result.output  # FILE:LINE
    assert reason in result.output
    assert "committed" in result.output and "--on-error skip" in result.output
    assert len(result.output) < 5_000  # no traceback, no megabyte of echoed input
    assert out_ids(out) == [1, 2, 3]  # everything before the bad record is kept
    assert not read_rejects(out)


def test_skip_sets_each_bad_record_aside_and_goes_on(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    lines: list[str | bytes] = [good(1)]
    expected: list[tuple[int, str]] = []  # (line number, reason) per reject
    for k, (bad, reason) in enumerate(BAD_JSON_LINES):
        lines.append(bad)
        expected.append((len(lines), reason))
        lines.append(good(10 + k))
    lines.append(b'{"id": 950, "title": "latin-1 \xe9t\xe9"}')  # invalid UTF-8
    expected.append((len(lines), "invalid UTF-8"))
    lines.append(good(99))
    src = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out"
    result, summary = embed(tiny_models, [src], out, "--on-error", "skip", "--shard-size", "4")
    assert summary is not None
    rejects = read_rejects(out)
    assert [(r["location"], r["source"]) for r in rejects] == [
        (f"line {n}", str(src)) for n, _ in expected
    ]
    for r, (_, reason) in zip(rejects, expected, strict=True):
        assert reason in r["reason"], r
        assert set(r) == {"source", "location", "id", "reason", "raw"}
        assert 0 < len(r["raw"]) <= 2_000  # the 100 000-character line is cut
    by_reason = {r["reason"]: r for r in rejects}
    assert any(r["id"] == 903 for r in by_reason.values())  # id kept when it is known
    assert summary["rejected"] == len(expected) and f"{len(expected)} rejected" in result.output
    assert summary["embedded"] == len(BAD_JSON_LINES) + 2
    assert out_ids(out) == [1, *range(10, 10 + len(BAD_JSON_LINES)), 99]  # folder still reads


def test_bom_crlf_and_blank_lines_are_fine_input(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    records = [good(i) for i in range(1, 5)]
    clean = write_lines(tmp_path / "clean.jsonl", records)
    messy = tmp_path / "messy.jsonl"
    messy.write_bytes(
        b"\xef\xbb\xbf"  # BOM
        + b"\r\n".join(r.encode() for r in records[:2])
        + b"\r\n\r\n   \r\n\t\r\n"  # blank and whitespace-only lines, CRLF
        + b"\xef\xbb\xbf"  # a second BOM where another file was appended (cat a b)
        + b"\r\n".join(r.encode() for r in records[2:])
        + b"\r\n\r\n"
    )
    gz = tmp_path / "messy.jsonl.gz"
    gz.write_bytes(gzip.compress(messy.read_bytes()))
    embed(tiny_models, [clean], tmp_path / "clean")
    ref = read_output(tmp_path / "clean")
    for name, inputs, stdin in (
        ("plain", [messy], None),
        ("gz", [gz], None),
        ("stdin", ["-"], messy.read_bytes()),
    ):
        out = tmp_path / name
        _, summary = embed(tiny_models, inputs, out, input=stdin)  # --on-error fail
        assert summary is not None
        assert summary["embedded"] == 4 and summary["rejected"] == 0, name
        got = read_output(out)
        assert list(got) == [1, 2, 3, 4]
        for k in ref:  # the \r never reached the text
            np.testing.assert_allclose(got[k], ref[k], atol=1e-6)


def test_stdin_errors_point_to_lines(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    data = "\n".join([good(1), "", "oops", good(2)]) + "\n"
    result, _ = embed(tiny_models, ["-"], tmp_path / "a", input=data, expect=EXIT_INPUT)
    assert "<stdin>:3: invalid JSON" in result.output
    embed(tiny_models, ["-"], tmp_path / "b", "--on-error", "skip", input=data)
    [r] = read_rejects(tmp_path / "b")
    assert (r["source"], r["location"]) == ("<stdin>", "line 3")


# ---------------------------------------------------------------- ids


BAD_IDS: list[tuple[dict[str, Any], str, Any]] = [  # (record, reason, id shown in the rejects file)
    ({"title": "no id field"}, "missing id", None),
    ({"id": None, "title": "null id"}, "missing id", None),
    ({"id": "", "title": "empty id"}, "empty id", ""),
    ({"id": "   ", "title": "blank id"}, "empty id", "   "),
    ({"id": [1], "title": "array id"}, "got an array", None),
    ({"id": {"a": 1}, "title": "object id"}, "got an object", None),
    ({"id": True, "title": "boolean id"}, "got a boolean", None),
    ({"id": 1.5, "title": "float id"}, "got a floating-point number", None),
]


def test_bad_ids_are_rejected_with_reasons(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    lines = [json.dumps({"id": "a", "title": "first"})]
    lines += [json.dumps(rec) for rec, _, _ in BAD_IDS]
    lines.append(json.dumps({"id": "z", "title": "last"}))
    src = write_lines(tmp_path / "in.jsonl", lines)
    _, summary = embed(tiny_models, [src], tmp_path / "out", "--on-error", "skip")
    assert summary is not None and summary["rejected"] == len(BAD_IDS)
    rejects = read_rejects(tmp_path / "out")
    for r, (_, reason, shown) in zip(rejects, BAD_IDS, strict=True):
        assert reason in r["reason"] and r["id"] == shown, r
    assert out_ids(tmp_path / "out") == ["a", "z"]
    result, _ = embed(tiny_models, [src], tmp_path / "fail", expect=EXIT_INPUT)
    assert f"{src}:2: missing id" in result.output


def test_duplicate_ids_within_and_across_files_keep_the_first(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    a = write_lines(tmp_path / "a.jsonl", [good(1), good(2), good(1, "dup"), good(3)])
    b = write_lines(tmp_path / "b.jsonl", [good(3, "dup"), good(4), good(2, "dup")])
    first = write_lines(tmp_path / "first.jsonl", [good(i) for i in (1, 2, 3, 4)])
    out = tmp_path / "out"
    _, summary = embed(tiny_models, [a, b], out, "--on-error", "skip", "--shard-size", "2")
    assert summary is not None and summary["rejected"] == 3 and summary["embedded"] == 4
    assert [(r["source"], r["location"], r["id"]) for r in read_rejects(out)] == [
        (str(a), "line 3", 1),
        (str(b), "line 1", 3),
        (str(b), "line 3", 2),
    ]
    assert all("duplicate id" in r["reason"] for r in read_rejects(out))
    embed(tiny_models, [first], tmp_path / "ref")
    got, ref = read_output(out), read_output(tmp_path / "ref")
    assert list(got) == [1, 2, 3, 4]
    for k in ref:  # the first record with each id is the one embedded
        np.testing.assert_allclose(got[k], ref[k], atol=1e-6)
    result, _ = embed(tiny_models, [a, b], tmp_path / "fail", expect=EXIT_INPUT)
    assert f"{a}:3: duplicate id 1" in result.output
    assert out_ids(tmp_path / "fail") == [1, 2]


# ---------------------------------------------------------------- title and abstract


BAD_TEXT: list[tuple[dict[str, Any], str]] = [
    ({"id": 1}, "both missing or empty"),
    ({"id": 2, "title": "", "abstract": ""}, "both missing or empty"),
    ({"id": 3, "title": " \t ", "abstract": None}, "both missing or empty"),
    ({"id": 4, "title": None, "abstract": None}, "both missing or empty"),
    ({"id": 5, "title": 42, "abstract": "ok"}, "field 'title' is an integer"),
    ({"id": 6, "title": ["a", "b"]}, "field 'title' is an array"),
    ({"id": 7, "title": {"text": "a"}}, "field 'title' is an object"),
    ({"id": 8, "title": "ok", "abstract": False}, "field 'abstract' is a boolean"),
    ({"id": 9, "title": "ok", "abstract": 1.5}, "field 'abstract' is a floating-point number"),
]


def test_missing_empty_and_non_string_text(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    fine = [
        {"id": 100, "title": "title only"},
        {"id": 101, "title": None, "abstract": "abstract only"},
        {"id": 102, "title": "", "abstract": "empty title"},
    ]
    src = write_lines(
        tmp_path / "in.jsonl", [json.dumps(r) for r in [*(r for r, _ in BAD_TEXT), *fine]]
    )
    _, summary = embed(tiny_models, [src], tmp_path / "out", "--on-error", "skip")
    assert summary is not None and summary["rejected"] == len(BAD_TEXT)
    for r, (rec, reason) in zip(read_rejects(tmp_path / "out"), BAD_TEXT, strict=True):
        assert reason in r["reason"] and r["id"] == rec["id"], r
    assert out_ids(tmp_path / "out") == [100, 101, 102]


def test_ten_megabyte_abstract_is_truncated_quickly(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    words = "the model of the data "
    huge = words * (10 * 2**20 // len(words))
    src = write_lines(
        tmp_path / "in.jsonl",
        [json.dumps({"id": 1, "title": "huge", "abstract": huge}), good(2)],
    )
    ref_src = write_lines(
        tmp_path / "ref.jsonl",
        [json.dumps({"id": 1, "title": "huge", "abstract": words * 200}), good(2)],
    )
    t0 = time.perf_counter()
    _, summary = embed(tiny_models, [src], tmp_path / "out")
    elapsed = time.perf_counter() - t0
    assert summary is not None
    assert summary["embedded"] == 2 and summary["truncated"] == 1 and summary["rejected"] == 0
    assert elapsed < 30, f"{elapsed:.1f}s for one 10 MB abstract"
    embed(tiny_models, [ref_src], tmp_path / "ref")
    got, ref = read_output(tmp_path / "out"), read_output(tmp_path / "ref")
    np.testing.assert_allclose(got[1], ref[1], atol=1e-6)  # the first 510 tokens, as the card


def test_control_characters_and_unusual_unicode_are_embedded(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    texts = [
        "nul \x00 and bell \x07 and escape \x1b[31m",
        "zero\u200bwidth joiner\u200d and rtl \u202eoverride\u202c",
        "line\u2028separator, paragraph\u2029separator, next\x85line",  # no line breaks here
        "combining e\u0301\u0301\u0301 and \ufffd replacement",
        "astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🧬🔭 and cjk 東京 and arabic ﷽",
        "\x7f\x80\x9f c1 controls",
    ]
    lines = [
        json.dumps({"id": i, "title": t, "abstract": t[::-1]}, ensure_ascii=i % 2 == 0)
        for i, t in enumerate(texts)
    ]
    src = write_lines(tmp_path / "in.jsonl", lines)
    _, summary = embed(tiny_models, [src], tmp_path / "out")
    assert summary is not None
    assert summary["embedded"] == len(texts) and summary["rejected"] == 0
    got = read_output(tmp_path / "out")
    assert list(got) == list(range(len(texts)))
    assert all(np.isfinite(v).all() for v in got.values())


# ---------------------------------------------------------------- whole files


def test_empty_input_and_blank_only_input(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    blank = write_lines(tmp_path / "blank.jsonl", ["", "  ", "\t"], end=b"\r\n")
    for name, inputs in (("e", [empty]), ("b", [blank]), ("eb", [empty, blank])):
        # no record at all is a failed download until --allow-empty says otherwise
        result, _ = embed(tiny_models, inputs, tmp_path / f"{name}-fail", expect=EXIT_INPUT)
        assert "--allow-empty" in result.output
        assert not (tmp_path / f"{name}-fail" / "_SUCCESS").exists()
        _, summary = embed(tiny_models, inputs, tmp_path / name, "--allow-empty")
        assert summary is not None and summary["embedded"] == 0 and summary["rejected"] == 0
        assert pq.read_table(tmp_path / name).num_rows == 0
    src = write_lines(tmp_path / "one.jsonl", [good(1)])
    embed(tiny_models, [empty, src, empty], tmp_path / "mixed")
    assert out_ids(tmp_path / "mixed") == [1]


def test_file_of_only_bad_records(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    src = write_lines(tmp_path / "bad.jsonl", ["nope", "{}", "[]", '{"id": 1}'])
    result, _ = embed(tiny_models, [src], tmp_path / "fail", expect=EXIT_INPUT)
    assert f"{src}:1: invalid JSON" in result.output
    assert pq.read_table(tmp_path / "fail").num_rows == 0
    # --on-error skip with nothing embedded is a failure too (exit 3, no _SUCCESS)
    result, _ = embed(
        tiny_models, [src], tmp_path / "skip", "--on-error", "skip", expect=EXIT_INPUT
    )
    assert "all 4 records were rejected" in result.output
    assert len(read_rejects(tmp_path / "skip")) == 4
    assert not (tmp_path / "skip" / "_SUCCESS").exists()


def test_fail_on_first_record_says_nothing_was_committed(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "bad.jsonl", ["nope", good(1)])
    result, _ = embed(tiny_models, [src], tmp_path / "out", expect=EXIT_INPUT)
    assert "Nothing was committed" in result.output, result.output


def test_truncated_gzip_names_the_file_and_keeps_committed_shards(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from specter2_cli.synthetic import synthetic_papers

    papers = list(synthetic_papers(300, seed=1, mean_words=30, sd_words=10))
    data = gzip.compress("".join(json.dumps(p) + "\n" for p in papers).encode())
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    for on_error in ("fail", "skip"):  # a broken file is not a bad record: skip stops too
        result, _ = embed(
            tiny_models, [gz], out, "--shard-size", "20", "--on-error", on_error,
            expect=EXIT_INPUT,
        )  # fmt: skip
        assert str(gz) in result.output and "truncated or corrupt" in result.output
        assert "Traceback" not in result.output
        ids = out_ids(out)
        assert 0 < len(ids) < len(papers) and len(ids) % 20 == 0
        assert ids == [p["id"] for p in papers[: len(ids)]]
        if on_error == "fail":
            before = read_output(out)
    after = read_output(out)  # the rerun resumed, failed at the same place, damaged nothing
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_not_gzip_at_all_reads_as_plain(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """Formats go by content: a plain file named .gz is read as the JSON lines it holds."""
    src = write_lines(tmp_path / "plain.jsonl.gz", [good(1)])
    embed(tiny_models, [src], tmp_path / "out", expect=0)
    assert list(read_output(tmp_path / "out")) == [1]


def test_parquet_missing_columns_fails_before_the_model_loads(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = tmp_path / "papers.parquet"
    pq.write_table(pa.table({"pid": [1, 2], "title": ["a", "b"], "venue": ["x", "y"]}), src)
    out = tmp_path / "out"
    bogus = ["--base-model", str(tmp_path / "no-such-model"), "--adapter", "none"]
    result = invoke([str(src), "-o", str(out), *bogus])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "no id column" in result.output and "it has columns: pid, title, venue" in result.output
    error = result.output[result.output.index("specter2: error: ") :]
    assert "--id-field" in error and "no-such-model" not in error
    assert "loading " not in result.output
    notitle = tmp_path / "notitle.parquet"
    pq.write_table(pa.table({"id": [1], "name": ["a"]}), notitle)
    result = invoke([str(notitle), "-o", str(tmp_path / "o2"), *bogus])
    assert result.exit_code == EXIT_INPUT, result.output
    assert (
        "no title column 'title'" in result.output and "it has columns: id, name" in result.output
    )
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet\n")
    result = invoke([str(fake), "-o", str(tmp_path / "o3"), *bogus])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "not a readable Parquet file" in result.output
    # nothing was recorded in OUTDIR: the corrected command runs there
    _, summary = embed(tiny_models, [src], out, "--id-field", "pid")
    assert summary is not None and summary["embedded"] == 2


def test_parquet_bad_rows_are_located_by_row(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "p.parquet"
    table = pa.table(
        {
            "corpusid": [1, 2, 1, 3, None],
            "title": ["a", None, "dup", "c", "d"],
            "abstract": ["x", None, "y", None, "z"],
        }
    )
    pq.write_table(table, src, row_group_size=2)
    result, _ = embed(tiny_models, [src], tmp_path / "fail", expect=EXIT_INPUT)
    assert f"{src}: row 1: no text" in result.output
    assert out_ids(tmp_path / "fail") == [1]
    _, summary = embed(tiny_models, [src], tmp_path / "skip", "--on-error", "skip")
    assert summary is not None and summary["rejected"] == 3
    assert [(r["location"], r["id"]) for r in read_rejects(tmp_path / "skip")] == [
        ("row 1", 2),
        ("row 2", 1),
        ("row 4", None),
    ]
    assert out_ids(tmp_path / "skip") == [1, 3]


@pytest.mark.parametrize("kind", ["missing", "missing-no-suffix", "directory", "dir.jsonl"])
def test_input_path_missing_or_a_directory(
    tiny_models: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    path = tmp_path / {"missing": "nope.jsonl", "missing-no-suffix": "nope"}.get(kind, kind)
    if kind.startswith("dir"):
        path.mkdir()
    result, _ = embed(tiny_models, [path], tmp_path / "out", expect=EXIT_INPUT)
    assert str(path) in result.output
    assert ("is a directory" if kind.startswith("dir") else "no such file") in result.output


def test_output_folder_not_writable(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    src = write_lines(tmp_path / "in.jsonl", [good(1)])
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile / "sub", afile):  # fails for root too: a file cannot hold a folder
        result, _ = embed(tiny_models, [src], out, expect=EXIT_ENVIRONMENT)
        assert str(out) in result.output
    assert afile.read_text() == "x"


# ---------------------------------------------------------------- models


@pytest.fixture(scope="module")
def wide_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from specter2_cli.synthetic import ModelShape, build_random_model

    shape = ModelShape(hidden=48, layers=1, heads=2, intermediate=96)
    return build_random_model(tmp_path_factory.mktemp("wide"), shape=shape, adapters=("proximity",))


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        (["model.safetensors"], "model.safetensors"),
        (["config.json"], "config.json"),
        (["vocab.txt", "tokenizer.json"], "tokenizer.json or vocab.txt"),
    ],
)
def test_local_base_model_missing_a_file(
    tiny_models: dict[str, Path], tmp_path: Path, remove: list[str], named: str
) -> None:
    base = tmp_path / "base"
    shutil.copytree(tiny_models["base"], base)
    for name in remove:
        (base / name).unlink()
    src = write_lines(tmp_path / "in.jsonl", [good(1)])
    args = [str(src), "-o", str(tmp_path / "out"), "--base-model", str(base)]
    result = invoke([*args, "--adapter-path", str(tiny_models["proximity"])])
    assert result.exit_code == EXIT_ENVIRONMENT, (result.output, result.exception)
    assert f"missing {named}" in result.output and str(base) in result.output


@pytest.mark.parametrize("remove", ["pytorch_adapter.bin", "adapter_config.json"])
def test_local_adapter_missing_a_file(
    tiny_models: dict[str, Path], tmp_path: Path, remove: str
) -> None:
    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_models["proximity"], adapter)
    (adapter / remove).unlink()
    src = write_lines(tmp_path / "in.jsonl", [good(1)])
    args = [str(src), "-o", str(tmp_path / "out"), "--base-model", str(tiny_models["base"])]
    result = invoke([*args, "--adapter-path", str(adapter)])
    assert result.exit_code == EXIT_ENVIRONMENT, (result.output, result.exception)
    assert f"missing {remove}" in result.output


def test_adapter_hidden_size_does_not_match_the_base(
    tiny_models: dict[str, Path], wide_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "in.jsonl", [good(1)])
    args = [str(src), "-o", str(tmp_path / "out"), "--base-model", str(tiny_models["base"])]
    result = invoke([*args, "--adapter-path", str(wide_models["proximity"])])
    assert result.exit_code == EXIT_ENVIRONMENT, (result.output, result.exception)
    assert "hidden size 48" in result.output and "hidden size 32" in result.output


def test_corrected_model_path_runs_in_the_same_outdir(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "in.jsonl", [good(1)])
    out = tmp_path / "out"
    typo = ["--base-model", str(tmp_path / "specter2_bsae"), "--adapter", "none"]
    result = invoke([str(src), "-o", str(out), *typo])
    assert result.exit_code == EXIT_ENVIRONMENT, result.output
    result = invoke([str(src), "-o", str(out), "--base-model", str(tiny_models["base"]),
                     "--adapter", "none"])  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output


# ---------------------------------------------------------------- exit codes


def test_exit_codes_are_distinct(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    assert (EXIT_USAGE, EXIT_INPUT, EXIT_ENVIRONMENT) == (2, 3, 4)
    src = write_lines(tmp_path / "in.jsonl", [good(1)])
    bad = write_lines(tmp_path / "bad.jsonl", ["nope"])
    txt = write_lines(tmp_path / "in.txt", [good(1)])
    afile = tmp_path / "afile"
    afile.write_text("x")
    m = model_args(tiny_models)
    cases = [
        (EXIT_USAGE, [str(src), *m]),  # no -o
        (EXIT_USAGE, [str(src), "-o", str(tmp_path / "o1"), *m, "--batch-tokens", "100"]),
        (EXIT_USAGE, [str(src), "-o", str(tmp_path / "o2"), *m, "--on-error", "ignore"]),
        (EXIT_USAGE, [str(txt), "-o", str(tmp_path / "o3"), *m]),  # unknown format
        (EXIT_INPUT, [str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o4"), *m]),
        (EXIT_INPUT, [str(bad), "-o", str(tmp_path / "o5"), *m]),
        (EXIT_ENVIRONMENT, [str(src), "-o", str(afile / "sub"), *m]),
        (EXIT_ENVIRONMENT, [str(src), "-o", str(tmp_path / "o6"), "--base-model",
                            str(tmp_path / "no-model"), "--adapter", "none"]),
    ]  # fmt: skip
    for code, args in cases:
        result = invoke(args)
        assert result.exit_code == code, (args, result.output, result.exception)


# ---------------------------------------------------------------- resume


def _lines_with_rejects() -> list[str]:
    lines = []
    for i in range(12):
        lines.append(good(i))
        if i % 3 == 1:
            lines.append(f"not json {i}")
        if i == 7:
            lines.append(good(0, "dup"))  # duplicates an id committed in the first shard
    return lines


@pytest.mark.parametrize("how", ["signal", "crash"])
def test_resumed_run_neither_loses_nor_duplicates_rejects(
    tiny_models: dict[str, Path], tmp_path: Path, how: str
) -> None:
    from specter2_cli.config import EmbedSettings, ModelSettings
    from specter2_cli.errors import Interrupted
    from specter2_cli.pipeline import EmbedJob

    src = write_lines(tmp_path / "in.jsonl", _lines_with_rejects())
    opts = ["--on-error", "skip", "--shard-size", "3", "--sort-window", "2"]
    _, straight = embed(tiny_models, [src], tmp_path / "straight", *opts)
    assert straight is not None and straight["rejected"] == 5

    out = tmp_path / "out"
    settings = EmbedSettings(
        model=ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        ),
        on_error="skip",
        shard_size=3,
        sort_window=2,
    )
    commits: list[Any] = []

    def on_commit(entry: Any) -> None:
        commits.append(entry)
        if len(commits) == 2:
            if how == "crash":
                raise RuntimeError("simulated crash right after a commit")
            job.stop.set("SIGTERM")

    job = EmbedJob([str(src)], out, settings=settings, on_shard_committed=on_commit)
    with pytest.raises(Interrupted if how == "signal" else RuntimeError):
        job.run()
    committed = read_rejects(out)
    assert 0 < len(committed) < 5
    with open(out / "_rejects.jsonl", "ab") as f:  # rejects of a window that never committed
        f.write(b'{"source": "uncommitted", "reason": "written just before a kill"}\n')

    result, resumed = embed(tiny_models, [src], out, *opts)
    assert resumed is not None
    assert (out / "_rejects.jsonl").read_bytes() == (
        tmp_path / "straight" / "_rejects.jsonl"
    ).read_bytes()
    # the summary counts this run's work; together with the first run's, every reject once
    assert resumed["rejected"] + len(committed) == 5
    assert f"{5 - len(committed)} rejected" in result.output
    assert resumed["resumed_from_rows"] > 0
    assert resumed["embedded"] + resumed["resumed_from_rows"] == straight["embedded"]
    assert out_ids(out) == out_ids(tmp_path / "straight") == list(range(12))
    _, again = embed(tiny_models, [src], out, *opts)  # complete: nothing added
    assert again is not None and again["already_done"]
    assert len(read_rejects(out)) == 5


def test_rerun_with_skip_after_fail_continues_where_it_stopped(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "in.jsonl", _lines_with_rejects())
    opts = ["--shard-size", "3"]
    embed(tiny_models, [src], tmp_path / "straight", *opts, "--on-error", "skip")
    out = tmp_path / "out"
    result, _ = embed(tiny_models, [src], out, *opts, expect=EXIT_INPUT)
    assert f"{src}:3: invalid JSON" in result.output
    assert out_ids(out) == [0, 1]
    embed(tiny_models, [src], out, *opts, "--on-error", "skip")
    assert out_ids(out) == out_ids(tmp_path / "straight")
    assert read_rejects(out) == read_rejects(tmp_path / "straight")


# ---------------------------------------------------------------- pipeline limits


def test_rejects_are_handed_on_at_least_every_sort_window(tmp_path: Path) -> None:
    """A run of bad records never piles up in memory: a window holds at most --sort-window."""
    from specter2_cli.config import FieldSettings
    from specter2_cli.inputs import RecordStream, RecordValidator, plan_slices, resolve_inputs
    from specter2_cli.pipeline.windows import RecordFilter, cut_windows
    from specter2_cli.store.keys import KeySet

    src = write_lines(tmp_path / "in.jsonl", [good(1), *(["nope"] * 40), good(2)])
    files = resolve_inputs([str(src)])
    stream = RecordStream(
        files, plan_slices(files, 0, 1), RecordValidator(FieldSettings(), False, "[SEP]", "int")
    )
    windows = list(cut_windows(stream, files, RecordFilter(KeySet(), None), 1000, 4, False))
    sizes = [len(w.rejects) for w in windows]
    assert sum(sizes) == 40
    assert max(sizes) <= 4, sizes
    assert [r.id for w in windows for r in w.records] == [1, 2]


def test_duplicates_are_located_without_rereading_the_input(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specter2_cli.inputs import jsonl

    calls: list[int] = []
    original = jsonl.count_lines

    def spy(f: Any, offset: int) -> int | None:
        calls.append(offset)
        return original(f, offset)

    monkeypatch.setattr(jsonl, "count_lines", spy)
    src = write_lines(tmp_path / "in.jsonl", [good(i) for i in range(5)] * 2)
    embed(tiny_models, [src], tmp_path / "out", "--on-error", "skip")
    assert [r["location"] for r in read_rejects(tmp_path / "out")] == [
        f"line {n}" for n in range(6, 11)
    ]
    assert calls == []
