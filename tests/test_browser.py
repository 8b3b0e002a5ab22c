"""The browser viewer in real headless Chromium (Debian's package, driven by Playwright).

A real `snf-serve` serves a tiny encode and a few synthetic files; the page must
show level 1 first (while a paced stream is still arriving, and when every byte
is there at once), skip stale levels, cancel renders nobody wants any more, fall
back to the server's PNGs without a GPU, resume a lost stream with a Range
request, and its pixels must match the numpy decoder on every path. The pages
for people (index, error pages, offline API docs) are checked here too.

Each state worth a look is saved as a screenshot in a folder this module prints
(`viewer-screenshots` under pytest's temporary directory); with
SNF_VIEWER_SCREENSHOTS=DIR they are also copied to DIR.
Chromium missing: skipped locally, a failure under CI (tests/conftest.py).
"""
from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import hardware_skip
from snf.field.arch import Arch
from snf.field.grid import GridArch
from snf.format.container import build, read
from snf.decode.decoder import decompress
from snf.format.quant import default_quant, encode_level

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PACED_SECONDS = 3.0
# Both renderers evaluate in float32 like numpy but sum in another order, so a
# sample that lies near a rounding boundary may land one step away.
TOLERANCE = 1            # largest difference in 8-bit samples from the numpy decoder
OFF_FRACTION = 0.01      # most samples allowed to differ at all


def _need_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)")  # a failure under CI (conftest)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"snf-serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("snf-serve did not become healthy")


def synthetic_asset(mode: str, d_out: int = 3, bits: int = 8, size=(40, 30), seed: int = 0,
                    widths=(6, 13, 20), grow: str = "spectral") -> bytes:
    """A SIREN-initialised field (no training, no torch) in the real container; a `size` of
    three sides makes a video (x, y, t)."""
    arch = Arch(tuple(widths), layers=3, d_in=len(size), d_out=d_out, mode=mode, grow=grow)
    quant = default_quant(bits)
    rng = np.random.default_rng(seed)
    payloads = []
    for k in range(1, arch.levels + 1):
        tensors = [_init_block(blk, arch, rng) for blk in arch.blocks(k)]
        payloads.append(encode_level(arch, k, tensors, quant)[0])
    header = {
        "signal": "image" if len(size) == 2 else "video", "size": list(size), "channels": d_out, "arch": arch.to_dict(),
        **({"coords": {"range": [-1.0, 1.0], "grid": "linspace", "order": "xy"}} if len(size) == 2 else {}),
        "values": {"range": [-1.0, 1.0], "bit_depth": 8}, "quant": quant,
        "levels": [{"psnr": 20.0 + k, "psnr_float": 21.0 + k, "steps": 0} for k in range(arch.levels)],
        "encoder": {"name": "test", "version": "0", "preset": "none", "seed": seed, "budget": "steps"},
    }
    return build(header, payloads)


def _init_block(blk, arch: Arch, rng) -> np.ndarray:
    fan_in = arch.d_in if blk.tensor == "l0.w" else arch.widths[-1]
    if blk.tensor == "l0.w":
        bound = 1.0 / arch.d_in
    elif blk.tensor == "out.w":
        bound = np.sqrt(6 / fan_in)
    elif blk.cols is None:
        bound = 1.0 / np.sqrt(fan_in)
    else:
        bound = np.sqrt(6 / fan_in) / arch.w0
    return rng.uniform(-bound, bound, blk.shape).astype(np.float32)


