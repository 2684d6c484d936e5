"""Fuzz the JSONL reader: whatever a line holds, it becomes exactly one Record or Rejected.

No model is needed: RecordStream + RecordValidator run directly on a temp file (or
stdin), with "[SEP]" as the separator token.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from specter2_cli.config import FieldSettings
from specter2_cli.errors import InputError
from specter2_cli.inputs import (
    Cursor,
    InputFile,
    Record,
    RecordStream,
    RecordValidator,
    Rejected,
    plan_slices,
    resolve_inputs,
)
from specter2_cli.inputs.validate import RAW_PREVIEW_CHARS

BOM = b"\xef\xbb\xbf"

# Any code point, lone surrogates included (JSON can spell them as \ud800 escapes).
any_text = st.text(st.characters(codec=None, categories=None), max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | any_text
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(any_text, kids, max_size=3),
    max_leaves=8,
)
# Objects shaped like papers, so that valid records (and near misses) are common.
paper_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.integers(-(2**65), 2**65), any_text, json_values),
        "paper_id": st.one_of(st.integers(0, 10), any_text),
        "title": st.one_of(any_text, json_scalars, json_values),
        "abstract": st.one_of(any_text, st.none(), json_values),
        "query": st.one_of(any_text, json_values),
    },
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """One line of input, without its newline."""
    kind = draw(st.sampled_from(["bytes", "json", "paper", "paper", "paper"]))
    if kind == "bytes":
        line = draw(st.binary(max_size=60))
    else:
        value = draw(json_values if kind == "json" else paper_like)
        text = json.dumps(value, ensure_ascii=draw(st.booleans()))
        line = text.encode("utf-8", "surrogatepass")  # raw surrogates: invalid UTF-8
        mangle = draw(st.sampled_from(["none", "none", "cut", "garbage", "blank"]))
        if mangle == "cut":
            line = line[: draw(st.integers(0, len(line)))]
        elif mangle == "garbage":
            line += draw(st.binary(min_size=1, max_size=5))
        elif mangle == "blank":
            line = draw(st.sampled_from([b"", b"  ", b"\t", b"\r", b"\x0c", BOM, BOM + b" "]))
    if draw(st.integers(0, 9)) == 0:
        line = BOM + line
    if draw(st.integers(0, 4)) == 0:
        line += b"\r"  # CRLF
    return line.replace(b"\n", b"")


def _blank(line: bytes) -> bool:
    return not line.removeprefix(BOM).strip()


def _read(
    data: bytes, kind: str, validator: RecordValidator, start: Cursor | None = None
) -> list[tuple[Any, Cursor]]:
    with tempfile.TemporaryDirectory() as d:
        if kind == "stdin":
            files = [InputFile("-", "stdin", 0, 0)]
            stream = RecordStream(
                files, plan_slices(files, 0, 1), validator, start, io.BytesIO(data)
            )
            out = list(stream)
        else:
            path = os.path.join(d, f"in.{kind}")
            with open(path, "wb") as f:
                f.write(gzip.compress(data) if kind == "jsonl.gz" else data)
            try:
                files = resolve_inputs([path])
            except InputError as e:  # a JSON array or pretty-printed objects: not JSON lines
                assert _is_document(data, array_or_many=True), (e, data)
                reject()
            if files[0].kind == "json":  # one pretty-printed object: the file is one record
                assert _is_document(data, array_or_many=False), data
                reject()
            out = list(RecordStream(files, plan_slices(files, 0, 1), validator, start))
        for item, _ in out:  # render locations while the file still exists
            str(item.location)
        return out


def _is_document(data: bytes, array_or_many: bool) -> bool:
    """Whether data starts with a JSON array or object that spans lines (or an array of
    objects on one line): a whole-file layout, not JSON lines."""
    text = data.removeprefix(BOM).decode("utf-8", "replace").strip()
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        return False
    spans = "\n" in text[:end]
    if array_or_many:
        return (isinstance(value, list) and (spans or any(isinstance(v, dict) for v in value))) or (
            isinstance(value, dict) and spans and bool(text[end:].strip())
        )
    return isinstance(value, dict) and spans and not text[end:].strip()


def _check_outcome(item: Any, id_type: str) -> None:
    if isinstance(item, Rejected):
        assert isinstance(item.reason, str) and item.reason.strip()
        assert len(item.raw) <= RAW_PREVIEW_CHARS
        # what the pipeline writes to _rejects.jsonl
        json.dumps(item.to_json(), ensure_ascii=False).encode("utf-8", "replace")
        assert item.id is None or isinstance(item.id, int | str)
        return
    assert isinstance(item, Record), item
    item.text.encode("utf-8")  # the tokenizer and Parquet need valid Unicode
    if id_type == "int":
        assert isinstance(item.id, int) and -(2**63) <= item.id < 2**63
    else:
        assert isinstance(item.id, str) and item.id.strip()
        item.id.encode("utf-8")


@settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    body=st.lists(lines(), max_size=12),
    trailing_newline=st.booleans(),
    kind=st.sampled_from(["jsonl", "jsonl.gz", "stdin"]),
    id_type=st.sampled_from(["int", "string"]),
    query_mode=st.booleans(),
    resume_at=st.integers(0, 12),
)
def test_every_line_is_one_record_or_one_reject(
    body: list[bytes],
    trailing_newline: bool,
    kind: str,
    id_type: str,
    query_mode: bool,
    resume_at: int,
) -> None:
    data = b"\n".join(body) + (b"\n" if trailing_newline and body else b"")
    validator = RecordValidator(FieldSettings(), query_mode, "[SEP]", id_type)
    out = _read(data, kind, validator)

    starts = [0]
    for line in body:
        starts.append(min(starts[-1] + len(line) + 1, len(data)))
    expected = [n for n, line in enumerate(body) if not _blank(line)]
    assert len(out) == len(expected)  # one outcome per non-blank line, none for blanks
    for (item, cursor), n in zip(out, expected, strict=True):
        _check_outcome(item, id_type)
        assert str(item.location) == f"line {n + 1}"
        assert (item.pos, cursor.pos) == (starts[n], starts[n + 1])  # cursor: the next line

    # Resuming from any committed cursor yields exactly the rest, with the same line numbers.
    if out:
        k = resume_at % len(out)
        rest = _read(data, kind, validator, out[k][1])
        assert [(type(i), i.pos, str(i.location)) for i, _ in rest] == [
            (type(i), i.pos, str(i.location)) for i, _ in out[k + 1 :]
        ]
