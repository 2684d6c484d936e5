"""What a run did, counted from the shards it committed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..inputs.validate import InputCounts
from ..store.manifest import Manifest


@dataclass
class RunSummary:
    outdir: str
    rank: int = 0
    world: int = 1
    generation: int = 0
    embedded: int = 0
    rejected: int = 0
    truncated: int = 0
    skipped: int = 0
    changed: int = 0
    real_tokens: int = 0
    padded_tokens: int = 0
    shards: int = 0
    seconds: float = 0.0
    resumed_from_rows: int = 0
    already_done: bool = False
    engine: str = ""
    kernels: str = ""  # the fused engine's CPU kernels, e.g. "unpadded, oneDNN linears"
    device: str = ""
    first_batch_s: float | None = None
    oom_splits: int = 0  # batches halved after the device ran out of memory
    fp32_reruns: int = 0  # records recomputed in float32 after an fp16 overflow
    token_cap: int | None = None  # the batch size (padded tokens) the device's memory allowed
    load_s: float = 0.0  # start until the model was loaded and the input checked
    embed_s: float = 0.0  # from then to the end: reading, embedding, writing
    total_rows: int = 0  # this rank's records in OUTDIR, as `specter2 status` counts them
    total_rejected: int = 0
    # What the readers saw in this run (see inputs.validate.InputCounts): records embedded
    # with no title / no abstract (duplicates rejected later are not counted), records whose
    # title or abstract was a placeholder ("[No abstract available]"), PubMed book articles
    # read and DeleteCitation entries read (not embedded), rejects by kind, and files found
    # beside the data in the input folders that were not read (manifests, checksums, ...).
    no_title: int = 0
    no_abstract: int = 0
    placeholders: int = 0
    book_articles: int = 0
    deleted_citations: int = 0
    skipped_files: int = 0
    no_text: int = 0  # records with neither title nor abstract (set aside, see rejected_by_reason)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def add_input_counts(self, c: InputCounts) -> None:
        self.no_title, self.no_abstract = c.no_title, c.no_abstract
        self.placeholders, self.book_articles = c.placeholders, c.book_articles
        self.deleted_citations = c.deleted_citations
        self.rejected_by_reason = dict(sorted(c.rejected_by_reason.items()))
        self.no_text = c.rejected_by_reason.get("no_text", 0)

    @property
    def new(self) -> int:
        return self.embedded - self.changed

    @property
    def papers_per_s(self) -> float:
        return self.embedded / self.embed_s if self.embed_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.real_tokens / self.embed_s if self.embed_s > 0 else 0.0

    @property
    def padding_efficiency(self) -> float:
        return self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0

    def count_shards(self, m: Manifest, first_shard: int = 0) -> None:
        """Counts of the shards from `first_shard` on (all of them for a finished job)."""
        mine = m.shards[first_shard:]
        self.embedded = sum(s.rows for s in mine)
        self.rejected = sum(s.rejected for s in mine)
        self.truncated = sum(s.truncated for s in mine)
        self.real_tokens = sum(s.real_tokens for s in mine)
        self.padded_tokens = sum(s.padded_tokens for s in mine)
        self.skipped = sum(s.skipped for s in mine)
        self.changed = sum(s.changed for s in mine)
        self.shards = len(mine)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["rejected_by_reason"] = dict(self.rejected_by_reason)
        d.update(
            new=self.new,
            papers_per_s=round(self.papers_per_s, 2),
            tokens_per_s=round(self.tokens_per_s, 1),
            padding_efficiency=round(self.padding_efficiency, 4),
        )
        return d


def reject_verdict(
    rows: int, rejected: int, max_rate: float | None, rejects_file: str
) -> str | None:
    """Why a rank that rejected records must not count as done, or None when it may."""
    if rejected and not rows:
        return (
            f"all {rejected} records were rejected and nothing was embedded; see {rejects_file} "
            "for why (wrong input format or field names? see "
            "--id-field, --title-field, --abstract-field, --text-field). No _SUCCESS was written"
        )
    seen = rows + rejected
    if max_rate is not None and seen and rejected / seen > max_rate:
        return (
            f"{rejected} of {seen} records were rejected ({100 * rejected / seen:.1f}%), more "
            f"than --max-reject-rate {max_rate}; see {rejects_file}. No _SUCCESS was "
            "written; fix the input, or raise --max-reject-rate and rerun"
        )
    return None
