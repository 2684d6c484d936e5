"""The `specter2` command: one module per subcommand, no torch at import (--help is instant)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import EXIT_ENVIRONMENT, EXIT_INTERNAL, Specter2Error
from . import bench, download, embed, export, jobs, search
from .conventions import EnvVarGroup, environment_problem, version_report

app = typer.Typer(
    name="specter2",
    cls=EnvVarGroup,
    help="SPECTER2 embeddings for millions of scientific papers: streaming input, "
    "token-budget batching, resumable shards, SLURM arrays. Every option can also be set "
    "as an environment variable of its subcommand, SPECTER2_<COMMAND>_<OPTION> (e.g. "
    "SPECTER2_EMBED_SHARD_SIZE); flags win; --overwrite reads none.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        report, ok = version_report()
        typer.echo(report)
        raise typer.Exit(0 if ok else EXIT_ENVIRONMENT)


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the versions of specter2_cli, torch, transformers, huggingface_hub, "
            "pyarrow and CUDA (for bug reports); exit 4 if a dependency cannot be imported.",
        ),
    ] = False,
) -> None:
    """SPECTER2 embeddings for scientific papers."""


app.command(name="embed")(embed.embed)
app.command(name="status")(jobs.status)
app.command(name="merge")(jobs.merge)
app.command(name="search")(search.search)
app.command(name="download")(download.download)
app.command(name="bench")(bench.bench)
app.command(name="export")(export.export)


def main() -> None:
    try:
        app()
    except Specter2Error as e:  # raised outside a command's own handling
        typer.echo(f"specter2: error: {e}", err=True)
        sys.exit(e.exit_code)
    except ImportError as e:  # a dependency missing or at an incompatible version
        typer.echo(f"specter2: error: {environment_problem(e)}", err=True)
        sys.exit(EXIT_ENVIRONMENT)
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
