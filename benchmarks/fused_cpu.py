"""Where the CPU engine's speed comes from: the model-card forward vs the fused engine's paths.

Same batches for every variant (fp32, torch's default threads): synthetic papers with token
lengths ~ N(250, 100) clipped to [16, 512], batches of `--batch` in input order, as the model
card runs them (padding present). Variants, timed round-robin, best of `--repeats`:

    card              the adapters model (model-card recipe), eager
    card-compile      the same under torch.compile (inductor, default options), with --compile
    fused-padded      FusedBertEncoder, padded batches, aten linears (F.linear, MKL)
    fused-unpadded    ... real tokens only, aten linears
    fused (default)   ... real tokens only, oneDNN linears with the GELU fused in
    fused-compile     torch.compile of the padded fused pass, with --compile

Prints papers/s, the speed-up over `card` and the max abs difference to it.

    python benchmarks/fused_cpu.py                  # SPECTER2's shape, 64 papers
    python benchmarks/fused_cpu.py --small          # 4 layers, hidden 256 (seconds)
    python benchmarks/fused_cpu.py --compile        # add the torch.compile variants
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--papers", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="4 layers, hidden 256")
    parser.add_argument("--compile", action="store_true", help="add torch.compile variants")
    args = parser.parse_args()

    import torch
    from adapters import AutoAdapterModel

    from specter2_cli.bench.corpus import generated_vocab, token_lengths
    from specter2_cli.model.fused import FusedBertEncoder
    from specter2_cli.model.unpad import onednn_linear_ok
    from specter2_cli.synthetic import SPECTER2_SHAPE, ModelShape, build_random_model

    shape = ModelShape(256, 4, 4, 1024) if args.small else SPECTER2_SHAPE
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = build_random_model(
            tmp, shape=shape, vocab=generated_vocab(), adapters=("proximity",)
        )
        model = AutoAdapterModel.from_pretrained(str(paths["base"]))
        model.load_adapter(str(paths["proximity"]), load_as="proximity", set_active=True)
    model.eval()

    lengths = token_lengths(args.papers, seed=0)
    gen = torch.Generator().manual_seed(0)
    batches = []
    for i in range(0, args.papers, args.batch):
        lens = torch.from_numpy(lengths[i : i + args.batch])
        width = int(lens.max())
        ids = torch.randint(1000, 30_000, (len(lens), width), generator=gen)
        mask = (torch.arange(width)[None, :] < lens[:, None]).long()
        ids[:, 0] = 102  # [CLS]
        batches.append((ids * mask, mask))
    real = int(lengths.sum())
    slots = sum(int(m.numel()) for _, m in batches)

    def fused(unpad: bool, onednn: bool) -> FusedBertEncoder:
        f = FusedBertEncoder.from_adapter_model(model, "proximity").eval()
        f.set_cpu_kernels(unpad=unpad, onednn=onednn)
        return f

    def card(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]

    variants: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"card": card}
    if args.compile:
        variants["card-compile"] = torch.compile(card)
    variants["fused-padded"] = fused(False, False)
    variants["fused-unpadded"] = fused(True, False)
    if onednn_linear_ok():
        variants["fused"] = fused(True, True)
    if args.compile:
        variants["fused-compile"] = torch.compile(fused(False, False))

    outs: dict[str, torch.Tensor] = {}
    best: dict[str, float] = {}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in variants.items():  # warm-up (and compilation), untimed
            t0 = time.perf_counter()
            outs[name] = torch.cat([fn(ids, mask) for ids, mask in batches])
            print(f"warm-up {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        for _ in range(args.repeats):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                for ids, mask in batches:
                    fn(ids, mask)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)

    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"model {shape}; {args.papers} papers, {real / args.papers:.0f} tokens/paper, "
        f"batches of {args.batch} in input order, padding efficiency {real / slots:.2f}; "
        f"best of {args.repeats}"
    )
    print(f"{'variant':<16} {'papers/s':>9} {'x card':>7} {'max abs diff':>13}")
    for name in variants:
        diff = (outs[name] - outs["card"]).abs().max().item()
        print(
            f"{name:<16} {args.papers / best[name]:>9.2f} {best['card'] / best[name]:>7.2f} "
            f"{diff:>13.1e}"
        )


if __name__ == "__main__":
    main()
