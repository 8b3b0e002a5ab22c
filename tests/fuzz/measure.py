"""Before -> after table of issue 26's cases: status, peak memory, time.

    python tests/fuzz/measure.py BEFORE_SRC AFTER_SRC [--only ROW] > table.md

Each row runs the same crafted file (tests/hostile.py, valid CRCs) through one code
tree, then the other, in fresh processes (PYTHONPATH=<src>): a CLI under an
address-space cap of CAP_MB (a run past it dies: "cap"), or a fresh `snf-serve` on the
file's folder and one request (the server's resident memory before the request, and its
peak and current after; a render past TIMEOUT seconds is reported as such and the server
is killed). Peak memory of a CLI is the child's ru_maxrss. Figures depend on the machine:
the table says which and how loaded it was.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
CAP_MB = 6144
TIMEOUT = 60


def run_cli(src: str, argv: list, timeout: float = TIMEOUT, cap_mb: int = CAP_MB) -> dict:
    env = dict(os.environ, PYTHONPATH=src, OPENBLAS_NUM_THREADS="1")

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (cap_mb << 20, cap_mb << 20))
    t0 = time.perf_counter()
    peak = None
    try:  # /usr/bin/time -f %M: the child's own peak resident memory (KiB), on the last stderr line
        r = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, capture_output=True, timeout=timeout, env=env,
                           preexec_fn=cap)
        code, err = r.returncode, r.stderr.decode("utf-8", "replace")
        *rest, last = err.rstrip("\n").rsplit("\n", 1) if "\n" in err.rstrip("\n") else ("", err.strip())
        if last.strip().isdigit():
            peak, err = int(last) * 1024, "".join(rest)
        if "Command exited with non-zero status" in err:
            err = err[:err.rindex("Command exited")]
    except subprocess.TimeoutExpired:
        code, err = "timeout", f"still running after {timeout} s (killed)"
    secs = time.perf_counter() - t0
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    what = lines[-1] if lines else ""
    if "Traceback" in err:
        what = "traceback: " + what
    if "MemoryError" in err or "out of memory" in err:
        what = f"memory cap ({cap_mb} MiB) reached: " + what
    return {"status": code, "peak_mb": peak >> 20 if peak else None, "secs": round(secs, 2),
            "says": what[:160]}


def _rss(pid: int) -> tuple:
    """(VmRSS, VmHWM) of a process, MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = int(line.split()[1]) // 1024
    return out.get("VmRSS"), out.get("VmHWM")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(src: str, files: dict, requests: list, timeout: float = TIMEOUT) -> dict:
    """A fresh snf-serve on a folder of `files`; the requests (method, path) one after the other."""
    root = tempfile.mkdtemp(prefix="snf-measure-")
    for name, data in files.items():
        with open(os.path.join(root, name + ".snf"), "wb") as f:
            f.write(data)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=src, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([os.path.join(BIN, "snf-serve"), root, "--port", str(port), "--no-access-log",
                             "--log-level", "critical"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        rss0, _ = _rss(proc.pid)
        results = []
        for method, path in requests:
            t0 = time.perf_counter()
            try:
                rq = urllib.request.Request(base + path, method=method)
                with urllib.request.urlopen(rq, timeout=timeout) as r:
                    body = r.read()
                    status, says = r.status, f"{len(body)} bytes"
            except urllib.error.HTTPError as e:
                status = e.code
                try:
                    says = json.loads(e.read()).get("detail", "")
                except Exception:
                    says = ""
            except (TimeoutError, OSError) as e:
                status, says = "timeout", f"no answer within {timeout} s ({e.__class__.__name__})"
            results.append({"status": status, "secs": round(time.perf_counter() - t0, 2), "says": str(says)[:160]})
        rss1, hwm = _rss(proc.pid)
        return {"requests": results, "rss_before_mb": rss0, "rss_after_mb": rss1, "peak_mb": hwm}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        import shutil
        shutil.rmtree(root, ignore_errors=True)


def run_node(src: str, data: bytes, prefix: int | None = None) -> dict:
    """The viewer's Parser (of that tree) on the bytes (or a prefix), in Node: outcome and RSS."""
    with tempfile.NamedTemporaryFile(suffix=".snf", delete=False) as f:
        f.write(data[:prefix] if prefix else data)
    script = ("import { readFileSync } from 'node:fs';"
              f"import {{ Parser }} from '{src}/snf/viewer/snf-parse.js';"
              "const t = performance.now(); const p = new Parser(); p.feed(new Uint8Array(readFileSync(process.argv[1])));"
              "p.finish(); console.log(JSON.stringify({kind: p.error ? p.error.kind : null, levels: p.levels.length,"
              "says: p.error ? p.error.message.slice(0, 120) : '', ms: Math.round(performance.now() - t),"
              "rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20)}));")
    try:
        r = subprocess.run(["node", "--input-type=module", "-e", script, f.name], capture_output=True, text=True,
                           timeout=TIMEOUT)
        return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-200:]}
    finally:
        os.unlink(f.name)


