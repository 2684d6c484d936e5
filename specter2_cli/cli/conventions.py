"""Conventions every command shares: SPECTER2_<COMMAND>_<OPTION> environment variables,
--version with the versions that matter for a bug report, and dependency problems as exit 4.

A variable belongs to one subcommand (SPECTER2_EMBED_SHARD_SIZE, SPECTER2_MERGE_TO): one
exported for a nightly `merge` never reaches `embed`. Options that destroy (--overwrite)
read no variable at all: deleting work takes a flag on the command line.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

from typer.core import TyperGroup

ENV_PREFIX = "SPECTER2_"

# what the tool needs of its dependencies (pyproject.toml says the same)
NEEDS = {
    "torch": "torch>=2.1",
    "transformers": "transformers>=4.57,<6",
    "tokenizers": "tokenizers>=0.22",
    "safetensors": "safetensors>=0.4",
    "pyarrow": "pyarrow>=15",
    "numpy": "numpy>=1.24",
    "huggingface_hub": "huggingface_hub>=0.34,<3",
    "tqdm": "tqdm>=4.66",
    "typer": "typer>=0.12",
}
# optional: only `--engine reference` imports it (pip install 'specter2-cli[reference]')
OPTIONAL = {"adapters": "adapters==1.3.0"}


# options that delete what exists: never from the environment
NO_ENVVAR = {"overwrite"}
# read by the launcher detection (Kubernetes indexed jobs), not as an option
LAUNCHER_VARS = {"SPECTER2_NUM_SHARDS"}


def _long_name(param: Any) -> str | None:
    longs = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    return longs[0][2:].upper().replace("-", "_") if longs else None


def envvar_name(param: Any, command: str) -> str | None:
    """SPECTER2_EMBED_SHARD_SIZE for `embed --shard-size`; None for parameters without a long
    option and for destructive ones."""
    name = _long_name(param)
    if name is None or param.name in NO_ENVVAR:
        return None
    return f"{ENV_PREFIX}{command.upper().replace('-', '_')}_{name}"


# readable metavars instead of <str>/<int>: by option name, else by type
METAVARS = {
    "output": "OUTDIR",
    "base_model": "MODEL",
    "adapter_path": "ADAPTER",
    "revision": "REV",
    "device": "DEVICE",
    "devices": "DEVICES",
    "id_field": "FIELD",
    "title_field": "FIELD",
    "abstract_field": "FIELD",
    "text_field": "FIELD",
    "log_every": "SECONDS",
    "summary_json": "FILE",
    "to": "FILE",
}
TYPE_METAVARS = {int: "N", float: "X", str: "TEXT"}


def _annotation(p: Any) -> Any:
    """The Python type of an option: typer >= 0.2x keeps a type descriptor, older a click type."""
    desc = getattr(p, "type_descriptor", None)
    if desc is not None:
        return desc.annotation
    kind = getattr(getattr(p, "type", None), "name", "")
    return {"integer": int, "float": float, "text": str}.get(kind)


def readable_metavar(p: Any) -> None:
    if p.metavar is not None or getattr(p, "is_flag", False):
        return
    ann = _annotation(p)
    name = METAVARS.get(p.name or "") or (TYPE_METAVARS.get(ann) if isinstance(ann, type) else None)
    if name:
        p.metavar = name


def add_envvars(command: Any, name: str) -> None:
    """Give every option of subcommand `name` its SPECTER2_<NAME>_<LONG_NAME>."""
    for p in command.params:
        if p.param_type_name == "argument":
            p.metavar = p.metavar or (p.name or "").upper()
            if hasattr(p, "display_type_rich"):  # typer >= 0.2x adds "<list[str]>" after it
                p.display_type_rich = lambda ctx: ""
        if p.param_type_name == "option":
            readable_metavar(p)
        # duck-typed: recent typer vendors its own click
        if p.param_type_name == "option" and p.envvar is None and p.name != "help":
            var = envvar_name(p, name)
            if var:
                p.envvar = var
                p.show_envvar = True


def unread_variables(commands: Mapping[str, Any], name: str, env: Mapping[str, str]) -> list[str]:
    """Set SPECTER2_* variables that look meant for subcommand `name` but that it does not
    read: a misspelt SPECTER2_<NAME>_*, SPECTER2_<NAME>_OVERWRITE, or the old shared
    SPECTER2_<OPTION> form (another subcommand's variables are theirs, not named)."""
    own = {p.envvar for p in commands[name].params if getattr(p, "envvar", None)}
    prefix = f"{ENV_PREFIX}{name.upper().replace('-', '_')}_"
    options = {
        ENV_PREFIX + n
        for cmd in commands.values()
        for p in cmd.params
        if p.param_type_name == "option" and (n := _long_name(p))
    }
    return sorted(
        v
        for v in env
        if v not in own and v not in LAUNCHER_VARS and (v in options or v.startswith(prefix))
    )


class EnvVarGroup(TyperGroup):
    """The top-level group: each subcommand's options read its own SPECTER2_<COMMAND>_*
    variables (flags win); a variable it does not read is named in a warning, never used."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        for name, cmd in self.commands.items():
            add_envvars(cmd, name)
        return super().make_context(*args, **kwargs)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        if name is not None and name in self.commands:
            for var in unread_variables(self.commands, name, dict(os.environ)):
                print(
                    f"specter2: warning: {var} is set but `specter2 {name}` does not read it "
                    f"(its variables are {ENV_PREFIX}{name.upper()}_<OPTION>; --overwrite "
                    "reads none); ignoring it",
                    file=sys.stderr,
                )
        return name, cmd, rest


def _version_of(module: str) -> tuple[str, bool]:
    """(version text, importable)."""
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # a broken install is what a bug report needs to show
        return f"not importable ({type(e).__name__}: {e})", False
    return str(getattr(mod, "__version__", "unknown")), True


def version_report() -> tuple[str, bool]:
    """(one line per component, whether every required dependency imports)."""
    from .. import __version__

    lines = [f"specter2_cli {__version__}"]
    problems = []
    for name in ("torch", "transformers", "huggingface_hub", "tokenizers", "pyarrow", "numpy"):
        text, ok = _version_of(name)
        lines.append(f"{name} {text}")
        if not ok:
            problems.append(
                f"{name} cannot be imported (installed: {_installed(name)}; specter2 "
                f"supports {NEEDS[name]}); fix it with: pip install '{NEEDS[name]}'"
            )
    text, ok = _version_of("adapters")
    lines.append(
        f"adapters {text if ok else 'not installed or not importable (optional: --engine reference)'}"
    )
    try:
        import torch

        cuda = torch.version.cuda or "none (CPU build)"
        avail = torch.cuda.device_count() if torch.cuda.is_available() else 0
        lines.append(f"CUDA {cuda}, {avail} device{'s' if avail != 1 else ''} visible")
    except Exception:
        lines.append("CUDA unknown (torch not importable)")
    import sys

    lines.append(f"python {sys.version.split()[0]}")
    lines += [f"error: {p}" for p in problems]
    return "\n".join(lines), not problems


def environment_problem(e: ImportError) -> str:
    """'cannot import X: ...; specter2 needs huggingface_hub<1.0: pip install ...'."""
    text = str(e)
    culprit = e.name.split(".")[0] if e.name else None
    for pkg in NEEDS:
        if pkg == culprit or f"'{pkg}" in text or f" {pkg}." in text or f"'{pkg}." in text:
            culprit = pkg
            break
    need = NEEDS.get(culprit or "") or OPTIONAL.get(culprit or "")
    importer = _importer(e, culprit)
    if need and importer and _satisfies(need, _installed(culprit or "")):
        # the dependency is fine; the package importing it expects another version of it
        # (e.g. adapters 1.3.0 wants huggingface_hub<1.0): advising `pip install need` would
        # change nothing
        extra = " (only --engine reference needs it)" if importer == "adapters" else ""
        return (
            f"{importer} {_installed(importer)} cannot be used with {culprit} "
            f"{_installed(culprit or '')}, which specter2 supports ({need}): {text}. "
            f"Upgrade or uninstall {importer}{extra}, or install it in another environment"
        )
    if need:
        installed = _installed(culprit or "")
        return (
            f"a dependency is missing or at an incompatible version: {text}. specter2 needs "
            f"{need} (installed: {installed}); fix it with: pip install '{need}'"
        )
    return (
        f"a dependency is missing or at an incompatible version: {text}. Reinstall "
        "specter2_cli's dependencies with: pip install -e . (or pip install specter2-cli)"
    )


def _importer(e: BaseException, culprit: str | None) -> str | None:
    """The installed package whose import failed (the last frame outside the culprit)."""
    found = None
    tb = e.__traceback__
    while tb is not None:
        top = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if top and top not in (culprit, "importlib", "specter2_cli", "__main__", "tests"):
            found = top
        tb = tb.tb_next
    return found if found and _installed(found) != "not installed" else None


def _satisfies(need: str, installed: str) -> bool:
    try:
        from packaging.requirements import Requirement

        return Requirement(need).specifier.contains(installed, prereleases=True)
    except Exception:  # not a version ("not installed"), or no packaging
        return False


def _installed(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    dist = {"huggingface_hub": "huggingface-hub"}.get(pkg, pkg)
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"
