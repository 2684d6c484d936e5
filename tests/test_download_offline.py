"""`specter2 download` (Hub mocked) and `embed` from a Hugging Face cache with HF_HUB_OFFLINE=1.

No test here touches the network: the download tests replace the two Hub calls,
and the offline runs execute the real CLI in a fresh interpreter whose sockets
refuse any Internet connection (and record the attempt).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from specter2_cli.cli import app
from specter2_cli.errors import ModelLoadError, UsageError
from specter2_cli.model import download as dl
from specter2_cli.model import hub as hubmod
from specter2_cli.store.shards import shard_metadata
from tests.helpers import hub_http_error, network_error, read_output, tricky_papers, write_jsonl

runner = CliRunner()

BASE_COMMIT = "1" * 8 + "a" * 32
OLD_BASE_COMMIT = "0" * 8 + "b" * 32
ADAPTER_COMMIT = "2" * 8 + "c" * 32
QUERY_COMMIT = "3" * 8 + "d" * 32


# ----------------------------------------------------------------- the plan


def test_plan_all_adapters_by_default() -> None:
    plans = dl.plan_downloads(None)
    assert [(p.key, p.repo_id, p.folder) for p in plans] == [
        ("base", "allenai/specter2_base", "specter2_base"),
        ("proximity", "allenai/specter2", "specter2_proximity"),
        ("adhoc_query", "allenai/specter2_adhoc_query", "specter2_adhoc_query"),
        ("classification", "allenai/specter2_classification", "specter2_classification"),
        ("regression", "allenai/specter2_regression", "specter2_regression"),
    ]
    assert dl.plan_downloads(["all"]) == plans


def test_plan_one_several_none_and_revision() -> None:
    one = dl.plan_downloads(["adhoc_query"], revision="v1")
    assert [p.repo_id for p in one] == ["allenai/specter2_base", "allenai/specter2_adhoc_query"]
    assert one[0].revision == "v1" and one[1].revision is None  # pins the base model only
    two = dl.plan_downloads(["proximity,adhoc_query", "proximity"])
    assert [p.key for p in two] == ["base", "proximity", "adhoc_query"]
    assert [p.key for p in dl.plan_downloads(["none"])] == ["base"]
    with pytest.raises(UsageError, match="unknown adapter"):
        dl.plan_downloads(["specter"])


def test_unknown_adapter_exits_2() -> None:
    result = runner.invoke(app, ["download", "--adapter", "nope"])
    assert result.exit_code == 2
    assert "unknown adapter" in result.output


# ----------------------------------------------------------------- a mocked Hub

REPO_FILES = {
    "allenai/specter2_base": {
        "config.json": "{}",
        "pytorch_model.bin": "weights",
        "vocab.txt": "[PAD]",
        "tf_model.h5": "tf",
        "flax_model.msgpack": "flax",
    },
}
ADAPTER_FILES = {"adapter_config.json": "{}", "pytorch_adapter.bin": "adapter"}


class FakeHub:
    """Stands in for HfApi.model_info and huggingface_hub.snapshot_download."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.calls: list[dict[str, Any]] = []

    def commit(self, repo_id: str) -> str:
        return hashlib.sha1(repo_id.encode()).hexdigest()

    def repo_commit(self, repo_id: str, revision: str | None) -> tuple[str, list[str]]:
        return self.commit(repo_id), list(REPO_FILES.get(repo_id, ADAPTER_FILES))

    def snapshot_download(self, repo_id: str, **kw: Any) -> str:
        import fnmatch

        self.calls.append({"repo_id": repo_id, **kw})
        files = REPO_FILES.get(repo_id, ADAPTER_FILES)
        keep = {
            n: t
            for n, t in files.items()
            if not any(fnmatch.fnmatch(n, p) for p in kw.get("ignore_patterns") or [])
        }
        if kw.get("local_dir"):
            folder = Path(kw["local_dir"])
        else:
            folder = self.cache / repo_id.replace("/", "--") / "snapshots" / self.commit(repo_id)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in keep.items():
            (folder / name).write_text(text)
        return str(folder)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeHub:
    import huggingface_hub

    fake = FakeHub(tmp_path / "cache")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(dl, "check_network", lambda: None)
    monkeypatch.setattr(dl, "repo_commit", fake.repo_commit)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    return fake


