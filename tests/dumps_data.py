"""Records shaped like the real dumps' awkward cases, with the text a reader sees.

Layouts follow the owners' documentation: CORE's provider folders (JSON documents
beside a `manifest.xml` sitemap) and its 2018 `*.json.xz` files, OpenAlex works
with Crossref's inline markup, PubMed book articles and vernacular titles, Excel
CSV exports with `;`. Each writer returns the expected {"id", "title", "abstract"}
records, written out here by hand, not computed with the tool's code.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path
from typing import Any

Rec = dict[str, Any]

SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://core.ac.uk/download/pdf/1.pdf</loc><lastmod>2020-12-20</lastmod></url>
</urlset>
"""


def write_core_dump(root: Path) -> tuple[list[Rec], int]:
    """CORE 2020-2023 provider folders plus CORE 2018 `.json.xz` and a `.bz2` part.

    Returns (expected records in sorted path order, number of files not read)."""
    expected: list[Rec] = []
    docs = [
        ("dump/1/4.json", {"coreId": "4", "title": "Provider one", "abstract": "Text."}),
        ("dump/1/9.json", {"coreId": "9", "title": "Second &amp; last", "abstract": None}),
        ("dump/22/100.json", {"coreId": "100", "title": "Two", "abstract": "A <i>b</i> c."}),
    ]
    plain = {"4": ("Provider one", "Text."), "9": ("Second & last", None), "100": ("Two", "A b c.")}
    for rel, doc in docs:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(doc, indent=2))
    skipped = 0
    for provider in ("1", "22"):
        (root / "dump" / provider / "manifest.xml").write_text(SITEMAP)
        skipped += 1
    (root / "dump" / "README.txt").write_text("CORE dataset\n")
    (root / "dump" / "LICENSE").write_text("ODC-By\n")
    (root / "dump" / "core_2018.json.xz.md5").write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    skipped += 3
    rows_xz = [
        {"coreId": "5000", "title": "From the 2018 dump", "abstract": "xz lines."},
        {"coreId": "5001", "title": "Another", "abstract": "<p>Para one.</p><p>Two.</p>"},
    ]
    rows_bz = [{"coreId": "7000", "title": "bzip2 part", "abstract": "Multi stream."}]
    lines = "".join(json.dumps(r) + "\n" for r in rows_xz).encode()
    (root / "dump" / "core_2018.json.xz").write_bytes(lzma.compress(lines))
    blines = "".join(json.dumps(r) + "\n" for r in rows_bz).encode()
    half = len(blines) // 2  # two bzip2 streams, as pbzip2 writes them
    (root / "dump" / "more.jsonl.bz2").write_bytes(
        bz2.compress(blines[:half]) + bz2.compress(blines[half:])
    )
    plain |= {
        "5000": ("From the 2018 dump", "xz lines."),
        "5001": ("Another", "Para one. Two."),
        "7000": ("bzip2 part", "Multi stream."),
    }
    # sorted path order: dump/1/..., dump/22/..., dump/core_2018.json.xz, dump/more.jsonl.bz2
    for cid in ("4", "9", "100", "5000", "5001", "7000"):
        t, a = plain[cid]
        expected.append({"id": cid, "title": t, "abstract": a})
    return expected, skipped


MATH = (
    '<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mi>B</mml:mi>'
    "<mml:mo>\u2192</mml:mo><mml:mi>K</mml:mi></mml:math>"
)

