"""`--dtype int8`: the fused engine with dynamically quantized linear layers (CPU only, opt-in).

Weights are quantized per output channel to int8 once; activations per batch at run
time (`torch.ao.nn.quantized.dynamic.Linear`, fbgemm/oneDNN int8 GEMMs). Embeddings
are no longer exact: the agreement with fp32 is measured at load time on a fixed
probe set and written into every shard's metadata, so int8 output is never silent.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, cast

import torch
from torch import nn

from .fused import FusedBertEncoder

_NAMES = ("qkv", "q", "kv", "attn_out", "inter", "out")


def quantize_int8(fused: FusedBertEncoder) -> FusedBertEncoder:
    """A copy of `fused` whose linear layers run in int8 (embeddings, LayerNorm, attention stay fp32)."""
    import torch.ao.nn.quantized.dynamic as nnqd
    from torch.ao.quantization import per_channel_dynamic_qconfig

    q = copy.deepcopy(fused).float().eval()
    for layer in q.layers:
        names = _NAMES + (("down", "up") if layer.has_adapter else ())
        mods: dict[str, nn.Module] = {}
        for name in names:
            w, b = cast(Any, layer).linear_params(name)
            lin = nn.Linear(w.shape[1], w.shape[0])
            lin.weight = nn.Parameter(w.detach().clone(), requires_grad=False)
            lin.bias = nn.Parameter(b.detach().clone(), requires_grad=False)
            lin.qconfig = per_channel_dynamic_qconfig  # type: ignore[assignment]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
                mods[name] = nnqd.Linear.from_float(lin)
        layer.int8 = nn.ModuleDict(mods)
    return q


def probe_texts(sep: str, n: int = 64) -> list[str]:
    """A fixed set of paper texts of varied length for the int8-vs-fp32 check."""
    from ..synthetic import synthetic_papers
    from ..text import format_paper

    return [
        format_paper(p["title"], p["abstract"], sep)
        for p in synthetic_papers(n, seed=1234, mean_words=150.0, sd_words=90.0)
    ]


def agreement(fp32: Any, int8: Any, tokenizer: Any, max_length: int) -> dict[str, float]:
    """Cosine of int8 to fp32 CLS embeddings over the probe texts: min and mean."""
    from ..text import pack, tokenize

    tok = tokenize(tokenizer, probe_texts(tokenizer.sep_token), max_length)
    cos: list[torch.Tensor] = []
    with torch.inference_mode():
        for b in pack(tok, 8_192, 64, tokenizer.pad_token_id).batches:
            ids = torch.from_numpy(b.input_ids)
            mask = None if b.attention_mask is None else torch.from_numpy(b.attention_mask)
            cos.append(torch.nn.functional.cosine_similarity(fp32(ids, mask), int8(ids, mask)))
    c = torch.cat(cos)
    return {
        "int8_cosine_to_fp32_min": round(float(c.min()), 6),
        "int8_cosine_to_fp32_mean": round(float(c.mean()), 6),
        "int8_probe_records": len(c),
    }
