"""`specter2 export`: a FAISS or usearch index of an OUTDIR, and search through it.

The index holds the vectors `read_embeddings` returns (newest per id), keyed by the
stored 64-bit `id_key` (FAISS takes it as int64, the same bits). An id map
`FILE.ids.parquet` (id_key, id) turns keys back into ids; its metadata records
the back-end, metric, HNSW or exact, and the OUTDIR's model settings, so `search
--index FILE` embeds queries with the same model.

Metrics follow `search`: l2 (the index stores squared L2; results are reported as
the Euclidean distance), dot (inner product), cosine (vectors normalised, inner
product). Exact ("flat") search unless `--hnsw`: a FAISS IndexFlat, or usearch's
exact search over its stored vectors.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import EnvironmentProblem, UsageError
from .ranking import Metric
from .reader import Embeddings
from .store.durable import file_fingerprint

META_KEY = b"specter2_index"
_NO_RESULT = np.uint64(0xFFFF_FFFF_FFFF_FFFF)  # -1 as int64: FAISS's "no result"


def backend_of(path: Path) -> str:
    if path.suffix == ".faiss":
        return "faiss"
    if path.suffix == ".usearch":
        return "usearch"
    raise UsageError(f"--to {path}: name a .faiss or .usearch file")


def _import(backend: str) -> Any:
    try:
        if backend == "faiss":
            import faiss

            return faiss
        from usearch import index as usearch_index

        return usearch_index
    except ImportError as e:
        extra = "faiss" if backend == "faiss" else "usearch"
        raise EnvironmentProblem(
            f"the {backend} library is not installed ({e}); install it with "
            f"`pip install 'specter2-cli[{extra}]'`"
        ) from e


def id_map_path(index: Path) -> Path:
    return index.with_name(index.name + ".ids.parquet")


def _vectors(emb: np.ndarray, metric: Metric) -> np.ndarray:
    x = np.ascontiguousarray(emb, dtype=np.float32)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    return np.ascontiguousarray(x, dtype=np.float32)


def write_index(
    emb: Embeddings, to: str | os.PathLike[str], metric: Metric = "l2", hnsw: bool = False
) -> dict[str, Any]:
    """Write the index and its id map; returns what the id map's metadata records."""
    target = Path(to)
    backend = backend_of(target)
    _refuse_foreign(target)
    lib = _import(backend)
    keys = emb.id_keys.astype(np.uint64, copy=False)
    if backend == "faiss" and (keys == _NO_RESULT).any():
        raise UsageError("an id hashes to FAISS's reserved key -1; export to a .usearch file")
    tmp, ids_tmp = _tmp(target), _tmp(id_map_path(target))
    try:
        return _write(lib, backend, emb, keys, target, tmp, ids_tmp, metric, hnsw)
    except BaseException:
        for t in (tmp, ids_tmp):
            t.unlink(missing_ok=True)
        raise


def _write(
    lib: Any,
    backend: str,
    emb: Embeddings,
    keys: np.ndarray,
    target: Path,
    tmp: Path,
    ids_tmp: Path,
    metric: Metric,
    hnsw: bool,
) -> dict[str, Any]:
    x = _vectors(emb.embeddings, metric)
    dim = int(x.shape[1])
    if backend == "faiss":
        ip = metric != "l2"
        if hnsw:
            inner = lib.IndexHNSWFlat(dim, 32, lib.METRIC_INNER_PRODUCT if ip else lib.METRIC_L2)
            inner.hnsw.efConstruction = 80
        else:
            inner = lib.IndexFlatIP(dim) if ip else lib.IndexFlatL2(dim)
        index = lib.IndexIDMap2(inner)
        index.add_with_ids(x, keys.view(np.int64))
        lib.write_index(index, str(tmp))
    else:
        kind = {"l2": "l2sq", "dot": "ip", "cosine": "cos"}[metric]
        index = lib.Index(ndim=dim, metric=kind, dtype="f32", connectivity=16, expansion_add=128)
        index.add(keys, x)
        index.save(str(tmp))
    info = {
        "backend": backend,
        "metric": metric,
        "hnsw": hnsw,
        "rows": len(keys),
        "dim": dim,
        "model": _model_of(emb.metadata),
        "index_fingerprint": file_fingerprint(tmp),
    }
    ids = pa.array(emb.ids, type=pa.int64() if emb.ids.dtype.kind == "i" else pa.string())
    table = pa.table({"id_key": pa.array(keys, pa.uint64()), "id": ids})
    table = table.replace_schema_metadata({META_KEY: json.dumps(info)})
    pq.write_table(table, ids_tmp, compression="zstd")
    # the index first, then the id map that names it: a reader that finds the new map
    # finds the new index
    os.replace(tmp, target)
    os.replace(ids_tmp, id_map_path(target))
    return info


def _tmp(path: Path) -> Path:
    from .store.targets import temp_name

    return temp_name(path)


