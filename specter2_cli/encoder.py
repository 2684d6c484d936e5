"""Load SPECTER2 (base + adapter, Hub id or local folder) and turn token batches into CLS vectors.

Loading goes through `adapters` exactly as the model card does
(`AutoAdapterModel.from_pretrained` + `load_adapter(..., set_active=True)`), and
the run stops if the adapter is not active in the forward pass. The forward pass
itself then runs either through that model (engine "reference") or through
`FusedBertEncoder`, an exact re-implementation that is checked against it
(engine "fused", the default when the adapter configuration is supported).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from . import faults
from .batching import Packing, pack, tokenize
from .config import ModelSettings
from .errors import ModelLoadError, Specter2Error, UsageError

if TYPE_CHECKING:
    import torch

log = logging.getLogger("specter2")

_BASE_FILES = ("config.json",)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
_ADAPTER_WEIGHTS = ("pytorch_adapter.bin", "adapter.safetensors", "pytorch_adapter.safetensors")


class WindowAbandoned(Exception):
    """A stop was requested while a window was being encoded."""


def is_local(source: str) -> bool:
    return os.path.isdir(os.path.expanduser(source))


def looks_like_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or os.sep in source.strip("/").replace("/", "", 1)


def check_local_base(path: str) -> None:
    p = Path(path).expanduser()
    missing = [f for f in _BASE_FILES if not (p / f).is_file()]
    if not any((p / f).is_file() for f in _WEIGHT_FILES):
        missing.append(" or ".join(_WEIGHT_FILES))
    if not any((p / f).is_file() for f in _TOKENIZER_FILES):
        missing.append(" or ".join(_TOKENIZER_FILES))
    if missing:
        raise ModelLoadError(
            f"--base-model {path}: the folder is missing {', '.join(missing)}; it must hold a "
            "model saved with save_pretrained (config, weights and tokenizer), for example a "
            "copy of allenai/specter2_base made by `specter2 download --to DIR`"
        )


def check_local_adapter(path: str, hidden_size: int | None) -> None:
    p = Path(path).expanduser()
    if not (p / "adapter_config.json").is_file():
        raise ModelLoadError(
            f"--adapter-path {path}: the folder is missing adapter_config.json; it must hold an "
            "adapter saved with save_adapter (adapter_config.json + pytorch_adapter.bin)"
        )
    if not any((p / f).is_file() for f in _ADAPTER_WEIGHTS):
        raise ModelLoadError(f"--adapter-path {path}: the folder is missing pytorch_adapter.bin")
    try:
        cfg = json.loads((p / "adapter_config.json").read_text())
    except ValueError as e:
        raise ModelLoadError(f"{p / 'adapter_config.json'}: not valid JSON ({e})") from e
    size = cfg.get("hidden_size")
    if hidden_size is not None and size is not None and size != hidden_size:
        raise ModelLoadError(
            f"--adapter-path {path}: the adapter was trained for hidden size {size}, but the base "
            f"model has hidden size {hidden_size}; use the adapter that belongs to this base model"
        )


def hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    url = urlparse(endpoint)
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def set_offline() -> None:
    """Make huggingface_hub and transformers use the local cache only (also if imported)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import sys

    if "huggingface_hub" in sys.modules:
        import huggingface_hub.constants as c

        c.HF_HUB_OFFLINE = True


def decide_offline(settings: ModelSettings, offline: bool) -> bool:
    """Go offline when asked, when every model is a local folder, or when the Hub is unreachable.

    Decided before transformers is imported: huggingface_hub reads HF_HUB_OFFLINE
    at import, and without it a dead network costs ~55 s of retries per file.
    """
    sources = [settings.base_model] + ([settings.adapter_source] if settings.adapter_source else [])
    if offline or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        set_offline()
        return True
    if all(is_local(s) for s in sources):
        set_offline()
        return True
    from .download import uses_proxy

    if not uses_proxy() and not hub_reachable():
        log.warning("the Hugging Face Hub is not reachable: using the local cache only")
        set_offline()
        return True
    return False


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA device is available; use --device cpu")
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    import torch

    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    table = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
    if dtype not in table:
        raise UsageError(f"--dtype {dtype}: choose auto, float16, bfloat16 or float32")
    return table[dtype]


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
    stats: EncoderStats = field(default_factory=EncoderStats)
    _forward: Any = None
    _fp32_forward: Any = None
    _created: float = field(default_factory=time.perf_counter)

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
            tok, batch_tokens, max_batch_rows, self.tokenizer.pad_token_id,
            max_positions=self.max_positions,
        )  # fmt: skip
        return self.encode_packing(packing, len(texts))

    def format_paper(self, title: str | None, abstract: str | None) -> str:
        """The model card's paper text: title + [SEP] + (abstract or "")."""
        return (title or "") + self.tokenizer.sep_token + (abstract or "")