SYNTHETIC = {
    "prog": dict(mode="progressive"),
    "slim": dict(mode="slimmable", seed=1),
    "indiv": dict(mode="individual", seed=2),
    "grey12": dict(mode="progressive", d_out=1, bits=12, seed=3),  # int16 payloads, one channel
}
# A full-size picture whose last level is slow for the JS renderer (about 19k multiply-adds a
# pixel, seconds even on several workers) and quick for the server's numpy: for cancelling
# and for the PNG fallback winning the race.
BIG = dict(mode="progressive", size=(768, 512), seed=4, widths=(8, 32, 96))
# Grown in the signal's domain: one equal-width network per stripe (mode individual), and a
# video whose levels add windows of frames (rendered by the server, played by the page).
STRIPES = dict(mode="individual", grow="spatial", seed=5, widths=(6, 6, 6))
VIDEO = dict(mode="progressive", grow="temporal", size=(24, 16, 6), seed=6)
GRID_LEVELS = "3.2:5,1:9,0:6"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A real snf-serve over a folder holding a tiny encode and the synthetic files."""
    _need_chromium()
    folder = tmp_path_factory.mktemp("served")
    from PIL import Image
    png = folder.parent / "tiny64.png"
    Image.fromarray(_image_64x48()).save(png)
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "snf-encode"), str(png), "-o", str(folder / "tiny.snf"), "--widths", "8,16,24,32",
                    "--steps", "20", "--threads", "1", "--quiet"], check=True, timeout=120)
    # A latent-grid field (format_spec.md section 9): several grids per level, widths that are
    # not multiples of 4 and feature counts 2, 3, 4, so the WebGL path's padding is exercised.
    subprocess.run([str(bindir / "snf-encode"), str(png), "-o", str(folder / "grid.snf"), "--field", "grid",
                    "--grid", GRID_LEVELS, "--steps", "150", "--seed", "3", "--threads", "1", "--quiet"],
                   check=True, timeout=120)
    for name, kw in SYNTHETIC.items():
        (folder / f"{name}.snf").write_bytes(synthetic_asset(**kw))
    (folder / "big.snf").write_bytes(synthetic_asset(**BIG))
    (folder / "stripes.snf").write_bytes(synthetic_asset(**STRIPES))
    (folder / "video.snf").write_bytes(synthetic_asset(**VIDEO))
    port = _free_port()
    proc = _serve(folder, port)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "dir": folder}
    finally:
        _stop(proc)


def _serve(folder: Path, port: int) -> subprocess.Popen:
    bindir = Path(sys.executable).parent
    proc = subprocess.Popen([str(bindir / "snf-serve"), str(folder), "--host", "127.0.0.1", "--port", str(port),
                             "--no-access-log", "--log-level", "warning"])
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
    except BaseException:
        _stop(proc)
        raise
    return proc


def _stop(proc: subprocess.Popen, kill: bool = False) -> None:
    proc.kill() if kill else proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Save screenshots for review: shots(page, name). Printed folder; also copied to the folder
    $SNF_VIEWER_SCREENSHOTS names, when set."""
    folder = tmp_path_factory.mktemp("viewer-screenshots")
    print(f"\nviewer screenshots: {folder}")
    keep = os.environ.get("SNF_VIEWER_SCREENSHOTS")

    def save(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path))
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copyfile(path, Path(keep) / path.name)
        return path
    return save


def _image_64x48() -> np.ndarray:
    """Smooth colour waves: something a tiny field can start to fit in 20 steps."""
    y, x = np.mgrid[0:48, 0:64] / 64
    img = np.stack([0.5 + 0.4 * np.sin(6 * x + 3 * y), 0.5 + 0.4 * np.cos(9 * y - 2 * x),
                    0.5 + 0.3 * np.sin(15 * x * y)], -1)
    return (img * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _watch(page) -> list:
    """Uncaught page errors and console errors (a resource the test makes fail is not one)."""
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text
            else None)
    return errors


@pytest.fixture
def page(browser):
    page = browser.new_page()
    errors = _watch(page)
    yield page
    page.close()
    assert not errors, f"errors in the page: {errors}"


def reference(path: Path, level: int) -> np.ndarray:
    return decompress(path.read_bytes(), level=level)["image"].astype(int)


def as_image(rgba, like: np.ndarray) -> np.ndarray:
    """RGBA from the page (a list, or base64 from snf.pixels('base64')) shaped like the reference."""
    h, w, c = like.shape
    flat = np.frombuffer(base64.b64decode(rgba), np.uint8) if isinstance(rgba, str) else np.asarray(rgba)
    return flat.astype(int).reshape(h, w, 4)[..., :c]


def page_pixels(page):
    return page.evaluate("window.snf.pixels('base64')")


def assert_matches(rgba: list, ref: np.ndarray, what: str = "") -> None:
    diff = np.abs(as_image(rgba, ref) - ref)
    assert diff.max() <= TOLERANCE, f"{what}: off by up to {diff.max()}"
    assert (diff > 0).mean() <= OFF_FRACTION, f"{what}: {(diff > 0).mean():.1%} of samples differ"


