"""One parsed object in, a Record (id + model text) or a Rejected (where + why) out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..config import ID_FIELDS, FieldSettings
from ..text import format_paper
from .clean import is_placeholder, plain_text
from .fields import BadField, title_and_abstract

RAW_PREVIEW_CHARS = 2_000


@dataclass(slots=True)
class Record:
    id: int | str
    text: str
    file_index: int
    pos: int
    location: Any = None  # "line 12" / "row 7" (lazily rendered): where to point a later reject
    flags: int = 0  # NO_TITLE | NO_ABSTRACT | PLACEHOLDER | BOOK_ARTICLE, counted once kept
    raw: str = ""  # the record as read (a preview), for a later reject; dropped once kept


NO_TITLE, NO_ABSTRACT, PLACEHOLDER, BOOK_ARTICLE = 1, 2, 4, 8

# Reject reasons by the start of their text, for the summary's `rejected_by_reason`.
REASON_KEYS = (
    ("duplicate id", "duplicate_id"),
    ("invalid JSON", "invalid_json"),
    ("invalid UTF-8", "invalid_utf8"),
    ("a JSON array", "invalid_json"),
    ("expected a JSON object", "not_an_object"),
    ("missing id", "missing_id"),
    ("empty id", "missing_id"),
    ("PMID ", "bad_id"),
    ("id ", "bad_id"),
    ("integer id", "bad_id"),
    ("no text", "no_text"),
    ("missing or empty query", "no_text"),
    ("expected ", "malformed_row"),
    ("field ", "bad_field"),
    ("query field", "bad_field"),
)


def reason_key(reason: str) -> str:
    """A short, stable name for the kind of a reject reason ("duplicate_id", ...)."""
    for prefix, key in REASON_KEYS:
        if reason.startswith(prefix):
            return key
    return "other"


@dataclass
class InputCounts:
    """What the readers saw, for the run summary. Text counts are of records kept (not
    rejected later as duplicates); rejects are counted by reason_key."""

    no_title: int = 0
    no_abstract: int = 0
    placeholders: int = 0  # records with a placeholder title or abstract, taken as missing
    deleted_citations: int = 0  # PubMed DeleteCitation PMIDs read (update files)
    book_articles: int = 0  # PubMed book articles kept
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def kept(self, r: Record) -> None:
        f = r.flags
        if f:
            self.no_title += f & NO_TITLE
            self.no_abstract += (f & NO_ABSTRACT) >> 1
            self.placeholders += (f & PLACEHOLDER) >> 2
            self.book_articles += (f & BOOK_ARTICLE) >> 3
        r.raw = ""

    def rejected(self, r: Rejected) -> None:
        key = reason_key(r.reason)
        self.rejected_by_reason[key] = self.rejected_by_reason.get(key, 0) + 1


@dataclass(slots=True)
class Rejected:
    source: str
    location: Any  # "row 7", or a lazily counted "line 12"
    id: int | str | None
    reason: str
    raw: str
    file_index: int
    pos: int
    empty: bool = False  # no text at all in a corpus dump: set aside, never stops the run

    def __post_init__(self) -> None:
        # Keep only a preview: a window may hold many rejects, each from a huge line.
        if len(self.raw) > RAW_PREVIEW_CHARS:
            self.raw = self.raw[:RAW_PREVIEW_CHARS]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "location": str(self.location),
            "id": self.id,
            "reason": self.reason,
            "raw": self.raw,
        }

    def message(self) -> str:
        """`FILE:LINE: reason` for JSONL, `FILE: row N: reason` for Parquet."""
        where = str(self.location)
        if where.startswith("line "):
            return f"{self.source}:{where[5:]}: {self.reason}"
        return f"{self.source}: {where}: {self.reason}"


Item = Record | Rejected


def preview(obj: Any) -> str:
    """The start of an object as JSON, for the rejects file."""
    try:
        return json.dumps(obj, ensure_ascii=False, default=str)[:RAW_PREVIEW_CHARS]
    except (TypeError, ValueError):
        return repr(obj)[:RAW_PREVIEW_CHARS]


class RecordValidator:
    """Turns one parsed object into a Record (formatted text) or a Rejected with a reason."""

    def __init__(
        self,
        fields: FieldSettings,
        query_mode: bool,
        sep_token: str,
        id_type: str,
        text_format: str = "card",
    ) -> None:
        self.fields = fields
        self.text_format = text_format  # "card" or "scirepeval", see text.format_paper
        self.query_mode = query_mode
        self.sep = sep_token
        self.id_type = id_type  # "int" or "string" (resolved), "any" for the in-memory API
        self.counts = InputCounts()  # for the summary (see InputCounts)
        # A record with neither title nor abstract in a corpus dump (an OpenAlex work with
        # null title and abstract, a Crossref component with "title": []) is an empty
        # record, not a broken one: set aside (`no_text`) without stopping the run.
        self.empty_ok = fields.preset is not None

    def id_of(self, obj: dict[str, Any]) -> tuple[Any, str | None]:
        """(value, field name) of the record's id; value None when absent."""
        if self.fields.id_field is not None:
            return obj.get(self.fields.id_field), self.fields.id_field
        for name in ID_FIELDS:
            if name in obj and obj[name] is not None:
                return obj[name], name
        return None, None

    def id_name(self, obj: dict[str, Any]) -> str | None:
        """The id field a record carries (even if null), or None when it has none."""
        if self.fields.id_field is not None:
            return self.fields.id_field if self.fields.id_field in obj else None
        return next((n for n in ID_FIELDS if n in obj), None)

    def check_id(self, value: Any) -> tuple[int | str | None, str | None]:
        """(normalised id, None) or (None, reason)."""
        looked = self.fields.id_field or ", ".join(ID_FIELDS)
        if value is None:
            return None, f"missing id (looked for: {looked}); set --id-field"
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None, f"id must be a string or an integer, got {json_type(value)}"
        if isinstance(value, str):
            if not value.strip():
                return None, "empty id"
            bad = unicode_problem(value)
            if bad:
                return None, f"id is not valid Unicode: {bad}"
        if self.id_type == "any":  # in-memory API: ids are returned as given
            return value, None
        if self.id_type == "int":
            if isinstance(value, str):
                return None, (
                    f"id {value!r} is a string but this job's ids are integers; "
                    "rerun with --id-type string"
                )
            if not -(2**63) <= value < 2**63:
                return None, f"integer id {value} does not fit in 64 bits; use --id-type string"
            return value, None
        return str(value), None

    def validate(
        self,
        obj: Any,
        source: str,
        location: Any,
        raw: str,
        file_index: int,
        pos: int,
        parsed: bool = False,
    ) -> Item:
        """parsed=True: the text came out of an XML parser (PubMed), markup already gone."""

        def reject(reason: str, rid: Any = None) -> Rejected:
            return Rejected(source, location, rid, reason, raw, file_index, pos)

        if not isinstance(obj, dict):
            return reject(f"expected a JSON object, got {json_type(obj)}")
        value, _ = self.id_of(obj)
        rid, why = self.check_id(value)
        if rid is None:
            shown = value if isinstance(value, int | str) and not isinstance(value, bool) else None
            if isinstance(shown, str) and unicode_problem(shown):
                shown = None  # could not be written to the rejects file as it is
            return reject(why or "bad id", shown)
        text, why, flags = self.text_of(obj, not parsed)
        if text is None:
            r = reject(why or "no text", rid)
            r.empty = (self.empty_ok or parsed) and why is not None and why.startswith("no text")
            return r
        return Record(rid, text, file_index, pos, location, flags, raw[:RAW_PREVIEW_CHARS])

    def text_of(self, obj: dict[str, Any], tags: bool = True) -> tuple[str | None, str | None, int]:
        """(model text, None, flags) or (None, reason, 0).

        Titles and abstracts are made plain text (clean.plain_text) and a placeholder
        (clean.PLACEHOLDERS) counts as missing; queries are taken as they are."""
        if self.query_mode:
            name = self.fields.text_field
            q = obj.get(name)
            if q is not None and not isinstance(q, str):
                return (
                    None,
                    f"query field {name!r} (--text-field) is {json_type(q)}, expected a string",
                    0,
                )
            if not q or not q.strip():
                return (
                    None,
                    f"missing or empty query field {name!r} (name another with --text-field)",
                    0,
                )
            bad = unicode_problem(q)
            if bad:
                return None, f"field {name!r} is not valid Unicode: {bad}", 0
            return q, None, 0
        try:
            title_v, abstract_v = title_and_abstract(
                obj,
                self.fields.title_field,
                self.fields.abstract_field,
                self.fields.preset == "crossref",
            )
        except BadField as e:
            return None, str(e), 0
        fields = ((self.fields.title_field, title_v), (self.fields.abstract_field, abstract_v))
        for name, v in fields:
            if v is not None and not isinstance(v, str):
                return None, f"field {name!r} is {json_type(v)}, expected a string or null", 0
        flags = 0
        title, abstract = title_v, abstract_v
        if title:
            title = plain_text(title, tags)
            if is_placeholder(title):
                title, flags = None, PLACEHOLDER
        if abstract:
            abstract = plain_text(abstract, tags)
            if is_placeholder(abstract):
                abstract, flags = None, PLACEHOLDER
        if not (title and title.strip()) and not (abstract and abstract.strip()):
            return (
                None,
                (
                    f"no text: {self.fields.title_field!r} and {self.fields.abstract_field!r} "
                    "are both missing or empty (a placeholder such as [No abstract available] is empty)"
                ),
                0,
            )
        if not (title and title.strip()):
            flags |= NO_TITLE
        if not (abstract and abstract.strip()):
            flags |= NO_ABSTRACT
        text = format_paper(title, abstract, self.sep, self.text_format)
        if not text.isascii() and unicode_problem(text):
            for name, v in fields:
                bad = unicode_problem(v) if v else None
                if bad:
                    return None, f"field {name!r} is not valid Unicode: {bad}", 0
        return text, None, flags


def unicode_problem(s: str) -> str | None:
    """Why `s` cannot be encoded as UTF-8 (a lone surrogate from a broken \\u escape), or None.

    JSON allows escapes such as "\\ud800" that decode to half a surrogate pair; the
    tokenizer and Parquet both refuse such strings, so the record is rejected here.
    """
    if s.isascii():
        return None
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        return (
            f"lone surrogate \\u{ord(s[e.start]):04x} at character {e.start} "
            "(a broken \\u escape in the JSON)"
        )
    return None


def json_type(v: Any) -> str:
    """'an integer', 'a string', ...: the JSON type of a value, for messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a floating-point number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__
