"""snf-serve under hostile load (issue 13): bounded jobs, memory, connections; no 500; integrity."""
from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException

pytest.register_assert_rewrite("snf_serve_fixtures")
from snf_serve_fixtures import AUTH, TOKEN, Served, tiny_png  # noqa: E402

pytest_plugins = ["snf_serve_fixtures"]


def raw_request(base: str, request: bytes, timeout: float = 10) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def status_of(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


# ------------------------------------------------------------------ no 500 on malformed input

@pytest.mark.parametrize("path", ["/v1/assets/demo/levels/%C2%B2.png", "/v1/assets/demo/levels/%D9%A3.png",
                                  "/v1/assets/demo/levels/" + "9" * 5000 + ".png", "/v1/assets/%C2%B2",
                                  "/v1/assets/demo/stream?kbps=" + "9" * 5000, "/v1/jobs/%00" + "a" * 31])
def test_malformed_paths_are_4xx_not_500(snf_server, path):
    data = raw_request(snf_server.base, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert 400 <= status_of(data) < 500, data[:200]


@pytest.mark.parametrize("header", ["bytes=0-" + "9" * 5000, "bytes=" + "9" * 5000 + "-", "bytes=-" + "9" * 5000,
                                    "bytes=\u0661-\u0662", "bytes=0-1," + "2-3," * 2000 + "4-5"])
def test_hostile_ranges_are_ignored_or_refused(http, snf_assets, header):
    r = http.get("/v1/assets/demo/stream", headers={"Range": header.encode("utf-8")})
    assert r.status_code in (200, 416)
    if r.status_code == 200:
        assert r.content == snf_assets["raw"]


def test_range_parsing_is_ascii_and_bounded():
    from snf.serve.ranges import http_time, parse_range
    assert parse_range("bytes=\u0661-\u0662", 100) is None          # Arabic-Indic digits are not digits here
    assert parse_range("bytes=0-" + "9" * 5000, 100) is None         # no int() of 5,000 digits
    assert parse_range("bytes=0-999999999999999999", 100) == (0, 100)
    assert http_time("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777.0
    assert http_time("\u00b2" * 10) is None and http_time("x" * 5000) is None


# ------------------------------------------------------------------ RFC 9110: HEAD, OPTIONS, conditionals

def test_preconditions_follow_rfc_9110():
    from snf.serve.ranges import preconditions
    tag, t = '"abc"', 784111777.0
    old, new = "Sat, 05 Nov 1994 08:49:37 GMT", "Mon, 07 Nov 1994 08:49:37 GMT"
    assert preconditions({"if-match": '"zzz"'}, tag, t) == 412
    assert preconditions({"if-match": f'"zzz", {tag}'}, tag, t) is None
    assert preconditions({"if-match": f"W/{tag}"}, tag, t) == 412            # If-Match compares strongly
    assert preconditions({"if-match": "*"}, tag, t) is None
    assert preconditions({"if-unmodified-since": old}, tag, t) == 412
    assert preconditions({"if-unmodified-since": new}, tag, t) is None
    assert preconditions({"if-match": tag, "if-unmodified-since": old}, tag, t) is None  # If-Match wins
    assert preconditions({"if-none-match": tag}, tag, t) == 304
    assert preconditions({"if-none-match": '"x"', "if-modified-since": new}, tag, t) is None  # INM wins
    assert preconditions({"if-modified-since": new}, tag, t) == 304
    assert preconditions({"if-modified-since": old}, tag, t) is None
    assert preconditions({"if-modified-since": "garbage"}, tag, t) is None


def test_conditional_requests_on_the_stream(http, snf_assets):
    head = http.head("/v1/assets/demo/stream")
    etag, modified = head.headers["etag"], head.headers["last-modified"]
    assert etag == f'"{hashlib.sha256(snf_assets["raw"]).hexdigest()[:32]}"'  # content hash, no inode
    assert http.get("/v1/assets/demo/stream", headers={"If-Match": '"other"'}).status_code == 412
    assert http.get("/v1/assets/demo/stream", headers={"If-Match": etag}).content == snf_assets["raw"]
    assert http.get("/v1/assets/demo/stream",
                    headers={"If-Unmodified-Since": "Sat, 05 Nov 1994 08:49:37 GMT"}).status_code == 412
    assert http.get("/v1/assets/demo/stream", headers={"If-Modified-Since": modified}).status_code == 304
    png = http.get("/v1/assets/demo/levels/1.png")
    assert http.get("/v1/assets/demo/levels/1.png", headers={"If-Match": '"x"'}).status_code == 412
    assert http.get("/v1/assets/demo/levels/1.png", headers={"If-None-Match": png.headers["etag"]}).status_code == 304


@pytest.mark.parametrize("path", ["/healthz", "/v1/assets", "/v1/assets/demo", "/v1/assets/demo/levels/1.png",
                                  "/view/demo"])
def test_head_everywhere_get_is(http, path):
    get, head = http.get(path), http.head(path)
    assert get.status_code == head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


@pytest.mark.parametrize("path,allow", [("/v1/assets", "GET, HEAD, POST, OPTIONS"),
                                        ("/v1/assets/demo/stream", "GET, HEAD, OPTIONS"),
                                        ("/v1/jobs", "GET, HEAD, OPTIONS"), ("/healthz", "GET, HEAD, OPTIONS")])
def test_options_and_405_list_every_method(http, path, allow):
    r = http.options(path)
    assert r.status_code == 204 and r.headers["allow"] == allow
    r = http.delete(path)
    assert r.status_code == 405 and r.headers["allow"] == allow


def test_job_listing_needs_the_token(http):
    assert http.get("/v1/jobs").status_code == 401
    assert http.get("/v1/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.get("/v1/jobs", headers=AUTH).status_code == 200


def test_pacing_has_a_floor(http):
    assert http.get("/v1/assets/demo/stream", params={"kbps": 7}).status_code == 422
    assert http.get("/v1/assets/demo/stream", params={"kbps": 1}).status_code == 422


# ------------------------------------------------------------------ integrity

def test_a_stream_never_mixes_two_versions(snf_assets, tmp_path):
    folder = tmp_path / "changing"
    folder.mkdir()
    raw = snf_assets["raw"]
    (folder / "c.snf").write_bytes(raw)
    served = Served(folder, None)
    try:
        kbps = max(8, round(len(raw) * 8 / 1000 / 2))   # about 2 s for the file
        got = b""
        with httpx.Client(base_url=served.base, timeout=30) as http:
            with http.stream("GET", "/v1/assets/c/stream", params={"kbps": kbps}) as r:
                try:
                    for piece in r.iter_raw():
                        if not got:  # rewrite in place (same inode, same size) after the first piece
                            with open(folder / "c.snf", "r+b") as f:
                                f.seek(0)
                                f.write(bytes(b ^ 0xFF for b in raw))
                        got += piece
                except httpx.RemoteProtocolError:
                    pass  # ended short: Content-Length tells the client
    finally:
        served.stop()
    assert 0 < len(got) < len(raw) and got == raw[:len(got)]


# ------------------------------------------------------------------ connections

@pytest.fixture(scope="module")
def tight_server(snf_assets, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tight") / "assets"
    folder.mkdir()
    (folder / "demo.snf").write_bytes(snf_assets["raw"])
    served = Served(folder, None, "--max-connections", "4", "--header-timeout", "1", "--idle-timeout", "1",
                    "--max-paced-streams", "1")
    yield served
    served.stop()


def test_slowloris_and_idle_sockets_are_dropped(tight_server):
    host, port = tight_server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as idle, \
            socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        t0 = time.monotonic()
        assert idle.recv(1024).startswith(b"HTTP/1.1 408") and slow.recv(1024).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - t0 < 8


def test_connections_past_the_cap_get_503_with_retry_after(tight_server):
    host, port = tight_server.base.removeprefix("http://").split(":")
    held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(4)]
    try:
        time.sleep(0.2)
        data = raw_request(tight_server.base, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(data) == 503 and b"retry-after: " in data.lower()
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert httpx.get(tight_server.base + "/healthz").status_code == 200


def test_paced_streams_past_the_cap_get_503(tight_server):
    with httpx.Client(base_url=tight_server.base, timeout=30) as http:
        with http.stream("GET", "/v1/assets/demo/stream", params={"kbps": 8}) as first:
            assert first.status_code == 200
            second = http.get("/v1/assets/demo/stream", params={"kbps": 8})
            assert second.status_code == 503 and int(second.headers["retry-after"]) > 0
            assert http.get("/v1/assets/demo/stream").status_code == 200  # unpaced: not capped
        time.sleep(0.3)
        with http.stream("GET", "/v1/assets/demo/stream", params={"kbps": 8}) as again:
            assert again.status_code == 200  # the slot came back when the first one was closed


def test_out_of_descriptors_is_503_and_one_log_line(snf_assets, tmp_path):
    import resource
    folder = tmp_path / "fds"
    folder.mkdir()
    (folder / "demo.snf").write_bytes(snf_assets["raw"])
    served = Served(folder, None)
    try:
        in_use = len(os.listdir(f"/proc/{served.proc.pid}/fd"))
        soft, hard = resource.prlimit(served.proc.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(served.proc.pid, resource.RLIMIT_NOFILE, (in_use + 6, hard))
        host, port = served.base.removeprefix("http://").split(":")
        socks = [socket.create_connection((host, int(port)), timeout=10) for _ in range(30)]
        statuses = []
        for s in socks[:5]:
            s.sendall(b"GET /v1/assets/demo/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            statuses.append(status_of(s.recv(4096)))
        assert 500 not in statuses and statuses.count(200) + statuses.count(503) == len(statuses)
        for s in socks:
            s.close()
        resource.prlimit(served.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
        time.sleep(1.5)
        assert httpx.get(served.base + "/healthz", timeout=10).status_code == 200
    finally:
        served.stop()
    log = served.log.read_text()
    assert "Traceback" not in log and 1 <= log.count("out of file descriptors") <= 2, log[-2000:]


# ------------------------------------------------------------------ jobs

def test_runner_runs_exactly_workers_jobs(tmp_path):
    from snf.serve.catalog import Catalog
    from snf.serve.config import Settings
    from snf.serve.jobs import JobRunner
    settings = Settings(root=str(tmp_path), workers=2)
    catalog = Catalog(settings.db_path)
    for i in range(5):
        catalog.add_job(f"{i:032x}", f"a{i}", {}, "input")
    peak, now = 0, 0

    async def fake(job):
        nonlocal peak, now
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.05)
        now -= 1
        catalog.finish(job["id"], "done")

    async def main():
        runner = JobRunner(settings, catalog)
        runner._run_one = fake
        runner.start()
        while any(j["state"] != "done" for j in catalog.jobs()):
            await asyncio.sleep(0.02)
        runner._stopping = True
        runner._task.cancel()
    asyncio.run(asyncio.wait_for(main(), 30))
    assert peak == 2


def test_one_pending_job_per_asset_is_enforced_by_the_database(tmp_path):
    from snf.serve.catalog import Catalog, Duplicate
    catalog = Catalog(str(tmp_path / "c.sqlite3"))
    won, lost = [], []

    def add(i):
        try:
            catalog.add_job(f"{i:032x}", "same", {}, "input")
            won.append(i)
        except Duplicate:
            lost.append(i)
    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 7
    catalog.claim_next()
    catalog.finish(f"{won[0]:032x}", "done")
    catalog.add_job("f" * 32, "same", {}, "input")  # once done, the id is free again


def test_full_queue_is_429_with_retry_after(tmp_path):
    from snf.serve.catalog import Catalog
    from snf.serve.config import Settings
    from snf.serve.uploads import queue_full
    settings = Settings(root=str(tmp_path), max_queue=2)
    catalog = Catalog(settings.db_path)
    catalog.add_job("a" * 32, "a", {}, "input")
    queue_full(settings, catalog)
    catalog.add_job("b" * 32, "b", {}, "input")
    with pytest.raises(HTTPException) as e:
        queue_full(settings, catalog)
    assert e.value.status_code == 429 and int(e.value.headers["Retry-After"]) > 0


def test_output_in_place_with_its_hash_is_done(tmp_path):
    from snf.serve.catalog import Catalog
    from snf.serve.config import Settings
    from snf.serve.jobs import recover
    from snf.serve.placing import place
    settings = Settings(root=str(tmp_path))
    catalog = Catalog(settings.db_path)
    data = b"the encoded bytes"
    sha = hashlib.sha256(data).hexdigest()
    for job_id, asset, content in (("a" * 32, "placed", data), ("b" * 32, "other", b"someone else's")):
        catalog.add_job(job_id, asset, {}, "input")
        catalog.claim_next()
        catalog.set_output(job_id, sha)
        (tmp_path / f"{asset}.snf").write_bytes(content)
        os.makedirs(settings.job_dir(job_id))
        Path(settings.job_dir(job_id), "input").write_bytes(b"x")
    recover(settings, catalog)  # the server died between placing the file and marking the job
    assert catalog.job("a" * 32)["state"] == "done"
    assert catalog.job("b" * 32)["state"] == "queued"  # not its output: run again
    tmp = tmp_path / "out.tmp"
    tmp.write_bytes(data)
    place(str(tmp), str(tmp_path / "placed.snf"), False, sha)  # a rerun finding its own output: fine
    tmp.write_bytes(data)
    with pytest.raises(RuntimeError):
        place(str(tmp), str(tmp_path / "other.snf"), False, sha)


# ------------------------------------------------------------------ memory

def test_uploads_are_checked_from_the_header_only(tmp_path):
    from PIL import Image
    from snf.serve.uploads import check_image
    png = Path(tiny_png(tmp_path / "t.png", 64, 48))
    cut = tmp_path / "cut.png"
    cut.write_bytes(png.read_bytes()[:80])  # header and a scrap of IDAT: never decoded here
    assert check_image(str(cut), 10_000) == (64, 48)
    with pytest.raises(HTTPException) as e:
        check_image(str(png), 1000)
    assert e.value.status_code == 413
    Image.new("RGB", (16, 16)).save(tmp_path / "x.ico")
    with pytest.raises(HTTPException) as e:
        check_image(str(tmp_path / "x.ico"), 10_000)  # not on the format allow-list
    assert e.value.status_code == 400


def test_encoder_memory_is_estimated_and_refused_above_the_limit():
    from snf.serve.limits import cache_budget_bytes, check_encoder_memory, encoder_memory_mb
    from snf.settings import EncodeSettings
    s = EncodeSettings()
    small, large = encoder_memory_mb(64 * 64, s), encoder_memory_mb(4000 * 4000, s)
    assert small < large and encoder_memory_mb(512 * 512, s, cache=True) > encoder_memory_mb(512 * 512, s)
    assert check_encoder_memory(512 * 512, s, 3072) == encoder_memory_mb(512 * 512, s)
    with pytest.raises(HTTPException) as e:
        check_encoder_memory(4000 * 4000, s, 1024)
    assert e.value.status_code == 413 and "MiB" in e.value.detail
    assert cache_budget_bytes(512 * 512, s, 3072) > cache_budget_bytes(512 * 512, s, 1024) > 0
    assert cache_budget_bytes(512 * 512, s, 600) == 0


def test_worker_address_space_is_capped():
    code = ("from snf.serve.limits import limit_address_space\n"
            "limit_address_space(64)\n"
            "try:\n    b = bytearray(4 << 30)\nexcept MemoryError:\n    print('refused')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "refused", r.stderr
