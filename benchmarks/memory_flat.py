"""Is `specter2 embed`'s peak memory flat in the input size?

Builds a tiny random model (synthetic.TINY shape), writes synthetic JSONL inputs of
each size (short texts, streamed to disk), runs `specter2 embed` on each as a
subprocess and reports the child's peak RSS (ru_maxrss from os.wait4, i.e. of that
child alone), a sampled RSS timeline, and the ratio of the largest to the smallest.
Target: a 1M-record input peaks within 10% of a 100k-record input.

    python benchmarks/memory_flat.py [--sizes 100000,1000000] [--workdir DIR] [--keep]
        [-- extra args for specter2 embed]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_corpus(path: Path, n: int, seed: int = 0) -> Path:
    """n records with a 3-8 word title and a 5-20 word abstract, written in chunks."""
    from specter2_cli.synthetic import _WORDS as words

    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", buffering=1 << 20) as f:
        chunk: list[str] = []
        for i in range(n):
            title = " ".join(rng.choices(words, k=rng.randint(3, 8)))
            abstract = " ".join(rng.choices(words, k=rng.randint(5, 20)))
            chunk.append(json.dumps({"id": i, "title": title, "abstract": abstract}))
            if len(chunk) >= 10_000:
                f.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            f.write("\n".join(chunk) + "\n")
    return path


def rss_of(pid: int) -> int:
    """VmRSS of a live process in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_embed(cmd: list[str], interval: float = 0.5) -> dict[str, Any]:
    """Run cmd; return wall time, exit code, the child's own ru_maxrss and an RSS timeline."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    timeline: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            rss = rss_of(proc.pid)
            if rss:
                timeline.append((time.perf_counter() - t0, rss))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    return {
        "seconds": time.perf_counter() - t0,
        "returncode": proc.returncode,
        "maxrss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "timeline": timeline,
        "stderr_tail": stderr.decode(errors="replace")[-2000:],
    }


def timeline_summary(timeline: list[tuple[float, int]]) -> str:
    if not timeline:
        return "(no samples)"
    n = len(timeline)
    picks = sorted({0, n // 4, n // 2, 3 * n // 4, n - 1})
    return ", ".join(f"{timeline[i][0]:.0f}s:{timeline[i][1] / 2**20:.0f}MB" for i in picks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--workdir", default=None, help="where inputs and outputs go (temp)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--embed-cmd",
        default=f"{sys.executable} -m specter2_cli",
        help="how to start specter2 (e.g. a wrapper that patches a module, to test a fix)",
    )
    parser.add_argument("--json", dest="json_path", default=None, help="write the results here")
    parser.add_argument("extra", nargs="*", help="extra arguments for specter2 embed (after --)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from specter2_cli.synthetic import TINY, build_random_model

    work = Path(tempfile.mkdtemp(prefix="specter2-memflat-", dir=args.workdir))
    results: dict[int, dict[str, Any]] = {}
    try:
        paths = build_random_model(work / "model", shape=TINY, adapters=("proximity",))
        for n in sizes:
            t0 = time.perf_counter()
            corpus = write_corpus(work / f"in_{n}.jsonl", n)
            gen_s = time.perf_counter() - t0
            out = work / f"out_{n}"
            summary = work / f"summary_{n}.json"
            cmd = [
                *shlex.split(args.embed_cmd), "embed", str(corpus), "-o", str(out),
                "--base-model", str(paths["base"]), "--adapter-path", str(paths["proximity"]),
                "--device", "cpu", "--offline", "--no-progress", "--quiet",
                "--summary-json", str(summary), *args.extra,
            ]  # fmt: skip
            r = run_embed(cmd)
            if r["returncode"] != 0:
                print(r["stderr_tail"], file=sys.stderr)
                raise SystemExit(f"specter2 embed failed on {n} records (exit {r['returncode']})")
            s = json.loads(summary.read_text())
            r.update(
                records=n,
                input_mb=corpus.stat().st_size / 2**20,
                generate_s=gen_s,
                embedded=s["embedded"],
                papers_per_s=s["papers_per_s"],
                shards=s["shards"],
            )
            results[n] = r
            print(
                f"{n:>9,} records ({r['input_mb']:.0f} MB JSONL, made in {gen_s:.0f} s): "
                f"peak RSS {r['maxrss_mb']:.0f} MB, {r['seconds']:.0f} s, "
                f"{s['papers_per_s']:.0f} papers/s, {s['shards']} shards; "
                f"RSS over time {timeline_summary(r['timeline'])}",
                flush=True,
            )
            corpus.unlink()
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    lo, hi = min(results), max(results)
    ratio = results[hi]["maxrss_mb"] / results[lo]["maxrss_mb"]
    verdict = "flat (within 10%)" if ratio <= 1.10 else "NOT flat"
    print(f"peak RSS {hi:,} / {lo:,} records = {ratio:.3f}: {verdict}")
    if args.json_path:
        for r in results.values():
            r["timeline"] = [(round(t, 1), round(b / 2**20, 1)) for t, b in r["timeline"]]
        Path(args.json_path).write_text(
            json.dumps({"ratio": ratio, "runs": {str(k): v for k, v in results.items()}}, indent=1)
        )


if __name__ == "__main__":
    main()
