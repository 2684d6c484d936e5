"""The object-store layer against a real S3 server on loopback (moto, real HTTP)."""

from __future__ import annotations

import io
import random
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from specter2_cli.errors import EnvironmentProblem, InputError, UsageError
from specter2_cli.objstore import open_store, parse_url
from specter2_cli.objstore.s3 import S3Store

from . import s3server
from .s3server import S3, Fault

s3_server = s3server.s3_server  # the fixtures this module uses
s3env = s3server.s3env


def test_urls() -> None:
    u = parse_url("s3://openalex/data/works/")
    assert (u.scheme, u.bucket, u.key, u.prefix) == ("s3", "openalex", "data/works/", "data/works/")
    assert str(u.join("part_000.gz")) == "s3://openalex/data/works/part_000.gz"
    assert parse_url("gcs://my-bucket").bucket == "my-bucket" and parse_url("gs://b12/x").key == "x"
    h = parse_url("hf://datasets/allenai/scirepeval@main/data/train.jsonl")
    assert (h.bucket, h.key) == ("datasets/allenai/scirepeval@main", "data/train.jsonl")
    assert parse_url("hf://models/allenai/specter2/x").bucket == "allenai/specter2"
    for bad in ("http://x.org/a", "s3://Bad_Bucket!/k", "hf://datasets/onlyowner", "s3://bk1//k"):
        with pytest.raises(UsageError):
            parse_url(bad)


def test_glob_and_listing(s3env: S3) -> None:
    store = open_store(f"s3://{s3env.bucket()}/")
    keys = ["w/a/part_000.gz", "w/a/part_001.gz", "w/b/part_000.gz", "w/b/x/deep.gz", "w/c.txt"]
    for k in keys:
        store.put_bytes(k, k.encode())
    assert [o.key for o in store.iter_objects("w/a/")] == keys[:2]
    assert [o.key for o in store.glob("w/*/part_000.gz")] == ["w/a/part_000.gz", "w/b/part_000.gz"]
    assert [o.key for o in store.glob("w/**/*.gz")] == keys[:4]
    assert store.info("w/nothing") is None


def test_streaming_and_range_reads_match_the_bytes(
    s3env: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specter2_cli.objstore import rangefile

    # small spans, so that 3 MB take many requests and read-ahead
    monkeypatch.setattr(rangefile, "FIRST_SPAN", 1 << 16)
    monkeypatch.setattr(rangefile, "MAX_SPAN", 1 << 18)
    monkeypatch.setattr(rangefile, "BUFFER", 1 << 14)
    store = open_store(f"s3://{s3env.bucket()}/")
    rng = random.Random(5)
    data = rng.randbytes(3_000_001)
    store.put_bytes("blob", data)
    with store.open_read("blob") as fh:
        assert fh.read(1000) == data[:1000]
        assert b"".join(iter(lambda: fh.read(10_000), b"")) == data[1000:]
        # 64 KiB, 128 KiB, then 256 KiB spans: ~14 requests, not one per read
        assert 10 < fh.raw.requests < 20  # type: ignore[attr-defined]
    with store.open_read("blob") as fh:
        for _ in range(40):  # brute force: every read equals the slice of the bytes
            pos, n = rng.randrange(len(data) + 10), rng.randrange(1, 300_000)
            fh.seek(pos)
            assert fh.read(n) == data[pos : pos + n]
        fh.seek(-7, io.SEEK_END)
        assert fh.read() == data[-7:]


def test_parquet_row_group_reads(s3env: S3, tmp_path: pytest.TempPathFactory) -> None:
    store = open_store(f"s3://{s3env.bucket()}/")
    table = pa.table({"id": list(range(2_000)), "t": [f"title {i}" for i in range(2_000)]})
    local = f"{tmp_path}/x.parquet"
    pq.write_table(table, local, row_group_size=200)
    store.upload_file("d/x.parquet", local)
    with store.open_read("d/x.parquet") as fh:
        pf = pq.ParquetFile(fh)
        assert pf.metadata.num_row_groups == 10
        assert pf.read_row_group(7).equals(pq.ParquetFile(local).read_row_group(7))


def test_throttling_and_5xx_are_retried(s3env: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3env.bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    store = open_store(f"s3://{bucket}/")
    store.put_bytes("k", b"payload")
    # one of each on different requests: each costs one backoff (under a second)
    s3env.proxy.faults += [Fault(503, "SlowDown", method="HEAD"), Fault(500, "InternalError")]
    assert store.read_bytes("k") == b"payload"
    assert not s3env.proxy.faults  # both were served, and retried past


def test_a_body_cut_short_is_resumed_at_its_offset(
    s3env: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3env.bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    store = open_store(f"s3://{bucket}/")
    data = random.Random(1).randbytes(2_500_000)
    store.put_bytes("big", data)
    s3env.proxy.faults.append(Fault(cut_body=True, method="GET"))
    with store.open_read("big") as fh:
        assert fh.read() == data
    assert not s3env.proxy.faults


def test_anonymous_requests_are_unsigned(s3env: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3env.bucket()
    signed = open_store(f"s3://{bucket}/")
    signed.put_bytes("private", b"not for all")
    signed.client.put_object(Bucket=bucket, Key="pub", Body=b"open data", ACL="public-read")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    monkeypatch.setenv("SPECTER2_ANONYMOUS_READS", "1")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k)
    before = len(s3env.proxy.seen)
    assert open_store(f"s3://{bucket}/").read_bytes("pub") == b"open data"
    assert s3env.proxy.seen[before:] and not any(sig for *_, sig in s3env.proxy.seen[before:])
    with pytest.raises(EnvironmentProblem, match="does not allow anonymous access"):
        open_store(f"s3://{bucket}/").read_bytes("private")


@pytest.mark.parametrize(
    "fault, expect",
    [
        (Fault(403, "AccessDenied"), ["access denied", "--anonymous"]),
        (Fault(400, "ExpiredToken"), ["expired", "rerun"]),
        (Fault(403, "InvalidAccessKeyId"), ["rejected the credentials", "AWS_ACCESS_KEY_ID"]),
    ],
)
def test_auth_failures_are_exit_4_naming_the_url(
    s3env: S3, monkeypatch: pytest.MonkeyPatch, fault: Fault, expect: list[str]
) -> None:
    bucket = s3env.bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    s3env.proxy.faults += [fault] * 10  # a lasting condition, not a blip the retries absorb
    with pytest.raises(EnvironmentProblem) as e:
        list(open_store(f"s3://{bucket}/in/").iter_objects("in/"))
    assert e.value.exit_code == 4 and f"s3://{bucket}/in/" in str(e.value)
    assert all(x in str(e.value) for x in expect), str(e.value)


def test_missing_bucket_key_endpoint_and_credentials(
    s3env: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        EnvironmentProblem, match=r"s3://no-such-bucket-1/x: the bucket .* does not exist"
    ):
        open_store("s3://no-such-bucket-1/x").info("x")
    bucket = s3env.bucket()
    with pytest.raises(InputError, match="no such object"):
        open_store(f"s3://{bucket}/").open_read("missing.jsonl")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    from .s3server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EnvironmentProblem, match=r"cannot reach the store.*AWS_ENDPOINT_URL"):
        open_store(f"s3://{bucket}/k").info("k")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.endpoint)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k)
    with pytest.raises(EnvironmentProblem, match=r"no AWS credentials found.*--anonymous"):
        S3Store(bucket).info("k")


