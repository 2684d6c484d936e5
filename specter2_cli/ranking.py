"""Scores between query and paper vectors, and a running top-k that keeps the best of a stream.

SPECTER2 ranks by Euclidean (L2) distance: the model card sorts candidates by
`sklearn.metrics.pairwise.euclidean_distances` and SciRepEval's retrieval
evaluation scores each candidate by its negative L2 distance. The vectors are not
normalised, so dot product and cosine rank differently; they are offered as
`--metric dot|cosine`.

Inside the top-k a larger "goodness" is always better: the negative distance for
L2, the value itself for dot and cosine. `shown()` turns it back into the metric's
value (the distance for L2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Metric = Literal["l2", "dot", "cosine"]
METRICS: tuple[Metric, ...] = ("l2", "dot", "cosine")
SCORE_NAMES = {"l2": "l2_distance", "dot": "dot_product", "cosine": "cosine"}


def check_metric(metric: str) -> Metric:
    from .errors import UsageError

    if metric not in METRICS:
        raise UsageError(f"--metric {metric}: choose l2, dot or cosine")
    return metric  # type: ignore[return-value]


def goodness(metric: Metric, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """[m, n] float64 scores where larger is better (the negative distance for L2)."""
    q = np.asarray(queries, dtype=np.float64)
    e = np.asarray(rows, dtype=np.float64)
    if metric == "dot":
        return q @ e.T
    if metric == "cosine":
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
        en = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-30)
        return qn @ en.T
    sq = (q * q).sum(1)[:, None] + (e * e).sum(1)[None, :] - 2.0 * (q @ e.T)
    return -np.sqrt(np.maximum(sq, 0.0))


def shown(metric: Metric, value: float) -> float:
    """The metric's own value of a goodness: the distance for L2."""
    return -value if metric == "l2" else value


@dataclass
class TopK:
    """Running top-k per query: scores [m, <=k] (larger is better), ids, and a scan position."""

    k: int
    m: int
    scores: np.ndarray = field(init=False)
    ids: np.ndarray = field(init=False)  # object [m, <=k]
    order: np.ndarray = field(init=False)  # int64 [m, <=k]: position in the scan

    def __post_init__(self) -> None:
        self.scores = np.zeros((self.m, 0), np.float64)
        self.ids = np.zeros((self.m, 0), object)
        self.order = np.zeros((self.m, 0), np.int64)

    def add(self, scores: np.ndarray, ids: Any, start: int) -> None:
        """Merge one chunk: scores [m, n] for rows start..start+n whose ids are `ids` (arrow)."""
        n = scores.shape[1]
        if n == 0:
            return
        if n > self.k:
            idx = np.argpartition(-scores, self.k - 1, axis=1)[:, : self.k]
        else:
            idx = np.broadcast_to(np.arange(n), (self.m, n))
        cand = np.take_along_axis(scores, idx, axis=1)
        flat = idx.reshape(-1)
        cand_ids = np.empty(flat.shape[0], object)
        cand_ids[:] = ids.take(flat).to_pylist()
        self._merge(cand, cand_ids.reshape(idx.shape), idx.astype(np.int64) + start)

    def _merge(self, scores: np.ndarray, ids: np.ndarray, order: np.ndarray) -> None:
        s = np.concatenate([self.scores, scores], axis=1)
        i = np.concatenate([self.ids, ids], axis=1)
        o = np.concatenate([self.order, order], axis=1)
        if s.shape[1] > self.k:
            keep = np.argpartition(-s, self.k - 1, axis=1)[:, : self.k]
            s = np.take_along_axis(s, keep, axis=1)
            i = np.take_along_axis(i, keep, axis=1)
            o = np.take_along_axis(o, keep, axis=1)
        self.scores, self.ids, self.order = s, i, o

    def results(self) -> list[list[tuple[Any, float]]]:
        """Per query: [(id, goodness)] best first (ties: the earlier row first)."""
        out = []
        for q in range(self.m):
            rank = np.lexsort((self.order[q], -self.scores[q]))
            out.append(
                [
                    (self.ids[q, j], float(self.scores[q, j]))
                    for j in rank
                    if np.isfinite(self.scores[q, j])
                ]
            )
        return out
