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
    timeout: float | None = None  # seconds; a mutant that makes a test hang is killed by it


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
    # one rule for repeated ids (merge.py, shared by reader/search/export)
    Mutant(
        "merge-keeps-last-duplicate",
        "merge.py",
        "order = np.lexsort((np.arange(n), -all_gens.astype(np.int64), all_keys))",
        "order = np.lexsort((-np.arange(n), -all_gens.astype(np.int64), all_keys))",
    ),
    Mutant(
        "oldest-generation-wins",
        "merge.py",
        "order = np.lexsort((np.arange(n), -all_gens.astype(np.int64), all_keys))",
        "order = np.lexsort((np.arange(n), all_gens.astype(np.int64), all_keys))",
    ),
    Mutant(
        "search-no-dedupe",
        "search.py",
        "            if len(rows) < emb.shape[0]:\n",
        "            if False:\n",
    ),
    Mutant(
        "readers-skip-damage-check",
        "merge.py",
        "        if damage is not None:\n            raise InputError(",
        "        if False:\n            raise InputError(",
    ),
    Mutant(
        "target-inside-outdir",
        "store/targets.py",
        "        if root == p or root in p.parents:",
        "        if False:",
    ),
    Mutant(
        "merge-without-lock",
        "merge.py",
        '    with target_lock(target, f"merge of {path}"):',
        "    if True:",
    ),
    Mutant(
        "index-map-unchecked",
        "index.py",
        "    _check_same_export(p, idmap, index, backend, keys)\n",
        "",
    ),
    Mutant(
        "reader-no-merged-file",
        "reader.py",
        "    if p.is_file():\n        return _read_merged(p)\n",
        "",
    ),
    # key sets, batches, slicing
    Mutant(
        "keyset-loses-merged-run",
        "store/keys.py",
        "            merged = np.concatenate((self._runs.pop(), run))",
        "            merged = run[:]; self._runs.pop()",
    ),
    Mutant(
        "keyset-flush-drops-one",
        "store/keys.py",
        "        self._runs.append(run)",
        "        self._runs.append(run[:-1])",
    ),
    Mutant(
        "batch-over-budget",
        "text.py",
        "rows = max(1, min(max_rows, batch_tokens // width, n - i))",
        "rows = max(1, min(max_rows, batch_tokens // width + 1, n - i))",
    ),
    Mutant(
        "batch-over-max-rows",
        "text.py",
        "rows = max(1, min(max_rows, batch_tokens // width, n - i))",
        "rows = max(1, min(max_rows + 1, batch_tokens // width, n - i))",
    ),
    Mutant(
        "parquet-group-two-owners",
        "inputs/slicing.py",
        "owned = [g for g in range(n) if lo <= a + g * size // n < hi]",
        "owned = [g for g in range(n) if lo <= a + g * size // n <= hi]",
    ),
    Mutant(
        "jsonl-slice-overlap",
        "inputs/slicing.py",
        "start, end = max(lo, a) - a, min(hi, b) - a",
        "start, end = max(lo, a) - a, min(hi + 64, b) - a",
    ),
    Mutant(
        "jsonl-slice-gap",
        "inputs/slicing.py",
        "start, end = max(lo, a) - a, min(hi, b) - a",
        "start, end = max(lo, a) - a + 1, min(hi, b) - a",
    ),
    Mutant(
        "whole-file-two-owners",
        "inputs/slicing.py",
        "        elif lo <= a < hi:",
        "        elif lo <= a <= hi:",
    ),
    # commit and damage detection
    Mutant(
        "rename-undetected",
        "store/verify.py",
        "            if not p.is_file():\n                return i,",
        "            if False:\n                return i,",
    ),
    Mutant(
        "truncation-undetected",
        "store/verify.py",
        "and p.stat().st_size != sh.sizes[j]:",
        "and False:",
    ),
    # resume from stdin, FIFOs, an OUTDIR inside its input folder
    Mutant(
        "stdin-resume-unchecked",
        "pipeline/rank.py",
        'if cursor is not None and self.files[0].kind == "stdin":',
        "if False:",
    ),
    Mutant(
        "stdin-check-skips-compare",
        "pipeline/inputcheck.py",
        "        while shard is not None and here >= tuple(shard.cursor):\n"
        "            _compare(shard, digest.hexdigest(), inputs)\n"
        "            shard, digest = next(it, None), new_digest()\n        if here >= end:",
        "        if here >= end:",
    ),
    Mutant(
        "fifo-opened",
        "pipeline/job.py",
        "        refuse_special_files(self.inputs)\n",
        "",
        timeout=60,
    ),
    Mutant(
        "outdir-files-as-input",
        "pipeline/job.py",
        "        if inside and real not in named:",
        "        if False:",
    ),
    Mutant(
        "stop-only-when-queue-empty",
        "pipeline/windows.py",
        '        if stop():\n            return End("stop")\n        try:',
        "        try:",
    ),
    # the pipeline's filters, sweeps and completion
    Mutant(
        "sweep-other-ranks",
        "store/outdir.py",
        "                continue  # another rank's or generation's shard\n",
        "                pass\n",
    ),
    Mutant(
        "duplicates-embedded-twice",
        "pipeline/windows.py",
        "        if key in self.seen:",
        "        if False:",
    ),
    Mutant(
        "incremental-reembeds-unchanged",
        "pipeline/windows.py",
        "        if old == th:\n            return key",
        "        if False:\n            return key",
    ),
    Mutant(
        "success-after-one-rank",
        "store/outdir.py",
        "        return len(done) == gen.world",
        "        return len(done) >= 1",
    ),
    Mutant(
        "report-ignores-incremental",
        "cli/embed.py",
        'if d["already_done"] and incremental:',
        "if False:",
        (SAFETY,),
    ),
    Mutant("sweep-unlogged", "store/outdir.py", "        if swept:\n", "        if False:\n"),
    Mutant(
        "no-progress-silences-lines",
        "pipeline/progress.py",
        "if not (self.enabled and self.tty) and self.every_s > 0:",
        "if self.enabled and not self.tty and self.every_s > 0:",
        (SAFETY,),
    ),
    # --devices exit codes
    Mutant(
        "devices-signal-exit-1",
        "multi.py",
        "    if any(c < 0 or c == EXIT_INTERRUPTED for c in codes):",
        "    if any(c < 0 for c in codes):\n        return 1, lines\n"
        "    if any(c == EXIT_INTERRUPTED for c in codes):",
    ),
    Mutant(
        "devices-error-hidden-by-75",
        "multi.py",
        "    if failed:\n        return failed[0], lines",
        "    if failed and EXIT_INTERRUPTED not in codes:\n        return failed[0], lines",
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
            survived = run_tests(m.tests, m.timeout or args.timeout)
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
