"""`specter2 --help` must stay instant, and every command must be registered and answer --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = {"embed", "status", "merge", "search", "download", "bench", "export"}


def test_cli_import_does_not_load_torch() -> None:
    code = (
        "import sys, specter2_cli.cli; "
        "heavy = [m for m in ('torch', 'transformers', 'adapters', 'pyarrow') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_command_is_registered() -> None:
    import typer.main

    from specter2_cli.cli import app

    group = typer.main.get_command(app)
    assert set(group.commands) == COMMANDS  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_answers_help(command: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "specter2_cli", command, "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert (
        r.stdout.lstrip().startswith("Usage:") and f" {command} " in r.stdout.split("\n")[0] + " "
    )


def test_help_lists_every_command() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "specter2_cli", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0
    listed = {
        line.split()[0] for line in r.stdout.splitlines() if line.startswith("  ") and line.split()
    }
    assert listed >= COMMANDS, listed
