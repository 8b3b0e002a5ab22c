"""The pages of issue 25 in headless Chromium (Debian's package, driven by Playwright):
compare at equal bytes (`/compare/{id}` and the static page of `snf-bench compare`),
upload and watch (`/upload`), videos and shapes in the viewer, keyboard use and axe-core.

A real `snf-serve` (uploads on) serves a tiny encode with its original beside it, the same
file without one, a synthetic video and a tiny SDF. Screenshots go to pytest's temporary
folder (printed); with SNF_VIEWER_SCREENSHOTS=1 also to bench/viewer-screenshots/. With
SNF_COMPARE_IMAGE=path/kodim03.png (and kodim03.snf beside it) the three compare screenshots
are taken on that picture instead of the tiny one. axe-core comes from tests/browser/
(`npm ci` there; .ci/run does it). Chromium or axe-core missing: skipped locally, a failure
when CI=true.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from test_browser import CHROMIUM, CHROMIUM_ARGS, _image_64x48, _init_block, _need_chromium, _stop, _watch
from snf_serve_fixtures import TOKEN, Served

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
BAD_IMPACTS = ("serious", "critical")


def _video_with_fps(fps: int = 12) -> bytes:
    """A synthetic temporal-growth video (no training) whose header gives its frame rate."""
    from snf.field.arch import Arch
    from snf.format.container import build
    from snf.format.quant import default_quant, encode_level
    arch = Arch((6, 13, 20), layers=3, d_in=3, d_out=3, mode="progressive", grow="temporal")
    quant, rng = default_quant(8), np.random.default_rng(6)
    payloads = [encode_level(arch, k, [_init_block(b, arch, rng) for b in arch.blocks(k)], quant)[0]
                for k in range(1, arch.levels + 1)]
    header = {"signal": "video", "size": [32, 24, 9], "channels": 3, "fps": fps, "arch": arch.to_dict(),
              "values": {"range": [-1.0, 1.0], "bit_depth": 8}, "quant": quant,
              "levels": [{"psnr": 20.0 + k, "steps": 0} for k in range(arch.levels)],
              "encoder": {"name": "test", "version": "0", "preset": "none", "seed": 6, "budget": "steps"}}
    return build(header, payloads)


def _sphere_sdf() -> bytes:
    """A tiny SDF encode of a sphere (two levels, 40 steps): a surface per level and a Chamfer figure each."""
    import trimesh
    from snf.signals.sdf import mesh_samples
    from snf.encode.encoder import compress_sdf
    pts, normals = mesh_samples(trimesh.creation.icosphere(subdivisions=3, radius=2.0), 4000)
    return compress_sdf(pts, normals, widths=(8, 16), steps=40, batch=512, lr=2e-3, seed=0)["bytes"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _need_chromium()
    from PIL import Image
    work = tmp_path_factory.mktemp("pages")
    folder = work / "served"
    folder.mkdir()
    Image.fromarray(_image_64x48()).save(folder / "tiny.png")
    subprocess.run([str(BIN / "snf-encode"), str(folder / "tiny.png"), "-o", str(folder / "tiny.snf"), "--widths",
                    "8,16,24,32", "--steps", "20", "--threads", "1", "--quiet"], check=True, timeout=180)
    shutil.copyfile(folder / "tiny.snf", folder / "noorig.snf")
    (folder / "video.snf").write_bytes(_video_with_fps())
    (folder / "sphere.snf").write_bytes(_sphere_sdf())
    upload = work / "up.png"
    y, x = np.mgrid[0:24, 0:32] / 32
    Image.fromarray((np.stack([x, y, x * y], -1) * 255).astype(np.uint8)).save(upload)
    (work / "not-an-image.png").write_text("hello, I am text")
    served = Served(folder, TOKEN, "--log-level", "warning")
    try:
        yield {"base": served.base, "dir": folder, "work": work, "upload": upload}
    finally:
        _stop(served.proc)


@pytest.fixture(scope="module")
def browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = _watch(page)
    yield page
    page.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page-screenshots")
    print(f"\npage screenshots: {folder}")
    keep = os.environ.get("SNF_VIEWER_SCREENSHOTS") == "1"
    bench = ROOT / "bench" / "viewer-screenshots"

    def save(page, name: str, full: bool = False) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        if keep:
            bench.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, bench / path.name)
        return path
    return save


def panes(page) -> dict:
    return page.evaluate("""() => Object.fromEntries(Object.entries(snfCompare.panes).map(([k, v]) =>
        [k, {detail: v.detail, bytes: v.bytes, psnr: v.psnr, table_psnr: v.table_psnr ?? null, level: v.level ?? null}]))""")


def wait_settled(page, n: int | None = None, timeout: int = 30000) -> None:
    cond = "window.snfCompare && snfCompare.settled && snfCompare.panes.jpeg"
    if n is not None:
        cond += f" && snfCompare.N === {n}"
    page.wait_for_function(cond, timeout=timeout)


# ------------------------------------------------------------------ compare at equal bytes

def check_panes(p: dict, n: int, original: np.ndarray, snf_bytes: bytes, ends: list) -> None:
    """Every pane within n bytes, and the page's PSNR figures equal to the Python ones."""
    from snf.bench.codecs import ProgressiveJpeg
    from snf.bench.metrics import psnr
    from snf.decode.decoder import decompress
    for name, pane in p.items():
        assert pane["bytes"] <= n, (name, pane, n)
    level = sum(e <= n for e in ends)
    if level:
        assert p["snf"]["level"] == level, (p["snf"], n)
        ref = np.asarray(decompress(snf_bytes, level=level)["image"])[..., :3]
        assert abs(p["snf"]["psnr"] - psnr(original, ref)) < 0.01, p["snf"]
    else:
        assert p["snf"]["psnr"] is None and "nothing yet" in p["snf"]["detail"]
    best = ProgressiveJpeg(original).at(n)
    if best is None:
        assert p["jpeg"]["psnr"] is None
    else:  # the browser's libjpeg shows a cut scan as Pillow's does, up to block smoothing
        assert abs(p["jpeg"]["psnr"] - best[0]) < 0.05, (p["jpeg"], best[0], best[2])
    for name in ("webp", "jxl"):
        if name in p and p[name]["psnr"] is not None:
            assert abs(p[name]["psnr"] - p[name]["table_psnr"]) < 0.05, p[name]


