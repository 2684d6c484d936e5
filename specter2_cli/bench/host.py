"""The host path alone: read -> parse -> validate -> filter -> tokenize -> pack -> write, with
the device step replaced by nothing, on 1, 2, ... cores.

`run_host_bench` measures, in one process and interleaved (best of `repeats`):

* per stage, on one thread, µs of CPU per record (`time.thread_time`);
* the whole `EmbedJob` with a null encoder (zero embeddings, real shards written),
  pinned to the first k CPUs (`os.sched_setaffinity`, inherited by the job's threads)
  with `--workers k`: records/s, µs of CPU per record, ratio to one core;
* a bare `AutoTokenizer(...)` call over the same texts on one core, the bar the host
  path must beat.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import EmbedSettings, ModelSettings
from ..inputs import RecordStream, RecordValidator, plan_slices, resolve_inputs
from ..model.encoder import EncoderStats
from ..pipeline.windows import RecordFilter, cut_windows
from ..store.keys import KeySet
from ..text import pack, tokenize


@dataclass
class NullEncoder:
    """Quacks like model.encoder.Encoder; its 'device step' returns zeros at once."""

    tokenizer: Any
    settings: ModelSettings
    hidden_size: int = 768
    max_positions: int = 512
    device: str = "cpu"
    engine: str = "none"
    kernels: str = ""
    dtype: str = "float32"
    compute_dtype: str = "float32"
    int8: dict[str, Any] | None = None
    adapter_tag: str | None = None
    on_batch: Any = None
    revisions: dict[str, str | None] = field(default_factory=dict)
    stats: EncoderStats = field(default_factory=EncoderStats)
    token_cap: int | None = None

    def batch_budget(self, budget: int) -> int:
        return budget

    def submit(self, packing: Any, n_rows: int, should_stop: Any = None) -> int:
        return n_rows

    def collect(self, n_rows: int) -> np.ndarray:
        return np.zeros((n_rows, self.hidden_size), np.float32)


def _cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.thread_time()
    out = fn()
    return time.thread_time() - t, out


def stage_costs(path: Path, tokenizer: Any, sort_window: int) -> dict[str, float]:
    """µs of CPU per record of each host stage, on the calling thread."""
    files = resolve_inputs([str(path)])
    validator = RecordValidator(EmbedSettings().fields, False, tokenizer.sep_token, "int")
    read_s, lines = _cpu(lambda: path.read_bytes().splitlines())
    parse_s, _ = _cpu(lambda: [json.loads(x) for x in lines])
    stream_s, items = _cpu(lambda: list(RecordStream(files, plan_slices(files, 0, 1), validator)))
    keep = RecordFilter(KeySet(None), None)
    filter_s, windows = _cpu(
        lambda: list(cut_windows(iter(items), files, keep, 1 << 40, sort_window, False))
    )
    tok_s, toks = _cpu(
        lambda: [tokenize(tokenizer, [r.text for r in w.records], 512) for w in windows]
    )
    pack_s, _ = _cpu(lambda: [pack(t, 16_384, 1_024, tokenizer.pad_token_id) for t in toks])
    n = len(items)
    costs = {
        "read": read_s,
        "parse": parse_s,
        "validate": stream_s - read_s - parse_s,
        "filter+hash": filter_s,
        "tokenize": tok_s,
        "pack": pack_s,
    }
    return {k: round(v / n * 1e6, 1) for k, v in costs.items()}


def bare_tokenizer(path: Path, tokenizer: Any) -> float:
    """Records/s of `tokenizer(texts, truncation=True, max_length=512)` in chunks of 1,024."""
    texts = [r["title"] + tokenizer.sep_token + r["abstract"] for r in map(json.loads, open(path))]
    t = time.perf_counter()
    for i in range(0, len(texts), 1_024):
        tokenizer(texts[i : i + 1_024], truncation=True, max_length=512)
    return len(texts) / (time.perf_counter() - t)


def cores_available(k: int, seconds: float = 0.5) -> float:
    """CPU time / wall time of k threads hashing (GIL released): how many of the k cores the
    machine really gave this process just now (below k on a shared machine)."""
    import hashlib
    import threading

    data = b"x" * (1 << 24)
    deadline = time.perf_counter() + seconds

    def spin() -> None:
        while time.perf_counter() < deadline:
            hashlib.sha256(data).digest()

    threads = [threading.Thread(target=spin) for _ in range(k)]
    wall, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def run_job(path: Path, tokenizer: Any, workers: int, sort_window: int, scratch: Path) -> Any:
    """One full EmbedJob with the null encoder; (seconds, CPU seconds, main-thread CPU s)."""
    from ..pipeline import EmbedJob

    out = scratch / f"out-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    settings = EmbedSettings(workers=workers, sort_window=sort_window, shard_size=50_000)
    enc = NullEncoder(tokenizer, settings.model)
    job = EmbedJob([str(path)], out, settings, encoder=enc)  # type: ignore[arg-type]
    wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
    job.run()
    return (
        time.perf_counter() - wall,
        time.process_time() - cpu,
        time.thread_time() - main,
    )


def run_host_bench(
    path: Path, tokenizer: Any, cores: list[int], repeats: int, sort_window: int
) -> dict[str, Any]:
    """Stage costs, then the full host path on each core count, interleaved, best of repeats."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    n = sum(1 for _ in open(path, "rb"))
    allowed = sorted(os.sched_getaffinity(0))
    best: dict[int, tuple[float, float, float]] = {}
    free: dict[int, float] = {}
    stages: dict[str, float] = {}
    bare = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        run_job(path, tokenizer, 1, sort_window, Path(tmp))  # warm-up: imports, caches
        for _ in range(repeats):
            os.sched_setaffinity(0, allowed[:1])
            s = stage_costs(path, tokenizer, sort_window)
            stages = {k: min(v, stages.get(k, v)) for k, v in s.items()}
            bare = max(bare, bare_tokenizer(path, tokenizer))
            for k in cores:
                os.sched_setaffinity(0, allowed[:k])
                r = run_job(path, tokenizer, k, sort_window, Path(tmp))
                if k not in best or r[0] < best[k][0]:
                    best[k] = r
                    free[k] = cores_available(k)
        os.sched_setaffinity(0, allowed)
    one = n / best[cores[0]][0]
    runs = [
        {
            "cores": k,
            "workers": k,
            "records_per_s": round(n / wall),
            "cpu_us_per_record": round(cpu / n * 1e6),
            "main_thread_us_per_record": round(main / n * 1e6),
            "ratio_to_one_core": round(n / wall / one, 2),
            "cores_busy": round(cpu / wall, 2),
            "cores_available": round(free[k], 2),
        }
        for k, (wall, cpu, main) in sorted(best.items())
    ]
    stages["write (main thread of the 1-core run)"] = runs[0]["main_thread_us_per_record"]
    return {
        "records": n,
        "stages_cpu_us_per_record": stages,
        "bare_autotokenizer_records_per_s_1_core": round(bare),
        "runs": runs,
    }
