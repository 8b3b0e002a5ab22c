"""snf-fetch URL -o DIR [--level K]: stream an asset and write each level's PNG as it lands.

Bytes go into the codec's incremental `Parser`; each level is rendered (numpy
only, in a background thread so the download goes on) the moment its chunk is
complete, and written as DIR/level-K.png atomically. The raw bytes are kept as
DIR/<id>.snf (DIR/<id>.snf.part until the end). A broken connection is resumed
with a Range request.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from snf import __version__
from snf.cli.common import UsageError, escape, run
from snf.format.container import MIME_TYPE, Parser, write_atomic
from snf.progress import Bar

PROG = "snf-fetch"
# The largest stream a valid file needs: prefix, header chunk (1 MiB), 16 level chunks (64 MiB each)
# and the end chunk, plus room for ancillary chunks. Past it a server is sending something else.
MAX_FETCH_BYTES = (16 + 2) * (64 << 20)
_ASSET = re.compile(r"(?P<base>.*)/(?:v1/assets|view)/(?P<id>[^/]+)(?:/stream)?/?")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Stream an .snf asset and write level-1.png, level-2.png, ... as each level's "
                               "bytes arrive. URL: an asset (http://host/v1/assets/ID), its /stream, its "
                               "/view page, or any URL of an .snf file.")
    p.add_argument("url")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--level", type=int, help="fetch only the bytes up to level K")
    p.add_argument("--kbps", type=int, help="ask the server to pace the stream (kilobits per second)")
    p.add_argument("--retries", type=int, default=4, help="reconnects after a broken connection (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=30, help="seconds without data before a retry (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary on stderr")
    return p


def stream_url(url: str, level: int | None, kbps: int | None) -> tuple:
    """(URL to GET, asset id) from what the user gave."""
    import httpx
    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as e:
        raise UsageError(f"bad URL {url!r}: {e}") from None
    if u.scheme not in ("http", "https") or not u.host:
        raise UsageError(f"bad URL {url!r}: need http://host/v1/assets/ID (or an .snf file's URL)")
    m = _ASSET.fullmatch(u.path)
    if m:
        asset_id = m.group("id")
        u = u.copy_with(path=f"{m.group('base')}/v1/assets/{asset_id}/stream")
    else:
        asset_id = os.path.basename(u.path.rstrip("/")).removesuffix(".snf")
    params = {k: v for k, v in (("level", level), ("kbps", kbps)) if v is not None}
    if params:
        u = u.copy_merge_params(params)
    return str(u), asset_id if _SAFE_ID.fullmatch(asset_id) and ".." not in asset_id else "asset"


class LevelWriter:
    """Renders and writes levels in one background thread, in order; notes when each landed."""

    def __init__(self, out_dir: str, t0: float, report):
        self.out_dir, self.t0, self.report = out_dir, t0, report
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="snf-render")
        self.futures, self.times, self.files = [], {}, {}

    def submit(self, parsed, level: int) -> None:
        self.futures.append(self.pool.submit(self._write, parsed, level))

    def _write(self, parsed, level: int) -> None:
        from snf.decode.preview import render_level
        data, ext = render_level(parsed, level)  # image PNG, video frame strip PNG, shape PLY
        path = os.path.join(self.out_dir, f"level-{level}.{ext}")
        write_atomic(path, data)
        self.times[level] = time.monotonic() - self.t0
        self.files[level] = path
        self.report(level, self.times[level])

    def close(self) -> None:
        """Wait for every render; re-raise the first failure."""
        self.pool.shutdown(wait=True)
        for f in self.futures:
            f.result()

    @property
    def first(self) -> float | None:
        return min(self.times.values()) if self.times else None


class Download:
    """One fetch: the stream, the parser, the .part file and the level writer together."""

    def __init__(self, url: str, out_dir: str, level: int | None, quiet: bool):
        self.url, self.out_dir, self.level = url, out_dir, level
        self.bar, self.lock = Bar(quiet=quiet), threading.Lock()
        self.t0 = time.monotonic()
        self.parser = Parser(decode=True)
        self.writer = LevelWriter(out_dir, self.t0, self._landed)
        self.first_bytes = None  # when level 1's chunk was complete

    def _say(self, text: str) -> None:
        with self.lock:
            self.bar.line(escape(text, keep=""))

    def _landed(self, level: int, t: float) -> None:
        self._say(f"level {level}: {os.path.basename(self.writer.files.get(level, f'level-{level}'))} at {t:.3f} s")

    def restart(self) -> None:
        self.part.seek(0)
        self.part.truncate()
        self.parser = Parser(decode=True)
        self._say("the asset changed on the server: starting over")

    def consume(self, stream) -> None:
        """Feed the body to the parser and the .part file until the end chunk (bytes after it
        are neither kept nor read), an error, the level asked for, or the size bound."""
        it = iter(stream)
        try:
            for piece in it:
                before = self.parser.offset  # stream bytes received before this piece
                for k in self.parser.feed(piece):
                    if k == 1 and self.first_bytes is None:
                        self.first_bytes = time.monotonic() - self.t0
                    self.writer.submit(self.parser.parsed, k)
                p = self.parser.parsed
                if p.complete:  # SEND: keep the file up to it, stop reading
                    self.part.write(piece[:max(0, self.parser.consumed - before)])
                    break
                self.part.write(piece)
                if p.error or (self.level and p.levels_complete >= self.level):
                    break
                if self.parser.offset > MAX_FETCH_BYTES:
                    raise UsageError(f"the server sent more than {MAX_FETCH_BYTES:,} bytes without an end chunk: "
                                     "no .snf file is that large")
                self._progress(stream)
        finally:
            it.close()

    def _progress(self, stream) -> None:
        p, got, total = self.parser.parsed, stream.got, stream.total
        rate = got / max(time.monotonic() - self.t0, 1e-6)
        levels = f"level {p.levels_complete}/{p.arch.levels}" if p.arch else "header"
        size = f"{got / 1e3:,.1f}/{total / 1e3:,.1f} kB" if total else f"{got / 1e3:,.1f} kB"
        with self.lock:
            self.bar.update("fetch", got, total or 0, f"{size} {rate / 1e3:,.1f} kB/s {levels}")

    def run(self, retries: int, timeout: float):
        import httpx
        from snf.fetch.stream import ResumableStream
        headers = {"user-agent": f"{PROG}/{__version__}", "accept": f"{MIME_TYPE}, */*;q=0.1",
                   "accept-encoding": "identity"}  # byte ranges count stored bytes
        with httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), headers=headers,
                          follow_redirects=True) as client:
            stream = ResumableStream(client, self.url, retries, on_restart=self.restart,
                                     on_retry=lambda why, wait: self._say(f"{why}; retrying in {wait:.1f} s"))
            self.consume(stream)
        return stream, self.parser.finish()


def check_result(parsed, level: int | None, url: str) -> None:
    """Fail (after the complete levels were written) unless every level asked for arrived."""
    if parsed.header is None:
        raise UsageError(f"{url}: {parsed.error or 'empty response'}")
    want = min(level, parsed.arch.levels) if level else parsed.arch.levels
    if parsed.levels_complete < want:
        done = parsed.levels_complete
        raise UsageError(f"{parsed.error}" + (f" (wrote levels 1..{done})" if done else ""))


def fetch(url: str, out_dir: str, level=None, kbps=None, retries=4, timeout=30.0, quiet=False) -> dict:
    """Download, render each level as it lands, keep the bytes; return a summary."""
    from snf.fetch.stream import FetchError
    get_url, asset_id = stream_url(url, level, kbps)
    made = not os.path.isdir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    final = os.path.join(out_dir, asset_id + ".snf")
    d = Download(get_url, out_dir, level, quiet)
    d.part = open(final + ".part", "wb")
    kept = False
    try:
        stream, parsed = d.run(retries, timeout)
        d.writer.close()
        check_result(parsed, level, get_url)
        d.part.flush()
        os.fsync(d.part.fileno())
        d.part.close()
        os.replace(final + ".part", final)
        kept = True
    except FetchError as e:
        raise UsageError(str(e)) from None
    finally:
        if not kept:
            d.part.close()
            d.writer.pool.shutdown(wait=True)
            os.unlink(final + ".part")
            if made and not os.listdir(out_dir):
                os.rmdir(out_dir)
    total = time.monotonic() - d.t0
    return {"id": asset_id, "url": get_url, "file": final, "bytes": stream.got,
            "levels": parsed.levels_complete, "levels_total": parsed.arch.levels,
            "pngs": [d.writer.files[k] for k in sorted(d.writer.files)],
            "first_level_bytes_s": d.first_bytes, "first_picture_s": d.writer.first, "total_s": total,
            "resumes": stream.resumes, "restarts": stream.restarts}


def body(argv) -> int:
    args = parser().parse_args(argv)
    if args.level is not None and not 1 <= args.level <= 16:
        raise UsageError("--level must be 1..16")
    if args.kbps is not None and args.kbps < 1:
        raise UsageError("--kbps must be at least 1")
    if args.retries < 0 or args.timeout <= 0:
        raise UsageError("--retries must be >= 0 and --timeout > 0")
    s = fetch(args.url, args.output, args.level, args.kbps, args.retries, args.timeout, args.quiet)
    if not args.quiet:
        resumed = f", resumed {s['resumes']}x" if s["resumes"] else ""
        print(f"{s['id']}: {s['levels']}/{s['levels_total']} levels, {s['bytes']:,} bytes in {s['total_s']:.2f} s "
              f"({s['bytes'] / max(s['total_s'], 1e-6) / 1e3:,.1f} kB/s){resumed}; "
              f"first picture after {s['first_picture_s']:.3f} s -> {args.output}", file=sys.stderr)
    if args.json:
        print(json.dumps(s, indent=1))
    return 0


def main(argv=None) -> int:
    sys.exit(run(PROG, body, argv))