def test_compare_slider_moves_and_panes_update(site, page, shots):
    from PIL import Image
    from snf.format.container import read
    snf_bytes = (site["dir"] / "tiny.snf").read_bytes()
    ends = list(read(snf_bytes, decode=False).ends)
    original = np.asarray(Image.open(site["dir"] / "tiny.png").convert("RGB"))
    # paced: the page follows the stream, level by level, each decoded in the page
    kbps = max(8, round(len(snf_bytes) * 8 / 2.0 / 1000))
    page.goto(f"{site['base']}/compare/tiny?kbps={kbps}&decode=page")   # the page's own decoder
    page.wait_for_function("window.snfCompare && snfCompare.streamDone && snfCompare.levelsShown.length >= 1"
                           f" && snfCompare.N === {ends[-1]}", timeout=60000)
    wait_settled(page)
    s = page.evaluate("({r: snfCompare.levelsReceived, s: snfCompare.levelsShown})")
    first_r = next(r for r in s["r"] if r["level"] == 1)
    first_s = next(x for x in s["s"] if x["level"] == 1)
    latency = first_s["t_ms"] - first_r["t_ms"]
    print(f"compare page, tiny 64x48: last byte of level 1 -> its picture {latency:.0f} ms; received "
          f"{[(r['level'], round(r['t_ms'])) for r in s['r']]}, shown {[(x['level'], round(x['t_ms'])) for x in s['s']]}")
    assert 0 <= latency < 5000
    assert {x["source"] for x in s["s"]} == {"workers"}
    assert s["r"][-1]["t_ms"] - s["r"][0]["t_ms"] > 500, "the stream was not paced"
    check_panes(panes(page), ends[-1], original, snf_bytes, ends)
    # the slider, by keyboard: focus it, Home, then arrow steps of 1/200 of the file
    page.focus("#bytes")
    page.keyboard.press("Home")
    wait_settled(page, 0)
    assert panes(page)["jpeg"]["psnr"] is None and panes(page)["snf"]["psnr"] is None
    page.keyboard.press("PageUp")
    n = round(len(snf_bytes) / 20)
    wait_settled(page, n)
    check_panes(panes(page), n, original, snf_bytes, ends)
    # any byte count, typed; then each level's end button
    for n in (ends[0] - 1, ends[0], ends[1] + 37):
        page.fill("#bytes-num", str(n))
        page.press("#bytes-num", "Enter")
        wait_settled(page, n)
        check_panes(panes(page), n, original, snf_bytes, ends)
    page.click("#ends button:nth-child(2)")
    wait_settled(page, ends[1])
    assert panes(page)["snf"]["level"] == 2
    # the split line and the other side, then side by side with every pane, then zoom
    page.select_option("#other", "webp")
    page.fill("#split-at", "30")
    page.dispatch_event("#split-at", "input")
    assert "inset(0px 0px 0px 30%)" in page.get_attribute("#split-right", "style")
    assert "WebP" in page.get_attribute("#split", "aria-label")
    page.select_option("#mode", "side")
    assert page.locator("#side figure").count() == 4 and page.is_hidden("#split")
    page.select_option("#zoom", "4")
    label = page.get_attribute("#side figure[data-pane='jpeg'] .stage", "aria-label")
    assert "zoomed 4×" in label, label
    page.focus("#side figure[data-pane='snf'] .stage")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("snfCompare.cx") > 32
    rows = page.locator("#facts tr").count()
    assert rows == 4
    shots(page, "compare-tiny-side-by-side-zoom", full=True)


