"""The cases: the model-card loop (a), the best plain recipe (b), ONNX Runtime (o), this tool (c)."""

from __future__ import annotations

import itertools
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


from ..errors import EnvironmentProblem
from .config import CARD_BATCH, CASE_NAMES, PLAIN_BUDGET, BenchConfig, CaseResult, Corpus
from .corpus import read_corpus
from .measure import PeakRss, free_memory, maxrss_mb, sync

log = logging.getLogger("specter2")

# ----------------------------------------------------------------- the cases


def load_card_model(base: str, adapter: str, device: str, dtype: Any) -> tuple[Any, Any]:
    """Tokenizer and model exactly as the SPECTER2 model card loads them; without the
    adapters library, the transformers BertModel with the adapter hooked in (model/hooked.py)."""
    from transformers import AutoTokenizer

    from ..model.hub import is_local
    from ..model.loader import quiet_libraries

    quiet_libraries()  # transformers 5 shows a bar while loading weights
    try:
        from adapters import AutoAdapterModel
    except ImportError:  # not installed, or not importable beside huggingface_hub >= 1
        return _load_hooked_model(base, adapter, device, dtype)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoAdapterModel.from_pretrained(base)
    source = None if is_local(adapter) else "hf"
    model.load_adapter(adapter, source=source, load_as="proximity", set_active=True)
    active = list(model.active_adapters.flatten()) if model.active_adapters else []
    if "proximity" not in active:
        raise RuntimeError(f"the adapter is not active in the forward pass (active: {active})")
    model.eval().to(device=device, dtype=dtype)
    return tok, model


def card_forward_name() -> str:
    """What runs the model card's forward pass here (the recipes' labels say it)."""
    try:
        import adapters  # noqa: F401
    except ImportError:
        return "BertModel + adapter hooks"
    return "adapters"


