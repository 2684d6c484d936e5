"""Operational faults: full disk, fp16 overflow, out-of-memory batches. Nothing committed is lost."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from specter2_cli.api import embed_files
from specter2_cli.config import EmbedSettings, ModelSettings
from specter2_cli.errors import OutputError
from specter2_cli.model.encoder import Encoder
from specter2_cli.model.loader import load_encoder
from specter2_cli.synthetic import synthetic_papers
from tests.helpers import model_card_embeddings, paper_text, read_output, write_jsonl


@pytest.fixture(scope="module")
def encoder(tiny_models: dict[str, Path]) -> Encoder:
    return load_encoder(
        ModelSettings(
            base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
        )
    )


def small(enc: Encoder) -> EmbedSettings:
    return EmbedSettings(model=enc.settings, shard_size=20, sort_window=10, batch_tokens=1024)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("c")
    return write_jsonl(d / "p.jsonl", list(synthetic_papers(800, seed=2, mean_words=8, sd_words=3)))


def visible_files_are_whole(outdir: Path) -> int:
    """pyarrow reads the folder (no torn file); returns the row count."""
    return pq.read_table(outdir).num_rows if any(outdir.glob("part-*.parquet")) else 0


def test_disk_full_by_injection_then_resume(encoder: Encoder, corpus: Path, tmp_path: Path) -> None:
    """ENOSPC from the 7th shard write: the real error path removes the temp file, keeps what
    was committed, and the rerun resumes."""
    from specter2_cli import faults

    calls = {"n": 0}

    def disk_full(path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 7:
            assert path.exists(), "the injection must hit a temp file that is really there"
            raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "out"
    with faults.injected("write", disk_full), pytest.raises(OutputError, match="no space left"):
        embed_files([str(corpus)], out, encoder=encoder, settings=small(encoder))
    assert visible_files_are_whole(out) == 60  # 3 shards of 20 committed before the failure
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    s = embed_files([str(corpus)], out, encoder=encoder, settings=small(encoder))
    assert s.resumed_from_rows == 60 and visible_files_are_whole(out) == 800


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return r.returncode == 0


def test_disk_full_on_a_real_small_tmpfs(encoder: Encoder, corpus: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "160k"):
        pytest.skip("cannot mount a tmpfs here (needs root); the injection test covers the logic")
    try:
        out = mnt / "out"
        with pytest.raises(OutputError, match="no space left"):
            embed_files([str(corpus)], out, encoder=encoder, settings=small(encoder))
        committed = visible_files_are_whole(out)
        assert 0 < committed < 800
        subprocess.run(["mount", "-o", "remount,size=8m", str(mnt)], check=True)
        s = embed_files([str(corpus)], out, encoder=encoder, settings=small(encoder))
        assert s.resumed_from_rows == committed
        got = read_output(out)
        clean = tmp_path / "clean"
        embed_files([str(corpus)], clean, encoder=encoder, settings=small(encoder))
        ref = read_output(clean)
        assert got.keys() == ref.keys()
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k])
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_output_folder_not_writable_is_an_environment_error(
    encoder: Encoder, corpus: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        embed_files([str(corpus)], blocker / "out", encoder=encoder, settings=small(encoder))


def blow_up(enc: Encoder) -> None:
    """Scale the FFN up-projections so that float16 activations overflow (|x| > 65504),
    in the float32 master weights of the rerun too."""
    import torch

    with torch.no_grad():
        for module in (enc._forward, enc.fp32_master):
            for name, p in module.named_parameters() if module is not None else ():
                if name.endswith("inter_weight"):
                    p.mul_(3e5)


def test_fp16_overflow_is_rerun_in_fp32(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """Weights scaled so that float16 activations overflow to inf: the rows must be redone in
    float32, never written as NaN/inf."""

    settings = ModelSettings(
        base_model=str(tiny_models["base"]), adapter_path=str(tiny_models["proximity"])
    )
    enc = load_encoder(settings, dtype="float16", engine="fused")
    blow_up(enc)
    papers = list(synthetic_papers(12, seed=4, mean_words=6, sd_words=2))
    texts = [paper_text(p) for p in papers]
    out = enc.embed_texts(texts)
    assert enc.stats.fp32_reruns > 0, "the overflow did not happen; the test proves nothing"
    assert np.isfinite(out).all()
    fp32 = load_encoder(settings, dtype="float32", engine="fused")
    blow_up(fp32)
    ref = fp32.embed_texts(texts)
    bad = ~np.isfinite(ref)
    assert not bad.any()
    cos = (out * ref).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.999


def test_out_of_memory_batches_are_split_with_the_same_results(
    encoder: Encoder, tiny_models: dict[str, Path]
) -> None:
    import torch

    from specter2_cli import faults

    def small_batches_only(rows: int, **_: object) -> None:
        if rows > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    papers = list(synthetic_papers(9, seed=8, mean_words=6, sd_words=2))
    texts = [paper_text(p) for p in papers]
    before = encoder.stats.oom_splits
    try:
        with faults.injected("forward", small_batches_only):
            got = encoder.embed_texts(texts, batch_tokens=8192)
    finally:
        encoder.token_cap = None  # the module's encoder: later tests get full batches
    assert encoder.stats.oom_splits > before
    ref = model_card_embeddings(tiny_models["base"], tiny_models["proximity"], "proximity", texts)
    np.testing.assert_allclose(got, ref, atol=1e-5)
