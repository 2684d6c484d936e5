"""`specter2 embed`: options in, a run, a summary out."""

from __future__ import annotations

import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .. import faults
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


class Preset(str, Enum):
    arxiv = "arxiv"
    openalex = "openalex"
    s2 = "s2"
    pubmed = "pubmed"
    core = "core"
    beir = "beir"
    scirepeval = "scirepeval"
    crossref = "crossref"


class Engine(str, Enum):
    auto = "auto"
    fused = "fused"
    reference = "reference"


@exit_on_error
def embed(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="INPUT",
            help="Files or folders of paper records: JSON lines, CSV/TSV, PubMed XML, Parquet "
            "(gzip/zstd ok); - reads JSONL from stdin.",
            show_default=False,
        ),
    ] = None,
    *,
    output: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            help="Output folder for the shards, or an s3:// prefix.",
            show_default=False,
        ),
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
    adapter_revision: Annotated[
        str | None, typer.Option(help="Hub revision (branch, tag or commit) of the adapter.")
    ] = None,
    text_format: Annotated[
        str,
        typer.Option(
            help="Paper text. card: the model card's title[SEP](abstract or ''); scirepeval: "
            "SciRepEval's ' [SEP] '.join of the non-empty fields, as SPECTER2 was trained "
            "(no trailing [SEP]; a paper without a title is embedded from its abstract).",
        ),
    ] = "card",
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
            help="Padded tokens per batch (rows x longest row); 0: 131072 on CUDA, 16384 on CPU.",
            show_default="0: auto",
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
            help="Id field (default: first present of id, paper_id, corpus_id, corpusid, doc_id, _id, coreId, pmid, paperId)."
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
    max_reject_rate: Annotated[
        float | None,
        typer.Option(
            metavar="FRACTION",
            help="With --on-error skip: fail (exit 3, no _SUCCESS) when more than this share "
            "of the records is rejected, e.g. 0.01.",
            show_default=False,
        ),
    ] = None,
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
    anonymous: Annotated[
        bool,
        typer.Option(
            "--anonymous", help="Read s3:// and gs:// inputs without credentials (public buckets)."
        ),
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(help="fused: fast exact forward pass; reference: the adapters library's."),
    ] = Engine.auto,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress",
            help="A progress bar on a terminal; --no-progress: periodic log lines instead "
            "(off a terminal there are always log lines, every --log-every seconds).",
        ),
    ] = True,
    log_every: Annotated[
        float, typer.Option(help="Seconds between log lines off a terminal.")
    ] = 30.0,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the run summary to this JSON file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    preset: Annotated[
        Preset | None,
        typer.Option(help="Id/title/abstract fields and id type of a known corpus."),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="An input without any record is a success (default: exit 3, no _SUCCESS: "
            "an empty file is usually a failed download).",
        ),
    ] = False,
    inputs_from: Annotated[
        Path | None,
        typer.Option(help="Read input paths from this file, one per line (adds to INPUTS)."),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(
            help="CSV field separator: one character, or 'tab' (default: found from the "
            "header line among , ; tab |)."
        ),
    ] = None,
) -> None:
    """Embed paper records (or search queries) into Parquet or .npy shards in OUTDIR.

    Rerun the same command to resume after a crash or preemption. Exit codes: 0 done,
    2 usage, 3 input (also: every record rejected, or more than --max-reject-rate),
    4 environment (model, disk, lock, library versions), 75 interrupted (rerun to resume).

    \b
    Examples:
      specter2 embed papers.jsonl -o emb/
      specter2 embed a.parquet b.parquet -o emb/ --on-error skip --max-reject-rate 0.01
      zcat papers.jsonl.gz | specter2 embed - -o emb/ --device cpu --incremental
    """
    setup_logging(quiet)
    inputs = list(inputs or [])
    listed_from = None
    if inputs_from is not None:
        listed_from = len(inputs)
        from ..inputs.expand import read_inputs_from
        from ..pipeline.job import listed_outside_outdir

        inputs += listed_outside_outdir(read_inputs_from(str(inputs_from)), output)
    from ..multi import check_device, check_devices
    from ..pipeline.runtime import SignalHandlers, StopFlag

    check_device("--device", device)
    delimiter = check_delimiter(delimiter)
    if devices:
        check_devices(devices)
    if max_reject_rate is not None and not 0 <= max_reject_rate <= 1:
        raise UsageError(f"--max-reject-rate {max_reject_rate}: give a fraction from 0 to 1")
    # installed first and kept to the end: a SIGTERM while loading the model exits 75, one
    # in the run's last second still lets it finish and exit 0
    stop = StopFlag()
    handlers = SignalHandlers(stop)
    with handlers:
        settings = _settings(
            preset=preset.value if preset else None,
            base_model=base_model,
            adapter=adapter.value,
            adapter_path=adapter_path,
            revision=revision,
            adapter_revision=adapter_revision,
            text_format=text_format,
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
        if anonymous:  # read by the object-store layer, and inherited by --devices workers
            from ..objstore.store import ANONYMOUS_ENV

            os.environ[ANONYMOUS_ENV] = "1"
        if devices:
            from ..multi import run_devices

            raise typer.Exit(run_devices(devices, sys.argv[1:], shard_index, num_shards))
        from ..pipeline import EmbedJob

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
            max_reject_rate=max_reject_rate,
            allow_empty=allow_empty,
            stop=stop,
            delimiter=delimiter,
            listed_from=listed_from,
        )
        summary = job.run()
        report(summary.as_dict(), summary_json, incremental)
        handlers.keep()
    faults.point("exit")


