"""Attack a real snf-serve on loopback (issue 13's cases) and print a before/after table.

    python bench/attack.py --before /tmp/i13-before/src --after src

Each SRC is a checkout's `src` folder: the server is run from it with this
interpreter (`PYTHONPATH=SRC python -c 'from snf.serve.cli import main; main()'`),
so main's server ("before") and this branch's ("after") meet the same attacks.
Everything is bounded: a few dozen sockets and uploads, tiny encodes (widths 8,16,
20 steps), about a minute a server; loopback only; every server is stopped at the end.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

TOKEN = "attack-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def tiny_png(w=32, h=32, seed=0) -> bytes:
    from PIL import Image
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png() -> bytes:
    """4000x4000 16-bit grey, all zero: about 30 kB of PNG, 16 Mpx of pixels."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.zeros((4000, 4000), np.uint16)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


class Server:
    def __init__(self, src: str, folder: Path, token: bool = True):
        self.folder, self.log = folder, folder.parent / f"{folder.name}.log"
        env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
        env.pop("SNF_TOKEN", None)
        if token:
            env["SNF_TOKEN"] = TOKEN
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from snf.serve.cli import main; main()", str(folder), "--port", "0",
             "--no-access-log", "--encode-threads", "1"], stdout=self.out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"at (http://127\.0\.0\.1:\d+)/", self.log.read_text())
            if m:
                try:
                    if httpx.get(m.group(1) + "/healthz", timeout=2).status_code == 200:
                        self.base = m.group(1)
                        host, port = self.base[7:].split(":")
                        self.addr = (host, int(port))
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
        raise SystemExit("server did not start: " + self.log.read_text()[-400:])

    def rss_mib(self, key="VmRSS") -> float:
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def status(data: bytes) -> str:
    try:
        return data.split(b" ", 2)[1].decode()
    except IndexError:
        return "none"


def raw(addr, request: bytes, timeout=5.0) -> bytes:
    try:
        with socket.create_connection(addr, timeout=timeout) as s:
            s.sendall(request)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            return data
    except OSError:
        return b""


def upload(base: str, png: bytes, **fields) -> httpx.Response:
    data = {"widths": "8,16", "steps": "20", **fields}
    return httpx.post(base + "/v1/assets", files={"file": ("u.png", png, "image/png")}, data=data,
                      headers=AUTH, timeout=60)


def jobs_case(src: str, work: Path, asset: bytes) -> dict:
    """Concurrency, queue bound, same-id uploads, and whether a clean stop counts as an attempt."""
    folder = work / "jobs"
    folder.mkdir()
    (folder / "demo.snf").write_bytes(asset)
    srv = Server(src, folder)
    out = {}
    try:
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            upload(srv.base, tiny_png(seed=99), id="same", widths="8", steps="1").status_code)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["4 same-id uploads at once: accepted"] = str(results.count(202))
        codes = [upload(srv.base, tiny_png(seed=i), id=f"q{i}", widths="8", steps="1").status_code for i in range(20)]
        out["20 more uploads: 202 / 429"] = f"{codes.count(202)} / {codes.count(429)}"
        db = sqlite3.connect(str(folder / ".snf-catalog.sqlite3"), timeout=30)
        peak, deadline = 0, time.monotonic() + 60
        while time.monotonic() < deadline:  # until 3 jobs have ended: the bug shows when one ends
            peak = max(peak, db.execute("SELECT COUNT(*) FROM jobs WHERE state='running'").fetchone()[0])
            if db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('done','failed')").fetchone()[0] >= 3:
                break
            time.sleep(0.05)
        out["encodes running at once (--workers 1), peak"] = str(peak)
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        out["... job states then"] = " ".join(f"{k}:{v}" for k, v in sorted(states.items()))
        queued_mb = sum(f.stat().st_size for f in (folder / ".snf-jobs").rglob("*") if f.is_file()) / 1e6
        out["bytes held in .snf-jobs (MB)"] = f"{queued_mb:.2f}"
        deadline = time.monotonic() + 30
        while not db.execute("SELECT COUNT(*) FROM jobs WHERE state='running' AND pid IS NOT NULL").fetchone()[0] \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        running = [r[0] for r in db.execute("SELECT id FROM jobs WHERE state='running'")]
        db.close()
    finally:
        srv.stop()
    db = sqlite3.connect(str(folder / ".snf-catalog.sqlite3"), timeout=30)
    attempts = [db.execute("SELECT attempts FROM jobs WHERE id=?", (j,)).fetchone()[0] for j in running]
    db.close()
    out["attempts of a job stopped by a clean restart"] = ",".join(map(str, attempts)) or "no job was running"
    return out


def memory_case(srv: Server) -> dict:
    before = srv.rss_mib()
    r = upload(srv.base, bomb_png(), id="bomb")
    time.sleep(0.5)
    return {"4000x4000 16-bit PNG upload (30 kB): status": str(r.status_code),
            "... server RSS growth (MiB)": f"{srv.rss_mib('VmHWM') - before:.0f}"}


