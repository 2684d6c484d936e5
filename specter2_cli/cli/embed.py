"""`specter2 embed`: options in, a run, a summary out."""

from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import UsageError
from .common import exit_on_error, setup_logging

if TYPE_CHECKING:
    from ..config import EmbedSettings

log = logging.getLogger("specter2")


class AdapterName(str, Enum):
    proximity = "proximity"
    adhoc_query = "adhoc_query"
    classification = "classification"
    regression = "regression"
    none = "none"


class OutFormat(str, Enum):
    parquet = "parquet"
    npy = "npy"


class DType(str, Enum):
    auto = "auto"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float32 = "float32"
    int8 = "int8"


class OutDType(str, Enum):
    float32 = "float32"
    float16 = "float16"


class OnErrorChoice(str, Enum):
    fail = "fail"
    skip = "skip"


class IdType(str, Enum):
    auto = "auto"
    int = "int"
    string = "string"


class Engine(str, Enum):
    auto = "auto"
    fused = "fused"
    reference = "reference"


@exit_on_error
def embed(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="JSONL (.jsonl, .jsonl.gz) or Parquet files with paper records; - reads JSONL from stdin.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Output folder for the shards.", show_default=False),
    ],
    adapter: Annotated[
        AdapterName,
        typer.Option(
            help="proximity: papers; adhoc_query: search queries; classification; regression; none: base model."
        ),
    ] = AdapterName.proximity,
    base_model: Annotated[
        str, typer.Option(help="Hub id or local folder of the base model.")
    ] = "allenai/specter2_base",
    adapter_path: Annotated[
        str | None,
        typer.Option(
            help="Hub id or local folder of the adapter (default: the Hub id for --adapter)."
        ),
    ] = None,
    revision: Annotated[
        str | None, typer.Option(help="Hub revision (branch, tag or commit) of the base model.")
    ] = None,
    max_length: Annotated[int, typer.Option(help="Truncate texts to this many tokens.")] = 512,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="L2-normalise embeddings.")
    ] = False,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Shard format.")] = OutFormat.parquet,
    output_dtype: Annotated[
        OutDType, typer.Option(help="Stored embedding precision (float16 halves the size).")
    ] = OutDType.float32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    devices: Annotated[
        str | None,
        typer.Option(help="Run one worker per device on this node, e.g. cuda:0,cuda:1 or 'all'."),
    ] = None,
    dtype: Annotated[
        DType,
        typer.Option(
            help="Compute precision; auto: float16 on CUDA, float32 on CPU. int8 (CPU, "
            "opt-in): int8 linear layers, not exact; its cosine to fp32 goes into the metadata."
        ),
    ] = DType.auto,
    batch_tokens: Annotated[
        int,
        typer.Option(
            help="Padded tokens per batch (rows x longest row); 0: 131072 on CUDA, 16384 on CPU."
        ),
    ] = 0,
    max_batch_rows: Annotated[int, typer.Option(help="At most this many rows per batch.")] = 1_024,
    sort_window: Annotated[
        int, typer.Option(help="Records sorted by length together (bounds memory).")
    ] = 8_192,
    shard_size: Annotated[
        int, typer.Option(help="Records per output shard (the commit unit).")
    ] = 50_000,
    workers: Annotated[
        int,
        typer.Option(
            help="Tokenizer threads; 0: one per CPU this process may use, less one. "
            "The output does not depend on it."
        ),
    ] = 0,
    id_field: Annotated[
        str | None,
        typer.Option(
            help="Id field (default: first present of id, paper_id, corpus_id, corpusid, doc_id)."
        ),
    ] = None,
    id_type: Annotated[
        IdType, typer.Option(help="Id column type; auto: from the first input record.")
    ] = IdType.auto,
    title_field: Annotated[str, typer.Option(help="Title field.")] = "title",
    abstract_field: Annotated[str, typer.Option(help="Abstract field.")] = "abstract",
    text_field: Annotated[str, typer.Option(help="Query field (--adapter adhoc_query).")] = "query",
    on_error: Annotated[
        OnErrorChoice,
        typer.Option(
            help="fail: stop at the first bad record; skip: write it to OUTDIR/_rejects.jsonl and go on."
        ),
    ] = OnErrorChoice.fail,
    shard_index: Annotated[
        int | None, typer.Option(help="This worker's shard (default: from SLURM/torchrun/k8s).")
    ] = None,
    num_shards: Annotated[
        int | None, typer.Option(help="Number of workers sharing the input.")
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental", help="Embed only records whose id or text is not in OUTDIR yet."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Delete what OUTDIR holds and start over.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never contact the Hub; use the local cache only.")
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(help="fused: fast exact forward pass; reference: the adapters library's."),
    ] = Engine.auto,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar or periodic log lines.")
    ] = True,
    log_every: Annotated[
        float, typer.Option(help="Seconds between log lines off a terminal.")
    ] = 30.0,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the run summary to this JSON file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    """Embed paper records (or search queries) into Parquet or .npy shards in OUTDIR.

    Rerun the same command to resume after a crash or preemption. Exit codes: 0 done,
    2 usage, 3 input, 4 environment (model, disk, lock), 75 interrupted (rerun to resume).
    """
    setup_logging(quiet)
    settings = _settings(
        base_model=base_model,
        adapter=adapter.value,
        adapter_path=adapter_path,
        revision=revision,
        max_length=max_length,
        normalize=normalize,
        id_field=id_field,
        title_field=title_field,
        abstract_field=abstract_field,
        text_field=text_field,
        id_type=id_type.value,
        device=device,
        dtype=dtype.value,
        output_dtype=output_dtype.value,
        format=fmt.value,
        shard_size=shard_size,
        sort_window=sort_window,
        workers=workers,
        batch_tokens=batch_tokens,
        max_batch_rows=max_batch_rows,
        on_error=on_error.value,
        engine=engine.value,
    )
    if devices:
        from ..multi import run_devices

        raise typer.Exit(run_devices(devices, sys.argv[1:], shard_index, num_shards))
    from ..pipeline import EmbedJob, SignalHandlers

    job = EmbedJob(
        inputs=inputs,
        outdir=output,
        settings=settings,
        shard_index=shard_index,
        num_shards=num_shards,
        incremental=incremental,
        overwrite=overwrite,
        offline=offline,
        progress=progress and not quiet,
        log_every_s=log_every,
    )
    with SignalHandlers(job.stop):
        summary = job.run()
    report(summary.as_dict(), summary_json)


