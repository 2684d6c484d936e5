"""Adapter task tags against --adapter, --text-format, and what the shards record."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from specter2_cli.cli import app
from specter2_cli.store.shards import shard_metadata
from specter2_cli.synthetic import ADAPTER_NAMES, set_adapter_tag
from specter2_cli.text import format_paper
from tests.helpers import model_card_embeddings, write_jsonl

runner = CliRunner()
RECORDS = [
    {
        "id": 1,
        "title": "graph neural networks",
        "abstract": "we study graph data",
        "query": "graph",
    },
    {"id": 2, "title": "protein cells", "abstract": "clinical study", "query": "protein"},
]


def embed(args: list[str], code: int = 0) -> str:
    result = runner.invoke(app, ["embed", *args, "--no-progress"])
    assert result.exit_code == code, result.output
    return result.output


def metadata(out: Path) -> dict[str, Any]:
    return shard_metadata(next(out.glob("part-*.parquet")))


@pytest.fixture(scope="module")
def papers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("p") / "papers.jsonl", RECORDS)


@pytest.mark.parametrize(
    ("adapter", "folder"), list(itertools.product(ADAPTER_NAMES, ADAPTER_NAMES))
)
def test_tag_must_match_adapter(
    tiny_models: dict[str, Path], papers: Path, tmp_path: Path, adapter: str, folder: str
) -> None:
    out = tmp_path / "out"
    args = [str(papers), "-o", str(out), "--base-model", str(tiny_models["base"])]
    args += ["--adapter", adapter, "--adapter-path", str(tiny_models[folder])]
    if adapter == folder:
        embed(args)
        tags = {"proximity": "[PRX]", "adhoc_query": "[QRY]"}
        tags |= {"classification": "[CLF]", "regression": "[RGN]"}
        assert metadata(out)["adapter_tag"] == tags[adapter]
        return
    text = embed(args, code=2)
    assert f"is the {folder} adapter" in text and f"--adapter {folder}" in text
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("tag", ["[XYZ]", "my_custom_adapter"])
def test_unknown_tag_is_accepted_and_recorded(
    tiny_models: dict[str, Path], papers: Path, tmp_path: Path, tag: str
) -> None:
    custom = Path(shutil.copytree(tiny_models["proximity"], tmp_path / "custom"))
    set_adapter_tag(custom, tag)
    out = tmp_path / "out"
    embed([str(papers), "-o", str(out), "--base-model", str(tiny_models["base"]),
           "--adapter-path", str(custom)])  # fmt: skip
    assert metadata(out)["adapter_tag"] == tag
    assert metadata(out)["adapter"] == "proximity"


def test_adapter_config_without_name(
    tiny_models: dict[str, Path], papers: Path, tmp_path: Path
) -> None:
    """Without "name" the tensors' own adapter name must be the one loaded (--adapter)."""
    custom = Path(shutil.copytree(tiny_models["proximity"], tmp_path / "custom"))
    set_adapter_tag(custom, None, saved_as="proximity")
    args = [str(papers), "--base-model", str(tiny_models["base"]), "--adapter-path", str(custom)]
    embed([*args, "-o", str(tmp_path / "o")])
    assert metadata(tmp_path / "o")["adapter_tag"] is None
    # saved as "proximity" but loaded as adhoc_query: nothing would be loaded; exit 4
    text = embed([*args, "-o", str(tmp_path / "q"), "--adapter", "adhoc_query"], code=4)
    assert "the tensors belong to adapter(s) ['proximity']" in text
    assert not (tmp_path / "q").exists()


def test_library_and_search_refuse_wrong_adapter(
    tiny_models: dict[str, Path], papers: Path, tmp_path: Path
) -> None:
    from specter2_cli import ModelSettings, load_encoder
    from specter2_cli.errors import UsageError

    wrong = ModelSettings(base_model=str(tiny_models["base"]),
                          adapter_path=str(tiny_models["adhoc_query"]))  # fmt: skip
    with pytest.raises(UsageError, match="is the adhoc_query adapter"):
        load_encoder(wrong, device="cpu")
    out = tmp_path / "out"
    embed([str(papers), "-o", str(out), "--base-model", str(tiny_models["base"]),
           "--adapter-path", str(tiny_models["proximity"])])  # fmt: skip
    # the query adapter of `search` is checked too: a proximity folder is refused
    result = runner.invoke(
        app, ["search", str(out), "graph", "--adapter-path", str(tiny_models["proximity"])]
    )
    assert result.exit_code == 2, result.output
    assert "is the proximity adapter" in result.output


# ----------------------------------------------------------------- --text-format


def scirepeval_text(d: dict[str, Any], sep: str = "[SEP]") -> str:
    """SciRepEval's SimpleDataset (evaluation/eval_datasets.py), verbatim in substance."""
    text = []
    for field in ["title", "abstract"]:
        if d.get(field):
            text.append(str(d[field]))
    return (f" {sep} ".join(text)).strip()


VALUES: list[str | None] = [None, "", "   ", "\t\n", "Graph neural networks", " padded title "]