def test_download_to_dir_lays_out_portable_folders(hub: FakeHub, tmp_path: Path) -> None:
    to = tmp_path / "models"
    result = runner.invoke(app, ["download", "--to", str(to)])
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in to.iterdir())
    assert folders == [
        "specter2_adhoc_query",
        "specter2_base",
        "specter2_classification",
        "specter2_proximity",
        "specter2_regression",
    ]
    # exact commits requested, TF/Flax weights skipped
    assert len(hub.calls) == 5
    for call in hub.calls:
        assert call["revision"] == hub.commit(call["repo_id"])
        assert Path(call["local_dir"]).parent == to
    assert sorted(p.name for p in (to / "specter2_base").iterdir() if p.name[0] != ".") == [
        "config.json",
        "pytorch_model.bin",
        "vocab.txt",
    ]
    marker = hubmod.read_source_marker(to / "specter2_proximity")
    assert marker is not None
    assert marker["repo_id"] == "allenai/specter2"
    assert marker["revision"] == hub.commit("allenai/specter2")
    assert hubmod.model_identity(str(to / "specter2_base")) == (
        "allenai/specter2_base",
        hub.commit("allenai/specter2_base"),
    )
    base, prox = (to / "specter2_base").resolve(), (to / "specter2_proximity").resolve()
    out = result.output
    for repo in ["allenai/specter2_base", "allenai/specter2", "allenai/specter2_regression"]:
        assert f"{repo}" in out and hub.commit(repo) in out
    assert (
        f"  specter2 embed INPUT.jsonl -o OUTDIR --base-model {base} --adapter-path {prox}\n" in out
    )
    q = (to / "specter2_adhoc_query").resolve()
    assert f"--adapter adhoc_query --base-model {base} --adapter-path {q}" in out
    assert f'specter2 search OUTDIR "query text" --base-model {base} --adapter-path {q}' in out
    assert "HF_HUB_OFFLINE" not in out


def test_download_to_cache_prints_offline_command(hub: FakeHub) -> None:
    result = runner.invoke(app, ["download", "--adapter", "proximity", "--revision", "v2"])
    assert result.exit_code == 0, result.output
    assert [(c["repo_id"], c["revision"], c.get("local_dir")) for c in hub.calls] == [
        ("allenai/specter2_base", "v2", None),  # by name: the cache's refs/v2 points at it
        ("allenai/specter2", "main", None),
    ]
    sha = hub.commit("allenai/specter2_base")
    assert f"allenai/specter2_base @ {sha}" in result.output
    assert (
        f"allenai/specter2 (proximity adapter) @ {hub.commit('allenai/specter2')}" in result.output
    )
    assert f"  HF_HUB_OFFLINE=1 specter2 embed INPUT.jsonl -o OUTDIR --revision {sha}\n" in (
        result.output
    )
    assert "specter2 search" not in result.output  # no query adapter fetched


def test_usage_lines_base_only() -> None:
    plan = dl.plan_downloads(["none"])[0]
    lines = dl.usage_lines([dl.Downloaded(plan, BASE_COMMIT, "/c/snap")], None, "/c")
    assert (
        f"  HF_HUB_OFFLINE=1 specter2 embed INPUT.jsonl -o OUTDIR --adapter none --revision {BASE_COMMIT}"
        in lines
    )
    assert any("(/c)" in line for line in lines)


