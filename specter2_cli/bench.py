"""`specter2 bench`: how fast is the tool, against the model card and the best plain recipe?

Runs three cases in one process on the same corpus, all end to end (read the JSONL,
format, tokenize, run the model, collect CLS vectors):

    a  the model card's loop: AutoAdapterModel + load_adapter, fp32, batches of 32 in
       input order, tokenizer(padding=True, truncation=True, max_length=512)
    b  the best plain recipe through the same adapters model: on CUDA `model.half()`
       (sdpa), length-sorted, 65,536-token budget; on CPU fp32, sorted, 16,384 tokens
    c  the tool: `embed_files` (engine auto) from the JSONL to Parquet shards

No downloads: by default the model is a random SPECTER2-shaped BERT with a random
seq_bn adapter (or a smaller shape for `--quick` on CPU), and the corpus is
synthetic, with token lengths ~ N(250, 100) clipped to [16, 512] like the anchors.
The accuracy of b and c is measured against an fp32 model-card reference.

All cases are loaded and warmed up first (untimed), then timed round-robin
(a, b, c, a, b, c, ... with `--repeat`), keeping the best run of each, so that
drifting background load on a shared machine hits every case alike.

Nothing here imports torch at module import time (`specter2 --help` stays fast).
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import math
import os
import platform
import resource
import shutil
import string
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import numpy as np

    from .synthetic import ModelShape

log = logging.getLogger("specter2")

CASE_NAMES = {
    "a": "model-card loop",
    "b": "best plain recipe",
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
    cases: tuple[str, ...] = ("a", "b", "c")
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


# ----------------------------------------------------------------- model and corpus


def generated_vocab(size: int = VOCAB_SIZE) -> list[str]:
    """A WordPiece vocabulary of `size` entries laid out like scivocab (ids of the specials
    match allenai/specter2_base: [PAD]=0, [UNK]=101, [CLS]=102, [SEP]=103), filled with
    pronounceable lowercase pseudo-words that each tokenize to one token."""
    from .synthetic import _WORDS

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
    from .synthetic import SPECTER2_SHAPE, ModelShape

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
            texts.append((title or "") + sep + (abstract or ""))
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


# ----------------------------------------------------------------- measuring


class PeakRss:
    """Highest resident set size of this process while the block runs (sampled every 10 ms)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * self._page
        except OSError:
            return 0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self.peak = self._rss()
        if self.peak:
            self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._rss())


