"""One rank's run: plan, claim the OUTDIR, then read -> tokenize -> encode -> write -> commit.

A reader thread parses, validates and filters records into windows, a tokenizer
thread packs them into batches, and the main thread runs the model with one
window in flight (window k+1 on the device while window k is written). Each
shard is a fixed run of input records, committed through the rank's manifest; a
resumed run starts at the committed cursor and produces the same shards an
uninterrupted run would.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ..config import EmbedSettings
from ..errors import UsageError
from ..inputs import (
    InputFile,
    RecordValidator,
    check_inputs_readable,
    input_identity,
    resolve_id_type,
    resolve_inputs,
)
from ..inputs.jsonl import PeekableStdin
from ..launchers import RankInfo, detect_rank
from ..model.tags import check_adapter_tag
from ..store.manifest import ShardEntry
from ..store.outdir import OutDir
from .progress import Progress, start_line
from .rank import RankRun
from .runtime import StopFlag
from .summary import RunSummary

if TYPE_CHECKING:
    from ..model.encoder import Encoder


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
    max_reject_rate: float | None = None
    encoder: Encoder | None = None
    stop: StopFlag = field(default_factory=StopFlag)
    stdin: IO[bytes] | None = None
    on_shard_committed: Callable[[ShardEntry], None] | None = None
    delimiter: str | None = None  # CSV field separator (--delimiter); None: sniffed per file

    def run(self) -> RunSummary:
        t0 = time.perf_counter()
        if not os.fspath(self.outdir).strip():
            raise UsageError("-o/--output is empty: name the output folder")
        check_adapter_tag(self.settings.model)  # before anything is written
        files = resolve_inputs(self.inputs, self.delimiter)
        rank = detect_rank(self.shard_index, self.num_shards)
        progress = Progress(self.progress, self.log_every_s)
        progress.start(start_line(files, self.outdir, rank, self.settings))
        try:
            return self._run(t0, files, rank, progress)
        finally:
            progress.close()

    def _run(
        self, t0: float, files: list[InputFile], rank: RankInfo, progress: Progress
    ) -> RunSummary:
        out = OutDir(self.outdir)
        out.refuse_inputs_inside(files)
        out.refuse_foreign_files()
        if self.overwrite:
            if rank.world > 1:
                raise UsageError(
                    "--overwrite with several ranks would let one rank delete another's work; "
                    "delete the output folder before submitting the job instead"
                )
            out.wipe()
        made = out.prepare_new()
        id_type = self._check_inputs(files)
        if self.encoder is None and not out.exists():
            # load before claiming OUTDIR: a typo in --base-model must not pin the folder to it
            with out.removed_on_error(made):
                self.encoder = self._load_encoder()
        out.init_job(self._identity(id_type))
        # one rank reads all of its files from the start: a resumed run may find them changed
        # (a bad record fixed, a download replaced) and resumes if its committed input is not
        gen = out.join_generation(
            input_identity(files),
            rank.world,
            self.incremental,
            resume_changed=rank.world == 1 and not self.incremental,
        )
        lock = out.lock_rank(gen.gen, rank.rank, rank.world)
        try:
            return RankRun(self, files, rank, out, gen.gen, id_type, t0, progress).run()
        finally:
            lock.release()

    def _check_inputs(self, files: list[InputFile]) -> str:
        """The job's id type; fails on unusable input before the model loads."""
        s = self.settings
        peeked = None
        if files[0].kind == "stdin" and s.fields.id_type == "auto":
            peek = PeekableStdin(self.stdin or sys.stdin.buffer)
            peeked = peek.first_object()
            self.stdin = io.BufferedReader(peek)
        id_type = resolve_id_type(files, s.fields, peeked)
        check_inputs_readable(
            files,
            RecordValidator(s.fields, s.model.query_mode, "[SEP]", id_type, s.model.text_format),
            peeked,
        )
        return id_type

    def _load_encoder(self) -> Encoder:
        from ..model.loader import load_encoder
        from .progress import log_loading

        s = self.settings
        log_loading(s)
        return load_encoder(s.model, s.device, s.dtype, s.engine, self.offline)

    def _identity(self, id_type: str) -> dict[str, Any]:
        # the resolved dtype: a CPU (fp32) job must not be resumed on a GPU in fp16 unasked
        if self.encoder is not None:
            compute = self.encoder.compute_dtype
        elif self.settings.dtype == "int8":
            compute = "int8"
        else:
            from ..model.loader import resolve_device, resolve_dtype

            compute = str(resolve_dtype(self.settings.dtype, resolve_device(self.settings.device)))
        return self.settings.job_identity() | {
            "id_type": id_type,
            "compute_dtype": str(compute).replace("torch.", ""),
        }
