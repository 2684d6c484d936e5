"""Damage checks of an OUTDIR: committed shards that are missing or were cut short, and
state files that are not valid JSON any more (a half-copied folder, a hand edit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem
from .manifest import Manifest


class DamagedOutput(EnvironmentProblem):
    """OUTDIR's own state cannot be read: exit code 4, naming the file and what to do."""


def read_state(path: Path, what: str) -> Any:
    """A state file's JSON, or a DamagedOutput naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedOutput(
            f"{path}: the {what} is damaged ({e}); restore it from a backup, or delete it to "
            "re-embed what it recorded (a rank's manifest), or start over with --overwrite"
        ) from None


def read_manifest(path: Path) -> Manifest:
    d = read_state(path, "manifest")
    try:
        return Manifest.from_dict(d)
    except (TypeError, KeyError, AttributeError) as e:
        raise DamagedOutput(
            f"{path}: the manifest is damaged ({e}); restore it, or delete it to re-embed this rank"
        ) from None


def first_damage(folder: Path, m: Manifest) -> tuple[int, str] | None:
    """(shard index, what is wrong) of the first committed shard whose files are missing
    or not the size they were committed with; None when all are intact."""
    for i, sh in enumerate(m.shards):
        for j, name in enumerate(sh.files):
            p = folder / name
            if not p.is_file():
                return i, f"{name} is missing"
            if sh.sizes is not None and j < len(sh.sizes) and p.stat().st_size != sh.sizes[j]:
                return i, f"{name} has {p.stat().st_size} bytes, committed with {sh.sizes[j]}"
            if name.endswith(".parquet"):
                what = _footer_damage(p, sh.rows)
                if what is not None:
                    return i, f"{name} {what}"
        if sh.skipped_file and not (folder / "_specter2" / sh.skipped_file).is_file():
            return i, f"_specter2/{sh.skipped_file} is missing"
    return None


def _footer_damage(path: Path, rows: int) -> str | None:
    """A Parquet shard's footer, read (one small read): what is wrong, or None. Damage inside
    the pages is found by their checksums when the shard is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        n = pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException, ValueError) as e:
        return f"cannot be read ({type(e).__name__}: {' '.join(str(e).split())})"
    if n != rows:
        return f"holds {n} rows, committed with {rows}"
    return None


def drop_damaged(folder: Path, m: Manifest) -> str | None:
    """Forget the first damaged committed shard and all after it, so that the rank
    re-embeds them; what was wrong, or None when nothing was."""
    return forget_from(m, first_damage(folder, m))


def forget_from(m: Manifest, damage: tuple[int, str] | None) -> str | None:
    """Drop m's shards from the damaged one on (the rank re-embeds them); what was wrong."""
    if damage is None:
        return None
    i, what = damage
    del m.shards[i:]
    m.done, m.finished_at = False, None
    return f"shard {i} ({what})"


def covered(old: list[dict[str, Any]], newer: list[dict[str, Any]]) -> bool:
    """Whether a newer run read every input file of an older one (stdin never counts)."""
    paths = {d["path"] for d in newer if d["path"] != "-"}
    return all(d["path"] in paths for d in old)