def _refuse_foreign(target: Path) -> None:
    """Replace only an index that `specter2 export` wrote (its id map says so)."""
    if not target.exists() and not id_map_path(target).exists():
        return
    try:
        ours = META_KEY in (pq.read_schema(id_map_path(target)).metadata or {})
    except (OSError, pa.ArrowException):
        ours = False
    if not ours:
        raise UsageError(
            f"--to {target}: the file (or {id_map_path(target).name}) exists and was not "
            "written by `specter2 export`; remove it or choose another name"
        )


def _model_of(md: dict[str, Any]) -> dict[str, Any]:
    return {
        "base_model": md.get("base_model"),
        "adapter": md.get("adapter"),
        "revision": (md.get("revisions") or {}).get("base_model"),
        "max_length": md.get("max_length", 512),
        "normalize": bool(md.get("normalize", False)),
    }


@dataclass
class LoadedIndex:
    path: Path
    info: dict[str, Any]
    index: Any
    keys: np.ndarray  # sorted id keys
    ids: np.ndarray  # ids in the order of `keys`

    @property
    def metric(self) -> Metric:
        return self.info["metric"]  # type: ignore[no-any-return]


def load_index(path: str | os.PathLike[str]) -> LoadedIndex:
    p = Path(path)
    backend = backend_of(p)
    idmap = id_map_path(p)
    if not p.is_file() or not idmap.is_file():
        raise UsageError(f"--index {p}: needs {p.name} and {idmap.name}, from `specter2 export`")
    table = pq.read_table(idmap)
    info = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
    if info.get("backend") != backend:
        raise UsageError(f"--index {p}: {idmap.name} was not written by `specter2 export`")
    lib = _import(backend)
    index = lib.read_index(str(p)) if backend == "faiss" else lib.Index.restore(str(p), view=True)
    keys = table.column("id_key").to_numpy()
    want = info.get("index_fingerprint")
    if want is not None and want != file_fingerprint(p):
        raise UsageError(
            f"--index {p}: {idmap.name} does not belong to this index (it was written with "
            "another index file: another export, with other metric, vectors or rows, or a "
            "file replaced since): both files must come from one `specter2 export`; export again"
        )
    _check_same_export(p, idmap, index, backend, keys)
    order = np.argsort(keys, kind="stable")
    ids = table.column("id").to_numpy(zero_copy_only=False)[order]
    return LoadedIndex(p, info, index, keys[order], ids)


def _check_same_export(p: Path, idmap: Path, index: Any, backend: str, keys: np.ndarray) -> None:
    """The index and its id map must hold the same keys: an id map copied from another
    export would name the wrong papers for every hit."""
    if backend == "faiss":
        stored = _import("faiss").vector_to_array(index.id_map).view(np.uint64)
    else:
        stored = np.asarray(index.keys, dtype=np.uint64)
    if len(stored) != len(keys) or not np.array_equal(np.sort(stored), np.sort(keys)):
        raise UsageError(
            f"--index {p}: {idmap.name} does not belong to this index ({len(keys)} ids in "
            f"the map, {len(stored)} vectors in the index, not the same ids): both files must "
            "come from one `specter2 export`; export again"
        )


def search_index(idx: LoadedIndex, queries: np.ndarray, k: int) -> list[list[tuple[Any, float]]]:
    """Top-k (id, score) per query, best first; the score as `search` reports it."""
    metric = idx.metric
    q = _vectors(queries, metric)
    k = min(k, int(idx.info["rows"]))
    if idx.info["backend"] == "faiss":
        if idx.info["hnsw"]:
            inner = _import("faiss").downcast_index(idx.index.index)  # the HNSW in the id map
            inner.hnsw.efSearch = max(64, 2 * k)
        dist, found = idx.index.search(q, k)
        keys = found.view(np.uint64)
        valid = found != -1
    else:
        m = idx.index.search(q, k, exact=not idx.info["hnsw"], threads=1)
        dist, keys = np.atleast_2d(m.distances), np.atleast_2d(m.keys).astype(np.uint64)
        counts = np.atleast_1d(getattr(m, "counts", [keys.shape[1]]))
        valid = np.arange(keys.shape[1])[None, :] < counts[:, None]
    values = _scores(metric, idx.info["backend"], dist.astype(np.float64))
    out = []
    for row in range(q.shape[0]):
        ks, vs = keys[row][valid[row]], values[row][valid[row]]
        at = np.searchsorted(idx.keys, ks)
        out.append([(_py(idx.ids[a]), float(v)) for a, v in zip(at, vs, strict=True)])
    return out


def _scores(metric: Metric, backend: str, dist: np.ndarray) -> np.ndarray:
    if metric == "l2":
        return np.sqrt(np.maximum(dist, 0.0))  # both store squared L2
    return dist if backend == "faiss" else 1.0 - dist  # usearch: 1 - dot, 1 - cosine


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
