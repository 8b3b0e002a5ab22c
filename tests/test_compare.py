"""Compare at equal bytes without a browser: the variants (`snf.bench.compare`), the server's
`/v1/assets/{id}/compare` routes, the settings the upload page is built from, and the upload
worker's published levels being taken back when its job fails. The pages themselves are
driven in Chromium by tests/test_browser_pages.py."""
from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

pytest_plugins = ["snf_serve_fixtures"]


def _picture(w=48, h=32):
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    return (np.stack([x, y, 0.5 + 0.5 * np.sin(9 * x * y)], -1) * 255).astype(np.uint8)


def test_variants_are_progressive_jpegs_and_whole_webp_and_jxl_files():
    from snf.bench.codecs import JPEG_QUALITIES, ProgressiveJpeg
    from snf.bench.compare import make_variants
    from snf.bench.metrics import psnr
    img = _picture()
    table, files = make_variants(img)
    assert [e["quality"] for e in table["jpeg"]] == list(JPEG_QUALITIES)
    ref = ProgressiveJpeg(img)
    for e, f in zip(table["jpeg"], ref.files):
        assert files[e["file"]][0] == f and e["bytes"] == len(f)   # the very files the prefix measure cuts
        with Image.open(io.BytesIO(f)) as im:
            assert im.info.get("progressive") or im.info.get("progression")
    for e in table["webp"]:
        data = files[e["file"]][0]
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "WEBP"
            assert abs(psnr(img, np.asarray(im.convert("RGB"))) - e["psnr"]) < 1e-3
    assert table["jxl"] is not None, table["jxl_note"]   # imagecodecs with libjxl is a dependency here
    sizes = [e["bytes"] for e in table["jxl"]]
    assert sizes == sorted(sizes) and len(set(sizes)) > 3   # distance ladder from coarse to fine


def test_compare_routes(snf_assets, snf_server, http):
    folder = snf_assets["dir"]
    r = http.get("/v1/assets/demo/compare")
    assert r.status_code == 404 and "demo.png" in r.json()["detail"]
    shutil.copyfile(snf_assets["png"], folder / "demo.png")
    try:
        r = http.get("/v1/assets/demo/compare", timeout=120)
        assert r.status_code == 200, r.text
        t = r.json()
        assert t["width"] == 48 and t["height"] == 32 and t["snf"]["ends"] == list(snf_assets["ends"])
        for e in t["jpeg"][:2] + t["webp"][:2] + [{"file": t["original"]}]:
            f = http.get(e["file"])
            assert f.status_code == 200 and f.headers["content-type"].startswith("image/")
        assert http.get(t["original"].split("?")[0]).status_code == 404           # no version key
        assert http.get("/v1/assets/demo/compare/..%2Fx.png?k=" + "0" * 24).status_code in (400, 404)
        assert http.get("/v1/assets/demo/compare/x.exe?k=" + "0" * 24).status_code == 400
        # another picture of another size is not the original
        Image.fromarray(_picture(20, 10)).save(folder / "demo.png")
        r = http.get("/v1/assets/demo/compare", timeout=120)
        assert r.status_code == 422 and "20x10" in r.json()["detail"]
    finally:
        (folder / "demo.png").unlink()
    assert http.get("/v1/assets/nope/compare").status_code == 404
    assert http.get("/compare/nope", headers={"accept": "text/html"}).status_code == 404
    assert http.get("/compare/demo").headers["content-type"].startswith("text/html")


def test_settings_route_is_the_settings_object(http):
    from snf.settings import FIELDS, PRESET_NAMES, EncodeSettings
    s = http.get("/v1/settings").json()
    names = [f["name"] for f in s["fields"]]
    assert set(names) == set(EncodeSettings.form_fields()) and names[:4] == ["field", "quality", "preset", "steps"]
    by = {f["name"]: f for f in s["fields"]}
    assert by["field"]["choices"] == list(FIELDS) and by["preset"]["choices"] == list(PRESET_NAMES)
    assert by["quality"]["kind"] == "int" and (by["quality"]["min"], by["quality"]["max"]) == (0, 100)
    assert by["qat"]["kind"] == "bool" and by["widths"]["default"] == "30,69,110,151"
    assert s["writes"] is True


def test_a_failed_job_takes_back_its_published_levels(tmp_path):
    from snf.serve.config import Settings
    from snf.serve.worker import Published
    settings = Settings(root=str(tmp_path))
    job = {"id": "0" * 32, "asset_id": "pic", "params": {}}
    pub = Published(settings, job, _picture())
    pub.level(b"prefix one")
    pub.level(b"prefix two")
    assert (tmp_path / "pic.snf").read_bytes() == b"prefix two" and (tmp_path / "pic.png").is_file()
    pub.withdraw()
    assert not (tmp_path / "pic.snf").exists() and not (tmp_path / "pic.png").exists()
    # a file someone else put there since is left alone
    pub = Published(settings, job, _picture())
    pub.level(b"mine")
    (tmp_path / "pic.snf").write_bytes(b"someone else's")
    pub.withdraw()
    assert (tmp_path / "pic.snf").read_bytes() == b"someone else's"


def test_the_form_bounds_are_the_ones_validation_uses():
    """The bits bound the page offers is the one EncodeSettings enforces (names move; values must not drift)."""
    from snf.serve.config import Settings
    from snf.serve.routes_upload_page import schema
    from snf.settings import EncodeSettings, SettingsError
    by = {f["name"]: f for f in schema(Settings(root="/tmp"))["fields"]}
    lo, hi = by["bits"]["min"], by["bits"]["max"]
    EncodeSettings(bits=lo)
    EncodeSettings(bits=hi)
    for bad in (lo - 1, hi + 1):
        with pytest.raises(SettingsError):
            EncodeSettings(bits=bad)
