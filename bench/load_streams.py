"""Bounded load run on loopback: N concurrent paced streams against a real snf-serve.

    python bench/load_streams.py [--streams 200] [--seconds 3] [--asset FILE.snf] [--cap N]

Starts `snf-serve` on 127.0.0.1 (a free port) over a temporary folder holding one
asset (a 96x64 image encoded with 4 levels unless --asset is given), opens all
streams at once with `?kbps=` set so one stream lasts about --seconds, and
reports completed streams, errors, p50/p99 time to first level (client-side:
request sent -> level 1's last byte received), total time, the server's peak
memory (VmHWM from /proc), and /healthz latency polled every 50 ms throughout.
With --cap N the server runs with `--max-paced-streams N`; once every stream has
its response headers, one more paced stream is asked for: it must be refused
cleanly (503 with Retry-After). Every stream is checked byte for byte.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

BIN = Path(sys.executable).parent


def make_asset(folder: Path) -> Path:
    from PIL import Image
    h, w = 64, 96
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.stack([0.5 + 0.4 * np.sin(6 * x + 3 * y), 0.5 + 0.4 * np.cos(9 * y - 2 * x),
                    0.5 + 0.3 * np.sin(15 * x * y)], -1)
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / "bench.png")
    out = folder / "bench.snf"
    subprocess.run([str(BIN / "snf-encode"), str(folder / "bench.png"), "-o", str(out), "--widths", "16,32,48,64",
                    "--steps", "20", "--threads", "1", "--quiet"], check=True)
    (folder / "bench.png").unlink()
    return out


def start_server(folder: Path, log: Path, extra=()) -> tuple:
    out = open(log, "w")
    proc = subprocess.Popen([str(BIN / "snf-serve"), str(folder), "--host", "127.0.0.1", "--port", "0",
                             "--no-access-log", "--log-level", "warning", *extra],
                            stdout=out, stderr=subprocess.STDOUT)
    for _ in range(300):
        m = re.search(r"at (http://127\.0\.0\.1:\d+)/", log.read_text())
        if m:
            try:
                if httpx.get(m.group(1) + "/healthz", timeout=2).status_code == 200:
                    return proc, m.group(1)
            except httpx.TransportError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"snf-serve did not start: {log.read_text()[-300:]}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used: load-independent, unlike wall-clock figures."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


async def one_stream(url: str, raw: bytes, end1: int, started: list, finished: list) -> dict:
    """One GET over a plain asyncio connection: a client this light leaves the timing to the server
    (httpx's pool costs O(connections) per request: 1,000 at once took the client seconds)."""
    host, port, path = re.match(r"http://([^:/]+):(\d+)(/.*)", url).groups()
    t0 = time.monotonic()
    got, first, writer = bytearray(), None, None
    try:
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 20)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        started.append(1)
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            return {"error": f"HTTP {status}"}
        while piece := await reader.read(1 << 16):
            got += piece
            if first is None and len(got) >= end1:
                first = time.monotonic() - t0
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        return {"error": f"{e.__class__.__name__}: {e}"}
    finally:
        finished.append(1)
        if writer is not None:
            writer.close()
    if bytes(got) != raw:
        return {"error": f"wrong bytes ({len(got)} of {len(raw)})"}
    return {"first": first, "total": time.monotonic() - t0}


async def poll_health(base: str, stop: asyncio.Event, out: list) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
        while not stop.is_set():
            t = time.monotonic()
            try:
                ok = (await client.get(base + "/healthz")).status_code == 200
            except httpx.HTTPError:
                ok = False
            out.append((time.monotonic() - t, ok))
            await asyncio.sleep(0.05)


async def probe_cap(url: str, n: int, started: list, finished: list, out: dict) -> None:
    """Once all n streams have their headers, ask for one more paced stream."""
    deadline = time.monotonic() + 60
    while len(started) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    open_before = len(started) - len(finished)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
        r = await client.get(url)
        out.update(status=r.status_code, retry_after=r.headers.get("retry-after"),
                   streams_open=min(open_before, len(started) - len(finished)))


async def run_load(base: str, url: str, n: int, raw: bytes, end1: int, cap: int | None) -> tuple:
    started, finished, health, probe, stop = [], [], [], {}, asyncio.Event()
    pinger = asyncio.create_task(poll_health(base, stop, health))
    t0 = time.monotonic()
    extra = [probe_cap(url, n, started, finished, probe)] if cap else []
    results = await asyncio.gather(*(one_stream(url, raw, end1, started, finished) for _ in range(n)), *extra)
    wall = time.monotonic() - t0
    stop.set()
    await pinger
    return results[:n], wall, health, probe