# (OpenAlex work fields, plain title, plain abstract)
OPENALEX = [
    (
        {"title": "Role of <scp>dna</scp> methylation in <i>Arabidopsis thaliana</i>"},
        "Role of dna methylation in Arabidopsis thaliana",
        None,
    ),
    (
        {"title": "CO<sub>2</sub> reduction on Cu&lt;111&gt; surfaces"},
        "CO2 reduction on Cu<111> surfaces",
        None,
    ),
    (
        {"title": "Effects of temperature &amp; pressure: a <b>review</b>"},
        "Effects of temperature & pressure: a review",
        None,
    ),
    (
        {"title": None, "display_name": "Na<sup>+</sup>/K<sup>+</sup>-ATPase in &#x3b1;-cells"},
        "Na+/K+-ATPase in \u03b1-cells",
        None,
    ),
    (
        {"title": "&amp;lt;i&amp;gt;Drosophila&amp;lt;/i&amp;gt; wing development"},
        "Drosophila wing development",
        None,
    ),
    ({"title": f"Observation of {MATH} decays"}, "Observation of B\u2192K decays", None),
    (
        {
            "title": "Where p < 0.05 and a<b stay",
            "abstract_inverted_index": {"We": [0], "&amp;": [1], "they": [2]},
        },
        "Where p < 0.05 and a<b stay",
        "We & they",
    ),
    (
        {
            "title": "Crossref abstract",
            "abstract": "<jats:title>Abstract</jats:title><jats:p>We measured "
            "<jats:italic>in vivo</jats:italic> uptake.</jats:p><jats:p>Second.</jats:p>",
        },
        "Crossref abstract",
        "We measured in vivo uptake. Second.",
    ),
]


def write_openalex_markup(path: Path) -> list[Rec]:
    lines, expected = [], []
    for n, (fields, title, abstract) in enumerate(OPENALEX):
        wid = f"https://openalex.org/W{n + 10}"
        lines.append(json.dumps({"id": wid, "abstract_inverted_index": None, **fields}))
        expected.append({"id": wid, "title": title, "abstract": abstract})
    path.write_bytes(gzip.compress("".join(x + "\n" for x in lines).encode()))
    return expected


