"""What a device failure is, told from the exception alone (no torch import): a lack of
memory that a smaller batch may cure, or a CUDA failure the environment caused (exit 4)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from ..errors import EnvironmentProblem

MEMORY_ADVICE = (
    "Free the GPU's memory held by other processes (see nvidia-smi), lower --max-length, "
    "compute in float16 (--dtype float16) instead of float32, or run with --device cpu."
)


class DeviceError(EnvironmentProblem):
    """The device failed in a way the environment caused (exit 4); work already committed
    is kept. `row` is the window row of the record it is about, if one is; the pipeline
    names the record with `for_record`."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row

    def for_record(self, name: str) -> DeviceError:
        return type(self)(f"{name}: {self}", None)


class DeviceMemoryError(DeviceError):
    """The device ran out of memory where a smaller batch cannot help (exit 4)."""


class DeviceFailure(DeviceError):
    """A CUDA error that is not a lack of memory: driver, unsupported GPU, busy GPU (exit 4)."""


# cuBLAS creates its handle (and workspace) on first use: on a nearly full GPU that is
# where the lack of memory shows first, as NOT_INITIALIZED rather than ALLOC_FAILED.
_MEMORY_SIGNS = (
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUBLAS_STATUS_NOT_INITIALIZED",
    "can't allocate memory",
)
_CUDA_SIGNS = re.compile(
    r"CUDA error|CUDA driver|CUDA-capable device|CUBLAS_STATUS|CUDNN_STATUS|cuDNN error"
    r"|NVIDIA driver|no kernel image|CUDA kernel errors"
)


def is_out_of_memory(e: BaseException) -> bool:
    """A failed device allocation: torch's OutOfMemoryError, or cuBLAS/CUDA failing to
    allocate its workspace (reported as a RuntimeError)."""
    if type(e).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError, without importing torch
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and (
        "out of memory" in text.lower() or any(sign in text for sign in _MEMORY_SIGNS)
    )


def is_cuda_failure(e: BaseException) -> bool:
    """A CUDA error from the driver, runtime or a CUDA library that is not a lack of memory
    (torch raises these as RuntimeError, or its AcceleratorError subclass)."""
    if not isinstance(e, RuntimeError) or is_out_of_memory(e):
        return False
    return type(e).__name__ == "AcceleratorError" or bool(_CUDA_SIGNS.search(str(e)))


def cuda_failure(device: str, e: BaseException, what: str) -> DeviceFailure:
    """The exit-4 error for a CUDA failure on `device`: what failed and what to check."""
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "no kernel image" in str(e):
        hint = (
            "This torch build has no kernels for this GPU's architecture: install a torch "
            "build made for it (see `python -c 'import torch; print(torch.cuda.get_arch_list())'`)"
        )
    else:
        hint = (
            "Check the GPU with nvidia-smi: another process may hold it (compute mode "
            "Exclusive_Process) or its memory, the driver may be older than this torch's CUDA, "
            "or CUDA_VISIBLE_DEVICES may name the wrong GPU"
        )
    return DeviceFailure(
        f"{device} failed{' ' + what if what else ''} ({first[:300]}). {hint}; "
        "or run with --device cpu."
    )


@contextlib.contextmanager
def cuda_failures(device: str, what: str) -> Iterator[None]:
    """Inside: a CUDA failure becomes `DeviceFailure` (exit 4) naming `device`."""
    failure = None
    try:
        yield
    except RuntimeError as e:
        if not is_cuda_failure(e):
            raise
        failure = cuda_failure(device, e, what)
    if failure is not None:  # outside the handler: the failed frames are released first
        raise failure from None
