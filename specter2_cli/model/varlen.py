"""Packed ("varlen") batches: a batch's real tokens in one stream, rows told apart by offsets.

A padded batch of B rows is B x L positions, and every padded position costs a GPU
as much as a real token, plus an additive mask that rules out the FlashAttention and
memory-efficient attention kernels. A `Packed` batch holds only the real tokens,
`[T]`, with `cu_seqlens` (row i owns tokens `cu_seqlens[i]:cu_seqlens[i+1]`, int32),
which is what `torch.nn.attention.varlen.varlen_attn` (torch 2.13: FlashAttention
on sm80+ GPUs, float16/bfloat16 only; on an older torch, the FlashAttention op it
calls) takes. The linear layers, GELU and LayerNorm act
on each token alone, so they run on `[T, hidden]` unchanged; in the last layer only
the [CLS] rows are queries (`cls_cu` = 0, 1, ..., B: one query per row).

Packing is built on the host from the batcher's numpy arrays, so nothing waits for the
device. `reference_attention` is the same computation written with one
`scaled_dot_product_attention` call per row: it runs anywhere (varlen_attn has no CPU
kernel in torch 2.13) and is what the tests compare with the padded forward pass.
`varlen_support` probes the real kernel on a device once and says why it cannot be
used, so the padded path is chosen automatically where it is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "Attention",
    "Packed",
    "flash_attention",
    "pack_batch",
    "reference_attention",
    "row_lengths",
    "varlen_support",
]

# (q [Tq, heads, d], k [Tk, heads, d], v, cu_q [B+1] int32, cu_k [B+1] int32, max_q, max_k)
Attention = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int, int],
    torch.Tensor,
]


@dataclass(frozen=True)
class Packed:
    """The real tokens of a batch, row after row."""

    ids: torch.Tensor  # [T] int64 token ids
    positions: torch.Tensor  # [T] int64 position id of each token (0 .. length-1)
    cu_seqlens: torch.Tensor  # [B+1] int32 offsets of the rows in the T tokens
    cls: torch.Tensor  # [B] int64 index of each row's first ([CLS]) token
    cls_cu: torch.Tensor  # [B+1] int32 0, 1, ..., B: one query per row (last layer)
    max_len: int  # the longest row, in tokens

    @property
    def rows(self) -> int:
        return int(self.cls.numel())

    @property
    def tokens(self) -> int:
        return int(self.ids.numel())

    def to(self, move: Callable[[torch.Tensor], torch.Tensor]) -> Packed:
        """The same batch with every tensor passed through `move` (to a device, say)."""
        return Packed(
            move(self.ids),
            move(self.positions),
            move(self.cu_seqlens),
            move(self.cls),
            move(self.cls_cu),
            self.max_len,
        )


def row_lengths(input_ids: np.ndarray, attention_mask: np.ndarray | None) -> np.ndarray:
    """Tokens per row of a right-padded batch (int64); ValueError for any other mask."""
    b, width = input_ids.shape
    if attention_mask is None:
        return np.full(b, width, dtype=np.int64)
    keep = attention_mask.astype(bool)
    lengths = keep.sum(axis=1).astype(np.int64)
    if b and int(lengths.min()) < 1:
        raise ValueError("a row of the batch has no tokens")
    if not np.array_equal(keep, np.arange(width)[None, :] < lengths[:, None]):
        raise ValueError("the attention mask is not right padding")
    return lengths


def pack_batch(input_ids: np.ndarray, attention_mask: np.ndarray | None) -> Packed:
    """A right-padded [B, L] batch (the batcher's numpy arrays) as packed CPU tensors."""
    lengths = row_lengths(input_ids, attention_mask)
    b = len(lengths)
    cu = np.zeros(b + 1, dtype=np.int64)
    np.cumsum(lengths, out=cu[1:])
    total = int(cu[-1])
    if attention_mask is None:
        ids = input_ids.reshape(-1)
    else:
        ids = input_ids[attention_mask.astype(bool)]  # row-major: row after row
    positions = np.arange(total, dtype=np.int64) - np.repeat(cu[:-1], lengths)
    return Packed(
        ids=torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)),
        positions=torch.from_numpy(positions),
        cu_seqlens=torch.from_numpy(cu.astype(np.int32)),
        cls=torch.from_numpy(cu[:-1].copy()),
        cls_cu=torch.arange(b + 1, dtype=torch.int32),
        max_len=int(lengths.max()) if b else 0,
    )


def reference_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_q: torch.Tensor,
    cu_k: torch.Tensor,
    max_q: int,
    max_k: int,
) -> torch.Tensor:
    """varlen attention as one SDPA call per row: [Tq, heads, d] -> [Tq, heads, d]."""
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    qs, ks = cu_q.tolist(), cu_k.tolist()
    for i in range(len(qs) - 1):
        qi = q[qs[i] : qs[i + 1]].transpose(0, 1)[None]  # [1, heads, Lq, d]
        ki = k[ks[i] : ks[i + 1]].transpose(0, 1)[None]
        vi = v[ks[i] : ks[i + 1]].transpose(0, 1)[None]
        out[qs[i] : qs[i + 1]] = F.scaled_dot_product_attention(qi, ki, vi)[0].transpose(0, 1)
    return out


