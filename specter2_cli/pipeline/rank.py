"""One locked rank: verify and resume from its manifest, run the stages, commit shards."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..errors import InputError, Interrupted, UsageError
from ..inputs import (
    Cursor,
    InputFile,
    RecordStream,
    RecordValidator,
    plan_slices,
)
from ..launchers import RankInfo
from ..store.keys import KeyMap, KeySet
from ..store.manifest import Manifest, in_run_order
from ..store.outdir import OutDir
from ..store.rejects import RejectsFile
from .inputcheck import resume_checked, verify_committed
from .progress import InputExtent, Progress
from .runtime import log
from .sink import ShardFormat, ShardSink
from .summary import RunSummary, reject_verdict
from .windows import (
    End,
    Failed,
    Message,
    RecordFilter,
    Window,
    cut_windows,
    drain,
    next_message,
    run_stage,
    start_window,
    started_windows,
    tokenizer_pool,
)

if TYPE_CHECKING:
    from ..model.encoder import Encoder, Pending
    from .job import EmbedJob


class RankRun:
    """The work of one locked rank: resume from its manifest, run the stages, commit."""

    def __init__(
        self,
        job: EmbedJob,
        files: list[InputFile],
        rank: RankInfo,
        out: OutDir,
        gen: int,
        id_type: str,
        t0: float,
        progress: Progress,
    ) -> None:
        self.job, self.files, self.rank, self.out = job, files, rank, out
        self.gen, self.id_type, self.t0, self.progress = gen, id_type, t0, progress
        self.extent = InputExtent(files, plan_slices(files, rank.rank, rank.world))
        self.settings = job.settings
        self.summary = RunSummary(out.display, rank.rank, rank.world, gen)
        self.summary.skipped_files = len(getattr(files, "skipped", ()))
        self.manifest = out.load_manifest(gen, rank.rank) or Manifest(gen, rank.rank, rank.world)
        damage = out.drop_damaged(self.manifest)
        if damage is not None:  # a deleted or truncated shard: embed it again, and what follows
            log.warning("%s: committed %s: re-embedding from there", out.display, damage)
            out.save_manifest(self.manifest)
            out.unmark_success()
        self.validator: RecordValidator | None = None

    def run(self) -> RunSummary:
        m, out, summary = self.manifest, self.out, self.summary
        if m.done:
            summary.already_done = True
            summary.count_shards(m)
            out.mark_success_if_complete(out.generations()[self.gen])
            return summary
        out.sweep(self.gen, m.rank, m.world, m.committed_files)
        summary.resumed_from_rows = m.rows
        if self.job.stop():  # stopped during start-up: nothing to commit
            raise Interrupted(f"stopped by {self.job.stop.signal_name} before any work started")
        encoder = self.job.encoder or self.job._load_encoder()
        if encoder.settings != self.settings.model:
            raise UsageError("the encoder passed in was loaded with other model settings")
        summary.engine, summary.device = encoder.engine, encoder.device
        summary.kernels = encoder.kernels
        if m.shards and self.files[0].kind != "stdin":
            self._verify_committed_input(encoder)
        sink = self._sink(encoder)
        first_shard = len(m.shards)
        progress = self.progress
        progress.set_position(self.extent.total, self.extent.at(m.cursor) or 0)
        summary.load_s = time.perf_counter() - self.t0
        progress.loaded()
        encoder.on_batch = progress.batch
        oom_splits, fp32_reruns = encoder.stats.oom_splits, encoder.stats.fp32_reruns
        try:
            self._loop(encoder, sink, progress)
        finally:
            encoder.on_batch = None
            progress.close()
            sink.close()
            summary.count_shards(m, first_shard)
            if self.validator is not None:
                summary.add_input_counts(self.validator.counts)
        summary.seconds = time.perf_counter() - self.t0
        summary.embed_s = summary.seconds - summary.load_s
        summary.first_batch_s = encoder.stats.first_batch_s
        summary.oom_splits = encoder.stats.oom_splits - oom_splits
        summary.fp32_reruns = encoder.stats.fp32_reruns - fp32_reruns
        summary.token_cap = encoder.token_cap
        summary.total_rows, summary.total_rejected = m.rows, m.rejected
        self._refuse_empty()
        rejects = out.rejects_shown(self.gen, m.rank, m.world)
        m.failed = reject_verdict(m.rows, m.rejected, self.job.max_reject_rate, rejects)
        if m.failed:
            out.save_manifest(m)
            raise InputError(m.failed)
        m.done = True
        m.finished_at = time.time()
        out.save_manifest(m)
        out.mark_success_if_complete(out.generations()[self.gen])
        return summary

    def _refuse_empty(self) -> None:
        """No record at all in this rank's input (a failed download, an empty file): a
        failure, not a success with nothing in it, unless --allow-empty says it is fine. One
        rank of several may own no record (EmbedJob checks that not all files are empty)."""
        m = self.manifest
        seen = sum(sh.rows + sh.rejected + sh.skipped for sh in m.shards)
        seen += self.summary.deleted_citations
        if seen or self.job.allow_empty or m.world > 1:
            return
        # an --incremental run (from stdin: files are peeked before a run opens) that found
        # nothing is forgotten, so that the job stays complete and later runs and merges go on
        forgotten = self.gen > 0 and self.out.forget_empty_generation(self.gen, holding_lock=True)
        if not forgotten:
            self.out.save_manifest(m)  # a failed start: the next run may change its settings
        names = ", ".join(f.display for f in self.files[:3]) + (
            ", ..." if len(self.files) > 3 else ""
        )
        raise InputError(
            f"no records in the input ({names}): an empty file or a failed download? "
            "Nothing was written"
            + ("; the earlier runs' output is as it was" if forgotten else "")
            + ". Check the input, or pass --allow-empty if an empty input is expected"
        )

    def _verify_committed_input(self, encoder: Encoder) -> None:
        """Refuse to resume on input that changed under the committed shards."""
        s, m = self.settings, self.manifest
        log.info("checking that the input of the %d committed records is unchanged", m.rows)
        validator = RecordValidator(s.fields, s.model.query_mode, encoder.tokenizer.sep_token,
                                    self.id_type, s.model.text_format)  # fmt: skip
        slices = plan_slices(self.files, m.rank, m.world)
        verify_committed(RecordStream(self.files, slices, validator), self.files, m)

    def _sink(self, encoder: Encoder) -> ShardSink:
        m = self.manifest
        rejects = RejectsFile(
            self.out.rejects_path(self.gen, m.rank, m.world),
            m.shards[-1].rejects_bytes if m.shards else 0,
        )
        s = self.settings
        shape = ShardFormat(
            s.format, self.id_type, encoder.hidden_size, s.output_dtype, self._metadata(encoder)
        )
        return ShardSink(self.out, m, rejects, shape, self.job.on_shard_committed)

    def _metadata(self, enc: Encoder) -> dict[str, Any]:
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
            "compute_dtype": enc.compute_dtype,
            **(enc.int8 or {}),
            "engine": enc.engine,
            "kernels": enc.kernels,  # e.g. "unpadded, oneDNN linears" on a CPU; "" on a GPU
            "output_dtype": s.output_dtype,
            "pooling": "cls",
            "hidden_size": enc.hidden_size,
            "id_type": self.id_type,
            "text_format": "query" if s.model.query_mode else s.model.text_format,
            "adapter_tag": enc.adapter_tag,
            # a folder may hold a million files: name the first ones, count the rest
            "inputs": [f.display for f in self.files[:100]],
            "input_files": len(self.files),
            "generation": self.gen,
            "rank": self.rank.rank,
            "world": self.rank.world,
        }

    # ------------------------------------------------------------ stages

    def _windows(self, encoder: Encoder) -> Callable[[], Any]:
        """The reader stage: records of this rank's slices, filtered, cut into windows."""
        s, m = self.settings, self.manifest
        validator = RecordValidator(
            s.fields,
            s.model.query_mode,
            encoder.tokenizer.sep_token,
            self.id_type,
            s.model.text_format,
        )
        self.validator = validator  # counts records without a title / an abstract
        cursor = Cursor(*m.cursor) if m.cursor else None
        slices = plan_slices(self.files, m.rank, m.world)
        stream: Any
        if cursor is not None and self.files[0].kind == "stdin":
            # stdin cannot be re-read: its committed part is checked as it streams past
            whole = RecordStream(self.files, slices, validator, None, self.job.stdin)
            stream = resume_checked(whole, self.files, m)
        else:
            stream = RecordStream(self.files, slices, validator, cursor, self.job.stdin)
        previous = _previous_generations(self.out, self.gen) if self.job.incremental else None
        keep = RecordFilter(_committed_ids(self.out, m), previous)
        open_rows = m.shards[-1].open_rows if m.shards else 0
        return lambda: cut_windows(
            stream,
            self.files,
            keep,
            s.shard_size,
            s.sort_window,
            s.on_error == "fail",
            open_rows,
            cursor,
            validator.counts,
        )

    def _tokenized(
        self,
        encoder: Encoder,
        raw: queue.Queue[Message],
        stop: threading.Event,
        pool: Executor | None = None,
    ) -> Callable[[], Any]:
        """The tokenizer stage: the fast tokenizer releases the GIL, so this overlaps both
        the reader's JSON parsing and the device; with `pool`, --workers threads tokenize
        chunks of each window at once (windows stay in input order)."""
        s = self.settings
        budget = s.resolved_batch_tokens(encoder.device)
        return lambda: started_windows(
            raw,
            stop,
            lambda w: start_window(
                w,
                encoder.tokenizer,
                s.model.max_length,
                encoder.batch_budget(budget),  # lowered once the device ran out of memory
                s.max_batch_rows,
                encoder.max_positions,
                pool,
            ),
            depth=1 if pool is None else 2,  # without threads, starting is doing: no gain
        )

    def _loop(self, encoder: Encoder, sink: ShardSink, progress: Progress) -> None:
        raw: queue.Queue[Message] = queue.Queue(maxsize=2)
        windows: queue.Queue[Message] = queue.Queue(maxsize=3)
        halt = threading.Event()
        workers = self.settings.resolved_workers()
        pool = tokenizer_pool(workers)
        threads = [
            threading.Thread(
                target=run_stage,
                args=(self._windows(encoder), raw, halt),
                name="specter2-reader",
                daemon=True,
            ),
            threading.Thread(
                target=run_stage,
                args=(self._tokenized(encoder, raw, halt, pool), windows, halt),
                name="specter2-tokenizer",
                daemon=True,
            ),
        ]
        for t in threads:
            t.start()
        try:
            self._device_loop(encoder, sink, progress, windows)
        except BaseException:
            sink.abort()
            raise
        finally:
            halt.set()
            for q in (raw, windows):
                drain(q)
            for t in threads:
                t.join(timeout=10)
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def _device_loop(
        self, encoder: Encoder, sink: ShardSink, progress: Progress, windows: queue.Queue[Message]
    ) -> None:
        """One window in flight: window k+1 runs on the device while window k is written."""
        from ..model.devicefaults import DeviceError
        from ..model.encoder import WindowAbandoned

        stop = self.job.stop
        inflight: tuple[Window, Pending | None] | None = None
        while True:
            msg = next_message(windows, stop)
            if isinstance(msg, Failed):
                raise msg.error
            if isinstance(msg, End):
                break
            progress.begin_window(len(msg.records), self.extent.at(msg.cursor))
            try:
                handle = (
                    encoder.submit(msg.packing, len(msg.records), stop) if msg.packing else None
                )
            except WindowAbandoned:
                break
            except DeviceError as e:
                if inflight is not None:  # the window before it is computed: keep it
                    with contextlib.suppress(DeviceError):  # unless the device lost it too
                        self._finish(encoder, sink, progress, *inflight)
                    sink.commit()
                raise self._named(e, msg) from None
            progress.end_window(len(msg.rejects), msg.skipped)
            if inflight is not None:
                self._finish(encoder, sink, progress, *inflight)
            inflight = (msg, handle)
        if inflight is not None:
            try:
                self._finish(encoder, sink, progress, *inflight)
            except DeviceError as e:
                raise self._named(e, inflight[0]) from None
        if stop():
            sink.commit()
            m = self.manifest
            raise Interrupted(
                f"stopped by {stop.signal_name}: {m.rows} records committed in "
                f"{len(m.shards)} shards; rerun the same command to resume"
            )

    def _named(self, e: Any, w: Window) -> Any:
        """A device memory error that names the record it is about, and what was kept."""
        if e.row is not None and 0 <= e.row < len(w.records):
            r = w.records[e.row]
            e = e.for_record(f"{self.files[r.file_index].display}: {r.location}: id {r.id!r}")
        return type(e)(f"{e}\n{_committed_note(self.manifest)}")

    def _finish(
        self,
        encoder: Encoder,
        sink: ShardSink,
        progress: Progress,
        w: Window,
        handle: Pending | None,
    ) -> None:
        """Write a computed window into the open shard; the sink commits at the shard's end."""
        if handle is not None:
            emb = encoder.collect(handle)
        else:
            emb = np.zeros((0, encoder.hidden_size), np.float32)
        sink.add(w, emb)
        if w.error is not None:
            raise InputError(
                f"{w.error.message()}\n"
                f"{_committed_note(self.manifest)} Fix the record, or rerun with --on-error skip "
                "to set bad records aside in the rejects file and go on."
            )