def maxrss_mb() -> float:
    """Peak RSS of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1 << 20) if sys.platform == "darwin" else r / 1024


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def free_memory(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def compare(ref: np.ndarray, got: np.ndarray) -> dict[str, Any]:
    """Minimum cosine and maximum absolute difference, row by row, over finite rows."""
    import numpy as np

    ok = np.isfinite(ref).all(axis=1) & np.isfinite(got).all(axis=1)
    r, g = ref[ok].astype(np.float64), got[ok].astype(np.float64)
    if len(r) == 0:
        return {"compared": 0, "min_cosine": None, "max_abs_diff": None}
    cos = (r * g).sum(1) / np.maximum(np.linalg.norm(r, axis=1) * np.linalg.norm(g, axis=1), 1e-30)
    return {
        "compared": len(r),
        "min_cosine": float(cos.min()),
        "max_abs_diff": float(np.abs(r - g).max()),
    }


# ----------------------------------------------------------------- the cases


def load_card_model(base: str, adapter: str, device: str, dtype: Any) -> tuple[Any, Any]:
    """Tokenizer and model exactly as the SPECTER2 model card loads them."""
    from adapters import AutoAdapterModel
    from transformers import AutoTokenizer

    from .encoder import is_local

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoAdapterModel.from_pretrained(base)
    source = None if is_local(adapter) else "hf"
    model.load_adapter(adapter, source=source, load_as="proximity", set_active=True)
    active = list(model.active_adapters.flatten()) if model.active_adapters else []
    if "proximity" not in active:
        raise RuntimeError(f"the adapter is not active in the forward pass (active: {active})")
    model.eval().to(device=device, dtype=dtype)
    return tok, model


def card_loop(tok: Any, model: Any, texts: list[str], device: str) -> tuple[np.ndarray, int, int]:
    """Case a: (CLS vectors, real tokens, padded tokens), batches of 32 in input order."""
    import numpy as np
    import torch

    outs: list[np.ndarray] = []
    real = padded = 0
    with torch.inference_mode():
        for i in range(0, len(texts), CARD_BATCH):
            enc = tok(
                texts[i : i + CARD_BATCH],
                padding=True,
                truncation=True,
                return_tensors="pt",
                return_token_type_ids=False,
                max_length=512,
            )
            real += int(enc["attention_mask"].sum())
            padded += int(enc["attention_mask"].numel())
            enc = {k: v.to(device) for k, v in enc.items()}
            out = model(**enc).last_hidden_state[:, 0, :]
            outs.append(out.float().cpu().numpy())
    return np.concatenate(outs), real, padded


def plain_recipe(
    tok: Any, model: Any, texts: list[str], device: str, budget: int
) -> tuple[np.ndarray, int, int, int]:
    """Case b: tokenize all, sort by length, token-budget batches, one copy back at the end.

    Returns (CLS vectors in input order, real tokens, padded tokens, batches).
    """
    import numpy as np
    import torch

    ids = tok(
        texts,
        truncation=True,
        max_length=512,
        return_token_type_ids=False,
        return_attention_mask=False,
    )["input_ids"]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(-lengths, kind="stable")
    pad_id = tok.pad_token_id
    hidden = int(model.config.hidden_size)
    dtype = next(model.parameters()).dtype
    out = torch.empty((len(texts), hidden), dtype=dtype, device=device)
    real, padded, n_batches, i = int(lengths.sum()), 0, 0, 0
    with torch.inference_mode():
        while i < len(order):
            width = int(lengths[order[i]])
            rows = max(1, min(budget // width, len(order) - i))
            idx = order[i : i + rows]
            lens = lengths[idx]
            mask = np.arange(width)[None, :] < lens[:, None]
            batch = np.full((rows, width), pad_id, dtype=np.int64)
            batch[mask] = np.concatenate([ids[j] for j in idx])
            input_ids = torch.from_numpy(batch).to(device, non_blocking=True)
            attention = torch.from_numpy(mask.astype(np.int64)).to(device, non_blocking=True)
            emb = model(input_ids=input_ids, attention_mask=attention).last_hidden_state[:, 0, :]
            out[torch.from_numpy(idx).to(device)] = emb
            padded += rows * width
            n_batches += 1
            i += rows
        result = out.float().cpu().numpy()
    return result, real, padded, n_batches


@dataclass
class Models:
    base: str
    adapter: str
    description: str
    shape: dict[str, Any]


@dataclass
class _Case:
    result: CaseResult
    load: Callable[[], Any]  # untimed: returns the state that run() uses
    run: Callable[[Any, bool], None]  # run(state, warm_up)
    state: Any = None
    resident: int = 0  # CUDA bytes held by the loaded state


class Bench:
    def __init__(self, cfg: BenchConfig, models: Models, corpus: Corpus, device: str) -> None:
        self.cfg, self.models, self.corpus, self.device = cfg, models, corpus, device
        self.on_cuda = device.startswith("cuda")
        self.warmup = cfg.warmup if cfg.warmup is not None else (64 if self.on_cuda else 8)
        self.outputs: dict[str, np.ndarray] = {}

    def _case(self, key: str, recipe: str, dtype: Any) -> CaseResult:
        return CaseResult(
            key, CASE_NAMES[key], recipe, str(dtype).replace("torch.", ""), len(self.corpus.texts)
        )

    def run_cases(self, keys: list[str], workdir: Path) -> dict[str, CaseResult]:
        """Load every case (untimed), warm each up (untimed), then time them round-robin.

        Round-robin (a, b, c, a, b, c, ...) spreads drifting background load on a shared
        machine over all cases instead of penalising whichever case ran during a spike.
        """
        import torch

        makers = {"a": self.case_a, "b": self.case_b, "c": lambda: self.case_c(workdir)}
        cases = {k: makers[k]() for k in keys}
        rss_peak: dict[str, int] = dict.fromkeys(keys, 0)
        cuda_peak: dict[str, int] = dict.fromkeys(keys, 0)
        try:
            for key, case in cases.items():
                log.info("case %s (%s): loading and warming up", key, CASE_NAMES[key])
                before = torch.cuda.memory_allocated() if self.on_cuda else 0
                t0 = time.perf_counter()
                case.state = case.load()
                case.result.load_s = time.perf_counter() - t0
                if self.on_cuda:
                    case.resident = torch.cuda.memory_allocated() - before
                case.run(case.state, True)
            for rep in range(max(1, self.cfg.repeat)):
                for key, case in cases.items():
                    base = 0
                    if self.on_cuda:
                        sync(self.device)
                        torch.cuda.reset_peak_memory_stats()
                        base = torch.cuda.memory_allocated()
                    with PeakRss() as rss:
                        sync(self.device)
                        t0 = time.perf_counter()
                        case.run(case.state, False)
                        sync(self.device)
                        dt = time.perf_counter() - t0
                    case.result.seconds_all.append(dt)
                    rss_peak[key] = max(rss_peak[key], rss.peak)
                    if self.on_cuda:
                        cuda_peak[key] = max(
                            cuda_peak[key], torch.cuda.max_memory_allocated() - base
                        )
                    case.result.process_maxrss_mb = maxrss_mb()
                    log.info(
                        "case %s run %d: %.2f s, %.1f papers/s",
                        key, rep + 1, dt, len(self.corpus.texts) / dt,
                    )  # fmt: skip
        finally:
            for case in cases.values():
                case.state = None
            free_memory(self.device)
        for key, case in cases.items():
            r = case.result
            if self.on_cuda:
                r.peak_mem_mb = (case.resident + cuda_peak[key]) / 2**20
                r.peak_mem_kind = (
                    "CUDA: this case's weights + its peak working memory (max_memory_allocated)"
                )
            else:
                r.peak_mem_mb = rss_peak[key] / 2**20
                r.peak_mem_kind = (
                    "process RSS, highest sample during this case's runs (whole process: "
                    "every case's model is loaded)"
                )
            r.finish()
        return {k: c.result for k, c in cases.items()}

    def _nonfinite(self, key: str, emb: np.ndarray) -> int:
        import numpy as np

        self.outputs[key] = emb
        return int((~np.isfinite(emb).all(axis=1)).sum())

    # a: the model card ----------------------------------------------------------

    def case_a(self) -> _Case:
        import torch

        res = self._case("a", "fp32, batch 32, input order, pad to longest, adapters", "float32")

        def load() -> Any:
            return load_card_model(
                self.models.base, self.models.adapter, self.device, torch.float32
            )

        def run(state: Any, warm: bool) -> None:
            tok, model = state
            if warm:
                card_loop(tok, model, self.corpus.texts[: self.warmup], self.device)
                return
            corpus = read_corpus(self.corpus.path, tok.sep_token)
            emb, res.real_tokens, res.padded_tokens = card_loop(
                tok, model, corpus.texts, self.device
            )
            res.batches = math.ceil(len(corpus.texts) / CARD_BATCH)
            res.nonfinite_rows = self._nonfinite("a", emb)
            res.extra["attn_implementation"] = getattr(model.config, "_attn_implementation", None)

        return _Case(res, load, run)

    # b: the best plain recipe ---------------------------------------------------

    def case_b(self) -> _Case:
        from .encoder import resolve_dtype

        dtype = resolve_dtype(self.cfg.dtype, self.device)
        budget = PLAIN_BUDGET["cuda" if self.on_cuda else "cpu"]
        weights = "model.half()" if self.on_cuda and str(dtype) == "torch.float16" else str(dtype)
        res = self._case(
            "b",
            f"{weights.replace('torch.', '')}, length-sorted, {budget:,}-token budget, adapters",
            dtype,
        )
        res.extra["batch_tokens"] = budget

        def load() -> Any:
            return load_card_model(self.models.base, self.models.adapter, self.device, dtype)

        def run(state: Any, warm: bool) -> None:
            tok, model = state
            if warm:
                plain_recipe(tok, model, self.corpus.texts[: self.warmup], self.device, budget)
                return
            corpus = read_corpus(self.corpus.path, tok.sep_token)
            emb, res.real_tokens, res.padded_tokens, res.batches = plain_recipe(
                tok, model, corpus.texts, self.device, budget
            )
            res.nonfinite_rows = self._nonfinite("b", emb)
            res.extra["attn_implementation"] = getattr(model.config, "_attn_implementation", None)

        return _Case(res, load, run)

    # c: the tool ----------------------------------------------------------------

    def case_c(self, workdir: Path) -> _Case:
        import numpy as np
        import pyarrow.parquet as pq

        from .config import EmbedSettings, ModelSettings
        from .encoder import load_encoder, resolve_dtype
        from .pipeline import embed_files
        from .writers import fixed_list_to_numpy

        model_settings = ModelSettings(
            base_model=self.models.base, adapter="proximity", adapter_path=self.models.adapter
        )
        kw: dict[str, Any] = (
            {"batch_tokens": self.cfg.batch_tokens} if self.cfg.batch_tokens else {}
        )
        settings = EmbedSettings(
            model=model_settings,
            device=self.device,
            dtype=self.cfg.dtype,
            on_error="skip" if self.cfg.input else "fail",
            **kw,
        )
        budget = _resolved_batch_tokens(settings, self.device)
        res = self._case(
            "c",
            f"embed_files JSONL -> Parquet, engine auto, {budget:,}-token budget",
            resolve_dtype(self.cfg.dtype, self.device),
        )
        res.extra["batch_tokens"] = budget
        runs = itertools.count()

        def load() -> Any:
            return load_encoder(model_settings, device=self.device, dtype=self.cfg.dtype)

        def run(enc: Any, warm: bool) -> None:
            res.extra["engine"] = enc.engine
            if warm:
                enc.embed_texts(self.corpus.texts[: self.warmup], budget)
                return
            outdir = workdir / f"out{next(runs)}"
            batches0 = enc.stats.batches
            summary = embed_files(
                [str(self.corpus.path)], outdir, encoder=enc, settings=settings, progress=False
            )
            t_read = time.perf_counter()
            table = pq.read_table(outdir, columns=["input_pos", "embedding"])
            pos = table.column("input_pos").to_numpy()
            emb = fixed_list_to_numpy(table.column("embedding")).astype(np.float32)
            res.extra["read_back_s"] = round(time.perf_counter() - t_read, 3)
            # Back to corpus order by input position; rows the tool rejected (a duplicate id in
            # a user's --input, say) stay NaN and are left out of the comparison.
            where = {int(p): k for k, p in enumerate(pos)}
            found = [where.get(p, -1) for p in self.corpus.positions]
            ordered = np.full((len(found), emb.shape[1]), np.nan, dtype=np.float32)
            hit = np.array([k >= 0 for k in found], dtype=bool)
            ordered[hit] = emb[[k for k in found if k >= 0]]
            res.extra["missing_from_output"] = int((~hit).sum())
            res.real_tokens, res.padded_tokens = summary.real_tokens, summary.padded_tokens
            res.batches = enc.stats.batches - batches0
            res.extra["shards"] = summary.shards
            res.extra["rejected"] = summary.rejected
            res.nonfinite_rows = self._nonfinite("c", ordered) - int((~hit).sum())
            shutil.rmtree(outdir, ignore_errors=True)

        return _Case(res, load, run)

    # the fp32 reference ---------------------------------------------------------

    def reference(self) -> tuple[str, np.ndarray]:
        """Case a's vectors when it ran (fp32); otherwise the card loop on a subset, untimed."""
        import torch

        if "a" in self.outputs:
            return "case a (fp32 model-card loop, all records)", self.outputs["a"]
        n = min(len(self.corpus.texts), self.cfg.reference_subset)
        tok, model = load_card_model(
            self.models.base, self.models.adapter, self.device, torch.float32
        )
        emb, _, _ = card_loop(tok, model, self.corpus.texts[:n], self.device)
        del tok, model
        free_memory(self.device)
        return f"fp32 model-card loop on the first {n} records (untimed)", emb


