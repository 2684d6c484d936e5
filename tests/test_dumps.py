"""Real dumps' folders and awkward records: every record read, from the text a reader sees.

Reader-level checks compare each record's model text with the model card's
`title + [SEP] + (abstract or "")` of hand-written plain text; one check per kind
of file embeds and compares with the equivalent JSON lines.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from specter2_cli import s2join
from specter2_cli.api import embed_files
from specter2_cli.cli import app
from specter2_cli.config import EmbedSettings, FieldSettings, ModelSettings
from specter2_cli.errors import InputError
from specter2_cli.inputs import (
    Record,
    RecordStream,
    RecordValidator,
    Rejected,
    check_inputs_readable,
    plan_slices,
    resolve_id_type,
    resolve_inputs,
)
from specter2_cli.inputs.clean import plain_text
from specter2_cli.inputs.validate import PLACEHOLDER
from specter2_cli.model.encoder import Encoder
from specter2_cli.model.loader import load_encoder
from tests import dumps_data as dd
from tests import formats_data as fd
from tests.helpers import read_output

EXIT_INPUT = 3
runner = CliRunner()


def card(r: dict[str, Any]) -> str:
    return (r["title"] or "") + "[SEP]" + (r["abstract"] or "")


def read(
    paths: list[Path], delimiter: str | None = None, **fields: Any
) -> tuple[list[Record | Rejected], RecordValidator]:
    files = resolve_inputs([str(p) for p in paths], delimiter)
    fs = FieldSettings(**fields)
    v = RecordValidator(fs, False, "[SEP]", resolve_id_type(files, fs))
    return [item for item, _ in RecordStream(files, plan_slices(files, 0, 1), v)], v


def records(items: list[Record | Rejected]) -> list[tuple[Any, str]]:
    return [(r.id, r.text) for r in items if isinstance(r, Record)]


@pytest.fixture(scope="module")
def encoder(tiny_models: dict[str, Path]) -> Encoder:
    return load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        )
    )


class Captured(logging.Handler):
    """The specter2 logger's messages (whatever the CLI set its propagation to)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> list[str]:
        log = logging.getLogger("specter2")
        self.level = log.level
        log.setLevel(logging.INFO)  # setLevel, not .level =: it clears isEnabledFor's cache
        log.addHandler(self)
        return self.messages

    def __exit__(self, *exc: object) -> None:
        log = logging.getLogger("specter2")
        log.removeHandler(self)
        log.setLevel(self.level)


def no_model(tmp_path: Path) -> list[str]:
    """Model options that would fail to load (exit 4): an exit 3 shows the check came first."""
    return ["--base-model", str(tmp_path / "no-such-model"), "--offline", "--no-progress"]


# ---------------------------------------------------------------- folders of real dumps


def test_core_dump_folder_reads_every_record_and_lists_the_rest(tmp_path: Path) -> None:
    """Provider folders with manifest.xml sitemaps, README, LICENSE, .md5, a .json.xz and a
    two-stream .bz2: all records read, in path order; the other files logged and counted."""
    expected, n_skipped = dd.write_core_dump(tmp_path)
    with Captured() as messages:
        files = resolve_inputs([str(tmp_path / "dump")])
    assert len(files.skipped) == n_skipped
    line = [m for m in messages if "not read" in m]
    assert len(line) == 1 and "manifest.xml (XML but not PubMed" in line[0], line
    items, _ = read([tmp_path / "dump"])
    assert records(items) == [(r["id"], card(r)) for r in expected]


def test_core_dump_embeds_like_the_equivalent_jsonl(encoder: Encoder, tmp_path: Path) -> None:
    expected, n_skipped = dd.write_core_dump(tmp_path)
    s = EmbedSettings(model=encoder.settings, shard_size=4, sort_window=3)
    summary = embed_files([str(tmp_path / "dump")], tmp_path / "got", encoder=encoder, settings=s)
    ref = fd.write_equivalent(tmp_path / "equivalent.jsonl", expected)
    embed_files([str(ref)], tmp_path / "ref", encoder=encoder, settings=s)
    got, want = read_output(tmp_path / "got"), read_output(tmp_path / "ref")
    assert list(got) == list(want) == [r["id"] for r in expected]
    for k, v in want.items():
        assert (got[k] == v).all()
    assert summary.skipped_files == n_skipped


