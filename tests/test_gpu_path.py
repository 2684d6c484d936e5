"""The CUDA path without a GPU: packed (varlen) batches against the padded forward pass,
the out-of-memory policy and the fp16-overflow rerun driven through injection, device
bookkeeping through a recording fake, and which path each device takes."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from specter2_cli import faults
from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings, ModelSettings
from specter2_cli.errors import EnvironmentProblem
from specter2_cli.model.devicefaults import DeviceFailure, DeviceMemoryError
from specter2_cli.model.encoder import CudaOps, DeviceOps, Encoder, EncoderStats, choose_path
from specter2_cli.model.loader import load_encoder
from specter2_cli.model.varlen import (
    pack_batch,
    reference_attention,
    row_lengths,
    varlen_support,
)
from specter2_cli.synthetic import synthetic_papers
from specter2_cli.text import Tokenized, pack, tokenize
from tests.helpers import paper_text, read_output, write_jsonl

OOM = torch.OutOfMemoryError


@pytest.fixture(scope="module")
def enc(tiny_models: dict[str, Path]) -> Encoder:
    return load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        ),
        dtype="float32",
        engine="fused",
    )


def fresh(e: Encoder, **kw: Any) -> Encoder:
    """The same loaded model with its own counters, cap and device bookkeeping."""
    kw.setdefault("stats", EncoderStats())
    kw.setdefault("token_cap", None)
    return dataclasses.replace(e, _path=None, _fp32_forward=None, _fp32_cap=None, **kw)


def tokenized(lengths: list[int], seed: int = 0, vocab: int = 90) -> Tokenized:
    """Token ids of the given lengths: [CLS] random ... [SEP] (ids of the tiny vocab)."""
    rng = np.random.default_rng(seed)
    ids = [[2, *rng.integers(5, vocab, n - 2).tolist(), 3] for n in lengths]
    arr = np.array(lengths, dtype=np.int64)
    return Tokenized(ids, arr, np.zeros(len(lengths), dtype=bool))


# ------------------------------------------------------------------ packing and varlen


def test_packing_matches_a_brute_force_unpadding() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        lengths = sorted(rng.integers(1, 40, rng.integers(1, 9)).tolist(), reverse=True)
        width = max(lengths) + int(rng.integers(0, 9))
        ids = rng.integers(1, 1000, (len(lengths), width))
        mask = (np.arange(width)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
        p = pack_batch(ids, mask)
        assert p.ids.tolist() == [t for r, n in enumerate(lengths) for t in ids[r, :n]]
        assert p.positions.tolist() == [i for n in lengths for i in range(n)]
        starts = [sum(lengths[:r]) for r in range(len(lengths))]
        assert p.cu_seqlens.tolist() == [*starts, sum(lengths)]
        assert p.cu_seqlens.dtype == torch.int32 and p.cls_cu.dtype == torch.int32
        assert p.cls.tolist() == starts
        assert p.cls_cu.tolist() == list(range(len(lengths) + 1))
        assert p.max_len == max(lengths) and p.rows == len(lengths)
    full = pack_batch(np.arange(12).reshape(3, 4), None)
    assert full.cu_seqlens.tolist() == [0, 4, 8, 12] and full.ids.tolist() == list(range(12))
    with pytest.raises(ValueError, match="right padding"):
        row_lengths(np.ones((2, 3), np.int64), np.array([[1, 0, 1], [1, 1, 1]]))
    with pytest.raises(ValueError, match="no tokens"):
        row_lengths(np.ones((2, 3), np.int64), np.array([[0, 0, 0], [1, 1, 1]]))


def test_reference_attention_is_per_row_sdpa() -> None:
    """Brute force: each row's attention alone, padded to nothing."""
    gen = torch.Generator().manual_seed(1)
    lengths = [7, 3, 1, 12]
    cu = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int32)
    q, k, v = torch.randn(3, sum(lengths), 2, 8, generator=gen).unbind(0)
    got = reference_attention(q, k, v, cu, cu, 12, 12)
    for r in range(len(lengths)):
        a, b = int(cu[r]), int(cu[r + 1])
        scores = torch.einsum("qhd,khd->hqk", q[a:b], k[a:b]) / 8**0.5
        want = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v[a:b])
        torch.testing.assert_close(got[a:b], want, atol=1e-6, rtol=0)


