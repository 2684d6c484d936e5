"""A resumed run checks the input its committed shards were made from: unchanged (a bad record
fixed after them, a truncated download replaced), it resumes and the result equals an
uninterrupted run; changed under committed work (even keeping size and time), it is refused,
naming the shard. Runs on the fake encoder."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings
from specter2_cli.errors import InputError, UsageError
from tests.fakes import FakeEncoder


def paper(i: int, title: str | None = None) -> dict[str, Any]:
    return {"id": i, "title": title or f"paper {i}", "abstract": f"words of paper {i} here"}


def lines(records: list[Any]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


def run(src: Path, out: Path, **kw: Any) -> Any:
    enc = FakeEncoder()
    settings = EmbedSettings(model=enc.settings, shard_size=5, sort_window=5, **kw)
    return embed_files([str(src)], out, encoder=enc, settings=settings)


def table(out: Path) -> list[tuple[Any, list[float]]]:
    t = pq.read_table(out).sort_by("input_pos")
    return list(zip(t.column("id").to_pylist(), t.column("embedding").to_pylist(), strict=True))


GOOD = [paper(i) for i in range(23)]


def test_fixing_a_bad_record_resumes_and_equals_a_clean_run(tmp_path: Path) -> None:
    src = tmp_path / "p.jsonl"
    src.write_bytes(lines([*GOOD[:12], '{"id": 12, "title": "cut', *GOOD[13:]]))
    out = tmp_path / "out"
    with pytest.raises(InputError, match="Fix the record"):
        run(src, out)
    src.write_bytes(lines(GOOD))  # fixed: the file's size and time changed
    s = run(src, out)
    assert s.resumed_from_rows == 12 and s.embedded == 11
    clean = tmp_path / "clean"
    run(src, clean)
    assert table(out) == table(clean)


def test_a_replaced_truncated_download_resumes(tmp_path: Path) -> None:
    full = gzip.compress(lines(GOOD))
    src = tmp_path / "p.jsonl.gz"
    src.write_bytes(full[: len(full) * 2 // 3])
    out = tmp_path / "out"
    with pytest.raises(InputError, match="truncated or corrupt"):
        run(src, out)
    src.write_bytes(full)
    s = run(src, out)
    assert s.resumed_from_rows > 0
    clean = tmp_path / "clean"
    run(src, clean)
    assert table(out) == table(clean)


@pytest.mark.parametrize("keep_size_and_time", [True, False])
def test_input_changed_under_committed_shards_is_refused(
    tmp_path: Path, keep_size_and_time: bool
) -> None:
    src = tmp_path / "p.jsonl"
    src.write_bytes(lines([*GOOD[:12], "not json", *GOOD[13:]]))
    out = tmp_path / "out"
    with pytest.raises(InputError):
        run(src, out)
    st = os.stat(src)
    edited = paper(7, "paper 8" if keep_size_and_time else "a longer title for paper seven")
    src.write_bytes(lines([*GOOD[:7], edited, *GOOD[8:12], "not json", *GOOD[13:]]))
    if keep_size_and_time:
        assert os.stat(src).st_size == st.st_size
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(UsageError, match=r"part-00001\.parquet.*not the same any more"):
        run(src, out)
    assert len(table(out)) == 12  # nothing committed was touched