@pytest.mark.parametrize("layout", ["only-manifests", "named-manifest"])
def test_nothing_readable_is_an_input_error_before_the_model_loads(
    tmp_path: Path, layout: str
) -> None:
    (tmp_path / "core" / "1").mkdir(parents=True)
    manifest = tmp_path / "core" / "1" / "manifest.xml"
    manifest.write_text(dd.SITEMAP)
    (tmp_path / "core" / "README.txt").write_text("x")
    target = tmp_path / "core" if layout == "only-manifests" else manifest
    r = runner.invoke(app, ["embed", str(target), "-o", str(tmp_path / "o"), *no_model(tmp_path)])
    assert r.exit_code == EXIT_INPUT, r.output
    assert "manifest.xml" in r.output and "<urlset>" in r.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_s2_papers_and_abstracts_unjoined_are_refused_with_the_join_command(
    tmp_path: Path,
) -> None:
    fd.write_s2(tmp_path / "s2")
    r = runner.invoke(
        app, ["embed", str(tmp_path / "s2"), "-o", str(tmp_path / "o"), *no_model(tmp_path)]
    )
    assert r.exit_code == EXIT_INPUT, r.output
    out = " ".join(r.output.split())
    assert "python -m specter2_cli.s2join --papers" in out
    assert str(tmp_path / "s2" / "papers") in out and str(tmp_path / "s2" / "abstracts") in out
    # each dataset alone is read (titles only / abstracts only are a user's choice)
    items, _ = read([tmp_path / "s2" / "papers"], id_field="corpusid")
    assert len(records(items)) == 3


# ---------------------------------------------------------------- plain text per source


def test_openalex_titles_are_plain_text(tmp_path: Path) -> None:
    expected = dd.write_openalex_markup(tmp_path / "part_000.gz")
    items, _ = read([tmp_path / "part_000.gz"])
    assert records(items) == [(r["id"], card(r)) for r in expected]


def test_pubmed_book_articles_vernacular_titles_and_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "pubmed25n1300.xml.gz"
    path.write_bytes(gzip.compress(dd.PUBMED_BOOKS.encode()))
    items, v = read([path])
    want = dd.PUBMED_BOOKS_EXPECTED
    assert records(items) == [(r["id"], card(r)) for r in want]
    for r in items:
        if isinstance(r, Record):
            v.counts.kept(r)  # as the pipeline does once a record is not a duplicate
    assert v.counts.book_articles == 2 and v.counts.deleted_citations == 1


@pytest.mark.parametrize(
    "bad", ["\u00b2", "\u2460", "9" * 5000, "12\u0663", "99999999999999999999"]
)
def test_pubmed_pmid_that_is_not_ascii_digits_is_a_reject_naming_the_article(
    tmp_path: Path, bad: str
) -> None:
    path = tmp_path / "x.xml"
    path.write_text(dd.pubmed_with_pmids(["101", bad, "103"]), encoding="utf-8")
    items, _ = read([path])
    assert records(items) == [(101, "Article 1[SEP]"), (103, "Article 3[SEP]")]
    (rej,) = [r for r in items if isinstance(r, Rejected)]
    assert rej.message().startswith(f"{path}: article 2: PMID ") and len(rej.message()) < 300


def test_excel_semicolon_csv_is_sniffed_and_a_bad_row_is_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "scopus.csv"
    path.write_bytes(dd.SCOPUS_CSV.encode("utf-8"))
    kw = {"id_field": "EID", "title_field": "Title", "abstract_field": "Abstract"}
    items, _ = read([path], **kw)
    assert records(items) == [(r["id"], card(r)) for r in dd.SCOPUS_EXPECTED]
    placeholder = [r.id for r in items if isinstance(r, Record) and r.flags & PLACEHOLDER]
    assert placeholder == ["2-s2.0-2"]
    (rej,) = [r for r in items if isinstance(r, Rejected)]
    assert rej.message().startswith(f"{path}:{dd.SCOPUS_BAD_LINE}: expected 5 fields")
    assert rej.raw == "Bad R.;Too;many;fields;here;2-s2.0-4"  # the row as it was read
    # --delimiter overrides the sniffing: read as commas, the file has one column
    items2, _ = read([path], ",", **kw)
    assert not records(items2)


