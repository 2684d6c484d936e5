"""A fake encoder for pipeline tests: no torch, no model, deterministic vectors that depend only
on a record's own token ids (so any batching gives the same rows), and counters."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from specter2_cli.config import ModelSettings
from specter2_cli.text import Packing

CLS, SEP, PAD = 102, 103, 0


class FakeTokenizer:
    """Whitespace 'WordPiece': one token per word (a CRC of it), [CLS] ... [SEP], truncation."""

    sep_token = "[SEP]"
    sep_token_id = SEP
    pad_token_id = PAD

    @staticmethod
    def token(word: str) -> int:
        return SEP if word == "[SEP]" else 200 + zlib.crc32(word.encode("utf-8", "replace")) % 5000

    def __call__(self, texts: list[str], max_length: int = 512, **_: Any) -> dict[str, Any]:
        out = []
        for t in texts:
            body = [self.token(w) for w in t.replace("[SEP]", " [SEP] ").split()]
            out.append([CLS, *body[: max_length - 2], SEP])
        return {"input_ids": out}


def fake_vector(ids: np.ndarray, dim: int) -> np.ndarray:
    """The fake model's output for one row of token ids (no padding)."""
    j = np.arange(1, dim + 1, dtype=np.float64)
    return (np.sin(np.outer(ids.astype(np.float64), j)).sum(0) / len(ids)).astype(np.float32)


def reference(text: str, dim: int = 8, max_length: int = 64) -> np.ndarray:
    """What the pipeline must write for a record whose model text is `text`."""
    ids = FakeTokenizer()([text], max_length=max_length)["input_ids"][0]
    return fake_vector(np.asarray(ids), dim)


@dataclass
class FakeStats:
    batches: int = 0
    rows: int = 0
    oom_splits: int = 0
    fp32_reruns: int = 0
    first_batch_s: float | None = None


@dataclass
class FakeEncoder:
    """Implements what the pipeline uses of `Encoder`; records every window and batch it sees."""

    settings: ModelSettings = field(default_factory=lambda: ModelSettings(max_length=64))
    hidden_size: int = 8
    tokenizer: FakeTokenizer = field(default_factory=FakeTokenizer)
    device: str = "cpu"
    dtype: str = "float32"
    compute_dtype: str = "float32"
    int8: dict[str, Any] | None = None
    engine: str = "fake"
    kernels: str = ""
    max_positions: int = 512
    revisions: dict[str, str | None] = field(default_factory=dict)
    adapter_tag: str | None = None
    on_batch: Any = None  # (rows, real tokens) after each batch, as Encoder calls it
    stats: FakeStats = field(default_factory=FakeStats)
    windows: list[int] = field(default_factory=list)  # rows per submitted window
    batch_shapes: list[tuple[int, int]] = field(default_factory=list)
    token_cap: int | None = None

    def batch_budget(self, budget: int) -> int:
        return budget

    def submit(self, packing: Packing, n_rows: int, should_stop: Any = None) -> np.ndarray:
        out = np.zeros((n_rows, self.hidden_size), np.float32)
        for b in packing.batches:
            self.batch_shapes.append(b.input_ids.shape)
            for k, (row, ids) in enumerate(zip(b.rows, b.input_ids, strict=True)):
                real = ids if b.attention_mask is None else ids[b.attention_mask[k].astype(bool)]
                out[row] = fake_vector(real, self.hidden_size)
            self.stats.batches += 1
            self.stats.rows += len(b.rows)
            if self.on_batch is not None:
                self.on_batch(len(b.rows), b.real_tokens)
        self.windows.append(n_rows)
        return out

    def collect(self, pending: np.ndarray) -> np.ndarray:
        return pending
