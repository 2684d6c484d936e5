"""64-bit keys for ids and texts, and compact sets/maps of them for 200M-record jobs."""

from __future__ import annotations

import hashlib

import numpy as np


def id_key(value: int | str) -> int:
    """A 64-bit key for an id; ints and strings never collide with each other."""
    tag = b"i" if isinstance(value, int) else b"s"
    h = hashlib.blake2b(tag + str(value).encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def text_hash(text: str) -> int:
    h = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(h.digest(), "little")


class KeySet:
    """A set of 64-bit keys in ~8 bytes each: sorted runs of geometric sizes plus a small set.

    A Python set of 200M ids would not fit in memory. New keys collect in a set;
    every 64k they become a sorted run, and runs of similar size are merged, so
    each key is re-sorted O(log n) times in all and a lookup checks O(log n) runs.
    """

    _FLUSH = 65_536

    def __init__(self, keys: np.ndarray | None = None) -> None:
        self._runs: list[np.ndarray] = []
        if keys is not None and len(keys):
            self._runs.append(np.unique(keys.astype(np.uint64)))
        self._pending: set[int] = set()

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs) + len(self._pending)

    def __contains__(self, key: int) -> bool:
        if key in self._pending:
            return True
        k = np.uint64(key)
        for run in self._runs:
            i = int(np.searchsorted(run, k))
            if i < len(run) and run[i] == k:
                return True
        return False

    def add(self, key: int) -> None:
        """Add a key that is not in the set yet (callers check `key in set` first)."""
        self._pending.add(key)
        if len(self._pending) >= self._FLUSH:
            self._flush()

    def _flush(self) -> None:
        run = np.sort(np.fromiter(self._pending, dtype=np.uint64, count=len(self._pending)))
        self._pending.clear()
        while self._runs and len(self._runs[-1]) <= 2 * len(run):
            # add() is only called for keys not in the set, so runs never overlap: a plain
            # concatenate + in-place sort (np.union1d would need ~3x the merged size)
            merged = np.concatenate((self._runs.pop(), run))
            merged.sort()
            run = merged
        self._runs.append(run)


class KeyMap:
    """id key -> text hash, for --incremental: 16 bytes a record, sorted arrays."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order].astype(np.uint64)
        self.values = values[order].astype(np.uint64)

    def get(self, key: int) -> int | None:
        i = int(np.searchsorted(self.keys, np.uint64(key), side="right")) - 1
        if i >= 0 and int(self.keys[i]) == key:
            return int(self.values[i])
        return None

    def __len__(self) -> int:
        return len(self.keys)