def test_varlen_forward_equals_the_padded_forward(enc: Encoder) -> None:
    """Packed tokens + cu_seqlens + [CLS]-only last layer, with the CPU reference attention,
    against the padded SDPA pass of the same model: 1e-6."""
    fused = enc._forward
    texts = [paper_text(p) for p in synthetic_papers(24, seed=5, mean_words=40, sd_words=30)]
    texts.append("climate[SEP]" + " ".join(["ocean energy field"] * 300))  # 512 tokens
    enc_t = enc.tokenizer(texts, padding=True, truncation=True, max_length=512,
                          return_tensors="np", return_token_type_ids=False)  # fmt: skip
    ids, mask = enc_t["input_ids"].astype(np.int64), enc_t["attention_mask"].astype(np.int64)
    assert int(mask.sum(1).max()) == 512 and int(mask.sum(1).min()) < 100
    with torch.inference_mode():
        fused.unpad_cpu = False
        try:
            padded = fused(torch.from_numpy(ids), torch.from_numpy(mask))
        finally:
            fused.unpad_cpu = True
        packed = fused.forward_packed(pack_batch(ids, mask), reference_attention)
    assert packed.shape == padded.shape
    torch.testing.assert_close(packed, padded, atol=1e-6, rtol=0)


# ------------------------------------------------------------------ out-of-memory policy


