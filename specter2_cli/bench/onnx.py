"""Case o of `specter2 bench`: ONNX Runtime in fp32, what a CPU user would try next.

The graph is an ONNX export (TorchScript exporter, opset 17, dynamic batch and length)
of the fused engine's *padded* forward pass: the same computation as the model card
(the bench's accuracy line checks it like every case). The adapters model itself does
not export faithfully with `torch.onnx`: its ONNX outputs differed by ~0.5 from its own
eager outputs here. ORT runs the graph with all its graph optimisations plus the BERT
fusions of `onnxruntime.transformers.optimizer` (SkipLayerNorm, BiasGelu, ...), with as
many intra-op threads as torch uses, on the best plain recipe's batches (length-sorted,
token budget). ORT has no way to skip padding; the tool's CPU engine does. The optimiser
fuses less in this graph (BiasGelu, SkipLayerNorm) than in a plain `BertModel` export
(also Attention, EmbedLayerNorm); on the 2-core machine the plain export was not faster.

Needs `pip install 'specter2-cli[onnx]'` (onnxruntime, onnx).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("specter2")

ORT_HINT = "case o needs ONNX Runtime: pip install 'specter2-cli[onnx]' (onnxruntime, onnx)"


def ort_available() -> bool:
    """onnxruntime and onnx can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except Exception:  # missing, or installed but broken (a shared library that fails to load)
        return False
    return True


def export_fused(model: Any, adapter: str, path: Path) -> Path:
    """Export the fused engine's padded pass of `model` (adapter `adapter`) to ONNX at `path`."""
    import torch

    from ..model.fused import FusedBertEncoder

    fused = FusedBertEncoder.from_adapter_model(model, adapter).float().eval()
    fused.set_cpu_kernels(unpad=False, onednn=False)  # plain aten ops, an additive mask
    ids = torch.full((2, 8), 5, dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    mask[1, 6:] = 0  # padding in the example, so the masked branch is the one traced
    dynamic = {0: "batch", 1: "length"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer and deprecation notices
        torch.onnx.export(
            fused,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["cls"],
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic},
            opset_version=17,
            dynamo=False,
        )
    return path


def ort_session(path: Path, threads: int, heads: int, hidden: int) -> tuple[Any, dict[str, int]]:
    """An ORT CPU session on the BERT-optimised graph; also the fusions the optimiser applied."""
    import onnxruntime as ort

    fusions: dict[str, int] = {}
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden)
        fusions = {k: int(v) for k, v in opt.get_fused_operator_statistics().items() if v}
        path = path.with_suffix(".opt.onnx")
        opt.save_model_to_file(str(path))
    except Exception as e:  # the optimiser is a convenience; plain ORT still runs
        log.info("onnxruntime.transformers.optimizer not applied: %s", e)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]), fusions


class OrtForward:
    """`forward(input_ids, attention_mask) -> CLS [B, hidden]` through an ORT session."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __call__(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        out = self.session.run(
            None,
            {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()},
        )[0]
        return torch.from_numpy(out)
