"""Input files: what kind each is (by content, then by name), checked before any work starts.

A kind is the record format: JSON lines, one JSON document per file, CSV, TSV,
PubMed XML or Parquet. Compression (gzip, zstd, xz, bzip2) is separate and found
from the file's first bytes, so `part_000.gz`, `x.json.gz`, `x.jsonl.zst` and
`x.json.xz` all read as JSON lines. Folders, `--inputs-from` lists and quoted globs expand to files in
resolve.py, so everything after it sees a plain list of files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError, UsageError

log = logging.getLogger("specter2")

Kind = Literal["jsonl", "json", "csv", "tsv", "xml", "parquet", "stdin"]
Compression = Literal["", "gzip", "zstd", "xz", "bzip2"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"
PARQUET_MAGIC = b"PAR1"
COMPRESSED_SUFFIXES = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".zst": "zstd",
    ".zstd": "zstd",
    ".xz": "xz",
    ".bz2": "bzip2",
}
FORMAT_SUFFIXES: dict[str, Kind] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",  # JSON lines, or one document per file (told apart by content)
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xml": "xml",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class InputFile:
    path: str  # as given; "-" for stdin
    kind: Kind
    size: int
    mtime_ns: int
    compression: Compression = ""
    delimiter: str = ""  # CSV/TSV field separator (sniffed, or --delimiter)

    @property
    def display(self) -> str:
        return "<stdin>" if self.kind == "stdin" else self.path

    @property
    def splittable(self) -> bool:
        """Whether ranks may share this file (plain JSON lines by bytes, Parquet by row group)."""
        return self.kind == "parquet" or (self.kind == "jsonl" and not self.compression)

    def identity(self) -> dict[str, Any]:
        if self.kind == "stdin":
            return {"path": "-"}
        return {"path": os.path.realpath(self.path), "size": self.size, "mtime_ns": self.mtime_ns}


def split_name(path: str) -> tuple[str, Compression]:
    """(name without a compression suffix, compression the name says)."""
    name = os.path.basename(path).lower()
    for suffix, comp in COMPRESSED_SUFFIXES.items():
        if name.endswith(suffix):
            return name[: -len(suffix)], comp  # type: ignore[return-value]
    return name, ""


def kind_from_name(name: str) -> Kind | None:
    for suffix, kind in FORMAT_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return None


ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tbz2", ".txz", ".zip", ".7z")
TAR_HINT = "an archive of files, not a stream of records: extract it first (tar -xf FILE)"


def is_archive(path: str) -> bool:
    base, _ = split_name(path)
    return base.endswith(ARCHIVE_SUFFIXES) or os.path.basename(path).lower().endswith(
        ARCHIVE_SUFFIXES
    )


def is_data_file(path: str) -> bool:
    """Whether a file found in a folder is one to read (by its name)."""
    if is_archive(path):
        return False
    base, comp = split_name(path)
    return kind_from_name(base) is not None or bool(comp)


def looks_like_json(path: str, head: bytes) -> bool:
    """Whether a file with no suffix at all (`111757`) opens with a JSON object: a record
    file. A file with another suffix (`.txt`) is not guessed at."""
    if "." in os.path.basename(path):
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"{")


def sniff_compression(head: bytes) -> Compression:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC) and head[3:4] in b"123456789" and head[3:4]:
        return "bzip2"
    return ""


def detect_kind(path: str) -> Kind:
    """The record format of a file, from its first bytes and then its name."""
    return detect(path)[0]


def detect(path: str) -> tuple[Kind, Compression]:
    if path == "-":
        return "stdin", ""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    if is_archive(path):
        raise UsageError(f"{path}: {TAR_HINT}, and give the folder")
    if head.startswith(PARQUET_MAGIC):
        return "parquet", ""
    comp = sniff_compression(head)
    base, named = split_name(path)
    if named and not comp:
        log.info("%s: not %s-compressed (whatever its name says); reading it as plain", path, named)
    kind = kind_from_name(base)
    if kind is None:
        if comp:
            return "jsonl", comp  # part_000.gz, S2 shards: compressed JSON lines
        if looks_like_json(path, head):
            return "jsonl", ""  # a record file with no suffix (JSON lines or one document)
        raise UsageError(
            f"{path}: unknown input format; use .jsonl/.json, .csv, .tsv, .xml (PubMed) or "
            ".parquet, optionally compressed with gzip, zstd, xz or bzip2 (or - for JSONL on stdin)"
        )
    return kind, comp


def input_identity(inputs: list[InputFile]) -> list[dict[str, Any]]:
    return [f.identity() for f in inputs]
