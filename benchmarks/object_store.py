"""Object storage on loopback: reading inputs from S3 vs local files, and shard uploads
overlapped with compute.

Starts moto's S3 server on a free loopback port (nothing leaves the machine), writes a
synthetic JSONL corpus (plain and gzip) and a Parquet file, uploads them, and prints
records/s of reading + JSON-parsing each from local disk and through the object-store
reader (best of --repeats, interleaved), with the number of GET requests a scan made; then
records/s of the whole host path (`EmbedJob` with the device step replaced by nothing:
read, validate, tokenize, sort, batch, write) over --host-records synthetic papers given
as a local file and as an s3:// URL; then the start-up cost of resolving --resolve-files inputs (each file's
format is sniffed from its first bytes) behind --latency-ms of added round trip.
Then embeds by stand-in: --shards shards of [--rows, 768] float32, each "computed" for
--compute-s seconds (default: as long as one upload) either waiting as a host waits on
its GPU (--compute gpu-wait) or multiplying matrices on the CPU (--compute cpu), written
locally and committed to the S3 OUTDIR with the commit protocol, once serially and once
with the background uploader; prints both wall times and how much of the shorter side
(compute or upload) the overlap hid.

    python benchmarks/object_store.py [-n 50000] [--repeats 3] [--shards 6] [--rows 4096]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def corpus(path: Path, n: int) -> None:
    rng = random.Random(0)
    words = [f"w{i}" for i in range(5000)]
    with open(path, "w") as fh:
        for i in range(n):
            title = " ".join(rng.choices(words, k=12))
            abstract = " ".join(rng.choices(words, k=rng.randint(80, 250)))
            fh.write(json.dumps({"id": i, "title": title, "abstract": abstract}) + "\n")


def scan_jsonl(fh) -> int:  # type: ignore[no-untyped-def]
    n = 0
    for line in fh:
        json.loads(line)
        n += 1
    return n


def main() -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from specter2_cli.objstore import open_store
    from specter2_cli.objstore.commit import ObjectOutDir, new_attempt
    from specter2_cli.objstore.uploader import BackgroundUploader
    from tests.s3server import FAKE_ENV, start_moto

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--records", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shards", type=int, default=6)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--compute-s", type=float, default=0.0, help="0: as long as one upload")
    ap.add_argument("--compute", choices=["gpu-wait", "cpu"], default="gpu-wait")
    ap.add_argument("--host-records", type=int, default=8192)
    ap.add_argument("--host-shard", type=int, default=1024, help="records per shard")
    ap.add_argument("--resolve-files", type=int, default=200)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--workers", type=int, default=0, help="tokenizer threads (0: all CPUs)")
    args = ap.parse_args()

    proc, endpoint = start_moto()
    os.environ.update(FAKE_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        import boto3

        boto3.session.Session().client("s3").create_bucket(Bucket="bench")
        store = open_store("s3://bench/")
        tmp = Path(tempfile.mkdtemp(prefix="objbench"))
        plain, gz, par = tmp / "c.jsonl", tmp / "c.jsonl.gz", tmp / "c.parquet"
        corpus(plain, args.records)
        gz.write_bytes(gzip.compress(plain.read_bytes(), 6))
        with open(plain) as fh:
            pq.write_table(
                pa.Table.from_pylist([json.loads(x) for x in fh]), par, row_group_size=8192
            )
        for p in (plain, gz, par):
            store.upload_file(p.name, str(p))
        print(
            f"# {platform.node()} {os.cpu_count()} CPUs; corpus {args.records} records, "
            f"{plain.stat().st_size / 1e6:.1f} MB plain, {gz.stat().st_size / 1e6:.1f} MB gzip"
        )

        def local_plain() -> int:
            with open(plain, "rb", buffering=1 << 20) as fh:
                return scan_jsonl(fh)

        def s3_plain() -> int:
            with store.open_read(plain.name) as fh:
                n = scan_jsonl(fh)
                s3_plain.requests = fh.raw.requests  # type: ignore[attr-defined]
                return n

        def local_gz() -> int:
            with gzip.open(gz, "rb") as fh:
                return scan_jsonl(fh)

        def s3_gz() -> int:
            with store.open_read(gz.name) as fh, gzip.GzipFile(fileobj=fh) as z:
                return scan_jsonl(z)

        def local_parquet() -> int:
            return sum(b.num_rows for b in pq.ParquetFile(par).iter_batches(batch_size=4096))

        def s3_parquet() -> int:
            with store.open_read(par.name) as fh:
                return sum(b.num_rows for b in pq.ParquetFile(fh).iter_batches(batch_size=4096))

        def drain(fh) -> int:  # type: ignore[no-untyped-def]
            while fh.read(1 << 20):
                pass
            return args.records

        def local_bytes() -> int:
            with open(plain, "rb") as fh:
                return drain(fh)

        def s3_bytes() -> int:
            with store.open_read(plain.name) as fh:
                return drain(fh)

        cases = [local_plain, s3_plain, local_gz, s3_gz, local_parquet, s3_parquet]
        cases += [local_bytes, s3_bytes]
        best = {c.__name__: float("inf") for c in cases}
        for _ in range(args.repeats):
            for c in cases:
                t = time.perf_counter()
                assert c() == args.records
                best[c.__name__] = min(best[c.__name__], time.perf_counter() - t)
        print(
            "\n| read + parse | local records/s | S3 records/s | S3 / local |\n|---|---:|---:|---:|"
        )
        for kind in ("plain", "gz", "parquet"):
            lo, s3 = best[f"local_{kind}"], best[f"s3_{kind}"]
            print(
                f"| {kind} | {args.records / lo:,.0f} | {args.records / s3:,.0f} | {lo / s3:.2f} |"
            )
        mb = plain.stat().st_size / 1e6
        print(
            f"(plain JSONL scan over S3: {s3_plain.requests} GET requests; bytes alone, no "  # type: ignore[attr-defined]
            f"parsing: local {mb / best['local_bytes']:,.0f} MB/s, S3 {mb / best['s3_bytes']:,.0f} MB/s)"
        )

        host_path(store, tmp, args)
        resolve_startup(endpoint, args)

        # uploads overlapped with compute ------------------------------------
        rng = np.random.default_rng(0)
        w = rng.standard_normal((768, 768)).astype(np.float32)

        def shard(i: int) -> pa.Table:
            x = rng.standard_normal((args.rows, 768)).astype(np.float32)
            return pa.table(
                {
                    "id": np.arange(args.rows) + i * args.rows,
                    "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 768),
                }
            )

        sample = tmp / "sample.parquet"
        pq.write_table(shard(0), sample)
        t = time.perf_counter()
        store.upload_file("sample.parquet", str(sample))
        upload_s = time.perf_counter() - t
        compute_s = args.compute_s or upload_s
        x = rng.standard_normal((args.rows, 768)).astype(np.float32)
        t = time.perf_counter()
        x @ w
        reps = max(1, round(compute_s / max(1e-4, time.perf_counter() - t)))

        def compute(i: int) -> Path:
            if args.compute == "gpu-wait":
                time.sleep(compute_s)
            else:
                for _ in range(reps):
                    x @ w
            p = tmp / f"part-{i:05d}.parquet"
            pq.write_table(shard(i), p)
            return p

        def run(prefix: str, overlap: bool) -> float:
            out = ObjectOutDir(f"s3://bench/{prefix}/")
            lease = out.acquire("g0000-r00000", "bench")
            state: dict = {"shards": []}
            seq = [0]

            def commit(uploaded: list[tuple[str, int]]) -> None:
                state["shards"].append({"files": [n for n, _ in uploaded]})
                seq[0] += 1
                out.commit("g0000-r00000", seq[0], json.dumps(state).encode(), lease)

            t = time.perf_counter()
            if overlap:
                up = BackgroundUploader(out, new_attempt())
                for i in range(args.shards):
                    up.submit([(str(compute(i)), f"part-{i:05d}.parquet")], commit)
                up.drain()
                up.close()
            else:
                attempt = new_attempt()
                for i in range(args.shards):
                    p = compute(i)
                    commit([out.upload(str(p), f"part-{i:05d}.parquet", attempt)])
                    p.unlink()
            wall = time.perf_counter() - t
            lease.release()
            return wall

        t = time.perf_counter()
        for i in range(args.shards):
            compute(i).unlink()
        compute_total = time.perf_counter() - t
        serial = min(run(f"serial{r}", False) for r in range(args.repeats))
        overlapped = min(run(f"overlap{r}", True) for r in range(args.repeats))
        upload_total = serial - compute_total
        hidden = (serial - overlapped) / max(1e-9, min(compute_total, upload_total))
        print(
            f"\n{args.shards} shards of {args.rows} x 768 float32 "
            f"({sample.stat().st_size / 1e6:.1f} MB each): compute alone {compute_total:.2f} s, "
            f"upload+commit {upload_total:.2f} s"
        )
        print(
            f"serial {serial:.2f} s, overlapped {overlapped:.2f} s "
            f"({serial / overlapped:.2f}x; {100 * hidden:.0f}% of the shorter side hidden)"
        )
    finally:
        proc.kill()


def resolve_startup(endpoint: str, args: argparse.Namespace) -> None:
    """Resolving --resolve-files inputs behind a store --latency-ms away (a fault proxy adds
    the delay to every request): each file's start read one by one, and read ahead."""
    import boto3

    from specter2_cli.inputs.resolve import resolve_inputs
    from specter2_cli.objstore import inputs as oi
    from tests.s3server import start_proxy

    client = boto3.session.Session().client("s3")
    for i in range(args.resolve_files):
        body = b'{"id": %d, "title": "t", "abstract": "a"}\n' % i * 20
        client.put_object(Bucket="bench", Key=f"many/part_{i:04d}.jsonl", Body=body)
    server, proxy = start_proxy(endpoint)
    proxy.latency = args.latency_ms / 1000
    os.environ["AWS_ENDPOINT_URL"] = proxy.url
    plan = oi._plan_heads
    try:
        for ahead in (False, True):
            oi._store.cache_clear()
            oi._plan_heads = plan if ahead else (lambda *a: None)  # type: ignore[assignment]
            t = time.perf_counter()
            files = resolve_inputs(["s3://bench/many/"])
            wall = time.perf_counter() - t
            assert len(files) == args.resolve_files
            how = "read ahead (16 at a time)" if ahead else "one file after another"
            print(f"resolving {len(files)} inputs {args.latency_ms} ms away, {how}: {wall:.1f} s")
    finally:
        oi._plan_heads = plan
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        server.shutdown()


