"""Peak memory, device syncs and the accuracy of a case against the fp32 reference."""

from __future__ import annotations

import gc
import logging
import os
import resource
import sys
import threading
from typing import TYPE_CHECKING, Any

log = logging.getLogger("specter2")

if TYPE_CHECKING:
    import numpy as np


# ----------------------------------------------------------------- measuring


class PeakRss:
    """Highest resident set size of this process while the block runs (sampled every 10 ms)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * self._page
        except OSError:
            return 0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self.peak = self._rss()
        if self.peak:
            self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._rss())


def maxrss_mb() -> float:
    """Peak RSS of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1 << 20) if sys.platform == "darwin" else r / 1024


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def free_memory(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def compare(ref: np.ndarray, got: np.ndarray) -> dict[str, Any]:
    """Minimum cosine and maximum absolute difference, row by row, over finite rows."""
    import numpy as np

    ok = np.isfinite(ref).all(axis=1) & np.isfinite(got).all(axis=1)
    r, g = ref[ok].astype(np.float64), got[ok].astype(np.float64)
    if len(r) == 0:
        return {"compared": 0, "min_cosine": None, "max_abs_diff": None}
    cos = (r * g).sum(1) / np.maximum(np.linalg.norm(r, axis=1) * np.linalg.norm(g, axis=1), 1e-30)
    return {
        "compared": len(r),
        "min_cosine": float(cos.min()),
        "max_abs_diff": float(np.abs(r - g).max()),
    }
