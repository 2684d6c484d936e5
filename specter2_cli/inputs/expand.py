"""Folders, quoted globs and `--inputs-from` lists, expanded to a sorted list of files.

A folder means every data file under it, recursively, in sorted path order; hidden
files and folders (`.name`) and the tool's own `_name` files are passed over. Real
dumps carry other files beside their data (CORE's `manifest.xml` sitemaps, PubMed's
`.md5`, OpenAlex's `manifest`, READMEs, licences): a file found in a folder or by a
glob whose name is not a data file's is not read, except that a name with no suffix at
all is read when its first bytes are a compressed stream, Parquet or a JSON object
(`part_001.gz.part`, `part_000.gz.1` and other download leftovers are not); resolve.py lists those in one log line and counts
them. This is the one place a folder or a glob is listed. Expansion happens before
anything else, so ranks, resume and the input identity see exactly the files a user
could have named one by one.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import InputError, UsageError
from ..objstore.inputs import list_url, open_input
from ..objstore.urls import is_url
from .files import (
    PARQUET_MAGIC,
    TAR_HINT,
    is_archive,
    is_data_file,
    kind_from_name,
    looks_like_json,
    sniff_compression,
    split_name,
)

GLOB_CHARS = frozenset("*?[")
# What downloaders leave beside (or instead of) a finished file: `part_001.gz.part`,
# wget's second copy `part_000.gz.1`, a browser's `.crdownload`.
DOWNLOAD_SUFFIXES = frozenset(
    {"part", "partial", "tmp", "temp", "crdownload", "download", "aria2", "swp", "bak", "orig"}
)


@dataclass
class Expanded:
    """The files to read, each with whether it was found (in a folder or by a glob) rather
    than named; and the files found but not read, with why."""

    paths: list[str] = field(default_factory=list)
    found: list[bool] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # the folders and globs given, each with the index range of its files in `paths`
    groups: list[tuple[str, int, int]] = field(default_factory=list)

    def add(self, path: str, found: bool) -> None:
        self.paths.append(path)
        self.found.append(found)


LISTED = "--inputs-from"  # the group name of the files an --inputs-from list names


def expand_paths(paths: list[str], listed_from: int | None = None) -> Expanded:
    """`paths[listed_from:]` came from an --inputs-from list (the output of `find`): files
    there are taken as found in a folder (a README or manifest.xml in it is listed and
    skipped), while files named on the command line must each be readable."""
    out = Expanded()
    first_listed = len(out.paths)
    for n, p in enumerate(paths):
        if listed_from is not None and n == listed_from:
            first_listed = len(out.paths)
        from_list = listed_from is not None and n >= listed_from
        urls = list_url(p) if is_url(p) else None  # an object store prefix or glob
        if from_list and p != "-" and os.path.isfile(p):
            why = not_data_reason(p)
            if why:
                out.skipped.append((p, why))
            else:
                out.add(p, True)
        elif p == "-" or os.path.isfile(p) or (is_url(p) and urls is None):
            out.add(p, False)
        elif urls is not None or os.path.isdir(p) or GLOB_CHARS & set(p):
            if urls is not None:
                listed = urls  # in key order, hidden and `_` names left out
            elif os.path.isdir(p):
                listed = sorted(walk_files(p))
            else:
                # a FIFO or device matched is kept: refused by name later, never dropped unsaid
                listed = sorted(
                    f
                    for f in glob.glob(p, recursive=True)
                    if os.path.exists(f) and not os.path.isdir(f) and _visible(f)
                )
                if not listed:
                    raise InputError(f"{p}: the pattern matches no file")
            start = len(out.paths)
            for f in listed:
                why = not_data_reason(f)
                if why:
                    out.skipped.append((f, why))
                else:
                    out.add(f, True)
            out.groups.append((p, start, len(out.paths)))
        else:
            out.add(p, False)  # missing: reported with the other checks
    if listed_from is not None and listed_from < len(paths):
        out.groups.append((LISTED, first_listed, len(out.paths)))
    return out


def walk_files(root: str) -> Iterator[str]:
    """Every visible file under a folder (hidden and `_` files and folders left out)."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            if not name.startswith((".", "_")):
                yield os.path.join(dirpath, name)


def walk_data_files(root: str) -> Iterator[str]:
    """The files under a folder that are read (see not_data_reason)."""
    return (f for f in walk_files(root) if not not_data_reason(f))


def not_data_reason(path: str) -> str | None:
    """Why a file found in a folder is not read, or None when it is a data file.

    By name first (`.jsonl`, `.csv`, `.xml.gz`, ...); a file with another name is read
    when its first bytes are a compressed stream, Parquet or a JSON object (S2 shards and
    some record files have no suffix); a manifest (OpenAlex's is JSON) or an archive is not.
    """
    if is_archive(path):
        return TAR_HINT
    base, _ = split_name(path)
    if base.startswith("manifest") and kind_from_name(base) != "xml":  # XML: sniffed later
        return "a manifest"
    if is_data_file(path):
        return None
    name = os.path.basename(path)
    if "." in name.lstrip("."):  # a suffix that is not a data file's: not guessed at
        suffix = name.rsplit(".", 1)[1].lower()
        if suffix in DOWNLOAD_SUFFIXES or suffix.isdigit():
            return f"an unfinished or duplicate download (.{suffix})"
        return "not a data file"
    try:
        with open_input(path) as fh:
            head = fh.read(64)
    except OSError as e:
        return f"cannot read ({e.strerror or e})"
    if sniff_compression(head) or head.startswith(PARQUET_MAGIC) or looks_like_json(path, head):
        return None
    return "not a data file"


def _visible(path: str) -> bool:
    return not os.path.basename(path).startswith((".", "_"))


def read_inputs_from(list_file: str) -> list[str]:
    """The paths named in FILE, one a line (blank lines and `#` comments skipped).

    Relative paths are taken relative to the current folder, as `find` writes them.
    """
    try:
        with open(list_file, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as e:
        raise InputError(f"--inputs-from {list_file}: cannot read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise InputError(f"--inputs-from {list_file}: not a UTF-8 text file ({e})") from e
    paths = []
    for line in lines:
        p = line.strip()
        if p and not p.startswith("#"):
            paths.append(p)
    if not paths:
        raise UsageError(f"--inputs-from {list_file}: the list names no input")
    return paths
