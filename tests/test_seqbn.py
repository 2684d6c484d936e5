"""Reading a seq_bn adapter from its files without the adapters library: what the engine
computes equals the test reference (tests/helpers.py), and everything else is refused
naming the file, field and value (exit 4), before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from specter2_cli.cli import app
from specter2_cli.config import ModelSettings
from specter2_cli.model.loader import load_encoder
from specter2_cli.model.seqbn import AdapterConfigError, read_adapter
from specter2_cli.synthetic import seq_bn_config, write_seq_bn_adapter
from tests.helpers import model_card_embeddings, write_jsonl

runner = CliRunner()
TEXTS = ["graph neural networks[SEP]we study graph data", "protein", "the model of the data"]


@pytest.fixture(scope="module")
def base_config(tiny_models: dict[str, Path]) -> Any:
    from transformers import BertConfig

    return BertConfig.from_pretrained(str(tiny_models["base"]))


def _write(folder: Path, base_config: Any, config: dict[str, Any], **kw: Any) -> Path:
    gen = torch.Generator().manual_seed(11)
    return write_seq_bn_adapter(
        folder, "proximity", base_config, "base",
        lambda shape: torch.randn(shape, generator=gen) * 0.5, config=config, **kw,
    )  # fmt: skip


def _read(folder: Path) -> Any:
    return read_adapter(folder, "proximity", 32, 2)


def _embed(tiny_models: dict[str, Path], folder: Path) -> np.ndarray:
    settings = ModelSettings(base_model=str(tiny_models["base"]), adapter_path=str(folder))
    return load_encoder(settings, device="cpu", dtype="float32").embed_texts(TEXTS)


def _without(key: str) -> dict[str, Any]:
    cfg = seq_bn_config()
    del cfg[key]
    return cfg


# (config, message): each names the field and the value the engine refuses
REFUSED: dict[str, tuple[Any, str]] = {
    "missing original_ln_before (BnConfig: False)": (
        _without("original_ln_before"),
        "original_ln_before=False",
    ),
    "missing required key": (_without("non_linearity"), "lacks non_linearity"),
    "no config at all": (..., 'lacks "config"'),
    "lora": ({"architecture": "lora", "r": 8}, "architecture='lora'"),
    "named parallel": ("par_bn", "config='par_bn'"),
    "learned scaling": (seq_bn_config(scaling="learned"), "scaling='learned'"),
    "bool scaling": (seq_bn_config(scaling=True), "scaling=True"),
    "ln_after": (seq_bn_config(ln_after=True), "ln_after=True"),
    "post_add": (seq_bn_config(residual_before_ln="post_add"), "residual_before_ln='post_add'"),
    "gelu": (seq_bn_config(non_linearity="gelu"), "non_linearity='gelu'"),
    "mh_adapter": (seq_bn_config(mh_adapter=True), "mh_adapter=True"),
    "parallel": (seq_bn_config(is_parallel=True), "is_parallel=True"),
    "gating": (seq_bn_config(use_gating=True), "use_gating=True"),
    "phm": (seq_bn_config(phm_layer=True), "phm_layer=True"),
    "invertible": (seq_bn_config(inv_adapter="nice"), "inv_adapter='nice'"),
    "string bool": (seq_bn_config(original_ln_after="true"), "original_ln_after='true'"),
    "no output adapter": (seq_bn_config(output_adapter=False), "output_adapter=False"),
    "all layers left out": (seq_bn_config(leave_out=[0, 1]), "leave_out=[0, 1]"),
    "zero reduction": (seq_bn_config(reduction_factor=0), "reduction_factor=0"),
    "mapping without default": (seq_bn_config(reduction_factor={"0": 8}), "no entry for layer 1"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unsupported_config_is_refused_naming_field_and_value(
    tmp_path: Path, base_config: Any, case: str
) -> None:
    config, message = REFUSED[case]
    folder = tmp_path / "a"
    written_as_is = case not in ("zero reduction", "mapping without default")
    if isinstance(config, dict) and "architecture" not in config and written_as_is:
        _write(folder, base_config, config, layers=[0, 1])
    else:
        _write(folder, base_config, seq_bn_config(), layers=[0, 1])
        data = json.loads((folder / "adapter_config.json").read_text())
        data["config"] = config
        if config is ...:
            del data["config"]
        (folder / "adapter_config.json").write_text(json.dumps(data))
    with pytest.raises(AdapterConfigError) as info:
        _read(folder)
    assert message in str(info.value) and "adapter_config.json" in str(info.value)


def _edit_weights(folder: Path, change: Any) -> None:
    path = folder / "pytorch_adapter.bin"
    sd = torch.load(path, weights_only=True)
    change(sd)
    torch.save(sd, path)


TENSOR_FAULTS: dict[str, tuple[Any, str]] = {
    "missing": (lambda sd: sd.popitem(), "missing tensors for layer 1: adapter_up.bias"),
    "unexpected": (
        lambda sd: sd.__setitem__(
            "bert.encoder.layer.0.output.adapters.proximity.gate.weight", torch.zeros(1, 32)
        ),
        "unexpected tensors bert.encoder.layer.0.output.adapters.proximity.gate.weight",
    ),
    "shape": (
        lambda sd: sd.__setitem__(
            "bert.encoder.layer.0.output.adapters.proximity.adapter_down.0.bias", torch.zeros(3)
        ),
        "layer 0 adapter_down.0.bias has shape (3,)",
    ),
    "layer beyond the model": (
        lambda sd: sd.__setitem__(
            "bert.encoder.layer.7.output.adapters.proximity.adapter_up.bias", torch.zeros(32)
        ),
        "unexpected tensors bert.encoder.layer.7",
    ),
    "another adapter's tensors": (
        lambda sd: [sd.__setitem__(k.replace("proximity", "other"), sd.pop(k)) for k in list(sd)],
        "the tensors belong to adapter(s) ['other']",
    ),
}


@pytest.mark.parametrize("case", list(TENSOR_FAULTS))
def test_bad_tensors_are_refused(tmp_path: Path, base_config: Any, case: str) -> None:
    change, message = TENSOR_FAULTS[case]
    folder = _write(tmp_path / "a", base_config, seq_bn_config())
    _edit_weights(folder, change)
    with pytest.raises(AdapterConfigError, match=r"pytorch_adapter\.bin") as info:
        _read(folder)
    assert message in str(info.value)


class _Payload:
    def __reduce__(self) -> Any:
        return (print, ("this must never run",))


def test_weights_are_loaded_without_running_pickled_code(tmp_path: Path, base_config: Any) -> None:
    folder = _write(tmp_path / "a", base_config, seq_bn_config())
    torch.save({"x": _Payload()}, folder / "pytorch_adapter.bin")
    with pytest.raises(AdapterConfigError, match="cannot read the adapter weights"):
        _read(folder)


ACCEPTED: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "leave_out": (seq_bn_config(leave_out=[1]), {}),
    "integer scaling": (seq_bn_config(scaling=3), {}),
    "safetensors": (seq_bn_config(), {"safetensors": True}),
    "ReLU, other reduction": (seq_bn_config(non_linearity="ReLU", reduction_factor=4), {}),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_accepted_variants_equal_the_reference(
    tiny_models: dict[str, Path], tmp_path: Path, base_config: Any, case: str
) -> None:
    config, kw = ACCEPTED[case]
    folder = _write(tmp_path / "a", base_config, config, **kw)
    ref = model_card_embeddings(tiny_models["base"], folder, "proximity", TEXTS)
    assert np.abs(_embed(tiny_models, folder) - ref).max() <= 1e-5


def test_legacy_names_and_null_config_read_as_seq_bn(
    tiny_models: dict[str, Path], tmp_path: Path, base_config: Any
) -> None:
    folder = _write(tmp_path / "a", base_config, seq_bn_config())
    ref = _embed(tiny_models, folder)
    _edit_weights(folder, lambda sd: [sd.__setitem__(k.replace(".adapters.", ".layer_text_task_adapters."), sd.pop(k)) for k in list(sd)])  # fmt: skip
    data = json.loads((folder / "adapter_config.json").read_text())
    # adapters' AdapterConfig.load reads any empty value ({}, [], "", 0, false) as no config
    for config in (None, "seq_bn", "pfeiffer", {}, [], "", 0, False):
        data["config"] = config
        (folder / "adapter_config.json").write_text(json.dumps(data))
        assert np.array_equal(_embed(tiny_models, folder), ref)


def test_hooked_bench_model_equals_the_engine(tiny_models: dict[str, Path]) -> None:
    """model/hooked.py (the bench's model-card loop without adapters) and the engine agree."""
    from transformers import AutoTokenizer, BertModel

    from specter2_cli.model.fused import FusedBertEncoder
    from specter2_cli.model.hooked import attach_adapter

    adapter = read_adapter(tiny_models["regression"], "regression", 32, 2)
    model = attach_adapter(BertModel.from_pretrained(str(tiny_models["base"])).eval(), adapter)
    tok = AutoTokenizer.from_pretrained(str(tiny_models["base"]))
    enc = tok(TEXTS, padding=True, return_tensors="pt", return_token_type_ids=False)
    ref = model_card_embeddings(tiny_models["base"], tiny_models["regression"], "x", TEXTS)
    with torch.inference_mode():
        hooked = model(**enc).last_hidden_state[:, 0].numpy()
        fused = FusedBertEncoder.from_adapter_model(model, "regression")(**enc).numpy()
    assert np.abs(hooked - ref).max() <= 1e-5 and np.abs(fused - ref).max() <= 1e-5


def test_cli_refuses_with_exit_4_and_writes_nothing(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(tiny_models["proximity"], tmp_path / "odd"))
    data = json.loads((folder / "adapter_config.json").read_text())
    del data["config"]["original_ln_before"]
    (folder / "adapter_config.json").write_text(json.dumps(data))
    papers = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "title": "t", "abstract": "a"}])
    out = tmp_path / "out"
    args = ["embed", str(papers), "-o", str(out), "--no-progress"]
    args += ["--base-model", str(tiny_models["base"]), "--adapter-path", str(folder)]
    result = runner.invoke(app, args)
    assert result.exit_code == 4, result.output
    assert "original_ln_before=False" in result.output and str(folder) in result.output
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("content", ["[]", '"seq_bn"', "3", "null"])
def test_config_file_that_is_not_an_object_exits_4(
    tiny_models: dict[str, Path], tmp_path: Path, content: str
) -> None:
    folder = Path(shutil.copytree(tiny_models["proximity"], tmp_path / "odd"))
    (folder / "adapter_config.json").write_text(content)
    papers = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "title": "t", "abstract": "a"}])
    out = tmp_path / "out"
    args = ["embed", str(papers), "-o", str(out), "--no-progress"]
    args += ["--base-model", str(tiny_models["base"]), "--adapter-path", str(folder)]
    result = runner.invoke(app, args)
    assert result.exit_code == 4, result.output
    assert str(folder / "adapter_config.json") in result.output
    assert "expected a JSON object" in result.output and not out.exists()


