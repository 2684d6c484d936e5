"""`specter2 download`: fetch the base model and adapters on a machine with network access.

Compute nodes of many clusters cannot reach the Hugging Face Hub. On a login node,
`specter2 download` puts `allenai/specter2_base` and the adapters either into the
standard Hugging Face cache (then `HF_HUB_OFFLINE=1 specter2 embed ...` loads the
Hub ids from it) or, with `--to DIR`, into portable folders `DIR/specter2_base`,
`DIR/specter2_proximity`, ... that `--base-model`/`--adapter-path` accept.

Every repository is resolved to a commit first (which also fails fast, with a
clear message, when the Hub cannot be reached), then downloaded at exactly that
commit (portable folders) or at the requested branch (cache, so that the branch
ref points at it). The commits are printed, and each portable folder records its
origin in `.specter2-source.json`.

No torch or transformers here.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..config import ADAPTER_IDS, DEFAULT_BASE_MODEL
from ..errors import ModelLoadError, Specter2Error, UsageError
from .hub import (
    endpoint,
    hub_reachable,
    is_environment_error,
    offline_requested,
    offline_variable,
    uses_proxy,
    write_source_marker,
)

log = logging.getLogger("specter2")

ADAPTER_CHOICES = tuple(name for name, repo in ADAPTER_IDS.items() if repo is not None)

# Weights for other frameworks and export formats: never needed by specter2.
IGNORE_PATTERNS = [
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.onnx",
    "*.tflite",
    "onnx/*",
    "tf_model*",
    "flax_model*",
    "rust_model*",
    "coreml/*",
    "openvino/*",
]


@dataclass(frozen=True)
class RepoPlan:
    """One repository to fetch: "base" or an adapter name, its Hub id and portable folder name."""

    key: str
    repo_id: str
    folder: str
    revision: str | None = None  # requested branch, tag or commit; None: main

    @property
    def label(self) -> str:
        return self.repo_id if self.key == "base" else f"{self.repo_id} ({self.key} adapter)"


@dataclass(frozen=True)
class Downloaded:
    plan: RepoPlan
    commit: str
    path: str


def plan_downloads(adapters: Sequence[str] | None, revision: str | None = None) -> list[RepoPlan]:
    """The base model, then the requested adapters ("all" for every one, "none" for none).

    `revision` pins the base model only: the adapters live in other repositories
    with their own commits, and `specter2 embed --revision` pins the base model too.
    """
    names: list[str] = []
    for raw in adapters or ["all"]:
        for name in (n.strip() for n in raw.split(",")):
            if not name:
                continue
            if name == "all":
                names += ADAPTER_CHOICES
            elif name == "none":
                continue
            elif name in ADAPTER_CHOICES:
                names.append(name)
            else:
                choices = ", ".join((*ADAPTER_CHOICES, "all", "none"))
                raise UsageError(f"--adapter {name}: unknown adapter; choose from {choices}")
    plans = [RepoPlan("base", DEFAULT_BASE_MODEL, "specter2_base", revision)]
    for name in dict.fromkeys(names):
        repo = ADAPTER_IDS[name]
        assert repo is not None
        plans.append(RepoPlan(name, repo, f"specter2_{name}"))
    return plans


# ----------------------------------------------------------------- talking to the Hub


def check_network() -> None:
    """Fail in seconds, not after a minute of retries, when the Hub cannot be reached."""
    if offline_requested():
        name = offline_variable()
        raise ModelLoadError(
            f"{name} is set, but `specter2 download` needs the network: run it without "
            f"{name} on a machine that can reach the Hugging Face Hub (a login node)"
        )
    if uses_proxy():
        return  # a direct connection test says nothing about the proxy
    if not hub_reachable():
        raise ModelLoadError(
            f"cannot reach {endpoint()}: `specter2 download` needs the network. Run it on a "
            "machine with internet access (a login node); behind a proxy, set HTTPS_PROXY"
        )


def repo_commit(repo_id: str, revision: str | None) -> tuple[str, list[str]]:
    """(commit, file names) of a model repository at a branch, tag or commit."""
    from huggingface_hub import HfApi

    info = HfApi(endpoint=os.environ.get("HF_ENDPOINT")).model_info(
        repo_id, revision=revision or "main"
    )
    if not info.sha:
        raise ModelLoadError(f"{repo_id}: the Hub returned no commit for revision {revision}")
    return info.sha, [s.rfilename for s in info.siblings or []]


def _ignore_patterns(files: list[str]) -> list[str]:
    ignore = list(IGNORE_PATTERNS)
    if "model.safetensors" in files:
        ignore.append("pytorch_model.bin")  # the same weights twice; transformers prefers these
    return ignore


def fetch(plan: RepoPlan, to: Path | None) -> Downloaded:
    """Download one repository; returns its commit and the folder that holds it."""
    import huggingface_hub

    commit, files = repo_commit(plan.repo_id, plan.revision)
    ignore = _ignore_patterns(files)
    if to is None:
        # By branch name, so that the cache's refs/<branch> points at the commit and
        # `HF_HUB_OFFLINE=1 specter2 embed` finds it without --revision.
        path = huggingface_hub.snapshot_download(
            plan.repo_id,
            revision=plan.revision or "main",
            ignore_patterns=ignore,
            library_name="specter2_cli",
            library_version=__version__,
        )
        got = Path(path).name
        if len(got) == 40 and got != commit:
            commit = got  # the branch moved between the two requests: this is what we have
        return Downloaded(plan, commit, str(path))
    target = to / plan.folder
    path = huggingface_hub.snapshot_download(
        plan.repo_id,
        revision=commit,
        local_dir=str(target),
        ignore_patterns=ignore,
        library_name="specter2_cli",
        library_version=__version__,
    )
    write_source_marker(Path(path), plan.repo_id, commit, plan.revision)
    return Downloaded(plan, commit, str(path))


def _describe_error(plan: RepoPlan, e: Exception) -> ModelLoadError:
    from huggingface_hub.errors import (
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(e, RevisionNotFoundError):
        why = f"revision {plan.revision!r} does not exist in {plan.repo_id}; check --revision"
    elif isinstance(e, GatedRepoError):
        why = "the repository is gated: log in with `huggingface-cli login` or set HF_TOKEN"
    elif isinstance(e, RepositoryNotFoundError):
        why = "no such repository on the Hub (or it is private: set HF_TOKEN)"
    elif isinstance(e, OSError) and getattr(e, "errno", None) is not None:
        why = f"cannot write the files ({e})"
    else:
        why = (
            f"{type(e).__name__}: {e}. Check the network connection to {endpoint()} "
            "(behind a proxy, set HTTPS_PROXY) and rerun; finished files are kept"
        )
    return ModelLoadError(f"cannot download {plan.label}: {why}")


def download(plans: list[RepoPlan], to: Path | None) -> list[Downloaded]:
    """Fetch every planned repository; any failure becomes a ModelLoadError (exit 4)."""
    check_network()
    if to is not None:
        try:
            to.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ModelLoadError(f"--to {to}: cannot create the folder ({e})") from e
    done: list[Downloaded] = []
    for plan in plans:
        log.info("downloading %s ...", plan.label)
        try:
            done.append(fetch(plan, to))
        except Specter2Error:
            raise
        except Exception as e:  # httpx errors (huggingface_hub >= 1) are no OSErrors
            if not is_environment_error(e):
                raise
            raise _describe_error(plan, e) from e
    return done


# ----------------------------------------------------------------- what to tell the user


def _q(p: str) -> str:
    return shlex.quote(p)


def usage_lines(done: list[Downloaded], to: Path | None, cache: str | None = None) -> list[str]:
    """The report: one line per repository with its commit, then how to use them offline."""
    lines = [f"{d.plan.label} @ {d.commit}  ->  {d.path}" for d in done]
    base = next(d for d in done if d.plan.key == "base")
    adapters = [d for d in done if d.plan.key != "base"]
    lines.append("")
    if to is not None:
        base_path = str(Path(base.path).resolve())
        lines.append(
            "Portable folders (copy them anywhere; no network or cache needed). Embed with:"
        )
        if not adapters:
            lines.append(
                f"  specter2 embed INPUT.jsonl -o OUTDIR --adapter none --base-model {_q(base_path)}"
            )
        for d in adapters:
            flag = "" if d.plan.key == "proximity" else f" --adapter {d.plan.key}"
            lines.append(
                f"  specter2 embed INPUT.jsonl -o OUTDIR{flag} --base-model {_q(base_path)} "
                f"--adapter-path {_q(str(Path(d.path).resolve()))}"
            )
        keys = {d.plan.key: d for d in adapters}
        if "proximity" in keys and "adhoc_query" in keys:
            q = str(Path(keys["adhoc_query"].path).resolve())
            lines.append("Search papers embedded that way with:")
            lines.append(
                f'  specter2 search OUTDIR "query text" --base-model {_q(base_path)} '
                f"--adapter-path {_q(q)}"
            )
        return lines
    pin = f" --revision {base.commit}"
    where = cache or "the Hugging Face cache"
    lines.append(
        f"The models are in the Hugging Face cache ({where}). On machines without network that "
        "see this cache (the same HF_HOME or HF_HUB_CACHE, or a copy of it), embed with:"
    )
    if not adapters:
        lines.append(f"  HF_HUB_OFFLINE=1 specter2 embed INPUT.jsonl -o OUTDIR --adapter none{pin}")
    for d in adapters:
        flag = "" if d.plan.key == "proximity" else f" --adapter {d.plan.key}"
        lines.append(f"  HF_HUB_OFFLINE=1 specter2 embed INPUT.jsonl -o OUTDIR{flag}{pin}")
    if {"proximity", "adhoc_query"} <= {d.plan.key for d in adapters}:
        lines.append("Search papers embedded that way with:")
        lines.append('  HF_HUB_OFFLINE=1 specter2 search OUTDIR "query text"')
    lines.append(
        f"(--revision {base.commit} pins the base model to the commit downloaded now; "
        "the adapters load from the commit their 'main' branch had at download time)"
    )
    return lines


def hub_cache() -> str | None:
    try:
        import huggingface_hub.constants as c

        return str(c.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub is a dependency
        return None
