"""Token ids exactly as `tokenizer(texts, truncation=True, max_length=n)["input_ids"]`, faster.

Two measured savings over the HF call, with the same ids (tests/test_fasttok.py
compares them token for token):

* the Rust backend's `encode_batch_fast` is called directly: no per-call
  re-configuration, no offsets, no per-text dicts and attention masks. It
  releases the GIL, so several threads tokenize at once;
* plain-ASCII texts skip most of BERT's normalizer: on an ASCII text
  `BertNormalizer` (clean text, CJK spacing, NFD + accent stripping, lowercase)
  only deletes control characters other than tab/LF/CR, turns those three into
  spaces (which the BERT pre-tokenizer splits on anyway) and lowercases. A backend
  whose normalizer is just "delete those control characters, lowercase" gives the
  same ids for less CPU. Every text with a non-ASCII character goes through the
  full backend; `str.isascii()` costs nothing (CPython knows it).
"""

from __future__ import annotations

import copy
import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any

# ASCII control characters other than tab, LF and CR: BertNormalizer deletes them
# (which can join two words; \x0b and \x0c too, although Python calls them spaces).
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


@dataclass(frozen=True)
class Backends:
    full: Any  # the tokenizer's own pipeline, truncating at max_length
    ascii: Any | None  # the same with BertNormalizer -> Lowercase; None: not a BERT pipeline


_cache: weakref.WeakKeyDictionary[Any, dict[int, Backends]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _configured(rust: Any, max_length: int, direction: str) -> Any:
    """A private copy set up as `tokenizer(..., truncation=True, max_length=...)` sets up its
    backend on every call. Private: the HF wrapper re-configures its own backend on each
    call, and re-configuring a backend while another thread encodes with it fails."""
    b = copy.deepcopy(rust)
    b.no_padding()
    b.enable_truncation(max_length, stride=0, strategy="longest_first", direction=direction)
    b.encode_special_tokens = False
    return b


def _ascii_variant(full: Any) -> Any | None:
    spec = json.loads(full.to_str())
    norm, pre = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}
    if norm.get("type") != "BertNormalizer" or pre.get("type") != "BertPreTokenizer":
        return None
    if not norm.get("clean_text", False):
        return None  # control characters would survive; not the case this path is proven for
    if any(t.get("normalized") for t in spec.get("added_tokens", [])):
        return None  # an added token matched on normalized text could see the difference
    from tokenizers import Regex, normalizers

    steps: list[Any] = [normalizers.Replace(Regex(_CONTROL), "")]
    if norm.get("lowercase"):
        steps.append(normalizers.Lowercase())
    b = copy.deepcopy(full)
    b.normalizer = normalizers.Sequence(steps)
    return b


def backends(tokenizer: Any, max_length: int) -> Backends | None:
    """The Rust backends for this tokenizer and max_length (made once), or None for a
    tokenizer without a Rust backend."""
    rust = getattr(tokenizer, "_tokenizer", None)
    if rust is None or not hasattr(rust, "encode_batch_fast"):
        return None
    with _lock:
        per = _cache.setdefault(tokenizer, {})
        if max_length not in per:
            full = _configured(rust, max_length, tokenizer.truncation_side)
            per[max_length] = Backends(full, _ascii_variant(full))
        return per[max_length]


def _reference(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """The model card's call; used for tokenizers without a Rust backend."""
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


def encode_ids(
    tokenizer: Any, texts: list[str], max_length: int, ascii_path: bool = True
) -> list[list[int]]:
    """`tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]`."""
    b = backends(tokenizer, max_length)
    if b is None:
        return _reference(tokenizer, texts, max_length)
    if b.ascii is None or not ascii_path:
        return [e.ids for e in b.full.encode_batch_fast(texts, add_special_tokens=True)]
    plain = [t.isascii() for t in texts]
    easy = [t for t, p in zip(texts, plain, strict=True) if p]
    hard = [t for t, p in zip(texts, plain, strict=True) if not p]
    fast = b.ascii.encode_batch_fast(easy, add_special_tokens=True)
    rest = b.full.encode_batch_fast(hard, add_special_tokens=True)
    fi, ri = iter(fast), iter(rest)
    return [(next(fi) if p else next(ri)).ids for p in plain]
