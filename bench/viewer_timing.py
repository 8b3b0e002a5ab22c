"""Time the browser viewer as a user sees it: headless Chromium (software WebGL), one .snf file.

For each link (every byte at once, and paced with ?kbps=N) one page load records,
from the page's own `window.snf`:
  - when level 1's bytes were complete and when the first picture appeared (any
    picture: a preview counts), and the gap between the two (goal: < 1.5 s);
  - when each level's full picture appeared, and the final level's delay after its
    bytes (goal: < 10 s without a GPU);
  - the longest main-thread task (PerformanceObserver 'longtask', installed by this
    script before the page runs, so old and new viewers are measured alike; goal: <= 100 ms),
    and (new viewer only) the longest synchronous step of the viewer's own code
    (`snf.spans`): on a loaded machine a long task also counts time the thread spent
    descheduled, which the step times do not.

`--renderer NAME` adds `renderer=NAME` to every load's query (webgl2: WebGL2 even on software
WebGL; fallback: as without a GPU; js: the render workers only); without it the page picks.

`--src DIR` runs the server (and so the viewer it serves) from another checkout's
src/ (e.g. a temporary worktree of main for the "before" column):

    git worktree add /tmp/snf-main main
    python bench/viewer_timing.py /tmp/k.snf --src /tmp/snf-main/src --label before --json /tmp/before.json
    python bench/viewer_timing.py /tmp/k.snf --label after --json /tmp/after.json
    python bench/viewer_timing.py --table /tmp/before.json /tmp/after.json

Timings depend on the machine's load (printed with the results); one run each.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LONG_TASKS = """
window.__longTasks = [];
try {
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push(e.duration); })
    .observe({ type: "longtask", buffered: true });
} catch (e) {}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: str, port: int, src: str | None) -> subprocess.Popen:
    import httpx
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.Popen([sys.executable, "-c", "from snf.serve.cli import main; main()", folder,
                             "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"],
                            env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("snf-serve did not start")


def one_load(browser, url: str, timeout_s: float, shot: str | None = None) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.add_init_script(LONG_TASKS)
    t0 = time.monotonic()
    page.goto(url)
    finished = True
    try:
        page.wait_for_function("window.snf && window.snf.done", timeout=timeout_s * 1000, polling=100)
    except Exception:
        finished = False
    wall = time.monotonic() - t0
    s = page.evaluate("""() => ({received: snf.levelsReceived, shown: snf.levelsShown,
        first: snf.firstPictureMs ?? (snf.levelsShown[0] ? snf.levelsShown[0].t_ms : null),
        renderer: snf.renderer, note: snf.rendererNote, long: window.__longTasks, error: snf.error,
        spans: snf.spans || null,
        levels: snf.header ? (snf.header.arch.widths || snf.header.arch.grids).length : null})""")
    if shot:
        page.screenshot(path=shot)
    page.close()
    s["finished"], s["wall_s"] = finished, wall
    return s


def summarise(s: dict) -> dict:
    # when each level's last byte was read (a latent level is decoded on a worker after that: arrived_ms)
    got = {r["level"]: r.get("arrived_ms", r["t_ms"]) for r in s["received"]}
    shown = {}
    for r in s["shown"]:
        shown.setdefault(r["level"], r["t_ms"])
    last = s["levels"]
    out = {
        "renderer": s["renderer"], "note": s["note"], "finished": s["finished"], "error": s["error"],
        "level1_bytes_ms": got.get(1), "first_picture_ms": s["first"],
        "first_after_bytes_ms": (s["first"] - got[1]) if s["first"] is not None and 1 in got else None,
        "shown_ms": {k: round(v) for k, v in sorted(shown.items())},
        "order": [r["level"] for r in s["shown"]],
        "sources": [r.get("source") for r in s["shown"]],
        "final_after_bytes_ms": (shown[last] - got[last]) if last in shown and last in got else None,
        # each level drawn (stale ones are skipped), after its own bytes
        "after_bytes_ms": {k: round(shown[k] - got[k]) for k in sorted(shown) if k in got},
        "longest_task_ms": max(s["long"] or [0]), "tasks_over_100ms": sum(d > 100 for d in s["long"] or []),
        "wall_s": round(s["wall_s"], 1),
        "own_longest_step_ms": max((s["spans"] or {}).values(), default=None), "own_steps_ms": s["spans"],
    }
    return out


def median_run(tries: list) -> dict:
    """The try whose first-picture delay is the median (a whole run, so its numbers belong together),
    with every try's key figures kept alongside."""
    key = lambda t: (t["first_after_bytes_ms"] is None, t["first_after_bytes_ms"] or 0)
    pick = dict(sorted(tries, key=key)[len(tries) // 2])
    pick["tries"] = [{k: t[k] for k in ("first_after_bytes_ms", "final_after_bytes_ms", "longest_task_ms",
                                         "own_longest_step_ms")} for t in tries]
    return pick


def run(args) -> dict:
    from playwright.sync_api import sync_playwright
    size = os.path.getsize(args.file)
    with tempfile.TemporaryDirectory() as folder:
        shutil.copyfile(args.file, os.path.join(folder, "asset.snf"))
        port = free_port()
        proc = serve(folder, port, args.src)
        results = {"label": args.label, "file": os.path.basename(args.file), "bytes": size,
                   "load_before": os.getloadavg()[0], "runs": {}}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for link in ["all", *(f"kbps={k}" for k in args.kbps)]:
                    parts = ([] if link == "all" else [link]) + ([f"renderer={args.renderer}"] if args.renderer else [])
                    query = f"?{'&'.join(parts)}" if parts else ""
                    shot = None
                    if args.shots:
                        os.makedirs(args.shots, exist_ok=True)
                        shot = os.path.join(args.shots, f"{args.label}-{link.replace('=', '')}.png")
                    tries = []
                    for _ in range(args.repeat):
                        # Every load starts cold: no level PNGs cached on the server.
                        shutil.rmtree(os.path.join(folder, ".snf-cache"), ignore_errors=True)
                        tries.append(summarise(one_load(browser, f"http://127.0.0.1:{port}/view/asset{query}",
                                                        args.timeout, shot)))
                        print(link, json.dumps(tries[-1]), flush=True)
                    results["runs"][link] = median_run(tries)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
        results["load_after"] = os.getloadavg()[0]
    return results


def fmt(v, unit="ms") -> str:
    if v is None:
        return "—"
    return f"{v / 1000:.2f} s" if unit == "s" else f"{v:.0f} ms"


def shown_order(s: dict) -> str:
    """'1,3 (workers, server PNG)': the levels drawn in order, and what drew each where known."""
    order = ",".join(map(str, s["order"])) or "—"
    return f"{order} ({', '.join(map(str, s['sources']))})" if s.get("sources") else order


def per_level(s: dict) -> str:
    """'1: 0.21 s, 3: 0.40 s': every level drawn, after its own bytes (older JSON lacks it)."""
    return ", ".join(f"{k}: {fmt(v, 's')}" for k, v in (s.get("after_bytes_ms") or {}).items()) or "—"


def table(paths: list) -> str:
    rows = [json.load(open(p)) for p in paths]
    links = list(rows[0]["runs"])
    lines = ["| link | viewer | renderer | level 1 bytes | first picture | first − bytes | levels shown (order) "
             "| each level − its bytes | final level − its bytes | longest main-thread task | tasks > 100 ms "
             "| viewer's longest own step | done |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for link in links:
        for r in rows:
            s = r["runs"].get(link)
            if not s:
                continue
            done = f"{s['wall_s']} s" if s["finished"] else f"not within {s['wall_s']} s"
            lines.append(f"| {link} | {r['label']} | {s['renderer']} | {fmt(s['level1_bytes_ms'], 's')} | "
                         f"{fmt(s['first_picture_ms'], 's')} | {fmt(s['first_after_bytes_ms'], 's')} | "
                         f"{shown_order(s)} | {per_level(s)} | {fmt(s['final_after_bytes_ms'], 's')} | "
                         f"{fmt(s['longest_task_ms'])} | {s['tasks_over_100ms']} | {fmt(s.get('own_longest_step_ms'))} | {done} |")
    for r in rows:
        for link, s in r["runs"].items():
            if len(s.get("tries", [])) > 1:
                each = "; ".join(f"{fmt(t['first_after_bytes_ms'], 's')} / {fmt(t['final_after_bytes_ms'], 's')} / "
                                 f"{fmt(t['longest_task_ms'])}" for t in s["tries"])
                lines.append(f"\n{r['label']}, {link}, every try (first − bytes / final − bytes / longest task): {each}")
    loads = ", ".join(f"{r['label']}: {r['load_before']:.1f}→{r['load_after']:.1f}" for r in rows)
    lines.append("")
    lines.append(f"File: {rows[0]['file']} ({rows[0]['bytes']} bytes). 1-minute load average during the runs: {loads}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", nargs="?", help=".snf file to stream")
    ap.add_argument("--src", help="run the server from this src/ folder (another checkout)")
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--renderer", choices=["webgl2", "fallback", "js"], help="force the page's renderer (query renderer=)")
    ap.add_argument("--kbps", type=int, nargs="*", default=[100], help="paced links to try (default 100)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait for a load to finish")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--shots", help="save a screenshot of each load's end state in this folder")
    ap.add_argument("--repeat", type=int, default=1, help="loads per link; the table shows the median one")
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print a markdown table of saved results")
    args = ap.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not args.file:
        ap.error("give a .snf file (or --table)")
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
