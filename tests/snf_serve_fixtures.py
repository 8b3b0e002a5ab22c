"""pytest plugin for server tests: a real `snf-serve` (uvicorn) on 127.0.0.1, tiny assets.

Use with `pytest_plugins = ["snf_serve_fixtures"]` in a test module: the
session-scoped server is then shared by every module that asks for it.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

BIN = Path(sys.executable).parent
TOKEN = "test-token-0123456789"


def tiny_png(path, w: int = 48, h: int = 32, seed: int = 7) -> str:
    from PIL import Image
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    rng = np.random.default_rng(seed)
    img = np.stack([0.5 + 0.4 * np.sin(6 * x + 3 * y), 0.5 + 0.4 * np.cos(9 * y - 2 * x),
                    0.5 + 0.3 * np.sin(15 * x * y)], -1) + 0.03 * rng.standard_normal((h, w, 3))
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(path)
    return str(path)


def encode(png: str, out: str, widths: str = "8,16,24", steps: int = 20) -> bytes:
    subprocess.run([str(BIN / "snf-encode"), png, "-o", out, "--widths", widths, "--steps", str(steps),
                    "--threads", "1", "--quiet"], check=True, timeout=120)
    return Path(out).read_bytes()


class Served:
    """A running snf-serve: `base` URL, its folder, its process and log file."""

    def __init__(self, folder, token: str | None, *extra: str):
        self.folder, self.log = Path(folder), Path(folder).parent / f"serve-{Path(folder).name}.log"
        env = {k: v for k, v in os.environ.items() if k != "SNF_TOKEN"}
        if token:
            env["SNF_TOKEN"] = token
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen([str(BIN / "snf-serve"), str(folder), "--host", "127.0.0.1", "--port", "0",
                                      "--encode-threads", "1", "--no-access-log", *extra],
                                     stdout=self.out, stderr=subprocess.STDOUT, env=env)
        self.base = self._wait()

    def _wait(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"snf-serve exited {self.proc.returncode}: {self.log.read_text()[-500:]}")
            m = re.search(r"at (http://127\.0\.0\.1:\d+)/", self.log.read_text())
            if m:
                try:
                    if httpx.get(m.group(1) + "/healthz", timeout=2).status_code == 200:
                        return m.group(1)
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("snf-serve did not become healthy")

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def snf_assets(tmp_path_factory) -> dict:
    """A served folder with `demo.snf` (48x32, 3 levels) and its bytes and level ends."""
    from snf.format.container import read
    work = tmp_path_factory.mktemp("snf-serve")
    folder = work / "assets"
    folder.mkdir()
    png = tiny_png(work / "tiny.png")
    raw = encode(png, str(folder / "demo.snf"))
    return {"dir": folder, "png": png, "raw": raw, "ends": read(raw, decode=False).ends, "work": work}


@pytest.fixture(scope="session")
def snf_server(snf_assets):
    """snf-serve over `snf_assets` with uploads enabled (token TOKEN)."""
    served = Served(snf_assets["dir"], TOKEN)
    yield served
    served.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def http(snf_server):
    """An HTTP client on the session's server."""
    with httpx.Client(base_url=snf_server.base, timeout=30) as c:
        yield c
