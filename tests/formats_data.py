"""Records written in the documented formats of real corpora, with their JSONL equivalents.

Each writer returns the list of equivalent records {"id", "title", "abstract"}
that the tool should embed from what it wrote (the texts are written out here by
hand, not computed with the tool's code).
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import zstandard

Rec = dict[str, Any]


def write_openalex(root: Path) -> list[Rec]:
    """works/updated_date=*/part_000.gz plus a manifest, as in the snapshot."""
    works = [
        {
            "id": "https://openalex.org/W2741809807",
            "title": "The state of OA",
            "display_name": "The state of OA",
            "abstract_inverted_index": {
                "Despite": [0],
                "growing": [1],
                "interest": [2],
                "in": [3, 6],
                "Open": [4],
                "Access": [5],
                "the": [7],
                "literature,": [8],
            },
            "publication_year": 2018,
        },
        {
            "id": "https://openalex.org/W2",
            "title": None,
            "display_name": "Only a display name",
            "abstract_inverted_index": None,
        },
        {
            "id": "https://openalex.org/W3",
            "title": "Words at two places",
            "abstract_inverted_index": {"b": [1, 3], "a": [0, 2]},
        },
    ]
    expected = [
        {
            "id": works[0]["id"],
            "title": "The state of OA",
            "abstract": "Despite growing interest in Open Access in the literature,",
        },
        {"id": works[1]["id"], "title": "Only a display name", "abstract": None},
        {"id": works[2]["id"], "title": "Words at two places", "abstract": "a b a b"},
    ]
    for i, part in enumerate([works[:2], works[2:]]):
        d = root / f"updated_date=2024-01-0{i + 1}"
        d.mkdir(parents=True)
        lines = "".join(json.dumps(w) + "\n" for w in part)
        (d / "part_000.gz").write_bytes(gzip.compress(lines.encode()))
    (root / "manifest").write_text(json.dumps({"entries": []}))
    return expected


PUBMED = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">
<PubmedArticleSet>
<PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
        <PMID Version="1">38012345</PMID>
        <Article PubModel="Print-Electronic">
            <Journal><Title>Journal of Example Medicine</Title></Journal>
            <ArticleTitle>Role of <i>Escherichia coli</i> in CO<sub>2</sub> fixation.</ArticleTitle>
            <Abstract>
                <AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND"><i>E. coli</i> is a model organism.</AbstractText>
                <AbstractText Label="METHODS" NlmCategory="METHODS">We grew cells at 37&#xb0;C with <b>high</b> CO<sub>2</sub>.</AbstractText>
                <AbstractText Label="RESULTS" NlmCategory="RESULTS">Fixation rose (<i>p</i> &lt; 0.05).</AbstractText>
                <CopyrightInformation>&#xa9; 2024 The Authors.</CopyrightInformation>
            </Abstract>
        </Article>
        <OtherAbstract Type="Publisher" Language="spa"><AbstractText>Resumen.</AbstractText></OtherAbstract>
    </MedlineCitation>
    <PubmedData><ArticleIdList><ArticleId IdType="pubmed">38012345</ArticleId></ArticleIdList></PubmedData>
</PubmedArticle>
<PubmedArticle>
    <MedlineCitation Status="PubMed-not-MEDLINE" Owner="NLM">
        <PMID Version="1">1000002</PMID>
        <Article PubModel="Print">
            <ArticleTitle>[Treatment of hypertension in the elderly].</ArticleTitle>
            <VernacularTitle>Behandlung der Hypertonie im Alter.</VernacularTitle>
        </Article>
    </MedlineCitation>
</PubmedArticle>
<PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
        <PMID Version="1">1000003</PMID>
        <Article><ArticleTitle>Unlabelled.</ArticleTitle>
            <Abstract><AbstractText>One part.</AbstractText><AbstractText>Two part.</AbstractText></Abstract>
        </Article>
    </MedlineCitation>
</PubmedArticle>
<DeleteCitation>
    <PMID Version="1">29000001</PMID>
    <PMID Version="1">29000002</PMID>
</DeleteCitation>
</PubmedArticleSet>
"""

