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

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fasttok import encode_ids

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


# Texts per task when tokenizing with a thread pool: small enough to spread a window over
# the workers with little idle tail, large enough that the Rust batch call dominates.
CHUNK = 256


def tokenize(
    tokenizer: Any, texts: Sequence[str], max_length: int, pool: Executor | None = None
) -> Tokenized:
    """Token ids as the model card makes them (truncation at max_length), plus a truncated flag.

    Tokenizing at max_length + 1 tells truncated texts apart from texts of exactly
    max_length tokens; the ids are then cut to what truncation at max_length gives:
    [CLS] + the first max_length - 2 tokens + [SEP]. With `pool`, chunks of texts are
    tokenized by its threads; the result is the same, in the same order.
    """
    return tokenize_async(tokenizer, texts, max_length, pool)()


def tokenize_async(
    tokenizer: Any, texts: Sequence[str], max_length: int, pool: Executor | None = None
) -> Callable[[], Tokenized]:
    """`tokenize` in two steps: this starts the work (on `pool`'s threads when given, else
    here and now); the returned function waits for it and finishes."""
    limit = max_length * _CHARS_PER_TOKEN_BOUND
    clipped = [t if len(t) <= limit else _clip(t, max_length) for t in texts]
    if pool is None:
        done = encode_ids(tokenizer, clipped, max_length + 1)
        return lambda: _finish(tokenizer, texts, clipped, done, max_length)
    parts = [
        pool.submit(encode_ids, tokenizer, clipped[i : i + CHUNK], max_length + 1)
        for i in range(0, len(clipped), CHUNK)
    ]
    return lambda: _finish(
        tokenizer, texts, clipped, [seq for p in parts for seq in p.result()], max_length
    )


def _finish(
    tokenizer: Any, texts: Sequence[str], clipped: list[str], ids: list[list[int]], max_length: int
) -> Tokenized:
    # A clipped text that came out short (a wall of whitespace, say) is redone in full.
    for i, (t, c) in enumerate(zip(texts, clipped, strict=True)):
        if t is not c and len(ids[i]) <= max_length:
            ids[i] = encode_ids(tokenizer, [t], max_length + 1)[0]
    sep = tokenizer.sep_token_id
    lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
    truncated = lengths > max_length
    for j in np.flatnonzero(truncated).tolist():
        ids[j] = [*ids[j][: max_length - 1], sep]
    np.minimum(lengths, max_length, out=lengths)
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