_MODEL_KEYS = ("base_model", "adapter", "adapter_path", "revision", "max_length", "normalize")
_FIELD_KEYS = ("id_field", "title_field", "abstract_field", "text_field", "id_type")


def _settings(**options: Any) -> EmbedSettings:
    """EmbedSettings from the command's options; a bad combination is a usage error."""
    from ..config import EmbedSettings, FieldSettings, ModelSettings

    model = {k: options.pop(k) for k in _MODEL_KEYS}
    fields = {k: options.pop(k) for k in _FIELD_KEYS}
    try:
        return EmbedSettings(
            model=ModelSettings(**model), fields=FieldSettings(**fields), **options
        )
    except ValueError as e:
        raise UsageError(str(e)) from e


def report(d: dict[str, Any], path: Path | None) -> None:
    if d["already_done"]:
        log.info(
            "nothing to do: %s (rank %d of %d) is already complete with %d records; "
            "use --incremental to add new records",
            d["outdir"],
            d["rank"],
            d["world"],
            d["embedded"],
        )
    else:
        parts = [
            f"{d['embedded']} embedded",
            f"{d['rejected']} rejected",
            f"{d['truncated']} truncated",
        ]
        if d["skipped"] or d["changed"]:
            parts += [
                f"{d['skipped']} unchanged (skipped)",
                f"{d['new']} new",
                f"{d['changed']} changed",
            ]
        if d["resumed_from_rows"]:
            parts.append(f"{d['resumed_from_rows']} already committed before this run")
        log.info("done: %s", ", ".join(parts))
        first = d["first_batch_s"]
        log.info(
            "%.1f papers/s, %.0f tokens/s, padding efficiency %.3f, %.1f s on %s (%s engine)%s",
            d["papers_per_s"],
            d["tokens_per_s"],
            d["padding_efficiency"],
            d["seconds"],
            d["device"],
            d["engine"],
            f", first window done {first:.1f} s after the model loaded"
            if first is not None
            else "",
        )
    if path is not None:
        path.write_text(json.dumps(d, indent=1, default=str) + "\n")
