"""The engine against the adapters library itself (.ci/run's second lane: adapters 1.3.0 +
transformers 4.57.6). Skipped where adapters cannot be imported (the newest-stack lane)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from specter2_cli.config import ModelSettings
from specter2_cli.model.fused import FusedBertEncoder, UnsupportedModel
from specter2_cli.model.loader import load_encoder
from specter2_cli.model.seqbn import AdapterConfigError, read_adapter
from specter2_cli.synthetic import ADAPTER_NAMES, seq_bn_config, write_seq_bn_adapter
from tests.helpers import model_card_embeddings

pytestmark = pytest.mark.reference
adapters = pytest.importorskip("adapters")

TOL = 1e-6
PAPERS = [
    "Attention is all you need[SEP]we show a new transformer model for language",
    "Protein folding[SEP]",
    "Graph neural networks for citation search[SEP]" + " ".join(["data model"] * 300),
]
QUERIES = ["graph neural networks", "protein", "quantum field theory of stars"]


def _library(base: Path, adapter_dir: Path | None, name: str, **load: Any) -> Any:
    model = adapters.AutoAdapterModel.from_pretrained(str(base))
    if adapter_dir is not None:
        model.load_adapter(str(adapter_dir), load_as=name, set_active=True, **load)
        assert list(model.active_adapters.flatten()) == [name]
    return model.eval()


def _card(model: Any, tok: Any, texts: list[str]) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for t in texts:
            enc = tok([t], truncation=True, return_tensors="pt", return_token_type_ids=False,
                      max_length=512)  # fmt: skip
            out.append(model(**enc).last_hidden_state[0, 0].numpy())
    return np.stack(out)


@pytest.fixture(scope="module")
def tok(tiny_models: dict[str, Path]) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_models["base"]))


@pytest.mark.parametrize("mode", ["paper", "query"])
@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_engine_equals_adapters_library(
    tiny_models: dict[str, Path], tok: Any, name: str, mode: str
) -> None:
    """synthetic.py's files load in adapters, and the engine (and the test reference) agree."""
    texts = PAPERS if mode == "paper" else QUERIES
    settings = ModelSettings(
        base_model=str(tiny_models["base"]), adapter=name, adapter_path=str(tiny_models[name])
    )
    ref = _card(_library(tiny_models["base"], tiny_models[name], name), tok, texts)
    got = load_encoder(settings, device="cpu", dtype="float32").embed_texts(texts)
    assert np.abs(got - ref).max() <= TOL
    hooked = model_card_embeddings(tiny_models["base"], tiny_models[name], name, texts)
    assert np.abs(hooked - ref).max() <= TOL
    base = _card(_library(tiny_models["base"], None, name), tok, texts)
    assert np.abs(base - ref).max() > 1e-2  # the adapter really ran


def _variant(root: Path, tiny_models: dict[str, Path], config: dict[str, Any], **kw: Any) -> Path:
    from transformers import BertConfig

    base_cfg = BertConfig.from_pretrained(str(tiny_models["base"]))
    gen = torch.Generator().manual_seed(5)
    return write_seq_bn_adapter(
        root / "variant", "proximity", base_cfg, str(tiny_models["base"]),
        lambda shape: torch.randn(shape, generator=gen) * 0.5, config=config, **kw,
    )  # fmt: skip


