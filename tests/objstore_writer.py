"""A writer that uses the object-store commit protocol exactly as a rank does: take the
lease, read the newest manifest, sweep leftovers, then per shard upload and commit, mark
the rank done and write _SUCCESS. Shards are deterministic functions of their index, so a
resumed run must leave exactly the objects of an uninterrupted one.

    python tests/objstore_writer.py s3://bucket/out/ RECORDS SHARD_SIZE

SPECTER2_FAULT=<point>:N kills it (SIGKILL) at object_upload, upload_bytes (mid-PUT),
after_object_upload, object_commit or after_object_commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile

from specter2_cli.objstore.commit import ObjectOutDir, new_attempt

RANK = "g0000-r00000"


def shard_bytes(start: int, rows: int) -> bytes:
    """Deterministic stand-ins for the rows' vectors (the protocol never looks inside)."""
    return b"".join(
        hashlib.sha256(str(i).encode()).digest() * 8 for i in range(start, start + rows)
    )


def main(url: str, records: int, shard_size: int) -> int:
    out = ObjectOutDir(url)
    lease = out.acquire(RANK, "rank 0")
    latest = out.latest(RANK)
    seq, state = (
        (latest[0], json.loads(latest[1])) if latest else (0, {"shards": [], "done": False})
    )
    if state["done"]:
        print("nothing to do")
        lease.release()
        return 0
    committed = {f for sh in state["shards"] for f in sh["files"]}
    swept = out.sweep(committed, lambda name: name.startswith("part-"))
    print(f"swept {len(swept)}", flush=True)
    attempt = new_attempt()
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(len(state["shards"]), -(-records // shard_size)):
            start = index * shard_size
            rows = min(shard_size, records - start)
            local = os.path.join(tmp, f"part-{index:05d}.parquet")
            with open(local, "wb") as fh:
                fh.write(shard_bytes(start, rows))
            name, size = out.upload(local, f"part-{index:05d}.parquet", attempt)
            state["shards"].append({"index": index, "files": [name], "sizes": [size], "rows": rows})
            seq += 1
            out.commit(RANK, seq, json.dumps(state).encode(), lease)
            print(f"committed {index}", flush=True)
    state["done"] = True
    seq += 1
    out.commit(RANK, seq, json.dumps(state).encode(), lease)
    out.write_success()
    lease.release()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
