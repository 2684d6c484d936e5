"""Frozen settings for a run, and the job identity that guards an OUTDIR."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DEFAULT_BASE_MODEL = "allenai/specter2_base"

ADAPTER_IDS: dict[str, str | None] = {
    "proximity": "allenai/specter2",
    "adhoc_query": "allenai/specter2_adhoc_query",
    "classification": "allenai/specter2_classification",
    "regression": "allenai/specter2_regression",
    "none": None,
}

ID_FIELDS = (
    "id",
    "paper_id",
    "corpus_id",
    "corpusid",
    "doc_id",
    "_id",
    "coreId",
    "pmid",
    "paperId",
)

Format = Literal["parquet", "npy"]
OnError = Literal["fail", "skip"]


def is_local_folder(path: str | None) -> bool:
    import os

    return path is not None and os.path.isdir(os.path.expanduser(path))


@dataclass(frozen=True)
class ModelSettings:
    """What decides the numbers in an embedding."""

    base_model: str = DEFAULT_BASE_MODEL
    adapter: str = "proximity"
    adapter_path: str | None = None
    revision: str | None = None
    max_length: int = 512
    normalize: bool = False
    adapter_revision: str | None = None  # Hub revision of the adapter (--adapter-revision)
    text_format: str = "card"  # paper text: "card" or "scirepeval", see text.format_paper

    def __post_init__(self) -> None:
        if self.adapter not in ADAPTER_IDS:
            names = ", ".join(ADAPTER_IDS)
            raise ValueError(f"unknown adapter {self.adapter!r}: choose one of {names}")
        if self.adapter == "none" and self.adapter_path:
            raise ValueError("--adapter-path needs an adapter: drop it, or choose --adapter")
        if self.text_format not in ("card", "scirepeval"):
            raise ValueError(f"--text-format {self.text_format}: choose card or scirepeval")
        if self.adapter_revision and (self.adapter == "none" or is_local_folder(self.adapter_path)):
            raise ValueError("--adapter-revision needs a Hub adapter, not a folder or none")
        if not 2 <= self.max_length <= 512:
            raise ValueError(f"max_length must be between 2 and 512, got {self.max_length}")

    @property
    def adapter_source(self) -> str | None:
        """Hub id or local folder of the adapter, None for the base model alone."""
        if self.adapter == "none":
            return None
        return self.adapter_path or ADAPTER_IDS[self.adapter]

    @property
    def query_mode(self) -> bool:
        return self.adapter == "adhoc_query"


@dataclass(frozen=True)
class FieldSettings:
    """Which record fields hold the id and the text."""

    id_field: str | None = None  # None: first present of ID_FIELDS
    title_field: str = "title"
    abstract_field: str = "abstract"
    text_field: str = "query"
    id_type: Literal["auto", "int", "string"] = "auto"
    preset: str | None = None  # --preset: recorded, so a rerun with another one is refused


_NEWER_MODEL_DEFAULTS: dict[str, Any] = {"adapter_revision": None, "text_format": "card"}


@dataclass(frozen=True)
class EmbedSettings:
    """Everything `specter2 embed` was asked to do, except where the input comes from."""

    model: ModelSettings = field(default_factory=ModelSettings)
    fields: FieldSettings = field(default_factory=FieldSettings)
    device: str = "auto"
    dtype: str = "auto"  # compute dtype: auto|float16|bfloat16|float32|int8 (CPU)
    output_dtype: Literal["float32", "float16"] = "float32"
    format: Format = "parquet"
    shard_size: int = 50_000
    sort_window: int = 8_192
    batch_tokens: int = 0  # 0: auto, see resolved_batch_tokens
    max_batch_rows: int = 1_024
    on_error: OnError = "fail"
    engine: Literal["auto", "fused", "reference"] = "auto"
    workers: int = 0  # tokenizer threads; 0: auto, see resolved_workers

    def __post_init__(self) -> None:
        for name in ("shard_size", "sort_window", "max_batch_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be positive")
        if self.workers < 0:
            raise ValueError("workers must be positive (or 0 for one per usable CPU, less one)")
        if self.batch_tokens and self.batch_tokens < self.model.max_length:
            raise ValueError(
                f"--batch-tokens ({self.batch_tokens}) must be at least --max-length "
                f"({self.model.max_length}) so that one full-length record fits a batch"
            )

    def resolved_workers(self) -> int:
        """--workers, or one per CPU this process may use, less one for the device loop."""
        if self.workers:
            return self.workers
        return default_workers()

    def resolved_batch_tokens(self, device: str) -> int:
        """--batch-tokens, or the default for the device: big batches keep a GPU busy
        (fewer, larger kernel launches); on a CPU they only cost memory."""
        if self.batch_tokens:
            return self.batch_tokens
        return 131_072 if device.startswith("cuda") else 16_384

    def job_identity(self) -> dict[str, Any]:
        """Settings that must match for two runs to write into the same OUTDIR.

        Batching and device settings are left out on purpose: they do not change
        which records are embedded, and a resumed run may use another GPU.
        """
        m = asdict(self.model)
        # left out at their defaults, so OUTDIRs written before these settings existed resume
        for name, default in _NEWER_MODEL_DEFAULTS.items():
            if m[name] == default:
                del m[name]
        f = asdict(self.fields)
        return {
            "model": m,
            "fields": f,
            "output_dtype": self.output_dtype,
            "format": self.format,
            "compute_dtype": self.dtype,
        }


def default_workers() -> int:
    """Tokenizer threads by default: the CPUs this process may use, less one, at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) - 1)


def describe_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable list of what differs between two nested settings dicts."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += describe_differences(a, b, prefix=name + ".")
        elif a != b:
            out.append(f"{name}: was {a!r}, now {b!r}")
    return out
