"""The OUTDIR commit protocol on a real S3 server (moto on loopback): kill -9 during
uploads and commits, resume, and compare with an uninterrupted run bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from specter2_cli.errors import LockHeld
from specter2_cli.objstore import commit as commit_mod
from specter2_cli.objstore.commit import Holder, ObjectOutDir

from . import objstore_writer, s3server
from .s3server import S3, Fault

s3_server = s3server.s3_server  # the fixtures this module uses
s3env = s3server.s3env

WRITER = str(Path(__file__).with_name("objstore_writer.py"))
RECORDS, SHARD = 300, 100  # 3 shards, and a done record


def start(url: str, fault: str = "", endpoint: str = "") -> subprocess.Popen[str]:
    env = {**os.environ, "SPECTER2_FAULT": fault}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, WRITER, url, str(RECORDS), str(SHARD)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def visible(out: ObjectOutDir) -> dict[str, bytes]:
    """What a reader listing the folder sees (pyarrow skips _ and . names)."""
    found = {}
    for o in out.store.iter_objects(out.root):
        name = o.key[len(out.root) :]
        if "/" not in name and not name.startswith(("_", ".")):
            found[name] = out.store.read_bytes(o.key) or b""
    return found


def committed_shards(out: ObjectOutDir) -> list[bytes]:
    latest = out.latest("g0000-r00000")
    assert latest is not None
    state = json.loads(latest[1])
    return [out.store.read_bytes(out.key(sh["files"][0])) or b"" for sh in state["shards"]]


def test_kill_9_during_uploads_and_commits_then_resume(
    s3env: S3, capsys: pytest.CaptureFixture[str]
) -> None:
    """One OUTDIR, killed four times in a row at different moments of the protocol, each
    rerun resuming the last; the fifth run finishes. The result must equal an uninterrupted
    run's, object for object and byte for byte."""
    bucket = s3env.bucket()
    assert objstore_writer.main(f"s3://{bucket}/ref/", RECORDS, SHARD) == 0  # uninterrupted
    ref = ObjectOutDir(f"s3://{bucket}/ref/")
    ref_shards = committed_shards(ref)
    assert len(ref_shards) == RECORDS // SHARD and ref.has_success()
    url = f"s3://{bucket}/k/"
    out = ObjectOutDir(url)
    # a leftover multipart upload of a killed attempt is aborted by a resume
    stray = s3env_client(s3env).create_multipart_upload(Bucket=bucket, Key="k/part-00002.x.parquet")
    # 1: with the first shard's PUT in flight (held by the proxy)
    s3env.proxy.faults.append(Fault(method="PUT", path=f"/{bucket}/k/part-00000.", stall=True))
    p = start(url, endpoint=s3env.proxy.url)
    assert s3env.proxy.stalled.wait(60)
    p.kill()
    kills = [("mid-PUT", p)]
    # 2: between upload and commit; 3: just before a commit; 4: just after the second commit
    for point in ("after_object_upload:1", "object_commit:1", "after_object_commit:2"):
        p.communicate(timeout=60)
        s3env.proxy.release.set()
        p = start(url, point)
        kills.append((point, p))
    p.communicate(timeout=60)
    for point, p in kills:
        assert p.returncode == -9, point  # each one was killed where asked
    assert not out.has_success()
    assert len(committed_shards(out)) == 2
    for name, data in visible(out).items():  # no half-visible shard: each one is whole
        assert data == ref_shards[int(name[5:10])], name
    last = start(url)
    text = last.communicate(timeout=60)[0]
    assert last.returncode == 0 and "nothing to do" not in text, text
    assert committed_shards(out) == ref_shards  # bit for bit, shard by shard
    assert sorted(visible(out).values()) == sorted(ref_shards)  # no leftovers
    assert out.has_success()
    uploads = s3env_client(s3env).list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert stray["UploadId"] not in [u["UploadId"] for u in uploads]
    assert objstore_writer.main(url, RECORDS, SHARD) == 0
    assert "nothing to do" in capsys.readouterr().out


def s3env_client(s3: S3):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=s3.endpoint)


