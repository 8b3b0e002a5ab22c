"""Where a run's results go and what is written beside them.

Every `snf-bench` command writes into one folder (default
`snf-bench-results/<command>-<time>/` in the current directory) and leaves a
`run.json` sidecar there with the exact command, the package versions and the
machine, so a figure can always be traced to what made it. Files are written
whole or not at all (`write_atomic`).
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from importlib import metadata

from snf.format.container import write_atomic

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


class BenchError(ValueError):
    """Bad input to a bench command: one line for the user."""


def default_out(command: str) -> str:
    return os.path.join("snf-bench-results", f"{command}-{time.strftime('%Y%m%d-%H%M%S')}")


def make_out(path: str | None, command: str) -> str:
    out = path or default_out(command)
    if os.path.exists(out) and not os.path.isdir(out):
        raise BenchError(f"--out {out}: exists and is not a folder")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise BenchError(f"--out {out}: cannot create it ({e.strerror})") from None
    return out


def list_images(folder: str, limit: int | None = None) -> list:
    """Image files directly in `folder`, sorted by name."""
    if not os.path.isdir(folder):
        raise BenchError(f"--images {folder}: not a folder")
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                   if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."))
    if not paths:
        raise BenchError(f"--images {folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return paths[:limit] if limit else paths


def load_rgb(path: str):
    """8-bit RGB (benchmarks compare codecs on colour pictures; alpha and grey are converted)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise BenchError(f"{path}: not a readable image ({e.__class__.__name__})") from None


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("snf", "torch", "numpy", "pillow", "pytorch-msssim", "imagecodecs", "matplotlib",
                "bjontegaard", "lpips"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def machine() -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def write_json(path: str, data) -> None:
    write_atomic(path, (json.dumps(data, indent=1, allow_nan=False) + "\n").encode(), durable=False)


def write_sidecar(out: str, command: str, argv: list, extra: dict | None = None) -> str:
    path = os.path.join(out, "run.json")
    write_json(path, {"command": shlex.join(["snf-bench"] + list(argv)),
                      "subcommand": command, "cwd": os.getcwd(),
                      "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "versions": versions(), "machine": machine(), **(extra or {})})
    return path


def compressai(name: str, description: str, per_image: dict, mean: dict, **extra) -> dict:
    """CompressAI results format: the mean curve in `results`, each image's under `per_image`."""
    return {"name": name, "description": description, "results": mean, "per_image": per_image, **extra}


def finite(x):
    """JSON has no inf/nan: None instead (identical pictures have infinite PSNR)."""
    import math
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