def _load_hooked_model(base: str, adapter: str, device: str, dtype: Any) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from ..errors import ModelLoadError
    from ..model.hooked import attach_adapter
    from ..model.hub import is_local
    from ..model.loader import hub_adapter_folder
    from ..model.seqbn import AdapterConfigError, read_adapter

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModel.from_pretrained(base, dtype=torch.float32)
    folder = adapter if is_local(adapter) else hub_adapter_folder(adapter, None)
    cfg = model.config
    try:
        found = read_adapter(folder, "proximity", cfg.hidden_size, cfg.num_hidden_layers)
    except AdapterConfigError as e:
        raise ModelLoadError(f"Cannot use the adapter {adapter}: {e}") from e
    attach_adapter(model, found)
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
    tok: Any, forward: Callable[[Any, Any], Any], texts: list[str], device: str, budget: int
) -> tuple[np.ndarray, int, int, int]:
    """Case b (and o): tokenize all, sort by length, token-budget batches, one copy back at
    the end. `forward(input_ids, attention_mask)` returns the batch's CLS vectors.

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
    out: torch.Tensor | None = None
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
            emb = forward(input_ids, attention)
            if out is None:
                out = torch.empty((len(texts), emb.shape[1]), dtype=emb.dtype, device=emb.device)
            out[torch.from_numpy(idx).to(emb.device)] = emb
            padded += rows * width
            n_batches += 1
            i += rows
        assert out is not None  # texts is never empty here
        result = out.float().cpu().numpy()
    return result, real, padded, n_batches


def card_forward(model: Any) -> Callable[[Any, Any], Any]:
    """The adapters model as `forward(input_ids, attention_mask) -> CLS`."""

    def forward(input_ids: Any, attention_mask: Any) -> Any:
        return model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0, :]

    return forward


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

        makers = {
            "a": self.case_a,
            "b": self.case_b,
            "o": lambda: self.case_o(workdir),
            "c": lambda: self.case_c(workdir),
        }
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
                    dt, rss, cuda = self._time_once(case)
                    rss_peak[key] = max(rss_peak[key], rss)
                    cuda_peak[key] = max(cuda_peak[key], cuda)
                    log.info(
                        "case %s run %d: %.2f s, %.1f papers/s",
                        key,
                        rep + 1,
                        dt,
                        len(self.corpus.texts) / dt,
                    )
        finally:
            for case in cases.values():
                case.state = None
            free_memory(self.device)
        for key, case in cases.items():
            self._peak_memory(case, rss_peak[key], cuda_peak[key])
        return {k: c.result for k, c in cases.items()}

    def _time_once(self, case: _Case) -> tuple[float, int, int]:
        """One timed run: (seconds, peak RSS, peak CUDA memory above the start)."""
        import torch

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
        case.result.process_maxrss_mb = maxrss_mb()
        cuda = torch.cuda.max_memory_allocated() - base if self.on_cuda else 0
        return dt, rss.peak, cuda

    def _peak_memory(self, case: _Case, rss_peak: int, cuda_peak: int) -> None:
        r = case.result
        if self.on_cuda:
            r.peak_mem_mb = (case.resident + cuda_peak) / 2**20
            r.peak_mem_kind = (
                "CUDA: this case's weights + its peak working memory (max_memory_allocated)"
            )
        else:
            r.peak_mem_mb = rss_peak / 2**20
            r.peak_mem_kind = (
                "process RSS, highest sample during this case's runs (whole process: "
                "every case's model is loaded)"
            )
        r.finish()

    def _nonfinite(self, key: str, emb: np.ndarray) -> int:
        import numpy as np

        self.outputs[key] = emb
        return int((~np.isfinite(emb).all(axis=1)).sum())

    # a: the model card ----------------------------------------------------------

    def case_a(self) -> _Case:
        import torch

        res = self._case(
            "a", f"fp32, batch 32, input order, pad to longest, {card_forward_name()}", "float32"
        )

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
        from ..model.loader import resolve_dtype

        dtype = resolve_dtype(self.cfg.dtype, self.device)
        budget = PLAIN_BUDGET["cuda" if self.on_cuda else "cpu"]
        weights = "model.half()" if self.on_cuda and str(dtype) == "torch.float16" else str(dtype)
        res = self._case(
            "b",
            f"{weights.replace('torch.', '')}, length-sorted, {budget:,}-token budget, "
            + card_forward_name(),
            dtype,
        )
        res.extra["batch_tokens"] = budget

        def load() -> Any:
            return load_card_model(self.models.base, self.models.adapter, self.device, dtype)

        def run(state: Any, warm: bool) -> None:
            tok, model = state
            forward = card_forward(model)
            if warm:
                plain_recipe(tok, forward, self.corpus.texts[: self.warmup], self.device, budget)
                return
            corpus = read_corpus(self.corpus.path, tok.sep_token)
            emb, res.real_tokens, res.padded_tokens, res.batches = plain_recipe(
                tok, forward, corpus.texts, self.device, budget
            )
            res.nonfinite_rows = self._nonfinite("b", emb)
            res.extra["attn_implementation"] = getattr(model.config, "_attn_implementation", None)

        return _Case(res, load, run)

    # o: ONNX Runtime fp32 --------------------------------------------------------

    def case_o(self, workdir: Path) -> _Case:
        """The plain recipe's batches through ONNX Runtime (fp32, CPU); see bench/onnx.py."""
        import torch

        from .onnx import OrtForward, export_fused, ort_session

        budget = PLAIN_BUDGET["cpu"]
        res = self._case(
            "o",
            f"fp32, ONNX export, BERT-optimised graph, length-sorted, {budget:,}-token budget",
            "float32",
        )
        res.extra["batch_tokens"] = budget

        def load() -> Any:
            tok, model = load_card_model(
                self.models.base, self.models.adapter, "cpu", torch.float32
            )
            try:
                path = export_fused(model, "proximity", workdir / "model.onnx")
                session, fusions = ort_session(
                    path,
                    torch.get_num_threads(),
                    int(model.config.num_attention_heads),
                    int(model.config.hidden_size),
                )
            except Exception as e:  # an exporter or ORT version that cannot run this graph
                raise EnvironmentProblem(
                    f"case o (ONNX Runtime) could not export or load the model: {e}. "
                    "Leave it out with --cases a,b,c or install another onnxruntime/onnx."
                ) from e
            res.extra["ort_fusions"] = fusions
            import onnxruntime

            res.extra["onnxruntime"] = onnxruntime.__version__
            del model
            return tok, OrtForward(session)

        def run(state: Any, warm: bool) -> None:
            tok, forward = state
            if warm:
                plain_recipe(tok, forward, self.corpus.texts[: self.warmup], "cpu", budget)
                return
            corpus = read_corpus(self.corpus.path, tok.sep_token)
            emb, res.real_tokens, res.padded_tokens, res.batches = plain_recipe(
                tok, forward, corpus.texts, "cpu", budget
            )
            res.nonfinite_rows = self._nonfinite("o", emb)

        return _Case(res, load, run)

    # c: the tool ----------------------------------------------------------------

    def case_c(self, workdir: Path) -> _Case:

        from ..api import embed_files
        from ..config import EmbedSettings, ModelSettings
        from ..model.loader import load_encoder, resolve_dtype

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
            "int8" if self.cfg.dtype == "int8" else resolve_dtype(self.cfg.dtype, self.device),
        )
        res.extra["batch_tokens"] = budget
        runs = itertools.count()

        def load() -> Any:
            return load_encoder(model_settings, device=self.device, dtype=self.cfg.dtype)

        def run(enc: Any, warm: bool) -> None:
            res.extra["engine"] = enc.engine
            res.extra["kernels"] = enc.kernels
            if warm:
                enc.embed_texts(self.corpus.texts[: self.warmup], budget)
                return
            outdir = workdir / f"out{next(runs)}"
            batches0 = enc.stats.batches
            summary = embed_files(
                [str(self.corpus.path)], outdir, encoder=enc, settings=settings, progress=False
            )
            t_read = time.perf_counter()
            ordered, missing = self._in_corpus_order(outdir)
            res.extra["read_back_s"] = round(time.perf_counter() - t_read, 3)
            res.extra["missing_from_output"] = missing
            res.real_tokens, res.padded_tokens = summary.real_tokens, summary.padded_tokens
            res.batches = enc.stats.batches - batches0
            res.extra["shards"] = summary.shards
            res.extra["rejected"] = summary.rejected
            res.nonfinite_rows = self._nonfinite("c", ordered) - missing
            shutil.rmtree(outdir, ignore_errors=True)

        return _Case(res, load, run)

    def _in_corpus_order(self, outdir: Path) -> tuple[np.ndarray, int]:
        """The output back in corpus order by input position, and how many rows are missing:
        rows the tool rejected (a duplicate id in a user's --input, say) stay NaN."""
        import numpy as np
        import pyarrow.parquet as pq

        from ..store.shards import fixed_list_to_numpy

        table = pq.read_table(outdir, columns=["input_pos", "embedding"])
        pos = table.column("input_pos").to_numpy()
        emb = fixed_list_to_numpy(table.column("embedding")).astype(np.float32)
        where = {int(p): k for k, p in enumerate(pos)}
        found = [where.get(p, -1) for p in self.corpus.positions]
        ordered = np.full((len(found), emb.shape[1]), np.nan, dtype=np.float32)
        hit = np.array([k >= 0 for k in found], dtype=bool)
        ordered[hit] = emb[[k for k in found if k >= 0]]
        return ordered, int((~hit).sum())

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
