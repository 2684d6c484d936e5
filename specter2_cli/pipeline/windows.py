"""The stages between the input and the device: filter records, cut windows, tokenize and pack.

A window is a bounded run of consecutive records (`--sort-window`) that is sorted
and batched on its own; a window never crosses a shard boundary, so a shard is a
fixed run of input records and a resumed run rebuilds exactly the same shards.
Stages run in threads and pass typed messages through bounded queues.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..inputs import Cursor, InputFile, Record, Rejected
from ..inputs.validate import InputCounts
from ..store.keys import KeyMap, KeySet, id_key, text_hash
from ..text import Packing, pack, tokenize_async
from .inputcheck import input_fingerprint


@dataclass
class Window:
    records: list[Record] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    packing: Packing | None = None
    truncated: int = 0
    cursor: Cursor | None = None  # where a resumed run continues after this window
    shard_end: bool = False
    skipped: int = 0
    skipped_keys: list[int] = field(default_factory=list)  # --incremental: ids seen, not embedded
    changed: int = 0
    shard_rows: int = 0  # rows of the open shard after this window (0 when shard_end)
    error: Rejected | None = None  # --on-error fail: stop after committing this window
    fingerprints: bytearray = field(default_factory=bytearray)  # of each input item, in order


@dataclass(frozen=True)
class End:
    """No more windows: the input ended ("input") or a stop was requested ("stop")."""

    reason: str


@dataclass(frozen=True)
class Failed:
    """A stage raised; the main thread re-raises `error`."""

    error: BaseException


Message = Window | End | Failed


# ----------------------------------------------------------------- filtering


@dataclass(slots=True)
class Keep:
    key: int
    text_hash: int
    changed: bool  # --incremental: the id was embedded before with another text


class RecordFilter:
    """Rejects duplicate ids (the first record wins) and, with --incremental, skips records
    whose id and text were embedded by an earlier run."""

    def __init__(self, seen: KeySet, previous: KeyMap | None) -> None:
        self.seen = seen
        self.previous = previous

    def check(self, r: Record, f: InputFile) -> Keep | Rejected | int:
        """Keep (embed it), Rejected (a duplicate) or the id key (unchanged: skip it)."""
        key = id_key(r.id)
        if key in self.seen:
            return Rejected(
                f.display,
                r.location,
                r.id,
                f"duplicate id {r.id!r}: the first record with this id was kept",
                r.raw or r.text,
                r.file_index,
                r.pos,
            )
        self.seen.add(key)
        th = text_hash(r.text)
        old = self.previous.get(key) if self.previous is not None else None
        if old == th:
            return key
        return Keep(key, th, old is not None)


def cut_windows(
    stream: Iterable[tuple[Record | Rejected, Cursor]],
    inputs: list[InputFile],
    keep: RecordFilter,
    shard_size: int,
    sort_window: int,
    stop_at_first_reject: bool,
    start_rows: int = 0,
    start: Cursor | None = None,
    counts: InputCounts | None = None,
) -> Iterator[Window]:
    """Cut the record stream into windows; a window never crosses a shard boundary.

    Boundaries depend only on the records since the shard's start: a run resumed at
    `start` with `start_rows` rows of its shard already committed (a stop committed a
    short shard) cuts exactly the windows and shards an uninterrupted run cuts.
    """
    shard_rows = start_rows  # rows of the current shard in windows already handed on
    last: Cursor | None = start
    w = Window()
    for item, nxt in stream:
        fingerprint = input_fingerprint(item)
        if isinstance(item, Record):
            verdict = keep.check(item, inputs[item.file_index])
            if isinstance(verdict, int):
                w.skipped += 1
                w.skipped_keys.append(verdict)
            elif isinstance(verdict, Keep):
                if counts is not None:
                    counts.kept(item)
                else:
                    item.raw = ""  # only a duplicate needs it
                w.changed += verdict.changed
                w.records.append(item)
                w.hashes.append(verdict.text_hash)
                w.keys.append(verdict.key)
            else:
                item = verdict
        if isinstance(item, Rejected):
            if counts is not None:
                counts.rejected(item)
            if stop_at_first_reject and not item.empty:  # an empty dump record is no error
                w.error = item
                w.cursor = Cursor(item.file_index, item.pos)  # resume at the bad record
                w.shard_end = True
                yield w
                return
            w.rejects.append(item)
        w.fingerprints += fingerprint
        last = w.cursor = nxt
        if shard_rows + len(w.records) >= shard_size:
            w.shard_end = True
            yield w
            shard_rows, w = 0, Window()
        elif len(w.records) >= sort_window or len(w.rejects) >= sort_window:
            shard_rows += len(w.records)
            w.shard_rows = shard_rows
            yield w
            w = Window()
    if w.records or w.rejects or w.skipped or shard_rows:
        w.cursor = last
        w.shard_end = True
        yield w


def tokenize_window(
    w: Window,
    tokenizer: Any,
    max_length: int,
    budget: int,
    max_rows: int,
    max_positions: int,
    pool: Executor | None = None,
) -> Window:
    """Token ids of the window's texts, sorted and packed into token-budget batches
    (tokenized in chunks by `pool`'s threads when given: same result, same order)."""
    return start_window(w, tokenizer, max_length, budget, max_rows, max_positions, pool)()


def start_window(
    w: Window,
    tokenizer: Any,
    max_length: int,
    budget: int,
    max_rows: int,
    max_positions: int,
    pool: Executor | None = None,
) -> Callable[[], Window]:
    """`tokenize_window` in two steps: start tokenizing; the returned function packs."""
    if not w.records:
        return lambda: w
    started = tokenize_async(tokenizer, [r.text for r in w.records], max_length, pool)

    def finish() -> Window:
        tok = started()
        w.truncated = int(tok.truncated.sum())
        w.packing = pack(tok, budget, max_rows, tokenizer.pad_token_id, max_positions=max_positions)
        return w

    return finish


def started_windows(
    q: queue.Queue[Message],
    stop: threading.Event,
    start: Callable[[Window], Callable[[], Window]],
    depth: int = 2,
) -> Iterator[Window]:
    """The upstream windows, each `start`ed and finished in input order. With depth 2, when
    the next window is already waiting it is started before the previous one is finished,
    so the tokenizer threads keep working while this thread packs; never more than `depth`
    are open, and a window is never held back waiting for input."""
    open_: deque[Callable[[], Window]] = deque()
    while not stop.is_set():
        if open_ and (len(open_) >= depth or q.empty()):
            yield open_.popleft()()
            continue
        try:
            msg = q.get(timeout=0.2)
        except queue.Empty:
            continue
        if isinstance(msg, Failed):  # hand on the windows that came before it
            while open_ and not stop.is_set():
                yield open_.popleft()()
            raise msg.error
        if isinstance(msg, End):
            break
        open_.append(start(msg))
    while open_ and not stop.is_set():
        yield open_.popleft()()


# ----------------------------------------------------------------- threads and queues


def tokenizer_pool(workers: int) -> ThreadPoolExecutor | None:
    """Threads that tokenize chunks of a window at once (None for one worker: the stage
    thread tokenizes). The Rust tokenizer's own thread pool is turned off unless the
    environment asks for it, so that --workers is what sets the tokenizing threads."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if workers <= 1:
        return None
    return ThreadPoolExecutor(workers, thread_name_prefix="specter2-tokenizer")


def put(q: queue.Queue[Message], item: Message, stop: threading.Event) -> bool:
    """Put unless `stop` is set first; False when the item was not delivered."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def run_stage(
    produce: Callable[[], Iterable[Window]], out: queue.Queue[Message], stop: threading.Event
) -> None:
    """A thread's body: hand each window on, then End; an exception becomes Failed."""
    try:
        for w in produce():
            if not put(out, w, stop):
                return
        put(out, End("input"), stop)
    except BaseException as e:  # handed on to the main thread, which raises it
        put(out, Failed(e), stop)


def next_message(q: queue.Queue[Message], stop: Callable[[], bool]) -> Message:
    """The next message for the device loop, or End("stop") once a stop is requested (also
    while windows are queued: an encoder that does not check the flag itself stops too)."""
    while True:
        if stop():
            return End("stop")
        try:
            return q.get(timeout=0.2)
        except queue.Empty:
            if stop():
                return End("stop")


def drain(q: queue.Queue[Any]) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass
