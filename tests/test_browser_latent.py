"""The viewer on latent-family files (format_spec.md section 11) in headless Chromium, through a
real snf-serve: a paced stream drawn level by level with WebGL2, the render workers and the
no-GPU fallback, each level within one 8-bit step of snf-decode's numpy; every level on every
renderer at two sizes; the levels decoded on a worker (the page's own steps stay short); a level
the decoder refuses (in its worker) reported at that level with the earlier ones still shown.
The files are built without training (tests/test_latent_js.py's random_file), so their latents
are not zero and the integer ARM's predictions and models vary."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from snf.decode.decoder import decompress, render_image
from snf.format.container import read

from test_browser import CHROMIUM, CHROMIUM_ARGS, _need_chromium, _serve, _stop, _free_port, _watch, \
    assert_matches, page_pixels, wait_done
from test_latent_js import odd_arch, random_file

HERE = os.path.dirname(os.path.abspath(__file__))
PACED_SECONDS = 2.5


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _need_chromium()
    folder = tmp_path_factory.mktemp("served-latent")
    (folder / "lat.snf").write_bytes(random_file(size=(96, 64), seed=21))
    bare, widest = odd_arch()  # no hidden layer, no conv, one channel; the widest synthesis, 4 convs, 4 channels
    (folder / "bare.snf").write_bytes(random_file(size=(45, 37), seed=22, arch=bare))
    (folder / "widest.snf").write_bytes(random_file(size=(45, 37), seed=23, arch=widest))
    shutil.copyfile(os.path.join(HERE, "vectors", "latent", "bad", "latent-level2-bytes-after-stream.snf"),
                    folder / "badlevel2.snf")
    port = _free_port()
    proc = _serve(folder, port)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "dir": folder}
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    errors = _watch(page)
    yield page
    page.close()
    assert not [e for e in errors if "GPU stall" not in e], f"errors in the page: {errors}"


def reference(path, level: int, size=None) -> np.ndarray:
    if size:
        return render_image(read(path.read_bytes()), level, size).astype(int)
    return decompress(path.read_bytes(), level=level)["image"].astype(int)


@pytest.mark.parametrize("renderer", ["webgl2", "js", "fallback"])
def test_a_latent_file_streams_level_by_level_and_matches_the_decoder(site, page, renderer):
    path = site["dir"] / "lat.snf"
    size = path.stat().st_size
    kbps = max(8, round(size * 8 / PACED_SECONDS / 1000))
    page.goto(f"{site['base']}/view/lat?renderer={renderer}&kbps={kbps}")
    snf = wait_done(page, 60000)
    if renderer == "webgl2" and snf["webgl"] == "unavailable":
        pytest.skip(f"this Chromium has no WebGL2 with float targets: {snf['rendererNote']}")
    assert snf["error"] is None and snf["renderer"] == renderer
    shown, got = snf["levelsShown"], snf["levelsReceived"]
    assert [r["level"] for r in got] == [1, 2, 3, 4]
    assert all(r["arrived_ms"] <= r["t_ms"] for r in got)  # decoded after its bytes, on the worker
    assert shown[0]["level"] == 1 and shown[-1]["level"] == 4
    assert [s["level"] for s in shown] == sorted(s["level"] for s in shown)
    engine = {"webgl2": {"webgl2"}, "js": {"workers"}, "fallback": {"workers", "server PNG"}}[renderer]
    assert {s["source"] for s in shown} <= engine, shown
    # The decode and the renders run off the page's thread: its own steps stay short.
    assert max(snf["spans"].values()) < 100, snf["spans"]
    assert_matches(page_pixels(page), reference(path, 4), f"latent {renderer} level 4")
    page.keyboard.press("1")
    page.wait_for_function("window.snf.current === 1")
    assert_matches(page_pixels(page), reference(path, 1), f"latent {renderer} level 1 picked")
    # Levels differ (the fill rule: level 1 holds only the coarse grids), so matching is not trivial.
    assert np.abs(reference(path, 1) - reference(path, 4)).max() > 10


LATENT_EVERY_LEVEL = """async ([asset, sizes]) => {
  const { Parser } = await import('/static/snf-parse.js');
  const { latentNet } = await import('/static/render-latent-js.js');
  const { toRGBA } = await import('/static/snf-image.js');
  const { JsRenderer } = await import('/static/render-js.js');
  const { WebGLRenderer } = await import('/static/render-webgl.js');
  const { WorkerPool } = await import('/static/render-pool.js');
  const { LatentWebGL } = await import('/static/render-latent-webgl.js');
  let gl = null, wide = null;
  try { gl = new WebGLRenderer(); wide = new LatentWebGL(new WebGLRenderer()); } catch (e) { gl = null; }
  if (wide) wide.force = { textureWeights: true, loops: false };  // weights in a texture, as for wide networks
  const pool = new WorkerPool(2);
  const bytes = new Uint8Array(await (await fetch(`/v1/assets/${asset}/stream`)).arrayBuffer());
  const p = new Parser();
  p.feed(bytes);
  if (p.error || !p.complete) throw new Error(`${asset}: ${p.error}`);
  const fmt = { dOut: p.arch.d_out, range: p.header.values.range, bitDepth: 8 };
  const rgba = (v) => Array.from(toRGBA(v, p.arch.d_out, p.header.values.range));
  const out = [];
  for (const [w, h] of sizes) {
    for (let k = 1; k <= p.levels.length; k++) {
      const net = latentNet(p.arch, p.levels, k);
      out.push({ w, h, k, which: 'webgl', rgba: gl ? rgba(await gl.render(net, w, h)) : null });
      out.push({ w, h, k, which: 'webgl samples', rgba: gl ? Array.from(await gl.render(net, w, h, { rgba: fmt })) : null });
      out.push({ w, h, k, which: 'webgl weights in a texture', rgba: wide ? rgba(await wide.render(net, w, h)) : null });
      out.push({ w, h, k, which: 'js', rgba: rgba(await new JsRenderer().render(net, w, h)) });
      out.push({ w, h, k, which: 'workers', rgba: Array.from(await pool.render(net, w, h, { rgba: fmt })) });
    }
  }
  return { out, webgl: gl !== null };
}"""


@pytest.mark.parametrize("asset", ["lat", "bare", "widest"])
def test_every_latent_level_on_webgl2_js_and_workers(site, page, asset):
    path = site["dir"] / f"{asset}.snf"
    page.goto(f"{site['base']}/view/lat?renderer=js")
    wait_done(page, 60000)
    got = page.evaluate(LATENT_EVERY_LEVEL, [asset, [read(path.read_bytes()).header["size"], [53, 71]]])
    if not got["webgl"]:
        print("no WebGL2 with float targets in this Chromium: only the JS renderers were checked")
    refs = {}
    for r in got["out"]:
        if r["rgba"] is None:
            continue
        key = (r["w"], r["h"], r["k"])
        if key not in refs:
            refs[key] = reference(path, r["k"], (r["w"], r["h"]))
        assert_matches(r["rgba"], refs[key], f"latent level {r['k']} at {r['w']}x{r['h']} {r['which']}")
    assert {r["which"] for r in got["out"] if r["rgba"] is not None} >= {"js", "workers"}


@pytest.mark.parametrize("renderer", ["webgl2", "js"])
def test_a_level_the_worker_refuses_is_reported_and_level_1_stays(site, page, renderer):
    """latent-level2-bytes-after-stream: its level 2 chunk is whole (CRC right) but its stream does
    not end where its latents do: the decode worker refuses it; the page says so, shows level 1."""
    page.goto(f"{site['base']}/view/badlevel2?renderer={renderer}")
    snf = wait_done(page, 60000)
    if renderer == "webgl2" and snf["webgl"] == "unavailable":
        pytest.skip("no WebGL2 here")
    assert snf["error"] and "level 2" in snf["error"] and "showing level 1" in snf["error"], snf["error"]
    assert snf["current"] == 1 and [r["level"] for r in snf["levelsReceived"]] == [1]
    assert "level 2" in page.inner_text("#error")
    path = site["dir"] / "badlevel2.snf"
    assert_matches(page_pixels(page), reference(path, 1), "latent bad level 2: level 1")
