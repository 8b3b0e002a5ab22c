"""Serving behind caches and from several processes: cache headers and validators on
every byte response, versioned (immutable) URLs, growing files, and two real
`snf-serve` processes on one asset folder sharing its SQLite catalogue."""
import os
import shutil
import signal
import threading
import time

import httpx
import pytest

from snf.format.container import read
from snf_serve_fixtures import TOKEN, Served

pytest_plugins = ["snf_serve_fixtures"]


def test_cache_headers_versioned_and_growing(snf_server, snf_assets):
    base, raw = snf_server.base, snf_assets["raw"]
    m = httpx.get(f"{base}/v1/assets/demo").json()
    assert not m["growing"] and m["version"] == m["sha256"][:16]
    r = httpx.get(f"{base}/v1/assets/demo")
    assert "max-age=5" in r.headers["cache-control"]
    plain = httpx.get(f"{base}/v1/assets/demo/stream")
    assert plain.content == raw and plain.headers["cache-control"] == "public, no-cache"
    assert plain.headers["etag"].startswith('"') and plain.headers["last-modified"]
    versioned = httpx.get(base + m["versioned_stream_url"])
    assert versioned.status_code == 200 and versioned.content == raw  # the bytes themselves, no redirect
    assert "immutable" in versioned.headers["cache-control"] and "max-age=31536000" in versioned.headers["cache-control"]
    assert versioned.headers["etag"] == plain.headers["etag"]
    lv = httpx.get(f"{base}/v1/assets/demo/stream", params={"level": 1, "v": m["version"]})
    assert lv.content == raw[: m["levels"][0]["end"]] and "immutable" in lv.headers["cache-control"]
    png = httpx.get(f"{base}/v1/assets/demo/levels/1.png", params={"v": m["version"]})
    assert png.status_code == 200 and "immutable" in png.headers["cache-control"] and png.headers["etag"]
    assert httpx.get(f"{base}/v1/assets/demo/levels/1.png").headers["cache-control"] == "public, no-cache"
    stale = httpx.get(f"{base}/v1/assets/demo/stream", params={"v": "0123456789abcdef"})
    assert stale.status_code == 404 and "immutable" not in stale.headers.get("cache-control", "")
    assert "max-age=5" in httpx.get(f"{base}/v1/assets").headers["cache-control"]


def test_growing_asset_weak_etag_not_cached_until_end_chunk(snf_server, snf_assets):
    """A file without its end chunk (an encoder publishing level by level) is growing: weak
    ETag, no-cache even under ?v=, manifest says so; the finished file replaces it atomically."""
    folder, raw, ends = snf_assets["dir"], snf_assets["raw"], snf_assets["ends"]
    base = snf_server.base
    tmp = folder / ".grow.tmp"
    tmp.write_bytes(raw[: ends[0]])  # header + level 1: a valid prefix, as `--publish-levels` writes it
    os.replace(tmp, folder / "grow.snf")
    try:
        m = httpx.get(f"{base}/v1/assets/grow").json()
        assert m["growing"] and m["levels_complete"] == 1
        assert httpx.get(f"{base}/v1/assets/grow").headers["cache-control"] == "no-cache"
        r = httpx.get(base + m["versioned_stream_url"])
        assert r.content == raw[: ends[0]] and r.headers["etag"].startswith("W/")
        assert r.headers["cache-control"] == "no-cache" and r.headers["x-snf-growing"] == "1"
        again = httpx.get(f"{base}/v1/assets/grow/stream", headers={"if-none-match": r.headers["etag"]})
        assert again.status_code == 304
        # a range under a weak validator is not honoured as If-Range: the whole body comes back
        part = httpx.get(f"{base}/v1/assets/grow/stream", headers={"range": "bytes=5-", "if-range": r.headers["etag"]})
        assert part.status_code == 200
        tmp.write_bytes(raw)
        os.replace(tmp, folder / "grow.snf")
        m2 = httpx.get(f"{base}/v1/assets/grow").json()
        assert not m2["growing"] and m2["version"] != m["version"]
        r2 = httpx.get(base + m2["versioned_stream_url"])
        assert r2.content == raw and "immutable" in r2.headers["cache-control"] and not r2.headers["etag"].startswith("W/")
        assert httpx.get(base + m["versioned_stream_url"]).status_code == 404  # the old version is gone
    finally:
        (folder / "grow.snf").unlink(missing_ok=True)


def test_two_servers_share_one_folder(tmp_path, snf_assets):
    """Two snf-serve processes on one folder: same bytes and validators from both, one job
    queue in one SQLite file (a job running on A survives B's start-up recovery, and a second
    upload for the same id through B is refused), and concurrent reads and writes without errors."""
    folder = tmp_path / "assets"
    folder.mkdir()
    png, raw = snf_assets["png"], snf_assets["raw"]
    (folder / "pic.snf").write_bytes(raw)
    a = Served(folder, TOKEN, "--workers", "1")
    b = None
    try:
        auth = {"authorization": f"Bearer {TOKEN}"}
        with open(png, "rb") as f:
            r = httpx.post(f"{a.base}/v1/assets", headers=auth, files={"file": ("slow.png", f, "image/png")},
                           data={"id": "slow", "widths": "8,16", "steps": "20000"})
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{a.base}/v1/jobs/{job}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        b = Served(folder, TOKEN, "--workers", "1")  # starts (and runs its crash recovery) while A's job runs
        seen = httpx.get(f"{b.base}/v1/jobs/{job}").json()
        assert seen["state"] == "running" and seen["attempts"] == 1, seen
        with open(png, "rb") as f:
            dup = httpx.post(f"{b.base}/v1/assets", headers=auth, files={"file": ("slow.png", f, "image/png")},
                             data={"id": "slow", "widths": "8,16", "steps": "10"})
        assert dup.status_code == 409
        ra, rb = (httpx.get(f"{s.base}/v1/assets/pic/stream") for s in (a, b))
        assert ra.content == rb.content == raw and ra.headers["etag"] == rb.headers["etag"]
        ma, mb = (httpx.get(f"{s.base}/v1/assets/pic").json() for s in (a, b))
        assert ma["version"] == mb["version"]
        # both processes read and write the catalogue at once (manifests of a file being replaced)
        errors = []

        def hammer(server, n):
            with httpx.Client(base_url=server.base, timeout=30, headers=auth) as c:
                for i in range(n):
                    for path in ("/v1/assets", "/v1/assets/pic", f"/v1/jobs/{job}", "/v1/jobs"):
                        res = c.get(path)
                        if res.status_code != 200:
                            errors.append((path, res.status_code, res.text[:200]))

        def replace(n):
            for i in range(n):
                shutil.copyfile(folder / "pic.snf", folder / ".pic.tmp")
                os.replace(folder / ".pic.tmp", folder / "pic.snf")  # new inode: manifests re-read and re-cached
                time.sleep(0.01)

        threads = [threading.Thread(target=hammer, args=(s, 15)) for s in (a, b, a, b)]
        threads.append(threading.Thread(target=replace, args=(30,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert httpx.get(f"{a.base}/v1/jobs/{job}").json()["state"] == "running"
    finally:
        if b is not None:
            b.stop()
        a.stop(signal.SIGTERM)
    with pytest.raises(Exception):
        os.kill(a.proc.pid, 0)  # gone
    assert read((folder / "pic.snf").read_bytes()).complete
