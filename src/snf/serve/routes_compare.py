"""`/compare/{id}`: an asset beside the progressive-JPEG prefix, the best WebP and JPEG XL at equal bytes.

The comparison needs the original picture: `DIR/ID.png` beside `DIR/ID.snf` (the
server writes it for uploads; put it there by hand for other assets). The competing
files are made once per (asset version, original) by `snf.bench.compare.make_variants`
in a worker thread, kept in `DIR/.snf-cache/compare/`, and served from there; the page
picks among them at any byte count itself (see that module for why that is exact).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from snf.serve.ids import valid_asset_id
from snf.viewer import STATIC_DIR

router = APIRouter(tags=["compare"])
FILE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,47}", re.ASCII)
ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}}
TABLE = "table.json"
_locks: dict = {}
_locks_guard = threading.Lock()


def original_path(root: str, asset_id: str) -> str | None:
    """`ID.png` directly in DIR (symlinks resolved must stay there), or None."""
    path = os.path.realpath(os.path.join(root, asset_id + ".png"))
    return path if os.path.dirname(path) == root and os.path.isfile(path) else None


def _asset(request: Request, asset_id: str) -> str:
    if not valid_asset_id(asset_id):
        raise HTTPException(400, "invalid asset id")
    path = request.app.state.library.path(asset_id)
    if path is None:
        raise HTTPException(404, f"no asset {asset_id}")
    return path


def _cache_key(manifest: dict, original: str) -> str:
    st = os.stat(original)
    raw = f"{manifest['version']}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def build(cache_root: str, asset_id: str, manifest: dict, original: str) -> tuple:
    """(folder, table): the comparison files of this asset version and original, made once
    (a temporary folder renamed into place: a reader never sees half of them)."""
    from snf.bench.compare import CompareError, check_size, load_original, make_variants
    key = _cache_key(manifest, original)
    folder = os.path.join(cache_root, "compare", f"{asset_id}-{key}")
    with _locks_guard:
        lock = _locks.setdefault(asset_id, threading.Lock())
    with lock:
        if not os.path.isfile(os.path.join(folder, TABLE)):
            img = load_original(original)
            try:
                check_size(img, manifest["width"], manifest["height"])
            except CompareError:
                raise
            table, files = make_variants(img)
            tmp = folder + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            for name, (data, _media) in files.items():
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(data)
            with open(os.path.join(tmp, TABLE), "w") as f:
                json.dump(table, f)
            for old in os.listdir(os.path.dirname(folder)):   # earlier versions of this asset
                if old.startswith(asset_id + "-") and old != os.path.basename(tmp) \
                        and re.fullmatch(r"[0-9a-f]{24}", old[len(asset_id) + 1:]):
                    shutil.rmtree(os.path.join(os.path.dirname(folder), old), ignore_errors=True)
            os.replace(tmp, folder)
        with open(os.path.join(folder, TABLE)) as f:
            return folder, json.load(f)


@router.get("/compare/{asset_id}", include_in_schema=False)
async def compare_page(asset_id: str, request: Request):
    _asset(request, asset_id)
    return FileResponse(os.path.join(STATIC_DIR, "compare.html"), media_type="text/html",
                        headers={"cache-control": "no-cache"})


@router.get("/v1/assets/{asset_id}/compare", summary="What the compare page shows beside the asset: "
            "progressive JPEGs (cut at any byte count by the page), WebP and JPEG XL files, with sizes and PSNR",
            responses={400: {**ERROR, "description": "malformed id"},
                       404: {**ERROR, "description": "no such asset, or no original picture (ID.png) beside it"},
                       422: {**ERROR, "description": "not an image asset, or an original of another size"}})
async def compare_table(asset_id: str, request: Request):
    from snf.bench.compare import CompareError
    _asset(request, asset_id)
    state = request.app.state
    m = await anyio.to_thread.run_sync(state.library.manifest, asset_id)
    if m is None:
        raise HTTPException(404, f"no asset {asset_id}")
    if m["signal"] != "image":
        raise HTTPException(422, f"asset {asset_id} holds a {m['signal']}; the comparison is for images")
    original = original_path(state.settings.root, asset_id)
    if original is None:
        raise HTTPException(404, f"no original picture for {asset_id}: the comparison needs {asset_id}.png "
                                 f"beside {asset_id}.snf (the server keeps it for uploads)")
    try:
        folder, table = await anyio.to_thread.run_sync(build, state.settings.cache_dir, asset_id, m, original)
    except CompareError as e:
        raise HTTPException(422, str(e)) from None
    base = f"/v1/assets/{asset_id}/compare/"
    key = os.path.basename(folder).rsplit("-", 1)[1]
    url = lambda name: f"{base}{name}?k={key}"   # noqa: E731: a new version is a new URL
    table = {**table, "id": asset_id, "original": url(table["original"]),
             "jpeg": [{**e, "file": url(e["file"])} for e in table["jpeg"]],
             "webp": [{**e, "file": url(e["file"])} for e in table["webp"]],
             "jxl": [{**e, "file": url(e["file"])} for e in table["jxl"]] if table["jxl"] else None,
             "snf": {"bytes": m["bytes"], "ends": [lv["end"] for lv in m["levels"] if lv["complete"]],
                     "psnr_at_encode": [lv["psnr"] for lv in m["levels"]], "growing": m["growing"],
                     "stream_url": m["versioned_stream_url"], "version": m["version"],
                     "levels": [{"level": lv["level"], "end": lv["end"], "png": f"{lv['png_url']}?v={m['version']}"}
                                for lv in m["levels"] if lv["complete"]]}}
    return JSONResponse(table, headers={"cache-control": "no-cache"})


MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}


@router.get("/v1/assets/{asset_id}/compare/{name}", summary="One file of the comparison (cached on the server)",
            response_class=FileResponse,
            responses={200: {"content": {t: {} for t in MEDIA.values()}},
                       400: {**ERROR, "description": "malformed id or file name"},
                       404: {**ERROR, "description": "no such asset or file (ask /compare first)"}})
async def compare_file(asset_id: str, name: str, request: Request):
    _asset(request, asset_id)
    ext = os.path.splitext(name)[1]
    if not FILE_NAME.fullmatch(name) or ".." in name or ext not in MEDIA:
        raise HTTPException(400, "invalid file name")
    root = os.path.join(request.app.state.settings.cache_dir, "compare")
    key = request.query_params.get("k", "")
    if not re.fullmatch(r"[0-9a-f]{24}", key):
        raise HTTPException(404, f"no comparison file {name} (ask /v1/assets/{asset_id}/compare for its URL)")
    path = os.path.join(root, f"{asset_id}-{key}", name)
    if not os.path.isfile(path):
        raise HTTPException(404, f"no comparison file {name} for this version of {asset_id}")
    return FileResponse(path, media_type=MEDIA[ext], headers={"cache-control": "public, max-age=31536000, immutable"})
