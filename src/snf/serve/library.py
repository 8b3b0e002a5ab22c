"""The served directory as a library of assets: ids, manifests, ETags.

Manifests come from `snf.cli.info.summary` (the same figures snf-info
prints) plus what a streaming client needs: each level's byte span, the ETag and
URLs. They are cached in memory and in the SQLite catalogue, keyed by the file's
(size, mtime_ns, inode), so a changed file is re-read on the next request. The
ETag is the content's SHA-256 (not the inode: it says nothing about the host and
survives a copy or restore of the same bytes).
"""
from __future__ import annotations

import hashlib
import os
import threading
from email.utils import formatdate

from snf.cli.common import json_safe
from snf.cli.info import summary
from snf.format.container import MIME_TYPE, Parser, SnfError
from snf.serve.caching import version_of
from snf.serve.catalog import Catalog
from snf.serve.ids import asset_path, id_from_name

READ_PIECE = 1 << 20


class BadAsset(Exception):
    """A file named like an asset that does not hold a readable .snf header."""


def stat_key(st: os.stat_result) -> tuple:
    return st.st_size, st.st_mtime_ns, st.st_ino


def etag_of(sha256: str) -> str:
    """The strong ETag of a file: its content hash (128 bits of its SHA-256, hex)."""
    return f'"{sha256[:32]}"'


def level_etag(etag: str, level: int | None) -> str:
    """The ETag of the resource `?level=K` (a different representation: its own tag)."""
    return etag if level is None else f'{etag[:-1]}-L{level}"'


def http_date(st: os.stat_result) -> str:
    return formatdate(st.st_mtime, usegmt=True)


def read_manifest_fd(fd: int, st: os.stat_result, asset_id: str) -> dict:
    """The manifest of the open file `fd` (read with pread: its offset is left alone)."""
    sha = hashlib.sha256()
    parser = Parser(decode=False)
    pos = 0
    while piece := os.pread(fd, READ_PIECE, pos):
        pos += len(piece)
        sha.update(piece)
        parser.feed(piece)
    parsed = parser.finish()
    if parsed.header is None:
        raise BadAsset(f"{asset_id}: {parsed.error or 'no header'}")
    try:
        info = summary(parsed, st.st_size)
        return json_safe(manifest_from(info, asset_id, st, sha.hexdigest(), parsed.header_end))
    except Exception as e:  # noqa: BLE001 - one bad file is one bad entry, never a failed listing
        raise BadAsset(f"{asset_id}: not a readable .snf file ({e.__class__.__name__})") from None


def manifest_from(info: dict, asset_id: str, st: os.stat_result, sha256: str, header_end: int) -> dict:
    base = f"/v1/assets/{asset_id}"
    version = version_of(sha256)
    levels, offset = [], header_end
    for lv in info["levels"]:
        end = lv["bytes"]
        levels.append({
            # a latent file's levels add grids, not widths: those keys are None there
            "level": lv["level"], "width": lv.get("width"), "params": lv.get("params"),
            "level_params": lv.get("level_params"), "grids": lv.get("grids"), "complete": lv["complete"],
            "offset": offset if lv["complete"] else None, "end": end,
            "bytes": lv["chunk_bytes"], "bpp": lv["bpp"], "psnr": lv["psnr"], "steps": lv.get("steps"),
            "png_url": f"{base}/levels/{lv['level']}.png" if lv["complete"] else None,
            "stream_url": f"{base}/stream?level={lv['level']}" if lv["complete"] else None,
        })
        offset = end if lv["complete"] else offset
    return {
        "id": asset_id, "signal": info["signal"], "width": info["width"], "height": info["height"],
        "channels": info["channels"], "bytes": st.st_size, "etag": etag_of(sha256),
        "modified": http_date(st), "sha256": sha256, "version": version, "mime": MIME_TYPE,
        # the field family first: a grid file has no SIREN mode or quant block (None then)
        "field": info.get("field", "siren"), "mode": info.get("mode"), "widths": info.get("widths"),
        "layers": info.get("layers"), "quant": info.get("quant"),
        "encoder": info["encoder"], "header_bytes": header_end,
        "levels_complete": info["levels_complete"], "complete": info["complete"], "error": info["error"],
        "growing": not info["complete"],  # no end chunk yet: an encoder may still publish levels
        "levels": levels, "url": base, "stream_url": f"{base}/stream", "view_url": f"/view/{asset_id}",
        "versioned_stream_url": f"{base}/stream?v={version}",
    }