def check_delimiter(value: str | None) -> str | None:
    """--delimiter as one character ('tab' and '\\t' mean a tab); UsageError otherwise."""
    if value is None:
        return None
    d = "\t" if value.lower() in ("tab", "\\t", "\t") else value
    if len(d) != 1 or d in '"\r\n':
        raise UsageError(
            f"--delimiter {value!r}: give one character other than a quote or a newline, "
            "e.g. --delimiter ';' or --delimiter tab"
        )
    return d


_MODEL_KEYS = (
    "base_model",
    "adapter",
    "adapter_path",
    "revision",
    "adapter_revision",
    "text_format",
    "max_length",
    "normalize",
)
_FIELD_KEYS = ("id_field", "title_field", "abstract_field", "text_field", "id_type")


def _settings(**options: Any) -> EmbedSettings:
    """EmbedSettings from the command's options; a bad combination is a usage error."""
    from ..config import EmbedSettings, FieldSettings, ModelSettings

    model = {k: options.pop(k) for k in _MODEL_KEYS}
    fields = {k: options.pop(k) for k in _FIELD_KEYS}
    fields = apply_preset(fields, options.pop("preset"))
    try:
        return EmbedSettings(
            model=ModelSettings(**model), fields=FieldSettings(**fields), **options
        )
    except ValueError as e:
        raise UsageError(str(e)) from e


def apply_preset(fields: dict[str, Any], preset: str | None) -> dict[str, Any]:
    """The field options with a preset's values where the user left the defaults."""
    if preset is None:
        return fields
    from ..inputs.fields import PRESETS

    id_field, title, abstract, id_type = PRESETS[preset]
    defaults = {"id_field": None, "title_field": "title", "abstract_field": "abstract"}
    chosen = {"id_field": id_field, "title_field": title, "abstract_field": abstract}
    out = dict(fields, preset=preset)
    for k, v in chosen.items():
        if out[k] == defaults[k]:
            out[k] = v
    if out["id_type"] == "auto":
        out["id_type"] = id_type
    return out


def report(d: dict[str, Any], path: Path | None, incremental: bool = False) -> None:
    from ..pipeline.progress import fmt_duration

    if d["already_done"] and incremental:
        log.info(
            "nothing new: the input is unchanged since the run that embedded it; %s (rank %d "
            "of %d) holds %d records",
            d["outdir"],
            d["rank"],
            d["world"],
            d["embedded"],
        )
    elif d["already_done"]:
        log.info(
            "nothing to do: %s (rank %d of %d) is already complete with %d records; "
            "use --incremental to add new records",
            d["outdir"],
            d["rank"],
            d["world"],
            d["embedded"],
        )
    else:
        parts = [f"{d['embedded']} embedded", f"{d['rejected']} rejected"]
        if d.get("rejected_by_reason") and d["rejected"]:
            why = ", ".join(f"{n} {k}" for k, n in d["rejected_by_reason"].items())
            parts[-1] += f" ({why})"
        if d["truncated"]:
            parts.append(f"{d['truncated']} truncated to --max-length")
        if d["skipped"] or d["changed"]:
            parts += [f"{d['skipped']} unchanged (skipped)", f"{d['new']} new"]
            parts.append(f"{d['changed']} changed")
        if d.get("no_abstract") or d.get("no_title"):
            parts.append(f"{d['no_abstract']} without abstract, {d['no_title']} without title")
        if d.get("placeholders"):
            parts.append(f"{d['placeholders']} with a placeholder title or abstract")
        if d.get("book_articles"):
            parts.append(f"{d['book_articles']} PubMed book articles")
        if d.get("deleted_citations"):
            parts.append(f"{d['deleted_citations']} PubMed deleted citations skipped")
        if d.get("skipped_files"):
            parts.append(f"{d['skipped_files']} files beside the data not read")
        if d["resumed_from_rows"]:
            parts.append(f"{d['resumed_from_rows']} already committed before this run")
        if d.get("oom_splits"):
            parts.append(f"{d['oom_splits']} batches split for device memory "
                         f"(now at most {d['token_cap']} tokens; --batch-tokens sets it)")  # fmt: skip
        if d.get("fp32_reruns"):
            parts.append(f"{d['fp32_reruns']} recomputed in float32 after an fp16 overflow")
        log.info("done: %s", ", ".join(parts))
        log.info(
            "rank %d of %d now holds %d records (%d rejected) in %s",
            d["rank"],
            d["world"],
            d["total_rows"],
            d["total_rejected"],
            d["outdir"],
        )
        read = d["embedded"] + d["skipped"] + d["rejected"]
        if d["skipped"] and d["embed_s"] > 0:
            log.info(
                "read %d records at %.0f records/s; only new and changed ones were embedded",
                read,
                read / d["embed_s"],
            )
        log.info(
            "speed: %.1f papers/s over %s of embedding (%.0f tokens/s, padding efficiency "
            "%.2f); model load and start-up took %s; %s on %s",
            d["papers_per_s"],
            fmt_duration(d["embed_s"]),
            d["tokens_per_s"],
            d["padding_efficiency"],
            fmt_duration(d["load_s"]),
            d["engine"] + " engine" + (f" ({d['kernels']})" if d.get("kernels") else ""),
            d["device"],
        )
    if path is None:
        return
    text = json.dumps(d, indent=1, default=str) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
    else:
        path.write_text(text)
