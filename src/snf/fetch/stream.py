"""Download one URL's body as it arrives, resuming after a broken connection.

A dropped connection (or a 502/503/504) is retried with backoff; once bytes
have arrived the retry asks for the rest with `Range: bytes=<got>-` and
`If-Range: <validator>` (the strong ETag, else the Last-Modified date), so a file
replaced or rewritten meanwhile comes back whole (200) instead of being spliced:
`on_restart` then tells the caller to start over. With neither validator (a growing
asset's ETag is weak, and If-Range takes no weak one) nothing proves the bytes
already held are still the asset's: the retry asks for the whole body again.
Whatever is printed from a response (reason phrase, JSON detail) is escaped.
"""
from __future__ import annotations

import re
import time

import httpx

RETRY_STATUS = (502, 503, 504)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class FetchError(Exception):
    """Why a download cannot go on, in one line."""


def http_error(r: httpx.Response) -> FetchError:
    detail = ""
    try:
        r.read()
        body = r.json()
        detail = body.get("detail") if isinstance(body, dict) else ""
    except Exception:
        pass
    from snf.cli.common import escape
    reason = r.reason_phrase or ""
    if not isinstance(detail, str):
        detail = ""
    text = f"HTTP {r.status_code} {reason[:200]}".strip() + (f": {detail[:500]}" if detail else "")
    return FetchError(escape(text, keep=""))


class ResumableStream:
    """Iterate the body of `url`; `got`, `total`, `etag`, `resumes`, `restarts` describe it."""

    def __init__(self, client: httpx.Client, url: str, retries: int = 4, backoff: float = 0.5,
                 on_restart=None, on_retry=None):
        self.client, self.url = client, url
        self.retries, self.backoff = retries, backoff
        self.on_restart, self.on_retry = on_restart, on_retry
        self.got, self.total, self.etag, self.modified = 0, None, None, None
        self.resumes = self.restarts = 0

    def _validator(self) -> str | None:
        """What If-Range may carry: a strong ETag, else the Last-Modified date, else nothing."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.modified

    def _headers(self) -> dict:
        if not self.got:
            return {}
        validator = self._validator()
        if validator is None:  # nothing proves our bytes are still the asset's: ask for it whole
            return {}
        return {"Range": f"bytes={self.got}-", "If-Range": validator}

    def _accept(self, r: httpx.Response) -> bool:
        """Check a response before its body; False when nothing is left to read."""
        if r.status_code == 416 and self.got and self.total == self.got:
            return False
        if r.status_code not in (200, 206):
            raise http_error(r)
        if r.status_code == 206:
            m = _CONTENT_RANGE.fullmatch(r.headers.get("content-range", ""))
            if not self.got or m is None or int(m.group(1)) != self.got:
                raise FetchError("the server sent a byte range that was not asked for")
            self.total = int(m.group(3)) if m.group(3) != "*" else None
            self.resumes += 1
            return True
        if self.got:  # 200 to a range request: the file changed (or ranges are unsupported)
            self.got = 0
            self.restarts += 1
            if self.on_restart:
                self.on_restart()
        length = r.headers.get("content-length")
        self.total = int(length) if length and length.isdigit() else None
        self.etag = r.headers.get("etag")
        self.modified = r.headers.get("last-modified")
        return True

    def __iter__(self):
        failures = 0
        while True:
            try:
                with self.client.stream("GET", self.url, headers=self._headers()) as r:
                    if r.status_code in RETRY_STATUS:
                        raise httpx.TransportError(f"HTTP {r.status_code}")
                    if not self._accept(r):
                        return
                    for piece in r.iter_bytes():
                        if piece:
                            failures = 0
                            self.got += len(piece)
                            yield piece
                if self.total is None or self.got >= self.total:
                    return
                raise httpx.TransportError("the connection closed early")
            except (httpx.TransportError, httpx.DecodingError) as e:
                failures += 1
                if failures > self.retries:
                    raise FetchError(f"{_describe(e)} (gave up after {self.retries} retries)") from None
                wait = self.backoff * 2 ** (failures - 1)
                if self.on_retry:
                    self.on_retry(_describe(e), wait)
                time.sleep(wait)


def _describe(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0]}" if text else e.__class__.__name__
