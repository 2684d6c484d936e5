"""Hub id or local folder, online or offline, and which commit a model came from.

No torch or transformers here. Going offline must be decided before
huggingface_hub is imported (it reads HF_HUB_OFFLINE at import), and without it
a dead network costs ~55 s of retries per file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .. import __version__

log = logging.getLogger("specter2")

SOURCE_MARKER = ".specter2-source.json"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def is_local(source: str) -> bool:
    """A model given as a folder (rather than a Hub id)."""
    return os.path.isdir(os.path.expanduser(source))


def looks_like_path(source: str) -> bool:
    """A string meant as a folder (./x, /x, ~/x, a/b/c) rather than a Hub id (owner/name)."""
    return source.startswith((".", "/", "~")) or os.sep in source.strip("/").replace("/", "", 1)


def offline_variable() -> str | None:
    """The variable that asks for offline mode, as huggingface_hub reads them: HF_HUB_OFFLINE,
    or TRANSFORMERS_OFFLINE when the first is unset or empty; None when neither is true."""
    name = "HF_HUB_OFFLINE" if os.environ.get("HF_HUB_OFFLINE") else "TRANSFORMERS_OFFLINE"
    value = os.environ.get(name) or ""
    return name if value.upper() in ("1", "ON", "YES", "TRUE") else None


def offline_requested() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) asks for offline mode."""
    return offline_variable() is not None


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def uses_proxy() -> bool:
    names = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
    return any(os.environ.get(n) for n in names)


def hub_reachable(timeout: float = 3.0) -> bool:
    url = urlparse(endpoint())
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def should_go_offline(sources: list[str], offline: bool) -> bool:
    """Offline when asked, when every model is a local folder, or when the Hub is unreachable."""
    if offline or offline_requested() or all(is_local(s) for s in sources):
        return True
    if not uses_proxy() and not hub_reachable():
        log.warning("the Hugging Face Hub is not reachable: using the local cache only")
        return True
    return False


# Module attributes that hold the offline switch once the module is imported:
# huggingface_hub reads the variables at import, and transformers 4.x copies that value
# into its own module at import (transformers.utils.hub.is_offline_mode returns the copy).
_OFFLINE_FLAGS = (
    ("huggingface_hub.constants", "HF_HUB_OFFLINE"),
    ("transformers.utils.hub", "_is_offline_mode"),
)


@contextlib.contextmanager
def hub_mode(offline: bool) -> Iterator[None]:
    """Within the block huggingface_hub and transformers use the local cache only (if
    `offline`); the process's settings are restored afterwards, including in the modules
    first imported inside the block (which read the offline variables set here)."""
    if not offline:
        yield
        return
    saved = {name: os.environ.get(name) for name in _OFFLINE_VARS}
    outer = offline_requested()
    for name in _OFFLINE_VARS:
        os.environ[name] = "1"
    saved_flags: dict[tuple[str, str], Any] = {}
    for module_name, attr in _OFFLINE_FLAGS:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, attr):
            saved_flags[module_name, attr] = getattr(module, attr)
            setattr(module, attr, True)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for module_name, attr in _OFFLINE_FLAGS:
            module = sys.modules.get(module_name)
            if module is not None and hasattr(module, attr):
                setattr(module, attr, saved_flags.get((module_name, attr), outer))


# Libraries whose exceptions mean "the network, the Hub or the files", never a bug here.
# huggingface_hub >= 1 talks HTTP through httpx (or its httpx2 fork), whose errors (a DNS
# failure, a refused proxy, a timeout) no longer subclass OSError as requests' did.
_ENVIRONMENT_MODULES = frozenset(
    {"huggingface_hub", "httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3", "h11"}
)


def is_environment_error(e: BaseException) -> bool:
    """True for what the network, the Hub, the cache or a model's files cause: an OSError, a
    ValueError raised while loading, or any error class of the HTTP and Hub libraries."""
    if isinstance(e, (OSError, ValueError)):
        return True
    return any(cls.__module__.split(".")[0] in _ENVIRONMENT_MODULES for cls in type(e).__mro__)


# ----------------------------------------------------------------- provenance


def write_source_marker(folder: Path, repo_id: str, commit: str, requested: str | None) -> None:
    info = {
        "repo_id": repo_id,
        "revision": commit,
        "requested_revision": requested or "main",
        "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tool_version": __version__,
    }
    (folder / SOURCE_MARKER).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def read_source_marker(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The origin recorded by `specter2 download --to` in a portable folder, if any."""
    p = Path(folder).expanduser() / SOURCE_MARKER
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and isinstance(d.get("repo_id"), str) else None


def model_identity(source: str) -> tuple[str, str | None]:
    """(what model, which commit if known) for a Hub id or a local folder.

    A portable folder written by `specter2 download --to` is the Hub repository it
    was downloaded from, so `allenai/specter2_base` and `DIR/specter2_base` match.
    """
    if is_local(source):
        marker = read_source_marker(source)
        if marker is not None:
            rev = marker.get("revision")
            return marker["repo_id"], rev if isinstance(rev, str) else None
        return str(Path(source).expanduser().resolve()), None
    return source, None


def resolved_revision(
    source: str,
    commit_hash: str | None = None,
    revision: str | None = None,
    filename: str = "adapter_config.json",
) -> str | None:
    """The commit a model or adapter was loaded at: from a folder's marker, the config's
    `_commit_hash` (transformers 4.x sets it, 5.x does not), or the cache entry of
    `filename` at `revision`."""
    if is_local(source):
        marker = read_source_marker(source)
        return marker.get("revision") if marker else None
    if commit_hash is not None:
        return commit_hash
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(source, filename, revision=revision)
        if isinstance(path, str):
            return Path(path).parent.name
    except Exception:
        return None
    return None
