"""Input files: what kind each is, checked to exist and be readable before any work starts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError, UsageError

Kind = Literal["jsonl", "jsonl.gz", "parquet", "stdin"]


@dataclass(frozen=True)
class InputFile:
    path: str  # as given; "-" for stdin
    kind: Kind
    size: int
    mtime_ns: int

    @property
    def display(self) -> str:
        return "<stdin>" if self.kind == "stdin" else self.path

    def identity(self) -> dict[str, Any]:
        if self.kind == "stdin":
            return {"path": "-"}
        return {"path": os.path.realpath(self.path), "size": self.size, "mtime_ns": self.mtime_ns}


def detect_kind(path: str) -> Kind:
    if path == "-":
        return "stdin"
    name = path.lower()
    if name.endswith((".jsonl.gz", ".ndjson.gz", ".json.gz")):
        return "jsonl.gz"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise UsageError(
        f"{path}: unknown input format; use .jsonl, .jsonl.gz or .parquet (or - for JSONL on stdin)"
    )


def resolve_inputs(paths: list[str]) -> list[InputFile]:
    """Check that every input exists and is a readable file, before any work starts."""
    if not paths:
        raise UsageError("no input given: name one or more .jsonl, .jsonl.gz, .parquet files or -")
    if paths.count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    out: list[InputFile] = []
    for p in paths:
        if p == "-":
            out.append(InputFile("-", "stdin", 0, 0))
            continue
        # A missing path or a folder is an input problem whatever its name looks like.
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file")
        if os.path.isdir(p):
            raise InputError(
                f"{p}: is a directory; name the files instead (for example {p}/*.jsonl)"
            )
        kind = detect_kind(p)
        if not os.access(p, os.R_OK):
            raise InputError(f"{p}: not readable (check its permissions)")
        st = os.stat(p)
        out.append(InputFile(p, kind, st.st_size, st.st_mtime_ns))
    return out


def input_identity(inputs: list[InputFile]) -> list[dict[str, Any]]:
    return [f.identity() for f in inputs]
