"""What `specter2 bench` is asked to do and what each case measured."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

log = logging.getLogger("specter2")

if TYPE_CHECKING:
    pass


CASE_NAMES = {
    "a": "model-card loop",
    "b": "best plain recipe",
    "o": "ONNX Runtime",
    "c": "specter2 embed",
}
VOCAB_SIZE = 31_090  # allenai/specter2_base (SciBERT scivocab uncased)
CARD_BATCH = 32
PLAIN_BUDGET = {"cuda": 65_536, "cpu": 16_384}
# Records per size: {size: {device kind: n}}. CPU "full" uses the real shape, which
# runs the model-card loop at ~1.3 papers/s on 2 cores: keep it to minutes.
SIZES = {"quick": {"cuda": 2_048, "cpu": 256}, "full": {"cuda": 16_384, "cpu": 256}}
LENGTH_MEAN, LENGTH_SD, LENGTH_MIN, LENGTH_MAX = 250.0, 100.0, 16, 512


@dataclass
class BenchConfig:
    """What `specter2 bench` was asked to do."""

    size: str = "full"  # quick | full
    records: int | None = None  # None: from size and device
    model: str | None = None  # base model (folder or Hub id); None: random
    adapter_path: str | None = None  # with model; None: the proximity adapter's Hub id
    vocab: str | None = None  # vocab.txt for the random model; None: generated
    layers: int | None = None
    hidden: int | None = None
    input: str | None = None  # JSONL corpus; None: synthetic
    device: str = "auto"
    dtype: str = "auto"  # compute dtype of b and c; a is always fp32
    batch_tokens: int | None = None  # case c; None: the tool's default
    cases: tuple[str, ...] = ("auto",)  # a, b, o, c; auto: a, b, c (+ o on CPU with ORT)
    repeat: int = 1
    seed: int = 0
    workdir: str | None = None
    reference_subset: int = 512  # records in the fp32 reference when case a did not run
    warmup: int | None = None  # records run once before timing; None: 64 on CUDA, 8 on CPU


@dataclass
class CaseResult:
    case: str
    name: str
    recipe: str
    dtype: str
    records: int = 0
    seconds: float = 0.0  # best of the repeats
    seconds_all: list[float] = field(default_factory=list)
    load_s: float = 0.0  # model loading, not in `seconds`
    papers_per_s: float = 0.0
    tokens_per_s: float = 0.0
    real_tokens: int = 0
    padded_tokens: int = 0
    padding_efficiency: float = 0.0
    batches: int = 0
    nonfinite_rows: int = 0
    peak_mem_mb: float = 0.0
    peak_mem_kind: str = ""
    process_maxrss_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def finish(self) -> None:
        self.seconds = min(self.seconds_all)
        self.papers_per_s = self.records / self.seconds if self.seconds > 0 else 0.0
        self.tokens_per_s = self.real_tokens / self.seconds if self.seconds > 0 else 0.0
        self.padding_efficiency = (
            self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0
        )


@dataclass
class Corpus:
    path: Path
    positions: list[int]  # byte offset of each paper's line (the tool's input_pos)
    texts: list[str]
