"""Load SPECTER2: base model + adapter, from a Hub id (cache, revision) or a folder.

The default engine ("fused", also "auto") needs only torch and transformers: the base
model loads as a transformers `BertModel`, the adapter is read from its own files
(model/seqbn.py, checked field by field against what the adapters library would
build), and `FusedBertEncoder` computes the model card's CLS vectors from both.
Anything it does not implement stops the run (exit 4) naming the field and value.

Engine "reference" runs the adapters library itself (an optional extra:
`AutoAdapterModel.from_pretrained` + `load_adapter(..., set_active=True)`), and stops
if the adapter is not active in the forward pass (that would silently give
base-model embeddings).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ModelSettings
from ..errors import EnvironmentProblem, ModelLoadError, UsageError
from .encoder import Encoder
from .hub import (
    hub_mode,
    is_environment_error,
    is_local,
    looks_like_path,
    resolved_revision,
    should_go_offline,
)
from .seqbn import CONFIG_NAME, WEIGHT_FILES, AdapterConfigError, read_adapter
from .tags import check_adapter_tag

if TYPE_CHECKING:
    import torch

log = logging.getLogger("specter2")

_BASE_FILES = ("config.json",)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
_ADAPTER_WEIGHTS = WEIGHT_FILES


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
        raise ModelLoadError(
            f"--adapter-path {path}: the folder is missing pytorch_adapter.bin (or "
            "adapter.safetensors, pytorch_adapter.safetensors): the adapter's weights"
        )
    try:
        cfg = json.loads((p / "adapter_config.json").read_text())
    except ValueError as e:
        raise ModelLoadError(f"{p / 'adapter_config.json'}: not valid JSON ({e})") from e
    if not isinstance(cfg, dict):
        raise ModelLoadError(
            f"{p / 'adapter_config.json'}: expected a JSON object, found {type(cfg).__name__}; "
            "use the adapter's original adapter_config.json (written by save_adapter)"
        )
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
        raise EnvironmentProblem(
            f"--device {device}: no CUDA device is available to this process (torch "
            f"{torch.__version__}, built for CUDA {torch.version.cuda or 'none'}): check "
            "nvidia-smi, the driver, and CUDA_VISIBLE_DEVICES; or use --device cpu"
        )
    if device.startswith("cuda:"):
        index, count = torch.device(device).index or 0, torch.cuda.device_count()
        if index >= count:
            raise UsageError(
                f"--device {device}: this process sees {count} GPU(s), cuda:0 to cuda:{count - 1}"
            )
        from .devicefaults import cuda_failures

        with cuda_failures(device, "to become the current GPU"):
            torch.cuda.set_device(index)  # before any CUDA work: no context on another GPU
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


def adapter_label(settings: ModelSettings) -> str:
    """How errors name the adapter: the folder or id given, or the Hub id --adapter chose."""
    if settings.adapter_path:
        return f"--adapter-path {settings.adapter_path}"
    return f"--adapter {settings.adapter} ({settings.adapter_source})"


def _wrap_load_error(
    what: str, option: str, source: str, e: Exception, label: str | None = None
) -> ModelLoadError:
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
    label = label or f"{option} {source}"
    return ModelLoadError(f"Cannot load {what} ({label}): {reason}.\n{hint}")


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
    quiet_libraries()
    if engine == "reference" and settings.adapter_source is not None:
        return _load_reference(settings, dev, torch_dtype, dtype)
    tokenizer, model = _load_base(settings)
    revisions = {"base_model": _base_revision(settings, model)}
    tag = None
    adapter = None
    if settings.adapter_source is not None:
        adapter, revisions["adapter"] = _read_adapter(settings, model.config)
        tag = check_adapter_tag(settings)  # a Hub adapter downloaded just now
    model.eval()
    master = _fp32_master(model, adapter, engine, torch_dtype)  # before the weights convert
    _to_device(model, dev, torch_dtype)
    if engine == "reference":  # the base model alone: the transformers forward pass
        chosen, forward = "reference", model
    else:
        chosen, forward = "fused", _fused(model, adapter)
        forward = _to_device(forward, dev, torch_dtype).eval()
    enc = _encoder(
        tokenizer, model, forward, chosen, settings, dev, torch_dtype, dtype, revisions, tag
    )
    if master is not None:
        enc.fp32_master = master
    return enc


def _fp32_master(model: Any, adapter: Any, engine: str, dtype: torch.dtype) -> Any:
    """The forward module in float32 on the host, for recomputing rows that overflow in a
    lower precision (model/encoder.py); None when computing in float32.

    The fused one is built from the float32 CPU model before `model.to` converts it: it
    shares the weights as loaded (converting replaces the model's tensors, not these), so
    keeping it costs host memory the conversion would have freed, and no GPU memory.
    """
    import copy

    import torch

    if dtype == torch.float32:
        return None
    if engine == "reference":
        return copy.deepcopy(model)
    return _fused(model, adapter).eval()


def _to_device(module: Any, dev: str, dtype: torch.dtype) -> Any:
    """`module.to(dev, dtype)`; a device without room for the model, or one that CUDA cannot
    use (busy, unsupported, driver trouble), is exit 4, not a traceback."""
    from .devicefaults import MEMORY_ADVICE, DeviceMemoryError, cuda_failures, is_out_of_memory

    try:
        with cuda_failures(dev, "taking the model"):
            return module.to(device=dev, dtype=dtype)
    except Exception as e:
        if not is_out_of_memory(e):
            raise
    raise DeviceMemoryError(f"{dev} has no room for the model. " + MEMORY_ADVICE)


def _base_revision(settings: ModelSettings, model: Any) -> str | None:
    commit = getattr(model.config, "_commit_hash", None)
    return resolved_revision(settings.base_model, commit, settings.revision, "config.json")


def _encoder(
    tokenizer: Any,
    model: Any,
    forward: Any,
    chosen: str,
    settings: ModelSettings,
    dev: str,
    torch_dtype: torch.dtype,
    dtype: str,
    revisions: dict[str, str | None],
    tag: str | None,
) -> Encoder:
    int8 = None
    master = None
    if dtype == "int8":  # overflowing rows are rerun from the unquantized float32 module
        master = forward
        forward, int8 = _int8(forward, chosen, tokenizer, settings)
    return Encoder(
        tokenizer=tokenizer,
        model=model,
        settings=settings,
        device=dev,
        dtype=torch_dtype,
        engine=chosen,
        hidden_size=int(model.config.hidden_size),
        max_positions=int(model.config.max_position_embeddings),
        revisions=revisions,
        adapter_tag=tag,
        int8=int8,
        fp32_master=master,
        _forward=forward,
    )


def quiet_libraries() -> None:
    """No progress bars or load-time chatter from transformers / huggingface_hub: our own
    progress goes to stderr, and a cron or SLURM log should not fill with bars."""
    import huggingface_hub.utils as hf_utils
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hf_utils.disable_progress_bars()


def _fused(model: Any, adapter: Any) -> Any:
    from .fused import FusedBertEncoder, UnsupportedModel

    try:
        return FusedBertEncoder.from_bert(model, adapter)
    except UnsupportedModel as e:
        raise ModelLoadError(
            f"--base-model {model.name_or_path}: {e}; the built-in engine computes BERT "
            "(absolute positions, GELU) with one seq_bn adapter only"
        ) from e


def _read_adapter(settings: ModelSettings, config: Any) -> tuple[Any, str | None]:
    """The adapter read from its folder or its Hub repository; (adapter, commit)."""
    source = settings.adapter_source
    assert source is not None
    if is_local(source):
        check_local_adapter(source, int(config.hidden_size))
        folder = Path(source).expanduser()
        commit = resolved_revision(source)
    else:
        try:
            folder = Path(hub_adapter_folder(source, settings.adapter_revision))
        except Exception as e:
            if not is_environment_error(e):
                raise
            raise _wrap_load_error(
                "the adapter", "--adapter-path", source, e, adapter_label(settings)
            ) from e
        commit = folder.name if len(folder.name) == 40 else None
    try:
        adapter = read_adapter(
            folder, settings.adapter, int(config.hidden_size), int(config.num_hidden_layers)
        )
    except AdapterConfigError as e:
        raise ModelLoadError(f"Cannot use the adapter ({adapter_label(settings)}): {e}") from e
    return adapter, commit


def hub_adapter_folder(repo_id: str, revision: str | None) -> str:
    """The adapter's files from the Hub (or, offline, the cache): its snapshot folder."""
    from huggingface_hub import snapshot_download

    from .. import __version__

    return str(
        snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=[CONFIG_NAME, *WEIGHT_FILES],
            library_name="specter2_cli",
            library_version=__version__,
        )
    )