def rows(tmp: str) -> list:
    """(row name, kind, how to run it on one tree)."""
    import hostile
    c = hostile.cases()
    heavy = hostile.siren("image", (256, 256), [2048] * 4, 3, arch_extra={"mode": "individual", "grow": "spatial"})
    c["heavy-4x2048"] = heavy  # within every new limit: 33.6M parameters, 4 levels
    paths = {}
    for name, data in c.items():
        paths[name] = os.path.join(tmp, name + ".snf")
        with open(paths[name], "wb") as f:
            f.write(data)
    dec = os.path.join(BIN, "snf-decode")
    info = os.path.join(BIN, "snf-info")
    out = os.path.join(tmp, "out")

    def cli(*argv):
        return lambda src: run_cli(src, list(argv))

    def srv(name, *reqs):
        return lambda src: run_server(src, {name.replace(".", "-"): c[name]}, list(reqs))

    def srv_all(*reqs):
        return lambda src: run_server(src, {n.replace(".", "-"): d for n, d in c.items()
                                           if n not in ("ancillary-2m", "heavy-4x2048")}, list(reqs))

    def pillow(name):
        code = ("import snf, sys; from PIL import Image; snf.register_pillow(); "
                f"im = Image.open({paths[name]!r}); print(im.size, file=sys.stderr)")
        return lambda src: run_cli(src, [sys.executable, "-c", code])

    return [
        ("billion-params: GET /levels/16.png (then again)", srv("billion-params", ("GET", "/v1/assets/billion-params/levels/16.png"),
                                                            ("GET", "/v1/assets/billion-params/levels/16.png"))),
        ("billion-params: snf-decode --level 1", cli(dec, paths["billion-params"], "-o", out + ".png", "--level", "1")),
        ("hour-render (4000x4000, 768x16): GET /levels/1.png", srv("hour-render", ("GET", "/v1/assets/hour-render/levels/1.png"))),
        ("hour-render: snf-decode", cli(dec, paths["hour-render"], "-o", out + ".png")),
        ("heavy-4x2048 (33.6M params, valid): snf-decode --level 1", cli(dec, paths["heavy-4x2048"], "-o", out + ".png",
                                                                          "--level", "1")),
        ("heavy-4x2048: Pillow Image.open", pillow("heavy-4x2048")),
        ("sdf size [512,1,1]: GET /levels/1.ply", srv("sdf-512x1x1", ("GET", "/v1/assets/sdf-512x1x1/levels/1.ply"))),
        ("sdf size [4,4,4]: GET /levels/1.ply", srv("sdf-side-4", ("GET", "/v1/assets/sdf-side-4/levels/1.ply"))),
        ("sdf transform \"abc\": snf-decode", cli(dec, paths["sdf-transform-abc"], "-o", out + ".ply")),
        ("bad files in DIR: GET /v1/assets, GET /", srv_all(("GET", "/v1/assets"), ("GET", "/"))),
        ("grid hidden [inf]: snf-info", cli(info, paths["grid-hidden-inf"])),
        ("grid layers 1.5: snf-info", cli(info, paths["grid-layers-1.5"])),
        ("nesting 1000 deep: snf-info", cli(info, paths["nesting-1000"])),
        ("levels \"abc\": snf-info", cli(info, paths["levels-wrong-type"])),
        ("width 800: GET /levels/1.png", srv("width-800", ("GET", "/v1/assets/width-800/levels/1.png"))),
        ("width 1 < d_in 3 (video): snf-decode", cli(dec, paths["width-1-video"], "-o", out + "-video", "--no-mp4")),
        ("size [64.0, 48.0], bit_depth 8.0: snf-decode", cli(dec, paths["integral-floats"], "-o", out + ".png")),
        ("requires [ESC...]: snf-info", cli(info, paths["requires-escape"])),
        ("2M ancillary chunks (28 MB): HEAD /stream x3", srv("ancillary-2m", *[("HEAD", "/v1/assets/ancillary-2m/stream")] * 3)),
        ("billion-params, 62 kB prefix: JS Parser", lambda src: run_node(src, c["billion-params"], 62_000)),
        ("nesting 1000 / bin+ext: JS vs Python", lambda src: {"nesting": run_node(src, c["nesting-1000"]),
                                                             "bin-ext": run_node(src, c["encoder-bin-ext"])}),
    ]


def main() -> None:
    before, after = sys.argv[1], sys.argv[2]
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    tmp = tempfile.mkdtemp(prefix="snf-cases-")
    result = {}
    for name, fn in rows(tmp):
        if only and only not in name:
            continue
        result[name] = {"before": fn(before), "after": fn(after)}
        print(json.dumps({name: result[name]}), flush=True)


if __name__ == "__main__":
    main()
