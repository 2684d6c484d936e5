"""`specter2 bench`: the options, and the report as a table (and JSON)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from .common import exit_on_error, setup_logging

log = logging.getLogger("specter2")


@exit_on_error
def bench(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Same as --size quick (well under 2 minutes on a 2-core CPU)."
        ),
    ] = False,
    size: Annotated[
        str,
        typer.Option(
            help="quick: 2,048 records on CUDA; on CPU 256 records and a 4-layer, hidden-256 "
            "model. full: SPECTER2's shape, 16,384 records on CUDA, 256 on CPU."
        ),
    ] = "full",
    records: Annotated[
        int | None, typer.Option("-n", "--records", help="Number of records (overrides --size).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="A real base model (folder or Hub id) instead of the random one; "
            "see --adapter-path."
        ),
    ] = None,
    adapter_path: Annotated[
        str | None,
        typer.Option(help="Adapter for --model (folder or Hub id; default allenai/specter2)."),
    ] = None,
    vocab: Annotated[
        Path | None,
        typer.Option(
            help="vocab.txt for the random model (default: a generated 31,090-entry one)."
        ),
    ] = None,
    layers: Annotated[int | None, typer.Option(help="Layers of the random model.")] = None,
    hidden: Annotated[
        int | None, typer.Option(help="Hidden size of the random model (heads = hidden/64).")
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input", help="A JSONL corpus (title/abstract records) instead of synthetic."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    dtype: Annotated[
        str,
        typer.Option(
            help="Compute dtype of cases b and c: auto (fp16 on CUDA, fp32 on CPU), "
            "float16, bfloat16, float32, int8 (case c only; b runs fp32). Case a is always float32."
        ),
    ] = "auto",
    batch_tokens: Annotated[
        int | None, typer.Option(help="Token budget of case c (default: the tool's default).")
    ] = None,
    cases: Annotated[
        str,
        typer.Option(
            help="Which cases to run, e.g. a,c: a model card, b plain recipe, o ONNX Runtime "
            "(CPU, needs the onnx extra), c this tool. auto: a,b,c, and o on a CPU where "
            "onnxruntime is installed."
        ),
    ] = "auto",
    repeat: Annotated[
        int, typer.Option(help="Time each case this many times (round-robin); report the best.")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpus.")] = 0,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the temporary model, corpus and output.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full report to this JSON file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the table.")] = False,
) -> None:
    """Benchmark the model-card loop (a), the best plain recipe (b), ONNX Runtime (o) and this tool (c).

    Needs no downloads: a random SPECTER2-shaped model and a synthetic corpus with
    realistic token lengths. Prints papers/s, tokens/s, padding efficiency, peak
    memory, the speed-ups and the accuracy of b and c against fp32.
    """
    from ..bench import BenchConfig, format_report, run_bench

    setup_logging(quiet)
    cfg = BenchConfig(
        size="quick" if quick else size,
        records=records,
        model=model,
        adapter_path=adapter_path,
        vocab=str(vocab) if vocab else None,
        layers=layers,
        hidden=hidden,
        input=str(input_path) if input_path else None,
        device=device,
        dtype=dtype,
        batch_tokens=batch_tokens,
        cases=tuple(c.strip() for c in cases.split(",") if c.strip()),
        repeat=repeat,
        seed=seed,
        workdir=str(workdir) if workdir else None,
    )
    if records is not None and records < 1:
        raise UsageError("--records must be positive")
    if repeat < 1:
        raise UsageError("--repeat must be positive")
    try:
        rep = run_bench(cfg)
    except ValueError as e:
        raise UsageError(str(e)) from e
    typer.echo(format_report(rep))
    if json_path is not None:
        json_path.write_text(json.dumps(rep, indent=1, default=str) + "\n")
        log.info("report written to %s", json_path)
