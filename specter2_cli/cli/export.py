"""`specter2 export`: write a FAISS or usearch index of an OUTDIR (plus its id map)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import exit_on_error, setup_logging


@exit_on_error
def export(
    outdir: Annotated[
        str,
        typer.Argument(
            help="Output folder (or s3:// prefix) of `specter2 embed`.", show_default=False
        ),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Index file (a local path or an s3:// URL): .faiss (pip install 'specter2-cli[faiss]') or .usearch "
            "(pip install 'specter2-cli[usearch]'); the id map goes to FILE.ids.parquet.",
            show_default=False,
        ),
    ],
    metric: Annotated[
        str, typer.Option(help="l2 (as `search` ranks by default), dot or cosine.")
    ] = "l2",
    hnsw: Annotated[
        bool,
        typer.Option("--hnsw", help="Approximate HNSW search instead of an exact (flat) scan."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    """Write an index of OUTDIR's embeddings (newest per id) for `search --index FILE`.

    Exit codes: 0 done, 2 usage, 4 environment (library missing, disk).
    """
    import logging

    from ..index import backend_of, write_index
    from ..ranking import check_metric
    from ..reader import read_embeddings

    setup_logging(quiet)
    m = check_metric(metric)
    from ..objstore.urls import inside, looks_like_url

    url = looks_like_url(to)
    backend_of(Path(to))
    src = looks_like_url(outdir)
    if url is not None and src is not None and inside(url, src):
        from ..errors import UsageError

        raise UsageError(
            f"--to {url} is inside the output prefix {src}: readers of the prefix would take "
            "it for output; write it outside OUTDIR"
        )
    if url is not None:
        from ..errors import UsageError
        from ..objstore.upload_target import write_then_upload

        def earlier_export(present: list[str]) -> bool:
            """Replace only an index that `specter2 export` wrote (its id map says so)."""
            if len(present) == 2 and _exported_id_map(present[1]):
                return True
            raise UsageError(
                f"--to {url}: {' and '.join(present)} exists and was not written by "
                "`specter2 export`; remove it or choose another name"
            )

        info = write_then_upload(
            url,
            lambda t: [t, t + ".ids.parquet"],
            lambda local: write_index(read_embeddings(outdir), local, m, hnsw),
            earlier_export,
        )
    else:
        from ..index import id_map_path
        from ..store.targets import refuse_inside, target_lock

        target = Path(to)
        refuse_inside(outdir, [target, id_map_path(target)], "--to")
        with target_lock(target, f"export of {outdir}"):
            info = write_index(read_embeddings(outdir), target, m, hnsw)
    logging.getLogger("specter2").info(
        "wrote %s (%s, %s, %s, %d vectors of %d) and %s.ids.parquet",
        to,
        info["backend"],
        info["metric"],
        "hnsw" if hnsw else "flat",
        info["rows"],
        info["dim"],
        to.rsplit("/", 1)[-1],
    )


def _exported_id_map(url: str) -> bool:
    """Whether the object at `url` is an id map `specter2 export` wrote (read from its footer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..index import META_KEY
    from ..objstore import open_store, parse_url

    u = parse_url(url)
    try:
        with open_store(u, anonymous=False).open_read(u.key) as fh:
            return META_KEY in (pq.read_schema(fh).metadata or {})
    except (OSError, pa.ArrowException, ValueError):
        return False