def test_compare_without_an_original_says_so(site, page):
    page.goto(f"{site['base']}/compare/noorig")
    page.wait_for_function("window.snfCompare && snfCompare.error")
    text = page.inner_text("#problem")
    assert "no original picture" in text and "noorig.png" in text
    assert page.is_hidden("#main")
    assert page.get_attribute("#problem a", "href") == "/view/noorig"
    r = httpx.get(f"{site['base']}/v1/assets/video/compare")
    assert r.status_code == 422 and "video" in r.json()["detail"]


def test_static_compare_page_opens_from_disk(site, browser, tmp_path):
    out = tmp_path / "page.html"
    r = subprocess.run([str(BIN / "snf-bench"), "compare", str(site["dir"] / "tiny.png"), "-o", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    bad = subprocess.run([str(BIN / "snf-bench"), "compare", str(tmp_path / "none.png"), "-o", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == f"snf-bench: {tmp_path / 'none.png'}: no such file"
    page = browser.new_page()
    errors = _watch(page)
    asked = []
    page.on("request", lambda req: asked.append(req.url) if not req.url.startswith(("data:", "file:")) else None)
    try:
        page.goto(out.as_uri())
        wait_settled(page)
        p = panes(page)
        assert p["snf"]["level"] == 4 and p["jpeg"]["psnr"] and p["webp"]["psnr"]
        page.fill("#bytes-num", "900")
        page.press("#bytes-num", "Enter")
        wait_settled(page, 900)
        assert all(v["bytes"] <= 900 for v in panes(page).values())
        assert not asked, f"the static page fetched {asked}"
        assert not errors, errors
    finally:
        page.close()


def test_compare_screenshots_at_three_byte_counts(site, browser, shots, tmp_path):
    """Serves a picture and its snf file, paces the stream, shoots three slider positions: the
    tiny asset, or SNF_COMPARE_IMAGE=path/kodim03.png with kodim03.snf beside it (the issue's
    screenshots, bench/viewer-screenshots/compare-kodim03-*.png)."""
    from PIL import Image
    from snf.format.container import read
    image = Path(os.environ.get("SNF_COMPARE_IMAGE") or site["dir"] / "tiny.png")
    name = image.stem
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copyfile(image.with_suffix(".snf"), folder / f"{name}.snf")
    Image.open(image).save(folder / f"{name}.png")
    snf_bytes = (folder / f"{name}.snf").read_bytes()
    ends = list(read(snf_bytes, decode=False).ends)
    served = Served(folder, None, "--log-level", "warning")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        httpx.get(f"{served.base}/v1/assets/{name}/compare", timeout=600)   # make the files first
        kbps = max(8, round(len(snf_bytes) * 8 / 6.0 / 1000))
        page.goto(f"{served.base}/compare/{name}?kbps={kbps}")
        page.wait_for_function(f"window.snfCompare && snfCompare.streamDone && snfCompare.N === {ends[-1]}",
                               timeout=180000)
        wait_settled(page, timeout=120000)
        s = page.evaluate("({r: snfCompare.levelsReceived, s: snfCompare.levelsShown})")
        first = next(x for x in s["s"] if x["level"] == 1)
        lat = first["t_ms"] - next(r for r in s["r"] if r["level"] == 1)["t_ms"]
        print(f"compare page, {name}: last byte of level 1 -> its picture {lat:.0f} ms (from {first['source']}) "
              f"(levels received {[round(r['t_ms']) for r in s['r']]}, shown {[round(x['t_ms']) for x in s['s']]})")
        for i, n in enumerate((ends[0], ends[min(1, len(ends) - 1)] + (ends[-1] - ends[0]) // 7, ends[-1])):
            page.fill("#bytes-num", str(n))
            page.press("#bytes-num", "Enter")
            wait_settled(page, n, timeout=120000)
            p = panes(page)
            assert all(v["bytes"] <= n for v in p.values()), p
            assert p["snf"]["level"] == sum(e <= n for e in ends) and p["jpeg"]["psnr"] is not None, p
            print(f"  {n} B: " + "; ".join(f"{k} {v['detail']} {v['bytes']} B {v['psnr'] or 0:.2f} dB" for k, v in p.items()))
            shots(page, f"compare-{name}-{i + 1}-{n}B", full=True)
    finally:
        page.close()
        _stop(served.proc)


# ------------------------------------------------------------------ upload and watch

def test_upload_to_first_picture_and_errors_on_the_page(site, page, shots):
    base = site["base"]
    page.goto(f"{base}/upload")
    page.wait_for_function("window.snfUpload && snfUpload.ready")
    # the form is EncodeSettings': every upload field, main ones first
    from snf.settings import EncodeSettings
    names = page.eval_on_selector_all("[data-setting]", "els => els.map(e => e.dataset.setting)")
    assert set(names) == set(EncodeSettings.form_fields()) and names[:2] == ["field", "quality"]
    # bad input: not an image -> the server's one line, and nothing in the index
    page.fill("#token", TOKEN)
    page.set_input_files("#file", str(site["work"] / "not-an-image.png"))
    page.click("#go")
    page.wait_for_function("snfUpload.error")
    assert "not an image this server reads" in page.inner_text("#error")
    assert page.evaluate("sessionStorage.getItem('snf-token')") == TOKEN and page.is_hidden("#token-ask")
    page.set_input_files("#file", str(site["upload"]))
    page.fill("#set-quality", "300")
    page.click("#go")
    page.wait_for_function("snfUpload.error && snfUpload.error.includes('quality')")
    assert page.inner_text("#error") == "quality must be 0..100, got 300"
    ids = [a["id"] for a in httpx.get(f"{base}/v1/assets").json()["assets"]]
    assert "up" not in ids and "not-an-image" not in ids
    # a tiny encode, published level by level; the viewer opens at level 1 and sharpens
    page.fill("#set-quality", "")
    page.fill("#set-steps", "60")
    page.click("details summary")
    page.fill("#set-widths", "8,16,24")
    page.click("#go")
    page.wait_for_function("snfUpload.job && snfUpload.job.state === 'running'", timeout=60000)
    page.wait_for_function("snfUpload.viewerOpened !== null", timeout=120000)
    inner = "document.getElementById('viewer').contentWindow.snf"
    page.wait_for_function(f"{inner} && {inner}.levelsShown.length >= 1", timeout=60000)
    state = page.evaluate("snfUpload.job.state")
    first = page.evaluate(f"{inner}.levelsShown[0].level")
    shots(page, "upload-during-encode", full=True)
    print(f"upload: job {state} when the viewer showed level {first}; viewer opened "
          f"{page.evaluate('snfUpload.viewerOpened'):.0f} ms after the upload was accepted")
    page.wait_for_function("snfUpload.job.state === 'done'", timeout=180000)
    page.wait_for_function(f"{inner}.current === 3", timeout=60000)
    label = page.frame_locator("#viewer").locator("#view").get_attribute("aria-label")
    assert label.startswith("up, level 3 of 3"), label
    assert (site["dir"] / "up.png").is_file(), "the server keeps the original of an upload"
    assert httpx.get(f"{base}/v1/assets/up").json()["complete"] is True
    assert "running" in page.evaluate("snfUpload.states")
    # a wrong token: the server's word, and the token is asked again
    page.click("#forget")
    page.fill("#token", "wrong")
    page.fill("#asset-id", "up2")
    page.click("#go")
    page.wait_for_function("snfUpload.error && snfUpload.error.includes('token')")
    assert page.is_visible("#token-ask")


# ------------------------------------------------------------------ video and shapes

def test_video_plays_pauses_scrubs_at_the_file_rate(site, page, shots):
    page.goto(f"{site['base']}/view/video?kbps=8")
    page.wait_for_function("window.snf && window.snf.playing && window.snf.playing.level >= 1"
                           " && window.snf.playing.drawn >= 3", timeout=30000)
    if not page.evaluate("window.snf.streamEnded"):
        shots(page, "video-mid-stream")
    page.wait_for_function("window.snf.playing.level === 3 && window.snf.done", timeout=60000)
    st = page.evaluate("window.snf.playing")
    assert st["fps"] == 12 and st["frames"] == 9 and st["playing"]
    assert "12 fps (from the file)" in page.inner_text("#remote")
    page.keyboard.press("Tab")   # to the level buttons, then the player: keyboard only
    page.focus("#remote button")
    page.keyboard.press("Enter")
    assert page.evaluate("window.snf.playing.playing") is False
    drawn = page.evaluate("window.snf.playing.drawn")
    page.wait_for_timeout(400)
    assert page.evaluate("window.snf.playing.drawn") == drawn, "a paused video kept drawing"
    page.focus("#remote input[type=range]")
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("window.snf.playing.frame") == 2
    assert "frame 3 of 9" in page.get_attribute("#remote canvas", "aria-label")
    page.focus("#remote button")
    page.keyboard.press("Space")
    page.wait_for_function(f"window.snf.playing.drawn > {drawn + 3}")
    # an earlier level replaces the one playing (the viewer's level keys)
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("1")
    page.wait_for_function("window.snf.playing.level === 1")
    assert page.evaluate("window.snf.playing.frames") == 3   # level 1 of 3 covers 3 of 9 frames


def test_shape_turns_and_refines_per_level(site, page, shots):
    from snf.format.container import read
    chamfer = [lv["chamfer"] for lv in read((site["dir"] / "sphere.snf").read_bytes(), decode=False).header["levels"]]
    page.goto(f"{site['base']}/view/sphere")
    page.wait_for_function("window.snf && window.snf.shape && window.snf.shape.level === 2 && window.snf.done",
                           timeout=60000)
    st = page.evaluate("window.snf.shape")
    assert st["faces"] > 100 and abs(st["chamfer"] - chamfer[1]) < 1e-9
    assert f"Chamfer distance {chamfer[1]:.4g}" in page.inner_text("#remote")
    shots(page, "shape-level-2")
    page.keyboard.press("1")
    page.wait_for_function("window.snf.shape.level === 1")
    assert f"{chamfer[0]:.4g}" in page.inner_text("#remote")
    shots(page, "shape-level-1")
    yaw, draws = st["yaw"], page.evaluate("window.snf.shape.draws")
    page.focus("#remote canvas")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    after = page.evaluate("window.snf.shape")
    assert abs(after["yaw"] - yaw - 0.4) < 1e-9 and after["draws"] >= draws + 2 and after["level"] == 1
    box = page.locator("#remote canvas").bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 180, box["y"] + 130, steps=4)
    page.mouse.up()
    assert page.evaluate("window.snf.shape.yaw") > after["yaw"] + 0.5
    page.click("#remote button")
    assert page.get_attribute("#remote button", "aria-pressed") == "true"
    page.click("#remote button")
    shots(page, "shape-level-1-turned")


# ------------------------------------------------------------------ accessibility

PAGES = ["/", "/view/tiny?renderer=js", "/compare/tiny", "/compare/noorig", "/upload", "/view/video",
         "/view/sphere", "/view/no-such-asset"]


def test_axe_core_finds_nothing_serious(site, browser):
    if not AXE.is_file():
        message = "axe-core is not installed (npm ci in tests/browser)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    results = {}
    for path in PAGES:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.goto(site["base"] + path)
            page.wait_for_timeout(300)
            if path.startswith("/compare/tiny"):
                wait_settled(page)
            elif path.startswith("/view/") and "no-such" not in path:
                page.wait_for_function("window.snf && window.snf.done", timeout=60000)
            elif path == "/upload":
                page.wait_for_function("window.snfUpload && snfUpload.ready")
            page.add_script_tag(path=str(AXE))
            out = page.evaluate("async () => { const r = await axe.run(document, {resultTypes: ['violations']}); "
                                "return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length, "
                                "help: v.help, where: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }")
        finally:
            page.close()
        results[path] = out
    print("axe-core " + json.dumps({p: [(v["id"], v["impact"], v["nodes"]) for v in vs] for p, vs in results.items()}))
    bad = {p: [v for v in vs if v["impact"] in BAD_IMPACTS] for p, vs in results.items()}
    assert not any(bad.values()), json.dumps(bad, indent=1)