def test_errors_name_the_adapter_chosen_by_name(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --adapter NAME alone the Hub id is not an --adapter-path the user gave."""
    from specter2_cli.errors import ModelLoadError
    from specter2_cli.model import loader

    def no_cache(repo_id: str, revision: str | None) -> str:
        raise OSError(f"{repo_id} is not in the cache")

    monkeypatch.setattr(loader, "hub_adapter_folder", no_cache)
    settings = ModelSettings(base_model=str(tiny_models["base"]), adapter="adhoc_query")
    with pytest.raises(ModelLoadError) as info:
        load_encoder(settings, device="cpu", dtype="float32", offline=True)
    assert "(--adapter adhoc_query (allenai/specter2_adhoc_query))" in str(info.value)
    assert "--adapter-path" not in str(info.value).splitlines()[0]
    broken = Path(shutil.copytree(tiny_models["adhoc_query"], tmp_path / "snapshot"))
    data = json.loads((broken / "adapter_config.json").read_text())
    data["config"] = "par_bn"
    (broken / "adapter_config.json").write_text(json.dumps(data))
    monkeypatch.setattr(loader, "hub_adapter_folder", lambda repo_id, revision: str(broken))
    with pytest.raises(ModelLoadError) as info:
        load_encoder(settings, device="cpu", dtype="float32", offline=True)
    assert "(--adapter adhoc_query (allenai/specter2_adhoc_query))" in str(info.value)


def test_bin_beside_safetensors_is_read_as_the_library_reads_it(
    tiny_models: dict[str, Path], tmp_path: Path, base_config: Any
) -> None:
    """adapters' load_adapter reads pytorch_adapter.bin even beside an adapter.safetensors."""
    other = _write(tmp_path / "other", base_config, seq_bn_config(), safetensors=True)
    gen = torch.Generator().manual_seed(99)
    folder = write_seq_bn_adapter(
        tmp_path / "both", "proximity", base_config, "base",
        lambda shape: torch.randn(shape, generator=gen) * 0.5, config=seq_bn_config(),
    )  # fmt: skip
    only_bin = _embed(tiny_models, folder)
    shutil.copy(other / "adapter.safetensors", folder / "adapter.safetensors")
    assert np.array_equal(_embed(tiny_models, folder), only_bin)
    assert np.abs(_embed(tiny_models, other) - only_bin).max() > 1e-3  # the files differ
