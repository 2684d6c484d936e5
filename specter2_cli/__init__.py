"""specter2_cli: SPECTER2 embeddings for millions of papers, from a workstation to a SLURM array.

The library API (torch loads only when one of these is first used)::

    from specter2_cli import ModelSettings, load_encoder, embed_files

    enc = load_encoder(ModelSettings(adapter="proximity"))        # load once
    vecs = enc.embed_texts([enc.format_paper(title, abstract)])    # numpy [n, 768]
    summary = embed_files(["papers.jsonl"], "out/", encoder=enc)   # the whole pipeline
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ModelSettings": "config",
    "EmbedSettings": "config",
    "FieldSettings": "config",
    "Encoder": "model.encoder",
    "load_encoder": "model.loader",
    "EmbedJob": "pipeline",
    "RunSummary": "pipeline",
    "StopFlag": "pipeline",
    "embed_files": "api",
    "embed_records": "api",
    "read_embeddings": "reader",
    "Embeddings": "reader",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
