"""Load SPECTER2 as the model card does: base model + adapter, Hub id or local folder.

`AutoAdapterModel.from_pretrained` + `load_adapter(..., set_active=True)`, and the
run stops if the adapter is not active in the forward pass (that would silently
give base-model embeddings). The forward pass then runs through that model
(engine "reference") or through `FusedBertEncoder`, an exact re-implementation
checked against it (engine "fused", the default when the adapter is supported).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ModelSettings
from ..errors import ModelLoadError, UsageError
from .encoder import Encoder
from .hub import hub_mode, is_local, looks_like_path, resolved_revision, should_go_offline
from .tags import check_adapter_tag

if TYPE_CHECKING:
    import torch

log = logging.getLogger("specter2")

_BASE_FILES = ("config.json",)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
_ADAPTER_WEIGHTS = ("pytorch_adapter.bin", "adapter.safetensors", "pytorch_adapter.safetensors")


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
    if dtype == "int8":  # int8 linears, everything else in fp32 (model/int8.py)
        if device != "cpu":
            raise UsageError("--dtype int8 runs on the CPU only; add --device cpu")
        return torch.float32
    table = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
    if dtype not in table:
        raise UsageError(f"--dtype {dtype}: choose auto, float16, bfloat16, float32 or int8")
    return table[dtype]


def _wrap_load_error(what: str, option: str, source: str, e: Exception) -> ModelLoadError:
    if is_local(source):
        hint = f"Check the folder {source}."
    else:
        hint = (
            "Either there is no network here, or the model is not in the local Hugging Face "
            "cache. On a machine with network, run `specter2 download` to fill the cache, "
            "or `specter2 download --to DIR` and pass the folders with --base-model and "
            "--adapter-path."
        )
    reason = str(e).strip().rstrip(".")
    return ModelLoadError(f"Cannot load {what} ({option} {source}): {reason}.\n{hint}")


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
    check_adapter_tag(settings)  # from a folder or the cache: before the weights load
    sources = [base] + ([adapter] if adapter else [])
    with hub_mode(should_go_offline(sources, offline)):
        return _load(settings, device, dtype, engine)


def _load(settings: ModelSettings, device: str, dtype: str, engine: str) -> Encoder:
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    tokenizer, model = _load_base(settings)
    hidden = int(model.config.hidden_size)
    revisions = {
        "base_model": resolved_revision(
            settings.base_model, getattr(model.config, "_commit_hash", None)
        )
    }
    tag = None
    if settings.adapter_source is not None:
        _load_adapter(model, settings, hidden)
        tag = check_adapter_tag(settings)  # a Hub adapter downloaded just now
        revisions["adapter"] = resolved_revision(
            settings.adapter_source, revision=settings.adapter_revision
        )
    model.eval()
    model.to(device=dev, dtype=torch_dtype)
    chosen, forward = _forward_for(model, settings, engine)
    if forward is not model:
        forward = forward.to(device=dev, dtype=torch_dtype).eval()
    int8 = None
    if dtype == "int8":
        forward, int8 = _int8(forward, chosen, tokenizer, settings)
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
        adapter_tag=tag,
        int8=int8,
        _forward=forward,
    )


def _int8(
    forward: Any, engine: str, tokenizer: Any, settings: ModelSettings
) -> tuple[Any, dict[str, Any]]:
    """The int8 copy of the fused forward pass and its measured agreement with fp32."""
    if engine != "fused":
        raise UsageError("--dtype int8 needs the fused engine; drop --engine reference")
    from .int8 import agreement, quantize_int8

    q = quantize_int8(forward)
    found = agreement(forward, q, tokenizer, settings.max_length)
    log.info(
        "--dtype int8: cosine to fp32 on %d probe papers: min %.6f, mean %.6f",
        found["int8_probe_records"],
        found["int8_cosine_to_fp32_min"],
        found["int8_cosine_to_fp32_mean"],
    )
    return q, found


def _load_base(settings: ModelSettings) -> tuple[Any, Any]:
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from adapters import AutoAdapterModel

    # "none are activated" is printed while loading, before set_active: noise at this point
    logging.getLogger("adapters").setLevel(logging.ERROR)
    base = settings.base_model
    kw: dict[str, Any] = {"revision": settings.revision} if settings.revision else {}
    try:
        return AutoTokenizer.from_pretrained(base, **kw), AutoAdapterModel.from_pretrained(
            base, **kw
        )
    except (OSError, ValueError) as e:
        raise _wrap_load_error("the base model", "--base-model", base, e) from e


def _load_adapter(model: Any, settings: ModelSettings, hidden: int) -> None:
    adapter = settings.adapter_source
    assert adapter is not None
    if is_local(adapter):
        check_local_adapter(adapter, hidden)
    try:
        kw = {"version": settings.adapter_revision} if settings.adapter_revision else {}
        model.load_adapter(adapter, load_as=settings.adapter, set_active=True, **kw)
    except KeyError as e:  # adapters reads config keys without a check ("name", ...)
        raise _wrap_load_error(
            "the adapter", "--adapter-path", adapter, ValueError(f"adapter_config.json lacks {e}")
        ) from e
    except (OSError, ValueError, RuntimeError) as e:
        raise _wrap_load_error("the adapter", "--adapter-path", adapter, e) from e
    active = list(model.active_adapters.flatten()) if model.active_adapters else []
    if settings.adapter not in active:
        raise ModelLoadError(
            f"adapter {settings.adapter!r} was loaded but is not active in the forward pass "
            f"(active: {active or 'none'}); refusing to write base-model embeddings"
        )


def _forward_for(model: Any, settings: ModelSettings, engine: str) -> tuple[str, Any]:
    """(engine name, forward module): the fused encoder where it supports the model."""
    if engine not in ("auto", "fused"):
        return engine, model
    from .fused import FusedBertEncoder, UnsupportedModel

    name = settings.adapter if settings.adapter_source is not None else None
    try:
        return "fused", FusedBertEncoder.from_adapter_model(model, name)
    except UnsupportedModel as e:
        if engine == "fused":
            raise UsageError(f"--engine fused: {e}") from e
        log.info("fused engine unavailable (%s); using the adapters forward pass", e)
        return "reference", model
