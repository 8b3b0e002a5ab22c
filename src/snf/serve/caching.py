"""Cache headers for every byte response, fit for a CDN or any shared HTTP cache.

Three kinds of resource, three policies:
- a **versioned** URL (`?v=VERSION`, the first 16 hex digits of the file's SHA-256,
  as the manifest gives it) names bytes that never change: cached for a year,
  `immutable`; a version that is no longer current is 404, never other bytes;
- an **unversioned** URL (`/v1/assets/{id}/stream`, level PNGs without `?v=`) may
  change when an id is re-encoded: cacheable, but revalidated on each use
  (`no-cache` with a strong ETag, so a cache answers from a 304);
- a **growing** asset (no end chunk yet: an encoder is still publishing levels)
  gets a weak ETag and is never cached as immutable, versioned or not; its
  manifest is not cached at all. Manifests and listings are short-lived.
"""
from __future__ import annotations

YEAR = 365 * 86400
IMMUTABLE = f"public, max-age={YEAR}, immutable"
REVALIDATE = "public, no-cache"
SHORT = "public, max-age=5, stale-while-revalidate=30"
NOT_CACHED = "no-cache"


def version_of(sha256: str) -> str:
    """An asset version: content-addressed, so equal bytes have equal versions on every replica."""
    return sha256[:16]


def cache_headers(kind: str, *, growing: bool = False, versioned: bool = False) -> dict:
    """`Cache-Control` (and `Vary`) for a response of `kind`: "bytes" (the stream, a level
    PNG), "manifest" or "listing"."""
    if kind == "bytes":
        if growing:
            return {"cache-control": NOT_CACHED}
        return {"cache-control": IMMUTABLE if versioned else REVALIDATE}
    if kind in ("manifest", "listing"):
        return {"cache-control": NOT_CACHED if growing else SHORT}
    raise ValueError(f"unknown resource kind {kind!r}")


def weak(etag: str) -> str:
    """The weak form of an ETag: same bytes, but a growing file's tag may not be used for ranges."""
    return etag if etag.startswith("W/") else "W/" + etag
