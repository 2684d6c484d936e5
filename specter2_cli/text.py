"""SPECTER2's input text, token ids and batches: one definition of each.

* the paper text: the model card's `title + [SEP] + (abstract or "")` (the default,
  `--text-format card`) or SciRepEval's rule, with which SPECTER2 was trained
  (`--text-format scirepeval`); a search query is its text alone (`adhoc_query`);
* token ids exactly as `tokenizer(..., truncation=True, max_length=512)` makes them;
* a window of records sorted by token length and packed into batches of at most
  `batch_tokens` padded tokens, so a batch of long abstracts never runs out of
  memory and short ones fill the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A WordPiece token never spans more than ~100 characters, so a text cut at a
# whitespace boundary this far out still yields well over max_length tokens;
# cutting first keeps a 10 MB abstract from costing seconds of tokenization.
_CHARS_PER_TOKEN_BOUND = 64


TEXT_FORMATS = ("card", "scirepeval")


def format_paper(
    title: str | None, abstract: str | None, sep: str = "[SEP]", style: str = "card"
) -> str:
    """A paper's model text.

    card: the model card's `title + sep_token + (abstract or "")`, so a paper without
    an abstract ends in `[SEP] [SEP]` once tokenized. scirepeval: SciRepEval's rule
    (evaluation/eval_datasets.py), `f" {sep} ".join` of the non-empty fields, stripped:
    no trailing separator, and a paper without a title is its abstract alone.
    """
    if style == "scirepeval":
        return f" {sep} ".join(str(f) for f in (title, abstract) if f).strip()
    return (title or "") + sep + (abstract or "")


@dataclass(slots=True)
class Batch:
    rows: np.ndarray  # indices into the window, int64
    input_ids: np.ndarray  # [n, L] int64
    attention_mask: np.ndarray | None  # [n, L] int64, None when no row is padded
    real_tokens: int


@dataclass(slots=True)
class Tokenized:
    ids: list[list[int]]
    lengths: np.ndarray  # int64 per text
    truncated: np.ndarray  # bool per text


@dataclass
class Packing:
    batches: list[Batch] = field(default_factory=list)
    real_tokens: int = 0
    padded_tokens: int = 0


def _clip(text: str, max_length: int) -> str:
    limit = max_length * _CHARS_PER_TOKEN_BOUND
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text if cut <= 0 else text[:cut]


def _encode(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    return list(
        tokenizer(
            texts,
            add_special_tokens=True,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
    )


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> Tokenized:
    """Token ids as the model card makes them (truncation at max_length), plus a truncated flag.

    Tokenizing at max_length + 1 tells truncated texts apart from texts of exactly
    max_length tokens; the ids are then cut to what truncation at max_length gives:
    [CLS] + the first max_length - 2 tokens + [SEP].
    """
    clipped = [_clip(t, max_length) for t in texts]
    ids = _encode(tokenizer, clipped, max_length + 1)
    # A clipped text that came out short (a wall of whitespace, say) is redone in full.
    for i, (t, c) in enumerate(zip(texts, clipped, strict=True)):
        if t is not c and len(ids[i]) <= max_length:
            ids[i] = _encode(tokenizer, [t], max_length + 1)[0]
    sep = tokenizer.sep_token_id
    truncated = np.zeros(len(ids), dtype=bool)
    for i, seq in enumerate(ids):
        if len(seq) > max_length:
            ids[i] = [*seq[: max_length - 1], sep]
            truncated[i] = True
    lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
    return Tokenized(ids, lengths, truncated)


def pad_length(n: int, multiple: int, cap: int) -> int:
    """Round up to a multiple (fewer distinct shapes keep device kernels warm), at most cap."""
    return min(-(-n // multiple) * multiple, max(cap, n))


def pack(
    tok: Tokenized,
    batch_tokens: int,
    max_rows: int,
    pad_id: int,
    pad_multiple: int = 8,
    max_positions: int = 512,
) -> Packing:
    """Sort by length (longest first) and cut into batches of at most batch_tokens padded tokens."""
    lengths = tok.lengths
    order = np.argsort(-lengths, kind="stable")
    packing = Packing()
    i, n = 0, len(order)
    while i < n:
        width = pad_length(int(lengths[order[i]]), pad_multiple, max_positions)
        rows = max(1, min(max_rows, batch_tokens // width, n - i))
        idx = order[i : i + rows]
        lens = lengths[idx]
        mask = np.arange(width)[None, :] < lens[:, None]
        input_ids = np.full((rows, width), pad_id, dtype=np.int64)
        input_ids[mask] = np.concatenate([tok.ids[j] for j in idx])
        full = bool(mask.all())
        real = int(lens.sum())
        packing.batches.append(
            Batch(idx.astype(np.int64), input_ids, None if full else mask.astype(np.int64), real)
        )
        packing.real_tokens += real
        packing.padded_tokens += rows * width
        i += rows
    return packing
