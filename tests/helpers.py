"""Independent references and small utilities shared by the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq


def model_card_embeddings(
    base_dir: Path, adapter_dir: Path | None, adapter_name: str, texts: list[str]
) -> np.ndarray:
    """The SPECTER2 model card recipe, one text at a time, fp32 on CPU."""
    import torch
    from adapters import AutoAdapterModel
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoAdapterModel.from_pretrained(str(base_dir))
    if adapter_dir is not None:
        model.load_adapter(str(adapter_dir), load_as=adapter_name, set_active=True)
    model.eval()
    out = []
    with torch.inference_mode():
        for t in texts:
            enc = tok(
                [t],
                padding=True,
                truncation=True,
                return_tensors="pt",
                return_token_type_ids=False,
                max_length=512,
            )
            out.append(model(**enc).last_hidden_state[:, 0, :][0].numpy())
    return np.stack(out)


def paper_text(rec: dict[str, Any], sep: str = "[SEP]") -> str:
    return rec["title"] + sep + (rec.get("abstract") or "")


def read_output(outdir: Path) -> dict[Any, np.ndarray]:
    """id -> embedding for a Parquet OUTDIR, read with plain pyarrow."""
    t = pq.read_table(outdir)
    ids = t.column("id").to_pylist()
    emb = np.stack([np.asarray(v, dtype=np.float32) for v in t.column("embedding").to_pylist()])
    assert len(set(ids)) == len(ids), "duplicate ids in output"
    return dict(zip(ids, emb, strict=True))


def write_jsonl(path: Path, records: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


def tricky_papers() -> list[dict[str, Any]]:
    """Records that exercise the formatting edge cases."""
    long_abstract = " ".join(["transformer attention model"] * 400)  # far beyond 512 tokens
    return [
        {
            "id": 1,
            "title": "Graph neural networks for citation data",
            "abstract": "We study graphs.",
        },
        {"id": 2, "title": "A title with an empty abstract", "abstract": ""},
        {"id": 3, "title": "A title with a null abstract", "abstract": None},
        {"id": 4, "title": "No abstract field at all"},
        {
            "id": 5,
            "title": "Unicode: naïve Bayes, α-helix, 東京, résumé",
            "abstract": "Ångström — β decay",
        },
        {"id": 6, "title": "Very long abstract", "abstract": long_abstract},
        {"id": 7, "title": "short", "abstract": "the model of the data"},
        {"id": 8, "title": "Quantum field theory of stars", "abstract": "energy " * 30},
    ]
