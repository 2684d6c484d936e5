"""OUTDIRs on S3 (moto on loopback, real HTTP): embed writes there, status, merge, search,
export and read_embeddings read there, and every result equals the same job written to a
local folder, also after kill -9 at each step of the commit and a resume on another node."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings, ModelSettings
from specter2_cli.errors import EnvironmentProblem, LockHeld, UsageError
from specter2_cli.merge import merge
from specter2_cli.model.encoder import Encoder
from specter2_cli.model.loader import load_encoder
from specter2_cli.objstore import open_store
from specter2_cli.objstore.commit import Holder
from specter2_cli.objstore.outdir import STAGING_ENV, RemoteOutDir
from specter2_cli.reader import read_embeddings
from specter2_cli.status import job_status
from specter2_cli.synthetic import synthetic_papers
from tests.helpers import write_jsonl

from . import s3server
from .s3server import S3, Fault

s3_server = s3server.s3_server  # the fixtures this module uses
s3env = s3server.s3env


@pytest.fixture(scope="module")
def encoder(tiny_models: dict[str, Path]) -> Encoder:
    return load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        )
    )


@pytest.fixture
def stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's staging and read-cache folder (never the user's ~/.cache)."""
    monkeypatch.setenv(STAGING_ENV, str(tmp_path / "stage"))
    return tmp_path / "stage"


