"""Field presets for known corpora, and the title/abstract of a record in their formats.

OpenAlex works have no `abstract` but an `abstract_inverted_index` (word ->
positions); it is rebuilt into text here, each word at its positions, joined by
single spaces. Their `title` may be null where `display_name` is set. Crossref works have a list
of titles (`"title": ["..."]`): with --preset crossref the first non-empty one is the
title (elsewhere a list is a bad field).
"""

from __future__ import annotations

from typing import Any, Literal

IdType = Literal["auto", "int", "string"]

# preset -> (id field, title field, abstract field, id type)
PRESETS: dict[str, tuple[str, str, str, IdType]] = {
    "arxiv": ("id", "title", "abstract", "string"),
    "openalex": ("id", "title", "abstract", "string"),
    "s2": ("corpusid", "title", "abstract", "int"),
    "pubmed": ("pmid", "title", "abstract", "int"),
    "core": ("coreId", "title", "abstract", "string"),
    "beir": ("_id", "title", "text", "string"),
    "scirepeval": ("doc_id", "title", "abstract", "string"),
    "crossref": ("DOI", "title", "abstract", "string"),
}

INVERTED_INDEX = "abstract_inverted_index"
TITLE_FALLBACK = "display_name"


class BadField(ValueError):
    """A field holds something that is not text (the message names the field)."""


def invert_abstract(index: Any) -> str | None:
    """The text of an OpenAlex abstract_inverted_index: words by position, single spaces.

    None stays None (no abstract). Words that share a position keep their order in
    the index, so nothing is dropped.
    """
    if index is None:
        return None
    if not isinstance(index, dict):
        raise BadField(f"field {INVERTED_INDEX!r} must be an object of word -> positions")
    pairs: list[tuple[int, int, str]] = []
    for n, (word, positions) in enumerate(index.items()):
        if not isinstance(positions, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in positions
        ):
            raise BadField(
                f"field {INVERTED_INDEX!r}: positions of {word!r} must be a list of integers"
            )
        pairs += [(p, n, word) for p in positions]
    pairs.sort()
    return " ".join(w for _, _, w in pairs)


def title_and_abstract(
    obj: dict[str, Any], title_field: str, abstract_field: str, title_lists: bool = False
) -> tuple[Any, Any]:
    """The raw title and abstract values of a record, with the OpenAlex fallbacks; with
    `title_lists` (--preset crossref), a list of titles gives its first non-empty one."""
    title = obj.get(title_field)
    if title_lists and isinstance(title, list) and all(isinstance(t, str) for t in title):
        title = next((t for t in title if t.strip()), None)  # Crossref: a list of titles
    if title is None and isinstance(obj.get(TITLE_FALLBACK), str):
        title = obj[TITLE_FALLBACK]
    if abstract_field in obj or INVERTED_INDEX not in obj:
        return title, obj.get(abstract_field)
    return title, invert_abstract(obj[INVERTED_INDEX])


def has_field(obj: dict[str, Any], name: str, kind: str) -> bool:
    """Whether a record carries the title/abstract field at all (fallbacks count)."""
    if name in obj:
        return True
    return (kind == "title" and TITLE_FALLBACK in obj) or (
        kind == "abstract" and INVERTED_INDEX in obj
    )
