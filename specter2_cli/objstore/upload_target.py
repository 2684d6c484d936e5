"""`merge --to s3://...` and `export --to s3://...`: the file is written locally, as for a
local --to, then uploaded. Each object appears whole when its upload completes (a PUT, or
a completed multipart upload), so a reader never sees a half-written file."""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import UsageError
from .opening import open_store
from .urls import parse_url

log = logging.getLogger("specter2")
T = TypeVar("T")


def write_then_upload(
    to: str,
    companions: Callable[[str], list[str]],
    write: Callable[[Path], T],
    replace: Callable[[list[str]], bool],
) -> T:
    """Run `write(local_file)` and upload the files `companions(name)` names (the file and
    the ids or id map beside it) to the URLs `companions(to)`. `replace(present_urls)` says
    whether objects already there may be replaced (or raises why not)."""
    from .outdir import staging_root

    u = parse_url(to)
    store = open_store(u, anonymous=False)  # writes are signed, --anonymous or not
    store.for_writes = True
    if not store.writable:
        raise UsageError(f"--to {to}: {store._read_only()}")
    urls = companions(to)
    keys = [parse_url(x).key for x in urls]
    present = [x for x, k in zip(urls, keys, strict=True) if store.info(k) is not None]
    if present and not replace(present):
        raise UsageError(
            f"{' and '.join(present)} already {'exists' if len(present) == 1 else 'exist'}; "
            "choose another --to, or add --overwrite to replace it"
        )
    folder = staging_root() / "uploads" / f"{socket.gethostname()}.{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        local = folder / Path(u.key).name
        result = write(local)
        for key, path in zip(keys, companions(str(local)), strict=True):
            store.upload_file(key, path)
        if present:
            log.warning("--to: replaced %s", " and ".join(present))
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