def papers(n: int, seed: int, bad: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = list(synthetic_papers(n, seed=seed, mean_words=15, sd_words=5))
    for i in bad:
        out[i] = {"id": f"bad{i}", "title": 7}  # a reject
    return out


def run(enc: Encoder, inputs: list[str], out: str | Path, **kw: Any) -> Any:
    settings = EmbedSettings(
        model=enc.settings, shard_size=8, sort_window=5, on_error="skip", **kw.pop("s", {})
    )
    return embed_files(inputs, out, encoder=enc, settings=settings, **kw)


def objects(url: str) -> dict[str, int]:
    store = open_store(url)
    prefix = url.split("/", 3)[3]
    return {o.key[len(prefix) :]: o.size for o in store.iter_objects(prefix)}


def same(a: Any, b: Any) -> None:
    assert list(a.ids) == list(b.ids) and len(a.ids) > 0
    assert np.array_equal(a.embeddings, b.embeddings)  # bit for bit


def test_embed_to_s3_and_every_reader_equal_a_local_folder(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    write_jsonl(tmp_path / "p.jsonl", papers(50, 1, bad=(7, 30)))
    url = f"s3://{s3env.bucket()}/emb/"
    for r in range(2):  # two ranks of an array into one prefix
        run(encoder, [str(tmp_path / "p.jsonl")], tmp_path / "loc", shard_index=r, num_shards=2)
        summary = run(encoder, [str(tmp_path / "p.jsonl")], url, shard_index=r, num_shards=2)
        assert summary.outdir == url and summary.rejected == 1
        assert ("_SUCCESS" in objects(url)) == (r == 1)  # written last, by the last rank
    same(read_embeddings(url), read_embeddings(tmp_path / "loc"))
    st = job_status(url)
    assert st.complete and st.outdir == url and [r.state for r in st.ranks] == ["done"] * 2
    assert sum(r.rejected for r in st.ranks) == 2
    merge(url, tmp_path / "m.parquet")
    merge(tmp_path / "loc", tmp_path / "l.parquet")
    assert pq.read_table(tmp_path / "m.parquet").equals(pq.read_table(tmp_path / "l.parquet"))
    # what is under the prefix: committed shards, one rejects piece per shard that had one,
    # state; nothing half-written, nothing uncommitted
    names = objects(url)
    shards = [n for n in names if n.startswith("part-")]
    assert len(shards) == len(list((tmp_path / "loc").glob("part-*.parquet")))
    rejects = b"".join(
        open_store(url).read_bytes(f"emb/{n}") or b"" for n in sorted(names) if "_rejects" in n
    )
    local = b"".join(p.read_bytes() for p in sorted((tmp_path / "loc").glob("_rejects*")))
    assert rejects == local and rejects.count(b"\n") == 2
    # the CLI: status exit 0, search ranks as it does on the local folder
    from typer.testing import CliRunner

    from specter2_cli.cli import app

    r = CliRunner().invoke(app, ["status", url])
    assert r.exit_code == 0 and url in r.output, r.output
    models = ["--base-model", str(tiny_models["base"])]
    models += ["--adapter-path", str(tiny_models["adhoc_query"]), "--json"]
    hits = [
        CliRunner().invoke(app, ["search", where, "graph neural networks", "-k", "5", *models])
        for where in (url, str(tmp_path / "loc"))
    ]
    assert hits[0].exit_code == 0, hits[0].output
    ranked = [json.loads(h.output.splitlines()[-1])["results"] for h in hits]
    assert ranked[0] == ranked[1] and len(ranked[0]) == 5


def test_resume_after_kill_9_at_each_commit_step_equals_an_uninterrupted_run(
    encoder: Encoder, tiny_models: dict[str, Path], s3env: S3, stage: Path, tmp_path: Path
) -> None:
    """kill -9 while a shard is written, after it is uploaded, just before and just after its
    manifest is created; each rerun resumes the last (two of them on "another node": an empty
    staging folder). The result equals an uninterrupted run's bit for bit, and the prefix
    holds nothing but the committed objects."""
    from tests.forkserver import spawn

    write_jsonl(tmp_path / "p.jsonl", papers(120, 2, bad=(11,)))
    ref = tmp_path / "ref"
    run(encoder, [str(tmp_path / "p.jsonl")], ref)
    url = f"s3://{s3env.bucket()}/k/"

    def cli(fault: str, node: str) -> tuple[int, str]:
        env = {**os.environ, "SPECTER2_FAULT": fault, STAGING_ENV: str(tmp_path / node)}
        argv = ["embed", str(tmp_path / "p.jsonl"), "-o", url, "--shard-size", "8"]
        argv += ["--sort-window", "5", "--on-error", "skip", "--no-progress", "--log-every", "0"]
        argv += ["--base-model", str(tiny_models["base"])]
        argv += ["--adapter-path", str(tiny_models["proximity"])]
        p = spawn(argv, env=env)
        return p.returncode if p.wait(300) is not None else -1, p.communicate()[0] or ""

    steps = [  # (a kill while a shard is written locally is a local OUTDIR's case)
        ("after_object_upload:2", "a"),
        ("object_commit:2", "b"),
        ("after_object_commit:1", "b"),
        ("object_upload:3", "c"),
    ]
    for i, (fault, node) in enumerate(steps):
        rc, text = cli(fault, node)
        assert rc == -9, (fault, text)
        assert "_SUCCESS" not in objects(url)
        if i == 0:
            committed = job_status(url).ranks[0].rows
            rc, text = cli("batch:2:TERM", node)  # SIGTERM: the open shard is committed
            assert rc == 75 and "rerun the same command to resume" in text, text
            assert job_status(url).ranks[0].rows > committed  # its upload was waited for
    rc, text = cli("", "d")
    assert rc == 0, text
    same(read_embeddings(url), read_embeddings(ref))
    names = objects(url)
    shards = sorted(n for n in names if n.startswith("part-"))
    assert len(shards) == len(list(ref.glob("part-*.parquet")))  # no uncommitted leftovers
    assert len({s.split(".")[1] for s in shards}) > 1  # written by several attempts
    assert "_SUCCESS" in names and not any(n.startswith("_specter2/locks/") for n in names)
    m = merge(url, tmp_path / "m.parquet")
    assert m.rows == 119


def test_a_live_writer_is_refused_and_a_dead_ones_lease_taken_over(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "p.jsonl", papers(20, 3))
    url = f"s3://{s3env.bucket()}/two/"
    out = RemoteOutDir(url)
    lease = out.remote.acquire("g0000-r00000", "test")  # this process holds the rank
    with pytest.raises(LockHeld, match="being written by another process") as e:
        run(encoder, [str(tmp_path / "p.jsonl")], url)
    assert e.value.exit_code == 4
    lease._stop.set()  # stops renewing, like a process on another node that died
    dead = Holder("x", "other-node", "", 1, 0.0)
    out.remote.store.put_bytes(lease.key, dead.to_bytes())
    monkeypatch.setenv("SPECTER2_LEASE_SECONDS", "2")
    import time

    time.sleep(2.2)
    run(encoder, [str(tmp_path / "p.jsonl")], url)  # the expired lease is taken over
    assert job_status(url).complete


def test_incremental_runs_and_overwrite_on_s3(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    ps = papers(40, 4)
    write_jsonl(tmp_path / "night1.jsonl", ps[:25])
    changed = [dict(p, title=p["title"] + " revised") for p in ps[20:25]]
    write_jsonl(tmp_path / "night2.jsonl", ps[15:20] + changed + ps[25:])
    url = f"s3://{s3env.bucket()}/inc/"
    for night in ("night1", "night2"):
        for where in (url, tmp_path / "loc"):
            run(encoder, [str(tmp_path / f"{night}.jsonl")], where, incremental=True)
    same(read_embeddings(url), read_embeddings(tmp_path / "loc"))
    assert any(n.endswith(".skipped.npy") for n in objects(url))  # unchanged ids, skipped
    # a third night over a fresh staging folder ("another node") reads the earlier runs back
    os.environ[STAGING_ENV] = str(tmp_path / "node2")
    write_jsonl(tmp_path / "night3.jsonl", ps[:5])
    for where in (url, tmp_path / "loc"):
        run(encoder, [str(tmp_path / "night3.jsonl")], where, incremental=True)
    same(read_embeddings(url), read_embeddings(tmp_path / "loc"))
    before = objects(url)
    # other settings are refused; --overwrite deletes the earlier job's objects and starts over
    write_jsonl(tmp_path / "other.jsonl", ps[30:])
    with pytest.raises(UsageError, match=f"{url} holds embeddings of other input"):
        run(encoder, [str(tmp_path / "other.jsonl")], url)
    run(encoder, [str(tmp_path / "night1.jsonl")], url, overwrite=True)
    run(encoder, [str(tmp_path / "night1.jsonl")], tmp_path / "fresh")
    same(read_embeddings(url), read_embeddings(tmp_path / "fresh"))
    after = objects(url)
    assert not any(n.endswith(".skipped.npy") for n in after)
    assert len([n for n in before if n.startswith("_specter2/gen-")]) == 3
    assert [n for n in after if n.startswith("_specter2/gen-")] == ["_specter2/gen-0000.json"]


def test_store_failures_while_committing_are_exit_4_and_the_rerun_resumes(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "p.jsonl", papers(60, 5))
    run(encoder, [str(tmp_path / "p.jsonl")], tmp_path / "ref")
    bucket = s3env.bucket()
    url = f"s3://{bucket}/f/"
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    # throttling on a shard upload is retried; access denied on the third shard stops the run
    s3env.proxy.faults.append(Fault(503, "SlowDown", method="PUT", path=f"/{bucket}/f/part-"))
    s3env.proxy.faults.append(
        Fault(403, "AccessDenied", method="PUT", path=f"/{bucket}/f/part-00003")
    )
    with pytest.raises(EnvironmentProblem, match=r"s3://.*/f/part-00003.*access denied") as e:
        run(encoder, [str(tmp_path / "p.jsonl")], url)
    assert e.value.exit_code == 4
    st = job_status(url)
    assert not st.complete and 0 < st.ranks[0].rows < 60  # shards before it are committed
    s3env.proxy.faults.clear()
    run(encoder, [str(tmp_path / "p.jsonl")], url)
    same(read_embeddings(url), read_embeddings(tmp_path / "ref"))


def test_outdirs_the_tool_cannot_write_are_refused_before_work(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    good = write_jsonl(tmp_path / "p.jsonl", papers(5, 6))
    with pytest.raises(UsageError, match="gs:// can be read but not written"):
        run(encoder, [str(good)], "gs://bucket/out/")
    with pytest.raises(EnvironmentProblem, match="no-such-bucket-here") as e:
        run(encoder, [str(good)], "s3://no-such-bucket-here/out/")
    assert e.value.exit_code == 4
    bucket = s3env.bucket()
    store = open_store(f"s3://{bucket}/")
    store.put_bytes("mine/part-00000.parquet", b"not the tool's")  # a foreign object
    with pytest.raises(UsageError, match="named like specter2's"):
        run(encoder, [str(good)], f"s3://{bucket}/mine/")
    with pytest.raises(UsageError, match="named like specter2's"):
        run(encoder, [str(good)], f"s3://{bucket}/mine/", overwrite=True)
    assert store.read_bytes("mine/part-00000.parquet") == b"not the tool's"
    store.put_bytes("in/p.jsonl", good.read_bytes())
    with pytest.raises(UsageError, match="inside the output prefix"):
        run(encoder, [f"s3://{bucket}/in/p.jsonl"], f"s3://{bucket}/in/")
    with pytest.raises(UsageError, match="not a specter2 output"):
        job_status(f"s3://{bucket}/nothing/")


def test_merge_and_export_write_to_s3_like_to_a_local_file(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from specter2_cli.cli import app
    from specter2_cli.index import load_index, search_index

    write_jsonl(tmp_path / "p.jsonl", papers(30, 7))
    url = f"s3://{s3env.bucket()}/"
    run(encoder, [str(tmp_path / "p.jsonl")], url + "emb/")
    store = open_store(url)
    cli = CliRunner()
    for name in ("all.parquet", "all.npy"):
        r = cli.invoke(app, ["merge", url + "emb/", "--to", url + f"out/{name}"])
        assert r.exit_code == 0, r.output
        merge(url + "emb/", tmp_path / name)
    assert store.read_bytes("out/all.parquet") == (tmp_path / "all.parquet").read_bytes()
    assert store.read_bytes("out/all.npy") == (tmp_path / "all.npy").read_bytes()
    assert store.read_bytes("out/all.ids.parquet") == (tmp_path / "all.ids.parquet").read_bytes()
    r = cli.invoke(app, ["merge", url + "emb/", "--to", url + "out/all.npy"])
    assert r.exit_code == 2 and "already exist" in r.output, r.output
    r = cli.invoke(app, ["merge", url + "emb/", "--to", url + "emb/all.parquet"])
    assert r.exit_code == 2 and "inside the output prefix" in r.output, r.output
    r = cli.invoke(app, ["merge", url + "emb/", "--to", url + "out/all.npy", "--overwrite"])
    assert r.exit_code == 0, r.output
    # export: the index and its id map land on the store, and search like a local export
    for to in (url + "idx/p.faiss", str(tmp_path / "p.faiss")):
        r = cli.invoke(app, ["export", url + "emb/", "--to", to, "--metric", "cosine"])
        assert r.exit_code == 0, r.output
    (tmp_path / "dl").mkdir()
    for name in ("p.faiss", "p.faiss.ids.parquet"):
        store.download_file(f"idx/{name}", str(tmp_path / "dl" / name))
    q = read_embeddings(tmp_path / "all.parquet").embeddings[:3]
    got = search_index(load_index(tmp_path / "dl" / "p.faiss"), q, 5)
    assert got == search_index(load_index(tmp_path / "p.faiss"), q, 5) and len(got[0]) == 5
    store.put_bytes("idx/foreign.faiss", b"someone else's")
    r = cli.invoke(app, ["export", url + "emb/", "--to", url + "idx/foreign.faiss"])
    assert r.exit_code == 2 and "not written by" in r.output, r.output
    assert store.read_bytes("idx/foreign.faiss") == b"someone else's"
    store.put_bytes("idx/foreign.faiss.ids.parquet", b"theirs too")  # a pair, not ours
    r = cli.invoke(app, ["export", url + "emb/", "--to", url + "idx/foreign.faiss"])
    assert r.exit_code == 2 and "not written by" in r.output, r.output
    assert store.read_bytes("idx/foreign.faiss.ids.parquet") == b"theirs too"
    r = cli.invoke(app, ["export", url + "emb/", "--to", url + "idx/p.faiss"])  # ours again
    assert r.exit_code == 0, r.output


def test_a_deleted_or_cut_shard_object_is_found_and_re_embedded(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "p.jsonl", papers(40, 8))
    run(encoder, [str(tmp_path / "p.jsonl")], tmp_path / "ref")
    url = f"s3://{s3env.bucket()}/d/"
    run(encoder, [str(tmp_path / "p.jsonl")], url)
    store = open_store(url)
    shards = sorted(n for n in objects(url) if n.startswith("part-"))
    store.delete(f"d/{shards[3]}")
    st = job_status(url)
    assert not st.complete and st.ranks[0].state == "damaged"
    assert f"shard 3: {shards[3]} is missing" in st.ranks[0].problem
    with pytest.raises(UsageError, match=f"{url} is incomplete.*{shards[3]} is missing"):
        merge(url, tmp_path / "m.parquet")
    data = store.read_bytes(f"d/{shards[1]}") or b""
    store.put_bytes(f"d/{shards[1]}", data[: len(data) // 2])  # cut short
    summary = run(encoder, [str(tmp_path / "p.jsonl")], url)
    assert summary.resumed_from_rows == 8  # shard 0 kept; 1 and everything after re-embedded
    same(read_embeddings(url), read_embeddings(tmp_path / "ref"))
    assert job_status(url).complete


def test_rejects_of_every_shard_are_committed_while_uploads_lag(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads behind compute (a store 30 ms away): each shard's rejects, the last one's too,
    land in the committed pieces, in order; the staging folder is left empty."""
    from specter2_cli.objstore.outdir import materialize

    write_jsonl(tmp_path / "p.jsonl", papers(64, 9, bad=tuple(range(3, 64, 4))))
    run(encoder, [str(tmp_path / "p.jsonl")], tmp_path / "loc")
    url = f"s3://{s3env.bucket()}/lag/"
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    s3env.proxy.latency = 0.03
    try:
        run(encoder, [str(tmp_path / "p.jsonl")], url)
    finally:
        s3env.proxy.latency = 0.0
    local = (tmp_path / "loc" / "_rejects.jsonl").read_bytes()
    assert local.count(b"\n") == 16
    assert (materialize(url) / "_rejects.jsonl").read_bytes() == local
    assert job_status(url).ranks[0].rejected == 16
    writing = [d for d in stage.iterdir() if d.name.endswith("-write")]
    assert len(writing) == 1
    assert [p for p in writing[0].rglob("*") if p.is_file()] == []


def test_a_writer_whose_lease_was_taken_over_cannot_commit(s3env: S3) -> None:
    """A writer stopped (suspended, cut off) past its lease finds out at its next commit."""
    from specter2_cli.objstore.commit import ObjectOutDir

    out = ObjectOutDir(f"s3://{s3env.bucket()}/fence/")
    lease = out.acquire("g0000-r00000", "test")
    lease._stop.set()  # stopped: no renewals
    out.commit("g0000-r00000", 1, b"{}", lease)  # still its own: commits
    # another node takes the expired lease over (If-Match on what it read)
    info = out.store.info(lease.key)
    assert info is not None
    out.store.put_bytes(lease.key, Holder("y", "b", "", 2, 0.0).to_bytes(), if_match=info.etag)
    lease._stop.clear()
    with pytest.raises(LockHeld, match="took the lease over"):
        out.commit("g0000-r00000", 2, b"{}", lease)
    assert [seq for seq, _ in out.manifests("g0000-r00000")] == [1]


def test_a_409_conflict_on_a_conditional_put_is_retried(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "p.jsonl", papers(10, 10))
    bucket = s3env.bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    for name in ("job.json", "gen-0000.json", "g0000-r00000/m00000001.json"):
        s3env.proxy.faults.append(
            Fault(409, "ConditionalRequestConflict", method="PUT", path=f"/_specter2/{name}")
        )
    run(encoder, [str(tmp_path / "p.jsonl")], f"s3://{bucket}/c/")
    assert not s3env.proxy.faults  # each conflict was met, and retried
    assert job_status(f"s3://{bucket}/c/").complete


def test_messages_name_the_url_not_the_local_copy(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    from specter2_cli.errors import InputError

    bucket = s3env.bucket()
    with pytest.raises(UsageError) as e:
        read_embeddings(f"s3://{bucket}/nothing/")
    assert f"s3://{bucket}/nothing/" in str(e.value) and str(stage) not in str(e.value)
    write_jsonl(tmp_path / "p.jsonl", papers(20, 11, bad=tuple(range(0, 20, 2))))
    with pytest.raises(InputError) as e2:
        run(encoder, [str(tmp_path / "p.jsonl")], f"s3://{bucket}/rr/", max_reject_rate=0.2)
    assert f"s3://{bucket}/rr/_rejects-*.jsonl" in str(e2.value), str(e2.value)
    assert str(stage) not in str(e2.value)


def test_a_deleted_rejects_piece_is_re_made_by_the_rerun(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    from specter2_cli.objstore.outdir import materialize

    write_jsonl(tmp_path / "p.jsonl", papers(40, 12, bad=(2, 21, 38)))
    run(encoder, [str(tmp_path / "p.jsonl")], tmp_path / "loc")
    url = f"s3://{s3env.bucket()}/rp/"
    run(encoder, [str(tmp_path / "p.jsonl")], url)
    pieces = sorted(n for n in objects(url) if n.startswith("_rejects-"))
    assert len(pieces) == 3
    open_store(url).delete(f"rp/{pieces[1]}")
    summary = run(encoder, [str(tmp_path / "p.jsonl")], url)
    assert 0 < summary.resumed_from_rows < 37  # from the shard whose piece went missing
    local = (tmp_path / "loc" / "_rejects.jsonl").read_bytes()
    assert (materialize(url) / "_rejects.jsonl").read_bytes() == local
    same(read_embeddings(url), read_embeddings(tmp_path / "loc"))


def test_expired_credentials_are_named_as_such_even_on_a_head_request(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "p.jsonl", papers(5, 13))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    # a HEAD's 400 has no body (botocore probes the bucket's region with another HEAD); the
    # tool's one-byte GET gets the code
    s3env.proxy.faults += [Fault(400, "ExpiredToken", method="HEAD")] * 2
    s3env.proxy.faults.append(Fault(400, "ExpiredToken", method="GET"))
    url = f"s3://{s3env.bucket()}/exp/"
    with pytest.raises(EnvironmentProblem, match="credentials have expired") as e:
        run(encoder, [str(tmp_path / "p.jsonl")], url)
    assert e.value.exit_code == 4 and "s3://" in str(e.value)


def test_array_ranks_started_together_share_one_prefix(
    encoder: Encoder, tiny_models: dict[str, Path], s3env: S3, stage: Path, tmp_path: Path
) -> None:
    """Ranks of an array start at once on one prefix (each with its own staging folder, as
    on two nodes): one job record and one run record are created, every record is embedded
    once, and _SUCCESS comes from whichever rank finishes last."""
    from tests.forkserver import spawn

    write_jsonl(tmp_path / "p.jsonl", papers(60, 14))
    url = f"s3://{s3env.bucket()}/arr/"
    procs = []
    for r in range(2):
        env = {**os.environ, STAGING_ENV: str(tmp_path / f"node{r}")}
        argv = ["embed", str(tmp_path / "p.jsonl"), "-o", url, "--shard-size", "8"]
        argv += ["--sort-window", "5", "--num-shards", "2", "--shard-index", str(r)]
        argv += ["--base-model", str(tiny_models["base"]), "--no-progress"]
        argv += ["--adapter-path", str(tiny_models["proximity"])]
        procs.append(spawn(argv, env=env))
    for p in procs:
        assert p.wait(300) == 0, p.communicate()[0]
    for r in range(2):
        run(encoder, [str(tmp_path / "p.jsonl")], tmp_path / "loc", shard_index=r, num_shards=2)
    got = read_embeddings(url)
    same(got, read_embeddings(tmp_path / "loc"))
    assert len(set(got.ids)) == 60
    names = objects(url)
    assert [n for n in names if n.startswith("_specter2/gen-")] == ["_specter2/gen-0000.json"]
    assert "_SUCCESS" in names and job_status(url).complete


def test_an_outdir_inside_the_input_prefix_is_not_read_as_input(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    bucket = s3env.bucket()
    write_jsonl(tmp_path / "p.jsonl", papers(20, 15))
    open_store(f"s3://{bucket}/").upload_file("data/p.jsonl", str(tmp_path / "p.jsonl"))
    url = f"s3://{bucket}/data/emb/"
    run(encoder, [f"s3://{bucket}/data/"], url)
    again = run(encoder, [f"s3://{bucket}/data/"], url)  # the listing now holds emb/ too
    assert again.already_done and again.total_rows == 0
    run(encoder, [str(tmp_path / "p.jsonl")], tmp_path / "loc")
    same(read_embeddings(url), read_embeddings(tmp_path / "loc"))


def test_a_node_whose_clock_is_ahead_does_not_take_a_live_lease(
    s3env: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lease age is judged by the store's clock (its Date header), not the local one."""
    import time as real_time
    import types

    from specter2_cli.objstore import commit as commit_mod
    from specter2_cli.objstore import store as store_mod
    from specter2_cli.objstore.commit import ObjectOutDir

    out = ObjectOutDir(f"s3://{s3env.bucket()}/skew/")
    key = out.key("_specter2/locks/g0000-r00000.json")
    out.store.put_bytes(key, Holder("x", "other-node", "", 1, 0.0).to_bytes())  # just renewed
    ahead = types.SimpleNamespace(
        time=lambda: real_time.time() + 3600,
        time_ns=lambda: real_time.time_ns() + 3600 * 10**9,
        sleep=real_time.sleep,
        monotonic=real_time.monotonic,
    )
    monkeypatch.setattr(commit_mod, "time", ahead)  # this node's clock: an hour ahead
    monkeypatch.setattr(store_mod, "time", ahead)
    with pytest.raises(LockHeld, match="being written by another process"):
        out.acquire("g0000-r00000", "test")


def test_readers_and_ranks_survive_commits_between_their_listing_and_their_reads(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer commits twice (retiring the manifest version a reader listed) or commits a
    shard the reader's listing does not show: the reader reads the newest version and finds
    the new shard, instead of calling the job damaged."""
    write_jsonl(tmp_path / "p.jsonl", papers(40, 16))
    url = f"s3://{s3env.bucket()}/race/"
    run(encoder, [str(tmp_path / "p.jsonl")], url)
    out = RemoteOutDir(url)
    stale = out._list_state()  # a listing taken just before ...
    (name,) = stale.newest_manifests().values()
    store = out.remote.store
    data = store.read_bytes(out.key(name)) or b""
    seq = int(name[-13:-5])
    for later in (seq + 1, seq + 2):  # ... two commits, the listed version retired
        store.put_bytes(out.key(f"{name[:-13]}{later:08d}.json"), data)
    store.delete(out.key(name))
    monkeypatch.setattr(out, "_list_state", lambda: stale)
    (m,) = out.manifests()
    assert m.done and m.rows == 40
    sizes = {n: o.size for n, o in stale.by_name.items()}  # no shard in this listing
    assert out.first_damage(m, dict(sizes), footers=False) is None  # each one asked for
    store.delete(out.key(m.shards[2].files[0]))
    gone = (2, f"{m.shards[2].files[0]} is missing")
    assert out.first_damage(m, dict(sizes), footers=False) == gone
    # an object deleted between a reader's HEAD and its GET (a retired manifest version)
    # reads as gone, not as an error
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    via_proxy = open_store(url)
    key = out.key(f"{name[:-13]}{seq + 2:08d}.json")
    s3env.proxy.faults.append(Fault(404, "NoSuchKey", method="GET", path=key))
    assert via_proxy.read_bytes(key) is None and not s3env.proxy.faults


def test_export_to_the_output_prefix_is_refused(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from specter2_cli.cli import app

    write_jsonl(tmp_path / "p.jsonl", papers(10, 17))
    bucket = s3env.bucket()
    run(encoder, [str(tmp_path / "p.jsonl")], f"s3://{bucket}/e/")
    for to in (f"s3://{bucket}/e/idx.faiss", f"s3a://{bucket}/e/sub/idx.faiss"):
        r = CliRunner().invoke(app, ["export", f"s3://{bucket}/e", "--to", to])
        assert r.exit_code == 2 and "inside the output prefix" in r.output, r.output
    assert not [n for n in objects(f"s3://{bucket}/e/") if "idx" in n]


def test_a_failed_start_killed_with_its_lease_is_forgotten_by_the_corrected_command(
    encoder: Encoder, s3env: S3, stage: Path, tmp_path: Path
) -> None:
    """As on a local disk: a first run that committed nothing (a bad first record) and was
    killed, leaving its lease, does not pin the prefix to its input; a live lease does."""
    import subprocess
    import sys

    from specter2_cli.errors import InputError

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "x", "title": 7}, *papers(5, 18)])
    good = write_jsonl(tmp_path / "good.jsonl", papers(6, 19))
    url = f"s3://{s3env.bucket()}/fs/"
    settings = EmbedSettings(model=encoder.settings, shard_size=8, on_error="fail")
    with pytest.raises(InputError):
        embed_files([str(bad)], url, encoder=encoder, settings=settings)
    out = RemoteOutDir(url)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = Holder.me()
    ghost = Holder("ghost", me.host, me.boot_id, dead.pid, 0.0)  # killed -9 on this node
    out.remote.store.put_bytes(out._lock_key(0, 0), ghost.to_bytes())
    assert not out.holds_work()
    run(encoder, [str(good)], url)  # the corrected command: another input, not refused
    run(encoder, [str(good)], tmp_path / "loc")
    same(read_embeddings(url), read_embeddings(tmp_path / "loc"))
