"""Opening an input as a stream of its decompressed bytes: plain, gzip, zstd, xz or bzip2.

This is the one place a byte stream is opened; every reader goes through it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import IO, cast

import zstandard

from .files import InputFile

# What a truncated or corrupt compressed stream raises while it is read.
READ_ERRORS = (EOFError, OSError, zlib.error, zstandard.ZstdError, lzma.LZMAError)


def open_decompressed(f: InputFile) -> IO[bytes]:
    """The file's bytes after decompression, buffered for readline()."""
    if f.compression == "gzip":
        return cast(IO[bytes], gzip.open(f.path, "rb"))
    if f.compression == "zstd":
        raw = open(f.path, "rb")
        reader = zstandard.ZstdDecompressor().stream_reader(
            raw, read_across_frames=True, closefd=True
        )
        return cast(IO[bytes], io.BufferedReader(reader, buffer_size=1 << 20))  # type: ignore[arg-type]
    if f.compression == "xz":  # .xz and legacy .lzma, several streams read one after another
        return cast(IO[bytes], io.BufferedReader(lzma.open(f.path, "rb"), buffer_size=1 << 20))  # type: ignore[arg-type]
    if f.compression == "bzip2":  # multi-stream files (pbzip2) included
        return cast(IO[bytes], io.BufferedReader(bz2.open(f.path, "rb"), buffer_size=1 << 20))  # type: ignore[arg-type]
    return open(f.path, "rb", buffering=1 << 20)
