"""PubMed XML (baseline and update files), streamed with iterparse and cleared as it goes.

Each PubmedArticle becomes one record: id = PMID (an integer), title = the text
of ArticleTitle including the text inside inline markup (<i>, <sub>, MathML),
abstract = the text of the Article's AbstractText sections joined by single
spaces, without their labels (BACKGROUND, METHODS, ...). OtherAbstract
(translations, publisher abstracts) is left out. A record's position is its
article number in the file. DeleteCitation entries (update files) are skipped
and counted; book articles are skipped too.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from .compressed import READ_ERRORS, open_decompressed
from .files import InputFile
from .slicing import Cursor, Slice
from .validate import Item, RecordValidator, preview

log = logging.getLogger("specter2")

ARTICLE = "PubmedArticle"
SKIPPED = ("PubmedBookArticle", "DeleteCitation")


def text_of(el: ET.Element | None) -> str | None:
    """All text inside an element, markup removed, whitespace runs collapsed."""
    if el is None:
        return None
    return " ".join("".join(el.itertext()).split())


def article_fields(el: ET.Element) -> tuple[int | str | None, str | None, str | None]:
    """(PMID, title, abstract) of one PubmedArticle element."""
    pmid_text = text_of(el.find("MedlineCitation/PMID"))
    pmid: int | str | None = pmid_text or None
    if pmid_text and pmid_text.isdigit():
        pmid = int(pmid_text)
    art = el.find("MedlineCitation/Article")
    title = text_of(art.find("ArticleTitle")) if art is not None else None
    sections = art.findall("Abstract/AbstractText") if art is not None else []
    parts = [t for t in (text_of(s) for s in sections) if t]
    return pmid, title, " ".join(parts) if parts else None


def iter_articles(f: InputFile, counts: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """{"pmid", "title", "abstract"} for each article, in file order; memory stays flat."""
    counts = counts if counts is not None else {}
    fh = open_decompressed(f)
    try:
        events = ET.iterparse(fh, events=("start", "end"))
        _, root = next(events)
        if root.tag != "PubmedArticleSet":
            raise InputError(
                f"{f.display}: XML input must be a PubMed file (<PubmedArticleSet>), "
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
            if el.tag == ARTICLE:
                pmid, title, abstract = article_fields(el)
                yield {"pmid": pmid, "title": title, "abstract": abstract}
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
        item = validator.validate(
            obj, f.display, f"article {n + 1}", preview(obj), sl.file_index, n
        )
        yield item, Cursor(sl.file_index, n + 1)
    if counts.get("deleted"):
        validator.deleted_citations += counts["deleted"]
        log.info("%s: %d deleted citations skipped", f.display, counts["deleted"])
    if counts.get("other"):
        log.info("%s: %d book articles or other entries skipped", f.display, counts["other"])
