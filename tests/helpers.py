"""Independent references and small utilities shared by the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq


def _adapter_state(adapter_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(adapter_config.json, tensors) read with plain json / torch / safetensors."""
    import torch

    cfg = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if (adapter_dir / "adapter.safetensors").is_file():
        from safetensors.torch import load_file

        return cfg, load_file(str(adapter_dir / "adapter.safetensors"))
    return cfg, torch.load(adapter_dir / "pytorch_adapter.bin", weights_only=True)


def hooked_bert(base_dir: Path, adapter_dir: Path | None) -> Any:
    """The model-card model without the adapters library: a transformers BertModel with the
    seq_bn output bottleneck added by forward hooks on each layer's BertOutput.

    Written from the adapters 1.3.0 source (Adapter.pre_forward / forward / post_forward
    with SeqBnConfig), independently of specter2_cli's engine: BertOutput computes
    n = LN(h + x) from h = dense(ffn), and the hook returns LN(h + x + s·up(relu(down(n)))),
    the same LayerNorm applied a second time. Only SeqBnConfig's values are accepted.
    """
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(base_dir), dtype=torch.float32).eval()
    if adapter_dir is None:
        return model
    cfg, state = _adapter_state(adapter_dir)
    conf = cfg["config"]
    seq_bn = {"original_ln_before": True, "original_ln_after": True, "residual_before_ln": True,
              "ln_before": False, "ln_after": False, "mh_adapter": False, "output_adapter": True,
              "use_gating": False, "is_parallel": False}  # fmt: skip
    for key, value in seq_bn.items():
        assert conf[key] == value, f"the reference implements SeqBnConfig only ({key})"
    assert conf["non_linearity"].lower() == "relu"
    scaling = float(conf["scaling"])
    per_layer: dict[int, dict[str, Any]] = {}
    for key, tensor in state.items():
        layer = int(key.split("encoder.layer.")[1].split(".")[0])
        per_layer.setdefault(layer, {})[key.rsplit(".adapters.", 1)[1].split(".", 1)[1]] = tensor
    for i, layer in enumerate(model.encoder.layer):
        if i not in per_layer:
            assert i in conf.get("leave_out", []), f"no adapter weights for layer {i}"
            continue
        w = per_layer[i]

        def hook(module: Any, args: Any, output: Any, w: dict[str, Any] = w) -> Any:
            h = module.dense(args[0])
            x = args[1]
            down = torch.relu(output @ w["adapter_down.0.weight"].T + w["adapter_down.0.bias"])
            up = (down @ w["adapter_up.weight"].T + w["adapter_up.bias"]) * scaling
            return module.LayerNorm(up + h + x)

        layer.output.register_forward_hook(hook)
    return model


def model_card_embeddings(
    base_dir: Path, adapter_dir: Path | None, adapter_name: str, texts: list[str]
) -> np.ndarray:
    """The SPECTER2 model card recipe, one text at a time, fp32 on CPU (forward hooks instead
    of the adapters library; tests/test_adapters_library.py shows they agree)."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base_dir))
    model = hooked_bert(base_dir, adapter_dir)
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


def network_error(message: str = "[Errno -3] Temporary failure in name resolution") -> Exception:
    """What the installed huggingface_hub raises for a DNS or proxy failure: an httpx
    ConnectError from 1.x on (not an OSError), requests' ConnectionError before."""
    import importlib

    for module, name in (("httpx2", "ConnectError"), ("httpx", "ConnectError"),
                         ("requests", "ConnectionError")):  # fmt: skip
        try:
            return getattr(importlib.import_module(module), name)(message)  # type: ignore[no-any-return]
        except ImportError:
            continue
    return type("ConnectError", (Exception,), {"__module__": "httpx"})(message)


def hub_http_error(cls: type[Exception], status: int = 404) -> Exception:
    """A huggingface_hub HTTP error (RevisionNotFoundError, ...) as the installed version
    builds it: 0.x accepts response=None, 1.x and later need a response object."""
    import importlib

    try:
        return cls(str(status), response=None)  # type: ignore[call-arg]
    except (AttributeError, TypeError):
        pass
    for module in ("httpx2", "httpx"):
        try:
            http = importlib.import_module(module)
        except ImportError:
            continue
        request = http.Request("GET", "https://huggingface.co/api/models/x")
        return cls(str(status), response=http.Response(status, request=request))  # type: ignore[call-arg]
    raise RuntimeError("no HTTP library to build a response with")


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
