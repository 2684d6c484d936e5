"""What every command shares: logging to stderr, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ..errors import EnvironmentProblem, Specter2Error

log = logging.getLogger("specter2")

F = TypeVar("F", bound=Callable[..., Any])


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


def exit_on_error(command: F) -> F:
    """A command's Specter2Error becomes its message on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Specter2Error as e:
            typer.echo(f"specter2: error: {e}", err=True)
            raise typer.Exit(e.exit_code) from None
        except RuntimeError as e:  # a CUDA failure outside the encoder's own handling
            from ..model.devicefaults import cuda_failure, is_cuda_failure, is_out_of_memory

            if is_out_of_memory(e):
                problem: Specter2Error = EnvironmentProblem(
                    f"out of memory ({str(e).strip().splitlines()[0][:300]}). Free memory "
                    "held by other processes (nvidia-smi shows a GPU's), or lower "
                    "--batch-tokens or --max-length."
                )
            elif is_cuda_failure(e):
                problem = cuda_failure("the GPU", e, "")
            else:
                raise
            typer.echo(f"specter2: error: {problem}", err=True)
            raise typer.Exit(problem.exit_code) from None

    return wrapper  # type: ignore[return-value]
