"""The records of what a run has committed: one manifest per rank, one generation per input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = 1


@dataclass
class ShardEntry:
    index: int
    files: list[str]
    rows: int
    rejected: int
    truncated: int
    cursor: list[int]  # [file_index, pos] after the shard's last record
    rejects_bytes: int  # size of the rejects file once this shard's rejects were written
    real_tokens: int = 0
    padded_tokens: int = 0
    skipped: int = 0  # incremental: unchanged records not re-embedded
    changed: int = 0  # incremental: ids whose text changed
    open_rows: int = 0  # a stop committed part of a shard: its rows so far (resume continues it)
    skipped_file: str | None = None  # incremental: _specter2/ file of the skipped ids' keys
    sizes: list[int] | None = None  # bytes of each file in `files`, to detect damage
    input_digest: str | None = None  # of the input records it covers (pipeline.inputcheck)


@dataclass
class Manifest:
    gen: int
    rank: int
    world: int
    shards: list[ShardEntry] = field(default_factory=list)
    done: bool = False
    failed: str | None = None  # why a finished rank is not done (too many rejects)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    format_version: int = FORMAT_VERSION

    @property
    def cursor(self) -> list[int] | None:
        return self.shards[-1].cursor if self.shards else None

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.shards)

    @property
    def committed_files(self) -> set[str]:
        return {f for sh in self.shards for f in sh.files}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        d = dict(d)
        d["shards"] = [ShardEntry(**s) for s in d.get("shards", [])]
        return cls(**d)


def in_run_order(manifests: Iterable[Manifest]) -> list[Manifest]:
    """Oldest generation first, then by rank: the input order of the committed rows."""
    return sorted(manifests, key=lambda m: (m.gen, m.rank))


@dataclass
class Generation:
    """One run over one input (an --incremental run over new input adds one)."""

    gen: int
    inputs: list[dict[str, Any]]
    world: int
    incremental: bool
    created_at: float