def brief(m: dict) -> dict:
    """The listing's entry for one asset."""
    keys = ("id", "width", "height", "bytes", "etag", "modified", "levels_complete", "complete",
            "url", "stream_url", "view_url")
    return {**{k: m[k] for k in keys}, "levels": len(m["levels"]),
            "psnr": [lv["psnr"] for lv in m["levels"]], "ends": [lv["end"] for lv in m["levels"]]}


class Library:
    """Assets of one directory; thread-safe (manifests are built in worker threads)."""

    def __init__(self, root: str, catalog: Catalog):
        self.root = os.path.realpath(root)
        self.catalog = catalog
        self._memo = {}
        self._frames = {}   # asset id -> (stat key, streaming.Frames)
        self._lock = threading.Lock()

    def path(self, asset_id: str) -> str | None:
        return asset_path(self.root, asset_id)

    def manifest(self, asset_id: str) -> dict | None:
        """The current manifest, or None if no such asset; BadAsset if unreadable."""
        path = self.path(asset_id)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return self.manifest_of(asset_id, fd, os.fstat(fd))
        finally:
            os.close(fd)

    def cached_frames(self, asset_id: str, st: os.stat_result):
        """The chunk walk of this version of the asset if it is in memory (no I/O), else None."""
        with self._lock:
            hit = self._frames.get(asset_id)
        return hit[1] if hit is not None and hit[0] == stat_key(st) else None

    def frames_of(self, asset_id: str, fd: int, st: os.stat_result):
        """The chunk walk (streaming.Frames) of this open version of the asset, kept per version:
        a worker thread walks a file once, the event loop reuses the walk."""
        hit = self.cached_frames(asset_id, st)
        if hit is not None:
            return hit
        from snf.serve.streaming import walk_frames
        frames = walk_frames(fd, st.st_size)
        if stat_key(os.fstat(fd)) == stat_key(st):
            with self._lock:
                self._frames[asset_id] = (stat_key(st), frames)
        return frames

    def cached(self, asset_id: str, st: os.stat_result) -> dict | None:
        """The in-memory manifest of this version of the asset, or None (no I/O: safe on the event loop)."""
        with self._lock:
            hit = self._memo.get(asset_id)
        return hit[1] if hit is not None and hit[0] == stat_key(st) else None

    def manifest_of(self, asset_id: str, fd: int, st: os.stat_result) -> dict:
        """The manifest of this open version of the asset (so a stream's ETag is its bytes' hash)."""
        key = stat_key(st)
        with self._lock:
            hit = self._memo.get(asset_id)
        if hit is None or hit[0] != key:
            hit = self.catalog.asset(asset_id)
        if hit is None or hit[0] != key or hit[1].get("etag") != etag_of(hit[1].get("sha256", "")) \
                or "version" not in hit[1]:  # (rows of older servers lack it)
            try:
                hit = (key, read_manifest_fd(fd, st, asset_id))
            except (SnfError, OSError) as e:
                raise BadAsset(f"{asset_id}: not a readable .snf file ({e})") from None
            if stat_key(os.fstat(fd)) == key:  # unchanged while read: cache it
                self.catalog.put_asset(asset_id, key, hit[1])
        with self._lock:
            self._memo[asset_id] = hit
        return hit[1]

    def ids(self) -> list:
        """Ids of the .snf files directly in the directory, sorted."""
        out = []
        with os.scandir(self.root) as it:
            for entry in it:
                asset_id = id_from_name(entry.name)
                if asset_id and self.path(asset_id):
                    out.append(asset_id)
        return sorted(out)

    def listing(self) -> list:
        """Every readable asset's brief entry; unreadable files are listed with their error."""
        ids, out = self.ids(), []
        for asset_id in ids:
            try:
                m = self.manifest(asset_id)
            except BadAsset as e:
                out.append({"id": asset_id, "error": str(e)})
                continue
            except OSError as e:  # unreadable (permissions, a vanished file): its own entry too
                out.append({"id": asset_id, "error": f"{asset_id}: {e.strerror or e.__class__.__name__}"})
                continue
            if m is not None:
                out.append(brief(m))
        self.catalog.forget_assets_except(set(ids))
        with self._lock:
            for gone in set(self._memo) - set(ids):
                del self._memo[gone]
            for gone in set(self._frames) - set(ids):
                del self._frames[gone]
        return out