class MemoryLimit:
    """A fake device memory: a forward pass over more than `tokens` padded tokens fails,
    holding a stand-in for its activations in the failing frame."""

    def __init__(self, tokens: int, only_module: Any = None) -> None:
        self.tokens, self.only = tokens, only_module
        self.ooms = self.fits = 0
        self.sizes: list[int] = []
        self.held: list[weakref.ref[Any]] = []
        self.leaked = 0

    def __call__(self, rows: int, tokens: int, module: Any = None) -> None:
        self.leaked += sum(1 for r in self.held if r() is not None)
        self.held.clear()
        if self.only is not None and module is not self.only:
            return
        if tokens > self.tokens:
            activations = torch.empty(1024)  # freed only once the exception is gone
            self.held.append(weakref.ref(activations))
            self.ooms += 1
            raise OOM("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        self.fits += 1
        self.sizes.append(tokens)


def test_oom_frees_before_retrying_and_remembers_the_cap(enc: Encoder) -> None:
    """4 batches of 8 rows x 64 tokens, memory for 2 rows: halving with a remembered cap
    costs 2 out-of-memory errors in all (8 -> 4 -> 2 rows) and 16 passes of 2 rows, not
    3 errors per batch; each retry starts after the failed attempt's memory is gone."""
    e = fresh(enc)
    tok = tokenized([64] * 32, seed=1)
    packing = pack(tok, 8 * 64, 8, 0)
    assert [b.input_ids.shape for b in packing.batches] == [(8, 64)] * 4
    want = fresh(enc).encode_packing(packing, 32)
    limit = MemoryLimit(2 * 64)
    with faults.injected("forward", limit):
        got = e.encode_packing(packing, 32)
    assert limit.leaked == 0, "a retry ran while the failed attempt's memory was still held"
    assert (limit.ooms, limit.fits) == (2, 16)
    assert e.stats.oom_splits == 2 and e.token_cap == 128
    assert e.batch_budget(131_072) == 128 and e.batch_budget(100) == 100
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_the_batcher_packs_later_windows_to_the_cap(
    enc: Encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the pipeline: after the first window ran out of memory, the next windows
    arrive already packed to the cap; the summary counts the splits."""
    e = fresh(enc)
    papers = list(synthetic_papers(48, seed=9, mean_words=60, sd_words=10))
    corpus = write_jsonl(tmp_path / "p.jsonl", papers)
    sizes: list[int] = []
    real_submit = Encoder.submit

    def spy(self: Encoder, packing: Any, n: int, stop: Any = None) -> Any:
        sizes.append(max(b.input_ids.size for b in packing.batches))
        return real_submit(self, packing, n, stop)

    monkeypatch.setattr(Encoder, "submit", spy)
    settings = EmbedSettings(model=e.settings, sort_window=4, shard_size=48, batch_tokens=4096)
    limit = MemoryLimit(300)
    with faults.injected("forward", limit):
        s = embed_files([str(corpus)], tmp_path / "out", encoder=e, settings=settings)
    assert s.embedded == 48 and limit.leaked == 0
    assert s.oom_splits == e.stats.oom_splits > 0 and s.token_cap == e.token_cap
    assert e.token_cap is not None and e.token_cap <= 300
    # windows packed ahead of the first error keep their size; the rest fit the cap
    assert len(sizes) == 12 and sizes[0] > 300, sizes
    assert all(n <= e.token_cap for n in sizes[7:]), sizes
    assert limit.ooms == s.oom_splits <= 5
    got = read_output(tmp_path / "out")
    want = fresh(enc).embed_texts([paper_text(p) for p in papers])
    assert sorted(got) == sorted(p["id"] for p in papers)
    for p, vector in zip(papers, want, strict=True):
        np.testing.assert_allclose(got[p["id"]], vector, atol=1e-6, rtol=0)


def test_a_record_that_does_not_fit_alone_is_exit_4_and_names_it(
    enc: Encoder, tmp_path: Path
) -> None:
    """The third window holds a 512-token record that never fits: exit 4, the message names
    its file, line and id and what to change; the windows before it stay committed."""
    papers = list(synthetic_papers(60, seed=4, mean_words=8, sd_words=2))
    papers[47]["abstract"] = " ".join(["ocean energy field theory"] * 200)
    corpus = write_jsonl(tmp_path / "p.jsonl", papers)
    settings = EmbedSettings(model=enc.settings, sort_window=20, shard_size=20)
    out = tmp_path / "out"
    with faults.injected("forward", MemoryLimit(400)), pytest.raises(DeviceMemoryError) as ei:
        embed_files([str(corpus)], out, encoder=fresh(enc), settings=settings)
    msg = str(ei.value)
    assert ei.value.exit_code == 4
    assert f"p.jsonl: line 48: id {papers[47]['id']!r}" in msg, msg
    assert "512 tokens" in msg and "--max-length" in msg and "40 records" in msg
    assert len(read_output(out)) == 40
    s = embed_files([str(corpus)], out, encoder=fresh(enc), settings=settings)
    assert s.resumed_from_rows == 40 and len(read_output(out)) == 60


def test_oom_while_copying_back_is_retried_then_exit_4(enc: Encoder) -> None:
    texts = [paper_text(p) for p in synthetic_papers(10, seed=2, mean_words=6, sd_words=2)]
    want = fresh(enc).embed_texts(texts)
    calls = {"n": 0}

    def once(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("CUDA error: out of memory (simulated)")

    with faults.injected("copy_back", once):
        np.testing.assert_array_equal(fresh(enc).embed_texts(texts), want)
    assert calls["n"] == 2

    def always(**_: Any) -> None:
        raise OOM("CUDA out of memory (simulated)")

    with faults.injected("copy_back", always), pytest.raises(DeviceMemoryError) as ei:
        fresh(enc).embed_texts(texts)
    assert ei.value.exit_code == 4 and "copying vectors back" in str(ei.value)

    def other(**_: Any) -> None:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    with faults.injected("copy_back", other), pytest.raises(DeviceFailure, match="illegal") as e2:
        fresh(enc).embed_texts(texts)
    assert e2.value.exit_code == 4


# ------------------------------------------------------------------ fp16 overflow


def blow_up(module: Any) -> None:
    """Scale the FFN up-projections so that float16 activations overflow (|x| > 65504)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("inter_weight"):
                p.mul_(3e5)


@pytest.fixture(scope="module")
def overflowing(enc: Encoder) -> dict[str, Any]:
    """An fp32 encoder whose fp16 copy overflows, and that fp16 copy with the fp32 master."""
    master = copy.deepcopy(enc._forward)
    blow_up(master)
    e32 = fresh(enc, _forward=master)
    e16 = fresh(
        enc,
        _forward=copy.deepcopy(master).half(),
        dtype=torch.float16,
        fp32_master=copy.deepcopy(master),
    )
    return {"fp32": e32, "fp16": e16}


def test_fp16_overflow_is_rerun_from_the_fp32_weights(overflowing: dict[str, Any]) -> None:
    """The rerun rows equal the true float32 computation (1e-5), not the fp16-rounded
    weights widened to float32 (about 1e-3 off); an OOM in the rerun is split too."""
    texts = [paper_text(p) for p in synthetic_papers(12, seed=4, mean_words=6, sd_words=2)]
    e16 = fresh(overflowing["fp16"], fp32_master=copy.deepcopy(overflowing["fp16"].fp32_master))
    want = overflowing["fp32"].embed_texts(texts)
    assert np.isfinite(want).all()
    got = e16.embed_texts(texts)
    assert e16.stats.fp32_reruns == len(texts), "the overflow did not happen"
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    # the same again with the fp32 module short of memory: split, same vectors
    limit = MemoryLimit(40, only_module=e16._fp32_forward)
    e16.stats = EncoderStats()
    with faults.injected("forward", limit):
        again = e16.embed_texts(texts)
    assert limit.ooms > 0 and e16.stats.oom_splits == limit.ooms and e16.token_cap is None
    np.testing.assert_allclose(again, want, atol=1e-5, rtol=1e-5)


def test_the_summary_counts_fp32_reruns(overflowing: dict[str, Any], tmp_path: Path) -> None:
    papers = list(synthetic_papers(8, seed=3, mean_words=6, sd_words=2))
    corpus = write_jsonl(tmp_path / "p.jsonl", papers)
    e16 = fresh(overflowing["fp16"], fp32_master=copy.deepcopy(overflowing["fp16"].fp32_master))
    s = embed_files([str(corpus)], tmp_path / "out", encoder=e16,
                    settings=EmbedSettings(model=e16.settings))  # fmt: skip
    assert (s.embedded, s.fp32_reruns, s.oom_splits) == (8, 8, 0)
    assert np.isfinite(np.stack(list(read_output(tmp_path / "out").values()))).all()


def test_no_memory_for_the_fp32_copy_is_exit_4(overflowing: dict[str, Any]) -> None:
    e16 = fresh(overflowing["fp16"], fp32_master=copy.deepcopy(overflowing["fp16"].fp32_master))

    def no_memory(**_: Any) -> None:
        raise OOM("CUDA out of memory (simulated)")

    with faults.injected("fp32_copy", no_memory), pytest.raises(DeviceMemoryError) as ei:
        e16.embed_texts(["a paper[SEP]about the ocean"])
    assert ei.value.exit_code == 4 and "float32 copy of the model" in str(ei.value)


def test_the_loader_keeps_float32_master_weights(
    enc: Encoder, tiny_models: dict[str, Path]
) -> None:
    """Computing in float16 keeps the weights as loaded (float32, on the host) for the
    rerun: equal to the float32 encoder's own, not the float16 ones widened."""
    e16 = load_encoder(enc.settings, dtype="float16", engine="fused")
    master = e16.fp32_master
    assert master is not None and load_encoder(enc.settings, dtype="float32").fp32_master is None
    want = enc._forward.state_dict()
    got = master.state_dict()
    assert got.keys() == want.keys()
    for name, t in got.items():
        assert t.dtype == torch.float32 and t.device.type == "cpu", name
        torch.testing.assert_close(t, want[name], atol=0, rtol=0)
    assert any(not torch.equal(t.half().float(), t) for t in got.values())  # fp16 would round


def test_resolve_device_makes_the_named_gpu_current(monkeypatch: pytest.MonkeyPatch) -> None:
    from specter2_cli.errors import UsageError
    from specter2_cli.model.loader import resolve_device

    current: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    assert resolve_device("cuda:1") == "cuda:1" and current == [1]
    assert resolve_device("cuda") == "cuda" and current == [1]
    with pytest.raises(UsageError, match="sees 2 GPU"):
        resolve_device("cuda:2")


def test_no_room_for_the_model_is_exit_4() -> None:
    from specter2_cli.model.loader import _to_device

    class Big(torch.nn.Module):
        def to(self, *a: Any, **k: Any) -> Any:
            raise OOM("CUDA out of memory. Tried to allocate 440.00 MiB (simulated)")

    with pytest.raises(DeviceMemoryError, match="cuda:1 has no room for the model") as ei:
        _to_device(Big(), "cuda:1", torch.float16)
    assert ei.value.exit_code == 4


def test_nan_even_in_float32_is_exit_4(overflowing: dict[str, Any]) -> None:
    e = fresh(overflowing["fp32"])
    with torch.no_grad():
        e._forward = copy.deepcopy(e._forward)
        e._forward.layers[0].ln2_bias.fill_(float("nan"))
    with pytest.raises(EnvironmentProblem) as ei:
        e.embed_texts(["a paper[SEP]about the ocean"])
    assert ei.value.exit_code == 4 and "weights are broken" in str(ei.value)


# ------------------------------------------------------------------ device bookkeeping


class FakeCuda(DeviceOps):
    """A "GPU" with index `index` that computes on the CPU and records, for every
    device-side call, which device was current: the guard's, or cuda:0 outside it."""

    cuda = True

    def __init__(self, index: int) -> None:
        super().__init__("cpu")
        self.index = index
        self.current = 0
        self.calls: list[tuple[str, int]] = []

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        before, self.current = self.current, self.index
        try:
            yield
        finally:
            self.current = before

    def guard(self) -> Any:
        return self._guard()

    def to_device(self, t: torch.Tensor) -> torch.Tensor:
        self.calls.append(("to_device", self.current))
        return t.clone()

    def host_buffer(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        self.calls.append(("pinned", self.current))
        return torch.empty(shape, dtype=dtype)

    def done_event(self) -> Any:
        self.calls.append(("event", self.current))
        return self

    def synchronize(self) -> None:
        self.calls.append(("synchronize", self.current))

    def free(self) -> None:
        self.calls.append(("free", self.current))

    def varlen_reason(self, dtype: torch.dtype, head_dim: int) -> str | None:
        return None


@pytest.mark.parametrize("attention", ["auto", "padded"])
def test_every_device_call_is_made_on_the_encoders_own_gpu(enc: Encoder, attention: str) -> None:
    """An encoder on "cuda:3" (a fake that computes on the CPU): every transfer, pinned
    buffer and event is made while cuda:3 is current, through the varlen branch (with the
    reference attention) and the padded one, and the vectors equal the CPU engine's."""
    texts = [paper_text(p) for p in synthetic_papers(40, seed=6, mean_words=20, sd_words=15)]
    want = fresh(enc).embed_texts(texts, batch_tokens=1024)
    gpu = FakeCuda(3)
    e = fresh(enc, device="cuda:3", _ops=gpu, attention=attention)
    limit = MemoryLimit(600)
    with faults.injected("forward", limit):
        got = e.embed_texts(texts, batch_tokens=1024)
    assert e.path[0] == ("varlen" if attention == "auto" else "padded")
    assert e.kernels.startswith("varlen" if attention == "auto" else "padded SDPA")
    kinds = {k for k, _ in gpu.calls}
    assert {"to_device", "pinned", "event", "free"} <= kinds
    assert all(i == 3 for _, i in gpu.calls), [c for c in gpu.calls if c[1] != 3]
    assert limit.ooms > 0
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_cuda_ops_record_events_and_buffers_on_their_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CudaOps("cuda:1") with torch.cuda's calls replaced by recorders: the event is
    recorded on cuda:1's stream, the guard makes cuda:1 current."""
    seen: dict[str, Any] = {}

    class Event:
        def record(self, stream: Any = None) -> None:
            seen["recorded_on"] = stream

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: ("stream", device))
    monkeypatch.setattr(torch.cuda, "device", lambda device: ("guard", device))
    ops = CudaOps("cuda:1")
    assert ops.device == torch.device("cuda", 1)
    ops.done_event()
    assert seen["recorded_on"] == ("stream", torch.device("cuda", 1))
    assert ops.guard() == ("guard", torch.device("cuda", 1))


def test_the_flash_op_fallback_matches_the_ops_schema() -> None:
    """Without torch.nn.attention.varlen the FlashAttention op is called positionally: its
    schema must take the arguments in that order (a mismatch fails at the schema, before
    dispatch; on this CPU the op then has no kernel)."""
    from specter2_cli.model.varlen import _flash_op

    schema = torch.ops.aten._flash_attention_forward.default._schema
    assert [a.name for a in schema.arguments][:10] == [
        "query", "key", "value", "cum_seq_q", "cum_seq_k", "max_q", "max_k",
        "dropout_p", "is_causal", "return_debug_mask",
    ]  # fmt: skip
    q = torch.randn(10, 2, 8).half()
    cu = torch.tensor([0, 4, 10], dtype=torch.int32)
    with pytest.raises(NotImplementedError, match="CPU"):
        _flash_op(q, q, q, cu, cu, 6, 6)


def test_the_path_each_device_takes() -> None:
    def ok() -> str | None:
        return None

    def missing() -> str | None:
        return "torch 2.5 has no torch.nn.attention.varlen"

    assert choose_path("fused", False, "auto", ok) == ("cpu", "")
    assert choose_path("fused", True, "auto", ok) == ("varlen", "")
    assert choose_path("fused", True, "auto", missing) == ("padded", missing())
    assert choose_path("fused", True, "padded", ok)[0] == "padded"
    assert choose_path("reference", True, "auto", ok)[0] == "padded"
    assert varlen_support("cpu", torch.float16) == "not a CUDA device"
    assert "float16 or bfloat16" in str(varlen_support("cuda:0", torch.float32))
    # this CPU build has the API but no kernel: the probe says so instead of failing later
    if not torch.cuda.is_available():
        assert varlen_support("cuda:0", torch.float16) is not None


def test_gc_is_not_what_frees_a_failed_attempt(enc: Encoder) -> None:
    """The freeing does not depend on a garbage collection pass: with gc off, the failed
    attempt's memory is still released before the retry."""
    gc.disable()
    try:
        e = fresh(enc)
        limit = MemoryLimit(64)
        with faults.injected("forward", limit):
            e.encode_packing(pack(tokenized([32] * 8), 256, 8, 0), 8)
        assert limit.ooms == 2 and limit.leaked == 0
    finally:
        gc.enable()


def test_each_devices_worker_sees_only_its_own_gpu() -> None:
    """--devices cuda:N: the worker runs on cuda:0 with CUDA_VISIBLE_DEVICES naming the
    N-th GPU this process sees (an index, UUID or MIG id, whatever the scheduler set)."""
    from specter2_cli.errors import UsageError
    from specter2_cli.multi import worker_device

    base = {"PATH": "/bin"}
    four = {"gpu_count": lambda: 4}
    assert worker_device("cuda:2", base, **four) == (
        "cuda:0",
        {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "2"},
    )
    assert worker_device("cuda", base, **four)[1]["CUDA_VISIBLE_DEVICES"] == "0"
    slurm = {"CUDA_VISIBLE_DEVICES": "4,5,7"}
    assert [worker_device(f"cuda:{i}", slurm)[1]["CUDA_VISIBLE_DEVICES"] for i in range(3)] == [
        "4",
        "5",
        "7",
    ]
    uuids = {"CUDA_VISIBLE_DEVICES": "GPU-aa, MIG-bb"}
    assert worker_device("cuda:1", uuids)[1]["CUDA_VISIBLE_DEVICES"] == "MIG-bb"
    assert worker_device("cpu", slurm) == ("cpu", slurm)
    assert base == {"PATH": "/bin"}  # the parent's environment is not changed
    with pytest.raises(UsageError, match=r"cuda:3.*3 GPU\(s\) \(cuda:0 to cuda:2\)"):
        worker_device("cuda:3", slurm)
    with pytest.raises(UsageError, match="hides every GPU"):
        worker_device("cuda:0", {"CUDA_VISIBLE_DEVICES": "-1"})
    with pytest.raises(UsageError, match="1 GPU"):
        worker_device("cuda:1", {"CUDA_VISIBLE_DEVICES": "3,-1,4"})


def test_devices_workers_are_started_each_on_its_own_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """run_devices("cuda:0,cuda:1") under CUDA_VISIBLE_DEVICES=4,5: two workers, shards 0
    and 1 of 2, each told cuda:0 with only its own GPU visible."""
    from specter2_cli import multi

    started: list[tuple[list[str], dict[str, str]]] = []

    class Worker:
        def __init__(self, cmd: list[str], env: dict[str, str], **_: Any) -> None:
            started.append((cmd, env))

        def wait(self) -> int:
            return 0

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(multi.subprocess, "Popen", Worker)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                 "SLURM_ARRAY_TASK_MAX", "SLURM_PROCID", "SLURM_NTASKS", "RANK", "WORLD_SIZE",
                 "JOB_COMPLETION_INDEX", "SPECTER2_WORKERS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    argv = ["embed", "in.jsonl", "-o", "out", "--devices", "cuda:0,cuda:1"]
    assert multi.run_devices("cuda:0,cuda:1", argv, None, None) == 0
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in started] == ["4", "5"]
    for i, (cmd, _) in enumerate(started):
        assert cmd[cmd.index("--device") + 1] == "cuda:0" and "--devices" not in cmd
        assert cmd[cmd.index("--shard-index") + 1 :][:3] == [str(i), "--num-shards", "2"]


# ------------------------------------------------------------------ CUDA failures (exit 4)

NO_KERNEL = "CUDA error: no kernel image is available for execution on the device"
BUSY = "CUDA error: CUDA-capable device(s) is/are busy or unavailable"
CUBLAS_INIT = "CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate(handle)`"


@pytest.mark.parametrize("message", [NO_KERNEL, BUSY])
def test_a_cuda_failure_is_exit_4_and_keeps_the_windows_done(
    enc: Encoder, tmp_path: Path, message: str
) -> None:
    """An unsupported or busy GPU failing in the third window's forward pass: exit 4 naming
    the device and what to check, not a traceback; the windows before it stay committed
    and a rerun resumes after them."""
    papers = list(synthetic_papers(60, seed=4, mean_words=8, sd_words=2))
    corpus = write_jsonl(tmp_path / "p.jsonl", papers)
    settings = EmbedSettings(model=enc.settings, sort_window=20, shard_size=20)
    out = tmp_path / "out"
    seen = {"batches": 0}

    def fail_third_window(**_: Any) -> None:
        seen["batches"] += 1
        if seen["batches"] > 2:
            raise torch.AcceleratorError(message) if message == BUSY else RuntimeError(message)

    e = fresh(enc, device="cuda:3", _ops=FakeCuda(3))
    with faults.injected("forward", fail_third_window), pytest.raises(DeviceFailure) as ei:
        embed_files([str(corpus)], out, encoder=e, settings=settings)
    msg = str(ei.value)
    assert ei.value.exit_code == 4 and msg.startswith("cuda:3 failed running a batch"), msg
    assert message in msg and ("nvidia-smi" in msg or "torch build" in msg), msg
    assert "40 records" in msg, msg
    assert len(read_output(out)) == 40
    s = embed_files([str(corpus)], out, encoder=fresh(enc), settings=settings)
    assert s.resumed_from_rows == 40 and len(read_output(out)) == 60


def test_cublas_failing_to_start_is_out_of_memory(enc: Encoder) -> None:
    """On a nearly full GPU cuBLAS fails to create its handle: split like any lack of memory."""
    tok = tokenized([64] * 16, seed=2)
    packing = pack(tok, 8 * 64, 8, 0)
    want = fresh(enc).encode_packing(packing, 16)
    calls = {"ooms": 0}

    def cublas(rows: int, tokens: int, module: Any = None) -> None:
        if tokens > 2 * 64:
            calls["ooms"] += 1
            raise RuntimeError(CUBLAS_INIT)

    e = fresh(enc)
    with faults.injected("forward", cublas):
        got = e.encode_packing(packing, 16)
    assert calls["ooms"] == e.stats.oom_splits == 2 and e.token_cap == 128
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_cuda_failures_at_load_are_exit_4(monkeypatch: pytest.MonkeyPatch) -> None:
    from specter2_cli.model.loader import _to_device, resolve_device

    class Busy(torch.nn.Module):
        def to(self, *a: Any, **k: Any) -> Any:
            raise RuntimeError(BUSY)

    with pytest.raises(DeviceFailure, match="cuda:1 failed taking the model") as ei:
        _to_device(Busy(), "cuda:1", torch.float16)
    assert ei.value.exit_code == 4 and "Exclusive_Process" in str(ei.value)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EnvironmentProblem, match="no CUDA device is available") as e2:
        resolve_device("cuda")
    assert e2.value.exit_code == 4

    def set_device(index: int) -> None:
        raise RuntimeError(BUSY)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    with pytest.raises(DeviceFailure, match="cuda:1 failed") as e3:
        resolve_device("cuda:1")
    assert e3.value.exit_code == 4


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RuntimeError(NO_KERNEL), 4),
        (RuntimeError(CUBLAS_INIT), 4),
        (RuntimeError("CUDA driver initialization failed, you might not have a CUDA gpu."), 4),
        (RuntimeError("shape mismatch"), None),
    ],
)
def test_the_cli_maps_cuda_failures_to_exit_4(error: RuntimeError, code: int | None) -> None:
    """A CUDA failure that reaches a command (outside the encoder's handling) is exit 4 with
    a message; any other RuntimeError stays a bug (exit 1, traceback)."""
    import typer

    from specter2_cli.cli.common import exit_on_error

    @exit_on_error
    def command() -> None:
        raise error

    if code is None:
        with pytest.raises(RuntimeError, match="shape mismatch"):
            command()
        return
    with pytest.raises(typer.Exit) as ei:
        command()
    assert ei.value.exit_code == code


