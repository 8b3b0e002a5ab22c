"""HTTP byte ranges (RFC 9110 section 14): one range per request, as streaming clients use.

A multi-range request is answered with the whole resource (allowed by the RFC),
and a malformed Range header is ignored, so only an unsatisfiable one is an error.
"""
from __future__ import annotations

import re

_ONE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


class Unsatisfiable(Exception):
    """The range lies wholly past the end: answer 416 with `Content-Range: bytes */size`."""


def parse_range(header: str | None, size: int) -> tuple | None:
    """`Range` header -> (start, stop) half-open within `size`, or None for the whole resource."""
    if not header:
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


def etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match: weak comparison against a list of tags, or `*`."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    want = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == want for tag in header.split(","))


def if_range_holds(header: str | None, etag: str, last_modified: str) -> bool:
    """If-Range: the range applies only while the validator (strongly) matches."""
    if not header:
        return True
    header = header.strip()
    if header.startswith('"') or header.startswith("W/"):
        return header == etag and not etag.startswith("W/")
    return header == last_modified