def _load_reference(
    settings: ModelSettings, dev: str, torch_dtype: torch.dtype, dtype: str
) -> Encoder:
    """--engine reference: the adapters library's own model, as the model card loads it."""
    tokenizer, model = _load_base(settings, with_adapters=True)
    hidden = int(model.config.hidden_size)
    revisions = {"base_model": _base_revision(settings, model)}
    _load_adapter(model, settings, hidden)
    tag = check_adapter_tag(settings)  # a Hub adapter downloaded just now
    revisions["adapter"] = resolved_revision(
        settings.adapter_source or "", revision=settings.adapter_revision
    )
    model.eval()
    master = _fp32_master(model, None, "reference", torch_dtype)
    _to_device(model, dev, torch_dtype)
    enc = _encoder(
        tokenizer, model, model, "reference", settings, dev, torch_dtype, dtype, revisions, tag
    )
    if master is not None:
        enc.fp32_master = master
    return enc


def import_adapters() -> Any:
    """The adapters library, or ModelLoadError (exit 4) saying how to install it."""
    try:
        import adapters
    except Exception as e:
        raise ModelLoadError(
            f"--engine reference runs the adapters library, which cannot be imported here "
            f"({type(e).__name__}: {e}). Install it with: pip install 'specter2-cli[reference]' "
            "(adapters 1.3.0 needs transformers 4.57.x and huggingface_hub<1.0, so use a "
            "separate environment for it), or use the default engine"
        ) from e
    logging.getLogger("adapters").setLevel(logging.ERROR)
    return adapters


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


