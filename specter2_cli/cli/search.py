"""`specter2 search`: rank the papers of an OUTDIR against queries; a table or JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import exit_on_error, setup_logging

if TYPE_CHECKING:
    from ..ranking import Metric
    from ..search import Query


@exit_on_error
def search(
    outdir: Annotated[
        str,
        typer.Argument(
            help="Output folder (or s3:// prefix) of `specter2 embed --adapter proximity`.",
            show_default=False,
        ),
    ],
    query: Annotated[
        str | None, typer.Argument(help="Query text (or use --queries).", show_default=False)
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", help="Results per query.")] = 10,
    queries: Annotated[
        Path | None,
        typer.Option(
            help='JSONL file of queries: {"id": ..., "query": "..."} per line.',
            show_default=False,
        ),
    ] = None,
    papers: Annotated[
        Path | None,
        typer.Option(
            help="The papers' JSONL or Parquet file, to print titles.", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per query (JSONL) on stdout.")
    ] = False,
    base_model: Annotated[
        str | None,
        typer.Option(
            help="Hub id or folder of the base model for the queries (default: the OUTDIR's; "
            "must be the same model).",
            show_default=False,
        ),
    ] = None,
    adapter_path: Annotated[
        str | None,
        typer.Option(
            help="Hub id or folder of the query adapter (default: allenai/specter2_adhoc_query).",
            show_default=False,
        ),
    ] = None,
    id_field: Annotated[
        str | None, typer.Option(help="Id field of --papers (default: id, paper_id, ...).")
    ] = None,
    title_field: Annotated[str, typer.Option(help="Title field of --papers.")] = "title",
    metric: Annotated[
        str | None,
        typer.Option(
            help="l2 (the default): Euclidean distance, smallest first (as the model card and "
            "SciRepEval rank); dot: dot product, largest first; cosine: cosine similarity, "
            "largest first. With --index: the index's metric.",
            show_default=False,
        ),
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option(
            help="Search this index from `specter2 export` instead of scanning the shards.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    offline: Annotated[
        bool, typer.Option("--offline", help="Never contact the Hub; use the local cache only.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    """Rank the papers in OUTDIR against search queries (L2 distance, adhoc_query adapter).

    Exit codes: 0 done, 2 usage (OUTDIR not embedded with proximity, other base model),
    3 input, 4 environment (model not found).
    """
    from ..ranking import check_metric
    from ..search import read_queries, read_titles, run_search

    setup_logging(quiet)
    m = check_metric(metric) if metric is not None else None
    qs = read_queries(query, queries)
    _, results = run_search(
        outdir, qs, k, base_model, adapter_path, device, offline, metric=m, index=index
    )
    if m is None:
        m = _index_metric(index) if index is not None else "l2"
    titles = None
    if papers is not None:
        wanted = {str(pid) for hits in results for pid, _ in hits}
        titles = read_titles(papers, wanted, id_field, title_field)
    if as_json:
        for line in json_lines(qs, results, titles, m):
            typer.echo(line)
    else:
        typer.echo(format_table(qs, results, titles, m))
    sys.stdout.flush()


def _index_metric(index: Path) -> Metric:
    from ..index import load_index

    return load_index(index).metric


def format_table(
    queries: list[Query],
    results: list[list[tuple[Any, float]]],
    titles: dict[str, str] | None,
    metric: str = "l2",
) -> str:
    """One block per query; the score column is named after the metric (l2_distance, ...)."""
    from ..ranking import SCORE_NAMES

    name = SCORE_NAMES[metric]
    blocks = []
    for q, hits in zip(queries, results, strict=True):
        lines = [f"query {q.id}: {q.text}"]
        width = max([len("id"), *(len(str(i)) for i, _ in hits)])
        head = f"{'rank':>4}  {'id':<{width}}  {name:>11}"
        lines.append(head + ("  title" if titles is not None else ""))
        for r, (pid, score) in enumerate(hits, 1):
            row = f"{r:>4}  {pid!s:<{width}}  {score:>11.4f}"
            if titles is not None:
                title = " ".join(titles.get(str(pid), "").split())
                row += "  " + (title[:97] + "..." if len(title) > 100 else title)
            lines.append(row.rstrip())
        if not hits:
            lines.append("   (no papers)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def json_lines(
    queries: list[Query],
    results: list[list[tuple[Any, float]]],
    titles: dict[str, str] | None,
    metric: str = "l2",
) -> list[str]:
    """One JSON object per query; "metric" says what each hit's "score" is."""
    out = []
    for q, hits in zip(queries, results, strict=True):
        items = []
        for r, (pid, score) in enumerate(hits, 1):
            item: dict[str, Any] = {"rank": r, "id": pid, "score": score}
            if titles is not None:
                item["title"] = titles.get(str(pid))
            items.append(item)
        out.append(
            json.dumps(
                {"query_id": q.id, "query": q.text, "metric": metric, "results": items},
                ensure_ascii=False,
            )
        )
    return out
