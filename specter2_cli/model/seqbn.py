"""A seq_bn bottleneck adapter read from its own files, as adapters 1.3.0 loads it.

An adapter folder (saved by `save_adapter`, or a Hub repository such as
`allenai/specter2`) holds `adapter_config.json` and the weights
(`adapter.safetensors`, `pytorch_adapter.safetensors` or `pytorch_adapter.bin`).
This module reads both without the `adapters` library and checks them the way
that library would interpret them (adapters/configuration/adapter_config.py,
methods/modeling.py, loading.py):

* a config dict picks `BnConfig`, so a key missing from it takes BnConfig's
  default, not SeqBnConfig's (a missing `original_ln_before` is False); a config
  given as a name ("seq_bn", "pfeiffer") or as null is SeqBnConfig's defaults;
* files without a "version" key rename the activation ("gelu" -> "gelu_new");
* legacy weight names (`layer_text_task_adapters`, ...) are renamed to `adapters`;
* `leave_out` lists layers without a bottleneck; `reduction_factor` may be a
  number or a per-layer mapping with "default";
* `scaling` is a number (an int, which adapters itself rejects, means the same float).

The fused engine implements one computation: per layer `LN(h + x + s·(W_up·ReLU(
W_down·LN(h + x) + b_down) + b_up))` with the layer's own output LayerNorm. Every
field that would change it to something else is refused with `AdapterConfigError`
(naming the field and its value), as are missing, unexpected or misshapen tensors:
nothing is ever embedded another way.

No transformers here; torch (and safetensors, a transformers dependency) for the weights.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

CONFIG_NAME = "adapter_config.json"
# read in adapters 1.3.0's order: load_adapter reads pytorch_adapter.bin (its default,
# use_safetensors=False) even beside an adapter.safetensors; the .safetensors files only
# when there is no .bin (adapters itself then fails). The .bin loads with weights_only=True.
WEIGHT_FILES = ("pytorch_adapter.bin", "adapter.safetensors", "pytorch_adapter.safetensors")


class AdapterConfigError(ValueError):
    """The adapter's files describe something the engine does not compute, or are broken."""


# BnConfig's dataclass defaults (adapters 1.3.0); the first four have none there.
BN_REQUIRED = ("mh_adapter", "output_adapter", "reduction_factor", "non_linearity")
BN_DEFAULTS: dict[str, Any] = {
    "original_ln_before": False,
    "original_ln_after": True,
    "ln_before": False,
    "ln_after": False,
    "init_weights": "bert",
    "init_weights_seed": None,
    "is_parallel": False,
    "scaling": 1.0,
    "use_gating": False,
    "residual_before_ln": True,
    "adapter_residual_before_ln": False,
    "inv_adapter": None,
    "inv_adapter_reduction_factor": None,
    "cross_adapter": False,
    "leave_out": [],
    "dropout": 0.0,
    "phm_layer": False,
    "phm_dim": 4,
    "factorized_phm_W": True,
    "shared_W_phm": False,
    "shared_phm_rule": True,
    "factorized_phm_rule": False,
    "phm_c_init": "normal",
    "phm_init_range": 0.0001,
    "learn_phm": True,
    "hypercomplex_nonlinearity": "glorot-uniform",
    "phm_rank": 1,
    "phm_bias": True,
    "stochastic_depth": 0.0,
}
# SeqBnConfig's overrides of those: what "seq_bn", "pfeiffer" and a null config mean
SEQ_BN: dict[str, Any] = {
    **BN_DEFAULTS,
    "original_ln_before": True,
    "original_ln_after": True,
    "residual_before_ln": True,
    "adapter_residual_before_ln": False,
    "ln_before": False,
    "ln_after": False,
    "mh_adapter": False,
    "output_adapter": True,
    "non_linearity": "relu",
    "reduction_factor": 16,
}
_NAMED_CONFIGS = {"seq_bn": SEQ_BN, "pfeiffer": SEQ_BN}
_ACTIVATION_RENAME = {"gelu": "gelu_new", "gelu_orig": "gelu"}  # files without "version"
_LEGACY_WEIGHT_NAMES = {
    "attention_text_task_adapters": "adapters",
    "attention_text_lang_adapters": "adapters",
    "layer_text_task_adapters": "adapters",
    "layer_text_lang_adapters": "adapters",
    "invertible_lang_adapters": "invertible_adapters",
}

