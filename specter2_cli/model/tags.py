"""The task tag an adapter carries, checked against `--adapter` before anything is written.

SPECTER2's adapters name their task in adapter_config.json's top-level "name" key
(`[PRX]` proximity, `[QRY]` adhoc_query, `[CLF]` classification, `[RGN]`
regression; the same tags as SciRepEval's checkpoints). The tag decides how a
record must be formatted (a query is its text alone, a paper is title + abstract),
so a query adapter given with the default `--adapter proximity` would silently
embed papers with the wrong adapter. A tag that names another of these tasks is a
usage error; a missing or unknown tag (a custom adapter) is accepted and recorded.

No torch here: the tag is read from a folder, or from the Hugging Face cache for a
Hub id (when the adapter is not cached yet, the loader checks it after download).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import ModelSettings
from ..errors import UsageError
from .hub import is_local

TAGS = {
    "proximity": "[PRX]",
    "adhoc_query": "[QRY]",
    "classification": "[CLF]",
    "regression": "[RGN]",
}
_ADAPTER_OF = {tag: name for name, tag in TAGS.items()}


def adapter_config_file(source: str, revision: str | None = None) -> Path | None:
    """adapter_config.json of a local adapter folder, or of a Hub adapter in the cache."""
    if is_local(source):
        p = Path(source).expanduser() / "adapter_config.json"
        return p if p.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        found: Any = try_to_load_from_cache(source, "adapter_config.json", revision=revision)
    except Exception:
        return None
    return Path(found) if isinstance(found, str) else None


def read_adapter_tag(source: str, revision: str | None = None) -> str | None:
    """The adapter's "name" (its task tag), None when absent or unreadable."""
    path = adapter_config_file(source, revision)
    if path is None:
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the loader reports a broken config with its own message
    tag = cfg.get("name") if isinstance(cfg, dict) else None
    return tag if isinstance(tag, str) else None


def check_adapter_tag(settings: ModelSettings) -> str | None:
    """The adapter's tag; UsageError when it names another task than --adapter."""
    source = settings.adapter_source
    if source is None:
        return None
    tag = read_adapter_tag(source, settings.adapter_revision)
    other = _ADAPTER_OF.get(tag or "")
    if other is not None and other != settings.adapter:
        where = "--adapter-path " + source if settings.adapter_path else source
        raise UsageError(
            f"{where} is the {other} adapter (its adapter_config.json says {tag}), but "
            f"--adapter is {settings.adapter} ({TAGS.get(settings.adapter, 'no adapter')}); "
            f"pass --adapter {other}, or the {settings.adapter} adapter's folder"
        )
    return tag
