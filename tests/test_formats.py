"""Records in the documented formats of real corpora embed exactly like the equivalent JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings, FieldSettings, ModelSettings
from specter2_cli.model.encoder import Encoder
from specter2_cli.model.loader import load_encoder
from tests import formats_data as fd
from tests.helpers import model_card_embeddings, read_output


@pytest.fixture(scope="module")
def encoder(tiny_models: dict[str, Path]) -> Encoder:
    return load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        )
    )


def embed(enc: Encoder, inputs: list[Path], out: Path, **fields: Any) -> dict[Any, np.ndarray]:
    settings = EmbedSettings(
        model=enc.settings, fields=FieldSettings(**fields), shard_size=4, sort_window=3
    )
    embed_files([str(p) for p in inputs], out, encoder=enc, settings=settings)
    return read_output(out)


def assert_same(got: dict[Any, np.ndarray], want: dict[Any, np.ndarray]) -> None:
    assert list(got) == list(want)  # same ids, in the same order
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v)


def check(enc: Encoder, tmp: Path, inputs: list[Path], expected: list[fd.Rec], **kw: Any) -> None:
    ref = fd.write_equivalent(tmp / "equivalent.jsonl", expected)
    got = embed(enc, inputs, tmp / "got", **kw)
    assert_same(got, embed(enc, [ref], tmp / "ref"))
    assert len(got) == len(expected)


def test_openalex_partitions(encoder: Encoder, tmp_path: Path) -> None:
    """Nested updated_date=* folders of part_000.gz, a manifest beside them (skipped);
    abstracts rebuilt from the inverted index; display_name stands in for a null title."""
    expected = fd.write_openalex(tmp_path / "works")
    check(encoder, tmp_path, [tmp_path / "works"], expected)


@pytest.mark.parametrize("name", ["pubmed25n0001.xml.gz", "sample.xml"])
def test_pubmed_xml(encoder: Encoder, tmp_path: Path, name: str) -> None:
    """Labelled sections (labels dropped), inline markup, no abstract, a DeleteCitation."""
    expected = fd.write_pubmed(tmp_path / name)
    check(encoder, tmp_path, [tmp_path / name], expected)
    # the DeleteCitation's two PMIDs are counted in the summary, not embedded
    settings = EmbedSettings(model=encoder.settings)
    summary = embed_files(
        [str(tmp_path / name)], tmp_path / "s", encoder=encoder, settings=settings
    )
    assert summary.deleted_citations == 2 and summary.embedded == len(expected)


def test_core_folder_tree(encoder: Encoder, tmp_path: Path) -> None:
    """One object per file, pretty-printed or compact, no trailing newline, nested folders."""
    expected = fd.write_core(tmp_path / "core")
    check(encoder, tmp_path, [tmp_path / "core"], [dict(r) for r in expected])
    got = embed(encoder, [tmp_path / "core"], tmp_path / "preset", id_field="coreId")
    assert sorted(got) == ["228783", "5", "77"]


@pytest.mark.parametrize(("name", "delim"), [("papers.csv", ","), ("papers.tsv", "\t")])
def test_csv_with_quoted_newlines(encoder: Encoder, tmp_path: Path, name: str, delim: str) -> None:
    expected = fd.write_csv(tmp_path / name, delim)
    check(encoder, tmp_path, [tmp_path / name], expected)


def test_zstd_json_lines_in_two_frames(encoder: Encoder, tmp_path: Path) -> None:
    recs = fd.PUBMED_EXPECTED
    fd.write_zstd_jsonl(tmp_path / "papers.jsonl.zst", [dict(r) for r in recs])
    check(encoder, tmp_path, [tmp_path / "papers.jsonl.zst"], [dict(r) for r in recs])


def test_pubmed_matches_the_model_card_recipe(
    encoder: Encoder, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    fd.write_pubmed(tmp_path / "p.xml")
    got = embed(encoder, [tmp_path / "p.xml"], tmp_path / "out")
    sep = encoder.tokenizer.sep_token
    texts = [r["title"] + sep + (r["abstract"] or "") for r in fd.PUBMED_EXPECTED]
    ref = model_card_embeddings(tiny_models["base"], tiny_models["proximity"], "proximity", texts)
    for r, v in zip(fd.PUBMED_EXPECTED, ref, strict=True):
        np.testing.assert_allclose(got[r["id"]], v, rtol=1e-4, atol=1e-5)


def test_s2_papers_and_abstracts_joined_with_duckdb(encoder: Encoder, tmp_path: Path) -> None:
    """The README's path: DuckDB joins the two datasets into Parquet; `--preset s2` embeds it."""
    pytest.importorskip("duckdb")
    from specter2_cli.s2join import main

    expected = fd.write_s2(tmp_path / "s2")
    joined = tmp_path / "joined.parquet"
    code = main(
        [
            "--papers",
            str(tmp_path / "s2/papers/*.gz"),
            "--abstracts",
            str(tmp_path / "s2/abstracts/*.gz"),
            "-o",
            str(joined),
            "--memory-limit",
            "256MB",
            "--threads",
            "1",
        ]
    )
    assert code == 0
    got = embed(encoder, [joined], tmp_path / "got", id_field="corpusid", id_type="int")
    ref = embed(encoder, [fd.write_equivalent(tmp_path / "eq.jsonl", expected)], tmp_path / "ref")
    assert sorted(got) == sorted(ref)  # the join does not keep the input order
    for k, v in ref.items():
        np.testing.assert_array_equal(got[k], v)
    assert main(["--papers", "x", "--abstracts", "y", "-o", str(joined)]) == 2  # never overwrites
