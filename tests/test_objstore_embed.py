"""Embedding inputs read from S3 (the loopback server) equals embedding the same files
from local disk: every format, prefixes, rank splits by byte range and row group, resume."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings, ModelSettings
from specter2_cli.errors import InputError
from specter2_cli.model.encoder import Encoder
from specter2_cli.model.loader import load_encoder
from specter2_cli.objstore import inputs as oi
from specter2_cli.objstore import open_store
from specter2_cli.objstore.outdir import STAGING_ENV
from specter2_cli.synthetic import synthetic_papers
from tests import formats_data as fd
from tests.helpers import write_jsonl

from . import s3server
from .s3server import S3, Fault

s3_server = s3server.s3_server  # the fixtures this module uses
s3env = s3server.s3env
COLUMNS = ["id", "embedding", "input_file", "input_pos"]


@pytest.fixture(scope="module")
def encoder(tiny_models: dict[str, Path]) -> Encoder:
    return load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        )
    )


def run(enc: Encoder, inputs: list[str], out: Path, **kw: Any) -> pa.Table:
    settings = EmbedSettings(model=enc.settings, shard_size=8, sort_window=5)
    embed_files(inputs, out, encoder=enc, settings=settings, **kw)
    return pq.read_table(out, columns=COLUMNS)


def upload_tree(s3: S3, root: Path, prefix: str) -> str:
    oi._store.cache_clear()
    bucket = s3.bucket()
    store = open_store(f"s3://{bucket}/")
    for p in sorted(root.rglob("*")):
        if p.is_file():
            store.upload_file(prefix + p.relative_to(root).as_posix(), str(p))
    return f"s3://{bucket}/{prefix}"


def test_an_openalex_snapshot_prefix_embeds_like_the_local_folder(
    encoder: Encoder, s3env: S3, tmp_path: Path
) -> None:
    fd.write_openalex(tmp_path / "works")  # partitions of part_000.gz, and a manifest
    url = upload_tree(s3env, tmp_path / "works", "data/works/")
    local = run(encoder, [str(tmp_path / "works")], tmp_path / "local")
    remote = run(encoder, [url], tmp_path / "remote")
    assert remote.num_rows == local.num_rows > 0
    assert remote.equals(local)  # ids, vectors bit for bit, input positions


@pytest.mark.parametrize("kind", ["pubmed", "csv+zstd"])
def test_other_formats_from_s3_embed_like_local_files(
    encoder: Encoder, s3env: S3, tmp_path: Path, kind: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    if kind == "pubmed":
        fd.write_pubmed(src / "pubmed25n0001.xml.gz")
    else:
        recs = fd.write_csv(src / "a.csv")
        fd.write_zstd_jsonl(src / "b.jsonl.zst", [dict(r, id=f"z{r['id']}") for r in recs])
    url = upload_tree(s3env, src, "f/")
    local = run(encoder, [str(src)], tmp_path / "local")
    assert run(encoder, [url], tmp_path / "remote").equals(local) and local.num_rows > 0


def test_ranks_over_s3_equal_local_ranks(encoder: Encoder, s3env: S3, tmp_path: Path) -> None:
    papers = list(synthetic_papers(90, seed=3, mean_words=20, sd_words=10))
    src = tmp_path / "src"
    src.mkdir()
    write_jsonl(src / "a.jsonl", papers[:45])  # plain JSONL: ranks split it by byte range
    write_jsonl(tmp_path / "b.jsonl", papers[45:65])
    (src / "b.jsonl.gz").write_bytes(gzip.compress((tmp_path / "b.jsonl").read_bytes()))
    pq.write_table(pa.Table.from_pylist(papers[65:]), src / "c.parquet", row_group_size=6)
    url = upload_tree(s3env, src, "in/")
    rows = 0
    for r in range(2):  # each rank reads its own byte ranges / row groups of the objects
        local = run(encoder, [str(src)], tmp_path / f"l{r}", shard_index=r, num_shards=2)
        remote = run(encoder, [url], tmp_path / f"r{r}", shard_index=r, num_shards=2)
        assert 0 < remote.num_rows < 90 and remote.equals(local), r
        rows += remote.num_rows
    assert rows == 90  # every record has one owner


def test_a_store_that_fails_mid_run_is_exit_4_and_the_rerun_resumes(
    encoder: Encoder, s3env: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specter2_cli.errors import EnvironmentProblem
    from specter2_cli.objstore import rangefile

    write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(60, seed=4, mean_words=15, sd_words=5)))
    url = upload_tree(s3env, tmp_path, "mid/") + "p.jsonl"
    ref = run(encoder, [str(tmp_path / "p.jsonl")], tmp_path / "ref")
    monkeypatch.setattr(rangefile, "FIRST_SPAN", 2048)  # many small GETs, so that one fails
    monkeypatch.setattr(rangefile, "MAX_SPAN", 2048)  # mid-run
    monkeypatch.setattr(rangefile, "BUFFER", 2048)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.proxy.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    oi._store.cache_clear()
    s3env.proxy.faults.append(Fault(503, "SlowDown", method="GET", path="/mid/p.jsonl", skip=12))
    s3env.proxy.faults += [Fault(503, "SlowDown", method="GET", path="/mid/p.jsonl")] * 20
    with pytest.raises(EnvironmentProblem, match=rf"{url}: the store .* kept failing") as e:
        run(encoder, [url], tmp_path / "out")
    assert e.value.exit_code == 4
    assert 0 < pq.read_table(tmp_path / "out").num_rows < 60  # finished shards kept
    s3env.proxy.faults.clear()
    assert run(encoder, [url], tmp_path / "out").equals(ref)  # the rerun resumes


def test_url_errors_before_any_work(encoder: Encoder, s3env: S3, tmp_path: Path) -> None:
    url = upload_tree(s3env, tmp_path, "empty/")  # an empty bucket
    with pytest.raises(InputError, match="no such object"):
        run(encoder, [url + "missing.jsonl"], tmp_path / "o1")
    with pytest.raises(InputError, match="matches no object"):
        run(encoder, [url + "*.jsonl"], tmp_path / "o2")


def test_the_cli_reads_a_public_bucket_anonymously(
    tiny_models: dict[str, Path], s3env: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from specter2_cli.cli import app

    papers = list(synthetic_papers(12, seed=5, mean_words=10, sd_words=4))
    write_jsonl(tmp_path / "p.jsonl", papers)
    url = upload_tree(s3env, tmp_path, "pub/")
    bucket = url.split("/")[2]
    signed = open_store(f"s3://{bucket}/")
    signed.client.put_object_acl(Bucket=bucket, Key="pub/p.jsonl", ACL="public-read")
    # --anonymous sets SPECTER2_ANONYMOUS_READS in this process: setenv first, so that the test's
    # end restores its absence
    monkeypatch.setenv("SPECTER2_ANONYMOUS_READS", "0")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k)
    oi._store.cache_clear()
    models = ["--base-model", str(tiny_models["base"])]
    models += ["--adapter-path", str(tiny_models["proximity"]), "--no-progress"]

    def embed(*args: str) -> Any:
        return CliRunner().invoke(app, ["embed", *args, *models])

    (tmp_path / "urls.txt").write_text(f"# the bucket's papers\n{url}\n")
    r = embed("--inputs-from", str(tmp_path / "urls.txt"), "-o", str(tmp_path / "o"), "--anonymous")
    assert r.exit_code == 0, r.output
    assert pq.read_table(tmp_path / "o").num_rows == 12
    # an OUTDIR or a --to on object storage is written with credentials, --anonymous or not;
    # no local "s3:" folder appears (a Path-typed option turns s3://b/k into s3:/b/k)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(STAGING_ENV, str(tmp_path / "stage"))
    for args in (
        ["embed", url + "p.jsonl", "-o", url + "out/", "--anonymous", *models],
        ["status", url + "out/"],
        ["merge", str(tmp_path / "o"), "--to", url + "all.parquet"],
    ):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 4 and "no AWS credentials" in r.output, (args, r.output)
        assert url in r.output and "--anonymous" not in r.output.split("error:")[1]
        assert not (tmp_path / "s3:").exists()
    signed.put_bytes("pub/private.jsonl", (tmp_path / "p.jsonl").read_bytes())
    r = embed(url + "private.jsonl", "-o", str(tmp_path / "o2"), "--anonymous")
    assert r.exit_code == 4, r.output
    assert f"{url}private.jsonl: access denied" in r.output and "anonymous" in r.output
    r = CliRunner().invoke(  # the option's variable, as every option has one
        app,
        ["embed", url + "gone.jsonl", "-o", str(tmp_path / "o3"), *models],
        env={"SPECTER2_EMBED_ANONYMOUS": "1"},
    )
    assert r.exit_code == 3 and "gone.jsonl: no such object" in r.output, r.output


def test_sigterm_while_reading_s3_exits_75_and_the_rerun_resumes(
    encoder: Encoder, tiny_models: dict[str, Path], s3env: S3, tmp_path: Path
) -> None:
    import os

    from tests.forkserver import spawn

    write_jsonl(tmp_path / "p.jsonl", list(synthetic_papers(60, seed=9, mean_words=15, sd_words=5)))
    url = upload_tree(s3env, tmp_path, "sig/") + "p.jsonl"

    def cli(out: Path, fault: str = "") -> tuple[int, str]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "SPECTER2_FAULT": fault}
        argv = ["embed", url, "-o", str(out), "--shard-size", "8", "--sort-window", "5"]
        argv += ["--base-model", str(tiny_models["base"]), "--no-progress", "--log-every", "0"]
        argv += ["--adapter-path", str(tiny_models["proximity"])]
        p = spawn(argv, env=env)
        return p.returncode if p.wait(300) is not None else -1, p.communicate()[0] or ""

    ref = run(encoder, [url], tmp_path / "ref")  # the same settings, in this process
    rc, text = cli(tmp_path / "out", "batch:3:TERM")  # a real SIGTERM mid-run
    assert rc == 75, text
    assert 0 < pq.read_table(tmp_path / "out").num_rows < 60
    rc, text = cli(tmp_path / "out")
    assert rc == 0, text
    key = [("input_pos", "ascending")]
    got = pq.read_table(tmp_path / "out", columns=COLUMNS).sort_by(key)
    assert got.equals(ref.sort_by(key))  # bit for bit after the resume
