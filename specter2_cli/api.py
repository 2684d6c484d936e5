"""The library's entry points: embed files into an OUTDIR, or records in memory."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import EmbedSettings, FieldSettings
from .inputs import Record, RecordValidator, Rejected
from .inputs.validate import preview
from .pipeline import EmbedJob, RunSummary

if TYPE_CHECKING:
    from .model.encoder import Encoder


def embed_files(inputs: list[str], outdir: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """Run the whole file-to-shards pipeline (the library form of `specter2 embed`).

    Keyword arguments are those of EmbedJob; with `encoder=` and no `settings=`,
    the encoder's model settings are used. No signal handlers are installed: pass
    `stop=StopFlag()` and set it to stop a run after committing its finished work.
    """
    enc = kwargs.get("encoder")
    if enc is not None and "settings" not in kwargs:
        kwargs["settings"] = EmbedSettings(model=enc.settings)
    return EmbedJob(list(inputs), outdir, **kwargs).run()


def embed_records(
    encoder: Encoder,
    records: Iterable[dict[str, Any]],
    fields: FieldSettings | None = None,
    batch_tokens: int = 16_384,
    window: int = 8_192,
) -> tuple[list[int | str], np.ndarray, list[Rejected]]:
    """Embed an iterable of record dicts in memory: (ids, [n, hidden] float32, rejects).

    Records are formatted and validated exactly as `specter2 embed` does it
    (title [SEP] abstract, or the query for adhoc_query).
    """
    fields = fields or FieldSettings()
    # id type "any": in memory, ids are returned exactly as given
    validator = RecordValidator(
        fields,
        encoder.settings.query_mode,
        encoder.tokenizer.sep_token,
        "any",
        encoder.settings.text_format,
    )
    ids: list[int | str] = []
    chunks: list[np.ndarray] = []
    rejects: list[Rejected] = []
    batch: list[Record] = []

    def flush() -> None:
        if batch:
            chunks.append(encoder.embed_texts([r.text for r in batch], batch_tokens=batch_tokens))
            ids.extend(r.id for r in batch)
            batch.clear()

    for n, obj in enumerate(records):
        item = validator.validate(obj, "<records>", f"item {n}", preview(obj), 0, n)
        if isinstance(item, Rejected):
            rejects.append(item)
            continue
        batch.append(item)
        if len(batch) >= window:
            flush()
    flush()
    emb = np.concatenate(chunks) if chunks else np.zeros((0, encoder.hidden_size), np.float32)
    return ids, emb, rejects