def wait_done(page, timeout_ms: int = 20000) -> dict:
    page.wait_for_function("window.snf && window.snf.done", timeout=timeout_ms)
    return page.evaluate("JSON.parse(JSON.stringify({...window.snf, header: null}))")


@pytest.mark.parametrize("renderer", ["webgl2", "js"])
def test_paced_stream_shows_level_1_early_and_ends_on_the_decoder_picture(site, page, renderer):
    path = site["dir"] / "tiny.snf"
    size = path.stat().st_size
    kbps = max(8, round(size * 8 / PACED_SECONDS / 1000))  # 8: the slowest pacing the server accepts
    query = f"?kbps={kbps}&renderer={renderer}"
    page.goto(f"{site['base']}/view/tiny{query}")
    snf = wait_done(page)
    if renderer == "webgl2" and snf["webgl"] == "unavailable":
        pytest.skip(f"this Chromium has no WebGL2 with float targets: {snf['rendererNote']}")
    assert snf["renderer"] == renderer
    assert snf["error"] is None
    first = snf["levelsShown"][0]
    assert first["level"] == 1
    assert first["t_ms"] < snf["streamEndMs"], "level 1 appeared only after the stream ended"
    assert first["bytes"] < size
    assert snf["streamEndMs"] > 1000 * PACED_SECONDS / 2, "the stream was not paced"
    levels = read(path.read_bytes()).arch.levels
    assert snf["current"] == levels
    ref = reference(path, levels)
    assert_matches(page_pixels(page), ref, f"{renderer} level {levels}")
    assert "level 4 of 4" in page.inner_text("#shown")
    assert "stream ended" in page.inner_text("#arriving")
    # The level picker shows any received level; so do the keys 1-9 and the arrows.
    page.click("#levels button:nth-child(2)")
    page.wait_for_function("window.snf.current === 2")
    assert_matches(page_pixels(page), reference(path, 2), f"{renderer} picked level 2")
    assert page.get_attribute("#levels button:nth-child(2)", "aria-pressed") == "true"
    page.keyboard.press("1")
    page.wait_for_function("window.snf.current === 1")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("window.snf.current === 2")
    page.keyboard.press("End")
    page.wait_for_function("window.snf.current === 4")
    assert_matches(page_pixels(page), ref, f"{renderer} level 4 again (from the cache)")


JS_EVERY_LEVEL = """async ([ids, tile]) => {
  const { Parser } = await import('/static/snf-parse.js');
  const { buildNetwork } = await import('/static/snf-model.js');
  const { toRGBA } = await import('/static/snf-image.js');
  const { JsRenderer } = await import('/static/render-js.js');
  const { WebGLRenderer } = await import('/static/render-webgl.js');
  let gl = null;
  try { gl = new WebGLRenderer({ tile }); } catch (e) { gl = null; }
  const out = {};
  for (const id of ids) {
    const bytes = new Uint8Array(await (await fetch(`/v1/assets/${id}/stream`)).arrayBuffer());
    const p = new Parser();
    p.feed(bytes);
    if (p.error || !p.complete) throw new Error(`${id}: ${p.error}`);
    const [w, h] = p.header.size;
    out[id] = [];
    for (let k = 1; k <= p.levels.length; k++) {
      const net = buildNetwork(p.arch, p.levels, k);
      const px = async (r) => Array.from(toRGBA(await r.render(net, w, h), p.arch.d_out, p.header.values.range));
      out[id].push({ js: await px(new JsRenderer()), webgl: gl ? await px(gl) : null });
    }
  }
  return out;
}"""


def test_every_mode_and_level_matches_the_numpy_decoder(site, page):
    """Progressive, slimmable, individual, 12-bit grey: every level, both renderers, tiled WebGL."""
    page.goto(f"{site['base']}/view/tiny?renderer=js")
    wait_done(page)
    got = page.evaluate(JS_EVERY_LEVEL, [list(SYNTHETIC), 16])
    for name in SYNTHETIC:
        path = site["dir"] / f"{name}.snf"
        assert len(got[name]) == 3
        for k, renders in enumerate(got[name], 1):
            ref = reference(path, k)
            for which, rgba in renders.items():
                if rgba is None:
                    continue  # no WebGL2 here; the paced test reports that as a skip
                assert_matches(rgba, ref, f"{name} level {k} {which}")
    # Levels differ from each other, so matching each one is not matching a constant.
    ref = [reference(site["dir"] / "slim.snf", k) for k in (1, 3)]
    assert np.abs(ref[0] - ref[1]).max() > 10


