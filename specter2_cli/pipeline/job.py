"""One rank's run: plan, claim the OUTDIR, then read -> tokenize -> encode -> write -> commit.

A reader thread parses, validates and filters records into windows, a tokenizer
thread packs them into batches, and the main thread runs the model with one
window in flight (window k+1 on the device while window k is written). Each
shard is a fixed run of input records, committed through the rank's manifest; a
resumed run starts at the committed cursor and produces the same shards an
uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ..config import EmbedSettings
from ..errors import InputError, UsageError
from ..inputs import (
    InputFile,
    RecordValidator,
    check_inputs_readable,
    input_identity,
    resolve_id_type,
    resolve_inputs,
)
from ..inputs.jsonl import PeekableStdin
from ..inputs.resolve import InputList
from ..launchers import RankInfo, detect_rank
from ..model.tags import check_adapter_tag
from ..objstore.outdir import open_outdir
from ..objstore.urls import inside, is_url, looks_like_url
from ..store.manifest import ShardEntry
from ..store.outdir import OutDir
from .progress import Progress, start_line
from .rank import RankRun
from .runtime import StopFlag
from .summary import RunSummary

if TYPE_CHECKING:
    from ..model.encoder import Encoder

log = logging.getLogger("specter2")


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
    allow_empty: bool = False
    encoder: Encoder | None = None
    stop: StopFlag = field(default_factory=StopFlag)
    stdin: IO[bytes] | None = None
    on_shard_committed: Callable[[ShardEntry], None] | None = None
    delimiter: str | None = None  # CSV field separator (--delimiter); None: sniffed per file
    listed_from: int | None = None  # inputs[listed_from:] came from --inputs-from

    def run(self) -> RunSummary:
        t0 = time.perf_counter()
        if not os.fspath(self.outdir).strip():
            raise UsageError("-o/--output is empty: name the output folder")
        check_adapter_tag(self.settings.model)  # before anything is written
        refuse_special_files(self.inputs)
        files = outside_outdir(
            resolve_inputs(self.inputs, self.delimiter, self.listed_from), self.inputs, self.outdir
        )
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
        out = open_outdir(self.outdir)
        out.refuse_not_a_folder()
        out.refuse_inputs_inside(files)
        out.refuse_foreign_files()
        if self.overwrite and rank.world > 1:
            raise UsageError(
                "--overwrite with several ranks would let one rank delete another's work; "
                "delete the output folder before submitting the job instead"
            )
        # the input is checked before --overwrite deletes anything: a failed download must
        # not cost the embeddings it was meant to replace
        self._refuse_empty_files(files)
        id_type = self._check_inputs(files)
        # judged over the whole job, before --overwrite moves anything and before an
        # --incremental run opens a generation: an empty .gz, a file of blank lines
        self._refuse_no_record(files, id_type)
        out.settle_aside()  # a run killed between --overwrite and its first commit
        if self.overwrite:
            if self.encoder is None:  # a typo in --base-model must not cost the old output
                self.encoder = self._load_encoder()
            out.wipe()
            try:
                return self._claim_and_run(t0, files, rank, progress, out, id_type)
            except BaseException:
                # failed before its first commit: the old output comes back as it was
                out.restore_aside()
                raise
        return self._claim_and_run(t0, files, rank, progress, out, id_type)

    def _claim_and_run(
        self,
        t0: float,
        files: list[InputFile],
        rank: RankInfo,
        progress: Progress,
        out: OutDir,
        id_type: str,
    ) -> RunSummary:
        made = out.prepare_new()
        if self.encoder is None and not out.exists():
            # load before claiming OUTDIR: a typo in --base-model must not pin the folder to it
            with out.removed_on_error(made):
                self.encoder = self._load_encoder()
        identity = self._identity(id_type)
        if rank.world == 1:
            out.forget_failed_start(identity, input_identity(files))
        out.init_job(identity)
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

    def _refuse_empty_files(self, files: list[InputFile]) -> None:
        """Every input file empty (a failed download): exit 3 before the model loads."""
        if self.allow_empty or any(f.kind == "stdin" or f.size > 0 for f in files):
            return
        names = ", ".join(f.path for f in files[:3]) + (", ..." if len(files) > 3 else "")
        raise InputError(
            f"the input is empty ({names}: 0 bytes): a failed download? Nothing was written. "
            "Check the input, or pass --allow-empty if an empty input is expected"
        )

    def _refuse_no_record(self, files: list[InputFile], id_type: str) -> None:
        """No record and no bad record in any of the job's files (every rank decides alike,
        whatever part it owns): exit 3 before anything is written, unless --allow-empty."""
        if self.allow_empty or any(f.kind == "stdin" for f in files):
            return  # stdin is read once: its emptiness is judged after the run
        from ..inputs import RecordStream
        from ..inputs.slicing import plan_slices

        s = self.settings
        validator = RecordValidator(
            s.fields, s.model.query_mode, "[SEP]", id_type, s.model.text_format
        )
        stream = RecordStream(files, plan_slices(files, 0, 1), validator)
        for _ in stream:
            return
        names = ", ".join(f.display for f in files[:3]) + (", ..." if len(files) > 3 else "")
        forgot = self._forget_run_over(files)
        raise InputError(
            f"no records in the input ({names}): an empty file or a failed download? "
            "Nothing was written or deleted"
            + (" (an earlier failed run over it is forgotten)" if forgot else "")
            + ". Check the input, or pass --allow-empty if an empty input is expected"
        )

    def _forget_run_over(self, files: list[InputFile]) -> bool:
        """A run over this same empty input that an earlier version opened and left (it
        deleted _SUCCESS and blocked merges): forgotten, so that the job is complete again."""
        out = open_outdir(self.outdir)
        if not out.exists():
            return False
        gens = out.generations()
        if not gens or gens[-1].inputs != input_identity(files):
            return False
        return out.forget_empty_generation(gens[-1].gen)

    def _check_inputs(self, files: list[InputFile]) -> str:
        """The job's id type; fails on unusable input before the model loads."""
        s = self.settings
        peeked = None
        if files[0].kind == "stdin" and s.fields.id_type == "auto":
            peek = PeekableStdin(self.stdin or sys.stdin.buffer)
            peeked = peek.first_object()
            self.stdin = io.BufferedReader(peek)
        id_type = resolve_id_type(files, s.fields, peeked)
        if files[0].kind == "stdin" and s.fields.id_type == "auto" and peeked is None:
            # an empty stream shows no id: keep the job's, so that it fails as empty input
            # and not as "other settings"
            with contextlib.suppress(Exception):
                id_type = (open_outdir(self.outdir).job() or {}).get("id_type") or id_type
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


