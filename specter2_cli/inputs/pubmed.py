"""PubMed XML (baseline and update files), streamed with iterparse and cleared as it goes.

Each PubmedArticle (or MedlineCitation, in the MedlineCitationSet files MEDLINE
shipped before 2017) becomes one record: id = PMID (an integer), title = the text
of ArticleTitle including the text inside inline markup (<i>, <sub>, MathML), or
the VernacularTitle when ArticleTitle is empty; abstract = the text of the
Article's AbstractText sections joined by single spaces, without their labels
(BACKGROUND, METHODS, ...). OtherAbstract (translations, publisher abstracts) is
left out. Each PubmedBookArticle (GeneReviews, StatPearls chapters) becomes one
record the same way from its BookDocument: its ArticleTitle (the chapter), else
the Book's BookTitle, and its Abstract's sections; they are counted in the run
summary (`book_articles`). A record's position is its entry number in the file.
DeleteCitation entries (update files) are skipped and counted. A PMID that is
not ASCII digits (or does not fit 64 bits) is a reject naming the entry.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from .clean import DROPPED, is_placeholder
from .compressed import READ_ERRORS, open_decompressed
from .files import InputFile
from .slicing import Cursor, Slice
from .validate import BOOK_ARTICLE, Item, Record, RecordValidator, Rejected, preview

log = logging.getLogger("specter2")

ROOT = "PubmedArticleSet"
ROOTS = (ROOT, "MedlineCitationSet")  # the second: MEDLINE files before 2017
ARTICLE = "PubmedArticle"
CITATION = "MedlineCitation"  # a child of MedlineCitationSet
BOOK = "PubmedBookArticle"
PMID_TEXT = re.compile(r"[0-9]{1,19}")  # ASCII only: "²".isdigit() is True
ROOT_SNIFF_BYTES = 1 << 20


def _texts(el: ET.Element) -> Iterator[str]:
    """itertext() without formula alternatives (TeX sources, MathML annotations)."""
    if str(el.tag).rpartition("}")[2].rpartition(":")[2] in DROPPED:
        return
    if el.text:
        yield el.text
    for child in el:
        yield from _texts(child)
        if child.tail:
            yield child.tail


def text_of(el: ET.Element | None) -> str | None:
    """All text inside an element, markup removed, whitespace runs collapsed; a formula
    given twice (MathML and its TeX annotation, <alternatives>) is read once."""
    if el is None:
        return None
    return " ".join("".join(_texts(el)).split())


def _title(*els: ET.Element | None) -> str | None:
    """The first of the titles that is a real one: NLM puts `[Not Available].` in
    ArticleTitle for non-English articles whose title is only in VernacularTitle."""
    first = None
    for el in els:
        t = text_of(el)
        if t and not is_placeholder(t):
            return t
        first = first or t
    return first  # a placeholder, taken as missing by the validator (and counted)


def parse_pmid(text: str | None) -> int | str | None:
    """The PMID as an integer; the text itself when it is not one (rejected later)."""
    if not text:
        return None
    if PMID_TEXT.fullmatch(text) and int(text) < 2**63:
        return int(text)
    return text


def _abstract(doc: ET.Element | None) -> str | None:
    sections = doc.findall("Abstract/AbstractText") if doc is not None else []
    parts = [t for t in (text_of(s) for s in sections) if t]
    return " ".join(parts) if parts else None


def article_fields(el: ET.Element) -> tuple[int | str | None, str | None, str | None]:
    """(PMID, title, abstract) of one PubmedArticle or PubmedBookArticle element."""
    if el.tag == BOOK:
        doc = el.find("BookDocument")
        if doc is None:
            return None, None, None
        title = _title(
            doc.find("ArticleTitle"), doc.find("Book/BookTitle"), doc.find("VernacularTitle")
        )
        return parse_pmid(text_of(doc.find("PMID"))), title, _abstract(doc)
    cit = el if el.tag == CITATION else el.find(CITATION)
    if cit is None:
        return None, None, None
    pmid = parse_pmid(text_of(cit.find("PMID")))
    art = cit.find("Article")
    title = None
    if art is not None:
        title = _title(art.find("ArticleTitle"), art.find("VernacularTitle"))
    return pmid, title, _abstract(art)


def not_pubmed_reason(f: InputFile) -> str | None:
    """Why an XML file is not PubMed (its root element; empty; not well-formed or not
    readable before a root element), or None when its root is PubMed's."""
    parser: Any = ET.XMLPullParser(events=("start",))
    try:
        with open_decompressed(f) as fh:
            left, seen = ROOT_SNIFF_BYTES, 0
            while left > 0:
                chunk = fh.read(min(left, 1 << 16))
                if not chunk:
                    if not seen:
                        return "an empty XML file"
                    parser.close()  # raises on a document that ended before its root
                    return "XML with no root element"
                left -= len(chunk)
                seen += len(chunk)
                parser.feed(chunk)
                for _, el in parser.read_events():
                    tag = str(el.tag).rpartition("}")[2]
                    if el.tag in ROOTS:
                        return None
                    return f"XML but not PubMed (its root element is <{tag}>)"
    except ET.ParseError as e:
        return f"not well-formed XML at line {e.position[0]} ({e})"
    except READ_ERRORS as e:
        return f"cannot be read ({e})"
    return None


