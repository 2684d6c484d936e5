"""Where a run is: a tqdm bar on a terminal, timestamped log lines otherwise (cron, SLURM).

Position is the share of this rank's input read: bytes of plain JSONL files, rows
of Parquet files (gzip and stdin have no known size: records and speed only). It
moves per batch, interpolated across the window being embedded, and the ETA comes
from the embedding speed so far. Off a terminal a timer thread writes a line every
`every_s` seconds from the start, so a slow model load or a stuck job shows in a log.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

log = logging.getLogger("specter2")


def _width() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return 0


def fmt_duration(s: float) -> str:
    s = max(int(s + 0.5), 0)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Progress:
    """Counts records per batch; reports them on a bar (terminal) or in log lines."""

    def __init__(self, enabled: bool, every_s: float = 30.0, tty: bool | None = None) -> None:
        self.enabled = enabled
        self.every_s = every_s
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.t0 = time.perf_counter()
        self.t_embed: float | None = None  # model loaded, embedding started
        self.records = 0  # embedded by this run
        self.rejected = 0
        self.skipped = 0
        self.tokens = 0
        self.total: int | None = None  # units (bytes/rows) of this rank's input
        self.done_units = 0.0  # at the end of the last finished window
        self.units = 0.0  # interpolated, per batch
        self.start_units = 0.0  # already done before this run (resume)
        self._span: tuple[float, float, int] = (0.0, 0.0, 0)  # window: from, to, rows
        self._span_rows = 0
        self.bar: Any = None
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._timer: threading.Thread | None = None

    # ------------------------------------------------------------ phases

    def start(self, line: str) -> None:
        """The start line, at once; then periodic lines off a terminal."""
        log.info("%s", line)
        # log lines wherever no bar is drawn: --no-progress turns off the bar, not the news
        if not (self.enabled and self.tty) and self.every_s > 0:
            self._timer = threading.Thread(target=self._tick, name="specter2-progress", daemon=True)
            self._timer.start()

    def set_position(self, total: int | None, done: int) -> None:
        """This rank's input size in units, and how much of it a resumed run skips."""
        with self._lock:
            self.total = total
            self.start_units = self.done_units = self.units = float(done)

    def loaded(self) -> None:
        """The model is loaded: embedding time starts now."""
        self.t_embed = time.perf_counter()
        if self.enabled and self.tty and self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=100 if self.total else None,
                bar_format="{percentage:3.0f}%|{bar}| {desc}" if self.total else "{desc}",
                dynamic_ncols=_width() > 0,
                # a terminal that reports no size (0x0): tqdm would draw nothing
                ncols=None if _width() > 0 else 120,
                nrows=None if _width() > 0 else 24,
                file=sys.stderr,
            )
            self._refresh()

    def begin_window(self, rows: int, end_units: int | None) -> None:
        """A window of `rows` records ending at `end_units` goes to the device."""
        with self._lock:
            end = float(end_units) if end_units is not None else self.done_units
            self._span = (self.done_units, end, rows)
            self._span_rows = 0

    def batch(self, rows: int, tokens: int) -> None:
        """Called by the encoder after each batch."""
        with self._lock:
            self.records += rows
            self.tokens += tokens
            a, b, n = self._span
            self._span_rows += rows
            if n:
                self.units = a + (b - a) * min(self._span_rows / n, 1.0)
        self._refresh()

    def end_window(self, rejected: int = 0, skipped: int = 0) -> None:
        with self._lock:
            self.rejected += rejected
            self.skipped += skipped
            self.done_units = self.units = max(self._span[1], self.done_units)
        self._refresh()

    def close(self) -> None:
        self._halt.set()
        if self._timer is not None:
            self._timer.join(timeout=2)
        if self.bar is not None:
            self._refresh()
            self.bar.close()
            self.bar = None

    # ------------------------------------------------------------ numbers

    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(self.units / self.total, 1.0)

    def eta_s(self) -> float | None:
        """Seconds left at the embedding speed so far (None before the first batch)."""
        if not self.total or self.t_embed is None:
            return None
        done = self.units - self.start_units
        if done <= 0:
            return None
        elapsed = time.perf_counter() - self.t_embed
        return elapsed * (self.total - self.units) / done

    def papers_per_s(self) -> float:
        if self.t_embed is None:
            return 0.0
        return self.records / max(time.perf_counter() - self.t_embed, 1e-9)

    def status(self, percent: bool = True) -> str:
        """'1,234 papers embedded, 12.3% read, 45.6 papers/s, ETA 3:21'."""
        parts = [f"{self.records:,} papers embedded"]
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected")
        if self.skipped:
            parts.append(f"{self.skipped:,} unchanged")
        frac = self.fraction()
        if frac is not None and percent:
            parts.append(f"{100 * frac:.1f}% read")
        parts.append(f"{self.papers_per_s():.1f} papers/s")
        eta = self.eta_s()
        if eta is not None:
            parts.append(f"ETA {fmt_duration(eta)}")
        elif frac is not None:
            parts.append("ETA after the first batch")
        return ", ".join(parts)

    # ------------------------------------------------------------ output

    def _refresh(self) -> None:
        if self.bar is None:
            return
        frac = self.fraction()
        if frac is not None:
            self.bar.n = round(100 * frac, 1)
        self.bar.set_description_str(self.status(percent=False), refresh=False)
        self.bar.refresh()

    def _tick(self) -> None:
        while not self._halt.wait(self.every_s):
            elapsed = fmt_duration(time.perf_counter() - self.t0)
            if self.t_embed is None:
                log.info("checking the input and loading the model (%s since the start)", elapsed)
            else:
                log.info("%s (%s since the start)", self.status(), elapsed)