def test_a_second_writer_is_refused_and_a_dead_one_taken_over(
    s3env: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = ObjectOutDir(f"s3://{s3env.bucket()}/o/")
    first = out.acquire("g0000-r00000", "rank 0")
    with pytest.raises(LockHeld, match=rf"pid {os.getpid()} on "):
        out.acquire("g0000-r00000", "rank 0")
    assert out.acquire("g0000-r00001", "rank 1")  # another rank is another lease
    first.release()
    second = out.acquire("g0000-r00000", "rank 0")  # released: free again
    second._stop.set()  # a writer that was killed -9: its lease stays behind
    key = out.key("_specter2/locks/g0000-r00000.json")

    # the same machine, a pid that no longer runs: taken over at once
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ghost = Holder("ghost", Holder.me().host, Holder.me().boot_id, dead.pid, time.time())
    out.store.put_bytes(key, ghost.to_bytes())
    third = out.acquire("g0000-r00000", "rank 0")
    # the killed-but-alive writer notices at its next renewal and may not commit any more
    second._stop.clear()
    second.renew()
    with pytest.raises(LockHeld, match="took the lease over"):
        out.commit("g0000-r00000", 1, b"{}", second)
    third._stop.set()

    # another machine: refused while the lease is fresh, taken over once it has expired
    other = Holder("other", "node-17", "boot", 4242, time.time())
    out.store.put_bytes(key, other.to_bytes())
    with pytest.raises(LockHeld, match="pid 4242 on node-17"):
        out.acquire("g0000-r00000", "rank 0")
    monkeypatch.setenv(commit_mod.TTL_ENV, "2")  # (age by the store's clock: wait for real)
    time.sleep(3)
    assert out.acquire("g0000-r00000", "rank 0").holder.owner != "other"


def test_a_sequence_number_is_committed_once(s3env: S3) -> None:
    out = ObjectOutDir(f"s3://{s3env.bucket()}/c/")
    lease = out.acquire("g0000-r00000", "rank 0")
    out.commit("g0000-r00000", 1, b'{"n": 1}', lease)
    with pytest.raises(LockHeld, match="committed this sequence number first"):
        out.commit("g0000-r00000", 1, b'{"n": 2}', lease)
    assert out.latest("g0000-r00000") == (1, b'{"n": 1}')
    last = commit_mod.KEEP_VERSIONS + 3
    for seq in range(2, last + 1):
        out.commit("g0000-r00000", seq, b'{"n": %d}' % seq, lease)
    kept = [s for s, _ in out.manifests("g0000-r00000")]
    assert kept == list(range(last - commit_mod.KEEP_VERSIONS + 1, last + 1))  # older pruned
    assert out.latest("g0000-r00000") == (last, b'{"n": %d}' % last)
    lease.release()


def test_background_uploads_commit_in_order_and_report_failures(
    s3env: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specter2_cli.errors import EnvironmentProblem
    from specter2_cli.objstore.uploader import BackgroundUploader

    bucket = s3env.bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    out = ObjectOutDir(f"s3://{bucket}/u/")
    lease = out.acquire("g0000-r00000", "rank 0")
    committed: list[list[str]] = []
    up = BackgroundUploader(out, "a1", depth=2)
    for i in range(4):
        local = tmp_path / f"part-{i:05d}.parquet"
        local.write_bytes(b"%d" % i * 1000)
        up.submit([(str(local), local.name)], lambda done: committed.append([n for n, _ in done]))
    up.drain()
    assert committed == [[f"part-{i:05d}.a1.parquet"] for i in range(4)]
    assert [out.store.read_bytes(out.key(n[0])) for n in committed] == [
        b"%d" % i * 1000 for i in range(4)
    ]
    assert not list(tmp_path.iterdir())  # local copies go once uploaded
    s3env.proxy.faults += [Fault(403, "AccessDenied", method="PUT")] * 10
    local = tmp_path / "part-00004.parquet"
    local.write_bytes(b"x")
    up.submit([(str(local), local.name)], lambda done: committed.append([]))
    with pytest.raises(EnvironmentProblem, match=rf"s3://{bucket}/u/part-00004.a1.parquet: access"):
        up.drain()
    # not committed, and the local copy gone: the rerun writes the shard again, and the
    # staging folder does not keep what no upload will take
    assert len(committed) == 4 and not local.exists()
    up.close()
    s3env.proxy.faults.clear()
    lease.release()
