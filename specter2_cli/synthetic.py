"""Random SPECTER2-shaped models and synthetic corpora, for tests and `specter2 bench`.

The models are saved in the Hugging Face Hub's on-disk layout (a base model folder
with config, weights and tokenizer; one folder per adapter with
`adapter_config.json` + `pytorch_adapter.bin`, in the layout adapters' `save_adapter`
writes, without importing adapters), so they load through exactly the same code path
as `allenai/specter2_base` and `allenai/specter2`.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADAPTER_NAMES = ("proximity", "adhoc_query", "classification", "regression")
# The task tag each Hub adapter carries in its adapter_config.json ("name")
HUB_TAGS = {
    "proximity": "[PRX]",
    "adhoc_query": "[QRY]",
    "classification": "[CLF]",
    "regression": "[RGN]",
}

_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = [
    "the",
    "of",
    "and",
    "in",
    "to",
    "a",
    "is",
    "for",
    "with",
    "on",
    "by",
    "we",
    "that",
    "are",
    "this",
    "from",
    "as",
    "an",
    "be",
    "at",
    "our",
    "which",
    "model",
    "models",
    "learning",
    "neural",
    "network",
    "networks",
    "data",
    "paper",
    "papers",
    "results",
    "method",
    "methods",
    "protein",
    "cell",
    "cells",
    "gene",
    "genes",
    "study",
    "analysis",
    "using",
    "based",
    "two",
    "new",
    "show",
    "high",
    "using",
    "language",
    "graph",
    "attention",
    "transformer",
    "embedding",
    "embeddings",
    "citation",
    "scientific",
    "search",
    "query",
    "retrieval",
    "training",
    "large",
    "small",
    "quantum",
    "energy",
    "field",
    "theory",
    "experiment",
    "patients",
    "clinical",
    "disease",
    "treatment",
    "brain",
    "climate",
    "ocean",
    "galaxy",
    "star",
    "stars",
]


def tiny_vocab() -> list[str]:
    """A small WordPiece vocabulary that can spell any lowercase ASCII text."""
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = list(_SPECIALS)
    vocab += chars
    vocab += ["##" + c for c in string.ascii_lowercase + string.digits]
    vocab += [w for w in dict.fromkeys(_WORDS) if w not in vocab]
    return vocab


@dataclass(frozen=True)
class ModelShape:
    hidden: int = 32
    layers: int = 2
    heads: int = 2
    intermediate: int = 64
    max_positions: int = 512


TINY = ModelShape()
SPECTER2_SHAPE = ModelShape(hidden=768, layers=12, heads=12, intermediate=3072)


def build_random_model(
    root: str | os.PathLike[str],
    shape: ModelShape = TINY,
    vocab: list[str] | None = None,
    adapters: Iterable[str] = ADAPTER_NAMES,
    seed: int = 0,
    adapter_scale: float = 0.5,
    random_layernorm: bool = False,
) -> dict[str, Path]:
    """Write a random BERT base model and random seq_bn adapters under `root`.

    Returns the folder of each: {"base": ..., "proximity": ..., ...}. Adapter weights
    are drawn with a large spread (`adapter_scale`) so that a missing or inactive
    adapter changes the embeddings visibly. Each adapter_config.json carries the Hub
    adapter's task tag ("name": "[PRX]", ...). With `random_layernorm` the LayerNorm
    weights and biases are random too: with weight 1 and bias 0 every CLS vector has
    the same norm, and dot product and L2 distance rank alike.
    """
    import torch
    from transformers import BertConfig, BertModel

    root = Path(root)
    base_dir = root / "specter2_base"
    base_dir.mkdir(parents=True, exist_ok=True)
    vocab = vocab or tiny_vocab()
    (base_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = wordpiece_tokenizer(base_dir / "vocab.txt")
    tokenizer.save_pretrained(str(base_dir))

    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.intermediate,
        max_position_embeddings=shape.max_positions,
        pad_token_id=vocab.index("[PAD]"),
    )
    torch.manual_seed(seed)
    base = BertModel(config, add_pooling_layer=True).eval()
    if random_layernorm:
        randomize_layernorms(base, seed)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers 5 shows one while writing shards
    try:
        base.save_pretrained(str(base_dir))
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    paths: dict[str, Path] = {"base": base_dir}

    for k, name in enumerate(adapters):
        adapter_dir = root / f"specter2_{name}"
        gen = torch.Generator().manual_seed(seed + 1000 + k)
        # saved as the Hub's are: save_adapter(dir, "[PRX]") names both the config and the
        # tensors after the task tag, and the model card loads them with load_as="proximity"
        write_seq_bn_adapter(
            adapter_dir,
            HUB_TAGS.get(name, name),
            config,
            model_name=str(base_dir),
            weights=lambda shape, gen=gen: torch.randn(shape, generator=gen) * adapter_scale,
        )
        paths[name] = adapter_dir
    return paths


def seq_bn_config(**changes: Any) -> dict[str, Any]:
    """adapters' `SeqBnConfig(**changes).to_dict()`, without importing adapters."""
    from .model.seqbn import SEQ_BN

    cfg = {**SEQ_BN, **changes}
    return {k: cfg[k] for k in sorted(cfg)}