def iter_articles(f: InputFile, counts: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """{"pmid", "title", "abstract", "book"} for each article, in file order; memory stays flat."""
    counts = counts if counts is not None else {}
    fh = open_decompressed(f)
    try:
        events = ET.iterparse(fh, events=("start", "end"))
        _, root = next(events)
        if root.tag not in ROOTS:
            raise InputError(
                f"{f.display}: XML input must be a PubMed file (<{ROOT}>), "
                f"this one starts with <{root.tag}>"
            )
        depth = 0
        for event, el in events:
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth != 0:  # only the children of the root
                continue
            if el.tag in (ARTICLE, BOOK, CITATION):
                pmid, title, abstract = article_fields(el)
                yield {"pmid": pmid, "title": title, "abstract": abstract, "book": el.tag == BOOK}
            elif el.tag == "DeleteCitation":
                counts["deleted"] = counts.get("deleted", 0) + len(el.findall("PMID"))
            else:
                counts["other"] = counts.get("other", 0) + 1
            root.clear()
    except ET.ParseError as e:
        raise InputError(
            f"{f.display}:{e.position[0]}: not well-formed XML ({e}); the file is truncated "
            "or corrupt. Finished shards are kept: repair or re-download it and rerun."
        ) from e
    except READ_ERRORS as e:
        raise InputError(
            f"{f.display}: cannot read ({e}); the file is truncated or corrupt. Finished "
            "shards are kept: repair or re-download it and rerun to continue."
        ) from e
    finally:
        fh.close()


def read_pubmed(
    f: InputFile, sl: Slice, resume: int | None, validator: RecordValidator
) -> Iterator[tuple[Item, Cursor]]:
    """(record or reject, cursor after it) for each article of the whole file."""
    flds = validator.fields
    id_key = flds.id_field or "pmid"
    counts: dict[str, int] = {}
    for n, art in enumerate(iter_articles(f, counts)):
        if resume is not None and n < resume:
            continue
        obj = {id_key: art["pmid"], flds.title_field: art["title"]}
        obj[flds.abstract_field] = art["abstract"]
        where = f"{'book article' if art['book'] else 'article'} {n + 1}"
        pmid = art["pmid"]
        if isinstance(pmid, str) and validator.id_type == "int":
            shown = pmid if len(pmid) <= 40 else pmid[:40] + "..."
            item: Item = Rejected(
                f.display,
                where,
                None,
                f"PMID {shown!r} is not a PubMed id (ASCII digits, at most 19)",
                preview(obj),
                sl.file_index,
                n,
            )
        else:
            item = validator.validate(
                obj, f.display, where, preview(obj), sl.file_index, n, parsed=True
            )
            if art["book"] and isinstance(item, Record):
                item.flags |= BOOK_ARTICLE  # counted once kept (not a duplicate)
        yield item, Cursor(sl.file_index, n + 1)
    if counts.get("deleted"):
        validator.counts.deleted_citations += counts["deleted"]
        log.info("%s: %d deleted citations skipped", f.display, counts["deleted"])
    if counts.get("other"):
        log.info("%s: %d entries other than articles skipped", f.display, counts["other"])
