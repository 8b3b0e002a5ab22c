"""Hostile files and hostile servers (issue 26): every decode bounded before it starts,
every client safe.

The crafted files of tests/hostile.py (valid CRCs: what an attacker can write within the
framing) and a deterministic fuzz corpus (tests/fuzz/corpus.py: seeds of every kind,
each mutated with its CRCs kept valid) go through the Python and JavaScript readers
(which must agree file for file), the CLIs, the Pillow plugin and the server routes.
Each ends in a listed error kind or a picture, within time and memory bounds.
"""
from __future__ import annotations

import io
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "fuzz"))

import hostile  # noqa: E402
from corpus import corpus  # noqa: E402
from snf.format import container as C  # noqa: E402
from snf.format.container import ERROR_KINDS, read  # noqa: E402

NODE = shutil.which("node")
BIN = os.path.dirname(sys.executable)
FUZZ_FILES = 400          # mutants (plus the seeds): ~1 s to read in each language
PER_FILE_SECONDS = 3.0    # any one file, read and (when cheap) rendered
RENDER_MACS = 2e8         # the fuzz renders what costs less than this (the cost model says, not a timer)


@pytest.fixture(scope="module")
def crafted() -> dict:
    return hostile.small_cases()


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("fuzz")
    for name, data in corpus(FUZZ_FILES).items():
        (folder / f"{name}.snf").write_bytes(data)
    return str(folder)


# ------------------------------------------------------------------ the readers

EXPECTED = {  # crafted file -> (error kind or None, what the reader must say)
    "billion-params": ("limit", "parameters"),
    "hour-render": ("limit", "multiply-adds"),
    "sdf-512x1x1": (None, None),
    "sdf-side-4": (None, None),
    "sdf-transform-abc": ("header", "transform"),
    "width-1-video": (None, None),
    "integral-floats": (None, None),
    "levels-wrong-type": (None, None),
    "psnr-nan": (None, None),
    "encoder-bin-ext": ("header", "ExtType"),
    "nesting-1000": ("header", "nesting"),
    "grid-hidden-inf": ("header", "hidden"),
    "grid-layers-1.5": ("header", "layers"),
    "requires-escape": ("unsupported", "needs"),
}


def test_crafted_files_end_in_their_listed_error(crafted):
    assert set(EXPECTED) <= set(crafted)
    for name, (kind, words) in EXPECTED.items():
        t0 = time.perf_counter()
        p = read(crafted[name])
        assert time.perf_counter() - t0 < 1.0, name
        assert (p.error.kind if p.error else None) == kind, (name, p.error)
        if words:
            assert words in str(p.error) and "\n" not in str(p.error), (name, str(p.error))
        else:
            assert p.levels_complete == p.arch.levels and p.complete, name


def test_integral_floats_decode_to_the_same_picture():
    from snf.decode.decoder import decompress
    floats = hostile.siren("image", (20.0, 10.0), [6], 2, payloads="random",
                           values={"range": [-1.0, 1.0], "bit_depth": 8.0})
    ints = hostile.siren("image", (20, 10), [6], 2, payloads="random", values={"range": [-1.0, 1.0], "bit_depth": 8})
    a, b = decompress(floats), decompress(ints)
    assert a["image"].shape == (10, 20, 3) and np.array_equal(a["image"], b["image"])
    assert read(floats).header["size"] == [20, 10] and isinstance(read(floats).header["size"][0], int)


def test_a_decode_to_level_k_touches_only_levels_1_to_k():
    """Level 2's payload is broken: decoding level 1 never reads it (Parser(upto=1))."""
    good = hostile.siren("image", (8, 6), [4, 8], 2, payloads="random")
    p = read(good)
    broken = good[:p.ends[0]] + C.chunk(C.T_LEVEL, 2, b"\0" * 9) + good[p.ends[1]:]
    assert read(broken).error.kind == "payload"
    lazy = read(broken, upto=1)
    assert lazy.error is None and lazy.levels_complete == 2 and lazy.levels[1] is None
    from snf.decode.decoder import decompress
    assert decompress(broken, level=1)["level"] == 1
    assert decompress(broken)["level"] == 1  # the highest level that decodes


def _python_outcome(data: bytes) -> list:
    p = read(data)
    return [p.error.kind if p.error else None, p.error.level if p.error else None, p.levels_complete, p.complete]