def test_network_errors_exit_4(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(repo_id: str, revision: str | None) -> tuple[str, list[str]]:
        raise network_error("Max retries exceeded with url: /api/models")

    monkeypatch.setattr(dl, "repo_commit", broken)
    result = runner.invoke(app, ["download"])
    assert result.exit_code == 4, result.output
    assert "cannot download allenai/specter2_base" in result.output
    assert "network" in result.output and "HTTPS_PROXY" in result.output


def test_missing_revision_exits_4(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.errors import RevisionNotFoundError

    def missing(repo_id: str, revision: str | None) -> tuple[str, list[str]]:
        raise hub_http_error(RevisionNotFoundError)

    monkeypatch.setattr(dl, "repo_commit", missing)
    result = runner.invoke(app, ["download", "--revision", "nope"])
    assert result.exit_code == 4, result.output
    assert "revision 'nope' does not exist in allenai/specter2_base" in result.output


def test_offline_environment_refuses_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE is set"):
        dl.check_network()
    result = runner.invoke(app, ["download"])
    assert result.exit_code == 4
    assert "needs the network" in result.output


def _hub_reading() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub computes it at import: its constants module run
    afresh, outside sys.modules (the imported one keeps its import-time value)."""
    import importlib.util

    import huggingface_hub.constants as loaded

    spec = importlib.util.spec_from_file_location("_fresh_hub_constants", loaded.__file__)
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    return bool(fresh.HF_HUB_OFFLINE)


@pytest.mark.parametrize(
    ("hf_hub", "transformers"),
    [(None, "1"), (None, "true"), (None, "0"), ("", "YES"), ("0", "1"), ("1", "0"),
     ("on", None), (None, None), (" 1", None)],
)  # fmt: skip
def test_offline_variables_read_as_huggingface_hub_reads_them(
    monkeypatch: pytest.MonkeyPatch, hf_hub: str | None, transformers: str | None
) -> None:
    for name, value in (("HF_HUB_OFFLINE", hf_hub), ("TRANSFORMERS_OFFLINE", transformers)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert hubmod.offline_requested() == _hub_reading()
    if hubmod.offline_requested():
        with pytest.raises(ModelLoadError, match=f"{hubmod.offline_variable()} is set"):
            dl.check_network()


def test_hub_mode_restores_transformers_offline_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers 4.x copies the offline switch at import: imported inside an offline
    block, it must not leave the rest of the process offline."""
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    name = "transformers.utils.hub"
    real = sys.modules.get(name)
    fake: Any = type(sys)(name)
    monkeypatch.delitem(sys.modules, name, raising=False)  # not imported yet
    with hubmod.hub_mode(True):
        assert constants.HF_HUB_OFFLINE is True
        fake._is_offline_mode = constants.HF_HUB_OFFLINE  # what its import copies
        sys.modules[name] = fake
    assert constants.HF_HUB_OFFLINE is False and fake._is_offline_mode is False
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
    if real is not None and hasattr(real, "_is_offline_mode"):  # transformers 4.x, imported
        monkeypatch.setitem(sys.modules, name, real)
        monkeypatch.setattr(real, "_is_offline_mode", False)
        from transformers.utils.hub import is_offline_mode

        with hubmod.hub_mode(True):
            assert is_offline_mode()
        assert not is_offline_mode()


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("specter2_cli.model.hub.hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelLoadError, match=r"cannot reach .*login node"):
        dl.check_network()


# ----------------------------------------------------------------- offline embed from the cache


def _blob(blobs: Path, src: Path) -> str:
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dst = blobs / digest
    if not dst.exists():
        shutil.copyfile(src, dst)
    return digest


def add_to_hf_cache(
    hub_cache: Path, repo_id: str, commit: str, src: Path, ref: str | None = "main"
) -> Path:
    """Lay a model folder out as huggingface_hub stores a download: blobs, snapshot links, refs."""
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    blobs, snap = repo / "blobs", repo / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if f.is_file():
            digest = _blob(blobs, f)
            (snap / f.name).symlink_to(os.path.relpath(blobs / digest, snap))
    if ref is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snap


# Run the real CLI in a fresh interpreter (HF_HUB_OFFLINE and HF_HOME are read at import)
# whose sockets refuse Internet connections and record any attempt.
_GUARD = """
import os, socket, sys
_log = os.environ["SPECTER2_NET_LOG"]
def _refuse(*args, **kwargs):
    with open(_log, "a") as f:
        f.write(repr(args[:2]) + "\\n")
    raise OSError("network access attempted in an offline test")
_connect = socket.socket.connect
def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse(address)
    return _connect(self, address)
socket.socket.connect = _guarded_connect
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
sys.argv = ["specter2", *sys.argv[1:]]
from specter2_cli.cli import main
main()
"""


def run_offline(args: list[str], hf_home: Path, tmp: Path) -> tuple[int, str, float, str]:
    net_log = tmp / f"net-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(hf_home),
        SPECTER2_NET_LOG=str(net_log),
        TOKENIZERS_PARALLELISM="false",
    )
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", _GUARD, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp,
    )
    elapsed = time.perf_counter() - t0
    attempts = net_log.read_text() if net_log.exists() else ""
    return p.returncode, p.stdout + p.stderr, elapsed, attempts


@pytest.fixture(scope="module")
def hf_home(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf_home")
    cache = home / "hub"
    add_to_hf_cache(cache, "allenai/specter2_base", OLD_BASE_COMMIT, tiny_models["base"], ref=None)
    add_to_hf_cache(cache, "allenai/specter2_base", BASE_COMMIT, tiny_models["base"])
    add_to_hf_cache(cache, "allenai/specter2", ADAPTER_COMMIT, tiny_models["proximity"])
    add_to_hf_cache(cache, "allenai/specter2_adhoc_query", QUERY_COMMIT, tiny_models["adhoc_query"])
    return home


@pytest.mark.slow
def test_offline_embed_loads_hub_ids_from_the_cache(
    tiny_models: dict[str, Path], hf_home: Path, tmp_path: Path
) -> None:
    papers = tricky_papers()
    src = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "offline"
    code, log, _, attempts = run_offline(
        ["embed", str(src), "-o", str(out), "--no-progress"], hf_home, tmp_path
    )  # default --base-model allenai/specter2_base, --adapter proximity (allenai/specter2)
    assert code == 0, log
    assert attempts == "", f"network access attempted: {attempts}"

    local = tmp_path / "local"
    result = runner.invoke(
        app,
        ["embed", str(src), "-o", str(local), "--no-progress", "--base-model",
         str(tiny_models["base"]), "--adapter-path", str(tiny_models["proximity"])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got, ref = read_output(out), read_output(local)
    assert got.keys() == ref.keys() == {p["id"] for p in papers}
    assert max(float(np.abs(got[k] - ref[k]).max()) for k in got) <= 1e-6

    meta = shard_metadata(out / "part-00000.parquet")
    assert meta["base_model"] == "allenai/specter2_base"
    assert meta["adapter_source"] == "allenai/specter2"
    assert meta["revisions"] == {"base_model": BASE_COMMIT, "adapter": ADAPTER_COMMIT}


@pytest.mark.slow
def test_offline_embed_pinned_revision_is_recorded(hf_home: Path, tmp_path: Path) -> None:
    """Two runs from two cached commits can be told apart by their metadata."""
    src = write_jsonl(tmp_path / "papers.jsonl", tricky_papers()[:3])
    out = tmp_path / "old"
    code, log, _, attempts = run_offline(
        ["embed", str(src), "-o", str(out), "--no-progress", "--revision", OLD_BASE_COMMIT],
        hf_home,
        tmp_path,
    )
    assert code == 0, log
    assert attempts == ""
    meta = shard_metadata(out / "part-00000.parquet")
    assert meta["revisions"] == {"base_model": OLD_BASE_COMMIT, "adapter": ADAPTER_COMMIT}


@pytest.mark.slow
def test_offline_embed_with_empty_cache_fails_fast(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "papers.jsonl", tricky_papers()[:2])
    empty = tmp_path / "empty_hf_home"
    empty.mkdir()
    code, log, elapsed, attempts = run_offline(
        ["embed", str(src), "-o", str(tmp_path / "out"), "--no-progress"], empty, tmp_path
    )
    assert code == 4, log
    assert "--base-model allenai/specter2_base" in log
    assert "specter2 download" in log
    assert "Traceback" not in log
    assert attempts == ""
    assert elapsed < 45, f"took {elapsed:.1f} s: something waited for the network"


def test_download_marker_does_not_break_loading(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """A portable folder carries .specter2-source.json and .cache/; both must be harmless."""
    from specter2_cli import ModelSettings, load_encoder

    base = shutil.copytree(tiny_models["base"], tmp_path / "specter2_base")
    prox = shutil.copytree(tiny_models["proximity"], tmp_path / "specter2_proximity")
    for folder, repo in ((base, "allenai/specter2_base"), (prox, "allenai/specter2")):
        hubmod.write_source_marker(Path(folder), repo, BASE_COMMIT, None)
        (Path(folder) / ".cache" / "huggingface").mkdir(parents=True)
    enc = load_encoder(ModelSettings(base_model=str(base), adapter_path=str(prox)))
    assert enc.embed_texts(["a title[SEP]an abstract"]).shape == (1, 32)
    assert (
        json.loads((Path(base) / hubmod.SOURCE_MARKER).read_text())["repo_id"]
        == "allenai/specter2_base"
    )
