"""torch's process-wide set-up for an encode: the one place that sets its CPU threads
and checks the device, so every front end (CLI, batch, server worker, Dask task,
`snf-bench`) gets the same answers and the same one-line errors.

Imports torch only when called: the front ends import this lazily, and their own
modules stay torch-free (tests/test_layout.py).
"""
from __future__ import annotations

TORCH_HINT = "encoding needs torch: pip install 'snf[encode]' (torch==2.13.0 on CPU)"


class SetupError(ValueError):
    """torch missing, or a device this machine does not have: one line for users."""


def torch_module():
    """torch, or SetupError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise SetupError(TORCH_HINT) from None
    return torch


def set_threads(threads: int | None) -> None:
    """Use `threads` CPU threads for training (None or 0: leave torch's default, all cores
    unless OMP_NUM_THREADS says otherwise). Process-wide: torch has one intra-op pool."""
    torch = torch_module()
    if threads:
        torch.set_num_threads(threads)


def check_device(device: str | None) -> None:
    """`--device cuda` on a machine without CUDA: one line, before any work."""
    torch = torch_module()
    if device and device.startswith("cuda") and not torch.cuda.is_available():
        raise SetupError(f"--device {device}: no CUDA device here (torch {torch.__version__}"
                         f"{'' if torch.version.cuda else ', a CPU-only build'})")


def prepare(threads: int | None = None, device: str | None = None) -> None:
    """Everything an encode needs from torch before it trains: threads, then the device check."""
    set_threads(threads)
    check_device(device)
