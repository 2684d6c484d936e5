"""A loaded SPECTER2 model that turns token batches into CLS vectors.

`submit` queues a window's batches on the device and `collect` waits for them:
one device sync per window, so the caller writes window k while k+1 runs.

On a GPU every tensor, pinned buffer, stream and event belongs to the encoder's own
device (`CudaOps`), and the fused engine runs batches packed without their padding
through torch's varlen FlashAttention (model/varlen.py) where the kernel is present,
else padded through SDPA. Memory pressure has one policy for every allocation a batch
makes (forward, copies, the fp32 rerun): free the failed attempt (outside the
exception handler, so its activations are really gone), halve, and remember the
largest batch that fit as a token cap that later batches and the batcher respect.
Rows that overflow in fp16 are recomputed from float32 master weights.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .. import faults
from ..config import ModelSettings
from ..errors import ModelLoadError
from ..text import Batch, Packing, format_paper, pack, pad_length, tokenize
from .devicefaults import (
    MEMORY_ADVICE,
    DeviceMemoryError,
    cuda_failures,
    is_out_of_memory,
)

if TYPE_CHECKING:
    import torch

log = logging.getLogger("specter2")
T = TypeVar("T")


class WindowAbandoned(Exception):
    """A stop was requested while a window was being encoded."""


class DeviceOps:
    """Where a window's tensors live and how they get there: the CPU (no copies, no events).

    `CudaOps` does the same for one GPU. The encoder makes every device-side call
    through one of these, so tests can check the bookkeeping with a fake."""

    cuda = False

    def __init__(self, device: str = "cpu") -> None:
        import torch

        self.device = torch.device(device)

    def guard(self) -> contextlib.AbstractContextManager[Any]:
        """Makes this device the current one for the calls inside (CUDA)."""
        return contextlib.nullcontext()

    def to_device(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def host_buffer(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        import torch

        return torch.empty(shape, dtype=dtype)

    def done_event(self) -> Any:
        """An event that passes when the work queued so far on this device is done."""
        return None

    def free(self) -> None:
        """Give cached device memory back after an out-of-memory error."""

    def attention(self) -> Any:
        from .varlen import reference_attention

        return reference_attention

    def varlen_reason(self, dtype: torch.dtype, head_dim: int) -> str | None:
        from .varlen import varlen_support

        return varlen_support(str(self.device), dtype, head_dim)


class CudaOps(DeviceOps):
    """One GPU: the current device inside `guard()`, pinned host buffers, events recorded
    on this device's current stream (never on cuda:0's by default)."""

    cuda = True

    def __init__(self, device: str = "cuda") -> None:
        import torch

        dev = torch.device(device)
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        self.device = torch.device("cuda", index)

    def guard(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        return torch.cuda.device(self.device)

    def to_device(self, t: torch.Tensor) -> torch.Tensor:
        return t.pin_memory().to(self.device, non_blocking=True)

    def host_buffer(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        import torch

        return torch.empty(shape, dtype=dtype, pin_memory=True)

    def done_event(self) -> Any:
        import torch

        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        return event

    def free(self) -> None:
        import torch

        torch.cuda.empty_cache()

    def attention(self) -> Any:
        from .varlen import flash_attention

        return flash_attention


def device_ops(device: str) -> DeviceOps:
    return CudaOps(device) if device.startswith("cuda") else DeviceOps(device)


def choose_path(
    engine: str, cuda: bool, requested: str, varlen_reason: Callable[[], str | None]
) -> tuple[str, str]:
    """(path, why) for a forward module: "cpu" (the module unpads by itself), "varlen"
    (packed batches, torch's varlen attention) or "padded" (SDPA with a mask)."""
    if not cuda:
        return "cpu", ""
    if engine != "fused":
        return "padded", f"the {engine} engine runs padded batches"
    if requested == "padded":
        return "padded", "padded attention was asked for"
    reason = varlen_reason()
    if reason is None or requested == "varlen":
        return "varlen", ""
    return "padded", reason


def split_batch(b: Batch, start: int, stop: int) -> Batch:
    """Rows start:stop of a right-padded batch, cut to their own (multiple-of-8) width."""
    ids = b.input_ids[start:stop]
    mask = None if b.attention_mask is None else b.attention_mask[start:stop]
    width = ids.shape[1]
    if mask is None:
        return Batch(b.rows[start:stop], ids, None, int(ids.size))
    lengths = mask.sum(axis=1)
    longest = int(lengths.max())
    cut = pad_length(longest, 8, width)
    # contiguous: a view would be pinned through a temporary copy, losing the overlap
    ids, mask = np.ascontiguousarray(ids[:, :cut]), np.ascontiguousarray(mask[:, :cut])
    full = bool((lengths == cut).all())
    return Batch(b.rows[start:stop], ids, None if full else mask, int(lengths.sum()))


def select_rows(b: Batch, sel: Sequence[int]) -> Batch:
    """The rows `sel` (positions in the batch, ascending) of a batch, as a new batch."""
    idx = np.asarray(sel, dtype=np.int64)
    mask = None if b.attention_mask is None else b.attention_mask[idx]
    part = Batch(b.rows[idx], b.input_ids[idx], mask, 0)
    return split_batch(part, 0, len(idx))


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
    oom_splits: int = 0  # batches halved after running out of device memory
    fp32_reruns: int = 0  # rows recomputed in float32 after an fp16 overflow
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
    # The forward module in float32 on the host, kept when computing in a lower precision:
    # rows that overflow there are recomputed from these weights, not from rounded ones.
    fp32_master: Any = None
    attention: str = "auto"  # on a GPU: "auto" (varlen where the kernel works), "varlen", "padded"
    # The largest batch (padded tokens) known to fit in device memory, once one did not:
    # later batches are split to it and the batcher packs new windows to it.
    token_cap: int | None = None
    _forward: Any = None
    _fp32_forward: Any = None
    _fp32_cap: int | None = None
    _ops: DeviceOps | None = None
    _path: tuple[str, str] | None = None
    _created: float = field(default_factory=time.perf_counter)

    @property
    def ops(self) -> DeviceOps:
        if self._ops is None:
            self._ops = device_ops(self.device)
        return self._ops

    @property
    def path(self) -> tuple[str, str]:
        """(path, why): how the main forward module runs its batches, see `choose_path`."""
        if self._path is None:
            heads = getattr(self._forward, "num_heads", 0) or 1
            head_dim = self.hidden_size // heads
            with self.ops.guard():  # the probe runs on this encoder's device
                self._path = choose_path(
                    self.engine,
                    self.ops.cuda,
                    self.attention,
                    lambda: self.ops.varlen_reason(self.dtype, head_dim),
                )
            if self._path[1]:
                log.info("padded attention on %s: %s", self.device, self._path[1])
        return self._path

    @property
    def kernels(self) -> str:
        """How the fused engine runs here, e.g. "unpadded, oneDNN linears" on a CPU,
        "varlen FlashAttention" on a GPU; else ""."""
        if self.engine != "fused":
            return ""
        if not self.ops.cuda:
            return str(getattr(self._forward, "cpu_kernels", ""))
        path, why = self.path
        return "varlen FlashAttention" if path == "varlen" else f"padded SDPA ({why})"

    @property
    def compute_dtype(self) -> str:
        """float16, bfloat16, float32, or int8 (dynamically quantized linears)."""
        return "int8" if self.int8 is not None else str(self.dtype).replace("torch.", "")

    def batch_budget(self, budget: int) -> int:
        """The batcher's token budget, lowered to what fits in device memory once known."""
        return budget if self.token_cap is None else max(1, min(budget, self.token_cap))

    # --------------------------------------------------------------- forward

    def _run(self, module: Any, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.engine == "reference" or module is self.model:
            out = module(input_ids=ids, attention_mask=mask)
            return (
                out.last_hidden_state[:, 0, :]
                if hasattr(out, "last_hidden_state")
                else out[0][:, 0, :]
            )
        return module(ids, mask)

    def _batch_forward(self, module: Any, b: Batch, path: str) -> torch.Tensor:
        """CLS vectors [rows, hidden] of one batch, on the device."""
        import torch

        faults.point("forward", rows=len(b.rows), tokens=int(b.input_ids.size), module=module)
        ops = self.ops
        if path == "varlen":
            from .varlen import pack_batch

            packed = pack_batch(b.input_ids, b.attention_mask).to(ops.to_device)
            return module.forward_packed(packed, ops.attention())  # type: ignore[no-any-return]
        ids = ops.to_device(torch.from_numpy(b.input_ids))
        mask = None
        if b.attention_mask is not None:
            mask = ops.to_device(torch.from_numpy(b.attention_mask))
        return self._run(module, ids, mask)

    def _attempt(self, fn: Callable[[], T]) -> tuple[bool, T | None]:
        """(True, fn()), or (False, None) after an out-of-memory error and freeing."""
        failed = False
        try:
            return True, fn()
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            failed = True
        # Outside the handler: the exception, its traceback and the failed attempt's
        # frames (with the activations they hold) are released before the cache is.
        if failed:
            self.ops.free()
        return False, None

    def _device_step(self, fn: Callable[[], T], what: str) -> T:
        """fn() with one retry after freeing; a second out-of-memory error is exit 4."""
        for _ in range(2):
            ok, value = self._attempt(fn)
            if ok:
                return value  # type: ignore[return-value]
        raise DeviceMemoryError(
            f"{self.device} ran out of memory {what}, even after freeing its cached memory. "
            + MEMORY_ADVICE
        )

    def _run_batch(
        self,
        module: Any,
        b: Batch,
        path: str,
        put: Callable[[np.ndarray, torch.Tensor], None],
        fp32: bool = False,
    ) -> None:
        """Run a batch in parts that fit: split to the token cap, halve on out-of-memory
        (remembering the half as the new cap), `put(rows, vectors)` for each part."""
        stack = [b]
        while stack:
            part = stack.pop()
            pieces = self._fit(part, fp32)  # against the cap as it is now: it may have dropped
            if len(pieces) > 1:
                stack.extend(pieces[::-1])
                continue
            ok, _ = self._attempt(
                lambda part=part: put(part.rows, self._batch_forward(module, part, path))  # type: ignore[misc]
            )
            if ok:
                continue
            rows, width = part.input_ids.shape
            if rows == 1:
                raise DeviceMemoryError(
                    f"one record of {int(part.real_tokens)} tokens does not fit in the memory of "
                    f"{self.device} even alone ({'float32 rerun' if fp32 else self.compute_dtype}"
                    f", {self.engine} engine). " + MEMORY_ADVICE,
                    row=int(part.rows[0]),
                )
            cap = max(width, rows * width // 2)
            if fp32:
                self._fp32_cap = min(self._fp32_cap or cap, cap)
            else:
                self.token_cap = min(self.token_cap or cap, cap)
                log.warning(
                    "%s ran out of memory on a batch of %d x %d tokens; batches are now "
                    "limited to %d tokens",
                    self.device,
                    rows,
                    width,
                    self.token_cap,
                )
            self.stats.oom_splits += 1
            stack.append(part)

    def _fit(self, b: Batch, fp32: bool = False) -> list[Batch]:
        """The batch cut into parts of at most the token cap (padded tokens)."""
        cap = self._fp32_cap if fp32 else self.token_cap
        rows, width = b.input_ids.shape
        if cap is None or rows * width <= cap or rows == 1:
            return [b]
        per = max(1, cap // width)
        if per >= rows:  # only reached when the cap is below the batch: halve at least
            per = (rows + 1) // 2
        return [split_batch(b, i, min(i + per, rows)) for i in range(0, rows, per)]

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

        ops = self.ops
        with cuda_failures(self.device, "running a batch"), torch.inference_mode(), ops.guard():
            path = self.path[0]
            out = self._device_step(
                lambda: torch.empty((n_rows, self.hidden_size), device=ops.device),
                "allocating a window's output",
            )

            def put(rows: np.ndarray, emb: torch.Tensor) -> None:
                out.index_copy_(0, ops.to_device(torch.from_numpy(rows)), emb.float())
                faults.point("copy")

            for b in packing.batches:
                if should_stop is not None and should_stop():
                    raise WindowAbandoned
                self._run_batch(self._forward, b, path, put)
                faults.point("batch")
                self.stats.batches += 1
                self.stats.rows += len(b.rows)
                if self.on_batch is not None:
                    self.on_batch(len(b.rows), b.real_tokens)
            return self._device_step(lambda: self._copy_back(packing, out), "copying vectors back")

    def _copy_back(self, packing: Packing, out: torch.Tensor) -> Pending:
        import torch

        faults.point("copy_back")
        ops = self.ops
        finite = torch.isfinite(out).all(dim=1)
        if not ops.cuda:
            return Pending(packing, out, finite, None)
        host = ops.host_buffer(tuple(out.shape), torch.float32)
        host_finite = ops.host_buffer(tuple(finite.shape), torch.bool)
        host.copy_(out, non_blocking=True)
        host_finite.copy_(finite, non_blocking=True)
        return Pending(packing, host, host_finite, ops.done_event())

    def collect(self, pending: Pending) -> np.ndarray:
        """Wait for a submitted window; rows that overflowed in fp16 are redone in fp32."""
        import torch

        result, finite = pending.result, pending.finite
        with (
            cuda_failures(self.device, "finishing a window"),
            torch.inference_mode(),
            self.ops.guard(),
        ):
            if pending.event is not None:
                pending.event.synchronize()
            if not bool(finite.all()):  # rare: fp16 overflow; redo those rows in fp32
                self._rerun_fp32(pending.packing, result, ~finite)
            if self.settings.normalize:
                result = torch.nn.functional.normalize(result, dim=-1)
            arr = result.numpy()
        if self.stats.first_batch_s is None:
            self.stats.first_batch_s = time.perf_counter() - self._created
        return arr

    def _fp32_module(self) -> Any:
        """The forward module in float32 on the device, from the float32 master weights."""
        import torch

        if self._fp32_forward is not None:
            return self._fp32_forward
        master = self.fp32_master
        if master is None:  # no master kept (a caller-built encoder): the rounded weights
            log.warning(
                "no float32 copy of the weights was kept; overflowing rows are recomputed "
                "from the %s weights widened to float32",
                self.compute_dtype,
            )
        ops = self.ops

        def build() -> Any:
            faults.point("fp32_copy")
            source = master if master is not None else copy.deepcopy(self._forward)
            return source.to(device=ops.device, dtype=torch.float32).eval()

        self._fp32_forward = self._device_step(build, "making the float32 copy of the model")
        self.fp32_master = None  # the device copy replaces the host one
        return self._fp32_forward

    def _rerun_fp32(self, packing: Packing, result: torch.Tensor, bad: torch.Tensor) -> None:
        """Recompute the rows `bad` of `result` (host, float32) in float32, in place."""
        import torch

        if self.dtype == torch.float32 and self.int8 is None:
            bad_rows = int(bad.sum())
            raise ModelLoadError(
                f"the model produced NaN or inf in float32 for {bad_rows} records; the model "
                "weights are broken. Nothing was written for this window."
            )
        wanted = set(torch.nonzero(bad).flatten().tolist())
        ops = self.ops

        def put(rows: np.ndarray, emb: torch.Tensor) -> None:
            result[torch.from_numpy(rows)] = emb.float().cpu()

        with ops.guard():
            module = self._fp32_module()
            path = "padded" if ops.cuda else "cpu"  # no varlen kernel computes in float32
            for b in packing.batches:
                sel = [k for k, r in enumerate(b.rows.tolist()) if r in wanted]
                if sel:
                    self._run_batch(module, select_rows(b, sel), path, put, fp32=True)
                    self.stats.fp32_reruns += len(sel)
        if not bool(torch.isfinite(result[bad]).all()):
            raise ModelLoadError(
                "the model produced NaN or inf even in float32; the model weights are broken. "
                "Nothing was written for this window."
            )

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
            self.batch_budget(batch_tokens),
            max_batch_rows,
            self.tokenizer.pad_token_id,
            max_positions=self.max_positions,
        )
        return self.encode_packing(packing, len(texts))

    def format_paper(self, title: str | None, abstract: str | None) -> str:
        """The paper text in the settings' --text-format (default: the model card's)."""
        return format_paper(title, abstract, self.tokenizer.sep_token, self.settings.text_format)
