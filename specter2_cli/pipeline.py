"""The file-to-shards pipeline: read -> validate -> tokenize/sort/pack -> encode -> write -> commit.

A reader thread parses, validates, tokenizes and packs windows while the main
thread runs the model, so host work overlaps the device. Each shard is a fixed
run of input records (sorted and batched only inside it), committed through the
rank's manifest; a resumed run starts at the committed cursor and produces the
same shards an uninterrupted run would.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import __version__, faults
from .batching import Packing, pack, tokenize
from .checkpoint import (
    KeyMap,
    KeySet,
    Manifest,
    OutDir,
    ShardEntry,
    id_key,
    shard_name,
    text_hash,
)
from .config import EmbedSettings, FieldSettings
from .encoder import Encoder, Pending, WindowAbandoned, load_encoder
from .errors import InputError, Interrupted, UsageError
from .launchers import RankInfo, detect_rank
from .records import (
    Cursor,
    InputFile,
    PeekableStdin,
    Record,
    RecordStream,
    RecordValidator,
    Rejected,
    check_inputs_readable,
    input_identity,
    plan_slices,
    resolve_id_type,
    resolve_inputs,
)
from .writers import Rows, ShardWriter, output_error, read_index

log = logging.getLogger("specter2")


@dataclass
class RunSummary:
    outdir: str
    rank: int = 0
    world: int = 1
    generation: int = 0
    embedded: int = 0
    rejected: int = 0
    truncated: int = 0
    skipped: int = 0
    changed: int = 0
    real_tokens: int = 0
    padded_tokens: int = 0
    shards: int = 0
    seconds: float = 0.0
    resumed_from_rows: int = 0
    already_done: bool = False
    interrupted: bool = False
    engine: str = ""
    device: str = ""
    first_batch_s: float | None = None

    @property
    def new(self) -> int:
        return self.embedded - self.changed

    @property
    def papers_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.real_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def padding_efficiency(self) -> float:
        return self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.update(
            new=self.new,
            papers_per_s=round(self.papers_per_s, 2),
            tokens_per_s=round(self.tokens_per_s, 1),
            padding_efficiency=round(self.padding_efficiency, 4),
        )
        return d


# ----------------------------------------------------------------- windows


@dataclass
class Window:
    records: list[Record]
    hashes: list[int]
    keys: list[int]
    packing: Packing | None
    truncated: int
    rejects: list[Rejected]
    cursor: Cursor | None  # where a resumed run continues after this window
    shard_end: bool
    skipped: int = 0
    changed: int = 0
    error: Rejected | None = None  # --on-error fail: stop after committing this window


_END = object()


class StopFlag:
    """Set by SIGTERM/SIGINT/SIGUSR1 (or a caller); checked between batches."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    def __call__(self) -> bool:
        return self.event.is_set()

    def set(self, name: str = "stop") -> None:
        self.signal_name = name
        self.event.set()


class SignalHandlers:
    """Turn SIGTERM, SIGINT and SIGUSR1 into a StopFlag while a run is active (main thread only)."""

    SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1")

    def __init__(self, flag: StopFlag) -> None:
        self.flag = flag
        self.old: dict[int, Any] = {}

    def __enter__(self) -> SignalHandlers:
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            self.old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.flag():
            # Schedulers often deliver the same request twice (scancel signals every
            # process of the job; a batch script forwards it again): only a second
            # Ctrl-C means "stop now, do not commit".
            if signum == signal.SIGINT and self.flag.signal_name == "SIGINT":
                raise KeyboardInterrupt
            log.info("%s received again: still finishing the shard in progress", name)
            return
        log.warning("%s received: finishing the shard in progress, then exiting", name)
        self.flag.set(name)

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self.old.items():
            signal.signal(sig, old)


# ----------------------------------------------------------------- progress