def refuse_special_files(paths: list[str]) -> None:
    """A FIFO, socket or device given as an input file: refused before anything opens it.

    The tool reads a file more than once (its format, its first records, a resumed run's
    committed part); a named pipe gives its records once (the rest were lost) and, with no
    writer, blocks the open beyond SIGTERM's reach."""
    from ..inputs.expand import expand_paths

    for p in expand_paths(paths).paths:
        if p == "-":
            continue
        try:
            mode = os.stat(p).st_mode
        except OSError:
            continue  # missing: reported with the other input checks
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "not a regular file"
            raise InputError(
                f"{p}: is {kind}; the input is read more than once (to check its format and "
                f"to resume), so give a regular file, or pipe the records to stdin: "
                f"cat {p} | specter2 embed - ..."
            )


def listed_outside_outdir(paths: list[str], outdir: str | os.PathLike[str]) -> list[str]:
    """An --inputs-from list without the files inside OUTDIR (a `find -name '*.jsonl'` over a
    tree that holds OUTDIR lists its `_rejects.jsonl`): the tool's own output, left out with a
    log line, as a folder or glob leaves them out."""
    if not os.fspath(outdir).strip():
        return paths
    url = looks_like_url(os.fspath(outdir))
    if url is not None:
        keep = [p for p in paths if not inside(p, url)]
    else:
        root = os.path.realpath(outdir) + os.sep
        keep = [
            p for p in paths if p == "-" or is_url(p) or not os.path.realpath(p).startswith(root)
        ]
    if len(keep) < len(paths):
        log.info(
            "left out %d files of the --inputs-from list inside the output folder %s (its own "
            "output)",
            len(paths) - len(keep),
            outdir,
        )
    return keep


def outside_outdir(files: InputList, given: list[str], outdir: str | os.PathLike[str]) -> InputList:
    """Files a folder or glob found inside OUTDIR (an OUTDIR inside an input folder) are the
    tool's own output, not input: left out, so that the resume and later --incremental runs
    see the input the first run saw. A file named one by one is kept (and refused later)."""
    url = looks_like_url(os.fspath(outdir))
    if url is not None:  # an s3:// OUTDIR: inputs under its prefix
        root = url
        named = set(given)

        def where(f: InputFile) -> str:
            return f.path if f.kind != "stdin" else ""

        def under(path: str) -> bool:
            return inside(path, root)

    else:
        root = os.path.realpath(outdir) + os.sep
        named = {os.path.realpath(p) for p in given if p != "-" and os.path.isfile(p)}

        def where(f: InputFile) -> str:
            return os.path.realpath(f.path) if f.kind != "stdin" and not is_url(f.path) else ""

        def under(path: str) -> bool:
            return bool(path) and path.startswith(root)

    keep, dropped = [], 0
    for f in files:
        real = where(f)
        if under(real) and real not in named:
            dropped += 1
            continue
        keep.append(f)
    if dropped and not keep:
        raise InputError(
            f"the inputs ({', '.join(given[:3])}) hold no file outside the output folder "
            f"{outdir}: name the input files"
        )
    if dropped:
        log.info("left out %d files inside the output folder %s (its own output)", dropped, outdir)
    return InputList(keep, files.skipped)