def _resolved_batch_tokens(settings: Any, device: str) -> int:
    """The token budget `specter2 embed` will use with these settings on this device."""
    resolve = getattr(settings, "resolved_batch_tokens", None)
    return int(resolve(device)) if resolve is not None else int(settings.batch_tokens)


# ----------------------------------------------------------------- the whole run


def machine_info(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": device,
        "device_name": platform.processor() or platform.machine(),
    }
    try:
        import adapters
        import transformers

        info["transformers"] = transformers.__version__
        info["adapters"] = adapters.__version__
    except ImportError:
        pass
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["gpu_memory_gb"] = round(
            torch.cuda.get_device_properties(device).total_memory / 1e9, 1
        )
    from . import __version__

    info["specter2_cli"] = __version__
    return info


def prepare_models(cfg: BenchConfig, device_kind: str, tmp: Path) -> Models:
    if cfg.model is not None:
        from .config import ADAPTER_IDS

        adapter = cfg.adapter_path or ADAPTER_IDS["proximity"]
        assert adapter is not None
        return Models(cfg.model, adapter, f"{cfg.model} + {adapter}", {})
    from .synthetic import build_random_model

    shape = bench_shape(cfg, device_kind)
    if cfg.vocab:
        # One entry per line, kept in place (scivocab has an empty entry at id 30106).
        vocab = Path(cfg.vocab).read_text(encoding="utf-8").split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()
        vocab_name = cfg.vocab
    else:
        vocab, vocab_name = generated_vocab(), f"generated ({VOCAB_SIZE} entries)"
    t0 = time.perf_counter()
    paths = build_random_model(tmp / "model", shape=shape, vocab=vocab, adapters=("proximity",))
    log.info("built a random model %s in %.1f s", shape, time.perf_counter() - t0)
    desc = (
        f"random BERT {shape.layers} layers, hidden {shape.hidden}, {shape.heads} heads, "
        f"intermediate {shape.intermediate}, vocab {len(vocab)} + random seq_bn adapter"
    )
    return Models(
        str(paths["base"]),
        str(paths["proximity"]),
        desc,
        asdict(shape) | {"vocab_size": len(vocab), "vocab": vocab_name},
    )