def host_path(store, tmp: Path, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    """The host path over a local file and over the same file's URL, best of --repeats."""
    import shutil

    from transformers import BertTokenizerFast

    from specter2_cli.bench.corpus import generated_vocab, word_pool, write_synthetic_corpus
    from specter2_cli.bench.host import NullEncoder
    from specter2_cli.config import EmbedSettings
    from specter2_cli.pipeline import EmbedJob

    vocab = tmp / "vocab.txt"
    vocab.write_text("\n".join(generated_vocab()) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    path = write_synthetic_corpus(tmp / "host.jsonl", args.host_records, word_pool(tok), 0)
    store.upload_file("host/host.jsonl", str(path))
    # (input, output): local to local, an S3 input, and an S3 OUTDIR (shards uploaded and
    # committed with the protocol while the next is made)
    cases = {
        "local": (str(path), "local"),
        "S3": ("s3://bench/host/host.jsonl", "local"),
        "S3 OUTDIR": (str(path), "s3"),
    }
    os.environ.setdefault("SPECTER2_STAGING_DIR", str(tmp / "staging"))
    best = dict.fromkeys(cases, float("inf"))
    for r in range(args.repeats + 1):  # the first round warms imports and caches up
        for name, (src, where) in cases.items():
            out: str | Path = tmp / f"host-out-{r}-{len(name)}"
            if where == "s3":
                out = f"s3://bench/host-out-{r}/"
            else:
                shutil.rmtree(out, ignore_errors=True)
            settings = EmbedSettings(workers=args.workers, shard_size=args.host_shard)
            enc = NullEncoder(tok, settings.model)
            t = time.perf_counter()
            EmbedJob([src], out, settings, encoder=enc).run()  # type: ignore[arg-type]
            if r:
                best[name] = min(best[name], time.perf_counter() - t)
    rate = {name: args.host_records / s for name, s in best.items()}
    print(
        f"\nhost path, {args.host_records} papers (~250 tokens), shards of {args.host_shard}, "
        f"device step skipped: local {rate['local']:,.0f} records/s, S3 input "
        f"{rate['S3']:,.0f} records/s ({rate['S3'] / rate['local']:.2f}), S3 OUTDIR "
        f"{rate['S3 OUTDIR']:,.0f} records/s ({rate['S3 OUTDIR'] / rate['local']:.2f})"
    )


if __name__ == "__main__":
    main()
