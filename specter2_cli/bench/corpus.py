"""A synthetic corpus with realistic token lengths, and a vocabulary laid out like scivocab."""

from __future__ import annotations

import itertools
import json
import logging
import string
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ..synthetic import ModelShape

from ..text import format_paper
from .config import LENGTH_MAX, LENGTH_MEAN, LENGTH_MIN, LENGTH_SD, VOCAB_SIZE, BenchConfig, Corpus

log = logging.getLogger("specter2")

# ----------------------------------------------------------------- model and corpus


def generated_vocab(size: int = VOCAB_SIZE) -> list[str]:
    """A WordPiece vocabulary of `size` entries laid out like scivocab (ids of the specials
    match allenai/specter2_base: [PAD]=0, [UNK]=101, [CLS]=102, [SEP]=103), filled with
    pronounceable lowercase pseudo-words that each tokenize to one token."""
    from ..synthetic import _WORDS

    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab += ["##" + c for c in string.ascii_lowercase + string.digits]
    seen = set(vocab)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]

    def words() -> Iterator[str]:
        yield from _WORDS
        for k in itertools.count(2):
            for combo in itertools.product(syllables, repeat=k):
                yield "".join(combo)

    for w in words():
        if len(vocab) >= size:
            break
        if w not in seen:
            seen.add(w)
            vocab.append(w)
    return vocab


def bench_shape(cfg: BenchConfig, device_kind: str) -> ModelShape:
    """SPECTER2's shape, except `--quick` on CPU (4 layers, hidden 256); --layers/--hidden win."""
    from ..synthetic import SPECTER2_SHAPE, ModelShape

    base = SPECTER2_SHAPE
    if cfg.size == "quick" and device_kind == "cpu":
        base = ModelShape(hidden=256, layers=4, heads=4, intermediate=1024)
    hidden = cfg.hidden or base.hidden
    layers = cfg.layers or base.layers
    if hidden == base.hidden:
        heads, inter = base.heads, base.intermediate
    else:
        heads, inter = max(1, hidden // 64), 4 * hidden
    return ModelShape(hidden=hidden, layers=layers, heads=heads, intermediate=inter)


def token_lengths(n: int, seed: int) -> np.ndarray:
    """Token counts ~ N(250, 100) rounded, clipped to [16, 512]: the anchors' length mix."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(LENGTH_MEAN, LENGTH_SD, n).round(), LENGTH_MIN, LENGTH_MAX).astype(
        int
    )


def word_pool(tokenizer: Any) -> list[str]:
    """Vocabulary entries that are whole lowercase ASCII words: one token each."""
    pool = [w for w in tokenizer.get_vocab() if w.isascii() and w.isalpha() and w.islower()]
    pool = [w for w in pool if len(w) >= 2]
    if len(pool) < 100:
        raise ValueError("the tokenizer's vocabulary has too few whole words to build a corpus")
    return sorted(pool)


def write_synthetic_corpus(path: Path, n: int, pool: list[str], seed: int) -> Path:
    """n paper records whose title [SEP] abstract tokenizes to ~N(250, 100) tokens.

    Every word is one token, so a record of L tokens is [CLS] + title + [SEP] +
    abstract + [SEP] with L - 3 words (streamed to disk).
    """
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    words = np.array(pool)
    with path.open("w", encoding="utf-8") as f:
        for i, length in enumerate(token_lengths(n, seed)):
            n_words = int(length) - 3
            n_title = min(int(rng.integers(5, 16)), n_words)
            drawn = words[rng.integers(0, len(words), n_words)]
            title = " ".join(drawn[:n_title]).capitalize()
            abstract = " ".join(drawn[n_title:])
            f.write(json.dumps({"id": i, "title": title, "abstract": abstract}) + "\n")
    return path


def read_corpus(path: Path, sep: str, limit: int | None = None) -> Corpus:
    """The papers of a JSONL file as the model card formats them: title + sep + (abstract or "").

    Records the tool would reject (no text, non-string fields, not an object) are left out;
    each text keeps its line's byte offset, which is the tool's `input_pos`.
    """
    positions: list[int] = []
    texts: list[str] = []
    pos = 0
    with path.open("rb") as f:
        for line in f:
            start, pos = pos, pos + len(line)
            raw = line.strip()
            if not raw:
                continue
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                continue
            title, abstract = obj.get("title"), obj.get("abstract")
            if not all(v is None or isinstance(v, str) for v in (title, abstract)):
                continue
            if not ((title or "").strip() or (abstract or "").strip()):
                continue
            positions.append(start)
            texts.append(format_paper(title, abstract, sep))
            if limit is not None and len(texts) >= limit:
                break
    return Corpus(path, positions, texts)


def copy_head(src: Path, dst: Path, n: int) -> Path:
    """The first n non-empty lines of a JSONL file."""
    kept = 0
    with src.open("rb") as fi, dst.open("wb") as fo:
        for line in fi:
            if kept >= n:
                break
            if line.strip():
                fo.write(line if line.endswith(b"\n") else line + b"\n")
                kept += 1
    return dst
