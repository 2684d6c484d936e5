"""FusedBertEncoder must reproduce the model-card recipe's CLS vectors exactly (fp32, 1e-5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from specter2_cli.model.fused import FusedBertEncoder, UnsupportedModel
from specter2_cli.model.seqbn import read_adapter
from specter2_cli.model.unpad import onednn_linear_ok, unpad
from specter2_cli.synthetic import ADAPTER_NAMES
from tests.helpers import hooked_bert

TOL = 1e-5

MIXED = [
    "Attention is all you need[SEP]we show a new transformer model for language",
    "Protein folding",
    "Graph neural networks for citation search[SEP]" + " ".join(["data model"] * 40),
    "Quantum field theory of the brain[SEP]clinical study of patients with disease",
]
SAME_LENGTH = [
    "the model is for new data",
    "the paper is on two cells",
    "we show a new graph model",
]
LONG = [
    "Climate ocean[SEP]" + " ".join(["energy field theory experiment"] * 200),  # > 512 tokens
    "A short one",
]
LONG_NO_PADDING = [LONG[0], "Search[SEP]" + " ".join(["data model"] * 300)]


@pytest.fixture(scope="module")
def tokenizer(tiny_models: dict[str, Path]) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_models["base"]))


@pytest.fixture(scope="module")
def models(tiny_models: dict[str, Path]) -> dict[str, Any]:
    """{"base": reference without adapter, NAME: reference with that adapter (tests/helpers.py,
    forward hooks), "plain": a BertModel for the engine, "adapters": NAME -> SeqBnAdapter}."""
    from transformers import BertModel

    plain = BertModel.from_pretrained(str(tiny_models["base"])).eval()
    layers = plain.config.num_hidden_layers
    found: dict[str, Any] = {"base": hooked_bert(tiny_models["base"], None), "plain": plain}
    found["adapters"] = {}
    for name in ADAPTER_NAMES:
        found[name] = hooked_bert(tiny_models["base"], tiny_models[name])
        found["adapters"][name] = read_adapter(tiny_models[name], name, 32, layers)
    return found


def _encode(tokenizer: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    return dict(
        tokenizer(
            texts,
            padding=True,
            truncation=True,
            return_tensors="pt",
            return_token_type_ids=False,
            max_length=512,
        )
    )


def _reference(
    models: dict[str, Any], name: str | None, enc: dict[str, torch.Tensor]
) -> torch.Tensor:
    with torch.inference_mode():
        return models["base" if name is None else name](**enc).last_hidden_state[:, 0, :]


def _fused(
    models: dict[str, Any], name: str | None, kernels: str = "unpadded-onednn"
) -> FusedBertEncoder:
    adapter = None if name is None else models["adapters"][name]
    fused = FusedBertEncoder.from_bert(models["plain"], adapter)
    unpadded, lin = kernels.split("-")
    if lin == "onednn" and not onednn_linear_ok():
        pytest.skip("oneDNN linear not available in this torch build")
    fused.set_cpu_kernels(unpad=unpadded == "unpadded", onednn=lin == "onednn")
    return fused


# The CPU forward passes: without padding (oneDNN or aten linears) and the padded one.
KERNELS = ["unpadded-onednn", "unpadded-aten", "padded-aten"]


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("name", [None, *ADAPTER_NAMES])
@pytest.mark.parametrize(
    "texts",
    [MIXED, SAME_LENGTH, MIXED[:1], LONG, LONG_NO_PADDING],
    ids=["mixed", "same", "one", "long", "long_nopad"],
)
def test_matches_model_card_recipe(
    models: dict[str, Any], tokenizer: Any, name: str | None, texts: list[str], kernels: str
) -> None:
    enc = _encode(tokenizer, texts)
    ref = _reference(models, name, enc)
    fused = _fused(models, name, kernels)
    with torch.inference_mode():
        got = fused(enc["input_ids"], enc["attention_mask"])
        assert got.shape == ref.shape and got.dtype == torch.float32
        assert (got - ref).abs().max().item() <= TOL
        if bool(enc["attention_mask"].all()):
            # The unpadded fast path: no mask at all.
            no_mask = fused(enc["input_ids"], None)
            assert (no_mask - ref).abs().max().item() <= TOL


def test_batches_really_exercise_padding_and_truncation(tokenizer: Any) -> None:
    mixed = _encode(tokenizer, MIXED)
    assert not bool(mixed["attention_mask"].all())
    assert bool(_encode(tokenizer, SAME_LENGTH)["attention_mask"].all())
    long = _encode(tokenizer, LONG)
    assert long["input_ids"].shape[1] == 512 and int(long["attention_mask"][1].sum()) < 20
    long_full = _encode(tokenizer, LONG_NO_PADDING)
    assert long_full["input_ids"].shape[1] == 512 and bool(long_full["attention_mask"].all())


def test_left_padding_takes_the_padded_pass(models: dict[str, Any], tokenizer: Any) -> None:
    """A mask that is not right padding (here: left) must not be read as real-token runs."""
    left = dict(
        tokenizer(
            MIXED,
            padding=True,
            return_tensors="pt",
            return_token_type_ids=False,
            padding_side="left",
        )
    )
    assert not bool(left["attention_mask"][:, 0].all())  # really left-padded
    ref = _reference(models, "proximity", left)
    with torch.inference_mode():
        got = _fused(models, "proximity")(left["input_ids"], left["attention_mask"])
    assert (got - ref).abs().max().item() <= TOL


def test_unpad_runs_and_indices() -> None:
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    u = unpad(mask, 4, 4)
    assert u is not None
    assert u.groups == ((0, 2, 3), (6, 1, 2), (8, 1, 4))
    assert u.cls.tolist() == [0, 3, 6, 8]
    assert u.index.tolist() == [0, 1, 2, 4, 5, 6, 8, 9, 12, 13, 14, 15]
    assert u.positions.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2, 3]
    assert unpad(torch.tensor([[0, 1, 1], [1, 1, 1]]), 2, 3) is None  # left padding
    assert unpad(torch.tensor([[1, 0, 1]]), 1, 3) is None  # a hole
    assert unpad(torch.tensor([[0, 0, 0]]), 1, 3) is None  # an empty row
    full = unpad(None, 2, 3)
    assert full is not None and full.groups == ((0, 2, 3),) and full.tokens == 6


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_adapter_changes_the_output(models: dict[str, Any], tokenizer: Any, name: str) -> None:
    enc = _encode(tokenizer, MIXED)
    with torch.inference_mode():
        base = _fused(models, None)(enc["input_ids"], enc["attention_mask"])
        adapted = _fused(models, name)(enc["input_ids"], enc["attention_mask"])
    assert (adapted - base).abs().max().item() > 1e-2


@pytest.mark.parametrize("kernels", KERNELS)
def test_padding_does_not_leak(models: dict[str, Any], tokenizer: Any, kernels: str) -> None:
    fused = _fused(models, "proximity", kernels)
    with torch.inference_mode():
        batch = fused(**{k: v for k, v in _encode(tokenizer, MIXED).items()})
        for i, text in enumerate(MIXED):
            alone = _encode(tokenizer, [text])
            assert (fused(alone["input_ids"]) - batch[i]).abs().max().item() <= TOL


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_smoke(models: dict[str, Any], tokenizer: Any, dtype: torch.dtype) -> None:
    enc = _encode(tokenizer, MIXED)
    ref = _reference(models, "proximity", enc)
    fused = _fused(models, "proximity").to(dtype)
    assert all(p.dtype == dtype for p in fused.parameters())
    assert fused.cpu_kernels == "unpadded, aten linears"  # oneDNN is used for fp32 only
    with torch.inference_mode():
        try:
            got = fused(enc["input_ids"], enc["attention_mask"])
        except RuntimeError as exc:  # an op without a CPU kernel for this dtype
            pytest.skip(f"{dtype} not supported on this CPU: {exc}")
    assert got.dtype == dtype
    cos = torch.nn.functional.cosine_similarity(got.float(), ref, dim=-1)
    assert cos.min().item() > 0.99


def test_weights_are_registered_and_frozen(models: dict[str, Any]) -> None:
    fused = _fused(models, "proximity")
    names = dict(fused.named_parameters())
    assert "layers.0.down_weight" in names and "layers.1.qkv_weight" in names
    assert not any(p.requires_grad for p in fused.parameters())
    # Converting the fused copy leaves the source model untouched.
    fused.half()
    assert all(p.dtype == torch.float32 for p in models["plain"].parameters())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ({"is_decoder": True}, "is_decoder"),
        ({"hidden_act": "relu"}, "hidden_act"),
    ],
)
def test_unsupported_bert_config(kwargs: dict[str, Any], field: str) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        **kwargs,
    )
    with pytest.raises(UnsupportedModel, match=field):
        FusedBertEncoder.from_bert(BertModel(config), None)
