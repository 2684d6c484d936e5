"""Titles and abstracts as plain text, the same way for every source.

Crossref-registered titles and abstracts (in OpenAlex works, Crossref's own JSON,
S2 and CSV exports of them) carry JATS/HTML inline markup and character
references: `<i>Escherichia coli</i>`, `CO<sub>2</sub>`, `<scp>dna</scp>`,
`<jats:p>`, `&amp;`, `&lt;`, `&#x2013;`. The model should see the text a reader
sees, so:

1. character references are decoded (`&amp;` -> `&`, `&#8211;` -> `–`), twice at most,
   which also undoes a doubled escape such as `&amp;lt;i&amp;gt;`;
2. tags of known markup vocabularies are removed: HTML/JATS inline tags (`i`, `b`,
   `sub`, `sup`, `sc`, `scp`, `italic`, `bold`, ...) with nothing in their place,
   block tags (`p`, `br`, `title`, `sec`, ...) with a space, and any tag with a
   `jats:`, `mml:` or other namespace prefix; the text inside is kept. A `<` that
   does not open such a tag (`p < 0.05`, `a<b`) stays. A heading `<jats:title>Abstract
   </jats:title>` that opens a Crossref abstract is removed with its text;
3. where anything was changed, whitespace runs become one space and the ends are
   trimmed.

Text with no `<` and no `&` is returned as it is, so clean records embed exactly as
before. PubMed XML is parsed by an XML parser (markup and entities already gone);
the same function still runs on its text, which changes nothing there.

Placeholders that exports put where a text is missing (`[No abstract available]`
from Scopus, `[Not Available].` from PubMed, ...) are treated as no text; the list
is PLACEHOLDERS below and in the README.
"""

from __future__ import annotations

import html
import re

INLINE_TAGS = [
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "big",
    "cite",
    "code",
    "del",
    "dfn",
    "em",
    "font",
    "i",
    "ins",
    "italic",
    "bold",
    "kbd",
    "mark",
    "monospace",
    "q",
    "roman",
    "s",
    "samp",
    "sans-serif",
    "sc",
    "scp",
    "small",
    "smallcaps",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "tt",
    "u",
    "underline",
    "overline",
    "var",
    "wbr",
    "inline-formula",
    "inline-graphic",
    "named-content",
    "styled-content",
    "ext-link",
    "xref",
    "email",
    "uri",
    "chem-struct-wrap",
    "tex-math",
    "math",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "mrow",
    "msub",
    "msup",
    "msubsup",
    "mfrac",
    "msqrt",
    "mroot",
    "mover",
    "munder",
    "munderover",
    "mstyle",
    "mspace",
    "mfenced",
    "semantics",
    "annotation",
]
BLOCK_TAGS = [
    "p",
    "br",
    "hr",
    "div",
    "title",
    "sec",
    "label",
    "list",
    "list-item",
    "def-list",
    "def-item",
    "term",
    "def",
    "abstract",
    "trans-abstract",
    "caption",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "fig",
    "boxed-text",
    "disp-formula",
    "disp-quote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "break",
    "section",
    "body",
    "article",
    "header",
    "footer",
]

_NAME = r"[A-Za-z][\w.-]*"
# A tag: a name (with an optional namespace prefix) and attributes that are all
# name="value" pairs, quoted. A `<` before bare words (`n<b then m>2`) is no tag.
TAG = re.compile(
    rf"<(/?)(?:({_NAME}):)?({_NAME})((?:\s+[\w:.-]+\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'))*)\s*(/?)>"
)
# Alternatives of one formula: TeX sources and MathML annotations are dropped with their
# content, so a formula is read once (its MathML text), not as `x2x_2`.
ALTERNATIVE = re.compile(
    r"<((?:[A-Za-z][\w.-]*:)?(?:annotation|annotation-xml|tex-math))"
    r"(?:\s+[\w:.-]+\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'))*\s*>.*?</\1\s*>",
    re.DOTALL,
)
DROPPED = frozenset({"annotation", "annotation-xml", "tex-math"})  # see pubmed.text_of
# A heading that Crossref abstracts open with: <jats:title>Abstract</jats:title>
HEADING = re.compile(
    r"^\s*<(?:jats:)?title>\s*(?:abstract|summary|graphical abstract)\s*[.:]?\s*</(?:jats:)?title>",
    re.IGNORECASE,
)
ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# The common case, removed by the regex engine alone: bare inline tags with no attributes.
SIMPLE_INLINE = re.compile(
    r"</?(?:i|b|u|em|strong|sub|sup|sc|scp|italic|bold|small|span|tt|"
    r"jats:italic|jats:bold|jats:sub|jats:sup|jats:sc|jats:underline)>"
)
COMMON_ENTITIES = {
    "&amp;": "&",
    "&lt;": "<",
    "&gt;": ">",
    "&quot;": '"',
    "&apos;": "'",
    "&#39;": "'",
    "&nbsp;": "\u00a0",
}
_INLINE = frozenset(INLINE_TAGS)
_BLOCK = frozenset(BLOCK_TAGS)

# Compared after lower-casing and trimming spaces, brackets and final punctuation.
PLACEHOLDERS = frozenset(
    {
        "no abstract available",
        "no abstract",
        "no abstract provided",
        "no abstract found",
        "abstract not available",
        "abstract is not available",
        "abstract unavailable",
        "abstract missing",
        "not available",
        "unavailable",
        "no title available",
        "no title",
        "untitled",
        "n/a",
        "na",
        "nan",
        "none",
        "null",
        "-",
    }
)
_TRIM = " \t\r\n[](){}.:;,"


def _tag(m: re.Match[str]) -> str:
    prefix, name = m.group(2), m.group(3).lower()
    if m.group(1) and m.group(4).strip():
        return m.group(0)  # a closing tag has no attributes: not markup
    if prefix is not None and prefix.lower() not in ("http", "https", "mailto"):
        return " " if name in _BLOCK else ""
    if name in _INLINE:
        return ""
    if name in _BLOCK:
        return " "
    return m.group(0)


def _decode(m: re.Match[str]) -> str:
    e = m.group(0)
    return COMMON_ENTITIES.get(e) or html.unescape(e)


def plain_text(s: str, tags: bool = True) -> str:
    """The text a reader sees: references decoded, known markup removed (see above).

    tags=False for text an XML parser already took the markup out of (PubMed): a `<`
    left there is the text's own (`a &lt;b and c&gt; d` in the file), never a tag."""
    if "<" not in s and "&" not in s:
        return s
    if not tags:
        if "&" not in s:
            return s
        out = ENTITY.sub(_decode, s)
        return s if out == s else " ".join(out.split())
    out = s
    if "&" in out:
        for ref, char in COMMON_ENTITIES.items():  # "&amp;" first: "&amp;lt;" is "<" too
            if ref in out:
                out = out.replace(ref, char)
        for _ in range(2):
            if "&" not in out:
                break
            out = ENTITY.sub(_decode, out)
    if "<" in out:
        out = SIMPLE_INLINE.sub("", HEADING.sub("", out, count=1))
        if "<" in out:
            out = ALTERNATIVE.sub("", out)
        if "<" in out:
            out = TAG.sub(_tag, out)
    if out == s:
        return s
    return " ".join(out.split())


def is_placeholder(s: str) -> bool:
    """Whether a text is an export's stand-in for a missing one ("[No abstract available]")."""
    if len(s) > 40:
        return False
    return s.strip(_TRIM).lower() in PLACEHOLDERS or (s.strip() != "" and not s.strip(_TRIM))