def test_without_boto3_s3_urls_are_exit_4_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    with pytest.raises(EnvironmentProblem, match=r"pip install 'specter2-cli\[cloud\]'"):
        open_store("s3://openalex/data/works/")


def test_conditional_puts(s3env: S3) -> None:
    from specter2_cli.objstore.store import PreconditionFailed

    store = open_store(f"s3://{s3env.bucket()}/")
    etag = store.put_bytes("c", b"1", if_absent=True)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("c", b"2", if_absent=True)
    etag2 = store.put_bytes("c", b"3", if_match=etag)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("c", b"4", if_match=etag)
    assert store.read_bytes("c") == b"3" and etag2 != etag


def test_gs_and_hf_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """gs:// and hf:// cannot be served here: their store choice, read-only refusal and
    the offline error are checked without touching the network."""
    from specter2_cli.objstore.others import GcsStore, HfStore

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf = open_store("hf://datasets/allenai/scirepeval/data/")
    assert isinstance(hf, HfStore) and hf.bucket == "datasets/allenai/scirepeval"
    with pytest.raises(EnvironmentProblem, match="HF_HUB_OFFLINE"):
        hf.info("data/x.jsonl")
    with pytest.raises(UsageError, match="can be read but not written"):
        hf.put_bytes("x", b"")
    assert isinstance(open_store("gs://public-bucket/a/", anonymous=True), GcsStore)  # no I/O
    err = GcsStore("b12", fs=object()).error(OSError("Permission denied (403)"), "a/b.jsonl")
    assert err.exit_code == 4 and "GOOGLE_APPLICATION_CREDENTIALS" in str(err)
    # an unreachable endpoint (a closed loopback port): exit 4 naming the URL, not a traceback
    import datetime

    import pyarrow.fs as pafs

    from .s3server import free_port

    fs = pafs.GcsFileSystem(
        anonymous=True,
        scheme="http",
        endpoint_override=f"127.0.0.1:{free_port()}",
        retry_time_limit=datetime.timedelta(seconds=1),
    )
    with pytest.raises(EnvironmentProblem, match=r"gs://public-bucket/a/b.jsonl: cannot read"):
        GcsStore("public-bucket", anonymous=True, fs=fs).info("a/b.jsonl")
