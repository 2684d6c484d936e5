"""The inputs of a job: paths, folders and globs expanded, each file checked and its kind found.

Runs before any work starts, so a missing file or an unusable layout (a JSON
array, an XML file that is not PubMed) fails before the model loads. Files found
in a folder or by a glob that are not read (see expand.py; an XML file that is not
PubMed, such as CORE's `manifest.xml` sitemaps) are listed in one log line and
counted in the run summary (`skipped_files`); a folder or glob none of whose files
can be read is an input error.
"""

from __future__ import annotations

import logging
import os

from ..errors import InputError, UsageError
from ..objstore.inputs import stat_urls
from ..objstore.urls import is_url
from .expand import LISTED, expand_paths
from .files import InputFile, detect, split_name
from .sniff import json_layout

log = logging.getLogger("specter2")

SKIPPED_LISTED = 20  # names shown in the log line; the rest are counted


class InputList(list[InputFile]):
    """The files to read, plus the files found beside them that are not read."""

    skipped: list[tuple[str, str]]

    def __init__(self, files: list[InputFile], skipped: list[tuple[str, str]]) -> None:
        super().__init__(files)
        self.skipped = skipped


def resolve_inputs(
    paths: list[str], delimiter: str | None = None, listed_from: int | None = None
) -> InputList:
    """Check that every input exists and is a readable file, before any work starts.

    Folders and quoted globs expand to the data files under them, in sorted path order.
    `delimiter` (--delimiter) is the CSV field separator; by default each CSV file's
    is found from its header line. `paths[listed_from:]` came from --inputs-from: its
    files are taken as found in a folder (see expand_paths).
    """
    if not paths:
        raise UsageError(
            "no input given: name files or folders of records, --inputs-from FILE, or -"
        )
    if paths.count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    ex = expand_paths(paths, listed_from)
    objects = stat_urls([p for p in ex.paths if is_url(p)])  # a listing per folder
    out: list[InputFile] = []
    kept: list[int] = []  # index in ex.paths of each file of `out`
    skipped = list(ex.skipped)
    for i, (p, found) in enumerate(zip(ex.paths, ex.found, strict=True)):
        if p == "-":
            out.append(InputFile("-", "stdin", 0, 0))
            kept.append(i)
            continue
        if is_url(p):
            info = objects.get(p)
            if info is None:
                raise InputError(f"{p}: no such object")
            size, mtime_ns = info.size, info.mtime_ns
        else:
            if not os.path.exists(p):
                raise InputError(f"{p}: no such file")
            if not os.access(p, os.R_OK):
                raise InputError(f"{p}: not readable (check its permissions)")
            st = os.stat(p)
            size, mtime_ns = st.st_size, st.st_mtime_ns
        kind, comp = detect(p)
        f = InputFile(p, kind, size, mtime_ns, comp)
        if kind == "xml":
            from .pubmed import not_pubmed_reason

            why = not_pubmed_reason(f)
            if why and found:
                skipped.append((p, why))
                continue
            if why:
                raise InputError(
                    f"{p}: {why}; XML input must be a PubMed file (<PubmedArticleSet>)"
                )
        if kind == "jsonl" and json_layout(f) == "json":
            f = InputFile(p, "json", size, mtime_ns, comp)
        if kind in ("csv", "tsv"):
            from .csvfile import sniff_delimiter

            f = InputFile(p, kind, size, mtime_ns, comp, sniff_delimiter(f, delimiter))
        if comp and not split_name(p)[1]:
            log.info("%s: %s-compressed (whatever its name says); reading it as %s", p, comp, comp)
        out.append(f)
        kept.append(i)
    for given, start, end in ex.groups:
        if not any(start <= i < end for i in kept):
            mine = [f"{s} ({why})" for s, why in skipped if _under(s, given)]
            what = "is a directory with" if os.path.isdir(given) else "the pattern matches"
            if given == LISTED:
                what = "list names"
            raise InputError(
                f"{given}: {what} no file that can be read as records (.jsonl, .json, .csv, "
                ".tsv, .xml (PubMed), .parquet, optionally .gz, .zst, .xz or .bz2)"
                + (f"; found only: {_listing(mine)}" if mine else "")
                + "; name the data files instead"
            )
    if skipped:
        log.info(
            "%d file(s) found beside the data are not read: %s",
            len(skipped),
            _listing([f"{s} ({why})" for s, why in skipped]),
        )
    return InputList(out, skipped)


def _under(path: str, given: str) -> bool:
    if os.path.isdir(given):
        return os.path.abspath(path).startswith(os.path.abspath(given).rstrip(os.sep) + os.sep)
    return True


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:SKIPPED_LISTED])
    more = len(names) - SKIPPED_LISTED
    return shown + (f" and {more} more" if more > 0 else "")
