"""`specter2 search`: rank the papers in an OUTDIR against search queries.

Queries are embedded with the `adhoc_query` adapter (the text alone, as the model
card says) on the OUTDIR's base model, and ranked against the OUTDIR's proximity
embeddings by L2 distance, as the model card and SciRepEval do (or dot/cosine, see
ranking.py). The scan streams through the committed shards in
chunks (a .npy shard is memory-mapped, a Parquet shard is read a row batch at a
time) and keeps a running top-k per query, so memory does not grow with the
number of papers. With several generations (`embed --incremental`), a record
re-embedded in a newer generation replaces its older row.

No torch or transformers at import time.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import ID_FIELDS
from .errors import InputError, UsageError
from .model.hub import is_local, model_identity
from .ranking import Metric, TopK, goodness, shown
from .store.outdir import OutDir
from .store.shards import fixed_list_to_numpy, read_index, read_shard_embeddings, shard_metadata

log = logging.getLogger("specter2")

_CHUNK_CELLS = 1 << 23  # query x row scores held at once (64 MB of float64)
_CHUNK_VALUES = 1 << 23  # embedding values converted at once (64 MB as float64)
_MIN_CHUNK_ROWS = 1_024


# ----------------------------------------------------------------- the OUTDIR


@dataclass
class ShardRef:
    gen: int
    files: list[str]
    rows: int


@dataclass
class Corpus:
    """What an OUTDIR holds: its model settings and its committed shards, in input order."""

    path: Path
    model: dict[str, Any]
    metadata: dict[str, Any]
    shards: list[ShardRef]
    complete: bool

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def generations(self) -> int:
        return len({s.gen for s in self.shards})


def open_corpus(path: Path) -> Corpus:
    """Read an OUTDIR's settings and list its committed shards; refuse what cannot be searched."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such folder; give the -o folder of a `specter2 embed` run")
    out = OutDir(path)
    job = out.job() if out.exists() else None
    shards: list[ShardRef] = []
    complete = (path / "_SUCCESS").exists()
    if job is not None:
        from .merge import committed_shards

        shards = [ShardRef(m.gen, list(sh.files), sh.rows) for m, sh in committed_shards(out)]
    else:
        # Shards copied without the _specter2/ state folder: every shard file counts.
        for p in sorted(path.glob("part*.parquet")):
            if p.name.endswith(".ids.parquet"):
                npy = p.with_name(p.name[: -len(".ids.parquet")] + ".npy")
                if npy.exists():
                    shards.append(ShardRef(0, [npy.name, p.name], -1))
            else:
                shards.append(ShardRef(0, [p.name], -1))
        complete = True
    if not shards:
        raise UsageError(
            f"{path} holds no committed embeddings; run `specter2 embed ... -o {path}` first"
        )
    first = shards[0].files
    meta_file = next((f for f in first if f.endswith(".parquet")), first[0])
    metadata = shard_metadata(path / meta_file)
    model = dict(job["model"]) if job is not None else _model_from_metadata(metadata)
    return Corpus(path, model, metadata, shards, complete)


def _model_from_metadata(md: dict[str, Any]) -> dict[str, Any]:
    if not md.get("base_model"):
        raise UsageError("the shards carry no specter2 metadata; they were not written by specter2")
    return {
        "base_model": md["base_model"],
        "adapter": md.get("adapter"),
        "revision": None,
        "max_length": md.get("max_length", 512),
        "normalize": bool(md.get("normalize", False)),
    }


def check_searchable(corpus: Corpus, base_model: str | None) -> str:
    """The base model to embed the queries with; UsageError when the OUTDIR does not fit.

    Query embeddings from the adhoc_query adapter are only comparable with paper
    embeddings from the proximity adapter on the same base model.
    """
    adapter = corpus.model.get("adapter")
    if adapter != "proximity":
        raise UsageError(
            f"{corpus.path} was embedded with --adapter {adapter}; search needs paper "
            "embeddings made with --adapter proximity (the adhoc_query adapter that embeds "
            "the queries is trained against those). Embed the papers again with "
            "--adapter proximity into another folder."
        )
    _check_paper_adapter_tag(corpus)
    stored = str(corpus.model["base_model"])
    if base_model is None:
        return stored
    want_name, want_rev = model_identity(base_model)
    have_name, have_rev = model_identity(stored)
    if have_rev is None and not is_local(stored):
        have_rev = (corpus.metadata.get("revisions") or {}).get("base_model")
    if want_name != have_name or (want_rev and have_rev and want_rev != have_rev):
        have = stored + (f" @ {have_rev}" if have_rev else "")
        want = base_model + (f" @ {want_rev}" if want_rev else "")
        raise UsageError(
            f"--base-model {want} differs from the base model {corpus.path} was embedded "
            f"with ({have}); query and paper embeddings from different base models cannot be "
            "compared. Leave out --base-model to use the OUTDIR's."
        )
    return base_model


