"""`specter2 bench`: how fast is the tool, against the model card and the best plain recipe?

Runs its cases in one process on the same corpus, all end to end (read the JSONL,
format, tokenize, run the model, collect CLS vectors):

    a  the model card's loop: AutoAdapterModel + load_adapter, fp32, batches of 32 in
       input order, tokenizer(padding=True, truncation=True, max_length=512)
    b  the best plain recipe through the same adapters model: on CUDA `model.half()`
       (sdpa), length-sorted, 65,536-token budget; on CPU fp32, sorted, 16,384 tokens
    o  ONNX Runtime fp32 on b's batches (CPU; bench/onnx.py), when onnxruntime is
       installed or asked for
    c  the tool: `embed_files` (engine auto) from the JSONL to Parquet shards

No downloads: by default the model is a random SPECTER2-shaped BERT with a random
seq_bn adapter (or a smaller shape for `--quick` on CPU), and the corpus is
synthetic, with token lengths ~ N(250, 100) clipped to [16, 512] like the anchors.
The accuracy of b and c is measured against an fp32 model-card reference.

All cases are loaded and warmed up first (untimed), then timed round-robin
(a, b, c, a, b, c, ... with `--repeat`), keeping the best run of each, so that
drifting background load on a shared machine hits every case alike.

Nothing here imports torch at module import time (`specter2 --help` stays fast).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from .cases import Bench, Models
from .config import CASE_NAMES, SIZES, VOCAB_SIZE, BenchConfig, CaseResult, Corpus
from .corpus import (
    bench_shape,
    copy_head,
    generated_vocab,
    read_corpus,
    word_pool,
    write_synthetic_corpus,
)
from .measure import compare

log = logging.getLogger("specter2")

# ----------------------------------------------------------------- the whole run


def machine_info(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": device,
        "device_name": platform.processor() or platform.machine(),
    }
    import transformers

    info["transformers"] = transformers.__version__
    try:
        import adapters

        info["adapters"] = adapters.__version__
    except ImportError:  # optional: the model card loop then runs model/hooked.py
        info["adapters"] = None
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["gpu_memory_gb"] = round(
            torch.cuda.get_device_properties(device).total_memory / 1e9, 1
        )
    from .. import __version__

    info["specter2_cli"] = __version__
    return info


def prepare_models(cfg: BenchConfig, device_kind: str, tmp: Path) -> Models:
    if cfg.model is not None:
        from ..config import ADAPTER_IDS

        adapter = cfg.adapter_path or ADAPTER_IDS["proximity"]
        assert adapter is not None
        return Models(cfg.model, adapter, f"{cfg.model} + {adapter}", {})
    from ..synthetic import build_random_model

    shape = bench_shape(cfg, device_kind)
    if cfg.vocab:
        # One entry per line, kept in place (scivocab has an empty entry at id 30106).
        vocab = Path(cfg.vocab).read_text(encoding="utf-8").split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()
        vocab_name = cfg.vocab
    else:
        vocab, vocab_name = generated_vocab(), f"generated ({VOCAB_SIZE} entries)"
    t0 = time.perf_counter()
    paths = build_random_model(tmp / "model", shape=shape, vocab=vocab, adapters=("proximity",))
    log.info("built a random model %s in %.1f s", shape, time.perf_counter() - t0)
    desc = (
        f"random BERT {shape.layers} layers, hidden {shape.hidden}, {shape.heads} heads, "
        f"intermediate {shape.intermediate}, vocab {len(vocab)} + random seq_bn adapter"
    )
    return Models(
        str(paths["base"]),
        str(paths["proximity"]),
        desc,
        asdict(shape) | {"vocab_size": len(vocab), "vocab": vocab_name},
    )


def prepare_corpus(cfg: BenchConfig, n: int, tmp: Path, base: str) -> Corpus:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    if cfg.input:
        src = Path(cfg.input)
        path = copy_head(src, tmp / "corpus.jsonl", n) if cfg.records else src
    else:
        path = write_synthetic_corpus(tmp / "corpus.jsonl", n, word_pool(tok), cfg.seed)
    return read_corpus(path, tok.sep_token)


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run the chosen cases; returns the report (see `format_report` for the table)."""
    t_start = time.perf_counter()
    unknown = set(cfg.cases) - set(CASE_NAMES) - {"auto"}
    if unknown or not cfg.cases:
        raise ValueError(f"--cases: choose from a, b, o, c or auto (got {','.join(cfg.cases)})")
    if cfg.size not in SIZES:
        raise ValueError(f"--size: choose quick or full (got {cfg.size})")
    from ..config import ADAPTER_IDS
    from ..model.hub import hub_mode, should_go_offline

    # a random model is local: never wait on the Hub
    sources = [cfg.model, cfg.adapter_path or ADAPTER_IDS["proximity"] or ""] if cfg.model else []
    with hub_mode(not sources or should_go_offline(sources, False)):
        return _run(cfg, t_start)


