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


# --- CI: a skip for a part CI installs is a failure ----------------------------------------
# Locally a missing C extension, Node, Chromium, test extra or git history skips the tests
# that need it. Under CI (CI=true, set by .ci/run and by hosted runners) those parts are
# installed, so such a skip means the install broke and the tests would pass by skipping:
# it fails instead. Only hardware absent by design may skip there: reasons that start with
# HARDWARE (CUDA, a GPU in the browser), raised through `hardware_skip`.

HARDWARE = "hardware:"
C_EXTENSIONS = ("snf.format._rans", "snf.decode._fastfield", "snf.format._latent", "snf.encode._thinmlp",
                "snf.encode._conv3x3", "snf.encode._bilinear")


def under_ci() -> bool:
    import os
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def hardware_skip(reason: str):
    """Skip for hardware CI does not have by design (allowed under CI too)."""
    pytest.skip(f"{HARDWARE} {reason}")


def _skip_reason(rep) -> str:
    lr = rep.longrepr
    text = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return text.removeprefix("Skipped: ")


def _fail_skip(rep, what: str) -> None:
    reason = _skip_reason(rep)
    if reason.startswith(HARDWARE):
        return
    rep.outcome = "failed"
    rep.longrepr = (f"{what} skipped under CI: {reason}\n(CI installs this part, so the skip means its "
                    f"install failed; only '{HARDWARE}' skips are allowed there: tests/conftest.py)")


def pytest_sessionstart(session):
    """Under CI the optional C extensions must have built (setuptools marks them optional, so
    a failed build installs silently and the C-vs-Python checks would skip)."""
    if not under_ci():
        return
    import importlib
    missing = []
    for name in C_EXTENSIONS:
        try:
            importlib.import_module(name)
        except ImportError as e:
            missing.append(f"{name} ({e})")
    if missing:
        pytest.exit("CI: the C extensions did not build: " + ", ".join(missing), returncode=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if under_ci() and rep.skipped and not hasattr(rep, "wasxfail"):
        _fail_skip(rep, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    if under_ci() and rep.skipped:  # a module-level importorskip
        _fail_skip(rep, collector.nodeid)