PUBMED_EXPECTED = [
    {
        "id": 38012345,
        "title": "Role of Escherichia coli in CO2 fixation.",
        "abstract": "E. coli is a model organism. We grew cells at 37\u00b0C with high CO2. "
        "Fixation rose (p < 0.05).",
    },
    {"id": 1000002, "title": "[Treatment of hypertension in the elderly].", "abstract": None},
    {"id": 1000003, "title": "Unlabelled.", "abstract": "One part. Two part."},
]


def write_pubmed(path: Path) -> list[Rec]:
    path.write_bytes(gzip.compress(PUBMED.encode()) if path.suffix == ".gz" else PUBMED.encode())
    return [dict(r) for r in PUBMED_EXPECTED]


def write_core(root: Path) -> list[Rec]:
    """One JSON object per file in nested folders, no trailing newline, some pretty-printed."""
    docs = [
        {
            "doi": None,
            "coreId": "228783",
            "title": "My repository is being aggregated",
            "authors": ["Knoth, Petr"],
            "abstract": "Usage statistics are used.",
            "fullText": None,
        },
        {"doi": "10.1/x", "coreId": "5", "title": "No abstract here", "abstract": None},
        {"coreId": "77", "title": "Compact one", "abstract": "On a single line."},
    ]
    paths = [
        root / "a" / "01" / "228783.json",
        root / "a" / "02" / "5.json",
        root / "b" / "77.json",
    ]
    for doc, p, indent in zip(docs, paths, [2, 4, None], strict=True):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(doc, indent=indent))
    (root / "a" / ".hidden.json").write_text("not json at all")
    (root / "_SUCCESS.json").write_text("{}")
    return [{"id": d["coreId"], "title": d["title"], "abstract": d["abstract"]} for d in docs]


def write_csv(path: Path, delimiter: str = ",") -> list[Rec]:
    recs = [
        {
            "id": "0704.0010",
            "title": 'A "quoted", title',
            "abstract": "line one\nline two, with comma",
        },
        {"id": "math/0406003", "title": "Plain", "abstract": ""},
        {"id": "3", "title": "Third", "abstract": "x\r\ny"},
    ]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(["id", "title", "abstract", "year"])
        for r in recs:
            w.writerow([r["id"], r["title"], r["abstract"], "2007"])
    return [dict(r, abstract=r["abstract"] or None) for r in recs]


def write_zstd_jsonl(path: Path, recs: list[Rec]) -> list[Rec]:
    data = "".join(json.dumps(r) + "\n" for r in recs).encode()
    # two frames, as pzstd or concatenated files write them
    c = zstandard.ZstdCompressor()
    half = len(data) // 2
    cut = data.index(b"\n", half) + 1
    path.write_bytes(c.compress(data[:cut]) + c.compress(data[cut:]))
    return recs


def write_s2(root: Path) -> list[Rec]:
    """papers and abstracts datasets: gzip JSON lines shards named only .gz."""
    papers = [
        {
            "corpusid": 223588394,
            "externalids": {
                "MAG": "3032046382",
                "CorpusId": "223588394",
                "DOI": "10.3760/x",
                "ArXiv": None,
            },
            "title": "Attaching Importance",
            "year": 2006,
        },
        {
            "corpusid": 2,
            "externalids": {"DOI": None, "ArXiv": "0704.0001"},
            "title": "Second",
            "year": 2007,
        },
        {"corpusid": 3, "externalids": {}, "title": "Third, no abstract", "year": None},
    ]
    abstracts = [
        {
            "corpusid": 223588394,
            "openaccessinfo": {"externalids": {"MAG": None}, "status": None},
            "abstract": "Verhandeling voorgelegd.",
            "updated": "2022-02-07T21:57:13.353Z",
        },
        {"corpusid": 2, "openaccessinfo": None, "abstract": "Two lines\nhere.", "updated": "x"},
    ]
    for name, rows in (("papers", papers), ("abstracts", abstracts)):
        for i, part in enumerate([rows[:1], rows[1:]]):
            d = root / name
            d.mkdir(parents=True, exist_ok=True)
            data = "".join(json.dumps(r) + "\n" for r in part).encode()
            (d / f"20260710_071652_0015{i}_3g69z_007b2c4d.gz").write_bytes(gzip.compress(data))
    by_id = {a["corpusid"]: a["abstract"] for a in abstracts}
    return [
        {"id": p["corpusid"], "title": p["title"], "abstract": by_id.get(p["corpusid"])}
        for p in papers
    ]


def write_equivalent(path: Path, recs: list[Rec]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path