class InputExtent:
    """This rank's input measured in units (bytes of plain JSONL, rows of Parquet), and
    how far a record cursor is along it. `total` is None when a part has no known size."""

    def __init__(self, inputs: list[Any], slices: list[Any]) -> None:
        self.spans: list[tuple[int, int, int]] = []  # (file_index, first unit, last unit)
        self.total: int | None = 0
        for sl in slices:
            f = inputs[sl.file_index]
            if f.kind == "jsonl" and not f.compression:  # compressed: no size to count against
                span = (sl.file_index, sl.start, sl.end)
            elif f.kind == "parquet":
                from ..inputs.slicing import parquet_row_groups

                groups = parquet_row_groups(f.path)
                span = (sl.file_index, sum(groups[: sl.start]), sum(groups[: sl.end]))
            else:
                self.total = None
                return
            self.spans.append(span)
            self.total += span[2] - span[1]

    def at(self, cursor: Any) -> int | None:
        """Units read once the input is read up to `cursor` (a Cursor or [file, pos])."""
        if self.total is None or cursor is None:
            return None
        fi, pos = (cursor.file_index, cursor.pos) if hasattr(cursor, "pos") else cursor
        done = 0
        for i, a, b in self.spans:
            if i < fi:
                done += b - a
            elif i == fi:
                done += min(max(pos - a, 0), b - a)
        return done


def start_line(files: list[Any], outdir: Any, rank: Any, settings: Any) -> str:
    """What this run is about to do, in one line (written before anything loads)."""
    names = [f.display for f in files]
    shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
    m = settings.model
    adapter = m.adapter_source or "none (base model)"
    return (
        f"starting: input {shown}; output {outdir}; rank {rank.rank} of {rank.world} "
        f"(from {rank.source}); model {m.base_model}; adapter {adapter}; "
        f"device {settings.device}; dtype {settings.dtype}"
    )


def log_loading(settings: Any) -> None:
    """'loading allenai/specter2_base + allenai/specter2 on cpu (float32) …'."""
    from ..model.loader import resolve_device, resolve_dtype

    device = resolve_device(settings.device)
    dtype = str(resolve_dtype(settings.dtype, device)).replace("torch.", "")
    m = settings.model
    extra = f" + {m.adapter_source}" if m.adapter_source else ""
    log.info("loading %s%s on %s (%s) …", m.base_model, extra, device, dtype)
