"""`specter2 --help` must stay instant: the CLI module may not import torch or transformers."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_does_not_load_torch() -> None:
    code = (
        "import sys, specter2_cli.cli; "
        "heavy = [m for m in ('torch', 'transformers', 'adapters', 'pyarrow') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_help_lists_every_command() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "specter2_cli.cli", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0
    for cmd in ("embed", "status", "merge", "search", "download", "bench"):
        assert cmd in r.stdout
