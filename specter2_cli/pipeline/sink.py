"""Where computed windows go: the open shard, the rejects file, and the commit point."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import faults
from ..store.manifest import Manifest, ShardEntry
from ..store.outdir import OutDir, shard_name
from ..store.rejects import RejectsFile
from ..store.shards import Rows, ShardWriter
from .inputcheck import new_digest
from .windows import Window


@dataclass
class ShardFormat:
    """How this job's shards are written."""

    fmt: str
    id_type: str
    dim: int
    out_dtype: str
    metadata: dict[str, Any]


@dataclass
class ShardSink:
    """Writes windows into the open shard and commits it at the shard's end.

    The commit point: the shard is published, the rejects fsynced, then the
    manifest that lists both is atomically replaced.
    """

    out: OutDir
    manifest: Manifest
    rejects: RejectsFile
    shape: ShardFormat
    on_commit: Callable[[ShardEntry], None] | None = None
    writer: ShardWriter | None = None
    windows: list[Window] = field(default_factory=list)
    input_digest: Any = field(default_factory=new_digest)  # of the open shard's input items

    def add(self, w: Window, emb: np.ndarray) -> None:
        if w.records:
            if self.writer is None:
                m = self.manifest
                name = shard_name(m.gen, m.rank, m.world, len(m.shards))
                s = self.shape
                self.writer = ShardWriter(
                    self.out.path / name, s.fmt, s.id_type, s.dim, s.out_dtype, s.metadata
                )
            self.writer.write(_rows(w, emb, self.shape.id_type))
            faults.point("shard_write")
        self.rejects.append(w.rejects)
        self.windows.append(w)
        self.input_digest.update(w.fingerprints)
        if w.shard_end or w.error is not None:
            self.commit()

    def commit(self) -> None:
        if not self.windows:
            return
        files = self.writer.commit() if self.writer is not None else []
        self.writer = None
        faults.point("after_rename")
        self.rejects.sync()
        m = self.manifest
        ws = self.windows
        last = ws[-1]
        assert last.cursor is not None
        skipped = [k for w in ws for k in w.skipped_keys]
        entry = ShardEntry(
            index=len(m.shards),
            files=files,
            rows=sum(len(w.records) for w in ws),
            rejected=sum(len(w.rejects) for w in ws),
            truncated=sum(w.truncated for w in ws),
            cursor=last.cursor.as_list(),
            rejects_bytes=self.rejects.size,
            real_tokens=sum(w.packing.real_tokens for w in ws if w.packing),
            padded_tokens=sum(w.packing.padded_tokens for w in ws if w.packing),
            skipped=sum(w.skipped for w in ws),
            changed=sum(w.changed for w in ws),
            open_rows=0 if last.shard_end else last.shard_rows,
            skipped_file=self.out.save_skipped(m, len(m.shards), skipped) if skipped else None,
            sizes=self.out.file_sizes(files),
            input_digest=self.input_digest.hexdigest(),
        )
        m.shards.append(entry)
        try:
            self.out.save_manifest(m)
        except Exception:
            # not committed after all (disk full?): take the shard back so readers see
            # exactly the committed rows; the rerun writes it again
            m.shards.pop()
            for name in files:
                with contextlib.suppress(OSError):
                    (self.out.path / name).unlink(missing_ok=True)
            raise
        self.windows = []
        self.input_digest = new_digest()
        if self.on_commit is not None:
            self.on_commit(entry)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def close(self) -> None:
        self.rejects.close()


def _rows(w: Window, emb: np.ndarray, id_type: str) -> Rows:
    n = len(w.records)
    return Rows.build(
        ids=[r.id for r in w.records],
        embeddings=emb,
        input_file=np.fromiter((r.file_index for r in w.records), np.int32, n),
        input_pos=np.fromiter((r.pos for r in w.records), np.int64, n),
        text_hash=np.array(w.hashes, dtype=np.uint64),
        id_key=np.array(w.keys, dtype=np.uint64),
        id_type=id_type,
    )