def _engine(tiny_models: dict[str, Path], folder: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer, BertModel

    bert = BertModel.from_pretrained(str(tiny_models["base"])).eval()
    adapter = read_adapter(folder, "proximity", 32, bert.config.num_hidden_layers)
    fused = FusedBertEncoder.from_bert(bert, adapter)
    tok = AutoTokenizer.from_pretrained(str(tiny_models["base"]))
    rows = []
    with torch.inference_mode():
        for t in texts:  # one at a time, as the reference
            enc = tok([t], truncation=True, return_tensors="pt", return_token_type_ids=False,
                      max_length=512)  # fmt: skip
            rows.append(fused(enc["input_ids"], enc["attention_mask"])[0].numpy())
    return np.stack(rows)


def _legacy_names(folder: Path) -> None:
    weights = folder / "pytorch_adapter.bin"
    sd = torch.load(weights, weights_only=True)
    torch.save({k.replace(".adapters.", ".layer_text_task_adapters."): v for k, v in sd.items()},
               weights)  # fmt: skip


VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "leave_out": (seq_bn_config(leave_out=[0]), {}),
    "reduction_mapping": (seq_bn_config(reduction_factor={"0": 8, "default": 16}), {}),
    "scaling": (seq_bn_config(scaling=0.25), {}),
    "relu_upper_case": (seq_bn_config(non_linearity="ReLU"), {}),
    "safetensors": (seq_bn_config(), {"safetensors": True}),
    "legacy_weight_names": (seq_bn_config(), {}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_config_variants_equal_the_library(
    tiny_models: dict[str, Path], tok: Any, tmp_path: Path, variant: str
) -> None:
    config, kw = VARIANTS[variant]
    folder = _variant(tmp_path, tiny_models, config, **kw)
    if variant == "legacy_weight_names":
        _legacy_names(folder)
    load = {"use_safetensors": True} if kw.get("safetensors") else {}
    ref = _card(_library(tiny_models["base"], folder, "proximity", **load), tok, QUERIES)
    got = _engine(tiny_models, folder, QUERIES)
    assert np.abs(got - ref).max() <= TOL


def test_missing_key_takes_bnconfig_default_and_is_refused(
    tiny_models: dict[str, Path], tok: Any, tmp_path: Path
) -> None:
    """Without original_ln_before the library computes another function (BnConfig's False);
    the engine must refuse rather than compute seq_bn's."""
    config = seq_bn_config()
    del config["original_ln_before"]
    folder = _variant(tmp_path, tiny_models, config)
    lib = _card(_library(tiny_models["base"], folder, "proximity"), tok, QUERIES)
    full = _variant(tmp_path / "full", tiny_models, seq_bn_config())
    seq = _card(_library(tiny_models["base"], full, "proximity"), tok, QUERIES)
    assert np.abs(lib - seq).max() > 1e-2  # the trap is real
    with pytest.raises(AdapterConfigError, match="original_ln_before=False"):
        _engine(tiny_models, folder, QUERIES)


def test_integer_scaling_crashes_the_library_but_not_the_engine(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = _variant(tmp_path, tiny_models, seq_bn_config(scaling=2))
    with pytest.raises(ValueError, match="scaling"):
        _library(tiny_models["base"], folder, "proximity")
    as_float = _variant(tmp_path / "f", tiny_models, seq_bn_config(scaling=2.0))
    got = _engine(tiny_models, folder, QUERIES)
    assert np.array_equal(got, _engine(tiny_models, as_float, QUERIES))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mh_adapter": True}, "mh_adapter"),
        ({"non_linearity": "swish"}, "non_linearity"),
        ({"ln_after": True}, "ln_after"),
        ({"use_gating": True}, "use_gating"),
        ({"residual_before_ln": False}, "residual_before_ln"),
        ({"scaling": "learned"}, "scaling"),
    ],
)
def test_library_model_with_unsupported_config(
    tiny_models: dict[str, Path], kwargs: dict[str, Any], field: str
) -> None:
    model = adapters.AutoAdapterModel.from_pretrained(str(tiny_models["base"]))
    model.add_adapter("odd", config=adapters.SeqBnConfig(reduction_factor=16, **kwargs))
    with pytest.raises(UnsupportedModel, match=field):
        FusedBertEncoder.from_adapter_model(model, "odd")
    FusedBertEncoder.from_adapter_model(model, None)  # the base model alone is fine


def test_library_model_other_adapter_kinds(tiny_models: dict[str, Path]) -> None:
    for config in (adapters.LoRAConfig(), adapters.ParBnConfig(reduction_factor=16)):
        model = adapters.AutoAdapterModel.from_pretrained(str(tiny_models["base"]))
        model.add_adapter("odd", config=config)
        with pytest.raises(UnsupportedModel):
            FusedBertEncoder.from_adapter_model(model, "odd")


def test_reference_engine_runs_the_library(tiny_models: dict[str, Path]) -> None:
    settings = ModelSettings(
        base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
    )
    enc = load_encoder(settings, device="cpu", dtype="float32", engine="reference")
    assert enc.engine == "reference" and type(enc.model).__name__ == "BertAdapterModel"
    fused = load_encoder(settings, device="cpu", dtype="float32").embed_texts(PAPERS)
    assert np.abs(enc.embed_texts(PAPERS) - fused).max() <= 1e-5
    cfg = json.loads((tiny_models["proximity"] / "adapter_config.json").read_text())
    assert cfg["version"] == "adapters.1.3.0"


HUB_TAGS = {"proximity": "[PRX]", "adhoc_query": "[QRY]"}
HUB_TAGS |= {"classification": "[CLF]", "regression": "[RGN]"}


@pytest.fixture(scope="module")
def saved_by_library(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Four adapters saved by adapters' own save_adapter under the Hub's task tags, as
    SciRepEval trained them: the layout of allenai/specter2 and its siblings."""
    root = tmp_path_factory.mktemp("saved")
    model = adapters.AutoAdapterModel.from_pretrained(str(tiny_models["base"]))
    gen = torch.Generator().manual_seed(11)
    for tag in HUB_TAGS.values():
        model.add_adapter(tag, config="seq_bn")
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".adapters." in n:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    for name, tag in HUB_TAGS.items():
        model.save_adapter(str(root / name), tag)
    return root


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_engine_loads_adapters_saved_under_their_tag(
    tiny_models: dict[str, Path], tok: Any, saved_by_library: Path, name: str
) -> None:
    """The engine loads a save_adapter folder named by its tag, as load_adapter(load_as=...)."""
    folder = saved_by_library / name
    assert json.loads((folder / "adapter_config.json").read_text())["name"] == HUB_TAGS[name]
    texts = QUERIES if name == "adhoc_query" else PAPERS
    ref = _card(_library(tiny_models["base"], folder, name), tok, texts)
    settings = ModelSettings(base_model=str(tiny_models["base"]), adapter=name,
                             adapter_path=str(folder))  # fmt: skip
    got = load_encoder(settings, device="cpu", dtype="float32").embed_texts(texts)
    assert np.abs(got - ref).max() <= TOL  # _library checked that the adapter is active


def test_synthetic_adapters_have_the_library_layout(
    tiny_models: dict[str, Path], saved_by_library: Path
) -> None:
    """synthetic.py writes what save_adapter writes: same config, same tensor names."""
    for name in ADAPTER_NAMES:
        ours, theirs = tiny_models[name], saved_by_library / name
        assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
        ours_cfg = json.loads((ours / "adapter_config.json").read_text())
        theirs_cfg = json.loads((theirs / "adapter_config.json").read_text())
        ours_cfg.pop("model_name"), theirs_cfg.pop("model_name")
        assert ours_cfg == theirs_cfg
        ours_sd = torch.load(ours / "pytorch_adapter.bin", weights_only=True)
        theirs_sd = torch.load(theirs / "pytorch_adapter.bin", weights_only=True)
        assert {k: v.shape for k, v in ours_sd.items()} == {
            k: v.shape for k, v in theirs_sd.items()
        }


@pytest.mark.parametrize("config", [None, {}, [], "", 0, False])
def test_empty_config_is_seq_bn_as_in_the_library(
    tiny_models: dict[str, Path], tok: Any, tmp_path: Path, config: Any
) -> None:
    folder = _variant(tmp_path, tiny_models, seq_bn_config())
    data = json.loads((folder / "adapter_config.json").read_text())
    data["config"] = config
    (folder / "adapter_config.json").write_text(json.dumps(data))
    ref = _card(_library(tiny_models["base"], folder, "proximity"), tok, QUERIES)
    assert np.abs(_engine(tiny_models, folder, QUERIES) - ref).max() <= TOL


def test_reference_engine_refuses_config_missing_a_required_key(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """BnConfig(**config) raises TypeError inside adapters: exit 4 naming the file."""
    from typer.testing import CliRunner

    from specter2_cli.cli import app
    from tests.helpers import write_jsonl

    folder = _variant(tmp_path, tiny_models, seq_bn_config())
    data = json.loads((folder / "adapter_config.json").read_text())
    del data["config"]["mh_adapter"]
    (folder / "adapter_config.json").write_text(json.dumps(data))
    papers = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "title": "t", "abstract": "a"}])
    out = tmp_path / "out"
    args = ["embed", str(papers), "-o", str(out), "--no-progress", "--engine", "reference"]
    args += ["--base-model", str(tiny_models["base"]), "--adapter-path", str(folder)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output
    assert f"--adapter-path {folder}" in result.output and "adapter_config.json" in result.output
    assert "mh_adapter" in result.output and not out.exists()


def test_bin_beside_safetensors_equals_the_library(
    tiny_models: dict[str, Path], tok: Any, tmp_path: Path
) -> None:
    folder = _variant(tmp_path, tiny_models, seq_bn_config())
    other = _variant(tmp_path / "s", tiny_models, seq_bn_config(), safetensors=True)
    sd = torch.load(folder / "pytorch_adapter.bin", weights_only=True)
    torch.save({k: v * 2 for k, v in sd.items()}, folder / "pytorch_adapter.bin")  # differ
    (other / "adapter.safetensors").rename(folder / "adapter.safetensors")
    ref = _card(_library(tiny_models["base"], folder, "proximity"), tok, QUERIES)
    assert np.abs(_engine(tiny_models, folder, QUERIES) - ref).max() <= TOL