GRID_EVERY_LEVEL = """async ([sizes, order]) => {
  const { Parser } = await import('/static/snf-parse.js');
  const { gridNet } = await import('/static/render-grid-js.js');
  const { toRGBA } = await import('/static/snf-image.js');
  const { JsRenderer } = await import('/static/render-js.js');
  const { WebGLRenderer } = await import('/static/render-webgl.js');
  const { WorkerPool } = await import('/static/render-pool.js');
  const { GridWebGL } = await import('/static/render-grid-webgl.js');
  let gl = null, wide = null;
  try { gl = new WebGLRenderer(); wide = new GridWebGL(new WebGLRenderer()); } catch (e) { gl = null; }
  if (wide) wide.force = { textureWeights: true, loops: true };  // the paths of networks too wide to unroll
  const pool = new WorkerPool(2);
  const bytes = new Uint8Array(await (await fetch('/v1/assets/grid/stream')).arrayBuffer());
  const p = new Parser();
  p.feed(bytes);
  if (p.error || !p.complete) throw new Error(`grid: ${p.error}`);
  const fmt = { dOut: p.arch.d_out, range: p.header.values.range, bitDepth: 8 };
  const rgba = (v) => Array.from(toRGBA(v, p.arch.d_out, p.header.values.range));
  const out = [];
  for (const [w, h] of sizes) {
    // WebGL2 in the given level order: each next level drawn on the kept sum of the one before,
    // a lower one from scratch.
    for (const k of order) {
      const net = gridNet(p.arch, p.levels, k);
      out.push({ w, h, k, which: 'webgl', rgba: gl ? rgba(await gl.render(net, w, h)) : null });
      out.push({ w, h, k, which: 'webgl samples', rgba: gl ? Array.from(await gl.render(net, w, h, { rgba: fmt })) : null });
      out.push({ w, h, k, which: 'webgl wide', rgba: wide ? rgba(await wide.render(net, w, h)) : null });
    }
    // The page's JS and the workers: each level from scratch, and each on the sums of the one before.
    let sumsJs = null, sumsPool = null;
    for (let k = 1; k <= p.levels.length; k++) {
      const net = gridNet(p.arch, p.levels, k), onKept = gridNet(p.arch, p.levels, k, k - 1);
      out.push({ w, h, k, which: 'js', rgba: rgba(await new JsRenderer().render(net, w, h)) });
      out.push({ w, h, k, which: 'workers', rgba: Array.from(await pool.render(net, w, h, { rgba: fmt })) });
      const [nextJs, nextPool] = [0, 1].map(() => new Float32Array(w * h * p.arch.d_out));
      out.push({ w, h, k, which: 'js on kept', rgba: rgba(await new JsRenderer().render(onKept, w, h, { base: sumsJs, sums: nextJs })) });
      out.push({ w, h, k, which: 'workers on kept', rgba: Array.from(await pool.render(onKept, w, h, { rgba: fmt, base: sumsPool, sums: nextPool })) });
      [sumsJs, sumsPool] = [nextJs, nextPool];
    }
  }
  return { out, webgl: gl !== null };
}"""