def write_seq_bn_adapter(
    adapter_dir: str | os.PathLike[str],
    name: str,
    base_config: Any,
    model_name: str,
    weights: Any,
    config: dict[str, Any] | None = None,
    layers: Iterable[int] | None = None,
    safetensors: bool = False,
) -> Path:
    """Write a seq_bn adapter in exactly the layout adapters' `save_adapter(dir, name)` writes:
    adapter_config.json (sorted keys, indent 2) + pytorch_adapter.bin holding
    `bert.encoder.layer.N.output.adapters.NAME.{adapter_down.0,adapter_up}.{weight,bias}`.

    `weights(shape)` draws each tensor, in the order adapters' named_parameters() lists
    them; `config` is the "config" dict (default: SeqBnConfig's); `layers` the layers
    that get a bottleneck (default: all but `leave_out`); with `safetensors` the weights
    go to adapter.safetensors instead (`save_adapter(..., use_safetensors=True)`).
    """
    import torch

    from .model.seqbn import bottleneck_size

    cfg = config if config is not None else seq_bn_config()
    hidden = int(base_config.hidden_size)
    if layers is None:
        leave_out = set(cfg.get("leave_out") or [])
        layers = [i for i in range(base_config.num_hidden_layers) if i not in leave_out]
    state: dict[str, Any] = {}
    for i in layers:
        d = bottleneck_size(cfg, i, hidden)
        prefix = f"bert.encoder.layer.{i}.output.adapters.{name}."
        state[prefix + "adapter_down.0.weight"] = weights((d, hidden))
        state[prefix + "adapter_down.0.bias"] = weights((d,))
        state[prefix + "adapter_up.weight"] = weights((hidden, d))
        state[prefix + "adapter_up.bias"] = weights((hidden,))
    adapter_dir = Path(adapter_dir)
    adapter_dir.mkdir(parents=True, exist_ok=True)
    full = {
        "config": cfg,
        "hidden_size": hidden,
        "model_class": "BertAdapterModel",
        "model_name": model_name,
        "model_type": "bert",
        "name": name,
        "version": "adapters.1.3.0",
    }
    with (adapter_dir / "adapter_config.json").open("w", encoding="utf-8") as f:
        json.dump(full, f, indent=2, sort_keys=True)
    if safetensors:
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in state.items()}, str(adapter_dir / "adapter.safetensors")
        )
    else:
        torch.save(state, adapter_dir / "pytorch_adapter.bin")
    return adapter_dir


def wordpiece_tokenizer(vocab_file: str | os.PathLike[str]) -> Any:
    """BERT's uncased fast tokenizer over a vocab.txt, under transformers 4.x and 5.x
    (5.x takes the file as `vocab=` and silently ignores `vocab_file=`: every id [UNK])."""
    import inspect

    import transformers

    BertTokenizerFast: Any = getattr(transformers, "BertTokenizerFast")  # noqa: B009 (lazy name in 5.x)
    params = inspect.signature(BertTokenizerFast.__init__).parameters
    key = "vocab_file" if "vocab_file" in params else "vocab"
    return BertTokenizerFast(**{key: str(vocab_file)}, do_lower_case=True)


def randomize_layernorms(model: Any, seed: int = 0) -> None:
    """Give every LayerNorm a random weight (around 1) and bias (around 0), in place."""
    import torch

    gen = torch.Generator().manual_seed(seed + 77)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "LayerNorm" in name:
                noise = torch.randn(param.shape, generator=gen)
                param.copy_(1.0 + 0.5 * noise if name.endswith("weight") else 0.5 * noise)


def set_adapter_tag(
    adapter_dir: str | os.PathLike[str], tag: str | None, saved_as: str | None = None
) -> None:
    """Set (or, with None, remove) the task tag ("name") in a saved adapter_config.json, and
    rename the tensors to `saved_as` (default: the tag), as `save_adapter(dir, tag)` would
    have written them; with neither, the tensors keep their name."""
    folder = Path(adapter_dir)
    cfg_path = folder / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if tag is None:
        cfg.pop("name", None)
    else:
        cfg["name"] = tag
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    new_name = saved_as if saved_as is not None else tag
    if new_name is not None:
        rename_adapter_tensors(folder, new_name)


def rename_adapter_tensors(adapter_dir: str | os.PathLike[str], name: str) -> None:
    """Rename `...output.adapters.OLD.adapter_*` to `...adapters.NAME.adapter_*` in every
    weight file of a saved adapter folder."""
    import re

    import torch

    key = re.compile(r"^(.*\.adapters\.)(.+?)(\.adapter_(?:down|up)\b.*)$")

    def renamed(sd: dict[str, Any]) -> dict[str, Any]:
        return {key.sub(lambda m: m.group(1) + name + m.group(3), k): v for k, v in sd.items()}

    folder = Path(adapter_dir)
    for f in ("adapter.safetensors", "pytorch_adapter.safetensors"):
        if (folder / f).is_file():
            from safetensors.torch import load_file, save_file

            save_file(renamed(load_file(str(folder / f))), str(folder / f))
    if (folder / "pytorch_adapter.bin").is_file():
        sd = torch.load(folder / "pytorch_adapter.bin", weights_only=True)
        torch.save(renamed(sd), folder / "pytorch_adapter.bin")


def synthetic_papers(
    n: int,
    seed: int = 0,
    mean_words: float = 170.0,
    sd_words: float = 70.0,
    words: list[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Paper records with title + abstract whose lengths resemble real abstracts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pool = words or [w for w in _WORDS if w.isalpha()]
    for i in range(n):
        n_title = int(rng.integers(5, 16))
        n_abs = max(0, int(rng.normal(mean_words, sd_words)))
        yield {
            "id": i,
            "title": " ".join(rng.choice(pool, n_title)).capitalize(),
            "abstract": " ".join(rng.choice(pool, n_abs)),
        }


def write_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> Path:
    path = Path(path)
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path
