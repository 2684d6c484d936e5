"""A fast, exact re-implementation of SPECTER2's forward pass, returning CLS vectors only.

`FusedBertEncoder` reproduces `BertAdapterModel(**enc).last_hidden_state[:, 0, :]` for a
BERT encoder with at most one sequential bottleneck (`seq_bn`) adapter, the kind that
`allenai/specter2` and its sibling adapters are, without the `adapters` library's
per-call machinery:

* one fused Q/K/V projection per layer and `scaled_dot_product_attention` with an
  additive mask built once per forward (no mask at all for unpadded batches);
* in the last layer keys and values are computed for all tokens, everything else
  (query, attention, attention output, FFN, adapter) for the CLS row alone;
* the bottleneck adapter written out directly. For the configuration used by SPECTER2
  (`SeqBnConfig`: output adapter only, `original_ln_before=True`,
  `original_ln_after=True`, `residual_before_ln=True`, no adapter layer norms, no
  gating) adapters 1.3.0 computes, in `BertOutput` (`h` = FFN output after
  `output.dense`, `x` = the attention block's output, `LN` = `output.LayerNorm`):

      n   = LN(h + x)                               # Adapter.pre_forward
      up  = W_up · ReLU(W_down · n + b_down) + b_up # Adapter.forward
      out = up * scaling + h                        # Adapter.forward (residual = h)
      y   = LN(out + x)                             # Adapter.post_forward

  i.e. `LN(h + x + W_up·ReLU(W_down·LN(h+x)+b_d) + b_u)` with the *same* LayerNorm
  used twice. See adapters/methods/bottleneck.py (`BottleneckLayer.
  bottleneck_layer_forward`, `pre_block`, `compose_single`) and
  adapters/methods/modeling.py (`Adapter.pre_forward`, `forward`, `post_forward`);
  `set_active_adapters(name)` wraps the name in `Stack`, whose `compose_stack` calls
  `pre_block` before the adapter.

Anything else raises `UnsupportedModel` at construction, so a silently different
computation is impossible.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from .seqbn import AdapterConfigError, SeqBnAdapter, effective_config
from .unpad import Unpadded, linear, onednn_linear_ok, unpad
from .varlen import Attention, Packed

AdapterWeights = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

__all__ = ["FusedBertEncoder", "UnsupportedModel"]


class UnsupportedModel(Exception):
    """The model or adapter uses a configuration that `FusedBertEncoder` does not implement."""


def _cfg_get(config: Any, key: str, default: Any = None) -> Any:
    if isinstance(config, dict):
        return config.get(key, default)
    try:
        return config[key]
    except (KeyError, TypeError, AttributeError):
        return getattr(config, key, default)


def _check_bert_config(config: Any) -> None:
    checks: list[tuple[str, Any, Any]] = [
        (
            "position_embedding_type",
            getattr(config, "position_embedding_type", "absolute"),
            "absolute",
        ),
        ("is_decoder", bool(getattr(config, "is_decoder", False)), False),
        ("add_cross_attention", bool(getattr(config, "add_cross_attention", False)), False),
        ("hidden_act", getattr(config, "hidden_act", None), "gelu"),
    ]
    for field, value, wanted in checks:
        if value != wanted:
            raise UnsupportedModel(
                f"BERT config field {field}={value!r} is not supported (only {wanted!r})"
            )
    if config.hidden_size % config.num_attention_heads != 0:
        raise UnsupportedModel(
            f"BERT config: hidden_size={config.hidden_size} is not a multiple of "
            f"num_attention_heads={config.num_attention_heads}"
        )


def _check_adapter_config(model: Any, adapter_name: str) -> tuple[float, list[int]]:
    """Validate an adapters-library model's adapter config; return (scaling, leave_out).

    The same checks as for an adapter read from its files (model/seqbn.py)."""
    adapters_config = getattr(model, "adapters_config", None)
    if adapters_config is None:
        raise UnsupportedModel(
            "model has no adapters_config: load it with adapters.AutoAdapterModel "
            "or call adapters.init(model)"
        )
    if adapter_name not in adapters_config:
        raise ValueError(f"no adapter named {adapter_name!r} in the model")
    from adapters import BnConfig

    config = adapters_config.get(adapter_name)
    if not isinstance(config, BnConfig):
        raise UnsupportedModel(
            f"adapter {adapter_name!r}: config type {type(config).__name__} "
            f"(architecture={_cfg_get(config, 'architecture')!r}) is not supported "
            "(only a single seq_bn bottleneck adapter, BnConfig)"
        )
    try:
        cfg = effective_config(config.to_dict(), where=f"adapter {adapter_name!r}")
    except AdapterConfigError as e:
        raise UnsupportedModel(str(e)) from e
    skip_layers = getattr(adapters_config, "skip_layers", None)
    if skip_layers:
        raise UnsupportedModel(
            f"adapters_config.skip_layers={skip_layers!r} is not supported (only None)"
        )
    return float(cfg["scaling"]), list(cfg["leave_out"])


def _param(t: torch.Tensor) -> nn.Parameter:
    """A frozen parameter sharing storage with `t` (no copy)."""
    return nn.Parameter(t.detach(), requires_grad=False)


class _FusedLayer(nn.Module):
    """One BERT layer (+ optional output bottleneck adapter) with fused Q/K/V."""

    def __init__(
        self,
        layer: Any,
        num_heads: int,
        eps: float,
        adapter: AdapterWeights | None,
        scaling: float,
    ) -> None:
        super().__init__()
        attn = layer.attention
        sa = attn.self
        self.num_heads = num_heads
        self.eps = eps
        self.hidden = int(_base_linear(sa.query).weight.shape[1])
        self.scaling = scaling
        self.int8: nn.ModuleDict | None = None  # int8 dynamic linears, see model/int8.py
        self.onednn = False  # fp32 CPU linears through oneDNN (model/unpad.py)
        self.qkv_weight = _param(
            torch.cat(
                [
                    _base_linear(sa.query).weight,
                    _base_linear(sa.key).weight,
                    _base_linear(sa.value).weight,
                ]
            )
        )
        self.qkv_bias = _param(
            torch.cat(
                [
                    _base_linear(sa.query).bias,
                    _base_linear(sa.key).bias,
                    _base_linear(sa.value).bias,
                ]
            )
        )
        self.attn_out_weight = _param(_base_linear(attn.output.dense).weight)
        self.attn_out_bias = _param(_base_linear(attn.output.dense).bias)
        self.ln1_weight = _param(attn.output.LayerNorm.weight)
        self.ln1_bias = _param(attn.output.LayerNorm.bias)
        self.inter_weight = _param(_base_linear(layer.intermediate.dense).weight)
        self.inter_bias = _param(_base_linear(layer.intermediate.dense).bias)
        self.out_weight = _param(_base_linear(layer.output.dense).weight)
        self.out_bias = _param(_base_linear(layer.output.dense).bias)
        self.ln2_weight = _param(layer.output.LayerNorm.weight)
        self.ln2_bias = _param(layer.output.LayerNorm.bias)
        self.has_adapter = adapter is not None
        if adapter is not None:  # (W_down, b_down, W_up, b_up)
            self.down_weight = _param(adapter[0])
            self.down_bias = _param(adapter[1])
            self.up_weight = _param(adapter[2])
            self.up_bias = _param(adapter[3])

    def linear_params(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of a linear: qkv, q, kv, attn_out, inter, out, down, up."""
        if name in ("q", "kv"):
            hidden = self.qkv_weight.shape[1]
            part = slice(None, hidden) if name == "q" else slice(hidden, None)
            return self.qkv_weight[part], self.qkv_bias[part]
        return getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias")

    def _lin(self, name: str, x: torch.Tensor, gelu: bool = False) -> torch.Tensor:
        if self.int8 is not None:  # --dtype int8 (model/int8.py)
            y = cast(torch.Tensor, self.int8[name](x))
            return F.gelu(y) if gelu else y
        w, b = self.linear_params(name)
        return linear(x, w, b, gelu=gelu, onednn=self.onednn)  # oneDNN: fp32, 2-D, CPU only

    def _ffn(self, a: torch.Tensor) -> torch.Tensor:
        """BertIntermediate + BertOutput (with the bottleneck adapter), input = attention block output."""
        h = self._lin("out", self._lin("inter", a, gelu=True))
        if not self.has_adapter:
            return F.layer_norm(h + a, (self.hidden,), self.ln2_weight, self.ln2_bias, self.eps)
        # Adapter.pre_forward: residual = h; n = LN(h + x) with BertOutput.LayerNorm.
        n = F.layer_norm(h + a, (self.hidden,), self.ln2_weight, self.ln2_bias, self.eps)
        # Adapter.forward: up = W_up·ReLU(W_down·n + b_down) + b_up; out = up*scaling + h.
        up = self._lin("up", F.relu(self._lin("down", n)))
        if self.scaling != 1.0:
            up = up * self.scaling
        # Adapter.post_forward: LN(out + x), the same LayerNorm again.
        return F.layer_norm(up + h + a, (self.hidden,), self.ln2_weight, self.ln2_bias, self.eps)

    def _attn_out_ffn(self, ctx: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """BertSelfOutput (dense, residual, LayerNorm) then the FFN: the rest of the layer."""
        a = F.layer_norm(
            self._lin("attn_out", ctx) + residual,
            (self.hidden,),
            self.ln1_weight,
            self.ln1_bias,
            self.eps,
        )
        return self._ffn(a)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Full layer: [B, L, H] -> [B, L, H]."""
        b, length, hidden = x.shape
        heads = self.num_heads
        qkv = self._lin("qkv", x).view(b, length, 3, heads, hidden // heads)
        q, k, v = qkv.transpose(1, 3).unbind(2)  # each [B, heads, L, d]
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        ctx = ctx.transpose(1, 2).reshape(b, length, hidden)
        return self._attn_out_ffn(ctx, x)

    def forward_cls(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Last layer, CLS row only: keys/values for all tokens, the rest for row 0. [B, L, H] -> [B, H]."""
        b, length, hidden = x.shape
        heads = self.num_heads
        d = hidden // heads
        x0 = x[:, :1]
        q = self._lin("q", x0)
        q = q.view(b, 1, heads, d).transpose(1, 2)  # [B, heads, 1, d]
        kv = self._lin("kv", x).view(b, length, 2, heads, d)
        k, v = kv.transpose(1, 3).unbind(2)  # each [B, heads, L, d]
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        ctx = ctx.transpose(1, 2).reshape(b, 1, hidden)
        return self._attn_out_ffn(ctx, x0)[:, 0]

    def forward_unpadded(self, x: torch.Tensor, u: Unpadded) -> torch.Tensor:
        """Full layer over real tokens only: [T, H] -> [T, H], attention per equal-length run."""
        hidden = x.shape[-1]
        heads = self.num_heads
        d = hidden // heads
        qkv = self._lin("qkv", x)
        ctx = torch.empty_like(x)
        for first, rows, length in u.groups:
            end = first + rows * length
            part = qkv[first:end].view(rows, length, 3, heads, d)
            q, k, v = part.transpose(1, 3).unbind(2)  # each [rows, heads, L, d]
            out = F.scaled_dot_product_attention(q, k, v)
            ctx[first:end].view(rows, length, heads, d).copy_(out.transpose(1, 2))
        return self._attn_out_ffn(ctx, x)

    def forward_unpadded_cls(self, x: torch.Tensor, u: Unpadded) -> torch.Tensor:
        """Last layer over real tokens, CLS rows only: [T, H] -> [B, H]."""
        hidden = x.shape[-1]
        heads = self.num_heads
        d = hidden // heads
        x0 = x[u.cls]
        q_all = self._lin("q", x0)
        kv = self._lin("kv", x)
        ctx = torch.empty_like(x0)
        row = 0
        for first, rows, length in u.groups:
            part = kv[first : first + rows * length].view(rows, length, 2, heads, d)
            k, v = part.transpose(1, 3).unbind(2)  # each [rows, heads, L, d]
            q = q_all[row : row + rows].view(rows, 1, heads, d).transpose(1, 2)
            out = F.scaled_dot_product_attention(q, k, v)  # [rows, heads, 1, d]
            ctx[row : row + rows] = out.reshape(rows, hidden)
            row += rows
        return self._attn_out_ffn(ctx, x0)

    def forward_packed(self, x: torch.Tensor, p: Packed, attention: Attention) -> torch.Tensor:
        """Full layer over a packed batch: [T, H] -> [T, H], attention told rows by cu_seqlens."""
        tokens, hidden = x.shape
        heads = self.num_heads
        qkv = self._lin("qkv", x).view(tokens, 3, heads, hidden // heads)
        q, k, v = qkv.unbind(1)  # each [T, heads, d], last dimension contiguous
        ctx = attention(q, k, v, p.cu_seqlens, p.cu_seqlens, p.max_len, p.max_len)
        return self._attn_out_ffn(ctx.reshape(tokens, hidden), x)

    def forward_packed_cls(self, x: torch.Tensor, p: Packed, attention: Attention) -> torch.Tensor:
        """Last layer over a packed batch, [CLS] rows only: [T, H] -> [B, H]."""
        tokens, hidden = x.shape
        heads = self.num_heads
        d = hidden // heads
        x0 = x[p.cls]
        q = self._lin("q", x0).view(p.rows, heads, d)
        k, v = self._lin("kv", x).view(tokens, 2, heads, d).unbind(1)
        ctx = attention(q, k, v, p.cls_cu, p.cu_seqlens, 1, p.max_len)
        return self._attn_out_ffn(ctx.reshape(p.rows, hidden), x0)


def _base_linear(module: Any) -> nn.Linear:
    """The plain nn.Linear behind a possibly LoRA-wrapped linear (LoRALinear is an nn.Linear)."""
    if not isinstance(module, nn.Linear):
        raise UnsupportedModel(f"expected a linear layer, found {type(module).__name__}")
    if module.bias is None:
        raise UnsupportedModel("a linear layer without bias is not supported")
    if getattr(module, "merged", False):
        raise UnsupportedModel("a merged LoRA adapter changes the base weights; not supported")
    return module


def _adapter_linears(adapter: Any, adapter_name: str | None) -> tuple[nn.Linear, nn.Linear]:
    from adapters.methods.modeling import Adapter, ParallelAdapter

    if not isinstance(adapter, Adapter) or isinstance(adapter, ParallelAdapter):
        raise UnsupportedModel(
            f"adapter {adapter_name!r}: module {type(adapter).__name__} is not a sequential Adapter"
        )
    seq = list(adapter.adapter_down)
    if len(seq) != 2 or type(seq[0]) is not nn.Linear:
        raise UnsupportedModel(
            f"adapter {adapter_name!r}: adapter_down is {adapter.adapter_down!r}, expected Linear + ReLU"
        )
    act = getattr(seq[1], "f", seq[1])
    if not isinstance(act, nn.ReLU):
        raise UnsupportedModel(
            f"adapter {adapter_name!r}: config field non_linearity gives {act!r}, only ReLU is supported"
        )
    if type(adapter.adapter_up) is not nn.Linear:
        raise UnsupportedModel(f"adapter {adapter_name!r}: adapter_up is not a plain Linear")
    # The attributes Adapter.pre_forward / forward / post_forward branch on (the config
    # was checked already; this guards direct construction and hand-edited modules).
    expected = {
        "add_layer_norm_before": False,  # ln_before
        "add_layer_norm_after": False,  # ln_after
        "adapter_residual_before_ln": False,
        "use_gating": False,
        "residual_before_ln": True,
        "original_ln_before": True,
        "original_ln_after": True,
    }
    for attr, wanted in expected.items():
        value = getattr(adapter, attr, wanted)
        if value != wanted:
            raise UnsupportedModel(
                f"adapter {adapter_name!r}: module attribute {attr}={value!r} is not supported "
                f"(only {wanted!r})"
            )
    if hasattr(adapter, "DropPath"):
        raise UnsupportedModel(
            f"adapter {adapter_name!r}: config field stochastic_depth unsupported"
        )
    if not isinstance(adapter.scaling, (int, float)):
        raise UnsupportedModel(
            f"adapter {adapter_name!r}: config field scaling is learned ({type(adapter.scaling).__name__}), "
            "only a constant is supported"
        )
    return seq[0], adapter.adapter_up


class FusedBertEncoder(nn.Module):
    """BERT (+ one seq_bn output adapter) forward pass returning `last_hidden_state[:, 0, :]`.

    Build it with `from_bert` (a transformers BertModel + an adapter read from its files) or
    `from_adapter_model` (a model of the adapters library). Parameters are frozen and share storage with the
    source model where no fusion is needed; `.to(device)`, `.half()`, `.to(torch.bfloat16)`
    work as for any module. Use under `torch.inference_mode()`.
    """

    def __init__(
        self,
        bert: Any,
        adapter: dict[int, AdapterWeights] | None = None,
        scaling: float = 1.0,
        adapter_name: str | None = None,
    ) -> None:
        """`bert`: a transformers BertModel; `adapter`: layer -> (W_down, b_down, W_up, b_up)
        of the output bottleneck (layers left out have none), or None for the base model."""
        super().__init__()
        config = bert.config
        _check_bert_config(config)
        self.hidden_size = int(config.hidden_size)
        self.num_heads = int(config.num_attention_heads)
        self.max_positions = int(config.max_position_embeddings)
        self.eps = float(config.layer_norm_eps)
        self.adapter_name = adapter_name
        emb = bert.embeddings
        self.word_embeddings = _param(emb.word_embeddings.weight)
        self.position_embeddings = _param(emb.position_embeddings.weight)
        # token_type_ids are all zero (return_token_type_ids=False): row 0 only.
        self.token_type_embedding = _param(emb.token_type_embeddings.weight[0])
        self.emb_ln_weight = _param(emb.LayerNorm.weight)
        self.emb_ln_bias = _param(emb.LayerNorm.bias)

        encoder_layers = list(bert.encoder.layer)
        extra = sorted(set(adapter or {}) - set(range(len(encoder_layers))))
        if extra:
            raise UnsupportedModel(
                f"adapter weights for layers {extra}, but the model has {len(encoder_layers)}"
            )
        layers = [
            _FusedLayer(layer, self.num_heads, self.eps, (adapter or {}).get(i), scaling)
            for i, layer in enumerate(encoder_layers)
        ]
        if not layers:
            raise UnsupportedModel("BERT config field num_hidden_layers=0 is not supported")
        self.layers = nn.ModuleList(layers)
        # CPU kernels (model/unpad.py): padding-free batches; oneDNN fp32 linears where
        # they are present and agree with F.linear. `set_cpu_kernels` changes both.
        self.unpad_cpu = True
        self.set_cpu_kernels(unpad=True, onednn=onednn_linear_ok())

    def set_cpu_kernels(self, unpad: bool, onednn: bool) -> None:
        """On a CPU: run batches without their padding (`unpad`) and linears through oneDNN."""
        self.unpad_cpu = unpad
        for layer in self.layers:
            cast(_FusedLayer, layer).onednn = onednn

    @property
    def cpu_kernels(self) -> str:
        """What the CPU forward pass uses, for logs and reports: e.g. "unpadded, oneDNN"."""
        first = cast(_FusedLayer, self.layers[0])
        if first.int8 is not None:
            linears = "int8 dynamic linears"
        elif first.onednn and self.word_embeddings.dtype == torch.float32:
            linears = "oneDNN linears"  # unpad.linear uses oneDNN for fp32 only
        else:
            linears = "aten linears"
        return ("unpadded, " if self.unpad_cpu else "padded, ") + linears

    @classmethod
    def from_bert(cls, bert: Any, adapter: SeqBnAdapter | None) -> FusedBertEncoder:
        """A plain transformers `BertModel` plus a seq_bn adapter read by `seqbn.read_adapter`
        (None: the base model alone). The adapter's config was checked when it was read."""
        if adapter is None:
            return cls(bert)
        return cls(bert, adapter.layers, adapter.scaling, adapter.name)

    @classmethod
    def from_adapter_model(cls, model: Any, adapter_name: str | None) -> FusedBertEncoder:
        """Take the weights of a loaded adapters `BertAdapterModel` (or a `BertModel` set up
        with `adapters.init`), with `adapter_name` as the one active bottleneck adapter.

        `adapter_name=None` computes the base model alone, whatever adapters the model
        holds or has active. Raises `UnsupportedModel` (message names the config field)
        for anything this module does not implement, `ValueError` for an unknown name.
        """
        bert = getattr(model, "bert", None)
        if bert is None:
            bert = getattr(model, "base_model", None)
        if bert is None or not hasattr(bert, "encoder") or not hasattr(bert, "embeddings"):
            raise UnsupportedModel(f"{type(model).__name__} does not hold a BertModel (model.bert)")
        if adapter_name is None:
            return cls(bert)
        if hasattr(bert, "specter2_adapter"):  # model/hooked.py: a BertModel + hooks
            if bert.specter2_adapter is None:
                raise ValueError(f"no adapter named {adapter_name!r} in the model")
            return cls.from_bert(bert, bert.specter2_adapter)
        scaling, leave_out = _check_adapter_config(model, adapter_name)
        weights: dict[int, AdapterWeights] = {}
        for i, layer in enumerate(bert.encoder.layer):
            if adapter_name in getattr(layer.attention.output, "adapters", {}):
                raise UnsupportedModel(
                    f"adapter {adapter_name!r}: config field mh_adapter=True (layer {i}) is not supported"
                )
            out_adapters = getattr(layer.output, "adapters", {})
            if adapter_name not in out_adapters:
                if i in leave_out:
                    continue
                raise UnsupportedModel(
                    f"adapter {adapter_name!r} has no output adapter in layer {i}"
                )
            down, up = _adapter_linears(out_adapters[adapter_name], adapter_name)
            weights[i] = (down.weight, down.bias, up.weight, up.bias)
        return cls(bert, weights, scaling, adapter_name)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """CLS embeddings [B, hidden] in the parameters' dtype.

        `input_ids` [B, L] (token_type_ids all zero), `attention_mask` [B, L] of 0/1 or None
        for "all ones". A mask that lives on the CPU and is all ones is dropped; a mask on an
        accelerator is used as given (checking it would cost a device sync), so pass None
        for unpadded batches there. On a CPU a right-padded batch runs over its real
        tokens only (`set_cpu_kernels`; model/unpad.py); other masks use the padded pass.
        """
        if input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must be [batch, length], got shape {tuple(input_ids.shape)}"
            )
        b, length = input_ids.shape
        if length > self.max_positions:
            raise ValueError(
                f"sequence length {length} exceeds max_position_embeddings={self.max_positions}"
            )
        dtype = self.word_embeddings.dtype
        hidden = self.hidden_size
        if attention_mask is not None and tuple(attention_mask.shape) != (b, length):
            raise ValueError(
                f"attention_mask shape {tuple(attention_mask.shape)} != input_ids shape {(b, length)}"
            )
        on_cpu = input_ids.device.type == "cpu"
        if self.unpad_cpu and on_cpu and (attention_mask is None or attention_mask.is_cpu):
            u = unpad(attention_mask, b, length)
            if u is not None:
                return self._forward_unpadded(input_ids, u)

        mask: torch.Tensor | None = None
        if attention_mask is not None and (
            attention_mask.device.type != "cpu" or not bool(attention_mask.all())
        ):
            # Additive mask, built once, broadcast over heads and query rows: [B, 1, 1, L].
            keep = attention_mask.to(device=self.word_embeddings.device, dtype=dtype)
            mask = ((1.0 - keep) * torch.finfo(dtype).min)[:, None, None, :]

        x = F.embedding(input_ids, self.word_embeddings) + self.token_type_embedding
        x = x + self.position_embeddings[:length]
        x = F.layer_norm(x, (hidden,), self.emb_ln_weight, self.emb_ln_bias, self.eps)
        for layer in self.layers[:-1]:
            x = layer(x, mask)
        last = cast(_FusedLayer, self.layers[-1])
        return last.forward_cls(x, mask)

    def _forward_unpadded(self, input_ids: torch.Tensor, u: Unpadded) -> torch.Tensor:
        """The same forward pass over the batch's real tokens only (CPU)."""
        hidden = self.hidden_size
        ids = input_ids.reshape(-1)[u.index]
        x = F.embedding(ids, self.word_embeddings) + self.token_type_embedding
        x = x + self.position_embeddings[u.positions]
        x = F.layer_norm(x, (hidden,), self.emb_ln_weight, self.emb_ln_bias, self.eps)
        for layer in self.layers[:-1]:
            x = cast(_FusedLayer, layer).forward_unpadded(x, u)
        return cast(_FusedLayer, self.layers[-1]).forward_unpadded_cls(x, u)

    def forward_packed(self, p: Packed, attention: Attention) -> torch.Tensor:
        """CLS embeddings [B, hidden] of a packed batch (model/varlen.py), on the device
        of the parameters; `attention` is `flash_attention` on a GPU, `reference_attention`
        anywhere. The same arithmetic as `forward` on the padded batch."""
        if p.max_len > self.max_positions:
            raise ValueError(
                f"sequence length {p.max_len} exceeds max_position_embeddings={self.max_positions}"
            )
        x = F.embedding(p.ids, self.word_embeddings) + self.token_type_embedding
        x = x + self.position_embeddings[p.positions]
        x = F.layer_norm(x, (self.hidden_size,), self.emb_ln_weight, self.emb_ln_bias, self.eps)
        for layer in self.layers[:-1]:
            x = cast(_FusedLayer, layer).forward_packed(x, p, attention)
        return cast(_FusedLayer, self.layers[-1]).forward_packed_cls(x, p, attention)
