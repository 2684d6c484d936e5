"""Is peak memory flat in the size of a PubMed XML file?

Writes PubMed-style XML files (PubmedArticle records with labelled abstract
sections and inline markup, ~1.6 KB each) of each size in MB, runs `specter2
embed` on each with a tiny random model as a subprocess, and reports the child's
peak RSS (ru_maxrss). Target: a 100 MB file peaks within 10% of a 10 MB one.

    python benchmarks/memory_pubmed.py [--sizes-mb 10,100] [--reader-only] [--workdir DIR]
        [--keep] [-- extra args for specter2 embed]

--reader-only measures the reading stage alone (iterparse, validation), which is
what depends on the file format; the full run adds the model and writer stages.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_flat import run_embed, timeline_summary

ARTICLE = """<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">{pmid}</PMID>
    <Article PubModel="Print">
      <Journal><Title>Journal of Examples</Title></Journal>
      <ArticleTitle>{title} of <i>E. coli</i> CO<sub>2</sub>.</ArticleTitle>
      <Abstract>
        <AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">{a}</AbstractText>
        <AbstractText Label="METHODS" NlmCategory="METHODS">{b} at 37&#xb0;C.</AbstractText>
        <AbstractText Label="RESULTS" NlmCategory="RESULTS">{c} (<i>p</i> &lt; 0.05).</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  <PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData>
</PubmedArticle>
"""


def write_pubmed(path: Path, megabytes: int, seed: int = 0) -> int:
    """A PubmedArticleSet of about `megabytes` MB; returns the number of articles."""
    from specter2_cli.synthetic import _WORDS as words

    rng = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choices(words, k=rng.randint(lo, hi)))

    target, size, n = megabytes << 20, 0, 0
    with path.open("w", encoding="utf-8", buffering=1 << 20) as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n')
        while size < target:
            art = ARTICLE.format(
                pmid=n + 1, title=text(5, 12), a=text(20, 50), b=text(20, 50), c=text(20, 50)
            )
            f.write(art)
            size += len(art)
            n += 1
        f.write("</PubmedArticleSet>\n")
    return n


def read_only(path: str) -> None:
    """Child process: parse and validate every article (the reader stage), no model."""
    from specter2_cli.config import FieldSettings
    from specter2_cli.inputs import RecordStream, RecordValidator, plan_slices, resolve_inputs

    files = resolve_inputs([path])
    validator = RecordValidator(FieldSettings(), False, "[SEP]", "int")
    n = sum(1 for _ in RecordStream(files, plan_slices(files, 0, 1), validator))
    print(n)


def main() -> None:
    if sys.argv[1:2] == ["--read"]:
        return read_only(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes-mb", default="10,100")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument(
        "--reader-only", action="store_true", help="parse and validate only: no model, no output"
    )
    ap.add_argument("extra", nargs="*", help="extra arguments for specter2 embed (after --)")
    args = ap.parse_args()
    from specter2_cli.synthetic import TINY, build_random_model

    work = Path(tempfile.mkdtemp(prefix="specter2-mempubmed-", dir=args.workdir))
    peaks: dict[int, float] = {}
    try:
        model = build_random_model(work / "model", shape=TINY, adapters=("proximity",))
        for mb in (int(s) for s in args.sizes_mb.split(",")):
            src = work / f"pubmed_{mb}mb.xml"
            t0 = time.perf_counter()
            n = write_pubmed(src, mb)
            gen_s = time.perf_counter() - t0
            summary = work / f"summary_{mb}.json"
            if args.reader_only:
                r = run_embed([sys.executable, __file__, "--read", str(src)])
                peaks[mb] = r["maxrss_mb"]
                print(f"{mb:>4} MB XML, {n:,} articles, reader only: peak RSS "
                      f"{r['maxrss_mb']:.0f} MB, {r['seconds']:.0f} s", flush=True)  # fmt: skip
                src.unlink()
                continue
            cmd = [
                sys.executable, "-m", "specter2_cli", "embed", str(src), "-o", str(work / f"out_{mb}"),
                "--base-model", str(model["base"]), "--adapter-path", str(model["proximity"]),
                "--device", "cpu", "--offline", "--no-progress", "--quiet",
                "--summary-json", str(summary), *args.extra,
            ]  # fmt: skip
            r = run_embed(cmd)
            if r["returncode"] != 0:
                print(r["stderr_tail"], file=sys.stderr)
                raise SystemExit(f"specter2 embed failed on {src} (exit {r['returncode']})")
            s = json.loads(summary.read_text())
            peaks[mb] = r["maxrss_mb"]
            print(
                f"{mb:>4} MB XML, {n:,} articles (made in {gen_s:.0f} s): peak RSS "
                f"{r['maxrss_mb']:.0f} MB, {r['seconds']:.0f} s, {s['embedded']:,} embedded, "
                f"{s['papers_per_s']:.0f} papers/s; RSS over time {timeline_summary(r['timeline'])}",
                flush=True,
            )
            src.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    lo, hi = min(peaks), max(peaks)
    ratio = peaks[hi] / peaks[lo]
    verdict = "flat (within 10%)" if ratio <= 1.10 else "NOT flat"
    print(f"peak RSS {hi} MB / {lo} MB XML = {ratio:.3f}: {verdict}")


if __name__ == "__main__":
    main()