# The one computation implemented, as values of the fields that select it. Fields
# not listed either do not change an eval-mode forward pass (init_*, dropout,
# stochastic_depth, phm_* when phm_layer is false, cross_adapter on an encoder,
# adapter_residual_before_ln without ln_after) or are checked below.
IMPLEMENTED: dict[str, Any] = {
    "mh_adapter": False,
    "output_adapter": True,
    "is_parallel": False,
    "original_ln_before": True,
    "original_ln_after": True,
    "residual_before_ln": True,
    "ln_before": False,
    "ln_after": False,
    "use_gating": False,
    "phm_layer": False,
    "non_linearity": "relu",
}
_BOOL_FIELDS = (
    "mh_adapter",
    "output_adapter",
    "is_parallel",
    "original_ln_before",
    "original_ln_after",
    "ln_before",
    "ln_after",
    "use_gating",
    "phm_layer",
    "adapter_residual_before_ln",
    "cross_adapter",
)

_KEY = re.compile(
    r"^(?:bert\.)?encoder\.layer\.(\d+)\.output\.adapters\.(.+)\."
    r"(adapter_down\.0\.weight|adapter_down\.0\.bias|adapter_up\.weight|adapter_up\.bias)$"
)
_PARTS = ("adapter_down.0.weight", "adapter_down.0.bias", "adapter_up.weight", "adapter_up.bias")


@dataclass(frozen=True)
class SeqBnAdapter:
    """The bottleneck weights per layer (down W, down b, up W, up b; float32) and the scaling."""

    name: str | None  # adapter_config.json's "name" (SPECTER2: its task tag)
    scaling: float
    layers: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]
    config: dict[str, Any] = field(default_factory=dict)  # the effective BnConfig fields
    weights_file: str = ""


def _bad(where: str, field_name: str, value: Any, wanted: str) -> AdapterConfigError:
    return AdapterConfigError(
        f"{where}: config field {field_name}={value!r} is not supported by the built-in "
        f"engine ({wanted}); `--engine reference` (pip install 'specter2-cli[reference]') "
        "runs the adapters library instead"
    )


def effective_config(
    raw: Any, has_version: bool = True, where: str = CONFIG_NAME
) -> dict[str, Any]:
    """The BnConfig fields adapters 1.3.0 would build from the file's "config" value,
    checked against what the engine implements (AdapterConfigError otherwise)."""
    if not raw:  # null, {}, [], "", 0, false: adapters' AdapterConfig.load gives seq_bn's
        cfg = dict(SEQ_BN)
    elif isinstance(raw, str):
        if raw not in _NAMED_CONFIGS:
            raise _bad(where, "config", raw, 'only a seq_bn bottleneck: "seq_bn" or a dict')
        cfg = dict(_NAMED_CONFIGS[raw])
    elif isinstance(raw, Mapping):
        cfg = dict(raw)
        if "invertible_adapter" in cfg:  # adapters v1 layout, renamed on load
            inv = cfg.pop("invertible_adapter")
            if inv:
                cfg["inv_adapter"] = inv.get("block_type") if isinstance(inv, Mapping) else inv
        arch = cfg.get("architecture")
        if arch is not None:
            raise _bad(where, "architecture", arch, "only a bottleneck adapter, architecture null")
        missing = [k for k in BN_REQUIRED if k not in cfg]
        if missing:
            raise AdapterConfigError(
                f"{where}: config lacks {', '.join(missing)}; the adapters library cannot "
                "build this adapter either. Use the adapter's original adapter_config.json"
            )
        cfg = {**BN_DEFAULTS, **cfg}
        if not has_version and cfg.get("non_linearity") in _ACTIVATION_RENAME:
            cfg["non_linearity"] = _ACTIVATION_RENAME[cfg["non_linearity"]]
    else:
        raise AdapterConfigError(f'{where}: "config" must be an object, got {raw!r}')

    for name in _BOOL_FIELDS:
        if not isinstance(cfg.get(name), bool):
            raise AdapterConfigError(
                f"{where}: config field {name}={cfg.get(name)!r} must be true or false"
            )
    for name, wanted in IMPLEMENTED.items():
        value = cfg.get(name)
        if name == "non_linearity" and isinstance(value, str):
            value = value.lower()
        if value != wanted or type(value) is not type(wanted):
            raise _bad(where, name, cfg.get(name), f"only {wanted!r}")
    if cfg.get("inv_adapter") is not None:
        raise _bad(where, "inv_adapter", cfg["inv_adapter"], "only null")
    cfg["scaling"] = _scaling(cfg.get("scaling"), where)
    cfg["leave_out"] = _leave_out(cfg.get("leave_out"), where)
    _check_reduction_factor(cfg.get("reduction_factor"), where)
    return cfg