def test_grid_field_matches_the_decoder_on_webgl2_js_and_workers(site, page):
    """A latent-grid field, every level, stored size and another one: WebGL2 (levels drawn in
    stream order on the kept sum, then a lower level and a higher one again), the page's JS
    renderer and the render workers (from scratch, and each level on the sums of the one before)
    all within one 8-bit step of snf-decode's numpy."""
    from snf.decode.decoder import render_image
    path = site["dir"] / "grid.snf"
    parsed = read(path.read_bytes())
    assert isinstance(parsed.arch, GridArch) and parsed.arch.levels == 3
    page.goto(f"{site['base']}/view/tiny?renderer=js")
    wait_done(page)
    order = [1, 2, 3, 1, 3, 2, 2]
    got = page.evaluate(GRID_EVERY_LEVEL, [[[64, 48], [37, 23]], order])
    if not got["webgl"]:
        print("no WebGL2 with float targets in this Chromium: only the JS renderers were checked")
    refs = {}
    for r in got["out"]:
        if r["rgba"] is None:
            continue
        key = (r["w"], r["h"], r["k"])
        if key not in refs:
            refs[key] = render_image(parsed, r["k"], (r["w"], r["h"])).astype(int)
        assert_matches(r["rgba"], refs[key], f"grid level {r['k']} at {r['w']}x{r['h']} {r['which']}")
    assert {r["which"] for r in got["out"] if r["rgba"] is not None} >= {"js", "workers", "js on kept", "workers on kept"}
    # Levels differ and the picture is not flat, so matching is not matching a constant.
    ref1, ref3 = refs[(64, 48, 1)], refs[(64, 48, 3)]
    assert ref3.std() > 20 and np.abs(ref1 - ref3).max() > 10


@pytest.mark.parametrize("renderer", ["webgl2", "fallback", "js"])
def test_a_grid_file_streams_level_by_level_off_the_main_thread(site, page, renderer):
    """The page renders a grid file with WebGL2 or the render workers (never the page's own JS),
    level 1 first, the previous level on screen until the next replaces it, and ends on
    snf-decode's picture."""
    path = site["dir"] / "grid.snf"
    size = path.stat().st_size
    kbps = max(8, round(size * 8 / PACED_SECONDS / 1000))
    page.goto(f"{site['base']}/view/grid?renderer={renderer}&kbps={kbps}")
    snf = wait_done(page)
    if renderer == "webgl2" and snf["webgl"] == "unavailable":
        pytest.skip(f"this Chromium has no WebGL2 with float targets: {snf['rendererNote']}")
    assert snf["error"] is None and snf["renderer"] == renderer
    shown = snf["levelsShown"]
    # (The file is about 1 kB: at the server's slowest pace it is all there within about a second,
    # so whether level 1 beats the stream's end depends on the machine's load; not asserted.)
    assert shown[0]["level"] == 1 and len(snf["levelsReceived"]) == 3
    assert [s["level"] for s in shown] == sorted(s["level"] for s in shown) and shown[-1]["level"] == 3
    engine = {"webgl2": {"webgl2"}, "js": {"workers"}, "fallback": {"workers", "server PNG"}}[renderer]
    assert {s["source"] for s in shown} <= engine, shown
    assert snf["workers"] >= (0 if renderer == "webgl2" else 1)
    # At most a preview of level 1 (nothing on screen yet); later levels replace a full picture.
    assert all(p["level"] == 1 for p in snf["previews"]), snf["previews"]
    assert_matches(page_pixels(page), reference(path, 3), f"grid {renderer}")
    page.keyboard.press("1")
    page.wait_for_function("window.snf.current === 1")
    assert_matches(page_pixels(page), reference(path, 1), f"grid {renderer} level 1 picked")


