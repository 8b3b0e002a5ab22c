"""snf-serve against a real uvicorn on 127.0.0.1: streams, ranges, ETags, ids, auth, jobs, recovery."""
from __future__ import annotations

import io
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.register_assert_rewrite("snf_serve_fixtures")
from snf_serve_fixtures import AUTH, TOKEN, Served, tiny_png  # noqa: E402

pytest_plugins = ["snf_serve_fixtures"]


def raw_status(base: str, path: str) -> tuple:
    """Send `path` byte for byte (no client-side URL normalisation); (status, body)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data.partition(b"\r\n\r\n")[2]


def wait_job(http, job_id: str, states=("done", "failed"), timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


# ------------------------------------------------------------------ reading

def test_health_and_docs(http):
    assert http.get("/healthz").json()["status"] == "ok"
    spec = http.get("/openapi.json").json()
    for route in ("/v1/assets", "/v1/assets/{asset_id}", "/v1/assets/{asset_id}/stream",
                  "/v1/assets/{asset_id}/levels/{k}.png", "/v1/jobs/{job_id}", "/healthz"):
        assert route in spec["paths"], route
    assert "multipart/form-data" in spec["paths"]["/v1/assets"]["post"]["requestBody"]["content"]
    assert http.get("/docs").status_code == 200


def test_listing_and_manifest_match_the_file(http, snf_assets):
    raw, ends = snf_assets["raw"], snf_assets["ends"]
    listed = http.get("/v1/assets").json()["assets"]
    assert [a["id"] for a in listed if a["id"] == "demo"] == ["demo"]
    m = http.get("/v1/assets/demo").json()
    assert (m["id"], m["width"], m["height"], m["bytes"], m["mime"]) == ("demo", 48, 32, len(raw), "application/vnd.snf")
    assert [lv["end"] for lv in m["levels"]] == ends
    assert [lv["offset"] for lv in m["levels"]][1:] == ends[:-1]
    for lv in m["levels"]:
        assert lv["bytes"] == lv["end"] - lv["offset"] > 0
        assert lv["bpp"] == pytest.approx(lv["end"] * 8 / (48 * 32), abs=1e-4)
        assert isinstance(lv["psnr"], float)
        assert raw[lv["offset"] + 4:lv["offset"] + 8] == b"LEVL"  # the span starts at the level's chunk
    assert m["stream_url"] == "/v1/assets/demo/stream"
    assert m["etag"] == http.head("/v1/assets/demo/stream").headers["etag"]


def test_stream_is_byte_exact_with_headers(http, snf_assets):
    r = http.get("/v1/assets/demo/stream")
    assert r.status_code == 200 and r.content == snf_assets["raw"]
    h = r.headers
    assert h["content-type"] == "application/vnd.snf" and h["accept-ranges"] == "bytes"
    assert int(h["content-length"]) == len(snf_assets["raw"]) and h["etag"].startswith('"')
    assert h["x-snf-level-ends"] == ",".join(map(str, snf_assets["ends"]))
    head = http.head("/v1/assets/demo/stream")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == h["content-length"]


@pytest.mark.parametrize("level", [1, 2, 3])
def test_level_query_cuts_after_that_level(http, snf_assets, level):
    end = snf_assets["ends"][level - 1]
    r = http.get("/v1/assets/demo/stream", params={"level": level})
    assert r.status_code == 200 and r.content == snf_assets["raw"][:end]
    assert int(r.headers["content-length"]) == end
    assert r.headers["etag"].endswith(f'-L{level}"') and r.headers["etag"] != http.head("/v1/assets/demo/stream").headers["etag"]


@pytest.mark.parametrize("level,status", [(0, 400), (4, 404), (-1, 400), ("9" * 5000, 422)])
def test_level_query_out_of_range_is_refused(http, level, status):
    assert http.get("/v1/assets/demo/stream", params={"level": level}).status_code == status


@pytest.mark.parametrize("header,span", [("bytes=10-19", (10, 20)), ("bytes=1000-", (1000, None)),
                                         ("bytes=-7", (-7, None)), ("bytes=5-999999", (5, None))])
def test_ranges(http, snf_assets, header, span):
    raw = snf_assets["raw"]
    want = raw[span[0]:span[1]]
    r = http.get("/v1/assets/demo/stream", headers={"Range": header})
    assert r.status_code == 206 and r.content == want
    start = span[0] % len(raw)
    assert r.headers["content-range"] == f"bytes {start}-{start + len(want) - 1}/{len(raw)}"
    assert int(r.headers["content-length"]) == len(want)


def test_unsatisfiable_and_ignored_ranges(http, snf_assets):
    size = len(snf_assets["raw"])
    r = http.get("/v1/assets/demo/stream", headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
    assert http.get("/v1/assets/demo/stream", headers={"Range": "bytes=-0"}).status_code == 416
    assert http.get("/v1/assets/demo/stream", headers={"Range": "bytes=0-1,5-6"}).status_code == 200  # multi: whole
    assert http.get("/v1/assets/demo/stream", headers={"Range": "pages=1"}).status_code == 200


def test_range_applies_to_the_level_prefix(http, snf_assets):
    end1 = snf_assets["ends"][0]
    r = http.get("/v1/assets/demo/stream", params={"level": 1}, headers={"Range": "bytes=100-"})
    assert r.status_code == 206 and r.content == snf_assets["raw"][100:end1]
    assert r.headers["content-range"] == f"bytes 100-{end1 - 1}/{end1}"
    r = http.get("/v1/assets/demo/stream", params={"level": 1}, headers={"Range": f"bytes={end1}-"})
    assert r.status_code == 416


def test_if_range_with_a_stale_etag_sends_everything(http, snf_assets):
    r = http.get("/v1/assets/demo/stream", headers={"Range": "bytes=10-", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == snf_assets["raw"]
    etag = r.headers["etag"]
    r = http.get("/v1/assets/demo/stream", headers={"Range": "bytes=10-", "If-Range": etag})
    assert r.status_code == 206 and r.content == snf_assets["raw"][10:]


def test_etag_revalidation(http):
    etag = http.get("/v1/assets/demo/stream").headers["etag"]
    for tag in (etag, f'"x", {etag}', f"W/{etag}", "*"):
        r = http.get("/v1/assets/demo/stream", headers={"If-None-Match": tag})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert http.get("/v1/assets/demo/stream", headers={"If-None-Match": '"other"'}).status_code == 200
    l2 = http.get("/v1/assets/demo/stream", params={"level": 2}).headers["etag"]
    assert http.get("/v1/assets/demo/stream", params={"level": 2}, headers={"If-None-Match": l2}).status_code == 304
    assert http.get("/v1/assets/demo/stream", params={"level": 3}, headers={"If-None-Match": l2}).status_code == 200


def test_paced_stream_delivers_level_1_long_before_the_end(http, snf_assets):
    raw, end1 = snf_assets["raw"], snf_assets["ends"][0]
    kbps = max(8, round(len(raw) * 8 / 1000 / 2))  # about 2 s for the file; 8 kbit/s is the server's floor
    got, t_level1 = 0, None
    t0 = time.monotonic()
    with http.stream("GET", "/v1/assets/demo/stream", params={"kbps": kbps}) as r:
        body = b""
        for piece in r.iter_raw():
            body += piece
            if t_level1 is None and len(body) >= end1:
                t_level1 = time.monotonic() - t0
    t_end = time.monotonic() - t0
    assert body == raw
    paced = len(raw) * 8 / (kbps * 1000)  # what the asked rate takes (the small file may hit the floor)
    assert paced > 0.8, f"asset too small to show pacing: {len(raw)} bytes"
    assert t_end > 0.75 * paced, f"not paced: {t_end:.2f} s for {paced:.2f} s of bytes"
    expected = end1 / len(raw) * t_end
    assert t_level1 < 0.6 * t_end and t_level1 < expected + 0.4, (t_level1, t_end)


def test_level_png_is_the_decoders_picture_and_cached(http, snf_assets):
    from PIL import Image
    from snf.decode.decoder import decompress
    for k in (1, 3):
        r = http.get(f"/v1/assets/demo/levels/{k}.png")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        got = np.asarray(Image.open(io.BytesIO(r.content)))
        assert np.array_equal(got, decompress(snf_assets["raw"], level=k)["image"])
        again = http.get(f"/v1/assets/demo/levels/{k}.png", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
    cached = list((snf_assets["dir"] / ".snf-cache").glob("demo.*.L1.png"))
    assert len(cached) == 1
    for bad in ("0", "4", "x", "1.5"):
        assert http.get(f"/v1/assets/demo/levels/{bad}.png").status_code == 404


# ------------------------------------------------------------------ ids

@pytest.mark.parametrize("bad", ["..%2f..%2fetc%2fpasswd", "%2e%2e", "..", "demo%00", "%2e%2e%2fdemo",
                                 "..%5c..%5cetc%5cpasswd", ".snf-catalog", "demo..x", "a" * 200, "%2fetc%2fpasswd"])
def test_traversal_ids_are_refused(snf_server, bad):
    for path in (f"/v1/assets/{bad}/stream", f"/v1/assets/{bad}", f"/v1/assets/{bad}/levels/1.png", f"/view/{bad}"):
        status, body = raw_status(snf_server.base, path)
        assert status in (400, 404), (path, status)
        assert b"root:" not in body and b"SNF" not in body


def test_symlink_out_of_dir_is_not_served(snf_server, snf_assets, http):
    outside = snf_assets["work"] / "secret.snf"
    outside.write_bytes(snf_assets["raw"])
    link = snf_assets["dir"] / "escape.snf"
    link.symlink_to(outside)
    try:
        assert http.get("/v1/assets/escape/stream").status_code == 404
        assert "escape" not in [a["id"] for a in http.get("/v1/assets").json()["assets"]]
    finally:
        link.unlink()


def test_unreadable_file_is_listed_with_its_error(http, snf_assets):
    junk = snf_assets["dir"] / "junk.snf"
    junk.write_bytes(b"this is not an snf file")
    try:
        listed = {a["id"]: a for a in http.get("/v1/assets").json()["assets"]}
        assert "error" in listed["junk"] and "demo" in listed
        r = http.get("/v1/assets/junk")
        assert r.status_code == 422 and "junk" in r.json()["detail"]
        assert http.get("/v1/assets/junk/levels/1.png").status_code == 422
        assert http.get("/v1/assets/junk/stream", params={"level": 1}).status_code == 422  # no header: no version to tag
    finally:
        junk.unlink()
    assert "junk" not in [a["id"] for a in http.get("/v1/assets").json()["assets"]]


def test_viewer_page_and_static_files_are_served(http):
    static = Path(__file__).resolve().parent.parent / "src" / "snf" / "viewer"
    r = http.get("/view/demo", params={"kbps": 40})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.content == (static / "viewer.html").read_bytes()
    assert http.get("/view/nothere").status_code == 404
    for f in static.glob("*.js"):
        assert http.get(f"/static/{f.name}").content == f.read_bytes()
    assert http.get("/static/../catalog.py").status_code == 404


def test_unknown_asset_and_job(http):
    assert http.get("/v1/assets/nothere").status_code == 404
    assert http.get("/v1/assets/nothere/stream").status_code == 404
    assert http.get("/v1/jobs/" + "0" * 32).status_code == 404
    assert http.get("/v1/jobs/../etc").status_code in (400, 404)


# ------------------------------------------------------------------ writes

def test_uploads_need_the_token(http, snf_assets):
    png = Path(snf_assets["png"]).read_bytes()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": "Bearer"}):
        r = http.post("/v1/assets", files={"file": ("x.png", png, "image/png")}, headers=headers)
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers, headers
    assert not [a for a in http.get("/v1/assets").json()["assets"] if a["id"] == "x"]


def test_upload_limits_and_bad_input(http, snf_assets):
    png = Path(snf_assets["png"]).read_bytes()
    post = lambda files, data=None, **kw: http.post("/v1/assets", files=files, data=data or {}, headers=AUTH, **kw)
    assert post({"file": ("x.txt", b"not an image", "text/plain")}).status_code == 400
    assert post({"other": ("x.png", png, "image/png")}).status_code == 400
    assert post({"file": ("x.png", png, "image/png")}, {"widths": "16,8"}).status_code == 400
    assert post({"file": ("x.png", png, "image/png")}, {"steps": "999999999"}).status_code == 400
    assert post({"file": ("x.png", png, "image/png")}, {"bits": "3"}).status_code == 400
    assert post({"file": ("x.png", png, "image/png")}, {"id": "../evil"}).status_code == 400
    assert post({"file": ("x.png", png, "image/png")}, {"id": "demo"}).status_code == 409  # exists
    big = b"\0" * (21 << 20)
    r = http.post("/v1/assets", content=big, headers={**AUTH, "content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413
    assert not list((snf_assets["dir"] / ".snf-jobs").iterdir())


def test_upload_becomes_a_streamable_asset(http, snf_assets):
    from snf.format.container import read
    png = tiny_png(snf_assets["work"] / "up.png", 24, 16, seed=3)
    with open(png, "rb") as f:
        r = http.post("/v1/assets", files={"file": ("My upload.png", f, "image/png")},
                      data={"widths": "8,16", "steps": "10"}, headers=AUTH)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "queued" and job["asset_id"] == "My-upload" and r.headers["location"] == job["url"]
    with open(png, "rb") as f:
        dup = http.post("/v1/assets", files={"file": ("x.png", f, "image/png")}, data={"id": "My-upload"}, headers=AUTH)
    assert dup.status_code == 409  # a job already writes that id
    done = wait_job(http, job["id"])
    assert done["state"] == "done" and done["progress"] == 1.0 and done["asset_url"] == "/v1/assets/My-upload", done
    assert "My-upload" in [a["id"] for a in http.get("/v1/assets").json()["assets"]]
    m = http.get("/v1/assets/My-upload").json()
    assert (m["width"], m["height"], m["widths"]) == (24, 16, [8, 16])
    body = http.get("/v1/assets/My-upload/stream").content
    parsed = read(body, decode=False)
    assert parsed.complete and parsed.error is None and len(body) == m["bytes"]
    assert not (snf_assets["dir"] / ".snf-jobs" / job["id"]).exists()


def test_killed_worker_fails_the_job_and_leaves_no_file(http, snf_assets):
    png = tiny_png(snf_assets["work"] / "long.png", 32, 32, seed=5)
    with open(png, "rb") as f:
        r = http.post("/v1/assets", files={"file": ("long.png", f, "image/png")},
                      data={"widths": "8,16", "steps": "20000", "id": "long"}, headers=AUTH)
    job = r.json()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        from snf.serve.catalog import Catalog
        row = Catalog(str(snf_assets["dir"] / ".snf-catalog.sqlite3")).job(job["id"])
        if row["state"] == "running" and row["pid"]:
            break
        time.sleep(0.1)
    os.kill(row["pid"], signal.SIGKILL)  # the worker process this test's server started
    failed = wait_job(http, job["id"])
    assert failed["state"] == "failed" and "signal 9" in failed["error"], failed
    assert not (snf_assets["dir"] / "long.snf").exists()
    assert not [p for p in snf_assets["dir"].iterdir() if p.name.endswith(".tmp")]
    assert "long" not in [a["id"] for a in http.get("/v1/assets").json()["assets"]]


# ------------------------------------------------------------------ restarts

def plant_running_job(catalog, settings, asset_id: str, attempts: int, with_input: bool, png: str) -> str:
    import shutil
    import uuid
    job_id = uuid.uuid4().hex
    os.makedirs(settings.job_dir(job_id))
    if with_input:
        shutil.copy(png, os.path.join(settings.job_dir(job_id), "input"))
        Path(settings.job_dir(job_id), ".snf-half.tmp").write_bytes(b"\x89SNF half")  # a crash in write_atomic
    settings_row = {"widths": [8, 16], "mode": "progressive", "bits": 8, "steps": 10, "time_budget": None, "seed": 0}
    # one job in the row format before settings were one object: a restart must still run it
    params = ({"settings": settings_row} if asset_id != "again" else dict(settings_row)) | {"threads": 1, "replace": False}
    catalog.add_job(job_id, asset_id, params, "input")
    catalog.claim_next()
    catalog._run("UPDATE jobs SET attempts = ?, pid = 999999 WHERE id = ?", (attempts, job_id))
    return job_id


def test_restart_requeues_or_fails_jobs_left_running(snf_assets, tmp_path):
    from snf.serve.catalog import Catalog
    from snf.serve.config import Settings
    folder = tmp_path / "crashed"
    folder.mkdir()
    settings = Settings(root=str(folder.resolve()))
    catalog = Catalog(settings.db_path)
    png = tiny_png(tmp_path / "r.png", 24, 16)
    resumable = plant_running_job(catalog, settings, "again", 1, True, png)
    exhausted = plant_running_job(catalog, settings, "tired", 2, True, png)
    lost = plant_running_job(catalog, settings, "lost", 1, False, png)
    stray = Path(settings.jobs_dir, "f" * 32)
    stray.mkdir()
    catalog.close()
    served = Served(folder, None)  # read-only: uploads are refused with 403
    try:
        with httpx.Client(base_url=served.base, timeout=30) as http:
            r = http.post("/v1/assets", files={"file": ("x.png", b"x", "image/png")}, headers=AUTH)
            assert r.status_code == 403 and "SNF_TOKEN" in r.json()["detail"]
            assert http.get(f"/v1/jobs/{exhausted}").json()["state"] == "failed"
            assert "input missing" in http.get(f"/v1/jobs/{lost}").json()["error"]
            assert not stray.exists()
            assert [a["id"] for a in http.get("/v1/assets").json()["assets"]] in ([], ["again"])
            done = wait_job(http, resumable)
            assert done["state"] == "done" and done["attempts"] == 2, done
            assert [a["id"] for a in http.get("/v1/assets").json()["assets"]] == ["again"]
    finally:
        served.stop()
    assert not (folder / "tired.snf").exists() and not (folder / "lost.snf").exists()


def test_clean_shutdown_requeues_the_running_job(tmp_path):
    from snf.serve.catalog import Catalog
    folder = tmp_path / "stopping"
    folder.mkdir()
    png = tiny_png(tmp_path / "s.png", 32, 32)
    served = Served(folder, TOKEN)
    try:
        with open(png, "rb") as f:
            job = httpx.post(served.base + "/v1/assets", files={"file": ("s.png", f, "image/png")},
                             data={"widths": "8,16", "steps": "20000"}, headers=AUTH, timeout=30).json()
        catalog = Catalog(str(folder / ".snf-catalog.sqlite3"))
        deadline = time.monotonic() + 30
        while (row := catalog.job(job["id"]))["pid"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = row["pid"]
    finally:
        assert served.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    row = catalog.job(job["id"])
    assert row["state"] == "queued" and "server stopped" in row["message"]
    assert row["attempts"] == 0  # a clean stop gives the interrupted run back: not an attempt
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker went with the server
    assert os.path.isfile(folder / ".snf-jobs" / job["id"] / "input") and not (folder / "s.snf").exists()


def test_serve_cli_errors(tmp_path):
    import subprocess
    from snf_serve_fixtures import BIN
    for args in ([str(tmp_path / "missing")], [str(tmp_path), "--port", "99999"]):
        r = subprocess.run([str(BIN / "snf-serve"), *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and r.stderr.startswith("snf-serve: error:") and len(r.stderr.splitlines()) == 1


# ------------------------------------------------------------------ pure helpers

def test_parse_range_rules():
    from snf.serve.ranges import Unsatisfiable, parse_range
    assert parse_range("bytes=0-0", 10) == (0, 1)
    assert parse_range("bytes=-20", 10) == (0, 10)
    assert parse_range("bytes=9-", 10) == (9, 10)
    assert parse_range("bytes=5-2", 10) is None and parse_range("bytes=x", 10) is None and parse_range(None, 10) is None
    for bad in ("bytes=10-", "bytes=-0", "bytes=10-20"):
        with pytest.raises(Unsatisfiable):
            parse_range(bad, 10)


def test_asset_ids():
    from snf.serve.ids import id_from_upload, valid_asset_id
    assert valid_asset_id("kodim03") and valid_asset_id("a.b_c-d") and not valid_asset_id("a..b")
    assert not any(valid_asset_id(x) for x in ("", ".", "..", ".hidden", "a/b", "a\\b", "a\0", "-x", "a" * 129))
    assert id_from_upload("My photo (1).PNG") == "My-photo-1" and id_from_upload("../../..") is None


def test_grid_field_asset_is_served(tmp_path):
    """A latent-grid file: manifest (field grid), level PNGs equal to the decoder's, the stream
    byte-exact. (The manifest once read SIREN-only keys and answered 500 for every grid file.)"""
    import subprocess
    from PIL import Image
    from snf.decode.decoder import decompress
    from snf_serve_fixtures import BIN
    folder = tmp_path / "assets"
    folder.mkdir()
    png = tiny_png(tmp_path / "t.png")
    subprocess.run([str(BIN / "snf-encode"), png, "-o", str(folder / "g.snf"), "--field", "grid",
                    "--grid", "3.2:6,1:6", "--steps", "10", "--quiet"], check=True, timeout=120)
    raw = (folder / "g.snf").read_bytes()
    served = Served(folder, None)
    try:
        with httpx.Client(base_url=served.base, timeout=30) as c:
            m = c.get("/v1/assets/g")
            assert m.status_code == 200, m.text
            m = m.json()
            assert m["field"] == "grid" and m["mode"] is None and [lv["level"] for lv in m["levels"]] == [1, 2]
            for k in (1, 2):
                r = c.get(f"/v1/assets/g/levels/{k}.png")
                assert r.status_code == 200
                got = np.asarray(Image.open(io.BytesIO(r.content)))
                assert np.array_equal(got, decompress(raw, level=k)["image"])
            assert c.get("/v1/assets/g/stream").content == raw
            assert c.get("/view/g").status_code == 200
    finally:
        served.stop()