# ------------------------------------------------------------------ int8, probes, copies


def test_int8_reruns_overflowing_rows_from_the_unquantized_weights(
    enc: Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    """--dtype int8: the float32 rerun uses the unquantized module (equal to the float32
    encoder's vectors at 1e-6), not the int8 one again (about 1e-2 off here)."""
    e8 = load_encoder(enc.settings, dtype="int8", engine="fused", device="cpu")
    texts = [paper_text(p) for p in synthetic_papers(6, seed=8, mean_words=20, sd_words=5)]
    want = fresh(enc).embed_texts(texts)
    packing = pack(tokenize(e8.tokenizer, texts, 512), 4096, 64, 0)
    result = torch.full((len(texts), e8.hidden_size), float("nan"))
    with caplog.at_level("WARNING", logger="specter2"):
        e8._rerun_fp32(packing, result, torch.ones(len(texts), dtype=torch.bool))
    assert "widened" not in caplog.text
    np.testing.assert_allclose(result.numpy(), want, atol=1e-6, rtol=0)
    assert np.abs(e8.embed_texts(texts) - want).max() > 1e-4  # int8 itself differs


def test_a_varlen_probe_that_ran_out_of_memory_is_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from specter2_cli.model import varlen

    answers: list[Any] = [OOM("CUDA out of memory (simulated)"), None]
    calls = {"n": 0}

    def probe(*_: Any) -> str | None:
        calls["n"] += 1
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    monkeypatch.setattr(varlen, "_known", {})
    monkeypatch.setattr(varlen, "_probe", probe)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev: (9, 0))
    assert "OutOfMemoryError" in str(varlen_support("cuda:0", torch.float16))
    assert varlen_support("cuda:0", torch.float16) is None  # probed again, kernel works
    assert varlen_support("cuda:0", torch.float16) is None and calls["n"] == 2  # remembered


