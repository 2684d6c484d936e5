"""Micro benchmark on CPU: the model-card recipe vs FusedBertEncoder (same batches, fp32).

A random 4-layer, hidden-256 BERT with a random seq_bn adapter, 64 synthetic papers of
~250 tokens, batches of 16 in input order (padding present). Prints papers/s for both
(best of several runs; timings on small machines swing ±20%) and the max abs difference.

    python benchmarks/fused_cpu.py [--texts 64] [--batch 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch
    from adapters import AutoAdapterModel
    from transformers import AutoTokenizer

    from specter2_cli.model.fused import FusedBertEncoder
    from specter2_cli.synthetic import ModelShape, build_random_model, synthetic_papers

    shape = ModelShape(hidden=256, layers=4, heads=4, intermediate=1024)
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_random_model(tmp, shape=shape, adapters=("proximity",))
        tok = AutoTokenizer.from_pretrained(str(paths["base"]))
        model = AutoAdapterModel.from_pretrained(str(paths["base"]))
        model.load_adapter(str(paths["proximity"]), load_as="proximity", set_active=True)
    model.eval()
    fused = FusedBertEncoder.from_adapter_model(model, "proximity").eval()

    papers = list(synthetic_papers(args.texts, seed=1, mean_words=235.0, sd_words=40.0))
    texts = [p["title"] + tok.sep_token + p["abstract"] for p in papers]
    batches = [
        dict(
            tok(
                texts[i : i + args.batch],
                padding=True,
                truncation=True,
                return_tensors="pt",
                return_token_type_ids=False,
                max_length=512,
            )
        )
        for i in range(0, len(texts), args.batch)
    ]
    n_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    n_slots = sum(b["input_ids"].numel() for b in batches)

    def run_ref() -> torch.Tensor:
        return torch.cat([model(**b).last_hidden_state[:, 0, :] for b in batches])

    def run_fused() -> torch.Tensor:
        return torch.cat([fused(b["input_ids"], b["attention_mask"]) for b in batches])

    def best_time(fn: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
        out = fn()  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        return best, out

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {shape}; "
        f"{len(texts)} texts, {n_tokens / len(texts):.0f} tokens/text, "
        f"batch {args.batch}, padding efficiency {n_tokens / n_slots:.2f}"
    )
    with torch.inference_mode():
        t_ref, ref = best_time(run_ref)
        t_fused, got = best_time(run_fused)
    diff = (got - ref).abs().max().item()
    print(f"reference (model-card recipe): {len(texts) / t_ref:8.1f} papers/s  ({t_ref:.3f} s)")
    print(f"fused (FusedBertEncoder):      {len(texts) / t_fused:8.1f} papers/s  ({t_fused:.3f} s)")
    print(f"speed-up {t_ref / t_fused:.2f}x; max abs difference {diff:.2e}")


if __name__ == "__main__":
    main()
