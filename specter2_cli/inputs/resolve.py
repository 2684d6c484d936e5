"""The inputs of a job: paths, folders and globs expanded, each file checked and its kind found.

Runs before any work starts, so a missing file or an unusable layout (a JSON
array) fails before the model loads.
"""

from __future__ import annotations

import logging
import os

from ..errors import InputError, UsageError
from .expand import expand_paths
from .files import InputFile, detect, split_name
from .sniff import json_layout

log = logging.getLogger("specter2")


def resolve_inputs(paths: list[str]) -> list[InputFile]:
    """Check that every input exists and is a readable file, before any work starts.

    Folders and quoted globs expand to the data files under them, in sorted path order.
    """
    if not paths:
        raise UsageError(
            "no input given: name files or folders of records, --inputs-from FILE, or -"
        )
    if paths.count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    out: list[InputFile] = []
    for p in expand_paths(paths):
        if p == "-":
            out.append(InputFile("-", "stdin", 0, 0))
            continue
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file")
        if not os.access(p, os.R_OK):
            raise InputError(f"{p}: not readable (check its permissions)")
        kind, comp = detect(p)
        st = os.stat(p)
        f = InputFile(p, kind, st.st_size, st.st_mtime_ns, comp)
        if kind == "jsonl" and json_layout(f) == "json":
            f = InputFile(p, "json", st.st_size, st.st_mtime_ns, comp)
        if comp and not split_name(p)[1]:
            log.info("%s: %s-compressed (whatever its name says); reading it as %s", p, comp, comp)
        out.append(f)
    return out