def summarise(results, streams, raw, ends, kbps, wall, rss0, hwm, alive, health, probe) -> dict:
    ok = [r for r in results if "error" not in r]
    errors = [r["error"] for r in results if "error" in r]
    firsts = np.array([r["first"] for r in ok]) if ok else np.array([np.nan])
    totals = np.array([r["total"] for r in ok]) if ok else np.array([np.nan])
    return {
        "streams": streams, "completed": len(ok), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
        "file_bytes": len(raw), "level1_end": ends[0], "kbps": kbps,
        "first_level_p50_s": round(float(np.percentile(firsts, 50)), 3),
        "first_level_p99_s": round(float(np.percentile(firsts, 99)), 3),
        "first_level_ideal_s": round(ends[0] * 8 / (kbps * 1000), 3),
        "stream_p50_s": round(float(np.percentile(totals, 50)), 3),
        "stream_p99_s": round(float(np.percentile(totals, 99)), 3),
        "wall_s": round(wall, 3), "server_rss_before_mib": round(rss0 / 1024, 1),
        "server_peak_rss_mib": round(hwm / 1024, 1), "server_alive_after": alive, "cpus": os.cpu_count(),
        "healthz_polls": len(health), "healthz_failed": sum(not ok for _, ok in health),
        "healthz_p50_ms": round(1000 * float(np.percentile([t for t, _ in health] or [np.nan], 50)), 1),
        "healthz_p99_ms": round(1000 * float(np.percentile([t for t, _ in health] or [np.nan], 99)), 1),
        "healthz_max_ms": round(1000 * max([t for t, _ in health] or [np.nan]), 1),
        "cap_probe": probe or None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=200)
    p.add_argument("--seconds", type=float, default=3.0, help="paced duration of one stream")
    p.add_argument("--asset", help="an .snf file to serve (default: encode a small one)")
    p.add_argument("--cap", type=int, help="run the server with --max-paced-streams CAP and probe the cap")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # this client holds a socket per stream
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * args.streams + 256)), hard))
    work = Path(tempfile.mkdtemp(prefix="snf-load-"))
    folder = work / "assets"
    folder.mkdir()
    proc = None
    try:
        asset = shutil.copy(args.asset, folder / "bench.snf") if args.asset else make_asset(folder)
        raw = Path(asset).read_bytes()
        extra = ["--max-paced-streams", str(args.cap), "--max-connections", str(args.cap + 100)] if args.cap else []
        proc, base = start_server(folder, work / "serve.log", extra)
        ends = [lv["end"] for lv in httpx.get(f"{base}/v1/assets/bench").json()["levels"]]
        kbps = max(1, round(len(raw) * 8 / 1000 / args.seconds))
        rss0, cpu0 = proc_kib(proc.pid, "VmRSS"), cpu_seconds(proc.pid)
        results, wall, health, probe = asyncio.run(run_load(base, f"{base}/v1/assets/bench/stream?kbps={kbps}",
                                                            args.streams, raw, ends[0], args.cap))
        hwm, cpu = proc_kib(proc.pid, "VmHWM"), cpu_seconds(proc.pid) - cpu0
        load = os.getloadavg()[0]
        alive = proc.poll() is None
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        shutil.rmtree(work, ignore_errors=True)
    report = summarise(results, args.streams, raw, ends, kbps, wall, rss0, hwm, alive, health, probe)
    report.update(server_cpu_s=round(cpu, 2), load_average_1min=round(load, 1))
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{report['completed']}/{args.streams} streams completed, {report['errors']} errors "
              f"({len(raw):,} bytes each at {kbps} kbps; level 1 ends at byte {ends[0]:,})")
        print(f"time to first level: p50 {report['first_level_p50_s']:.3f} s, p99 {report['first_level_p99_s']:.3f} s "
              f"(pacing alone: {report['first_level_ideal_s']:.3f} s)")
        print(f"stream time: p50 {report['stream_p50_s']:.3f} s, p99 {report['stream_p99_s']:.3f} s; "
              f"all {args.streams} in {wall:.2f} s")
        print(f"server memory: {report['server_rss_before_mib']} MiB RSS before, peak {report['server_peak_rss_mib']} MiB "
              f"(VmHWM); {os.cpu_count()} CPUs")
        print(f"server CPU time for the run: {report['server_cpu_s']} s; machine load average {report['load_average_1min']}")
        print(f"/healthz during the run: {report['healthz_polls']} polls, {report['healthz_failed']} failed, "
              f"p50 {report['healthz_p50_ms']} ms, p99 {report['healthz_p99_ms']} ms, max {report['healthz_max_ms']} ms")
        if probe:
            print(f"stream {args.streams + 1} (cap {args.cap}, {probe['streams_open']} open): HTTP {probe['status']}, "
                  f"Retry-After {probe['retry_after']}")
        if report["errors"]:
            print("errors: " + "; ".join(report["error_kinds"]))
    return 0 if not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