def connection_case(srv: Server) -> dict:
    idle = [socket.create_connection(srv.addr, timeout=5) for _ in range(50)]
    slow = [socket.create_connection(srv.addr, timeout=5) for _ in range(50)]
    for s in slow:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: ")
    time.sleep(13)  # past a 10 s header timeout
    alive = 0
    for s in idle + slow:
        s.setblocking(False)
        try:
            s.recv(4096)  # b"" or a 408: the server let it go
        except BlockingIOError:
            alive += 1    # nothing to read and not closed: still held
        except OSError:
            pass
        s.close()
    paced = httpx.get(srv.base + "/v1/assets/demo/stream", params={"kbps": 1}, timeout=3,
                      headers={"Range": "bytes=0-0"})
    return {"100 idle + slowloris sockets still held after 13 s": str(alive),
            "?kbps=1 accepted": "yes" if paced.status_code < 400 else f"no ({paced.status_code})"}


def descriptor_case(srv: Server) -> dict:
    log_before = srv.log.stat().st_size
    in_use = len(os.listdir(f"/proc/{srv.proc.pid}/fd"))
    soft, hard = resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (in_use + 8, hard))
    codes = []
    try:
        socks = []
        for _ in range(60):
            try:
                socks.append(socket.create_connection(srv.addr, timeout=3))
            except OSError:
                pass
        for s in socks:
            try:
                s.sendall(b"GET /v1/assets/demo/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                pass
        for s in socks:
            try:
                codes.append(status(s.recv(64)))
            except OSError:
                codes.append("none")
            s.close()
        time.sleep(2)
    finally:
        resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
    time.sleep(1.5)
    ok = httpx.get(srv.base + "/healthz", timeout=10).status_code
    text = srv.log.read_text(errors="replace")[log_before:]
    return {"EMFILE (60 requests): 500 / 503 answers": f"{codes.count('500')} / {codes.count('503')}",
            "... log lines / tracebacks written": f"{text.count(chr(10))} / {text.count('Traceback')}",
            "... /healthz after": str(ok), "_log_sample": text[:3000]}


def input_case(srv: Server, asset: bytes) -> dict:
    sup = status(raw(srv.addr, b"GET /v1/assets/demo/levels/%C2%B2.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    rng = status(raw(srv.addr, b"GET /v1/assets/demo/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: bytes=0-"
                     + b"9" * 5000 + b"\r\n\r\n"))
    c = httpx.Client(base_url=srv.base, timeout=10)
    head = c.head("/v1/assets").status_code
    etag = c.head("/v1/assets/demo/stream").headers.get("etag", "")
    if_match = c.get("/v1/assets/demo/stream", headers={"If-Match": '"nope"'}).status_code
    ius = c.get("/v1/assets/demo/stream", headers={"If-Unmodified-Since": "Sat, 05 Nov 1994 08:49:37 GMT"}).status_code
    options = c.options("/v1/assets")
    jobs = c.get("/v1/jobs").status_code
    c.close()
    ino = format(os.stat(srv.folder / "demo.snf").st_ino, "x")
    return {"GET /levels/%C2%B2.png": sup, "Range: bytes=0-<5000 digits>": rng, "HEAD /v1/assets": str(head),
            "If-Match: \"nope\"": str(if_match), "If-Unmodified-Since: 1994": str(ius),
            "OPTIONS /v1/assets Allow": options.headers.get("allow", f"({options.status_code})"),
            "GET /v1/jobs without token": str(jobs),
            "ETag": "has the inode" if ino in etag else
                    ("content hash" if hashlib.sha256(asset).hexdigest()[:32] in etag else etag)}


def rewrite_case(srv: Server, asset: bytes) -> dict:
    path = srv.folder / "demo.snf"
    kbps = max(8, round(len(asset) * 8 / 1000 / 2))
    got = b""
    try:
        with httpx.stream("GET", srv.base + "/v1/assets/demo/stream", params={"kbps": kbps}, timeout=30) as r:
            for piece in r.iter_raw():
                if not got:
                    with open(path, "r+b") as f:
                        f.write(bytes(b ^ 0xFF for b in asset))
                got += piece
    except httpx.HTTPError:
        pass
    finally:
        path.write_bytes(asset)
    mixed = got != asset[:len(got)]
    return {"asset rewritten in place mid-stream": "mixed two versions" if mixed else
            f"not mixed ({len(got)} of {len(asset)} bytes, ended short)" if len(got) < len(asset) else "not mixed"}


def run_all(src: str, asset: bytes) -> dict:
    work = Path(tempfile.mkdtemp(prefix="snf-attack-"))
    try:
        results = {}
        results.update(jobs_case(src, work, asset))
        folder = work / "read"
        folder.mkdir()
        (folder / "demo.snf").write_bytes(asset)
        srv = Server(src, folder)
        try:
            results.update(input_case(srv, asset))
            results.update(rewrite_case(srv, asset))
            results.update(memory_case(srv))
            results.update(connection_case(srv))
            results.update(descriptor_case(srv))
        finally:
            srv.stop()
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", help="src folder of the server before the change (e.g. a checkout of main)")
    p.add_argument("--after", default="src", help="src folder of the server after (default: %(default)s)")
    p.add_argument("--asset", required=True, help="an .snf file to serve")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    asset = Path(args.asset).read_bytes()
    runs = {}
    for name in ("before", "after"):
        src = getattr(args, name)
        if src:
            print(f"attacking {name} ({src}) ...", file=sys.stderr, flush=True)
            runs[name] = run_all(src, asset)
    keys = [k for k in next(iter(runs.values())) if not k.startswith("_")]
    width = max(map(len, keys))
    print(f"| {'case':<{width}} | " + " | ".join(runs) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 12 for _ in runs) + "|")
    for k in keys:
        print(f"| {k:<{width}} | " + " | ".join(runs[n].get(k, "-") for n in runs) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
