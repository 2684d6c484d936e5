"""The transformers forward pass with a seq_bn adapter attached by forward hooks.

`specter2 bench` measures the model card's loop (cases a, b and the fp32 reference)
through the model's own forward pass. Where the adapters library is installed that is
`AutoAdapterModel`; elsewhere it is a transformers `BertModel` whose layers' `BertOutput`
is followed by the bottleneck read by model/seqbn.py, as adapters 1.3.0 computes it:
BertOutput returns `n = LN(h + x)`, and the hook returns `LN(h + x + s·up(relu(down(n))))`
with the same LayerNorm. Not the embedding engine: `FusedBertEncoder` is.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .seqbn import SeqBnAdapter

_NAMES = ("specter2_down_weight", "specter2_down_bias", "specter2_up_weight", "specter2_up_bias")


def attach_adapter(bert: Any, adapter: SeqBnAdapter | None) -> Any:
    """Add the adapter's bottleneck to `bert` (a transformers BertModel) in place; returns it.

    The weights become non-persistent buffers of each BertOutput, so `.to(device, dtype)`
    moves them with the model. `bert.specter2_adapter` keeps the adapter (or None), so
    `FusedBertEncoder.from_adapter_model` can build the same computation from this model.
    """
    bert.specter2_adapter = adapter
    if adapter is None:
        return bert
    scaling = adapter.scaling
    for i, layer in enumerate(bert.encoder.layer):
        weights = adapter.layers.get(i)
        if weights is None:  # leave_out
            continue
        out = layer.output
        for name, tensor in zip(_NAMES, weights, strict=True):
            out.register_buffer(name, tensor.clone(), persistent=False)

        def hook(module: Any, args: Any, kwargs: Any, n: torch.Tensor) -> torch.Tensor:
            ffn = args[0] if args else kwargs["hidden_states"]
            x = args[1] if len(args) > 1 else kwargs["input_tensor"]
            h = module.dense(ffn)
            down = F.relu(F.linear(n, module.specter2_down_weight, module.specter2_down_bias))
            up = F.linear(down, module.specter2_up_weight, module.specter2_up_bias)
            return module.LayerNorm(up * scaling + h + x)  # type: ignore[no-any-return]

        out.register_forward_hook(hook, with_kwargs=True)
    return bert
