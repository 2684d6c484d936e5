"""Folders, quoted globs and `--inputs-from` lists, expanded to a sorted list of files.

A folder means every data file under it, recursively, in sorted path order; hidden
files and folders (`.name`) and the tool's own `_name` files are skipped, as are
files whose names are not data files (an OpenAlex `manifest`, PubMed `.md5`).
Expansion happens before anything else, so ranks, resume and the input identity
see exactly the files a user could have named one by one.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator

from ..errors import InputError, UsageError
from .files import is_data_file

GLOB_CHARS = frozenset("*?[")


def expand_paths(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        if p == "-" or os.path.isfile(p):
            out.append(p)
        elif os.path.isdir(p):
            found = sorted(walk_data_files(p))
            if not found:
                raise InputError(
                    f"{p}: is a directory with no data files in it (.jsonl, .json, .csv, "
                    ".tsv, .xml, .parquet, .gz, .zst); name the files instead"
                )
            out += found
        elif GLOB_CHARS & set(p):
            found = sorted(
                f for f in glob.glob(p, recursive=True) if os.path.isfile(f) and _visible(f)
            )
            if not found:
                raise InputError(f"{p}: the pattern matches no file")
            out += found
        else:
            out.append(p)  # missing: reported with the other checks
    return out


def walk_data_files(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not name.startswith((".", "_")) and is_data_file(path):
                yield path


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
