"""One JSON document per file (CORE dumps, possibly pretty-printed): the file is one record.

A document that is a list of records under `items` (Crossref's public data files,
`{"items": [...]}`, and its API responses, `{"message": {"items": [...]}}`) is those
records instead, each at its position in the list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from .compressed import READ_ERRORS, open_decompressed
from .files import InputFile
from .slicing import Cursor, Slice
from .validate import RAW_PREVIEW_CHARS, Item, RecordValidator, Rejected

ARRAY_HINT = "JSON lines need one object per line: convert with `jq -c '.[]' FILE > FILE.jsonl`"


def load_document(f: InputFile) -> object:
    """The parsed document; InputError naming the problem when it is not one JSON value."""
    try:
        with open_decompressed(f) as fh:
            data = fh.read()
    except READ_ERRORS as e:
        raise InputError(f"{f.display}: cannot read ({e}); the file is truncated or corrupt") from e
    try:
        return json.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except (ValueError, RecursionError) as e:
        raise InputError(
            f"{f.display}: a pretty-printed JSON document that does not parse as one value "
            f"({e}); {ARRAY_HINT}, or `jq -c . FILE` for several objects"
        ) from e


def document_items(obj: object) -> list[Any] | None:
    """The records of a Crossref-style `{"items": [...]}` document, or None for a record."""
    if isinstance(obj, dict):
        inner = obj.get("message") if isinstance(obj.get("message"), dict) else obj
        items = inner.get("items")  # type: ignore[union-attr]
        if isinstance(items, list) and (not items or isinstance(items[0], dict)):
            return items
    return None


def read_document(
    f: InputFile, sl: Slice, resume: int | None, validator: RecordValidator
) -> Iterator[tuple[Item, Cursor]]:
    obj = load_document(f)
    items = document_items(obj) if validator.id_name(obj) is None else None  # type: ignore[arg-type]
    if items is not None:
        for n, item in enumerate(items):
            if resume is not None and n < resume:
                continue
            raw = json.dumps(item, ensure_ascii=False, default=str)[:RAW_PREVIEW_CHARS]
            yield (
                validator.validate(item, f.display, f"item {n + 1}", raw, sl.file_index, n),
                Cursor(sl.file_index, n + 1),
            )
        return
    if resume:
        return
    raw = json.dumps(obj, ensure_ascii=False, default=str)[:RAW_PREVIEW_CHARS]
    if isinstance(obj, list):
        yield (
            Rejected(
                f.display, "line 1", None, f"a JSON array; {ARRAY_HINT}", raw, sl.file_index, 0
            ),
            Cursor(sl.file_index, 1),
        )
        return
    yield (
        validator.validate(obj, f.display, "line 1", raw, sl.file_index, 0),
        Cursor(sl.file_index, 1),
    )