def _check_paper_adapter_tag(corpus: Corpus) -> None:
    """Refuse shards whose adapter's tag is not [PRX], even if they say "proximity" (shards
    written before tags were checked: the adapter folder is read again if it is still there)."""
    from .model.tags import TAGS, read_adapter_tag

    tag = corpus.metadata.get("adapter_tag")
    source = corpus.metadata.get("adapter_source")
    if tag is None and isinstance(source, str):
        tag = read_adapter_tag(source)
    if tag in TAGS.values() and tag != TAGS["proximity"]:
        raise UsageError(
            f"{corpus.path} was embedded with an adapter tagged {tag} ({source}), not the "
            "proximity adapter [PRX] that search needs; embed the papers again with it"
        )


# ----------------------------------------------------------------- streaming top-k


def chunk_rows(queries: int, dim: int) -> int:
    """Rows scored at once: bounds both the score matrix and the float32 copy of the rows."""
    return max(_MIN_CHUNK_ROWS, min(_CHUNK_CELLS // max(queries, 1), _CHUNK_VALUES // max(dim, 1)))


def _chunks(
    outdir: Path, files: list[str], queries: int
) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    """(ids as an arrow array, id keys, embeddings float32 [n, dim]) for pieces of one shard."""
    import pyarrow.parquet as pq

    if any(f.endswith(".npy") for f in files):
        emb = read_shard_embeddings(outdir, files, mmap=True)
        n, dim = emb.shape
        del emb
        rows = chunk_rows(queries, dim)
        index = read_index(outdir, files, ("id", "id_key"))
        ids = index.column("id").combine_chunks()
        keys = index.column("id_key").to_numpy()
        if len(ids) != n:
            raise InputError(
                f"{outdir}: shard {files[0]} has {n} rows but its index {len(ids)}; "
                "the shard is damaged"
            )
        for a in range(0, n, rows):
            # A fresh mapping per piece, copied out and closed: the pages read so far
            # leave the process, so memory stays at one piece, not one shard.
            view = read_shard_embeddings(outdir, files, mmap=True)
            part = np.array(view[a : a + rows], dtype=np.float32)
            del view
            yield ids.slice(a, rows), keys[a : a + rows], part
        return
    pf = pq.ParquetFile(outdir / files[0], page_checksum_verification=True)
    dim = pf.schema_arrow.field("embedding").type.list_size
    rows = chunk_rows(queries, dim)
    for batch in pf.iter_batches(batch_size=rows, columns=["id", "id_key", "embedding"]):
        emb = fixed_list_to_numpy(batch.column(2)).astype(np.float32, copy=False)
        yield batch.column(0), batch.column(1).to_numpy(), emb


def search_corpus(
    corpus: Corpus, queries: np.ndarray, k: int, metric: Metric = "l2"
) -> list[list[tuple[Any, float]]]:
    """Top-k (id, score) per query over every committed shard of the OUTDIR, best first.

    The score is the metric's value: the L2 distance (smallest first), the dot
    product or the cosine (largest first)."""
    from .merge import survivors_of

    q = np.ascontiguousarray(queries, dtype=np.float32)
    m = q.shape[0]
    top = TopK(k, m)
    # merge's rule: each id once, the newest generation's first row (duplicates across
    # ranks too, not only rows an --incremental run replaced)
    surv = survivors_of(corpus.path, [(s.gen, s.files) for s in corpus.shards])
    offset = pos = 0
    for shard, count in zip(corpus.shards, surv.counts, strict=True):
        keep = surv.keep[offset : offset + count]
        offset += count
        at = 0
        for ids, _keys, emb in _chunks(corpus.path, shard.files, m):
            if emb.shape[1] != q.shape[1]:
                raise UsageError(
                    f"{corpus.path} holds {emb.shape[1]}-dimensional embeddings but the query "
                    f"model makes {q.shape[1]}-dimensional ones; use the OUTDIR's base model"
                )
            rows = np.flatnonzero(keep[at : at + emb.shape[0]])
            at += emb.shape[0]
            if len(rows) < emb.shape[0]:
                emb, ids = emb[rows], ids.take(rows)
            top.add(goodness(metric, q, emb), ids, pos)
            pos += emb.shape[0]
    return [[(i, shown(metric, v)) for i, v in hits] for hits in top.results()]


# ----------------------------------------------------------------- inputs


@dataclass
class Query:
    id: Any
    text: str


def _open_text(path: Path) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_queries(text: str | None, path: Path | None, text_field: str = "query") -> list[Query]:
    queries: list[Query] = []
    if text is not None:
        if not text.strip():
            raise UsageError("the query text is empty")
        queries.append(Query("q1" if path is not None else "query", text))
    if path is not None:
        try:
            with _open_text(path) as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError as e:
                        raise InputError(f"{path} line {n}: not valid JSON ({e})") from e
                    q = obj.get(text_field) if isinstance(obj, dict) else None
                    if not isinstance(q, str) or not q.strip():
                        raise InputError(
                            f"{path} line {n}: expected an object with a non-empty string "
                            f"field {text_field!r}"
                        )
                    qid = obj.get("id")
                    queries.append(Query(qid if qid is not None else f"q{len(queries) + 1}", q))
        except OSError as e:
            raise InputError(f"--queries {path}: cannot read ({e})") from e
    if not queries:
        raise UsageError('give a query: specter2 search OUTDIR "query text", or --queries FILE')
    return queries


def read_titles(
    path: Path, wanted: set[str], id_field: str | None, title_field: str
) -> dict[str, str]:
    """Titles of the `wanted` ids (compared as strings), streaming through JSONL or Parquet."""
    found: dict[str, str] = {}
    names = [id_field] if id_field else list(ID_FIELDS)
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path, page_checksum_verification=True)
            cols = set(pf.schema_arrow.names)
            idf = next((n for n in names if n in cols), None)
            if idf is None or title_field not in cols:
                raise InputError(
                    f"--papers {path}: needs an id column ({', '.join(names)}) and "
                    f"{title_field!r}; set --id-field/--title-field"
                )
            for batch in pf.iter_batches(columns=[idf, title_field]):
                for rid, title in zip(
                    batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
                ):
                    if rid is not None and str(rid) in wanted and str(rid) not in found:
                        found[str(rid)] = title or ""
            return found
        with _open_text(path) as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue  # a bad line in a titles file does not stop a search
                if not isinstance(obj, dict):
                    continue
                rid = next((obj[n] for n in names if obj.get(n) is not None), None)
                if rid is not None and str(rid) in wanted and str(rid) not in found:
                    title = obj.get(title_field)
                    found[str(rid)] = title if isinstance(title, str) else ""
                    if len(found) == len(wanted):
                        break
    except OSError as e:
        raise InputError(f"--papers {path}: cannot read ({e})") from e
    return found


# ----------------------------------------------------------------- running a search


def run_search(
    outdir: str | os.PathLike[str],
    queries: list[Query],
    k: int,
    base_model: str | None = None,
    adapter_path: str | None = None,
    device: str = "auto",
    offline: bool = False,
    engine: str = "auto",
    metric: Metric | None = None,
    index: Path | None = None,
) -> tuple[Corpus, list[list[tuple[Any, float]]]]:
    """Embed the queries and rank the OUTDIR's papers (default L2), or search `index`
    (from `specter2 export`) instead of scanning the shards."""
    from .config import ModelSettings
    from .model.loader import load_encoder

    if k < 1:
        raise UsageError(f"-k {k}: must be at least 1")
    from .objstore.outdir import local_view, named_as

    local = local_view(outdir)
    with named_as(local, outdir):
        corpus = open_corpus(Path(local))
    base = check_searchable(corpus, base_model)
    stored_rev = corpus.model.get("revision")
    settings = ModelSettings(
        base_model=base,
        adapter="adhoc_query",
        adapter_path=adapter_path,
        revision=stored_rev if base == corpus.model["base_model"] else None,
        normalize=bool(corpus.model.get("normalize", False)),
    )
    if not corpus.complete:
        log.warning(
            "%s is not complete (no _SUCCESS): searching the %d records committed so far",
            outdir,
            corpus.rows,
        )
    loaded = None
    if index is not None:
        from .index import load_index

        loaded = load_index(index)
        if metric is not None and metric != loaded.metric:
            raise UsageError(
                f"--metric {metric}: {index} was exported with --metric {loaded.metric}; "
                "export again with this metric, or leave out --metric"
            )
        metric = loaded.metric
        made_with = loaded.info["model"].get("base_model")
        if made_with != corpus.model["base_model"]:
            raise UsageError(f"--index {index} was exported from another OUTDIR ({made_with})")
    enc = load_encoder(settings, device=device, engine=engine, offline=offline)
    qvec = enc.embed_texts([q.text for q in queries])
    if loaded is not None:
        from .index import search_index

        return corpus, search_index(loaded, qvec, k)
    return corpus, search_corpus(corpus, qvec, k, metric or "l2")
