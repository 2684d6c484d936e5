"""`specter2 status` and `specter2 merge`: what a job has done, and one file from it."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from .common import exit_on_error, setup_logging

log = logging.getLogger("specter2")


@exit_on_error
def status(
    outdir: Annotated[
        str, typer.Argument(help="An output folder (or s3:// prefix) of `specter2 embed`.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per rank: done, running, interrupted or not started; records committed; what is missing.

    Exit code 0 when every rank is done, 3 when the job is incomplete.

    \b
    Examples:
      specter2 status emb/
      specter2 status emb/ --json | jq .missing
    """
    from ..status import format_status, job_status

    st = job_status(outdir)
    typer.echo(json.dumps(st.as_dict(), indent=1) if as_json else format_status(st))
    if not st.complete:
        raise typer.Exit(3)


@exit_on_error
def merge(
    outdir: Annotated[
        str, typer.Argument(help="An output folder (or s3:// prefix) of `specter2 embed`.")
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="FILE",
            help="FILE.parquet, or FILE.npy (ids go to FILE.ids.parquet beside it); a local "
            "path or an s3:// URL.",
            show_default=False,
        ),
    ],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --to (and its .ids.parquet) if it exists.")
    ] = False,
) -> None:
    """Check that every rank is complete, then write one file in input order, each id once.

    Ids repeated across ranks keep their first record; with --incremental runs the
    newest vector of an id wins.

    \b
    Examples:
      specter2 merge emb/ --to papers.parquet
      specter2 merge emb/ --to papers.npy      (ids in papers.ids.parquet)
      specter2 merge emb/ --to papers.parquet --overwrite
    """
    from ..merge import merge as do_merge

    setup_logging()
    r = do_merge(outdir, to, overwrite)
    extra = []
    if r.replaced_by_newer:
        extra.append(f"{r.replaced_by_newer} older vectors replaced by newer ones")
    if r.duplicates_dropped:
        extra.append(f"{r.duplicates_dropped} duplicate ids dropped (first kept)")
    from ..merge import merge_target_names

    log.info(
        "merged %d records from %d shards into %s%s",
        r.rows,
        r.shards,
        " and ".join(merge_target_names(str(r.to))),
        f" ({'; '.join(extra)})" if extra else "",
    )
