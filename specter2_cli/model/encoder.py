"""A loaded SPECTER2 model that turns token batches into CLS vectors.

`submit` queues a window's batches on the device and `collect` waits for them:
one device sync per window, so the caller writes window k while k+1 runs. On a
CUDA out-of-memory error a batch is split in half (same results per row); rows
that overflow in fp16 are recomputed in fp32.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import faults
from ..config import ModelSettings
from ..errors import Specter2Error
from ..text import Packing, format_paper, pack, tokenize

if TYPE_CHECKING:
    import torch


class WindowAbandoned(Exception):
    """A stop was requested while a window was being encoded."""


@dataclass
class Pending:
    """A window queued on the device: results land in `result` once `event` has passed."""

    packing: Packing
    result: Any  # torch.Tensor [n, hidden] float32 (pinned host memory on CUDA)
    finite: Any  # torch.Tensor [n] bool
    event: Any  # torch.cuda.Event, None on CPU


@dataclass
class EncoderStats:
    batches: int = 0
    rows: int = 0
    oom_splits: int = 0
    fp32_reruns: int = 0
    first_batch_s: float | None = None


@dataclass
class Encoder:
    """A loaded SPECTER2 model ready to embed: tokenizer, forward function, device, dtype."""

    tokenizer: Any
    model: Any  # the adapters model (reference implementation)
    settings: ModelSettings
    device: str
    dtype: Any
    engine: str
    hidden_size: int
    max_positions: int
    revisions: dict[str, str | None] = field(default_factory=dict)
    adapter_tag: str | None = None  # the adapter's task tag ("[PRX]", ...), if it has one
    stats: EncoderStats = field(default_factory=EncoderStats)
    on_batch: Callable[[int, int], None] | None = None  # (rows, real tokens) after each batch
    int8: dict[str, Any] | None = None  # --dtype int8: measured agreement with fp32
    _forward: Any = None
    _fp32_forward: Any = None
    _created: float = field(default_factory=time.perf_counter)

    @property
    def kernels(self) -> str:
        """How the fused engine runs here, e.g. "unpadded, oneDNN linears" on a CPU; else ""."""
        if self.engine != "fused" or not self.device.startswith("cpu"):
            return ""
        return str(getattr(self._forward, "cpu_kernels", ""))

    @property
    def compute_dtype(self) -> str:
        """float16, bfloat16, float32, or int8 (dynamically quantized linears)."""
        return "int8" if self.int8 is not None else str(self.dtype).replace("torch.", "")

    # --------------------------------------------------------------- forward

    def _run(self, module: Any, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        faults.point("forward", rows=int(ids.shape[0]))
        if self.engine == "reference" or module is self.model:
            out = module(input_ids=ids, attention_mask=mask)
            return (
                out.last_hidden_state[:, 0, :]
                if hasattr(out, "last_hidden_state")
                else out[0][:, 0, :]
            )
        return module(ids, mask)

    def _forward_split(
        self, module: Any, ids: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Forward pass; on CUDA out-of-memory, halve the batch and retry (same results per row)."""
        import torch

        try:
            return self._run(module, ids, mask)
        except torch.OutOfMemoryError:
            if ids.shape[0] == 1:
                raise
            torch.cuda.empty_cache()
            self.stats.oom_splits += 1
            h = ids.shape[0] // 2
            a = self._forward_split(module, ids[:h], None if mask is None else mask[:h])
            b = self._forward_split(module, ids[h:], None if mask is None else mask[h:])
            return torch.cat([a, b])

    def encode_packing(
        self, packing: Packing, n_rows: int, should_stop: Callable[[], bool] | None = None
    ) -> np.ndarray:
        """Embeddings [n_rows, hidden] float32 in window order. One device sync per window."""
        return self.collect(self.submit(packing, n_rows, should_stop))

    def submit(
        self, packing: Packing, n_rows: int, should_stop: Callable[[], bool] | None = None
    ) -> Pending:
        """Queue a window's batches on the device without waiting for them.

        On CUDA the results come back through a pinned buffer and an event, so the
        caller can write the previous window while this one runs.
        """
        import torch

        on_cuda = self.device.startswith("cuda")
        out = torch.empty((n_rows, self.hidden_size), dtype=self.dtype, device=self.device)
        with torch.inference_mode():
            for b in packing.batches:
                if should_stop is not None and should_stop():
                    raise WindowAbandoned
                ids = torch.from_numpy(b.input_ids)
                mask = None if b.attention_mask is None else torch.from_numpy(b.attention_mask)
                rows = torch.from_numpy(b.rows)
                if on_cuda:
                    ids = ids.pin_memory().to(self.device, non_blocking=True)
                    rows = rows.pin_memory().to(self.device, non_blocking=True)
                    if mask is not None:
                        mask = mask.pin_memory().to(self.device, non_blocking=True)
                emb = self._forward_split(self._forward, ids, mask)
                out.index_copy_(0, rows, emb.to(self.dtype))
                faults.point("batch")
                self.stats.batches += 1
                self.stats.rows += len(b.rows)
                if self.on_batch is not None:
                    self.on_batch(len(b.rows), b.real_tokens)
            result = out.float()
            finite = torch.isfinite(result).all(dim=1)
            if on_cuda:
                host = torch.empty(result.shape, dtype=torch.float32, pin_memory=True)
                host_finite = torch.empty(finite.shape, dtype=torch.bool, pin_memory=True)
                host.copy_(result, non_blocking=True)
                host_finite.copy_(finite, non_blocking=True)
                event = torch.cuda.Event()
                event.record()
                return Pending(packing, host, host_finite, event)
            return Pending(packing, result, finite, None)

    def collect(self, pending: Pending) -> np.ndarray:
        """Wait for a submitted window; rows that overflowed in fp16 are redone in fp32."""
        import torch

        if pending.event is not None:
            pending.event.synchronize()
        result, finite = pending.result, pending.finite
        with torch.inference_mode():
            if not bool(finite.all()):  # rare: fp16 overflow; redo those rows in fp32
                result = self._rerun_fp32(pending.packing, result.to(self.device), ~finite)
                result = result.cpu()
            if self.settings.normalize:
                result = torch.nn.functional.normalize(result, dim=-1)
            arr = result.numpy()
        if self.stats.first_batch_s is None:
            self.stats.first_batch_s = time.perf_counter() - self._created
        return arr

    def _rerun_fp32(
        self, packing: Packing, result: torch.Tensor, bad: torch.Tensor
    ) -> torch.Tensor:
        import copy

        import torch

        bad_rows = set(torch.nonzero(bad).flatten().tolist())
        if self._fp32_forward is None:
            self._fp32_forward = copy.deepcopy(self._forward).float()
        for b in packing.batches:
            sel = [k for k, r in enumerate(b.rows.tolist()) if r in bad_rows]
            if not sel:
                continue
            ids = torch.from_numpy(b.input_ids[sel]).to(self.device)
            mask = (
                None
                if b.attention_mask is None
                else torch.from_numpy(b.attention_mask[sel]).to(self.device)
            )
            emb = self._run(self._fp32_forward, ids, mask).float()
            result[torch.as_tensor(b.rows[sel], device=self.device)] = emb
            self.stats.fp32_reruns += len(sel)
        if not bool(torch.isfinite(result).all()):
            raise Specter2Error(
                "the model produced NaN or inf even in float32; the model weights are broken. "
                "Nothing was written for this window."
            )
        return result

    # --------------------------------------------------------------- convenience API

    def embed_texts(
        self, texts: Sequence[str], batch_tokens: int = 16_384, max_batch_rows: int = 512
    ) -> np.ndarray:
        """Embed already formatted texts; returns [len(texts), hidden] float32 in input order."""
        if not texts:
            return np.zeros((0, self.hidden_size), dtype=np.float32)
        tok = tokenize(self.tokenizer, texts, self.settings.max_length)
        packing = pack(
            tok,
            batch_tokens,
            max_batch_rows,
            self.tokenizer.pad_token_id,
            max_positions=self.max_positions,
        )
        return self.encode_packing(packing, len(texts))

    def format_paper(self, title: str | None, abstract: str | None) -> str:
        """The paper text in the settings' --text-format (default: the model card's)."""
        return format_paper(title, abstract, self.tokenizer.sep_token, self.settings.text_format)