def _committed_note(m: Manifest) -> str:
    if m.rows == 0:
        return "Nothing was committed."
    shards = sum(1 for sh in m.shards if sh.files)
    return f"{m.rows} records before it are committed in {shards} shards."


def _committed_ids(out: OutDir, m: Manifest) -> KeySet:
    """Every id the committed part of this rank's input had: embedded or skipped."""
    keys = [
        out.read_index(sh.files, ("id_key",)).column("id_key").to_numpy()
        for sh in m.shards
        if sh.files
    ]
    keys += [out.read_skipped(sh.skipped_file) for sh in m.shards if sh.skipped_file]
    return KeySet(np.concatenate(keys).astype(np.uint64) if keys else None)


def _previous_generations(out: OutDir, gen: int) -> KeyMap:
    """id key -> text hash of every record committed by earlier runs (newest last)."""
    keys: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for m in in_run_order(out.manifests()):
        if m.gen >= gen:
            continue
        for sh in m.shards:
            if sh.files:
                t = out.read_index(sh.files, ("id_key", "text_hash"))
                keys.append(t.column("id_key").to_numpy())
                values.append(t.column("text_hash").to_numpy())
    if not keys:
        return KeyMap(np.zeros(0, np.uint64), np.zeros(0, np.uint64))
    return KeyMap(np.concatenate(keys), np.concatenate(values))
