"""Image quality metrics, all on 8-bit pictures as a viewer sees them.

PSNR is computed on the decoded uint8 samples (as the paper and CompressAI do),
SSIM and MS-SSIM by `pytorch-msssim` (a maintained implementation with the
standard 11-tap Gaussian window and the five MS-SSIM scales). LPIPS needs the
`lpips` package and its backbone weights on disk; it is never downloaded at run
time: `lpips_status()` says why it is skipped instead of inventing a value.
"""
from __future__ import annotations

import math
import os

import numpy as np

# MS-SSIM downsamples four times and filters with an 11-tap window at the coarsest
# scale: pytorch-msssim asserts the smaller side exceeds (11 - 1) * 2**4 = 160.
MS_SSIM_MIN_SIDE = 161


def _as_uint8(img) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise TypeError(f"metrics take 8-bit pictures, got {a.dtype}")
    return a[..., None] if a.ndim == 2 else a


def mse(a, b) -> float:
    a, b = _as_uint8(a), _as_uint8(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr(a, b) -> float:
    """PSNR in dB of two uint8 pictures (peak 255); identical pictures give inf."""
    m = mse(a, b)
    return math.inf if m == 0 else 10 * math.log10(255.0 ** 2 / m)


def _nchw(img):
    import torch
    a = _as_uint8(img)
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))[None].astype(np.float32))


def ssim(a, b) -> float:
    """SSIM (Gaussian window 11, sigma 1.5, data range 255), averaged over channels."""
    from pytorch_msssim import ssim as _ssim
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(_ssim(_nchw(a), _nchw(b), data_range=255, size_average=True))


def ms_ssim(a, b) -> float | None:
    """MS-SSIM, or None when the picture is too small for its five scales (<= 160 px a side)."""
    from pytorch_msssim import ms_ssim as _ms_ssim
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    return float(_ms_ssim(_nchw(a), _nchw(b), data_range=255, size_average=True))


def ms_ssim_skip_reason(shape) -> str | None:
    if min(shape[:2]) < MS_SSIM_MIN_SIDE:
        return f"MS-SSIM skipped: the picture is {shape[1]}x{shape[0]}, it needs more than 160 pixels a side"
    return None


_LPIPS = None  # (model or None, reason or None), decided once per process


def lpips_status():
    """(callable(a, b) -> float, None) when LPIPS can run offline, else (None, reason)."""
    global _LPIPS
    if _LPIPS is None:
        _LPIPS = _load_lpips()
    return _LPIPS


def _load_lpips():
    try:
        import lpips  # noqa: F401  (imports torchvision)
    except Exception as e:  # ImportError, or torchvision failing to load beside this torch
        return None, f"the lpips package does not import here ({e.__class__.__name__}: {str(e)[:120]})"
    import torch
    # lpips builds torchvision's AlexNet with pretrained weights, which torchvision would
    # download; only go on if they are already in the local cache.
    ckpt = os.path.join(torch.hub.get_dir(), "checkpoints")
    have = os.path.isdir(ckpt) and any(f.startswith("alexnet") for f in os.listdir(ckpt))
    if not have:
        return None, f"AlexNet backbone weights are not in the local torch hub cache ({ckpt}); not downloading"
    try:
        model = lpips.LPIPS(net="alex", verbose=False).eval()
    except Exception as e:
        return None, f"lpips failed to load ({e.__class__.__name__}: {str(e)[:120]})"

    def score(a, b) -> float:
        with torch.no_grad():
            x, y = (_nchw(a) / 127.5 - 1, _nchw(b) / 127.5 - 1)
            return float(model(x, y).mean())
    return score, None


def lpips(a, b) -> float | None:
    fn, _ = lpips_status()
    return None if fn is None else fn(a, b)
