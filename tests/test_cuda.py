"""The CUDA path: `--device cuda` and the `paper` preset (full batch, for GPUs).

Skipped where torch sees no CUDA device (CI and the development machines are
CPU-only); the last test checks the CPU-only answer instead."""
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="hardware: no CUDA device (CPU-only machine)")
BIN = os.path.dirname(sys.executable)


@needs_cuda
def test_paper_preset_on_cuda(tiny_image):
    from snf.decode.decoder import decompress
    from snf.encode.encoder import compress
    out = compress(tiny_image, preset="paper", widths=(8, 16, 24), layers=3, steps=300, device="cuda")
    psnrs = [lv["psnr"] for lv in out["levels"]]
    assert psnrs == sorted(psnrs) and psnrs[-1] > 20
    assert out["header"]["encoder"]["preset"] == "paper"
    assert decompress(out["bytes"])["level"] == 3


@needs_cuda
def test_cli_device_cuda(tiny_png, tmp_path):
    out = tmp_path / "c.snf"
    r = subprocess.run([os.path.join(BIN, "snf-encode"), tiny_png, "-o", str(out), "--device", "cuda",
                        "--preset", "paper", "--widths", "8,16", "--layers", "2", "--steps", "50", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    from snf.format.container import read
    assert read(out.read_bytes()).complete


@pytest.mark.skipif(torch.cuda.is_available(), reason="hardware: this machine has CUDA")
def test_cli_device_cuda_without_cuda_is_one_line(tiny_png, tmp_path):
    out = tmp_path / "c.snf"
    r = subprocess.run([os.path.join(BIN, "snf-encode"), tiny_png, "-o", str(out), "--device", "cuda",
                        "--steps", "5"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "no CUDA device" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
