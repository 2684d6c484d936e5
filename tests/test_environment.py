"""Beside any current ML stack: --version, network errors of huggingface_hub >= 1, token ids."""

from __future__ import annotations

import importlib
import unicodedata
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from specter2_cli.cli import app
from tests.helpers import network_error, write_jsonl

runner = CliRunner()


def test_version_fails_naming_package_version_and_range(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def broken(name: str, *a: Any, **k: Any) -> Any:
        if name == "transformers":
            raise ImportError("cannot import name 'HfFolder' from 'huggingface_hub'")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", broken)
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 4, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("error: transformers"))
    assert f"installed: {version('transformers')}" in line and "transformers>=4.57,<6" in line


def test_version_exits_0_when_everything_imports() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert f"transformers {version('transformers')}" in result.output


@pytest.mark.parametrize("where", ["base", "adapter"])
def test_network_error_is_exit_4_with_the_readme_message(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from specter2_cli.model import loader

    error = network_error()
    assert not isinstance(error, OSError) or "requests" in type(error).__module__

    def fail(*a: Any, **k: Any) -> Any:
        raise error

    if where == "adapter":
        monkeypatch.setattr(loader, "hub_adapter_folder", fail)
        args = ["--base-model", str(tiny_models["base"])]  # adapter: the Hub id
    else:
        import transformers

        monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fail)
        args = ["--adapter-path", str(tiny_models["proximity"])]  # base: the Hub id
    monkeypatch.setattr(loader, "should_go_offline", lambda sources, offline: False)
    papers = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "title": "t", "abstract": "a"}])
    out = tmp_path / "out"
    result = runner.invoke(app, ["embed", str(papers), "-o", str(out), "--no-progress", *args])
    assert result.exit_code == 4, result.output
    assert "Temporary failure in name resolution" in result.output
    assert "run `specter2 download` to fill the cache" in result.output
    assert "Traceback" not in result.output


# ----------------------------------------------------------------- token ids


def _wordpiece(text: str, vocab: dict[str, int]) -> list[int]:
    """BERT's uncased tokenization written out (BasicTokenizer + greedy WordPiece), for
    texts of letters, digits, ASCII punctuation, accents and spaces."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words: list[str] = []
    for chunk in text.split():
        word = ""
        for c in chunk:
            if not c.isalnum():
                words += [word, c] if word else [c]
                word = ""
            else:
                word += c
        if word:
            words.append(word)
    ids = [vocab["[CLS]"]]
    for w in words:
        if len(w) > 100:
            ids.append(vocab["[UNK]"])
            continue
        pieces, start = [], 0
        while start < len(w):
            end = len(w)
            while (
                end > start and (w[start:end] if start == 0 else "##" + w[start:end]) not in vocab
            ):
                end -= 1
            if end == start:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab[w[start:end] if start == 0 else "##" + w[start:end]])
            start = end
        ids += pieces
    return [*ids[:511], vocab["[SEP]"]]


TEXTS = [
    "Attention is all you need",
    "Graph neural networks, for citation-data (2019): a study!",
    "Résumé of naïve Bayes; Ångström-scale results...",
    "the model" * 5 + " x" * 600,
    "transformers attention embeddings" + "q" * 120,
]


def test_token_ids_match_bert_wordpiece(tiny_models: dict[str, Path]) -> None:
    """The tool's tokenization (fast path included) gives BERT's WordPiece ids under
    whatever transformers / tokenizers is installed."""
    from transformers import AutoTokenizer

    from specter2_cli.text import tokenize

    vocab_list = (tiny_models["base"] / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab = {t: i for i, t in enumerate(vocab_list) if t}
    tok = AutoTokenizer.from_pretrained(str(tiny_models["base"]))
    got = tokenize(tok, TEXTS, 512)
    for i, text in enumerate(TEXTS):
        expected = _wordpiece(text, vocab)
        assert list(got.ids[i]) == expected, text
        assert tok(text, truncation=True, max_length=512)["input_ids"] == expected


def test_reference_engine_without_adapters_is_exit_4(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "adapters", None)  # import adapters -> ImportError
    papers = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "title": "t", "abstract": "a"}])
    args = ["embed", str(papers), "-o", str(tmp_path / "out"), "--no-progress"]
    args += ["--base-model", str(tiny_models["base"])]
    args += ["--adapter-path", str(tiny_models["proximity"])]
    result = runner.invoke(app, [*args, "--engine", "reference"])
    assert result.exit_code == 4, result.output
    assert "pip install 'specter2-cli[reference]'" in result.output
    assert not (tmp_path / "out").exists()
    assert runner.invoke(app, args).exit_code == 0  # the default engine needs no adapters


def test_supported_ranges_are_the_packaging_ones_and_admit_the_installed_stack() -> None:
    """--version's ranges are pyproject.toml's, and they admit what is installed here (both
    CI lanes: transformers 4.57 and the newest 5.x); adapters is only an extra."""
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement

    from specter2_cli.cli.conventions import NEEDS, OPTIONAL

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    deps = {Requirement(d).name.replace("-", "_"): Requirement(d) for d in project["dependencies"]}
    assert "adapters" not in deps
    assert project["optional-dependencies"]["reference"] == [OPTIONAL["adapters"]]
    for name, need in NEEDS.items():
        assert Requirement(need).specifier == deps[name].specifier, name
    for name in ("transformers", "huggingface_hub", "tokenizers", "safetensors", "torch"):
        installed = version(name.replace("_", "-"))
        assert deps[name].specifier.contains(installed, prereleases=True), (name, installed)


def test_import_error_inside_another_package_does_not_advise_in_a_circle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """adapters 1.3.0 beside huggingface_hub >= 1 fails on `HfFolder`; huggingface_hub is in
    range, so the advice must name the importing package, not "pip install huggingface_hub"."""
    import sys

    from specter2_cli.cli import conventions

    pkg = tmp_path / "oldlib"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from huggingface_hub import HfFolderGoneInThisTest\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = conventions._installed
    monkeypatch.setattr(conventions, "_installed", lambda p: "1.3.0" if p == "oldlib" else real(p))
    with pytest.raises(ImportError) as info:
        importlib.import_module("oldlib")
    sys.modules.pop("oldlib", None)
    text = conventions.environment_problem(info.value)
    hub = version("huggingface-hub")
    assert f"oldlib 1.3.0 cannot be used with huggingface_hub {hub}" in text
    assert "which specter2 supports (huggingface_hub>=0.34,<3)" in text
    assert "pip install 'huggingface_hub" not in text
