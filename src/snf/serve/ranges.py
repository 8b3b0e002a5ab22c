"""HTTP byte ranges (RFC 9110 section 14) and conditional requests (section 13).

One range per request, as streaming clients use: a multi-range request is
answered with the whole resource (allowed by the RFC), and a malformed Range
header is ignored, so only an unsatisfiable one is an error. Parsing is ASCII
only and length-bounded (no `int()` of 5,000 digits, no Unicode digits).
"""
from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

MAX_HEADER = 512          # longer Range / validator headers are ignored (no range) or fail to match
MAX_DIGITS = 18           # byte positions up to 10^18: more is not a file this server holds
_ONE = re.compile(r"[ \t]*bytes[ \t]*=[ \t]*([0-9]{0,%d})[ \t]*-[ \t]*([0-9]{0,%d})[ \t]*" % (MAX_DIGITS, MAX_DIGITS),
                  re.ASCII)


class Unsatisfiable(Exception):
    """The range lies wholly past the end: answer 416 with `Content-Range: bytes */size`."""


def parse_range(header: str | None, size: int) -> tuple | None:
    """`Range` header -> (start, stop) half-open within `size`, or None for the whole resource."""
    if not header or len(header) > MAX_HEADER:
        return None
    m = _ONE.fullmatch(header)
    if m is None:
        return None  # malformed or several ranges: serve it all
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable()
        return max(0, size - n), size
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignore
    if start >= size:
        raise Unsatisfiable()
    stop = size if not last else min(size, int(last) + 1)
    return start, stop


def content_range(start: int, stop: int, size: int) -> str:
    return f"bytes {start}-{stop - 1}/{size}"


def etag_matches(header: str | None, etag: str, strong: bool = False) -> bool:
    """If-None-Match (weak comparison) or, with `strong`, If-Match: a list of tags, or `*`."""
    if not header or len(header) > 64 * MAX_HEADER:
        return False
    if header.strip() == "*":
        return True
    if strong:
        return not etag.startswith("W/") and any(tag.strip() == etag for tag in header.split(","))
    want = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == want for tag in header.split(","))


def http_time(header: str | None) -> float | None:
    """An HTTP-date as a POSIX time, or None when absent or not a valid date (then ignored)."""
    if not header or len(header) > 64 or not header.isascii():
        return None
    try:
        return parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def preconditions(headers, etag: str, modified: float) -> int | None:
    """RFC 9110 section 13.2.2 for GET/HEAD: 412, 304, or None to go on (then If-Range, Range).

    `modified` is the representation's Last-Modified as a POSIX time (compared to the second)."""
    modified = int(modified)
    if headers.get("if-match") is not None:
        if not etag_matches(headers.get("if-match"), etag, strong=True):
            return 412
    else:
        since = http_time(headers.get("if-unmodified-since"))
        if since is not None and modified > since:
            return 412
    if headers.get("if-none-match") is not None:
        return 304 if etag_matches(headers.get("if-none-match"), etag) else None
    since = http_time(headers.get("if-modified-since"))
    if since is not None and modified <= since:
        return 304
    return None


def if_range_holds(header: str | None, etag: str, last_modified: str) -> bool:
    """If-Range: the range applies only while the validator (strongly) matches."""
    if not header:
        return True
    header = header.strip()
    if len(header) > MAX_HEADER:
        return False
    if header.startswith('"') or header.startswith("W/"):
        return header == etag and not etag.startswith("W/")
    return header == last_modified
