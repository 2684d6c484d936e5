"""The fast tokenization path against `AutoTokenizer(...)(text, truncation=True, max_length=512)`,
token for token, over a large random corpus and every kind of nasty record."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from specter2_cli.bench.corpus import generated_vocab
from specter2_cli.fasttok import backends, encode_ids
from specter2_cli.synthetic import wordpiece_tokenizer
from specter2_cli.text import tokenize

# Characters that each take BERT's normalizer down another branch: accents and
# combining marks (NFD + strip), CJK (spaced), control and format characters
# (deleted), Unicode spaces (split), symbols, emoji, surrogate-free astral planes.
NASTY_CHARS = [
    "é", "É", "ü", "ß", "ñ", "Å", "ø", "ı", "İ", "e\u0301", "\u0301", "ﬁ", "Ⅻ", "²", "½",
    "α", "β", "Ω", "東", "京", "中文", "ひらがな", "한국어", "ไทย", "עברית", "عربى",
    "\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f", "\x85", "\xa0", "\u200b",
    "\u200d", "\u2028", "\u3000", "\ufeff", "\ufffd", "\t", "\n", "\r", "\r\n",
    "—", "–", "…", "“", "”", "©", "°", "±", "→", "∑", "😀", "🧬", "\U00010348",
    "[SEP]", "[sep]", "[CLS]", "[UNK]", "[MASK]", "[PAD]", "[SEP", "SEP]", "[ SEP ]",
    "x[SEP]y", "[SEP][SEP]", "##", "##ing", "<s>", "_", "`", "~", "^", "\\", "\"", "'",
]  # fmt: skip


def _nasty_records(words: list[str], rng: random.Random) -> list[str]:
    """Texts mixing words with every nasty character, plus the length extremes."""
    texts = ["", " ", "[SEP]", "\n\n\n", "\x00" * 50, "a" * 101, "a" * 100, "é" * 300]
    texts += [c for c in NASTY_CHARS] + [c.join(words[:20]) for c in NASTY_CHARS]
    for _ in range(600):
        parts = [rng.choice(words) for _ in range(rng.randint(1, 60))]
        for _ in range(rng.randint(1, 8)):
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(NASTY_CHARS))
        glue = [rng.choice([" ", "", "  ", "-", ".", "\n"]) for _ in parts]
        texts.append("".join(p + g for p, g in zip(parts, glue, strict=True)))
    long_words = " ".join(rng.choice(words) for _ in range(3_000))
    texts += [
        long_words,  # far over 512 tokens
        long_words.upper() + " café",
        "x" * 40_000,  # one "word" beyond the clip limit
        " " * 40_000 + "late words after a wall of spaces",
        "word " * 7_000,  # past the clip limit (512 * 64 characters)
        "\u00e9t\u00e9 " * 9_000,
        ("ab " * 254) + "cd",  # about max_length tokens exactly
    ]
    return texts


def _plain_records(words: list[str], rng: random.Random, n: int) -> list[str]:
    """Paper-like texts: title [SEP] abstract with capitals, digits and punctuation."""
    out = []
    for _ in range(n):
        title = " ".join(rng.choice(words) for _ in range(rng.randint(3, 15))).title()
        body = []
        for _ in range(max(1, int(rng.gauss(170, 90)))):
            w = rng.choice(words)
            r = rng.random()
            if r < 0.05:
                w += rng.choice([".", ",", ";", ":", ")", "%", "'s"])
            elif r < 0.07:
                w = str(rng.randint(0, 10_000)) + rng.choice(["", ".5", "-fold", "nm"])
            elif r < 0.08:
                w = w.upper()
            elif r < 0.09:
                w += "\n"
            body.append(w)
        out.append(title + "[SEP]" + " ".join(body))
    return out


def _reference(tok: Any, texts: list[str]) -> list[list[int]]:
    return [list(ids) for ids in tok(texts, truncation=True, max_length=512)["input_ids"]]


@pytest.fixture(scope="module")
def tokenizers(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The tiny test tokenizer, and one on a realistic 31k vocab with some non-ASCII words."""
    vocab = generated_vocab()
    vocab[-200:] = ["être", "café", "naïve", "東", "京", "α", "β", "##é", "ü", "ß", *vocab[-190:]]
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    saved = tmp_path_factory.mktemp("realistic")
    wordpiece_tokenizer(str(path)).save_pretrained(saved)
    return [
        AutoTokenizer.from_pretrained(str(tiny_models["base"])),
        AutoTokenizer.from_pretrained(str(saved)),
    ]


def _words(tok: Any) -> list[str]:
    return [*sorted(w for w in tok.get_vocab() if not w.startswith("[")), "unseenword", "Xylophone"]


@pytest.mark.parametrize("which", [0, 1], ids=["tiny", "realistic"])
def test_fast_path_matches_autotokenizer(tokenizers: list[Any], which: int) -> None:
    tok = tokenizers[which]
    assert backends(tok, 512) is not None and backends(tok, 512).ascii is not None
    rng = random.Random(which)
    words = _words(tok)
    texts = _plain_records(words, rng, 4_000) + _nasty_records(words, rng)
    rng.shuffle(texts)
    ref = _reference(tok, texts)
    assert encode_ids(tok, texts, 512) == ref
    # one text at a time as well: the model card tokenizes each paper on its own
    for t in texts[:300]:
        assert encode_ids(tok, [t], 512) == [
            list(tok(t, truncation=True, max_length=512)["input_ids"])
        ]


@pytest.mark.parametrize("workers", [None, 3])
def test_tokenize_truncates_like_the_model_card(tokenizers: list[Any], workers: int | None) -> None:
    tok = tokenizers[1]
    rng = random.Random(7)
    words = _words(tok)
    texts = _plain_records(words, rng, 1_500) + _nasty_records(words, rng)
    ref = _reference(tok, texts)
    untruncated = [len(ids) for ids in tok(texts)["input_ids"]]
    pool = ThreadPoolExecutor(workers) if workers else None
    try:
        got = tokenize(tok, texts, 512, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    assert [list(ids) for ids in got.ids] == ref
    assert got.lengths.tolist() == [len(r) for r in ref]
    assert got.truncated.tolist() == [n > 512 for n in untruncated]
    assert got.truncated.sum() >= 5
