"""CPU kernels of the fused engine: padding-free batches and oneDNN linear layers.

On a CPU every padded position costs as much as a real token: the model-card loop
(batches of 32 in input order, lengths ~ N(250, 100)) spends about 40% of its GEMM
work on padding, and sorting by length only shrinks that. `Unpadded` describes a
right-padded batch as one stream of its real tokens: the linear layers, GELU and
LayerNorm (which act on each token alone) run over `[tokens, hidden]` with no
padding at all, and attention, the one step that mixes tokens, runs per run of
equal-length rows, so no mask is needed either. Same arithmetic as the padded
forward pass (a masked key gets weight exp(-inf) = 0 there), without the waste.

`onednn_linear_ok` says whether `torch.ops.mkldnn._linear_pointwise` (the oneDNN
matmul PyTorch uses for CPU inference under `torch.jit.freeze`/inductor) is present
and agrees with `F.linear` here; on this project's AMD EPYC it is 1.1-1.4x MKL's
sgemm behind `F.linear`, and it fuses the exact (erf) GELU into the GEMM.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["Unpadded", "linear", "onednn_linear_ok", "unpad"]


@dataclass(frozen=True)
class Unpadded:
    """The real tokens of a right-padded [B, L] batch, in row order."""

    index: torch.Tensor  # [T] positions of the real tokens in the flattened [B*L] batch
    positions: torch.Tensor  # [T] position id of each real token (0 .. length-1)
    cls: torch.Tensor  # [B] index into the T tokens of each row's first token
    groups: tuple[tuple[int, int, int], ...]  # (first token, rows, length): equal-length runs

    @property
    def tokens(self) -> int:
        return int(self.index.numel())


def unpad(attention_mask: torch.Tensor | None, b: int, length: int) -> Unpadded | None:
    """Describe a batch's real tokens; None if the mask is not right padding of rows >= 1 token."""
    if attention_mask is None:
        lengths = [length] * b
        index = torch.arange(b * length)
    else:
        keep = attention_mask.to(torch.bool)
        counts = keep.sum(dim=1)
        if b == 0 or int(counts.min()) < 1:
            return None
        if not bool((keep == (torch.arange(length) < counts[:, None])).all()):
            return None  # left padding or holes: the padded forward pass handles those
        lengths = counts.tolist()
        index = torch.nonzero(keep.reshape(-1)).flatten()
    groups: list[tuple[int, int, int]] = []
    starts: list[int] = []
    start = 0
    for n in lengths:
        starts.append(start)
        if groups and groups[-1][2] == n:
            first, rows, _ = groups[-1]
            groups[-1] = (first, rows + 1, n)
        else:
            groups.append((start, 1, n))
        start += n
    return Unpadded(
        index=index,
        positions=index % length,
        cls=torch.tensor(starts, dtype=torch.long),
        groups=tuple(groups),
    )


def _onednn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, gelu: bool) -> torch.Tensor:
    if gelu:  # algorithm "none": the exact erf GELU, as F.gelu
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu", [], "none")
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


def linear(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, gelu: bool = False, onednn: bool = False
) -> torch.Tensor:
    """`F.linear` (then `F.gelu` if asked) of a 2-D input, through oneDNN when `onednn`."""
    if onednn and x.dtype == torch.float32 and x.device.type == "cpu" and x.dim() == 2:
        return _onednn(x, w, b, gelu)
    y = F.linear(x, w, b)
    return F.gelu(y) if gelu else y


@functools.cache
def onednn_linear_ok() -> bool:
    """oneDNN's fp32 linear is available and matches F.linear (+ GELU) on a probe."""
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(37, 96, generator=gen)
        w = torch.randn(80, 96, generator=gen) * 0.1
        b = torch.randn(80, generator=gen)
        with torch.inference_mode():
            for gelu in (False, True):
                want = F.linear(x, w, b)
                want = F.gelu(want) if gelu else want
                got: Any = _onednn(x, w, b, gelu)
                if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                    return False
                if not torch.allclose(got, want, rtol=1e-5, atol=1e-5):
                    return False
        return True
    except Exception:  # not built with oneDNN, op renamed or removed in this torch
        return False
