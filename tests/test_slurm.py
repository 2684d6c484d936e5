"""The example array job, for real, on the one-node SLURM cluster that .ci/run starts.

One task is signalled mid-run (as SLURM does before a time limit) and requeues
itself; the merge job runs after the array and must equal a single-process run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from specter2_cli.synthetic import synthetic_papers
from tests.helpers import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        not os.environ.get("SLURM_CONF") or shutil.which("sbatch") is None,
        reason="needs a SLURM cluster: .ci/run starts one with scripts/slurm-cluster.sh",
    ),
]


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def wait_for(pred, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_array_job_with_requeue_then_merge(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    papers = list(synthetic_papers(160, seed=21, mean_words=10, sd_words=5))
    src = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "out"
    logs = tmp_path / "logs"
    logs.mkdir()
    args = (
        f"--base-model {tiny_models['base']} --adapter-path {tiny_models['proximity']} "
        "--device cpu --shard-size 8 --sort-window 4 --no-progress --log-every 0"
    )
    env = {
        **os.environ,
        "INPUTS": str(src),
        "OUTDIR": str(out),
        "MERGED": str(tmp_path / "merged.parquet"),
        "SPECTER2": f"{sys.executable} -m specter2_cli",
        "SPECTER2_ARGS": args,
        "SPECTER2_FAULT": "delay:0.3",  # slow enough to be signalled mid-run
        "HF_HUB_OFFLINE": "1",
    }
    common = ["--gres=none", "--cpus-per-task=1", "--mem=0", "--time=10", f"--chdir={ROOT}"]
    job = subprocess.run(
        ["sbatch", "--parsable", "--array=3-6", *common, f"--output={logs}/embed-%A_%a.out",
         str(ROOT / "examples/slurm/embed.sbatch")],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip()  # fmt: skip
    merge_job = subprocess.run(
        ["sbatch", "--parsable", f"--dependency=afterok:{job}", *common,
         f"--output={logs}/merge-%j.out", str(ROOT / "examples/slurm/merge.sbatch")],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip()  # fmt: skip

    # Task 4 is rank 1 (the array starts at 3). Signal it once it has committed a shard.
    manifest = out / "_specter2" / "g0000-r00001.json"
    wait_for(manifest.exists, 240, "rank 1 to commit a shard")
    # scancel may answer non-zero although the signal went out (a step already ending, seen
    # with Slurm 22.05); whether it arrived is checked below in the task's log
    sig = subprocess.run(
        ["scancel", "--signal=USR1", "--batch", f"{job}_4"], capture_output=True, text=True
    )

    wait_for(lambda: not sh("squeue", "-h", "-j", job), 400, "the array job to finish")
    logs_text = "\n".join(f"== {p.name}\n{p.read_text()}" for p in sorted(logs.glob("embed-*")))
    code, text = (
        subprocess.run(
            [sys.executable, "-m", "specter2_cli", "status", str(out)],
            capture_output=True,
            text=True,
        ).returncode,
        logs_text,
    )
    assert code == 0, text
    wait_for(lambda: not sh("squeue", "-h", "-j", merge_job), 120, "the merge job to finish")
    log4 = (logs / f"embed-{job}_4.out").read_text()
    assert "committing" in log4 and "requeueing" in log4, (log4, sig.returncode, sig.stderr)
    assert "already committed before this run" in log4, log4  # the requeued run resumed
    assert (tmp_path / "merged.parquet").exists(), next(iter(logs.glob("merge-*"))).read_text()

    merged = pq.read_table(tmp_path / "merged.parquet")
    assert merged.column("id").to_pylist() == [p["id"] for p in papers]

    from specter2_cli.api import embed_files
    from specter2_cli.config import EmbedSettings, ModelSettings

    single = tmp_path / "single"
    embed_files(
        [str(src)], single,
        settings=EmbedSettings(model=ModelSettings(base_model=str(tiny_models["base"]),
                                                   adapter_path=str(tiny_models["proximity"]))),
    )  # fmt: skip
    ref = pq.read_table(single)
    np.testing.assert_allclose(
        np.stack(merged.column("embedding").to_numpy(zero_copy_only=False)),
        np.stack(ref.column("embedding").to_numpy(zero_copy_only=False)),
        atol=1e-5,
    )
