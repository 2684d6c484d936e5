"""Host-path throughput: can one node's CPUs feed a GPU? (device step replaced by nothing)

Writes a synthetic corpus (records of ~N(250, 100) tokens of real vocabulary words; a
fraction with one accented word, like real abstracts), then prints µs of CPU per
record per host stage, and records/s of the whole host path on 1, 2, ... cores
(`--workers` = cores), with the ratio to one core and a bare AutoTokenizer call as
the bar. Side by side in one process, interleaved, best of --repeats.

    python benchmarks/host_bench.py [--vocab scivocab/vocab.txt] [-n 8192] [--cores 1,2]
        [--accented 0.3] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from specter2_cli.bench.corpus import generated_vocab, word_pool, write_synthetic_corpus
    from specter2_cli.bench.host import run_host_bench
    from specter2_cli.synthetic import wordpiece_tokenizer

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", type=Path, help="vocab.txt (default: a generated 31k one)")
    ap.add_argument("-n", "--records", type=int, default=8_192)
    ap.add_argument("--cores", default=None, help="comma list (default 1..usable CPUs)")
    ap.add_argument("--accented", type=float, default=0.3, help="fraction of non-ASCII records")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sort-window", type=int, default=8_192)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    ncpu = len(os.sched_getaffinity(0))
    cores = [int(c) for c in a.cores.split(",")] if a.cores else list(range(1, ncpu + 1))
    with tempfile.TemporaryDirectory() as tmp:
        vocab = a.vocab
        if vocab is None:
            vocab = Path(tmp) / "vocab.txt"
            vocab.write_text("\n".join(generated_vocab()) + "\n", encoding="utf-8")
        tok = wordpiece_tokenizer(str(vocab))
        path = write_synthetic_corpus(Path(tmp) / "c.jsonl", a.records, word_pool(tok), 0)
        _accent(path, a.accented)
        report = run_host_bench(path, tok, cores, a.repeats, a.sort_window)
    report["machine"] = f"{platform.processor() or platform.machine()}, {ncpu} usable CPUs"
    report["vocab"] = str(a.vocab or "generated")
    report["accented_fraction"] = a.accented
    _print(report)
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")


def _accent(path: Path, fraction: float) -> None:
    """Give a fraction of the records one non-ASCII word (they take the full tokenizer)."""
    rng = random.Random(1)
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        rec = json.loads(line)
        if rng.random() < fraction:
            rec["abstract"] = rec["abstract"] + " " + rng.choice(["naïve", "café", "α-helix"])
        out.append(json.dumps(rec, ensure_ascii=False))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def _print(r: dict) -> None:
    print(f"{r['records']} records, {r['machine']}, vocab {r['vocab']}")
    print("stage                                  µs CPU/record (1 thread)")
    for k, v in r["stages_cpu_us_per_record"].items():
        print(f"  {k:37s} {v:8.1f}")
    print(f"bare AutoTokenizer call, 1 core: {r['bare_autotokenizer_records_per_s_1_core']} rec/s")
    print("cores  workers  records/s  µs CPU/record  ratio to 1 core  busy  available")
    for x in r["runs"]:
        print(
            f"{x['cores']:5d}  {x['workers']:7d}  {x['records_per_s']:9d}  "
            f"{x['cpu_us_per_record']:13d}  {x['ratio_to_one_core']:15.2f}  "
            f"{x['cores_busy']:4.2f}  {x['cores_available']:9.2f}"
        )
    print("busy: CPU time / wall time of the run; available: the same for k threads hashing")
    print("right after it (GIL-free): below k means other processes had the rest")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