@pytest.mark.parametrize(("title", "abstract"), list(itertools.product(VALUES, VALUES)))
def test_format_paper_scirepeval_rule(title: str | None, abstract: str | None) -> None:
    d = {"title": title, "abstract": abstract}
    assert format_paper(title, abstract, "[SEP]", "scirepeval") == scirepeval_text(d)
    missing = {k: v for k, v in d.items() if v is not None}  # absent keys, not nulls
    assert format_paper(missing.get("title"), missing.get("abstract"), "[SEP]", "scirepeval") == (
        scirepeval_text(missing)
    )


FORMAT_RECORDS = [
    {"id": 1, "title": "graph neural networks", "abstract": "we study graph data"},
    {"id": 2, "title": "protein cells", "abstract": ""},
    {"id": 3, "title": "protein cells"},
    {"id": 4, "title": "protein cells", "abstract": None},
    {"id": 5, "title": "protein cells", "abstract": "   "},
    {"id": 6, "title": "", "abstract": "clinical study of the brain"},
    {"id": 7, "abstract": "clinical study of the brain"},
    {"id": 8, "title": "  ", "abstract": "clinical study of the brain"},
    {"id": 9, "title": None, "abstract": "the ocean and climate"},
]


def test_text_format_scirepeval_embeds_scirepeval_text(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "p.jsonl", FORMAT_RECORDS)
    m = ["--base-model", str(tiny_models["base"]), "--adapter-path", str(tiny_models["proximity"])]
    sci, card = tmp_path / "sci", tmp_path / "card"
    embed([str(src), "-o", str(sci), *m, "--text-format", "scirepeval"])
    embed([str(src), "-o", str(card), *m])
    base, prx = tiny_models["base"], tiny_models["proximity"]
    got = pq.read_table(sci).sort_by("id")
    assert got.column("id").to_pylist() == [r["id"] for r in FORMAT_RECORDS]  # none rejected
    want = model_card_embeddings(
        base, prx, "proximity", [scirepeval_text(r) for r in FORMAT_RECORDS]
    )
    emb = np.asarray(got.column("embedding").to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(emb, want, atol=2e-5, rtol=1e-4)
    # the default is the model card's text; it differs where the abstract is missing
    card_t = pq.read_table(card).sort_by("id")
    card_emb = np.asarray(card_t.column("embedding").to_pylist(), dtype=np.float32)
    card_texts = [
        (r.get("title") or "") + "[SEP]" + (r.get("abstract") or "") for r in FORMAT_RECORDS
    ]
    np.testing.assert_allclose(
        card_emb, model_card_embeddings(base, prx, "proximity", card_texts), atol=2e-5, rtol=1e-4
    )
    assert np.abs(card_emb[1] - emb[1]).max() > 1e-3  # "t [SEP] [SEP]" vs "t [SEP]"
    np.testing.assert_allclose(card_emb[0], emb[0], atol=2e-5)  # same tokens with both
    assert metadata(sci)["text_format"] == "scirepeval"
    assert metadata(card)["text_format"] == "card"
    job = json.loads((sci / "_specter2" / "job.json").read_text())
    assert job["model"]["text_format"] == "scirepeval"
    # part of the job identity: the other format cannot continue this OUTDIR
    text = embed([str(src), "-o", str(sci), *m], code=2)
    assert "text_format" in text


def test_search_refuses_shards_of_a_mislabelled_adapter(
    tiny_models: dict[str, Path], papers: Path, tmp_path: Path
) -> None:
    """Shards written before tags were checked say "proximity" but came from a query adapter."""
    custom = Path(shutil.copytree(tiny_models["adhoc_query"], tmp_path / "qry"))
    set_adapter_tag(custom, "untagged")  # embeds as proximity, as before the check
    out = tmp_path / "out"
    embed([str(papers), "-o", str(out), "--base-model", str(tiny_models["base"]),
           "--adapter-path", str(custom)])  # fmt: skip
    sizes = {}
    for shard in out.glob("part-*.parquet"):  # metadata without adapter_tag (older shards)
        t = pq.read_table(shard)
        md = json.loads(t.schema.metadata[b"specter2"])
        md.pop("adapter_tag")
        pq.write_table(t.replace_schema_metadata({b"specter2": json.dumps(md)}), shard)
        sizes[shard.name] = shard.stat().st_size
    # an intact OUTDIR of that time: its commit records hold the sizes of these files
    for record in (out / "_specter2").glob("g*-r*.json"):
        m = json.loads(record.read_text())
        for sh in m["shards"]:
            sh["sizes"] = [sizes[f] for f in sh["files"]]
        record.write_text(json.dumps(m, indent=1))
    search = ["search", str(out), "graph", "--adapter-path", str(tiny_models["adhoc_query"])]
    # intact: while the folder carries no task tag the shards are searched
    assert runner.invoke(app, search).exit_code == 0
    set_adapter_tag(custom, "[QRY]")  # the folder as the Hub has it
    result = runner.invoke(app, search)
    assert result.exit_code == 2, result.output
    assert "tagged [QRY]" in result.output


def test_job_identity_of_defaults_is_unchanged() -> None:
    """OUTDIRs written before --text-format/--adapter-revision existed still resume."""
    from specter2_cli.config import EmbedSettings, ModelSettings

    ident = EmbedSettings().job_identity()["model"]
    assert "text_format" not in ident and "adapter_revision" not in ident
    sci = EmbedSettings(model=ModelSettings(text_format="scirepeval")).job_identity()
    assert sci["model"]["text_format"] == "scirepeval"
