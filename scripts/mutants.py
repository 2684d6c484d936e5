"""A small mutation pass over store/, pipeline/, inputs/slicing.py and the readers of an OUTDIR.

Each mutant is one textual change (the old text must occur exactly once); it is applied,
a fast targeted test subset runs, and the file is restored. A mutant that the tests do not
kill "survives" and is printed. Usage:

    python scripts/mutants.py                 # every mutant
    python scripts/mutants.py -k merge        # those whose name contains "merge"
    python scripts/mutants.py --list

Keep each mutant's tests to fake-encoder files (tests/test_pipeline.py style): the point is
to run the whole list in a few minutes on two shared cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "specter2_cli"

SAFETY = "tests/test_operator_safety.py"
INVARIANTS = "tests/test_invariants.py"
PIPELINE = "tests/test_pipeline.py"


@dataclass
class Mutant:
    name: str
    path: str  # relative to specter2_cli/
    old: str
    new: str
    tests: tuple[str, ...] = (SAFETY, INVARIANTS, PIPELINE)


MUTANTS = [
    # cli/conventions.py and the job's setup
    Mutant(
        "envvar-for-overwrite",
        "cli/conventions.py",
        'NO_ENVVAR = {"overwrite"}',
        "NO_ENVVAR: set[str] = set()",
        (SAFETY,),
    ),
    Mutant(
        "shared-envvar-names",
        "cli/conventions.py",
        "return f\"{ENV_PREFIX}{command.upper().replace('-', '_')}_{name}\"",
        'return f"{ENV_PREFIX}{name}"',
        (SAFETY,),
    ),
    Mutant(
        "no-forget-failed-start",
        "store/outdir.py",
        "        if not self.exists() or not self.manifests() or self.holds_work():\n"
        "            return False",
        "        return False",
        (SAFETY,),
    ),
    Mutant(
        "holds-work-ignores-rows",
        "store/outdir.py",
        "any(sh.files or sh.rows or sh.rejected or sh.skipped for sh in m.shards)",
        "False",
        (SAFETY,),
    ),
    Mutant(
        "empty-files-accepted",
        "pipeline/job.py",
        'if self.allow_empty or any(f.kind == "stdin" or f.size > 0 for f in files):',
        "if True:",
        (SAFETY,),
    ),
    Mutant(
        "empty-records-accepted",
        "pipeline/rank.py",
        "if seen or self.job.allow_empty or m.world > 1:",
        "if True:",
        (SAFETY,),
    ),
    Mutant(
        "wipe-before-input-check",
        "pipeline/job.py",
        "        self._refuse_empty_files(files)\n        id_type = self._check_inputs(files)\n"
        "        if self.overwrite:\n",
        "        if self.overwrite:\n            out.wipe()\n"
        "        self._refuse_empty_files(files)\n        id_type = self._check_inputs(files)\n"
        "        if self.overwrite:\n",
        (SAFETY,),
    ),
    Mutant(
        "wipe-any-state-folder",
        "store/outdir.py",
        "if self.state.is_dir() and not self.exists() and _foreign_state(self.state):",
        "if False:",
        (SAFETY,),
    ),
]


def run_tests(tests: tuple[str, ...], timeout: float) -> bool:
    """True when the tests pass (the mutant survives)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-m", "not slow", *tests]  # fmt: skip
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False  # a hang is a kill
    return r.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only mutants whose name contains this")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if args.k in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name:36s} {m.path}")
        return 0
    survivors = []
    for m in chosen:
        path = PKG / m.path
        text = path.read_text()
        if text.count(m.old) != 1:
            print(f"STALE    {m.name}: its text occurs {text.count(m.old)} times in {m.path}")
            survivors.append(m.name)
            continue
        t0 = time.perf_counter()
        try:
            path.write_text(text.replace(m.old, m.new))
            survived = run_tests(m.tests, args.timeout)
        finally:
            path.write_text(text)
        verdict = "SURVIVED" if survived else "killed  "
        print(f"{verdict} {m.name} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if survived:
            survivors.append(m.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} killed; survivors: {survivors}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