def flash_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_q: torch.Tensor,
    cu_k: torch.Tensor,
    max_q: int,
    max_k: int,
) -> torch.Tensor:
    """torch's own varlen attention (FlashAttention kernels; CUDA, float16/bfloat16):
    `torch.nn.attention.varlen.varlen_attn`, or on a torch without that module the
    FlashAttention op it calls (`aten._flash_attention_forward`, varlen since torch 2.2)."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return _flash_op(q, k, v, cu_q, cu_k, max_q, max_k)
    out = varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k)
    assert isinstance(out, torch.Tensor)
    return out


def _flash_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_q: torch.Tensor,
    cu_k: torch.Tensor,
    max_q: int,
    max_k: int,
) -> torch.Tensor:
    # (query, key, value, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal,
    #  return_debug_mask) -> (output, logsumexp, ...)
    out = torch.ops.aten._flash_attention_forward(
        q, k, v, cu_q, cu_k, max_q, max_k, 0.0, False, False
    )
    return out[0]  # type: ignore[no-any-return]


_known: dict[tuple[str, torch.dtype, int], str | None] = {}


def varlen_support(device: str, dtype: torch.dtype, head_dim: int = 64) -> str | None:
    """None if `flash_attention` works on `device` in `dtype`; else why not (for the log).

    The kernel is run once on a small packed batch laid out as the model lays it out
    (strided views of a fused Q/K/V projection, a last-layer query per row) and compared
    with `reference_attention`, so a torch build without the kernel, an older GPU, or a
    layout the kernel refuses all fall back to the padded path instead of failing later.
    The answer is remembered for the process, except a probe that ran out of memory: that
    says nothing about the kernel, and the next encoder asks again.
    """
    key = (device, dtype, head_dim)
    if key in _known:
        return _known[key]
    reason, lasting = _support(torch.device(device), dtype, head_dim)
    if lasting:
        _known[key] = reason
    return reason


def _support(dev: torch.device, dtype: torch.dtype, head_dim: int) -> tuple[str | None, bool]:
    """(why not, or None; whether the answer holds for the rest of the process)."""
    if dev.type != "cuda":
        return "not a CUDA device", True
    if dtype not in (torch.float16, torch.bfloat16):
        return f"FlashAttention computes in float16 or bfloat16, not {str(dtype)[6:]}", True
    try:
        importlib.import_module("torch.nn.attention.varlen")
    except ImportError:
        if not hasattr(torch.ops.aten, "_flash_attention_forward"):
            return f"torch {torch.__version__} has no varlen FlashAttention", True
    try:
        major, minor = torch.cuda.get_device_capability(dev)
        if major < 8:
            return (
                f"FlashAttention needs a GPU of compute capability 8.0+, this is {major}.{minor}",
                True,
            )
        return _probe(dev, dtype, head_dim), True
    except Exception as e:  # kernel missing from this build, driver trouble: use padded SDPA
        from .devicefaults import is_out_of_memory

        why = f"varlen_attn failed on a probe ({type(e).__name__}: {str(e)[:200]})"
        return why, not is_out_of_memory(e)


def _probe(dev: torch.device, dtype: torch.dtype, head_dim: int) -> str | None:
    gen = torch.Generator().manual_seed(0)
    lengths = [5, 1, 17, 9]
    heads = 2
    total = sum(lengths)
    cu = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int32)
    qkv = torch.randn(total, 3, heads, head_dim, generator=gen)
    cls = cu[:-1].long()
    q_cls = qkv[cls, 0]
    rows = torch.arange(len(lengths) + 1, dtype=torch.int32)
    q0, k0, v0 = qkv.unbind(1)
    want_all = reference_attention(q0, k0, v0, cu, cu, max(lengths), max(lengths))
    want_cls = reference_attention(q_cls, qkv[:, 1], qkv[:, 2], rows, cu, 1, max(lengths))
    on = qkv.to(dev, dtype)
    cu_d, rows_d = cu.to(dev), rows.to(dev)
    q, k, v = on.unbind(1)
    got_all = flash_attention(q, k, v, cu_d, cu_d, max(lengths), max(lengths))
    got_cls = flash_attention(on[cls.to(dev), 0], k, v, rows_d, cu_d, 1, max(lengths))
    tolerance = 2e-2 if dtype == torch.float16 else 8e-2  # a few units of the last place
    for got, want in ((got_all, want_all), (got_cls, want_cls)):
        err = float((got.float().cpu() - want).abs().max())
        if not err < tolerance:
            return f"varlen_attn disagrees with SDPA on a probe (max abs diff {err:.3g})"
    return None
