"""The `specter2` command: options, environment, exit codes. No torch at import time."""

from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .errors import EXIT_INTERNAL, Specter2Error, UsageError

app = typer.Typer(
    name="specter2",
    help="SPECTER2 embeddings for millions of scientific papers: streaming input, "
    "token-budget batching, resumable shards, SLURM arrays.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

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


def setup_logging(quiet: bool = False) -> None:
    """Our messages on stderr: bare on a terminal, timestamped in logs (cron, SLURM)."""
    fmt = "%(message)s" if sys.stderr.isatty() else "%(asctime)s specter2 %(levelname)s %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt, datefmt="%Y-%m-%dT%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    # adapters prints "none are activated" while loading, before set_active: harmless noise.
    logging.getLogger("adapters").setLevel(logging.ERROR)


def fail(e: Specter2Error) -> NoReturn:
    typer.echo(f"specter2: error: {e}", err=True)
    raise typer.Exit(e.exit_code)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"specter2_cli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """SPECTER2 embeddings for scientific papers."""


@app.command()
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
        DType, typer.Option(help="Compute precision; auto: float16 on CUDA, float32 on CPU.")
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
    try:
        from .config import EmbedSettings, FieldSettings, ModelSettings

        try:
            settings = EmbedSettings(
                model=ModelSettings(
                    base_model=base_model,
                    adapter=adapter.value,
                    adapter_path=adapter_path,
                    revision=revision,
                    max_length=max_length,
                    normalize=normalize,
                ),
                fields=FieldSettings(
                    id_field=id_field,
                    title_field=title_field,
                    abstract_field=abstract_field,
                    text_field=text_field,
                    id_type=id_type.value,  # type: ignore[arg-type]
                ),
                device=device,
                dtype=dtype.value,
                output_dtype=output_dtype.value,  # type: ignore[arg-type]
                format=fmt.value,  # type: ignore[arg-type]
                shard_size=shard_size,
                sort_window=sort_window,
                batch_tokens=batch_tokens,
                max_batch_rows=max_batch_rows,
                on_error=on_error.value,  # type: ignore[arg-type]
                engine=engine.value,  # type: ignore[arg-type]
            )
        except ValueError as e:
            raise UsageError(str(e)) from e
        if devices:
            from .multi import run_devices

            code = run_devices(devices, sys.argv[1:], shard_index, num_shards)
            raise typer.Exit(code)

        from .pipeline import EmbedJob

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
        summary = job.run()
    except Specter2Error as e:
        fail(e)
    report(summary.as_dict(), summary_json)


def report(d: dict[str, Any], path: Path | None) -> None:
    if d["already_done"]:
        log.info(
            "nothing to do: %s (rank %d of %d) is already complete with %d records; "
            "use --incremental to add new records",
            d["outdir"], d["rank"], d["world"], d["embedded"],
        )  # fmt: skip
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
            d["papers_per_s"], d["tokens_per_s"], d["padding_efficiency"], d["seconds"],
            d["device"], d["engine"],
            f", first window done {first:.1f} s after the model loaded" if first is not None else "",
        )  # fmt: skip
    if path is not None:
        path.write_text(json.dumps(d, indent=1, default=str) + "\n")


@app.command()
def status(
    outdir: Annotated[Path, typer.Argument(help="An output folder of `specter2 embed`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per rank: done, running, interrupted or not started; records committed; what is missing.

    Exit code 0 when every rank is done, 3 when the job is incomplete.
    """
    from .merge import format_status, job_status

    try:
        st = job_status(outdir)
    except Specter2Error as e:
        fail(e)
    typer.echo(json.dumps(st.as_dict(), indent=1) if as_json else format_status(st))
    if not st.complete:
        raise typer.Exit(3)


@app.command()
def merge(
    outdir: Annotated[Path, typer.Argument(help="An output folder of `specter2 embed`.")],
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            help="FILE.parquet, or FILE.npy (ids go to FILE.ids.parquet).",
            show_default=False,
        ),
    ],
) -> None:
    """Check that every rank is complete, then write one file in input order, each id once.

    Ids repeated across ranks keep their first record; with --incremental runs the
    newest vector of an id wins.
    """
    from .merge import merge as do_merge

    setup_logging()
    try:
        r = do_merge(outdir, to)
    except Specter2Error as e:
        fail(e)
    extra = []
    if r.replaced_by_newer:
        extra.append(f"{r.replaced_by_newer} older vectors replaced by newer ones")
    if r.duplicates_dropped:
        extra.append(f"{r.duplicates_dropped} duplicate ids dropped (first kept)")
    log.info("merged %d records from %d shards into %s%s", r.rows, r.shards, r.to,
             f" ({'; '.join(extra)})" if extra else "")  # fmt: skip


# --- subcommands defined in other modules (each module imports torch lazily) ---
# One line per command: app.command(name=...)(function)
from .download import download_command  # noqa: E402
from .search import search_command  # noqa: E402

app.command(name="download")(download_command)
app.command(name="search")(search_command)
from .bench import bench_command  # noqa: E402

app.command(name="bench")(bench_command)


def main() -> None:
    try:
        app()
    except Specter2Error as e:  # raised outside a command's own handling
        typer.echo(f"specter2: error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("specter2: interrupted", err=True)
        sys.exit(130)
    except Exception:
        import traceback

        traceback.print_exc()
        typer.echo(
            "specter2: internal error (a bug): please report it with the traceback above",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