class Progress:
    """tqdm bar on a terminal, plain log lines otherwise (cron, SLURM logs)."""

    def __init__(self, enabled: bool, every_s: float = 30.0, initial: int = 0) -> None:
        self.enabled = enabled
        self.every_s = every_s
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.records = 0
        self.tokens = 0
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(unit=" papers", initial=initial, dynamic_ncols=True, smoothing=0.1)

    def update(self, records: int, tokens: int) -> None:
        self.records += records
        self.tokens += tokens
        if not self.enabled:
            return
        now = time.perf_counter()
        dt = max(now - self.t0, 1e-9)
        if self.bar is not None:
            self.bar.update(records)
            self.bar.set_postfix_str(f"{self.tokens / dt / 1000:.0f}k tok/s", refresh=False)
        elif now - self.last >= self.every_s:
            self.last = now
            log.info(
                "%d papers embedded, %.1f papers/s, %.0f tokens/s",
                self.records,
                self.records / dt,
                self.tokens / dt,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------- the run


@dataclass
class _RankState:
    manifest: Manifest
    seen: KeySet
    previous: KeyMap | None
    rejects_file: IO[bytes] | None = None
    rejects_bytes: int = 0


@dataclass
class EmbedJob:
    """Everything one rank needs; `run()` does the work."""

    inputs: list[str]
    outdir: str | os.PathLike[str]
    settings: EmbedSettings = field(default_factory=EmbedSettings)
    shard_index: int | None = None
    num_shards: int | None = None
    incremental: bool = False
    overwrite: bool = False
    offline: bool = False
    progress: bool = False
    log_every_s: float = 30.0
    encoder: Encoder | None = None
    stop: StopFlag = field(default_factory=StopFlag)
    stdin: IO[bytes] | None = None
    on_shard_committed: Callable[[ShardEntry], None] | None = None

    def run(self) -> RunSummary:
        with SignalHandlers(self.stop):
            return self._run()

    # ------------------------------------------------------------ setup

    def _run(self) -> RunSummary:
        t0 = time.perf_counter()
        s = self.settings
        files = resolve_inputs(self.inputs)
        rank = detect_rank(self.shard_index, self.num_shards)
        out = OutDir(self.outdir)
        if self.overwrite:
            if rank.world > 1:
                raise UsageError(
                    "--overwrite with several ranks would let one rank delete another's work; "
                    "delete the output folder before submitting the job instead"
                )
            out.wipe()
        out.prepare()

        peeked = None
        if files[0].kind == "stdin" and s.fields.id_type == "auto":
            peek = PeekableStdin(self.stdin or sys.stdin.buffer)
            peeked = peek.first_object()
            self.stdin = io.BufferedReader(peek)
        id_type = resolve_id_type(files, s.fields, peeked)
        probe = RecordValidator(s.fields, s.model.query_mode, "[SEP]", id_type)
        check_inputs_readable(files, probe)  # before the model loads

        if self.encoder is None and not out.exists():
            # load before claiming OUTDIR: a typo in --base-model must not pin the folder to it
            self.encoder = load_encoder(
                s.model, device=s.device, dtype=s.dtype, engine=s.engine, offline=self.offline
            )
        compute = self.encoder.dtype if self.encoder is not None else None
        if compute is None:
            from .encoder import resolve_device, resolve_dtype

            compute = resolve_dtype(s.dtype, resolve_device(s.device))
        # the resolved dtype: a CPU (fp32) job must not be resumed on a GPU in fp16 unasked
        identity = s.job_identity() | {
            "id_type": id_type,
            "compute_dtype": str(compute).replace("torch.", ""),
        }
        out.init_job(identity)
        gen = out.join_generation(input_identity(files), rank.world, self.incremental)
        lock = out.lock_rank(gen.gen, rank.rank, rank.world)
        try:
            return self._run_locked(t0, files, rank, out, gen.gen, id_type)
        finally:
            lock.release()

    def _run_locked(
        self, t0: float, files: list[InputFile], rank: RankInfo, out: OutDir, gen: int, id_type: str
    ) -> RunSummary:
        s = self.settings
        summary = RunSummary(str(out.path), rank.rank, rank.world, gen)
        manifest = out.load_manifest(gen, rank.rank) or Manifest(gen, rank.rank, rank.world)
        if manifest.done:
            summary.already_done = True
            _fill_from_manifest(summary, manifest)
            out.mark_success_if_complete(out.generations()[gen])
            return summary
        keep = {f for sh in manifest.shards for f in sh.files}
        out.sweep(gen, rank.rank, rank.world, keep)
        summary.resumed_from_rows = manifest.rows

        encoder = self.encoder or load_encoder(
            s.model, device=s.device, dtype=s.dtype, engine=s.engine, offline=self.offline
        )
        summary.engine, summary.device = encoder.engine, encoder.device
        if encoder.settings != s.model:
            raise UsageError("the encoder passed in was loaded with other model settings")

        state = _RankState(
            manifest=manifest,
            seen=_committed_ids(out.path, manifest),
            previous=_previous_generations(out, gen) if self.incremental else None,
        )
        rejects_path = out.rejects_path(gen, rank.rank, rank.world)
        committed_bytes = manifest.shards[-1].rejects_bytes if manifest.shards else 0
        if rejects_path.exists() and rejects_path.stat().st_size != committed_bytes:
            with open(rejects_path, "rb+") as f:  # drop rejects of uncommitted work
                f.truncate(committed_bytes)
        state.rejects_bytes = committed_bytes

        validator = RecordValidator(
            s.fields, s.model.query_mode, encoder.tokenizer.sep_token, id_type
        )
        cursor = Cursor(*manifest.cursor) if manifest.cursor else None
        stream = RecordStream(
            files, plan_slices(files, rank.rank, rank.world), validator, cursor, self.stdin
        )
        metadata = self._metadata(encoder, files, rank, gen, id_type)
        progress = Progress(self.progress, self.log_every_s)
        try:
            self._loop(
                stream, encoder, out, state, summary, metadata, id_type, rejects_path, progress
            )
        finally:
            progress.close()
            if state.rejects_file is not None:
                state.rejects_file.close()
        summary.seconds = time.perf_counter() - t0
        summary.first_batch_s = encoder.stats.first_batch_s

        manifest.done = True
        manifest.finished_at = time.time()
        out.save_manifest(manifest)
        out.mark_success_if_complete(out.generations()[gen])
        return summary

    def _metadata(
        self, enc: Encoder, files: list[InputFile], rank: RankInfo, gen: int, id_type: str
    ) -> dict[str, Any]:
        s = self.settings
        return {
            "tool": "specter2_cli",
            "tool_version": __version__,
            "base_model": s.model.base_model,
            "adapter": s.model.adapter,
            "adapter_source": s.model.adapter_source,
            "revisions": enc.revisions,
            "max_length": s.model.max_length,
            "normalize": s.model.normalize,
            "compute_dtype": str(enc.dtype).replace("torch.", ""),
            "output_dtype": s.output_dtype,
            "pooling": "cls",
            "hidden_size": enc.hidden_size,
            "id_type": id_type,
            "text_format": "query" if s.model.query_mode else "title [SEP] abstract",
            "inputs": [f.display for f in files],
            "generation": gen,
            "rank": rank.rank,
            "world": rank.world,
        }

    # ------------------------------------------------------------ the hot loop

    def _loop(
        self,
        stream: RecordStream,
        encoder: Encoder,
        out: OutDir,
        state: _RankState,
        summary: RunSummary,
        metadata: dict[str, Any],
        id_type: str,
        rejects_path: Path,
        progress: Progress,
    ) -> None:
        s = self.settings
        # reader thread (parse, validate, dedupe) -> tokenizer thread -> this thread (device)
        raw: queue.Queue[Any] = queue.Queue(maxsize=2)
        windows: queue.Queue[Any] = queue.Queue(maxsize=3)
        producer_stop = threading.Event()
        threads = [
            threading.Thread(
                target=self._read,
                args=(stream, encoder, state, raw, producer_stop),
                name="specter2-reader",
                daemon=True,
            ),
            threading.Thread(
                target=self._tokenize,
                args=(encoder, raw, windows, producer_stop),
                name="specter2-tokenizer",
                daemon=True,
            ),
        ]
        for t in threads:
            t.start()
        m = state.manifest
        first_shard = len(m.shards)
        shard = _OpenShard()

        def finish(w: Window, handle: Pending | None) -> None:
            """Write a computed window into the open shard; commit the shard at its end."""
            emb = (
                encoder.collect(handle)
                if handle is not None
                else np.zeros((0, encoder.hidden_size), np.float32)
            )
            if w.records:
                if shard.writer is None:
                    shard.writer = ShardWriter(
                        out.path,
                        shard_name(m.gen, m.rank, m.world, len(m.shards)),
                        s.format,
                        id_type,
                        encoder.hidden_size,
                        s.output_dtype,
                        metadata,
                    )
                shard.writer.write(_rows(w, emb))
                faults.point("shard_write")
            self._write_rejects(w.rejects, state, rejects_path)
            shard.windows.append(w)
            progress.update(len(w.records), w.packing.real_tokens if w.packing else 0)
            if w.shard_end or w.error is not None:
                self._commit(shard, out, state)
            if w.error is not None:
                raise InputError(
                    f"{w.error.message()}\n"
                    f"{_committed_note(m)} Fix the record, or rerun with --on-error skip "
                    "to set bad records aside in the rejects file and go on."
                )

        # One window in flight: window k+1 runs on the device while window k is written.
        inflight: tuple[Window, Pending | None] | None = None
        try:
            while True:
                item = _get(windows, self.stop)
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                w: Window = item
                try:
                    handle = (
                        encoder.submit(w.packing, len(w.records), self.stop)
                        if w.packing is not None
                        else None
                    )
                except WindowAbandoned:
                    break
                if inflight is not None:
                    finish(*inflight)
                inflight = (w, handle)
            if inflight is not None:
                finish(*inflight)
                inflight = None
            if self.stop():
                if shard.windows:
                    self._commit(shard, out, state)
                raise Interrupted(
                    f"stopped by {self.stop.signal_name}: {m.rows} records committed in "
                    f"{len(m.shards)} shards; rerun the same command to resume"
                )
        except BaseException:
            if shard.writer is not None:
                shard.writer.abort()
            raise
        finally:
            producer_stop.set()
            for q in (raw, windows):
                _drain(q)
            for t in threads:
                t.join(timeout=10)
            _fill_from_manifest(summary, m, first_shard)

    def _commit(self, shard: _OpenShard, out: OutDir, state: _RankState) -> None:
        """The commit point: shard published, rejects fsynced, then the manifest replaced."""
        files = shard.writer.commit() if shard.writer is not None else []
        shard.writer = None
        faults.point("after_rename")
        if state.rejects_file is not None:
            state.rejects_file.flush()
            os.fsync(state.rejects_file.fileno())
        m = state.manifest
        last = shard.windows[-1]
        assert last.cursor is not None
        entry = ShardEntry(
            index=len(m.shards),
            files=files,
            rows=sum(len(w.records) for w in shard.windows),
            rejected=sum(len(w.rejects) for w in shard.windows),
            truncated=sum(w.truncated for w in shard.windows),
            cursor=last.cursor.as_list(),
            rejects_bytes=state.rejects_bytes,
            real_tokens=sum(w.packing.real_tokens for w in shard.windows if w.packing),
            padded_tokens=sum(w.packing.padded_tokens for w in shard.windows if w.packing),
            skipped=sum(w.skipped for w in shard.windows),
            changed=sum(w.changed for w in shard.windows),
        )
        m.shards.append(entry)
        try:
            out.save_manifest(m)
        except Exception:
            # not committed after all (disk full?): take the shard back so readers see
            # exactly the committed rows; the rerun writes it again
            m.shards.pop()
            for name in files:
                (out.path / name).unlink(missing_ok=True)
            raise
        shard.windows = []
        if self.on_shard_committed is not None:
            self.on_shard_committed(entry)

    def _write_rejects(self, rejects: list[Rejected], state: _RankState, path: Path) -> None:
        if not rejects:
            return
        if state.rejects_file is None:
            try:
                state.rejects_file = open(path, "ab")
            except OSError as e:
                raise output_error(path, e) from e
        data = b"".join(
            (json.dumps(r.to_json(), ensure_ascii=False) + "\n").encode("utf-8", "replace")
            for r in rejects
        )
        try:
            state.rejects_file.write(data)
        except OSError as e:
            raise output_error(path, e) from e
        state.rejects_bytes += len(data)

    # ------------------------------------------------------------ the reader thread

    def _read(
        self,
        stream: RecordStream,
        encoder: Encoder,
        state: _RankState,
        out: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        try:
            for w in self._windows(stream, encoder, state):
                if not _put(out, w, stop):
                    return
            _put(out, _END, stop)
        except BaseException as e:  # handed on to the main thread, which raises it
            _put(out, e, stop)

    def _tokenize(
        self,
        encoder: Encoder,
        inp: queue.Queue[Any],
        out: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        """Tokenize and pack windows; the fast tokenizer releases the GIL, so this overlaps
        both the reader's JSON parsing and the device."""
        budget = self.settings.resolved_batch_tokens(encoder.device)
        try:
            while not stop.is_set():
                try:
                    w = inp.get(timeout=0.2)
                except queue.Empty:
                    continue
                if isinstance(w, Window) and w.records:
                    tok = tokenize(
                        encoder.tokenizer,
                        [r.text for r in w.records],
                        self.settings.model.max_length,
                    )
                    w.truncated = int(tok.truncated.sum())
                    w.packing = pack(
                        tok,
                        budget,
                        self.settings.max_batch_rows,
                        encoder.tokenizer.pad_token_id,
                        max_positions=encoder.max_positions,
                    )
                if not _put(out, w, stop) or not isinstance(w, Window):
                    return  # _END or an exception was handed on
        except BaseException as e:
            _put(out, e, stop)

    def _windows(
        self, stream: RecordStream, encoder: Encoder, state: _RankState
    ) -> Iterator[Window]:
        """Cut the record stream into windows; a window never crosses a shard boundary."""
        s = self.settings
        seen, previous = state.seen, state.previous
        shard_rows = 0  # rows of the current shard in windows already handed on
        last: Cursor | None = None
        w = _new_window()
        for item, nxt in stream:
            if isinstance(item, Record):
                key = id_key(item.id)
                if key in seen:
                    item = _duplicate(stream.inputs[item.file_index], item)
                else:
                    seen.add(key)
                    th = text_hash(item.text)
                    old = previous.get(key) if previous is not None else None
                    if old == th:
                        w.skipped += 1  # --incremental: embedded before with this text
                    else:
                        w.changed += old is not None
                        w.records.append(item)
                        w.hashes.append(th)
                        w.keys.append(key)
            if isinstance(item, Rejected):
                if s.on_error == "fail":
                    w.error = item
                    w.cursor = Cursor(item.file_index, item.pos)  # resume at the bad record
                    w.shard_end = True
                    yield w
                    return
                w.rejects.append(item)
            last = w.cursor = nxt
            if shard_rows + len(w.records) >= s.shard_size:
                w.shard_end = True
                yield w
                shard_rows, w = 0, _new_window()
            elif len(w.records) >= s.sort_window or len(w.rejects) >= s.sort_window:
                yield w
                shard_rows, w = shard_rows + len(w.records), _new_window()
        if w.records or w.rejects or w.skipped or shard_rows:
            w.cursor = last
            w.shard_end = True
            yield w


def _new_window() -> Window:
    return Window([], [], [], None, 0, [], None, False)


def _duplicate(f: InputFile, r: Record) -> Rejected:
    return Rejected(
        f.display,
        r.location if r.location is not None else _location(f, r.pos),
        r.id,
        f"duplicate id {r.id!r}: the first record with this id was kept",
        r.text[:2000],
        r.file_index,
        r.pos,
    )


@dataclass
class _OpenShard:
    """The shard being written: its writer and the windows in it so far."""

    writer: ShardWriter | None = None
    windows: list[Window] = field(default_factory=list)


def _rows(w: Window, emb: np.ndarray) -> Rows:
    return Rows(
        ids=[r.id for r in w.records],
        embeddings=emb,
        input_file=np.fromiter((r.file_index for r in w.records), np.int32, len(w.records)),
        input_pos=np.fromiter((r.pos for r in w.records), np.int64, len(w.records)),
        text_hash=np.array(w.hashes, dtype=np.uint64),
        id_key=np.array(w.keys, dtype=np.uint64),
    )


def _location(f: InputFile, pos: int) -> Any:
    from .records import _LazyLine

    return f"row {pos}" if f.kind == "parquet" else _LazyLine(f, pos)


def _committed_note(m: Manifest) -> str:
    if m.rows == 0:
        return "Nothing was committed."
    shards = sum(1 for sh in m.shards if sh.files)
    return f"{m.rows} records before it are committed in {shards} shards."


def _fill_from_manifest(summary: RunSummary, m: Manifest, first_shard: int = 0) -> None:
    """Counts of the shards this run committed (all of them for a finished job)."""
    mine = m.shards[first_shard:]
    summary.embedded = sum(s.rows for s in mine)
    summary.rejected = sum(s.rejected for s in mine)
    summary.truncated = sum(s.truncated for s in mine)
    summary.real_tokens = sum(s.real_tokens for s in mine)
    summary.padded_tokens = sum(s.padded_tokens for s in mine)
    summary.skipped = sum(s.skipped for s in mine)
    summary.changed = sum(s.changed for s in mine)
    summary.shards = len(mine)


def _committed_ids(outdir: Path, m: Manifest) -> KeySet:
    keys = [
        read_index(outdir, sh.files, ("id_key",)).column("id_key").to_numpy()
        for sh in m.shards
        if sh.files
    ]
    return KeySet(np.concatenate(keys).astype(np.uint64) if keys else None)


def _previous_generations(out: OutDir, gen: int) -> KeyMap:
    """id key -> text hash of every record committed by earlier runs (newest last)."""
    keys: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for m in sorted(out.manifests(), key=lambda m: (m.gen, m.rank)):
        if m.gen >= gen:
            continue
        for sh in m.shards:
            if not sh.files:
                continue
            t = read_index(out.path, sh.files, ("id_key", "text_hash"))
            keys.append(t.column("id_key").to_numpy())
            values.append(t.column("text_hash").to_numpy())
    if not keys:
        return KeyMap(np.zeros(0, np.uint64), np.zeros(0, np.uint64))
    return KeyMap(np.concatenate(keys), np.concatenate(values))


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue[Any], stop: StopFlag) -> Any:
    while True:
        try:
            return q.get(timeout=0.2)
        except queue.Empty:
            if stop():
                return _END
            continue


def _drain(q: queue.Queue[Any]) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def embed_files(inputs: list[str], outdir: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """Run the whole file-to-shards pipeline (the library form of `specter2 embed`).

    Keyword arguments are those of EmbedJob; with `encoder=` and no `settings=`,
    the encoder's model settings are used.
    """
    enc = kwargs.get("encoder")
    if enc is not None and "settings" not in kwargs:
        kwargs["settings"] = EmbedSettings(model=enc.settings)
    return EmbedJob(list(inputs), outdir, **kwargs).run()


def embed_records(
    encoder: Encoder,
    records: Iterable[dict[str, Any]],
    fields: FieldSettings | None = None,
    batch_tokens: int = 16_384,
    window: int = 8_192,
) -> tuple[list[int | str], np.ndarray, list[Rejected]]:
    """Embed an iterable of record dicts in memory: (ids, [n, hidden] float32, rejects).

    Records are formatted and validated exactly as `specter2 embed` does it
    (title [SEP] abstract, or the query for adhoc_query).
    """
    fields = fields or FieldSettings()
    # id type "any": in memory, ids are returned exactly as given
    validator = RecordValidator(
        fields, encoder.settings.query_mode, encoder.tokenizer.sep_token, "any"
    )
    ids: list[int | str] = []
    chunks: list[np.ndarray] = []
    rejects: list[Rejected] = []
    batch: list[Record] = []

    def flush() -> None:
        if batch:
            chunks.append(encoder.embed_texts([r.text for r in batch], batch_tokens=batch_tokens))
            ids.extend(r.id for r in batch)
            batch.clear()

    for n, obj in enumerate(records):
        item = validator.validate(obj, "<records>", f"item {n}", _preview_obj(obj), 0, n)
        if isinstance(item, Rejected):
            rejects.append(item)
            continue
        batch.append(item)
        if len(batch) >= window:
            flush()
    flush()
    emb = np.concatenate(chunks) if chunks else np.zeros((0, encoder.hidden_size), np.float32)
    return ids, emb, rejects


def _preview_obj(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, default=str)[:2000]
    except (TypeError, ValueError):
        return repr(obj)[:2000]