def chosen_cases(cases: tuple[str, ...], device: str) -> list[str]:
    """The cases to run, in running order; "auto" is a, b, c, and o on a CPU with ORT."""
    from .onnx import ORT_HINT, ort_available

    wanted = set(cases)
    if "auto" in wanted:
        wanted |= {"a", "b", "c"}
        if device == "cpu":
            if ort_available():
                wanted.add("o")
            else:
                log.info("case o (ONNX Runtime) skipped: %s", ORT_HINT)
    if "o" in wanted:
        if device != "cpu":
            raise ValueError("case o (ONNX Runtime) runs on the CPU only: add --device cpu")
        if not ort_available():
            raise ValueError(ORT_HINT)
    return [k for k in ("a", "b", "o", "c") if k in wanted]


def _run(cfg: BenchConfig, t_start: float) -> dict[str, Any]:
    from ..model.loader import resolve_device

    device = resolve_device(cfg.device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    cases = chosen_cases(cfg.cases, device)  # before any model is built or downloaded
    n = cfg.records or SIZES[cfg.size][kind]
    own_tmp = tempfile.mkdtemp(prefix="specter2-bench-", dir=cfg.workdir)
    tmp = Path(own_tmp)
    try:
        models = prepare_models(cfg, kind, tmp)
        corpus = prepare_corpus(cfg, n, tmp, models.base)
        if not corpus.texts:
            raise ValueError(f"{corpus.path}: no usable paper records")
        bench = Bench(cfg, models, corpus, device)
        results = bench.run_cases(cases, tmp)
        for key, r in results.items():
            log.info("case %s: best %.2f s, %.1f papers/s", key, r.seconds, r.papers_per_s)
        accuracy: dict[str, Any] = {}
        if any(k in bench.outputs for k in ("b", "o", "c")):
            ref_name, ref = bench.reference()
            accuracy["reference"] = ref_name
            for key in ("b", "o", "c"):
                if key in bench.outputs:
                    accuracy[key] = compare(ref, bench.outputs[key][: len(ref)])
    finally:
        shutil.rmtree(own_tmp, ignore_errors=True)
    return _report(cfg, device, models, corpus, results, accuracy, t_start)


def _report(
    cfg: BenchConfig,
    device: str,
    models: Models,
    corpus: Corpus,
    results: dict[str, CaseResult],
    accuracy: dict[str, Any],
    t_start: float,
) -> dict[str, Any]:
    ratios: dict[str, float] = {}
    for hi, lo in (("c", "a"), ("c", "b"), ("c", "o"), ("b", "a"), ("o", "a")):
        if hi in results and lo in results and results[lo].papers_per_s > 0:
            ratios[f"{hi}/{lo}"] = results[hi].papers_per_s / results[lo].papers_per_s
    real = next((r.real_tokens for r in results.values()), 0)
    return {
        "machine": machine_info(device),
        "config": asdict(cfg) | {"cases": list(cfg.cases)},
        "model": {
            "base": models.base if cfg.model else "random",
            "adapter": models.adapter if cfg.model else "random seq_bn (reduction 16)",
            "description": models.description,
            "shape": models.shape,
        },
        "corpus": {
            "source": cfg.input or "synthetic: token lengths ~ N(250, 100) clipped to [16, 512]",
            "records": len(corpus.texts),
            "real_tokens": real,
            "mean_tokens": real / len(corpus.texts) if corpus.texts else 0.0,
        },
        "cases": {k: asdict(r) for k, r in results.items()},
        "ratios": ratios,
        "accuracy": accuracy,
        "notes": [
            "all cases are end to end: read JSONL, format, tokenize, model, CLS vectors in memory "
            "(c also writes and fsyncs Parquet shards; reading them back is not timed)",
            "model loading and one warm-up pass on the first records are not timed; with "
            "--repeat N the cases run round-robin (a, b, c, a, b, c, ...) and the best is kept",
            "tokens/s counts real (unpadded) tokens",
            "peak memory on CPU: highest process RSS sampled every 10 ms during the case's runs "
            "(whole process: all cases' models are loaded; not a per-case figure); "
            "process_maxrss_mb is ru_maxrss after the case; on CUDA: the case's resident "
            "weights plus its torch.cuda.max_memory_allocated above that level during its runs",
        ],
        "seconds_total": time.perf_counter() - t_start,
    }


def format_report(rep: dict[str, Any]) -> str:
    m, c = rep["machine"], rep["corpus"]
    lines = [
        f"machine: {m['device']} ({m['device_name']}), {m['cpu_count']} CPUs, "
        f"torch {m['torch']} ({m['torch_threads']} threads)",
        f"model:   {rep['model']['description']}",
        f"corpus:  {c['records']} records, {c['mean_tokens']:.0f} tokens/record on average "
        f"({c['source']})",
        "",
        f"{'case':<22} {'dtype':<8} {'seconds':>8} {'papers/s':>9} {'tokens/s':>10} "
        f"{'pad eff':>7} {'batches':>7} {'peak MB':>8}  recipe",
    ]
    for key, r in rep["cases"].items():
        lines.append(
            f"{key + ' ' + r['name']:<22} {r['dtype']:<8} {r['seconds']:>8.2f} "
            f"{r['papers_per_s']:>9.1f} {r['tokens_per_s']:>10,.0f} "
            f"{r['padding_efficiency']:>7.3f} {r['batches']:>7} {r['peak_mem_mb']:>8.0f}  "
            f"{r['recipe']}"
            + (f" [{r['extra']['engine']} engine" if "engine" in r["extra"] else "")
            + (f": {r['extra']['kernels']}" if r["extra"].get("kernels") else "")
            + ("]" if "engine" in r["extra"] else "")
        )
    if rep["ratios"]:
        lines.append("")
        lines.append(
            "speed-up (papers/s): " + ", ".join(f"{k} = {v:.2f}x" for k, v in rep["ratios"].items())
        )
    acc = rep["accuracy"]
    for key in ("b", "o", "c"):
        if key in acc and acc[key]["compared"]:
            a = acc[key]
            lines.append(
                f"accuracy {key} vs {acc['reference']}: min cosine {a['min_cosine']:.7f}, "
                f"max abs diff {a['max_abs_diff']:.2e} over {a['compared']} records"
            )
    bad = {k: r["nonfinite_rows"] for k, r in rep["cases"].items() if r["nonfinite_rows"]}
    lines.append(f"NaN/inf rows: {bad or 'none'}")
    repeats = rep["config"]["repeat"]
    lines.append(
        f"seconds: best of {repeats} (round-robin); model loading and warm-up not timed; "
        + (
            "peak MB: whole-process RSS during the case (all models loaded)"
            if m["device"] == "cpu"
            else "peak MB: the case's weights + its peak CUDA working memory"
        )
        + f"; total {rep['seconds_total']:.0f} s"
    )
    return "\n".join(lines)