@pytest.mark.parametrize("level", [1, 3])
def test_stripes_of_equal_width_networks_arrive_and_match_the_decoder(site, page, level):
    """Spatial growth, mode individual (equal widths, one network per stripe): the page accepts
    the file, draws level k's stripes (each from its own network) and leaves the rest clear."""
    page.goto(f"{site['base']}/view/stripes?renderer=js&level={level}")
    snf = wait_done(page)
    assert snf["error"] is None and snf["current"] == level
    ref = decompress((site["dir"] / "stripes.snf").read_bytes(), level=level)["image"].astype(int)
    h, w = ref.shape[:2]
    got = np.frombuffer(base64.b64decode(page_pixels(page)), np.uint8).astype(int).reshape(h, w, 4)
    stop = level * w // 3
    assert_matches(base64.b64encode(got[:, :stop].astype(np.uint8).tobytes()).decode(), ref[:, :stop, :3],
                   f"stripes level {level}")
    assert (got[:, stop:, 3] == 0).all()
    if level == 3:  # each stripe from its own network: level 3's network alone differs on stripe 1
        from snf.decode.render import Network, to_samples
        parsed = read((site["dir"] / "stripes.snf").read_bytes())
        alone = to_samples(Network(parsed.arch, parsed.levels, 3).grid((w, h)), (-1.0, 1.0)).reshape(h, w, 3)
        assert np.abs(alone[:, :w // 3].astype(int) - ref[:, :w // 3, :3]).max() > 10


def test_a_video_level_plays_in_the_page(site, page):
    """Temporal growth: each level's frames (the server's strip) play in the page, level by level."""
    page.goto(f"{site['base']}/view/video")
    page.wait_for_function("window.snf && window.snf.playing && window.snf.playing.level === 3 "
                           "&& window.snf.playing.drawn >= 3", timeout=20000)
    snf = wait_done(page)
    assert snf["error"] is None
    assert snf["playing"]["frames"] == 6  # level 3 of 3 covers all 6 frames
    assert [s["level"] for s in snf["levelsShown"]][-1] == 3
    frames = page.evaluate("""() => { const c = document.querySelector('#remote canvas');
        return [c.tagName, c.width, c.height]; }""")
    assert frames == ["CANVAS", 24, 16]


def _damaged(data: bytes, how: str) -> bytes:
    ends = read(data).ends          # file offset just past each level's chunk
    if how == "corrupt":
        cut = bytearray(data)
        cut[ends[1] + 12] ^= 0xFF   # a byte of level 3's data: its CRC no longer matches
        return bytes(cut)
    return data[: ends[2] - 5]      # stops inside level 3's chunk


@pytest.mark.parametrize("how, message", [("corrupt", "level 3 chunk is corrupt"),
                                          ("truncated", "truncated: level 3 of 4 incomplete")])
def test_a_damaged_level_is_reported_and_earlier_levels_stay(site, page, how, message):
    data = _damaged((site["dir"] / "tiny.snf").read_bytes(), how)
    page.route("**/v1/assets/tiny/stream*", lambda route: route.fulfill(
        status=200, body=data, headers={"content-type": "application/vnd.snf"}))
    page.goto(f"{site['base']}/view/tiny?renderer=js")
    snf = wait_done(page)
    assert snf["error"] and message in snf["error"]
    assert message in page.inner_text("#error")
    assert snf["current"] == 2 and max(s["level"] for s in snf["levelsShown"]) == 2
    assert "showing level 2" in page.inner_text("#error")
    if how == "truncated":
        assert "(file incomplete)" in page.inner_text("#arriving")
    ref = reference(site["dir"] / "tiny.snf", 2)
    assert_matches(page_pixels(page), ref, "level 2")


def test_a_corrupt_header_says_so_instead_of_a_blank_page(site, page):
    data = bytearray((site["dir"] / "tiny.snf").read_bytes())
    data[20] ^= 0xFF                # inside the header chunk's msgpack
    page.route("**/v1/assets/tiny/stream*", lambda route: route.fulfill(
        status=200, body=bytes(data), headers={"content-type": "application/vnd.snf"}))
    page.goto(f"{site['base']}/view/tiny?renderer=js")
    snf = wait_done(page)
    assert snf["current"] is None and "corrupt" in snf["error"]
    assert "corrupt" in page.inner_text("#error")
    assert page.inner_text("#shown") == "nothing on screen yet"


# ------------------------------------------------------------------ coarse first, cancelling, fallback

@pytest.mark.parametrize("renderer", ["js", "fallback"])
def test_all_bytes_at_once_still_draw_level_1_first(site, page, renderer):
    """No pacing: every level arrives in the first read, yet level 1 is on screen first."""
    page.goto(f"{site['base']}/view/tiny?renderer={renderer}")
    snf = wait_done(page)
    received = snf["levelsReceived"]
    assert received[-1]["t_ms"] - received[0]["t_ms"] < 1000 and len(received) == 4, "bytes were not all there at once"
    drawn = [s["level"] for s in snf["previews"]] + [s["level"] for s in snf["levelsShown"]]
    first = min(snf["previews"] + snf["levelsShown"], key=lambda s: s["t_ms"])
    assert first["level"] == 1, f"first picture was level {first['level']}"
    shown = [s["level"] for s in snf["levelsShown"]]
    assert shown[0] == 1 and shown[-1] == 4 and shown == sorted(shown), shown
    assert 2 not in drawn and 3 not in drawn, f"stale levels were drawn: {drawn}"
    print(f"{renderer}: level 1 bytes {received[0]['t_ms']:.0f} ms, first picture {snf['firstPictureMs']:.0f} ms, "
          f"shown {[(s['level'], round(s['t_ms']), s['source']) for s in snf['levelsShown']]}")
    assert_matches(page_pixels(page), reference(site["dir"] / "tiny.snf", 4), renderer)


def test_picking_a_level_cancels_the_render_in_progress(site, page, shots):
    page.goto(f"{site['base']}/view/big?renderer=js")
    page.wait_for_function("window.snf.job && window.snf.job.level === 3 && window.snf.job.phase === 'full'",
                           timeout=30000)
    assert "rendering level 3" in page.inner_text("#activity")
    shots(page, "rendering-level-3")
    page.keyboard.press("1")
    page.wait_for_function("window.snf.current === 1 && window.snf.job === null && window.snf.cancelled.length > 0")
    snf = wait_done(page)
    assert {"level": 3, "phase": "full"}.items() <= snf["cancelled"][-1].items()
    assert snf["cancelled"][-1]["progress"] < 1
    assert 3 not in [s["level"] for s in snf["levelsShown"]], "level 3 finished although it was cancelled"
    # The preview of level 3 was drawn before its full render started.
    assert [p["level"] for p in snf["previews"]][-1] == 3
    assert_matches(page_pixels(page), reference(site["dir"] / "big.snf", 1), "big level 1")


def test_without_a_gpu_the_server_png_is_used_when_sooner(site, page, shots):
    page.goto(f"{site['base']}/view/big?renderer=fallback")
    snf = wait_done(page, 60000)
    assert snf["renderer"] == "fallback" and snf["error"] is None
    last = snf["levelsShown"][-1]
    assert last["level"] == 3 and last["source"] == "server PNG", snf["levelsShown"]
    note = page.inner_text("#renderer")
    assert "server's PNG" in note and "on screen from server PNG" in note
    shots(page, "fallback-server-png")
    assert_matches(page_pixels(page), reference(site["dir"] / "big.snf", 3), "server PNG")


def test_auto_mode_reports_how_it_renders(site, page):
    """Chromium here runs WebGL on SwiftShader (or has none): the viewer must notice and fall back."""
    page.goto(f"{site['base']}/view/tiny")
    snf = wait_done(page)
    if snf["webgl"] == "ok":
        hardware_skip(f"this Chromium has a hardware GPU: {snf['gpu']}")
    assert snf["renderer"] == "fallback", snf["rendererNote"]
    assert snf["webgl"] in ("software", "unavailable", "slow", "inaccurate")
    assert "without a GPU" in page.inner_text("#renderer")


# ------------------------------------------------------------------ layout and accessibility

def test_layout_accessibility_and_display_size(site, browser):
    page = browser.new_page(viewport={"width": 320, "height": 640}, device_scale_factor=2)
    errors = _watch(page)
    try:
        page.goto(f"{site['base']}/view/big?renderer=fallback")
        snf = wait_done(page, 60000)
        assert page.get_attribute("#view", "role") == "img"
        assert "level 3 of 3" in page.get_attribute("#view", "aria-label")
        assert page.get_attribute("#shown", "aria-live") == "polite"
        for box in [page.locator("#levels button").nth(i).bounding_box() for i in range(3)]:
            assert box["width"] >= 44 and box["height"] >= 44, box
        # Rendered at the displayed size x devicePixelRatio (2), not at 768x512 stretched.
        css = page.locator("#view").bounding_box()
        width = page.evaluate("document.getElementById('view').width")
        assert width < 768 and abs(width - 2 * css["width"]) <= 4, (width, css)
        assert snf["levelsShown"][-1]["w"] == width
        # The stage is refitted when the window changes (ResizeObserver).
        page.set_viewport_size({"width": 200, "height": 640})
        page.wait_for_function(f"document.getElementById('view').getBoundingClientRect().width < {css['width'] - 50}")
        assert not errors, errors
    finally:
        page.close()


# ------------------------------------------------------------------ pages for people

def test_error_pages_are_html_for_browsers_and_json_otherwise(site, page, shots):
    base = site["base"]
    for path, status, text in [("/view/does-not-exist", 404, "no asset does-not-exist"),
                               ("/view/bad..id", 400, "invalid asset id"),
                               ("/v1/assets/tiny/stream?kbps=0", 422, "kbps")]:
        as_html = httpx.get(base + path, headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert as_html.status_code == status and as_html.headers["content-type"].startswith("text/html"), path
        assert text in as_html.text and "<h1>" in as_html.text
        for accept in ("*/*", "application/json", None):
            plain = httpx.get(base + path, headers={"accept": accept} if accept else {})
            assert plain.status_code == status and plain.headers["content-type"] == "application/json", (path, accept)
            assert "detail" in plain.json()
    resp = page.goto(f"{base}/view/does-not-exist")
    assert resp.status == 404
    assert "no asset does-not-exist" in page.inner_text("body")
    shots(page, "error-page")


def test_index_page_lists_assets_with_thumbnails(site, page, shots):
    assert httpx.get(site["base"] + "/").json()["assets"] == "/v1/assets"   # */* still gets JSON
    page.goto(site["base"] + "/")
    links = page.eval_on_selector_all("ul.assets a", "els => els.map(e => e.getAttribute('href'))")
    assert {"/view/tiny", "/view/big", "/view/prog"} <= set(links)
    assert "768×512" in page.inner_text("body") and "kB" in page.inner_text("body")
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=30000)
    sizes = page.eval_on_selector_all("img.thumb", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])")
    assert sizes and all(w > 0 for _, w in sizes), sizes
    assert all(src.endswith("/levels/1.png") for src, _ in sizes)
    shots(page, "index-page")
    page.click("a[href='/view/tiny']")
    page.wait_for_function("window.snf && window.snf.done")


def test_api_docs_load_without_a_cdn(site):
    html = httpx.get(site["base"] + "/docs").text
    scripts = [s for s in html.split('"') if s.endswith(".js") or s.endswith(".css")]
    assert scripts and all(s.startswith("/") for s in scripts), scripts
    for s in scripts:
        assert httpx.get(site["base"] + s).status_code == 200, s


# ------------------------------------------------------------------ a lost connection

def test_a_lost_connection_offers_retry_and_resumes_with_a_range(site, tmp_path, browser, shots):
    """A server of its own, killed mid-stream and started again on the same port."""
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copyfile(site["dir"] / "tiny.snf", folder / "tiny.snf")
    path = folder / "tiny.snf"
    size = path.stat().st_size
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(folder, port)
    page = browser.new_page()
    errors = _watch(page)
    try:
        kbps = max(8, round(size * 8 / 6 / 1000))      # about 5-6 s for the file (8 kbps: the server's floor)
        page.goto(f"{base}/view/tiny?renderer=js&kbps={kbps}")
        page.wait_for_function("window.snf.levelsShown.length > 0", timeout=20000)
        shots(page, "first-picture")                   # level 1 while the rest is arriving
        page.wait_for_function("window.snf.levelsReceived.length > 1", timeout=20000)
        shots(page, "mid-stream")
        _stop(proc, kill=True)                         # the server dies mid-stream
        page.wait_for_function("window.snf.state === 'lost'", timeout=20000)
        text = page.inner_text("#problem")
        assert "Connection lost at" in text and f"of {size / 1e3:.1f} kB" in text and "showing level" in text
        assert page.is_visible("#retry")
        snf = page.evaluate("({bytes: window.snf.bytes, done: window.snf.done})")
        assert 0 < snf["bytes"] < size and not snf["done"]
        shots(page, "connection-lost")
        proc = _serve(folder, port)                    # back again
        page.click("#retry")
        snf = wait_done(page)
        assert snf["resumes"] == [{"from": snf["resumes"][0]["from"], "status": 206}]
        assert 0 < snf["resumes"][0]["from"] < size and snf["bytes"] == size
        assert snf["error"] is None and snf["current"] == read(path.read_bytes()).arch.levels
        assert page.is_hidden("#retry") and page.inner_text("#error") == ""
        ref = reference(path, snf["current"])
        assert_matches(page_pixels(page), ref, "after resuming")
        shots(page, "resumed-stream")
        assert not [e for e in errors if "ERR_" not in e], errors
    finally:
        page.close()
        _stop(proc)
