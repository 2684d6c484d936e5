"""Input URLs: prefixes, globs, sizes and streams, against the loopback S3 server."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from specter2_cli.errors import InputError
from specter2_cli.inputs.files import is_data_file
from specter2_cli.objstore import inputs as oi
from specter2_cli.objstore import open_store

from . import s3server
from .s3server import S3, Fault

s3_server = s3server.s3_server  # the fixtures this module uses
s3env = s3server.s3env

TREE = [
    "works/updated_date=2024-01-01/part_000.gz",
    "works/updated_date=2024-01-01/part_001.gz",
    "works/updated_date=2024-01-02/part_000.gz",
    "works/manifest",  # OpenAlex's: not a data file
    "works/_SUCCESS",
    "works/.tmp/part_009.gz",
    "works/_specter2/x.jsonl",
    "works/a/b/c.jsonl",
    "works/readme.txt",
    "other/x.jsonl",
]


@pytest.fixture
def tree(s3env: S3) -> str:
    oi._store.cache_clear()  # clients are cached per bucket; each test has its own env
    bucket = s3env.bucket()
    store = open_store(f"s3://{bucket}/")
    for k in TREE:
        store.put_bytes(k, gzip.compress(k.encode()) if k.endswith(".gz") else k.encode())
    return bucket


def test_a_prefix_means_its_data_files_in_key_order(tree: str) -> None:
    expected = [  # the rules of a local folder, applied by hand
        k
        for k in sorted(TREE)
        if k.startswith("works/")
        and not any(p.startswith((".", "_")) for p in k[6:].split("/"))
        and is_data_file(k)
    ]
    assert expected[0] == "works/a/b/c.jsonl" and len(expected) == 4
    for given in (f"s3://{tree}/works/", f"s3://{tree}/works"):
        assert oi.expand_url(given, is_data_file) == [f"s3://{tree}/{k}" for k in expected]
    one = f"s3://{tree}/works/manifest"  # named explicitly: taken as given, like a local file
    assert oi.expand_url(one, is_data_file) == [one]


def test_globs(tree: str) -> None:
    got = oi.expand_url(f"s3://{tree}/works/*/part_000.gz", is_data_file)
    assert got == [f"s3://{tree}/works/updated_date=2024-01-0{d}/part_000.gz" for d in (1, 2)]
    deep = oi.expand_url(f"s3://{tree}/works/**/*.jsonl", is_data_file)
    assert deep == [f"s3://{tree}/works/a/b/c.jsonl"]  # _specter2/ stays hidden
    with pytest.raises(InputError, match="matches no object"):
        oi.expand_url(f"s3://{tree}/works/*/part_999.gz", is_data_file)
    with pytest.raises(InputError, match="no such object, and no data files"):
        oi.expand_url(f"s3://{tree}/nothing/", is_data_file)


def test_sizes_from_one_listing_per_folder(
    tree: str, s3env: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"s3://{tree}/")
    keys = [f"many/f{i:03d}.jsonl" for i in range(12)]
    for i, k in enumerate(keys):
        store.put_bytes(k, b"x" * i)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    oi._store.cache_clear()
    urls = [f"s3://{tree}/{k}" for k in keys] + [f"s3://{tree}/many/missing.jsonl"]
    urls += [f"s3://{tree}/other/x.jsonl"]
    before = len(s3env.proxy.seen)
    got = oi.stat_urls(urls)
    assert len(s3env.proxy.seen) - before == 2  # one listing for many/, one HEAD for other/
    # credentials that may read objects but not list the bucket: one HEAD per object instead
    s3env.proxy.faults += [Fault(403, "AccessDenied", method="GET", path="list-type=2")] * 3
    before = len(s3env.proxy.seen)
    assert oi.stat_urls(urls) == got
    heads = [m for m, *_ in s3env.proxy.seen[before:]].count("HEAD")
    assert heads == len(urls) + 1  # and the bucket, for the missing object
    assert [got[u].size if got[u] else None for u in urls] == [
        *range(12),
        None,
        len("other/x.jsonl"),
    ]


def test_resolving_many_urls_costs_a_listing_and_one_read_each(
    tree: str, s3env: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--inputs-from with many URLs: no HEAD per file (the sizes come from the folder's
    listing), and one ranged GET per file for its format."""
    from specter2_cli.inputs.resolve import resolve_inputs

    store = open_store(f"s3://{tree}/")
    urls = [f"s3://{tree}/list/p{i:02d}.jsonl" for i in range(10)]
    for i, u in enumerate(urls):
        store.put_bytes(u.split("/", 3)[3], b'{"id": %d, "title": "t"}\n' % i)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    oi._store.cache_clear()
    before = len(s3env.proxy.seen)
    files = resolve_inputs(urls)
    methods = [m for m, *_ in s3env.proxy.seen[before:]]
    assert [f.path for f in files] == urls and [f.size for f in files] == [24] * 10
    # a listing, then each file's first 128 KiB once, read ahead in parallel: the format
    # sniff and the JSON-layout sniff are both served from it
    assert methods.count("HEAD") == 0 and methods.count("GET") == 1 + 10, methods
    assert [f.kind for f in files] == ["jsonl"] * 10


def test_open_input_streams_objects_like_files(tree: str, tmp_path: Path) -> None:
    url = f"s3://{tree}/works/updated_date=2024-01-02/part_000.gz"
    with oi.open_input(url) as fh, gzip.GzipFile(fileobj=fh) as z:
        assert z.read() == b"works/updated_date=2024-01-02/part_000.gz"
    local = tmp_path / "x.jsonl"
    local.write_text(json.dumps({"id": 1}) + "\n")
    with oi.open_input(str(local)) as fh:
        assert json.loads(fh.readline()) == {"id": 1}
    assert oi.input_identity(url, 5, 7)["path"] == url
    with pytest.raises(InputError, match="no such object"):
        oi.open_input(f"s3://{tree}/works/none.jsonl")
