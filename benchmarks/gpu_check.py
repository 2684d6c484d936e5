"""The GPU engine's checks and numbers, on one GPU, in about two minutes (benchmarks/gpu_check.sh).

Builds a SPECTER2-shaped random model (12 layers, hidden 768, seq_bn adapter, a 31,090
entry vocabulary) and a synthetic corpus of token lengths ~ N(250, 100) in [16, 512],
then measures, writing `gpu_check.json` and a readable `gpu_check.txt` under --out:

1. exactness: the fused engine on the GPU in float32 against the CPU in float32;
2. fp16 and bf16 (varlen and padded attention) against GPU float32: cosine, NaN/inf;
3. GPU-only papers/s of the varlen and padded engines (windows packed beforehand,
   tokenization excluded) and the peak GPU memory of each run above what was allocated
   before it (the weights of every loaded model);
4. the out-of-memory policy on the real allocator: a memory cap that a default batch
   does not fit, the same vectors, the splits counted, the cap remembered; a record
   that fits nowhere is exit 4 (DeviceMemoryError), not a traceback;
5. fp16 overflow: rows recomputed from the float32 master weights equal GPU float32.

The model and corpus folders are kept (--keep) for `specter2 bench --model ... --input`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a.astype(np.float64) * b).sum(1)
    return np.asarray(num / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def agreement(got: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    finite = np.isfinite(got).all(1)
    cos = cosines(got[finite], ref[finite]) if finite.any() else np.zeros(1)
    return {
        "records": len(got),
        "nonfinite_rows": int((~finite).sum()),
        "cosine_min": float(cos.min()),
        "cosine_mean": float(cos.mean()),
        "max_abs_diff": float(np.abs(got[finite] - ref[finite]).max()),
    }


_TOKENIZED: dict[tuple[int, str, str, int], list[Any]] = {}


def windows(enc: Any, texts: list[str], window: int, budget: int) -> list[tuple[Any, int]]:
    """The texts in windows packed as the tool packs them (tokenized once per text list)."""
    from concurrent.futures import ThreadPoolExecutor

    from specter2_cli.text import pack, tokenize

    key = (len(texts), texts[0], texts[-1], window)
    if key not in _TOKENIZED:
        with ThreadPoolExecutor(8) as pool:
            _TOKENIZED[key] = [
                tokenize(enc.tokenizer, texts[i : i + window], 512, pool)
                for i in range(0, len(texts), window)
            ]
    pad = enc.tokenizer.pad_token_id
    return [
        (pack(tok, budget, 1024, pad, max_positions=512), len(tok.lengths))
        for tok in _TOKENIZED[key]
    ]


def encode(enc: Any, packed: list[tuple[Any, int]]) -> np.ndarray:
    return np.concatenate([enc.encode_packing(p, n) for p, n in packed])


def in_order(enc: Any, texts: list[str], window: int, budget: int) -> np.ndarray:
    """Vectors in text order (a window's rows come back in window order already)."""
    return encode(enc, windows(enc, texts, window, budget))


def exactness_probe(tokenizer: Any, texts: list[str], n: int = 48) -> tuple[list[str], list[int]]:
    """`n` texts spread over the token lengths of `texts`, the 8 longest always among them,
    and at least one of 512 tokens (a long one is made if the corpus has none): the
    truncation boundary is where a kernel or position bug shows."""
    lengths = [min(512, len(ids)) for ids in tokenizer(texts, truncation=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    longest = order[-8:]
    rest = order[: -8 or None]
    step = max(1, len(rest) // max(1, n - len(longest)))
    chosen = rest[::step][: n - len(longest)] + longest
    probe = [texts[i] for i in chosen]
    got = [lengths[i] for i in chosen]
    if 512 not in got:  # the corpus has no record that reaches the limit: add one
        probe.append(texts[order[-1]] + " word" * 600)
        got.append(512)
    return probe, got


def sync(dev: str) -> None:
    import torch

    if dev.startswith("cuda"):
        torch.cuda.synchronize()


def timed(enc: Any, packed: list[tuple[Any, int]]) -> dict[str, Any]:
    """GPU-only throughput: submit window k+1 before collecting window k, as the tool does."""
    import torch

    cuda = enc.device.startswith("cuda")
    encode(enc, packed[:1])  # warm: kernels, cuBLAS handles, allocator
    sync(enc.device)
    before = 0
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()  # every model loaded so far, this one included
    t = time.perf_counter()
    pending = None
    for p, n in packed:
        nxt = enc.submit(p, n)
        if pending is not None:
            enc.collect(pending)
        pending = nxt
    if pending is not None:
        enc.collect(pending)
    sync(enc.device)
    s = time.perf_counter() - t
    papers = sum(n for _, n in packed)
    real = sum(p.real_tokens for p, _ in packed)
    padded = sum(p.padded_tokens for p, _ in packed)
    return {
        "papers": papers,
        "seconds": round(s, 3),
        "papers_per_s": round(papers / s, 1),
        "tokens_per_s": round(real / s),
        "padding_efficiency": round(real / padded, 4),
        # the run's own memory (activations, buffers), not the loaded models' weights
        "peak_gpu_mib": round((torch.cuda.max_memory_allocated() - before) / 2**20) if cuda else 0,
        "allocated_before_mib": round(before / 2**20),
        "kernels": enc.kernels,
    }


def variant(enc: Any, **kw: Any) -> Any:
    from specter2_cli.model.encoder import EncoderStats

    kw.setdefault("stats", EncoderStats())
    return dataclasses.replace(enc, _path=None, _fp32_forward=None, token_cap=None, **kw)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--keep", type=Path, required=True, help="folder for the model and corpus")
    ap.add_argument("--records", type=int, default=16_384)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of the script itself")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    # gpu_check.sh's deadline sends SIGTERM: stop, but write what was measured so far
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM (the time limit)"))
    try:
        run(args, report)
    except BaseException:
        report["error"] = traceback.format_exc()
        print(report["error"], file=sys.stderr)
    finally:
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
        (args.out / "gpu_check.txt").write_text(summary(report))
        print(summary(report))
    return 1 if "error" in report else 0


def run(args: argparse.Namespace, report: dict[str, Any]) -> None:
    import torch

    from specter2_cli.bench.corpus import generated_vocab, word_pool, write_synthetic_corpus
    from specter2_cli.config import ModelSettings
    from specter2_cli.model.loader import load_encoder
    from specter2_cli.model.varlen import varlen_support
    from specter2_cli.synthetic import SPECTER2_SHAPE, build_random_model

    t0 = time.perf_counter()
    dev = args.device
    cuda = dev.startswith("cuda")
    report["env"] = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name() if cuda else "none (dry run)",
        "capability": ".".join(map(str, torch.cuda.get_device_capability())) if cuda else "",
        "varlen_fp16": varlen_support(dev, torch.float16) or "ok",
        "varlen_bf16": varlen_support(dev, torch.bfloat16) or "ok",
    }
    print(report["env"], flush=True)
    heads = max(1, args.hidden // 64)
    shape = dataclasses.replace(
        SPECTER2_SHAPE,
        layers=args.layers,
        hidden=args.hidden,
        heads=heads,
        intermediate=4 * args.hidden,
    )
    paths = build_random_model(args.keep / "model", shape, generated_vocab(), ("proximity",))
    settings = ModelSettings(base_model=str(paths["base"]), adapter_path=str(paths["proximity"]))
    e32 = load_encoder(settings, device=dev, dtype="float32")
    corpus = write_synthetic_corpus(
        args.keep / "corpus.jsonl", args.records, word_pool(e32.tokenizer), 0
    )
    texts = []
    for line in corpus.read_text().splitlines():
        rec = json.loads(line)
        texts.append(rec["title"] + e32.tokenizer.sep_token + rec["abstract"])
    report["setup_s"] = round(time.perf_counter() - t0, 1)

    # 1. exactness, float32: GPU against CPU, 48 records of all lengths (512 included)
    ecpu = load_encoder(settings, device="cpu", dtype="float32")
    probe, probe_lengths = exactness_probe(e32.tokenizer, texts[:2000])
    ref_cpu = ecpu.embed_texts(probe)
    report["fp32_gpu_vs_cpu"] = agreement(e32.embed_texts(probe), ref_cpu) | {
        "tokens_min": min(probe_lengths),
        "tokens_max": max(probe_lengths),
        "records_of_512_tokens": probe_lengths.count(512),
    }
    print("fp32 GPU vs CPU", report["fp32_gpu_vs_cpu"], flush=True)
    del ecpu

    # 2. fp16 / bf16 against GPU fp32, 4,096 realistic records
    sub = texts[:4096]
    ref = in_order(e32, sub, 8192, 131_072)
    e16 = load_encoder(settings, device=dev, dtype="float16")
    report["master_weights"] = type(e16.fp32_master).__name__ if e16.fp32_master else None
    drift: dict[str, Any] = {}
    for name, enc in (
        ("fp16_varlen", e16),
        ("fp16_padded", variant(e16, attention="padded")),
    ):
        drift[name] = agreement(in_order(enc, sub, 8192, 131_072), ref) | {"kernels": enc.kernels}
    ebf = load_encoder(settings, device=dev, dtype="bfloat16")
    drift["bf16_varlen"] = agreement(in_order(ebf, sub, 8192, 131_072), ref) | {
        "kernels": ebf.kernels
    }
    del ebf
    report["drift_vs_fp32"] = drift
    print("drift", drift, flush=True)

    # 3. GPU-only throughput of the engines, all records, the tool's window and budget
    for budget in (131_072, 262_144):
        packed = windows(e16, texts, 8192, budget)
        for name, enc in (
            ("varlen", e16),
            ("padded", variant(e16, attention="padded")),
        ):
            report[f"gpu_only_{name}_{budget}"] = r = timed(enc, packed)
            print(name, budget, r, flush=True)
    packed32 = windows(e32, texts[:4096], 8192, 131_072)
    report["gpu_only_fp32_padded_131072"] = timed(e32, packed32)

    # 4. the out-of-memory policy on the real allocator
    if cuda:
        oom_policy(e16, sub, ref, texts, report)

    # 5. fp16 overflow: rows recomputed from the float32 master weights
    hot32 = variant(e32, _forward=copy.deepcopy(e32._forward))
    hot16 = variant(e16, _forward=copy.deepcopy(e16._forward))
    master = copy.deepcopy(e16.fp32_master) if e16.fp32_master is not None else None
    with torch.no_grad():
        for module in (hot32._forward, hot16._forward, master):
            if module is None:
                continue
            for pname, p in module.named_parameters():
                if pname.endswith("inter_weight"):
                    p.mul_(3e5)
    hot16.fp32_master = master
    few = texts[:256]
    want = hot32.embed_texts(few)
    got16 = hot16.embed_texts(few)
    report["fp16_overflow"] = agreement(got16, want) | {
        "fp32_reruns": hot16.stats.fp32_reruns,
        "reference_nonfinite": int((~np.isfinite(want).all(1)).sum()),
    }
    print("overflow", report["fp16_overflow"], flush=True)
    report["total_s"] = round(time.perf_counter() - t0, 1)


def oom_policy(
    e16: Any, sub: list[str], ref: np.ndarray, texts: list[str], report: dict[str, Any]
) -> None:
    import torch

    from specter2_cli.model.devicefaults import DeviceMemoryError

    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    base = torch.cuda.memory_allocated()
    limit = base + 1.5 * 2**30  # a 131,072-token batch needs more than this
    torch.cuda.set_per_process_memory_fraction(limit / total)
    try:
        tight = variant(e16)
        got = in_order(tight, sub, 8192, 131_072)
        report["oom_policy"] = agreement(got, ref) | {
            "limit_mib": round(limit / 2**20),
            "oom_splits": tight.stats.oom_splits,
            "token_cap": tight.token_cap,
        }
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction((base + 8 * 2**20) / total)
        try:
            variant(e16).embed_texts([texts[0] + " word" * 600])
            report["oom_single_record"] = "no error (the cap was not tight enough)"
        except DeviceMemoryError as e:
            report["oom_single_record"] = f"exit {e.exit_code}: {e}"
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    print("oom", report["oom_policy"], report["oom_single_record"], flush=True)


def summary(r: dict[str, Any]) -> str:
    lines = [f"env: {r.get('env')}"]
    if "fp32_gpu_vs_cpu" in r:
        a = r["fp32_gpu_vs_cpu"]
        lines.append(
            f"fp32 GPU vs CPU: max abs diff {a['max_abs_diff']:.2e}, min cosine {a['cosine_min']:.8f}"
            f" ({a['records']} records of {a['tokens_min']} to {a['tokens_max']} tokens,"
            f" {a['records_of_512_tokens']} of 512)"
        )
    for name, a in r.get("drift_vs_fp32", {}).items():
        lines.append(
            f"{name} vs fp32: min cosine {a['cosine_min']:.6f}, mean {a['cosine_mean']:.7f}, "
            f"non-finite rows {a['nonfinite_rows']} ({a['kernels']})"
        )
    for k, v in r.items():
        if k.startswith("gpu_only_"):
            lines.append(
                f"{k}: {v['papers_per_s']:,.0f} papers/s, {v['tokens_per_s']:,} tokens/s, "
                f"peak {v['peak_gpu_mib']:,} MiB above the {v['allocated_before_mib']:,} MiB of "
                f"loaded models ({v['kernels']})"
            )
    for k in ("oom_policy", "oom_single_record", "fp16_overflow", "master_weights"):
        if k in r:
            lines.append(f"{k}: {r[k]}")
    if "error" in r:
        lines.append("ERROR:\n" + r["error"])
    lines.append(f"total {r.get('total_s', math.nan)} s")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
