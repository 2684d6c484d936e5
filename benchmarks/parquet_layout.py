"""Shard size and read/write time: the former writer settings (snappy) vs ShardWriter (zstd + BSS).

    PYTHONPATH=. python3 benchmarks/parquet_layout.py /tmp/layout

20,000 rows x 768, string ids, written in windows of 8,192 rows as `embed` does.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from specter2_cli.store.shards import (
    INDEX_COLUMNS,
    Rows,
    ShardWriter,
    embedding_array,
    shard_schema,
)

N, DIM, WINDOW = 20_000, 768, 8_192


def main(out: Path) -> None:
    rng = np.random.default_rng(0)
    # CLS-like vectors: a shared offset plus spread (SPECTER2 vectors are not centred)
    emb = (rng.standard_normal(DIM) * 0.3 + rng.standard_normal((N, DIM)) * 0.5).astype(np.float32)
    hashes = rng.integers(0, 2**63, (2, N)).astype(np.uint64)
    ids: list[int | str] = [f"W{i:09d}" for i in range(N)]
    rows = Rows.build(ids, emb, np.zeros(N, np.int32), np.arange(N), *hashes, "string")
    out.mkdir(parents=True, exist_ok=True)
    for dtype in ("float32", "float16"):
        t0 = time.perf_counter()
        w = ShardWriter(out / f"new-{dtype}", "parquet", "string", DIM, dtype, {})
        for a in range(0, N, WINDOW):
            w.write(Rows(rows.index.slice(a, WINDOW), emb[a : a + WINDOW]))
        w.commit()
        t_new = time.perf_counter() - t0
        schema = shard_schema("string", DIM, dtype, {})
        t0 = time.perf_counter()
        old = pq.ParquetWriter(
            out / f"old-{dtype}.parquet",
            schema,
            compression="snappy",
            use_dictionary=["id"],
            write_statistics=["id", "input_file", "input_pos"],
        )
        for a in range(0, N, WINDOW):
            cols = [rows.index.column("id").slice(a, WINDOW)]
            cols += [embedding_array(emb[a : a + WINDOW], dtype)]
            cols += [rows.index.column(c).slice(a, WINDOW) for c in INDEX_COLUMNS[1:]]
            old.write_table(pa.table(cols, schema=schema))
        old.close()
        t_old = time.perf_counter() - t0
        s_new = os.path.getsize(out / f"new-{dtype}.parquet")
        s_old = os.path.getsize(out / f"old-{dtype}.parquet")
        t0 = time.perf_counter()
        pq.read_table(out / f"new-{dtype}.parquet")
        r_new = time.perf_counter() - t0
        t0 = time.perf_counter()
        pq.read_table(out / f"old-{dtype}.parquet")
        r_old = time.perf_counter() - t0
        print(
            f"{dtype}: snappy {s_old / 1e6:.2f} MB (write {t_old:.2f} s, read {r_old:.2f} s) -> "
            f"zstd+BSS {s_new / 1e6:.2f} MB (write {t_new:.2f} s, read {r_new:.2f} s), "
            f"{100 * (1 - s_new / s_old):.1f}% smaller"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/specter2-layout"))