def test_fuzz_corpus_python_reader(fuzz_dir):
    """Every mutant: read() returns (never raises) a listed kind; cheap renders decode;
    snf-info's summary and the server's JSON never fail on what the header says."""
    from snf.cli.common import json_safe
    from snf.cli.info import summary
    from snf.decode.decoder import decompress
    from snf.format.cost import cost
    names = sorted(os.listdir(fuzz_dir))
    assert len(names) >= FUZZ_FILES
    rendered = 0
    for name in names:
        data = open(os.path.join(fuzz_dir, name), "rb").read()
        t0 = time.perf_counter()
        p = read(data)
        assert p.error is None or p.error.kind in ERROR_KINDS, name
        if p.header is None:
            continue
        info = summary(read(data, decode=False), len(data))
        json.dumps(json_safe(info), allow_nan=False)
        if p.levels_complete and p.header["signal"] == "image" and \
                cost(p.header, p.arch, p.levels_complete).macs <= RENDER_MACS:
            out = decompress(data)
            assert out["image"].dtype in (np.uint8, np.uint16) and out["level"] >= 1
            rendered += 1
        assert time.perf_counter() - t0 < PER_FILE_SECONDS, name
    assert rendered >= 20  # the corpus reaches the renderer, not only the header checks


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (.ci/run installs it)")
def test_fuzz_corpus_node_reader_agrees_with_python(fuzz_dir):
    r = subprocess.run([NODE, os.path.join(HERE, "fuzz", "read_kinds.mjs"), fuzz_dir], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    js = json.loads(r.stdout)
    assert js.pop("#rss_mb") < 512  # the JS reader's memory is bounded by the header checks
    disagree = []
    for name in sorted(js):
        data = open(os.path.join(fuzz_dir, name), "rb").read()
        if _python_outcome(data) != js[name][:4]:
            disagree.append((name, _python_outcome(data), js[name][:4]))
        assert js[name][4] < PER_FILE_SECONDS * 1000, name
    assert not disagree, disagree[:10]


# ------------------------------------------------------------------ the C kernel

def test_the_c_kernel_takes_every_width_and_checks_its_arguments():
    from snf.decode import render
    if render._fast is None:
        pytest.skip("the C kernel is not built")
    from snf.decode.decoder import decompress
    for w, layers, d_in, signal, size in [(800, 2, 2, "image", (16, 12)), (1, 2, 3, "video", (8, 6, 3)),
                                          (1, 3, 2, "image", (5, 4))]:
        data = hostile.siren(signal, size, [w], layers, d_in=d_in, payloads="random")
        p = read(data)
        net = render.Network(p.arch, p.levels, 1)
        coords = render.grid(size)
        fused = net(coords)
        os.environ["SNF_NO_C_KERNEL"] = "1"
        try:
            ref = render.Network(p.arch, p.levels, 1)(coords)
        finally:
            del os.environ["SNF_NO_C_KERNEL"]
        assert np.allclose(fused, ref, rtol=1e-3, atol=2e-3), (w, layers, d_in)  # sums of 800 terms: float32 order
        if signal == "image":
            assert decompress(data)["image"].shape == (size[1], size[0], 3)
    f = render._fast.forward
    x = np.zeros((40, 2), np.float32)
    y = np.zeros((40, 3), np.float32)
    W = np.ones((8, 5), np.float32).tobytes()
    bad = [
        [(-1, 8, 5, False, W)],            # an output group wider than d_out (wrote out of bounds)
        [(0, 8, 5, True, W)],              # rows a+1..a+n past the activation rows
        [(0, 2, 9, True, W)],              # reads more rows than exist
        [(0, 2, 5, True, W[:8])],          # weights shorter than n*K
        [(-2, 2, 5, True, W)],
    ]
    for groups in bad:
        with pytest.raises(ValueError):
            f(groups, 2, 3, 5, x, y, 40, 0, 2)
    with pytest.raises(ValueError):
        f([], 2, 3, 5, x, y, 40, 0, 3)     # blocks past the samples
    with pytest.raises(ValueError):
        f([], 2, 3, 5, x, y, 80, 0, 2)     # more samples than x holds


def test_the_encoder_refuses_what_no_decoder_reads_before_training():
    from snf.settings import EncodeSettings, SettingsError
    EncodeSettings(widths=(800,), layers=2)  # the kernel decodes it now: allowed
    with pytest.raises(SettingsError, match="chunk limit"):
        EncodeSettings(widths=(2100, 4096), layers=16)
    with pytest.raises(SettingsError, match="limit"):
        EncodeSettings(widths=(1500,) * 16, layers=16, mode="individual", grow="spatial")
    s = EncodeSettings(widths=(768,), layers=16)
    with pytest.raises(SettingsError, match="multiply-adds"):
        s.check_decodable(s.arch(d_out=3), {"signal": "image", "size": [4000, 4000]})


# ------------------------------------------------------------------ the CLIs

def _cli(prog: str, argv: list, capsys) -> tuple:
    from snf.cli import decode, info
    from snf.cli.common import run
    body = {"snf-info": info.body, "snf-decode": decode.body}[prog]
    code = run(prog, body, argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_clis_on_crafted_and_fuzzed_files(crafted, fuzz_dir, tmp_path, capsys):
    """snf-info never crashes on a readable file; snf-decode ends in a picture or one line
    (exit 2); neither prints a control character from the file."""
    files = {n: d for n, d in crafted.items() if n not in ("sdf-512x1x1",)}  # 134M samples: measured, not CI
    for name in sorted(os.listdir(fuzz_dir))[::8]:
        files[name] = open(os.path.join(fuzz_dir, name), "rb").read()
    for name, data in files.items():
        path = tmp_path / "in.snf"
        path.write_bytes(data)
        p = read(data)
        cheap = p.header is not None and p.arch is not None and p.levels_complete and \
            __import__("snf.format.cost", fromlist=["cost"]).cost(p.header, p.arch, p.levels_complete).macs < RENDER_MACS
        for prog, argv in (("snf-info", [str(path)]), ("snf-info", [str(path), "--json"]),
                           ("snf-decode", [str(path), "-o", str(tmp_path / ("o.ply" if p.header and
                                          p.header.get("signal") == "sdf" else "o" if p.header and
                                          p.header.get("signal") == "video" else "o.png")), "--no-mp4"])):
            if prog == "snf-decode" and not cheap and p.error is None:
                continue
            code, out, err = _cli(prog, argv, capsys)
            assert code in (0, 2), (name, prog, err)
            assert "Traceback" not in err and "internal error" not in err, (name, prog, err)
            assert not any(ord(c) < 32 and c != "\n" for c in out + err), (name, prog, out + err)
            if code == 2:
                assert err.count("\n") == 1 and err.startswith(f"{prog}: error: "), (name, err)
            if prog == "snf-info" and p.header is not None:
                assert code == 0, (name, err)
                assert "None-bit" not in out
                if argv[-1] == "--json":
                    json.loads(out, parse_constant=lambda c: pytest.fail(f"{name}: {c} in JSON"))


def _peak_child(cmd: list, limit_mb: int = 4096, timeout: float = 120) -> tuple:
    """(exit code, stderr, seconds, peak RSS MiB) of a command under an address-space cap."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    code = [sys.executable, "-c", "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(r.returncode, round(time.perf_counter() - t, 3), "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); print(r.stderr, end='')"] + cmd
    r = subprocess.run(code, capture_output=True, text=True, timeout=timeout, preexec_fn=cap)
    first, _, err = r.stdout.partition("\n")
    rc, secs, mb = first.split()
    return int(rc), err, float(secs), int(mb)


def test_snf_decode_level_1_of_the_billion_parameter_file_is_refused_at_once(crafted, tmp_path):
    path = tmp_path / "b.snf"
    path.write_bytes(crafted["billion-params"])
    rc, err, secs, mb = _peak_child([os.path.join(BIN, "snf-decode"), str(path), "-o", str(tmp_path / "o.png"),
                                     "--level", "1"])
    assert rc == 2 and "parameters" in err and secs < 10 and mb < 300, (rc, err, secs, mb)


# ------------------------------------------------------------------ the Pillow plugin

class CountingFile(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n=-1):
        out = super().read(n)
        self.bytes_read += len(out)
        return out


def test_pillow_open_reads_only_the_header_and_decodes_on_load(crafted):
    import snf
    from PIL import Image, UnidentifiedImageError
    snf.register_pillow()
    data = hostile.siren("image", (40, 30), [8, 16], 2, payloads="random")
    f = CountingFile(data + b"\0" * 100_000)
    im = Image.open(f)
    assert im.size == (40, 30) and im.mode == "RGB" and not im.is_animated
    assert f.bytes_read < 2048  # the header chunk, not the levels
    im.load()
    assert im.n_frames == 2 and im.info["level"] == 2 and np.asarray(im).shape == (30, 40, 3)
    im.seek(0)
    assert np.asarray(im).shape == (30, 40, 3) and im.info["level"] == 1
    for name in ("billion-params", "hour-render", "encoder-bin-ext", "nesting-1000"):
        t0 = time.perf_counter()
        with pytest.raises(UnidentifiedImageError):
            Image.open(io.BytesIO(crafted[name]))
        assert time.perf_counter() - t0 < 1.0


def test_pillow_save_refuses_unknown_options_clearly(tmp_path):
    import snf
    from PIL import Image
    snf.register_pillow()
    im = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match="cannot save .snf: unknown setting 'colour'"):
        im.save(tmp_path / "x.snf", colour="red")
    assert not (tmp_path / "x.snf").exists() or (tmp_path / "x.snf").stat().st_size == 0


# ------------------------------------------------------------------ the server

@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory, crafted):
    from fastapi.testclient import TestClient
    from snf.serve.app import create_app
    from snf.serve.config import Settings
    root = tmp_path_factory.mktemp("site")
    for name, data in crafted.items():
        (root / f"{name.replace('.', '-')}.snf").write_bytes(data)
    (root / "good.snf").write_bytes(hostile.siren("image", (24, 16), [4, 8], 2, payloads="random"))
    small = hostile.siren("image", (16, 16), [8], 2, payloads="random")
    cut = small.index(b"SEND") - 4
    (root / "ancillary.snf").write_bytes(small[:cut] + C.chunk(b"anci", 0, b"") * 100_000 + small[cut:])
    settings = Settings(root=str(root), max_render_macs=1 << 32)
    with TestClient(create_app(settings)) as client:
        yield client, root


def test_one_bad_file_is_one_bad_entry(hostile_site):
    client, root = hostile_site
    r = client.get("/v1/assets")
    assert r.status_code == 200
    entries = {a["id"]: a for a in r.json()["assets"]}
    assert len(entries) == len(list(root.glob("*.snf")))
    assert "error" not in entries["good"] and "error" in entries["nesting-1000"] and "error" in entries["billion-params"]
    assert "error" not in entries["psnr-nan"] and entries["psnr-nan"]["psnr"] == [None]
    assert client.get("/").status_code == 200
    for asset_id in entries:
        assert client.get(f"/v1/assets/{asset_id}").status_code in (200, 422), asset_id


def test_level_renders_are_bounded_and_failures_cached(hostile_site):
    client, root = hostile_site
    assert client.get("/v1/assets/good/levels/2.png").status_code == 200
    t0 = time.perf_counter()
    r = client.get("/v1/assets/sdf-512x1x1/levels/1.ply")
    first = time.perf_counter() - t0
    assert r.status_code == 422 and "samples" in r.json()["detail"], r.text
    assert first < 30
    t0 = time.perf_counter()
    again = client.get("/v1/assets/sdf-512x1x1/levels/1.ply")
    assert again.status_code == 422 and again.json() == r.json()
    assert time.perf_counter() - t0 < 0.5  # cached as a failure: no second render
    assert any(n.endswith(".err") for n in os.listdir(root / ".snf-cache"))
    for asset_id in ("width-1-video", "integral-floats", "sdf-side-4", "levels-wrong-type"):
        ext = "ply" if asset_id.startswith("sdf") else "png"
        r = client.get(f"/v1/assets/{asset_id}/levels/1.{ext}")
        assert r.status_code in (200, 422), (asset_id, r.text)
        if asset_id in ("width-1-video", "integral-floats", "levels-wrong-type"):
            assert r.status_code == 200, (asset_id, r.text)


def test_the_chunk_walk_runs_once_off_the_event_loop(hostile_site):
    client, _ = hostile_site
    r = client.head("/v1/assets/ancillary/stream")
    assert r.status_code == 200
    t0 = time.perf_counter()
    for _ in range(5):
        assert client.head("/v1/assets/ancillary/stream").status_code == 200
    assert time.perf_counter() - t0 < 2.0   # the walk is cached per version
    body = client.get("/v1/assets/ancillary/stream").content
    assert read(body).complete


# ------------------------------------------------------------------ snf-fetch against a hostile server

class Hostile(BaseHTTPRequestHandler):
    """/escape: an error whose reason and detail carry terminal escapes; /trailing.snf: a file
    followed by 8 MB after SEND; /grow.snf: a weak ETag, cut after 100 bytes the first time,
    another version the second."""
    file = b""
    other = b""
    seen: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        Hostile.seen.append((self.path, self.headers.get("Range"), self.headers.get("If-Range")))
        if self.path.startswith("/escape"):
            body = json.dumps({"detail": "bad \x1b]0;owned\x07 \x1b[2J"}).encode()
            self.send_response(404, "Not \x1b[31mFound")
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/trailing"):
            body = Hostile.file + b"\xaa" * (8 << 20)
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path.startswith("/grow"):
            first = sum(1 for p, *_ in Hostile.seen if p.startswith("/grow")) == 1
            body = Hostile.file if first else Hostile.other
            self.send_response(200)
            self.send_header("etag", 'W/"v1"' if first else 'W/"v2"')
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:100] if first else body)
            self.wfile.flush()
            if first:
                self.connection.shutdown(2)


@pytest.fixture(scope="module")
def hostile_server():
    Hostile.file = hostile.siren("image", (24, 16), [4, 8], 2, payloads="random")
    Hostile.other = hostile.siren("image", (24, 16), [4, 6], 2, payloads="random")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def _fetch(*args, timeout=60):
    return subprocess.run([os.path.join(BIN, "snf-fetch"), *args], capture_output=True, text=True, timeout=timeout)


def test_fetch_escapes_what_a_server_says(hostile_server, tmp_path):
    r = _fetch(f"{hostile_server}/escape/x.snf", "-o", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr and "\\x1b" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1


def test_fetch_stops_at_the_end_chunk(hostile_server, tmp_path):
    r = _fetch(f"{hostile_server}/trailing.snf", "-o", str(tmp_path / "o"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "trailing.snf").read_bytes() == Hostile.file  # not the 8 MB after SEND


def test_fetch_restarts_from_zero_without_a_strong_validator(hostile_server, tmp_path):
    Hostile.seen.clear()
    r = _fetch(f"{hostile_server}/grow.snf", "-o", str(tmp_path / "o"), "--quiet")
    assert r.returncode == 0, r.stderr
    grows = [s for s in Hostile.seen if s[0].startswith("/grow")]
    assert len(grows) == 2 and grows[1][1] is None  # no Range without If-Range: never spliced
    assert (tmp_path / "o" / "grow.snf").read_bytes() == Hostile.other


def test_resume_carries_if_range_with_the_date_when_the_etag_is_weak():
    import httpx
    from snf.fetch.stream import ResumableStream

    class Broken(httpx.SyncByteStream):
        def __iter__(self):
            yield b"x" * 50
            raise httpx.RemoteProtocolError("cut")
    seen = []

    def handler(rq):
        seen.append(rq)
        if len(seen) == 1:
            return httpx.Response(200, headers={"etag": 'W/"a"', "last-modified": "Mon, 07 Dec 2026 10:00:00 GMT",
                                                "content-length": "100"}, stream=Broken())
        return httpx.Response(206, headers={"content-range": "bytes 50-99/100"}, content=b"y" * 50)
    s = ResumableStream(httpx.Client(transport=httpx.MockTransport(handler)), "http://x/a.snf", backoff=0)
    assert b"".join(s) == b"x" * 50 + b"y" * 50
    assert seen[1].headers["if-range"] == "Mon, 07 Dec 2026 10:00:00 GMT" and seen[1].headers["range"] == "bytes=50-"


def test_escape_shows_control_characters():
    from snf.cli.common import escape
    assert escape("a\x1b[31mb\u202ec\x9b", keep="") == "a\\x1b[31mb\\u202ec\\x9b"
    assert escape("line\nnext") == "line\nnext"