def _wrap_load_error(what: str, option: str, source: str, e: Exception) -> ModelLoadError:
    if is_local(source):
        hint = f"check the folder {source}"
    else:
        hint = (
            "no network or no cached copy? On a machine with network run "
            "`specter2 download` (fills the Hugging Face cache) or "
            "`specter2 download --to DIR` and pass the folders with "
            "--base-model/--adapter-path"
        )
    return ModelLoadError(f"cannot load {what} {option} {source}: {str(e).rstrip('.')}. {hint}")


def load_encoder(
    settings: ModelSettings | None = None,
    device: str = "auto",
    dtype: str = "auto",
    engine: str = "auto",
    offline: bool = False,
) -> Encoder:
    """Load base model + adapter once; the returned Encoder embeds any number of batches."""
    settings = settings or ModelSettings()
    base = settings.base_model
    adapter = settings.adapter_source
    if is_local(base):
        check_local_base(base)
    elif looks_like_path(base):
        raise ModelLoadError(f"--base-model {base}: no such folder")
    if adapter is not None and not is_local(adapter) and looks_like_path(adapter):
        raise ModelLoadError(f"--adapter-path {adapter}: no such folder")
    decide_offline(settings, offline)

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from adapters import AutoAdapterModel

    # "none are activated" is printed while loading, before set_active: noise at this point
    logging.getLogger("adapters").setLevel(logging.ERROR)

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    kw: dict[str, Any] = {"revision": settings.revision} if settings.revision else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(base, **kw)
        model = AutoAdapterModel.from_pretrained(base, **kw)
    except (OSError, ValueError) as e:
        raise _wrap_load_error("the base model", "--base-model", base, e) from e
    hidden = int(model.config.hidden_size)
    revisions: dict[str, str | None] = {"base_model": getattr(model.config, "_commit_hash", None)}
    if is_local(base):
        revisions["base_model"] = _folder_revision(base)
    if adapter is not None:
        if is_local(adapter):
            check_local_adapter(adapter, hidden)
        try:
            model.load_adapter(adapter, load_as=settings.adapter, set_active=True)
        except (OSError, ValueError, RuntimeError) as e:
            raise _wrap_load_error("the adapter", "--adapter-path", adapter, e) from e
        active = list(model.active_adapters.flatten()) if model.active_adapters else []
        if settings.adapter not in active:
            raise ModelLoadError(
                f"adapter {settings.adapter!r} was loaded but is not active in the forward pass "
                f"(active: {active or 'none'}); refusing to write base-model embeddings"
            )
        revisions["adapter"] = (
            _folder_revision(adapter) if is_local(adapter) else _adapter_revision(adapter)
        )
    model.eval()
    model.to(device=dev, dtype=torch_dtype)

    chosen = engine
    forward: Any = model
    if engine in ("auto", "fused"):
        from .fused import FusedBertEncoder, UnsupportedModel

        try:
            forward = FusedBertEncoder.from_adapter_model(
                model, settings.adapter if adapter is not None else None
            )
            forward = forward.to(device=dev, dtype=torch_dtype).eval()
            chosen = "fused"
        except UnsupportedModel as e:
            if engine == "fused":
                raise UsageError(f"--engine fused: {e}") from e
            log.info("fused engine unavailable (%s); using the adapters forward pass", e)
            chosen = "reference"
    return Encoder(
        tokenizer=tokenizer,
        model=model,
        settings=settings,
        device=dev,
        dtype=torch_dtype,
        engine=chosen,
        hidden_size=hidden,
        max_positions=int(model.config.max_position_embeddings),
        revisions=revisions,
        _forward=forward,
    )


def _folder_revision(folder: str) -> str | None:
    """The Hub commit a folder made by `specter2 download --to` was fetched at."""
    from .download import read_source_marker

    marker = read_source_marker(folder)
    return marker.get("revision") if marker else None


def _adapter_revision(source: str) -> str | None:
    """The resolved commit of a Hub adapter in the local cache, None for a local folder."""
    if is_local(source):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(source, "adapter_config.json")
        if isinstance(path, str):
            return Path(path).parent.name
    except Exception:
        return None
    return None