def test_first_look_at_a_csv_with_an_overlong_row_warns_without_a_traceback(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scopus.csv"
    path.write_bytes(dd.SCOPUS_CSV.encode("utf-8"))
    files = resolve_inputs([str(path)])
    v = RecordValidator(FieldSettings(id_field="EID"), False, "[SEP]", "string")
    with Captured() as messages:
        check_inputs_readable(files, v)
    warned = " ".join(messages)
    assert "Authors, Title, Year, Abstract, EID" in warned and "'title'" in warned


# ---------------------------------------------------------------- summary counts


def test_summary_counts_are_of_kept_records_and_rejects_keep_the_raw_line(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    lines = [
        '{"id": "a", "title": "T"}',
        '{"id": "a", "title": "T"}',
        '{"id": "a", "abstract": "other text"}',
        '{"id": "b", "title": "T2", "abstract": "[No abstract available]"}',
        '{"id": "c", "title": "", "abstract": "only abstract"}',
        "{not json",
        '{"id": "c", "title": "dup of c"}',
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(x + "\n" for x in lines))
    out, summ = tmp_path / "out", tmp_path / "summary.json"
    models = ["--base-model", str(tiny_models["base"]), "--adapter-path"]
    r = runner.invoke(
        app,
        ["embed", str(src), "-o", str(out), *models, str(tiny_models["proximity"]),
         "--on-error", "skip", "--summary-json", str(summ), "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    s = json.loads(summ.read_text())
    assert (s["no_title"], s["no_abstract"], s["placeholders"]) == (1, 2, 1)
    assert s["rejected_by_reason"] == {"duplicate_id": 3, "invalid_json": 1}
    rejects = [json.loads(x) for x in (out / "_rejects.jsonl").read_text().splitlines()]
    dups = [x for x in rejects if x["reason"].startswith("duplicate id")]
    assert [d["raw"] for d in dups] == [lines[1], lines[2], lines[6]]


def test_a_folder_with_only_unreadable_files_names_them(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "pubmed25n0001.xml.gz.md5").write_text("x")
    with pytest.raises(InputError, match=r"pubmed25n0001.xml.gz.md5 \(not a data file\)"):
        resolve_inputs([str(tmp_path / "d")])


def test_utf16_csv_is_read_and_a_code_page_csv_is_refused_up_front(tmp_path: Path) -> None:
    """Excel's other encodings: UTF-16 (found by its BOM) is read like UTF-8; a cp1252
    file cannot be told from UTF-8 by its bytes, so it is an input error naming the fix,
    when the inputs are resolved (before the model loads)."""
    text = 'id;title;abstract\r\n1;"Caf\u00e9 &amp; cr\u00e8me";R\u00e9sum\u00e9\r\n'
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))
    items, _ = read([tmp_path / "u16.csv"])
    assert records(items) == [("1", "Caf\u00e9 & cr\u00e8me[SEP]R\u00e9sum\u00e9")]
    (tmp_path / "cp.csv").write_bytes(text.encode("cp1252"))
    with pytest.raises(InputError, match=r"cp\.csv is not UTF-8; .*iconv -f cp1252"):
        resolve_inputs([str(tmp_path / "cp.csv")])


def test_extensionless_records_manifests_and_unextracted_archives(tmp_path: Path) -> None:
    """A JSON record file with no suffix is read; OpenAlex's JSON `manifest` and a CORE
    provider archive left packed are listed as not read (a named archive is exit 2)."""
    d = tmp_path / "dump"
    (d / "1").mkdir(parents=True)
    (d / "1" / "111757").write_text(json.dumps({"coreId": "111757", "title": "No suffix"}))
    (d / "manifest").write_text(json.dumps({"entries": [{"url": "s3://x/part_000.gz"}]}))
    (d / "manifest_.xml").write_text(dd.SITEMAP)
    (d / "22.tar.xz").write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 30)
    files = resolve_inputs([str(d)])
    assert [f.path for f in files] == [str(d / "1" / "111757")]
    reasons = dict(files.skipped)
    assert set(reasons) == {str(d / "manifest"), str(d / "manifest_.xml"), str(d / "22.tar.xz")}
    assert "tar -xf" in reasons[str(d / "22.tar.xz")]
    items, _ = read([d])
    assert records(items) == [("111757", "No suffix[SEP]")]
    r = runner.invoke(app, ["embed", str(d / "22.tar.xz"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "tar -xf" in r.output, r.output


def test_crossref_items_file_embeds_like_the_equivalent_jsonl(
    encoder: Encoder, tmp_path: Path
) -> None:
    """{"items": [...]} documents (Crossref's annual dump): each work a record, its title
    list and JATS abstract made plain text, id = DOI."""
    expected = dd.write_crossref(tmp_path / "0.json.gz")
    items, _ = read([tmp_path / "0.json.gz"], id_field="DOI", preset="crossref")
    assert records(items) == [(r["id"], card(r)) for r in expected]
    fields = FieldSettings(id_field="DOI", preset="crossref")
    s = EmbedSettings(model=encoder.settings, fields=fields)
    embed_files([str(tmp_path / "0.json.gz")], tmp_path / "got", encoder=encoder, settings=s)
    ref = fd.write_equivalent(tmp_path / "equivalent.jsonl", expected)
    embed_files([str(ref)], tmp_path / "ref", encoder=encoder, settings=EmbedSettings(
        model=encoder.settings))  # fmt: skip
    got, want = read_output(tmp_path / "got"), read_output(tmp_path / "ref")
    assert list(got) == list(want)
    for k, v in want.items():
        assert (got[k] == v).all()


def test_a_crossref_file_longer_than_the_sniffed_head_is_still_a_document(tmp_path: Path) -> None:
    works = [
        {"DOI": f"10.1/{i}", "title": [f"Work {i}"], "abstract": "y" * 100} for i in range(800)
    ]
    path = tmp_path / "1.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"items": works}).encode()))  # one 100 KB line
    items, _ = read([path], id_field="DOI", preset="crossref")
    assert records(items) == [(w["DOI"], f"Work {i}[SEP]" + "y" * 100) for i, w in enumerate(works)]


@pytest.mark.parametrize(("given", "code"), [("tab", 4), (";", 3), (",,", 2), ('"', 2)])
def test_delimiter_option(tmp_path: Path, given: str, code: int) -> None:
    """--delimiter is one character or 'tab' (anything else: exit 2) and wins over the
    sniffed one: `;` on a tab file gives one column, no id field (exit 3); `tab` gets as
    far as loading the (missing) model (exit 4)."""
    path = tmp_path / "x.csv"
    path.write_text("id\ttitle\n1\tA\n")
    args = ["embed", str(path), "-o", str(tmp_path / "o"), "--delimiter", given]
    r = runner.invoke(app, [*args, *no_model(tmp_path)])
    assert r.exit_code == code, r.output
    if code == 2:
        assert "--delimiter" in r.output
    if code == 3:
        assert "fields are: id\ttitle" in r.output


def test_pre_2017_medline_citation_set(tmp_path: Path) -> None:
    """MEDLINE's older distribution: <MedlineCitationSet> of bare <MedlineCitation>s."""
    xml = (
        '<?xml version="1.0"?>\n<MedlineCitationSet>\n'
        '<MedlineCitation Owner="NLM" Status="MEDLINE"><PMID>10540283</PMID><Article>'
        "<ArticleTitle>Old <i>format</i>.</ArticleTitle><Abstract><AbstractText>Still "
        "read.</AbstractText></Abstract></Article></MedlineCitation>\n"
        "<DeleteCitation><PMID>1</PMID></DeleteCitation>\n</MedlineCitationSet>\n"
    )
    path = tmp_path / "medline16n0001.xml"
    path.write_text(xml)
    items, v = read([path])
    assert records(items) == [(10540283, "Old format.[SEP]Still read.")]
    assert v.counts.deleted_citations == 1


def test_pubmed_books_embed_like_the_equivalent_jsonl_and_are_counted(
    encoder: Encoder, tmp_path: Path
) -> None:
    path = tmp_path / "pubmed25n1300.xml.gz"
    path.write_bytes(gzip.compress(dd.PUBMED_BOOKS.encode()))
    s = EmbedSettings(model=encoder.settings, shard_size=3, sort_window=2)
    summary = embed_files([str(path)], tmp_path / "got", encoder=encoder, settings=s)
    assert (summary.book_articles, summary.deleted_citations) == (2, 1)
    assert (summary.placeholders, summary.no_title, summary.no_abstract) == (1, 1, 0)
    ref = fd.write_equivalent(tmp_path / "equivalent.jsonl", dd.PUBMED_BOOKS_EXPECTED)
    embed_files([str(ref)], tmp_path / "ref", encoder=encoder, settings=s)
    got, want = read_output(tmp_path / "got"), read_output(tmp_path / "ref")
    assert list(got) == list(want) == [r["id"] for r in dd.PUBMED_BOOKS_EXPECTED]
    for k, v in want.items():
        assert (got[k] == v).all()


# ---------------------------------------------------------------- text kept, formulas once

_BARE_TAG = re.compile(r"</?[A-Za-z][\w.:-]*\s*/?>")  # `<b>`, `</i>`: markup even in math


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    """Words and numbers joined by comparisons (`a<b`, `m >= 2`) and by words: no tag in it."""
    # variable names that are also tag names (a b i q s u em sub p) are the hard case
    words = st.sampled_from(["a", "b", "i", "q", "s", "u", "em", "sub", "p", "n", "x", "0", "2"])
    joins = st.sampled_from(["<", ">", "<", ">", "<=", " > ", " and ", " then ", " ", ", "])
    parts = [draw(words)]
    for _ in range(draw(st.integers(1, 8))):
        parts += [draw(joins), draw(words)]
    text = "".join(parts)
    assume(not _BARE_TAG.search(text))
    return text


@settings(max_examples=300, deadline=None)
@given(text=comparisons())
@example(text="a<b and c>d")
def test_comparisons_without_tags_keep_every_character(text: str) -> None:
    assert plain_text(text) == text
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert plain_text(escaped) == text  # CSV/JSON with escaped comparisons


@pytest.mark.parametrize("text", dd.MATH_SNIPPETS)
def test_math_snippets_keep_every_character(text: str) -> None:
    assert plain_text(text) == text
    assert plain_text(text.replace("<", "&lt;").replace(">", "&gt;")) == text


@pytest.mark.parametrize(("marked", "plain"), dd.FORMULA_TWICE)
def test_a_formula_given_twice_is_read_once(marked: str, plain: str) -> None:
    assert plain_text(marked) == plain


def test_pubmed_placeholder_titles_escaped_comparisons_and_annotations(tmp_path: Path) -> None:
    path = tmp_path / "pubmed25n0002.xml"
    path.write_text(dd.PUBMED_PLACEHOLDER_TITLE)
    items, v = read([path])
    want = dd.PUBMED_PLACEHOLDER_EXPECTED
    assert records(items)[:3] == [(r["id"], card(r)) for r in want]
    kept: set[Any] = set()
    for r in items:  # as the pipeline does: the second 32000003 is a duplicate
        if isinstance(r, Record) and r.id not in kept:
            kept.add(r.id)
            v.counts.kept(r)
    assert v.counts.book_articles == 1


# ---------------------------------------------------------------- empty records, stray XML


def test_dump_records_with_no_text_are_set_aside_without_stopping_the_run(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    works = [
        {"id": "https://openalex.org/W1", "title": "Kept", "abstract_inverted_index": None},
        {"id": "https://openalex.org/W2", "title": None, "display_name": None,
         "abstract_inverted_index": None},
        {"id": "https://openalex.org/W3", "title": "Also kept", "abstract_inverted_index": None},
    ]  # fmt: skip
    src = tmp_path / "works" / "updated_date=2025-01-01"
    src.mkdir(parents=True)
    (src / "part_000.gz").write_bytes(
        gzip.compress("".join(json.dumps(w) + "\n" for w in works).encode())
    )
    out, summ = tmp_path / "out", tmp_path / "summary.json"
    models = ["--base-model", str(tiny_models["base"]), "--adapter-path"]
    r = runner.invoke(
        app,
        ["embed", str(tmp_path / "works"), "--preset", "openalex", "-o", str(out), *models,
         str(tiny_models["proximity"]), "--summary-json", str(summ), "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    s = json.loads(summ.read_text())
    assert (s["embedded"], s["no_text"], s["rejected_by_reason"]) == (2, 1, {"no_text": 1})
    assert sorted(read_output(out)) == ["https://openalex.org/W1", "https://openalex.org/W3"]
    assert [
        x["id"] for x in map(json.loads, (out / "_rejects.jsonl").read_text().splitlines())
    ] == ["https://openalex.org/W2"]
    # A Crossref component ("title": []) is the same: empty, not broken.
    items, _ = read(
        [_crossref_with_component(tmp_path / "0.json")], id_field="DOI", preset="crossref"
    )
    empty = [x for x in items if isinstance(x, Rejected)]
    assert [(x.id, x.empty) for x in empty] == [("10.1/comp", True)]
    # Without a preset, a user's own file with no text stays a bad record (wrong fields?).
    plain = tmp_path / "own.jsonl"
    plain.write_text('{"id": 1, "title": ""}\n')
    items, _ = read([plain])
    assert [(type(x), x.empty) for x in items if isinstance(x, Rejected)] == [(Rejected, False)]


def _crossref_with_component(path: Path) -> Path:
    items = [
        {"DOI": "10.1/a", "title": ["A title"], "type": "journal-article"},
        {"DOI": "10.1/comp", "title": [], "type": "component"},
    ]
    path.write_text(json.dumps({"items": items}))
    return path


def test_xml_that_is_not_pubmed_or_not_xml_in_a_folder_is_skipped(tmp_path: Path) -> None:
    d = tmp_path / "baseline"
    d.mkdir()
    (d / "pubmed25n0001.xml").write_text(dd.PUBMED_PLACEHOLDER_TITLE)
    (d / "empty.xml").write_bytes(b"")
    (d / "broken.xml").write_text("<<not xml at all\n")
    (d / "notes.xml.gz").write_bytes(gzip.compress(b""))
    files = resolve_inputs([str(d)])
    assert [Path(f.path).name for f in files] == ["pubmed25n0001.xml"]
    assert sorted(Path(p).name for p, _ in files.skipped) == [
        "broken.xml", "empty.xml", "notes.xml.gz"
    ]  # fmt: skip
    for name in ("empty.xml", "broken.xml"):  # named: an input error before the model loads
        with pytest.raises(InputError, match=name):
            resolve_inputs([str(d / name)])


# ---------------------------------------------------------------- the S2 join command


def _hinted_join(tmp_path: Path, inputs: list[Path], out: Path) -> list[Any]:
    """Run embed on S2 shards (refused, exit 3), then the join command the refusal gives."""
    r = runner.invoke(
        app, ["embed", *map(str, inputs), "-o", str(tmp_path / "o"), *no_model(tmp_path)]
    )
    assert r.exit_code == EXIT_INPUT, r.output
    line = next(x for x in r.output.splitlines() if "python -m specter2_cli.s2join" in x)
    argv = shlex.split(line.split("python -m specter2_cli.s2join", 1)[1])
    argv[argv.index("-o") + 1] = str(out)
    assert s2join.main([*argv, "--memory-limit", "256MB", "--threads", "1"]) == 0
    return sorted(
        (r["corpusid"], r["title"], r["abstract"]) for r in pq.read_table(out).to_pylist()
    )


def test_s2_join_command_of_the_refusal_joins_every_shard_of_each_dataset(
    tmp_path: Path,
) -> None:
    pytest.importorskip("duckdb")
    expected = sorted((r["id"], r["title"], r["abstract"]) for r in fd.write_s2(tmp_path / "s2"))
    # shards of both datasets in one folder (names do not say which is which)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for d in ("papers", "abstracts"):
        for f in sorted((tmp_path / "s2" / d).iterdir()):
            shutil.copy(f, mixed / f"{d[0]}_{f.name}")
    assert _hinted_join(tmp_path, [mixed], tmp_path / "j1.parquet") == expected
    # papers shards in two folders
    (tmp_path / "more").mkdir()
    p1, p2 = sorted((tmp_path / "s2" / "papers").iterdir())
    moved = tmp_path / "more" / p2.name
    shutil.move(p2, moved)
    inputs = [p1, moved, tmp_path / "s2" / "abstracts"]
    assert _hinted_join(tmp_path, inputs, tmp_path / "j2.parquet") == expected
    # s2join refuses a shard of the other dataset, naming it, before reading anything
    a1 = sorted((tmp_path / "s2" / "abstracts").iterdir())[0]
    with pytest.raises(InputError, match=rf"--papers {re.escape(str(a1))}: .* `abstracts`"):
        s2join.join_s2([str(p1), str(a1)], [str(a1)], str(tmp_path / "j3.parquet"))
    assert not (tmp_path / "j3.parquet").exists()


def test_a_code_page_row_deep_in_a_utf8_csv_is_a_reject_at_its_line(tmp_path: Path) -> None:
    rows = [(str(n), f"Title {n}", "x" * 200 + (' "quoted,\nline"' if n % 97 == 0 else ""))
            for n in range(600)]  # fmt: skip
    bad_at = 450  # past the 64 KiB that the first look checks for UTF-8
    body = b"id,title,abstract\n"
    bad_line = 0
    for n, (i, t, a) in enumerate(rows):
        if n == bad_at:
            bad_line = body.count(b"\n") + 1
            body += f"{i},".encode() + "Caf\u00e9".encode("cp1252") + b",abc\n"
            continue
        body += f'{i},{t},"{a.replace(chr(34), chr(34) * 2)}"\n'.encode()
    src = tmp_path / "late.csv"
    src.write_bytes(body)
    items, _ = read([src])
    rejects = [r for r in items if isinstance(r, Rejected)]
    assert [(r.message().split(": invalid UTF-8")[0], r.pos) for r in rejects] == [
        (f"{src}:{bad_line}", bad_at)
    ]
    assert "Caf\ufffd" in rejects[0].raw
    want = [(i, f"{t}[SEP]{a}") for n, (i, t, a) in enumerate(rows) if n != bad_at]
    assert records(items) == want


def test_download_leftovers_are_listed_not_read_and_listed_files_are_like_found_ones(
    tmp_path: Path,
) -> None:
    d = tmp_path / "works"
    d.mkdir()
    gz = gzip.compress(b'{"id": "W1", "title": "T"}\n')
    names = ["part_000.gz", "part_001.gz.part", "part_000.gz.1", "part_002.gz.crdownload",
             "part_003.tmp", "noext", "notes.txt"]  # fmt: skip
    for name in names:
        (d / name).write_bytes(gz)
    (d / "manifest.xml").write_text(dd.SITEMAP)
    (d / "README").write_text("OpenAlex snapshot\n")
    files = resolve_inputs([str(d)])
    assert sorted(Path(f.path).name for f in files) == ["noext", "part_000.gz"]
    skipped = {Path(p).name: why for p, why in files.skipped}
    assert set(skipped) == {*names, "manifest.xml", "README"} - {"noext", "part_000.gz"}
    assert "download (.part)" in skipped["part_001.gz.part"]
    assert "download (.1)" in skipped["part_000.gz.1"]
    # the same files in an --inputs-from list (find's output): read and skipped the same way
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in sorted(map(str, d.iterdir()))))
    r = runner.invoke(
        app,
        ["embed", "--inputs-from", str(listing), "-o", str(tmp_path / "o"), *no_model(tmp_path)],
    )
    assert r.exit_code == 4, r.output  # past every input check: the (missing) model is next
    # named on the command line, a README or a sitemap is still refused
    for name, code in (("README", 2), ("manifest.xml", EXIT_INPUT)):
        r = runner.invoke(
            app, ["embed", str(d / name), "-o", str(tmp_path / "o"), *no_model(tmp_path)]
        )
        assert r.exit_code == code, r.output
