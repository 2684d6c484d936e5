"""`specter2 download`: fetch the model for machines without network access."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import exit_on_error, setup_logging


@exit_on_error
def download(
    adapter: Annotated[
        list[str] | None,
        typer.Option(
            "--adapter",
            "-a",
            help="Adapter to fetch besides the base model: proximity, adhoc_query, "
            "classification, regression, all (default) or none. Repeat for several.",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option(
            help="Write portable folders DIR/specter2_base, DIR/specter2_proximity, ... "
            "instead of filling the Hugging Face cache.",
            show_default=False,
        ),
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option(help="Branch, tag or commit of allenai/specter2_base (default: main)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    """Fetch SPECTER2 (base model + adapters) for machines without network access.

    Run it on a login node; it prints the commit of each repository and the exact
    `specter2 embed` command that uses the files offline. Exit codes: 0 done,
    2 usage, 4 no network or download failed.
    """
    from ..model.download import download as fetch_all
    from ..model.download import hub_cache, plan_downloads, usage_lines

    setup_logging(quiet)
    plans = plan_downloads(adapter, revision)
    done = fetch_all(plans, to)
    for line in usage_lines(done, to, None if to is not None else hub_cache()):
        typer.echo(line)
