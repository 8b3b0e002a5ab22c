"""Shared fixtures: small synthetic images and tiny encodes (seconds, not minutes)."""
from __future__ import annotations

import numpy as np
import pytest


def synthetic_image(w: int = 40, h: int = 32, seed: int = 7) -> np.ndarray:
    """Smooth colour waves plus a little noise: something a small SIREN can fit."""
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    rng = np.random.default_rng(seed)
    img = np.stack([0.5 + 0.4 * np.sin(6 * x + 3 * y), 0.5 + 0.4 * np.cos(9 * y - 2 * x),
                    0.5 + 0.3 * np.sin(15 * x * y)], -1)
    img += 0.03 * rng.standard_normal(img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_image() -> np.ndarray:
    return synthetic_image()


@pytest.fixture(scope="session")
def tiny_png(tmp_path_factory, tiny_image) -> str:
    from PIL import Image
    path = tmp_path_factory.mktemp("img") / "tiny.png"
    Image.fromarray(tiny_image).save(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_encoded(tiny_image) -> dict:
    """A 3-level progressive encode of the tiny image (fixed seed)."""
    from snf.encode.encoder import compress
    return compress(tiny_image, widths=(8, 16, 24), layers=3, steps=150, lr=3e-3, seed=1)