def _scaling(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(where, "scaling", value, "only a constant number; not learned or channel")
    if not math.isfinite(value):
        raise AdapterConfigError(f"{where}: config field scaling={value!r} is not a finite number")
    return float(value)


def _leave_out(value: Any, where: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise AdapterConfigError(
            f"{where}: config field leave_out={value!r} must be a list of layer numbers"
        )
    return sorted(set(value))


def _rf_ok(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def _check_reduction_factor(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        bad = {k: v for k, v in value.items() if not _rf_ok(v)}
        if bad:
            raise AdapterConfigError(
                f"{where}: config field reduction_factor={dict(value)!r}: {bad!r} are not "
                "positive numbers"
            )
        return
    if not _rf_ok(value):
        raise AdapterConfigError(
            f"{where}: config field reduction_factor={value!r} must be a positive number "
            "or a mapping of layer numbers to numbers"
        )


def bottleneck_size(cfg: Mapping[str, Any], layer: int, hidden: int, where: str = "") -> int:
    """The bottleneck width of `layer`, as adapters' BottleneckLayer.add_adapter computes it."""
    rf = cfg["reduction_factor"]
    if isinstance(rf, Mapping):
        if str(layer) in rf:
            rf = rf[str(layer)]
        elif "default" in rf:
            rf = rf["default"]
        else:
            raise AdapterConfigError(
                f"{where or CONFIG_NAME}: config field reduction_factor={dict(rf)!r} has no "
                f'entry for layer {layer} and no "default"'
            )
    return max(1, int(hidden // rf))


# ----------------------------------------------------------------- files


def find_weights(folder: Path) -> Path | None:
    return next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)


def read_config_file(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise AdapterConfigError(
            f"{folder}: the folder is missing {CONFIG_NAME}; it must hold an adapter saved with "
            "save_adapter (adapter_config.json + pytorch_adapter.bin)"
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise AdapterConfigError(f"{path}: cannot read the file ({e})") from e
    except ValueError as e:
        raise AdapterConfigError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise AdapterConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of an adapter weights file; pickles only with weights_only=True."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path), device="cpu")
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # a torn download, a pickle with code in it, another format
        raise AdapterConfigError(
            f"{path}: cannot read the adapter weights ({type(e).__name__}: {e}); download the "
            "adapter again"
        ) from e
    if not isinstance(sd, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()
    ):
        raise AdapterConfigError(f"{path}: expected a mapping of tensor names to tensors")
    return dict(sd)


def _legacy_rename(key: str) -> str:
    for old, new in _LEGACY_WEIGHT_NAMES.items():
        key = key.replace(old, new)
    return key


def read_adapter(
    folder: str | Path, load_as: str | None, hidden_size: int, num_layers: int
) -> SeqBnAdapter:
    """Read and check a saved seq_bn adapter for a BERT with this hidden size and depth.

    `load_as` is the name the adapter is loaded under (as `load_adapter(load_as=...)`):
    the weights may be saved under it or under the config's "name".
    """
    import torch

    folder = Path(folder).expanduser()
    data = read_config_file(folder)
    where = str(folder / CONFIG_NAME)
    if "config" not in data:  # null means seq_bn's defaults; absent, adapters cannot load it
        raise AdapterConfigError(
            f'{where}: the file lacks "config" (the adapter\'s architecture); use the '
            "adapter's original adapter_config.json"
        )
    cfg = effective_config(data["config"], has_version="version" in data, where=where)
    size = data.get("hidden_size")
    if size is not None and size != hidden_size:
        raise AdapterConfigError(
            f"{folder}: the adapter was trained for hidden size {size}, but the base model has "
            f"hidden size {hidden_size}; use the adapter that belongs to this base model"
        )
    if all(i in cfg["leave_out"] for i in range(num_layers)):
        raise _bad(where, "leave_out", cfg["leave_out"], "at least one layer must keep its adapter")
    sizes = {
        i: bottleneck_size(cfg, i, hidden_size, where)
        for i in range(num_layers)
        if i not in cfg["leave_out"]
    }
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise AdapterConfigError(f'{where}: "name" must be a string, got {name!r}')
    weights = find_weights(folder)
    if weights is None:
        raise AdapterConfigError(
            f"{folder}: the folder is missing pytorch_adapter.bin (or adapter.safetensors, "
            "pytorch_adapter.safetensors): the adapter's weights"
        )
    sd = load_state_dict(weights)
    names = {n for n in (name, load_as) if n}
    found: dict[int, dict[str, torch.Tensor]] = {}
    unexpected: list[str] = []
    saved_as: set[str] = set()
    for key, tensor in sd.items():
        m = _KEY.match(_legacy_rename(key))
        if m is None:
            unexpected.append(key)
            continue
        layer, adapter_name, part = int(m.group(1)), m.group(2), m.group(3)
        saved_as.add(adapter_name)
        if layer >= num_layers or layer in cfg["leave_out"]:
            unexpected.append(key)
            continue
        found.setdefault(layer, {})[part] = tensor
    if unexpected:
        shown = ", ".join(unexpected[:3]) + (
            f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""
        )
        raise AdapterConfigError(
            f"{weights}: unexpected tensors {shown}; a seq_bn output adapter of a "
            f"{num_layers}-layer BERT (leave_out={cfg['leave_out']}) has only "
            "encoder.layer.N.output.adapters.NAME.adapter_down.0/adapter_up tensors"
        )
    if len(saved_as) > 1 or (saved_as and names and not saved_as <= names):
        raise AdapterConfigError(
            f"{weights}: the tensors belong to adapter(s) {sorted(saved_as)}, but "
            f"{CONFIG_NAME} names it {name!r}; the adapters library would load none of them"
        )
    layers: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for layer in range(num_layers):
        if layer in cfg["leave_out"]:
            continue
        parts = found.get(layer, {})
        missing = [p for p in _PARTS if p not in parts]
        if missing:
            raise AdapterConfigError(
                f"{weights}: missing tensors for layer {layer}: {', '.join(missing)} (the file "
                "is incomplete, or the adapter belongs to a model with fewer layers)"
            )
        d = sizes[layer]
        shapes = {
            _PARTS[0]: (d, hidden_size),
            _PARTS[1]: (d,),
            _PARTS[2]: (hidden_size, d),
            _PARTS[3]: (hidden_size,),
        }
        for part, shape in shapes.items():
            t = parts[part]
            if tuple(t.shape) != shape or not t.is_floating_point():
                raise AdapterConfigError(
                    f"{weights}: tensor for layer {layer} {part} has shape {tuple(t.shape)} "
                    f"({t.dtype}); hidden size {hidden_size} and reduction_factor "
                    f"{cfg['reduction_factor']!r} need {shape} floating point"
                )
        layers[layer] = tuple(parts[p].detach().to(torch.float32) for p in _PARTS)  # type: ignore[assignment]
    if not layers:
        raise _bad(where, "leave_out", cfg["leave_out"], "at least one layer must keep its adapter")
    return SeqBnAdapter(
        name=name, scaling=cfg["scaling"], layers=layers, config=cfg, weights_file=str(weights)
    )