PUBMED_BOOKS = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">
<PubmedArticleSet>
<PubmedBookArticle>
  <BookDocument>
    <PMID Version="1">20301295</PMID>
    <ArticleIdList><ArticleId IdType="bookaccession">NBK1435</ArticleId></ArticleIdList>
    <Book>
      <Publisher><PublisherName>University of Washington, Seattle</PublisherName></Publisher>
      <BookTitle book="gene">GeneReviews<sup>&#xae;</sup></BookTitle>
      <PubDate><Year>1993</Year></PubDate>
      <Medium>Internet</Medium>
    </Book>
    <LocationLabel Type="chapter">Alpha-Thalassemia</LocationLabel>
    <ArticleTitle book="gene" part="a-thal">Alpha-Thalassemia</ArticleTitle>
    <Language>eng</Language>
    <Abstract>
      <AbstractText Label="CLINICAL CHARACTERISTICS">Alpha-thalassemia (<i>&#x3b1;</i>-thalassemia) has two forms.</AbstractText>
      <AbstractText Label="DIAGNOSIS/TESTING">Diagnosis is by testing.</AbstractText>
      <CopyrightInformation>Copyright &#xa9; 1993-2024, University of Washington.</CopyrightInformation>
    </Abstract>
    <Sections><Section><SectionTitle>Summary</SectionTitle></Section></Sections>
  </BookDocument>
  <PubmedBookData><PublicationStatus>ppublish</PublicationStatus></PubmedBookData>
</PubmedBookArticle>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">31000001</PMID>
    <Article PubModel="Print">
      <ArticleTitle></ArticleTitle>
      <VernacularTitle>\u00c9tude <i>in vitro</i> des cellules.</VernacularTitle>
      <Abstract><AbstractText>Nous avons \u00e9tudi\u00e9.</AbstractText></Abstract>
    </Article>
  </MedlineCitation>
</PubmedArticle>
<PubmedBookArticle>
  <BookDocument>
    <PMID Version="1">28722890</PMID>
    <Book>
      <BookTitle book="statpearls">StatPearls</BookTitle>
    </Book>
    <Abstract><AbstractText>A whole-book entry.</AbstractText></Abstract>
  </BookDocument>
</PubmedBookArticle>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="2">31000002</PMID>
    <Article><ArticleTitle>[Not Available].</ArticleTitle>
      <Abstract><AbstractText>Only the abstract is real.</AbstractText></Abstract>
    </Article>
  </MedlineCitation>
</PubmedArticle>
<DeleteCitation><PMID Version="1">29000001</PMID></DeleteCitation>
</PubmedArticleSet>
"""

PUBMED_BOOKS_EXPECTED = [
    {
        "id": 20301295,
        "title": "Alpha-Thalassemia",
        "abstract": "Alpha-thalassemia (\u03b1-thalassemia) has two forms. Diagnosis is by testing.",
    },
    {
        "id": 31000001,
        "title": "\u00c9tude in vitro des cellules.",
        "abstract": "Nous avons \u00e9tudi\u00e9.",
    },
    {"id": 28722890, "title": "StatPearls", "abstract": "A whole-book entry."},
    {"id": 31000002, "title": None, "abstract": "Only the abstract is real."},
]


def pubmed_with_pmids(pmids: list[str]) -> str:
    """A PubMed file with one article per PMID text, titled after its position."""
    arts = "".join(
        f'<PubmedArticle><MedlineCitation><PMID Version="1">{p}</PMID><Article>'
        f"<ArticleTitle>Article {n + 1}</ArticleTitle></Article></MedlineCitation>"
        "</PubmedArticle>\n"
        for n, p in enumerate(pmids)
    )
    return f'<?xml version="1.0"?>\n<PubmedArticleSet>\n{arts}</PubmedArticleSet>\n'


# An Excel export in a locale whose list separator is `;` (Scopus columns), with a BOM and CRLF.
SCOPUS_CSV = (
    "\ufeffAuthors;Title;Year;Abstract;EID\r\n"
    'Smith J.;"Heat &amp; mass transfer in <i>porous</i> media";2019;'
    '"We model flow; the results hold.";2-s2.0-1\r\n'
    "Doe A.;No abstract here;2020;[No abstract available];2-s2.0-2\r\n"
    'Roe B.;"Multi\r\nline";2021;"Line one\r\nline two";2-s2.0-3\r\n'
    "Bad R.;Too;many;fields;here;2-s2.0-4\r\n"
    "Poe C.;Fourth;2022;Plain text.;2-s2.0-5\r\n"
)
SCOPUS_EXPECTED = [
    {
        "id": "2-s2.0-1",
        "title": "Heat & mass transfer in porous media",
        "abstract": "We model flow; the results hold.",
    },
    {"id": "2-s2.0-2", "title": "No abstract here", "abstract": None},
    {"id": "2-s2.0-3", "title": "Multi\r\nline", "abstract": "Line one\r\nline two"},
    {"id": "2-s2.0-5", "title": "Fourth", "abstract": "Plain text."},
]
SCOPUS_BAD_LINE = 7  # the physical line of the row with too many fields


def write_crossref(path: Path) -> list[Rec]:
    """A Crossref public data file: {"items": [...]} of works, gzip, as in the annual dump."""
    items = [
        {
            "DOI": "10.1002/anie.201915678",
            "title": ["Photocatalytic CO<sub>2</sub> Reduction &amp; H<sub>2</sub> Evolution"],
            "abstract": "<jats:title>Abstract</jats:title><jats:p>We report <jats:italic>in "
            "situ</jats:italic> studies.</jats:p>",
            "type": "journal-article",
        },
        {"DOI": "10.1000/no-abstract", "title": ["", "Second title"], "type": "journal-article"},
        {"DOI": "10.1000/untitled", "title": [], "abstract": "<jats:p>Only text.</jats:p>"},
    ]
    path.write_bytes(gzip.compress(json.dumps({"items": items}).encode()))  # one line
    return [
        {
            "id": "10.1002/anie.201915678",
            "title": "Photocatalytic CO2 Reduction & H2 Evolution",
            "abstract": "We report in situ studies.",
        },
        {"id": "10.1000/no-abstract", "title": "Second title", "abstract": None},
        {"id": "10.1000/untitled", "title": None, "abstract": "Only text."},
    ]


# Comparisons in real titles and abstracts (arXiv LaTeX-free math, PubMed's &lt;/&gt;):
# none of them holds a tag, so none may lose a character.
MATH_SNIPPETS = [
    "If n<b then the sum over all primes is finite and m>2.",
    "for all 0<s and t>1",
    "where p<q and r>s hold",
    "a<b and c>d",
    "x<i and i>0",
    "1<u, v>0",
    "the bound |q|<a + b>|p| is sharp",
    "p < 0.05 and OR > 1.5",
    "for k<n/2, a_k>0; <x, y> = 0",
    "n <= m, m >= 2, a<=b>=c",
]

# One formula written twice (MathML and its TeX annotation; JATS alternatives), read once.
FORMULA_TWICE = [
    (
        "Tr(<mml:math><mml:semantics><mml:msub><mml:mi>x</mml:mi><mml:mn>2</mml:mn></mml:msub>"
        '<mml:annotation encoding="application/x-tex">x_2</mml:annotation></mml:semantics>'
        "</mml:math>) bound",
        "Tr(x2) bound",
    ),
    (
        "Mass <jats:inline-formula><jats:alternatives><jats:tex-math>$m_1$</jats:tex-math>"
        "<mml:math><mml:msub><mml:mi>m</mml:mi><mml:mn>1</mml:mn></mml:msub></mml:math>"
        "</jats:alternatives></jats:inline-formula> fixed",
        "Mass m1 fixed",
    ),
]

PUBMED_PLACEHOLDER_TITLE = """<?xml version="1.0" encoding="utf-8"?>
<PubmedArticleSet>
<PubmedArticle><MedlineCitation><PMID Version="1">32000001</PMID>
  <Article><ArticleTitle>[Not Available].</ArticleTitle>
    <Abstract><AbstractText>If n&lt;b then m&gt;2 and 0&lt;s and t&gt;1.</AbstractText></Abstract>
    <VernacularTitle>Traitement <i>in situ</i> des l\u00e9sions.</VernacularTitle>
  </Article>
</MedlineCitation></PubmedArticle>
<PubmedArticle><MedlineCitation><PMID Version="1">32000002</PMID>
  <Article><ArticleTitle>Tr(<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:semantics><mml:msub><mml:mi>x</mml:mi><mml:mn>2</mml:mn></mml:msub><mml:annotation encoding="application/x-tex">x_2</mml:annotation></mml:semantics></mml:math>) bound</ArticleTitle>
    <VernacularTitle>Ignored</VernacularTitle>
  </Article>
</MedlineCitation></PubmedArticle>
<PubmedBookArticle><BookDocument><PMID Version="1">32000003</PMID>
  <Book><BookTitle>[Not Available]</BookTitle></Book>
  <ArticleTitle>[Not Available].</ArticleTitle>
  <VernacularTitle>Kapitel eins</VernacularTitle>
  <Abstract><AbstractText>Buch.</AbstractText></Abstract>
</BookDocument></PubmedBookArticle>
<PubmedBookArticle><BookDocument><PMID Version="1">32000003</PMID>
  <ArticleTitle>A duplicate of the book article above</ArticleTitle>
</BookDocument></PubmedBookArticle>
</PubmedArticleSet>
"""

PUBMED_PLACEHOLDER_EXPECTED = [
    {
        "id": 32000001,
        "title": "Traitement in situ des l\u00e9sions.",
        "abstract": "If n<b then m>2 and 0<s and t>1.",
    },
    {"id": 32000002, "title": "Tr(x2) bound", "abstract": None},
    {"id": 32000003, "title": "Kapitel eins", "abstract": "Buch."},
]