def prepare_corpus(cfg: BenchConfig, n: int, tmp: Path, base: str) -> Corpus:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    if cfg.input:
        src = Path(cfg.input)
        path = copy_head(src, tmp / "corpus.jsonl", n) if cfg.records else src
    else:
        path = write_synthetic_corpus(tmp / "corpus.jsonl", n, word_pool(tok), cfg.seed)
    return read_corpus(path, tok.sep_token)


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run the chosen cases; returns the report (see `format_report` for the table)."""
    t_start = time.perf_counter()
    unknown = set(cfg.cases) - set(CASE_NAMES)
    if unknown or not cfg.cases:
        raise ValueError(f"--cases: choose from a, b, c (got {','.join(cfg.cases)})")
    if cfg.size not in SIZES:
        raise ValueError(f"--size: choose quick or full (got {cfg.size})")
    from .config import ADAPTER_IDS, ModelSettings
    from .encoder import decide_offline, resolve_device, set_offline

    if cfg.model is None:
        set_offline()  # everything is local: never wait on the Hub
    else:
        adapter = cfg.adapter_path or ADAPTER_IDS["proximity"]
        decide_offline(ModelSettings(base_model=cfg.model, adapter_path=adapter), False)
    device = resolve_device(cfg.device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    n = cfg.records or SIZES[cfg.size][kind]

    own_tmp = tempfile.mkdtemp(prefix="specter2-bench-", dir=cfg.workdir)
    tmp = Path(own_tmp)
    try:
        models = prepare_models(cfg, kind, tmp)
        corpus = prepare_corpus(cfg, n, tmp, models.base)
        if not corpus.texts:
            raise ValueError(f"{corpus.path}: no usable paper records")
        bench = Bench(cfg, models, corpus, device)
        results = bench.run_cases([k for k in ("a", "b", "c") if k in cfg.cases], tmp)
        for key, r in results.items():
            log.info("case %s: best %.2f s, %.1f papers/s", key, r.seconds, r.papers_per_s)

        accuracy: dict[str, Any] = {}
        if any(k in bench.outputs for k in ("b", "c")):
            ref_name, ref = bench.reference()
            accuracy["reference"] = ref_name
            for key in ("b", "c"):
                if key in bench.outputs:
                    accuracy[key] = compare(ref, bench.outputs[key][: len(ref)])
    finally:
        shutil.rmtree(own_tmp, ignore_errors=True)

    ratios: dict[str, float] = {}
    for hi, lo in (("c", "a"), ("c", "b"), ("b", "a")):
        if hi in results and lo in results and results[lo].papers_per_s > 0:
            ratios[f"{hi}/{lo}"] = results[hi].papers_per_s / results[lo].papers_per_s
    real = next((r.real_tokens for r in results.values()), 0)
    return {
        "machine": machine_info(device),
        "config": asdict(cfg) | {"cases": list(cfg.cases)},
        "model": {
            "base": models.base if cfg.model else "random",
            "adapter": models.adapter if cfg.model else "random seq_bn (reduction 16)",
            "description": models.description,
            "shape": models.shape,
        },
        "corpus": {
            "source": cfg.input or "synthetic: token lengths ~ N(250, 100) clipped to [16, 512]",
            "records": len(corpus.texts),
            "real_tokens": real,
            "mean_tokens": real / len(corpus.texts) if corpus.texts else 0.0,
        },
        "cases": {k: asdict(r) for k, r in results.items()},
        "ratios": ratios,
        "accuracy": accuracy,
        "notes": [
            "all cases are end to end: read JSONL, format, tokenize, model, CLS vectors in memory "
            "(c also writes and fsyncs Parquet shards; reading them back is not timed)",
            "model loading and one warm-up pass on the first records are not timed; with "
            "--repeat N the cases run round-robin (a, b, c, a, b, c, ...) and the best is kept",
            "tokens/s counts real (unpadded) tokens",
            "peak memory on CPU: highest process RSS sampled every 10 ms during the case's runs "
            "(whole process: all cases' models are loaded; not a per-case figure); "
            "process_maxrss_mb is ru_maxrss after the case; on CUDA: the case's resident "
            "weights plus its torch.cuda.max_memory_allocated above that level during its runs",
        ],
        "seconds_total": time.perf_counter() - t_start,
    }


def format_report(rep: dict[str, Any]) -> str:
    m, c = rep["machine"], rep["corpus"]
    lines = [
        f"machine: {m['device']} ({m['device_name']}), {m['cpu_count']} CPUs, "
        f"torch {m['torch']} ({m['torch_threads']} threads)",
        f"model:   {rep['model']['description']}",
        f"corpus:  {c['records']} records, {c['mean_tokens']:.0f} tokens/record on average "
        f"({c['source']})",
        "",
        f"{'case':<22} {'dtype':<8} {'seconds':>8} {'papers/s':>9} {'tokens/s':>10} "
        f"{'pad eff':>7} {'batches':>7} {'peak MB':>8}  recipe",
    ]
    for key, r in rep["cases"].items():
        lines.append(
            f"{key + ' ' + r['name']:<22} {r['dtype']:<8} {r['seconds']:>8.2f} "
            f"{r['papers_per_s']:>9.1f} {r['tokens_per_s']:>10,.0f} "
            f"{r['padding_efficiency']:>7.3f} {r['batches']:>7} {r['peak_mem_mb']:>8.0f}  "
            f"{r['recipe']}"
            + (f" [{r['extra']['engine']} engine]" if "engine" in r["extra"] else "")
        )
    if rep["ratios"]:
        lines.append("")
        lines.append(
            "speed-up (papers/s): " + ", ".join(f"{k} = {v:.2f}x" for k, v in rep["ratios"].items())
        )
    acc = rep["accuracy"]
    for key in ("b", "c"):
        if key in acc and acc[key]["compared"]:
            a = acc[key]
            lines.append(
                f"accuracy {key} vs {acc['reference']}: min cosine {a['min_cosine']:.7f}, "
                f"max abs diff {a['max_abs_diff']:.2e} over {a['compared']} records"
            )
    bad = {k: r["nonfinite_rows"] for k, r in rep["cases"].items() if r["nonfinite_rows"]}
    lines.append(f"NaN/inf rows: {bad or 'none'}")
    repeats = rep["config"]["repeat"]
    lines.append(
        f"seconds: best of {repeats} (round-robin); model loading and warm-up not timed; "
        + (
            "peak MB: whole-process RSS during the case (all models loaded)"
            if m["device"] == "cpu"
            else "peak MB: the case's weights + its peak CUDA working memory"
        )
        + f"; total {rep['seconds_total']:.0f} s"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------- the command


def bench_command(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Same as --size quick (well under 2 minutes on a 2-core CPU)."
        ),
    ] = False,
    size: Annotated[
        str,
        typer.Option(
            help="quick: 2,048 records on CUDA; on CPU 256 records and a 4-layer, hidden-256 "
            "model. full: SPECTER2's shape, 16,384 records on CUDA, 256 on CPU."
        ),
    ] = "full",
    records: Annotated[
        int | None, typer.Option("-n", "--records", help="Number of records (overrides --size).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="A real base model (folder or Hub id) instead of the random one; "
            "see --adapter-path."
        ),
    ] = None,
    adapter_path: Annotated[
        str | None,
        typer.Option(help="Adapter for --model (folder or Hub id; default allenai/specter2)."),
    ] = None,
    vocab: Annotated[
        Path | None,
        typer.Option(
            help="vocab.txt for the random model (default: a generated 31,090-entry one)."
        ),
    ] = None,
    layers: Annotated[int | None, typer.Option(help="Layers of the random model.")] = None,
    hidden: Annotated[
        int | None, typer.Option(help="Hidden size of the random model (heads = hidden/64).")
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input", help="A JSONL corpus (title/abstract records) instead of synthetic."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    dtype: Annotated[
        str,
        typer.Option(
            help="Compute dtype of cases b and c: auto (fp16 on CUDA, fp32 on CPU), "
            "float16, bfloat16, float32. Case a is always float32."
        ),
    ] = "auto",
    batch_tokens: Annotated[
        int | None, typer.Option(help="Token budget of case c (default: the tool's default).")
    ] = None,
    cases: Annotated[str, typer.Option(help="Which cases to run, e.g. a,c.")] = "a,b,c",
    repeat: Annotated[
        int, typer.Option(help="Time each case this many times (round-robin); report the best.")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpus.")] = 0,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the temporary model, corpus and output.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full report to this JSON file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the table.")] = False,
) -> None:
    """Benchmark the model-card loop (a), the best plain recipe (b) and this tool (c).

    Needs no downloads: a random SPECTER2-shaped model and a synthetic corpus with
    realistic token lengths. Prints papers/s, tokens/s, padding efficiency, peak
    memory, the speed-ups and the accuracy of b and c against fp32.
    """
    from .cli import fail, setup_logging
    from .errors import Specter2Error, UsageError

    setup_logging(quiet)
    cfg = BenchConfig(
        size="quick" if quick else size,
        records=records,
        model=model,
        adapter_path=adapter_path,
        vocab=str(vocab) if vocab else None,
        layers=layers,
        hidden=hidden,
        input=str(input_path) if input_path else None,
        device=device,
        dtype=dtype,
        batch_tokens=batch_tokens,
        cases=tuple(c.strip() for c in cases.split(",") if c.strip()),
        repeat=repeat,
        seed=seed,
        workdir=str(workdir) if workdir else None,
    )
    try:
        if records is not None and records < 1:
            raise UsageError("--records must be positive")
        if repeat < 1:
            raise UsageError("--repeat must be positive")
        try:
            rep = run_bench(cfg)
        except ValueError as e:
            raise UsageError(str(e)) from e
    except Specter2Error as e:
        fail(e)
    typer.echo(format_report(rep))
    if json_path is not None:
        json_path.write_text(json.dumps(rep, indent=1, default=str) + "\n")
        log.info("report written to %s", json_path)