def _load_base(settings: ModelSettings, with_adapters: bool = False) -> tuple[Any, Any]:
    """Tokenizer and base model: a transformers BertModel, or (`with_adapters`) the adapters
    library's AutoAdapterModel."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    auto: Any = import_adapters().AutoAdapterModel if with_adapters else AutoModel
    base = settings.base_model
    kw: dict[str, Any] = {"revision": settings.revision} if settings.revision else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(base, **kw)
        model = auto.from_pretrained(base, dtype=torch.float32, **kw)
    except Exception as e:
        if not is_environment_error(e):
            raise
        raise _wrap_load_error("the base model", "--base-model", base, e) from e
    model_type = getattr(model.config, "model_type", None)
    if model_type != "bert":
        raise ModelLoadError(
            f"--base-model {base}: config field model_type={model_type!r} is not supported "
            "(only 'bert', as allenai/specter2_base)"
        )
    return tokenizer, model


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
            "the adapter", "--adapter-path", adapter,
            ValueError(f"adapter_config.json lacks {e}"), adapter_label(settings),
        ) from e  # fmt: skip
    except TypeError as e:  # a config missing a key BnConfig requires ("mh_adapter", ...)
        reason = ValueError(
            f'adapter_config.json\'s "config" cannot be built by the adapters library ({e}); '
            "use the adapter's original adapter_config.json"
        )
        raise _wrap_load_error(
            "the adapter", "--adapter-path", adapter, reason, adapter_label(settings)
        ) from e
    except Exception as e:
        if not (is_environment_error(e) or isinstance(e, RuntimeError)):
            raise
        raise _wrap_load_error(
            "the adapter", "--adapter-path", adapter, e, adapter_label(settings)
        ) from e
    active = list(model.active_adapters.flatten()) if model.active_adapters else []
    if settings.adapter not in active:
        raise ModelLoadError(
            f"adapter {settings.adapter!r} was loaded but is not active in the forward pass "
            f"(active: {active or 'none'}); refusing to write base-model embeddings"
        )
