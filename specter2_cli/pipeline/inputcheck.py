"""Is the input a resumed run reads still the input its committed shards were made from?

Every record or reject the reader hands on gets a 16-byte fingerprint (its id and model
text, or its raw text and reason); each committed shard stores a digest of the
fingerprints of the input it covers. A resumed run re-reads its committed input once,
sequentially, and compares: unchanged, it resumes (whatever happened after the last
commit: a bad record fixed, a truncated download replaced); changed, it is refused,
naming the first shard whose input differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import UsageError
from ..inputs import Cursor, InputFile, Record, Rejected
from ..store.manifest import Manifest, ShardEntry


def input_fingerprint(item: Record | Rejected) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    if isinstance(item, Record):
        h.update(b"R" + repr(item.id).encode("utf-8", "surrogatepass") + b"\0")
        h.update(item.text.encode("utf-8", "surrogatepass"))
    else:
        h.update(b"X" + item.raw.encode("utf-8", "surrogatepass") + b"\0")
        h.update(item.reason.encode("utf-8", "surrogatepass"))
    return h.digest()


def new_digest() -> Any:
    """A running digest (hashlib's blake2b, 16 bytes)."""
    return hashlib.blake2b(digest_size=16)


def verify_committed(
    stream: Iterable[tuple[Record | Rejected, Cursor]], inputs: list[InputFile], m: Manifest
) -> None:
    """Re-read the input the manifest's shards cover and compare digests; UsageError if not."""
    if not m.shards or any(sh.input_digest is None for sh in m.shards):
        return  # made before digests were recorded: nothing to compare with
    for _ in resume_checked(stream, inputs, m):
        return  # past the committed part: every shard has been compared


def resume_checked(
    stream: Iterable[tuple[Record | Rejected, Cursor]], inputs: list[InputFile], m: Manifest
) -> Iterator[tuple[Record | Rejected, Cursor]]:
    """A stream read from its start (stdin: it cannot seek), checked against the committed
    shards' digests while it passes their part, then handed on from the committed cursor.

    Piping other records, or the same ones in another order, is refused (UsageError) before
    any of them is embedded: skipping the committed bytes unchecked would lose the ids that
    moved into them."""
    end = tuple(m.cursor or (0, 0))
    checked = bool(m.shards) and all(sh.input_digest is not None for sh in m.shards)
    it = iter(m.shards)
    shard: ShardEntry | None = next(it, None) if checked else None
    digest = new_digest()
    for item, nxt in stream:
        here = (item.file_index, item.pos)
        while shard is not None and here >= tuple(shard.cursor):
            _compare(shard, digest.hexdigest(), inputs)
            shard, digest = next(it, None), new_digest()
        if here >= end:
            yield item, nxt
        elif shard is not None:
            digest.update(input_fingerprint(item))
    while shard is not None:  # the stream ended inside the committed part
        _compare(shard, digest.hexdigest(), inputs)
        shard, digest = next(it, None), new_digest()


def _compare(shard: ShardEntry, got: str, inputs: list[InputFile]) -> None:
    if got == shard.input_digest:
        return
    fi, pos = shard.cursor
    where = inputs[fi].display if fi < len(inputs) else f"input {fi}"
    name = shard.files[0] if shard.files else f"shard {shard.index} (no rows)"
    raise UsageError(
        f"the input changed under committed work: the records that {name} was made from "
        f"(up to position {pos} of {where}) are not the same any more. Restore the input "
        "as it was (from stdin: pipe the same records in the same order), or pass "
        "--overwrite to start over (or use another output folder)."
    )
