"""A look at the first bytes and records of every input, before the model loads.

Tells a JSON-lines file from a JSON array or a pretty-printed document, and
names the problems a user can fix at once: no id field in the records, missing
Parquet columns, a text field that no record has (a titles-only embedding).
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Iterator
from typing import Any

from zstandard import ZstdError

from ..config import ID_FIELDS, FieldSettings
from ..errors import InputError
from ..objstore.inputs import parquet_source
from ..objstore.urls import is_url
from .compressed import READ_ERRORS, open_decompressed
from .document import ARRAY_HINT
from .fields import has_field
from .files import InputFile

log = logging.getLogger("specter2")

HEAD_BYTES = 1 << 16
# The start of a Crossref data file ({"items": [...]}) or API response ({"status": "ok",
# "message-type": "work-list", ...}), too long to parse from its head.
ITEMS_START = re.compile(r'\{\s*"(?:items"\s*:\s*\[|status"\s*:\s*"ok"\s*,\s*"message-type")')
FIRST_WINDOW = 1_000  # records looked at for a field that no record has


def json_layout(f: InputFile) -> str:
    """'jsonl' or 'json' (one document per file); InputError for a JSON array or for
    pretty-printed objects one after another. Anything else is JSON lines, whose bad
    lines are rejected one by one."""
    try:
        with open_decompressed(f) as fh:
            head = fh.read(HEAD_BYTES + 1)
    except READ_ERRORS:
        return "jsonl"  # the reader reports where it breaks
    whole = len(head) <= HEAD_BYTES  # the file is all here
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace").strip()
    first, nl, rest = text.partition("\n")
    if _parses(first) and (not nl or rest.strip()) and not first.lstrip().startswith("["):
        if not (nl and rest.strip()) and _items_document(_loads(first)):
            return "json"  # one line holding {"items": [...]} (Crossref)
        return "jsonl"  # the first line is a whole record
    if text.startswith("["):
        if _parses(first) and rest.strip():
            return "jsonl"  # a one-line array, then more lines: JSON lines with a bad line
        value = _loads(text) if whole else None
        if (
            whole and isinstance(value, list) and (nl or any(isinstance(v, dict) for v in value))
        ) or (not whole and not _parses(first)):
            raise InputError(f"{f.display}: this is a JSON array, not JSON lines; {ARRAY_HINT}")
        return "jsonl"
    if not whole and not nl and ITEMS_START.match(text):
        return "json"  # a long one-line {"items": [...]} document (Crossref)
    if not text.startswith("{") or not nl:
        return "jsonl"
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        # a document longer than the head, or a broken first line of JSON lines
        return "json" if not whole and first.strip() == "{" else "jsonl"
    if "\n" not in text[:end]:
        return "jsonl"  # the first object ends on the first line: a bad line of JSON lines
    if not text[end:].strip():
        return "json"
    if _raw_decodes(text[end:].lstrip()):
        raise InputError(
            f"{f.display}: pretty-printed JSON objects one after another; JSON lines need "
            "one object per line: convert with `jq -c . FILE > FILE.jsonl`"
        )
    return "jsonl"


def _items_document(obj: object) -> bool:
    from .document import document_items

    return (
        isinstance(obj, dict)
        and not any(k in obj for k in ID_FIELDS)
        and document_items(obj) is not None
    )


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _raw_decodes(text: str) -> bool:
    try:
        json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        return False
    return True


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def first_records(f: InputFile, n: int, fields: FieldSettings) -> list[dict[str, Any]]:
    """Up to n records (JSON objects) from the start of a file, cheaply; [] for stdin."""
    try:
        return list(_first(f, n, fields))
    except (InputError, EOFError, OSError, zlib.error, ZstdError, ValueError):
        return []  # the reader names the problem, with its location


def _first(f: InputFile, n: int, fields: FieldSettings) -> Iterator[dict[str, Any]]:
    import itertools

    if f.kind == "jsonl":
        with open_decompressed(f) as fh:
            size = 0
            for line in itertools.islice(fh, 20 * n):
                size += len(line)
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(obj, dict):
                    yield obj
                    n -= 1
                if n <= 0 or size > 1 << 24:
                    return
    elif f.kind == "json":
        from .document import document_items, load_document

        obj = load_document(f)
        items = document_items(obj)
        has_id = isinstance(obj, dict) and (
            fields.id_field in obj if fields.id_field else any(k in obj for k in ID_FIELDS)
        )
        if items is not None and not has_id:
            yield from (i for i in items[:n] if isinstance(i, dict))
        elif isinstance(obj, dict):
            yield obj
    elif f.kind in ("csv", "tsv"):
        from .csvfile import csv_dicts

        yield from csv_dicts(f, n)
    elif f.kind == "xml":
        from .pubmed import iter_articles

        for art in itertools.islice(iter_articles(f), n):
            yield {
                fields.id_field or "pmid": art["pmid"],
                fields.title_field: art["title"],
                fields.abstract_field: art["abstract"],
            }
    elif f.kind == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(parquet_source(f.path))
        if pf.metadata.num_row_groups:
            yield from next(pf.iter_batches(batch_size=n, row_groups=[0]), None).to_pylist()  # type: ignore[union-attr]


def check_first_records(
    inputs: list[InputFile], fields: FieldSettings, query_mode: bool, peeked: Any = None
) -> None:
    """Fail on a record layout the settings cannot read; warn when text fields are missing."""
    from .validate import RecordValidator

    probe = RecordValidator(fields, query_mode, "[SEP]", "any")
    window: list[dict[str, Any]] = []
    id_names: set[str] = set()
    s2: dict[str, list[InputFile]] = {"papers": [], "abstracts": []}
    for f in inputs:
        if f.kind == "parquet":
            from .parquet import parquet_columns, parquet_schema

            parquet_columns(f.path, parquet_schema(f.path).names, probe)
        if f.kind == "stdin":
            recs = [peeked] if isinstance(peeked, dict) else []
        else:
            recs = first_records(f, FIRST_WINDOW if len(window) < FIRST_WINDOW else 1, fields)
        names = {probe.id_name(r) for r in recs if r}
        if recs and names == {None} and any(recs):
            looked = fields.id_field or ", ".join(ID_FIELDS)
            raise InputError(
                f"{f.display}: the records have no id field (looked for: {looked}); the "
                f"first record's fields are: {_names(recs[0])}. Name the id with "
                "--id-field, or use --preset for a known corpus."
            )
        id_names |= {n for n in names if n}
        window += recs[: max(0, FIRST_WINDOW - len(window))]
        part = s2_dataset(recs[0]) if recs else None
        if part:
            s2[part].append(f)
    if s2["papers"] and s2["abstracts"] and not query_mode:
        raise InputError(s2_join_hint(s2["papers"], s2["abstracts"]))
    _log_fields(fields, query_mode, id_names)
    if window and not query_mode:
        for kind, name in (("title", fields.title_field), ("abstract", fields.abstract_field)):
            if not any(has_field(r, name, kind) for r in window):
                log.warning(
                    "no record among the first %d has a %r field: embedding without %ss. "
                    "The records have: %s. Use --%s-field or --preset to name it.",
                    len(window),
                    name,
                    kind,
                    _names(*window[:20]),
                    kind,
                )


# Fields only S2's `papers` / `abstracts` dataset records carry (besides corpusid).
S2_PAPERS_FIELDS = frozenset(
    {"externalids", "s2fieldsofstudy", "publicationvenueid", "isopenaccess"}
)
S2_ABSTRACTS_FIELDS = frozenset({"openaccessinfo"})


def s2_dataset(obj: dict[str, Any]) -> str | None:
    """'papers' or 'abstracts' for a record of those S2 datasets, else None."""
    if not isinstance(obj, dict) or "corpusid" not in obj:
        return None
    if "title" in obj and "abstract" not in obj and S2_PAPERS_FIELDS & obj.keys():
        return "papers"
    if "abstract" in obj and "title" not in obj and S2_ABSTRACTS_FIELDS & obj.keys():
        return "abstracts"
    return None


def s2_join_hint(papers: list[InputFile], abstracts: list[InputFile]) -> str:
    """The refusal for S2 `papers` and `abstracts` given together, with the join command."""

    def where(fs: list[InputFile], others: list[InputFile]) -> str:
        """A quoted glob of the folder when its files are exactly this dataset's shards,
        else every file, quoted (s2join takes several per side)."""
        import os
        import shlex

        dirs = {os.path.dirname(f.path) or "." for f in fs}
        if len(dirs) == 1 and not is_url(fs[0].path):
            d = dirs.pop()
            try:
                names = {n for n in os.listdir(d) if not n.startswith((".", "_"))}
            except OSError:
                names = set()
            mine = {os.path.basename(f.path) for f in fs}
            theirs = {os.path.basename(f.path) for f in others if os.path.dirname(f.path) == d}
            if names == mine and not theirs & names:
                return shlex.quote(os.path.join(d, "*"))
        return " ".join(shlex.quote(f.path) for f in fs)

    return (
        f"{papers[0].display} holds S2 `papers` records (titles) and {abstracts[0].display} "
        "S2 `abstracts` records: embedded as they are, a paper would get its title or its "
        "abstract, not both. Join them on corpusid first (out of core, flat memory), then "
        "embed the result:\n"
        f"  python -m specter2_cli.s2join --papers {where(papers, abstracts)} --abstracts "
        f"{where(abstracts, papers)} -o s2_joined.parquet --temp-dir /scratch/tmp\n"
        "  specter2 embed s2_joined.parquet --preset s2 -o OUT\n"
        "(the join needs pip install 'specter2-cli[s2]')"
    )


def _names(*objs: dict[str, Any]) -> str:
    names = list(dict.fromkeys(k for o in objs for k in o))
    return ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")


def _log_fields(fields: FieldSettings, query_mode: bool, id_names: set[str]) -> None:
    preset = f" (preset {fields.preset})" if fields.preset else ""
    id_name = fields.id_field or " / ".join(sorted(n for n in id_names if n)) or "auto"
    if query_mode:
        log.info("fields%s: id=%s, query=%s", preset, id_name, fields.text_field)
    else:
        log.info(
            "fields%s: id=%s, title=%s, abstract=%s",
            preset,
            id_name,
            fields.title_field,
            fields.abstract_field,
        )