def test_split_parts_are_contiguous(enc: Encoder) -> None:
    """Parts cut from a batch after an out-of-memory split are contiguous arrays: pinning a
    strided view would go through a temporary copy and lose the copy/compute overlap."""
    tok = tokenized([60, 50, 40, 30, 20, 10, 9, 8], seed=3)
    (b,) = pack(tok, 8 * 64, 8, 0).batches
    e = fresh(enc, token_cap=2 * 64)
    parts = e._fit(b)
    assert len(parts) > 1 and any(p.input_ids.shape[1] < b.input_ids.shape[1] for p in parts)
    for p in parts:
        assert p.input_ids.flags.c_contiguous
        assert p.attention_mask is None or p.attention_mask.flags.c_contiguous


class LateCopies(FakeCuda):
    """A fake GPU whose device-to-host copies land only when the event is synchronized:
    before that the host buffers hold stale values."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.buffers: list[torch.Tensor] = []

    def host_buffer(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        t = super().host_buffer(shape, dtype)
        self.buffers.append(t)
        return t

    def done_event(self) -> Any:
        landed = [(t, t.clone()) for t in self.buffers]
        self.buffers = []
        for t, _ in landed:
            t.fill_(True if t.dtype == torch.bool else 7.0)
        calls = self.calls

        class Event:
            def synchronize(self) -> None:
                calls.append(("synchronize", -1))
                for t, value in landed:
                    t.copy_(value)

        return Event()


def test_results_are_read_only_after_the_event_passed(enc: Encoder) -> None:
    texts = [paper_text(p) for p in synthetic_papers(10, seed=7, mean_words=10, sd_words=5)]
    want = fresh(enc).embed_texts(texts)
    gpu = LateCopies(2)
    got = fresh(enc, device="cuda:2", _ops=gpu).embed_texts(texts)
    assert ("synchronize", -1) in gpu.calls
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_devices_are_checked_against_the_gpus_of_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CUDA_VISIBLE_DEVICES unset: cuda:5 on a 1-GPU node is a usage error naming it; no GPU
    at all is an environment problem (exit 4)."""
    from specter2_cli.errors import UsageError
    from specter2_cli.multi import parse_devices, worker_device

    with pytest.raises(UsageError, match=r"cuda:5, but this node has 1 GPU\(s\) \(cuda:0 to"):
        worker_device("cuda:5", {}, gpu_count=lambda: 1)
    with pytest.raises(EnvironmentProblem, match="no CUDA device is visible") as ei:
        worker_device("cuda:0", {}, gpu_count=lambda: 0)
    assert ei.value.exit_code == 4
    assert worker_device("cuda:0", {}, gpu_count=lambda: 1)[1]["CUDA_VISIBLE_DEVICES"] == "0"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(EnvironmentProblem, match="--devices all") as e2:
        parse_devices("all")
    assert e2.value.exit_code == 4
