"""Asset routes: list, manifest, byte stream (ranges, ETags, pacing), level renders (PNG, SDF PLY), upload."""
from __future__ import annotations

import os
import re

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from snf.format.container import MIME_TYPE
from snf.serve.auth import require_writer
from snf.serve.caching import cache_headers, weak
from snf.serve.ids import valid_asset_id
from snf.serve.jobs import job_view
from snf.serve.levels import RenderError
from snf.serve.library import BadAsset, http_date, level_etag
from snf.serve.limits import busy, out_of_descriptors
from snf.serve.ranges import Unsatisfiable, content_range, if_range_holds, parse_range, preconditions
from snf.serve.streaming import Closer, Frames, body
from snf.serve.uploads import FIELD_PATTERN, FIELDS, accept_upload, job_example

router = APIRouter(prefix="/v1/assets", tags=["assets"])
QUICK_OPEN_BYTES = 64 << 20   # files up to this size are opened on the event loop once their manifest is known
LEVEL = re.compile(r"[1-9][0-9]{0,2}", re.ASCII)   # a level in a path: ASCII digits, bounded
ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}}
BUSY = {**ERROR, "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}}
READ_ERRORS = {400: {**ERROR, "description": "malformed id or parameter"},
               404: {**ERROR, "description": "no such asset"},
               422: {**ERROR, "description": "invalid query parameter, or a file that is not a readable .snf"},
               503: {**BUSY, "description": "out of descriptors or paced streams: retry after Retry-After"}}
VERSION_QUERY = Query(None, max_length=64, description="the manifest's `version`: these exact bytes, cacheable for "
                                                       "a year (404 once the asset has changed)")


def version_gone(asset_id: str, v: str, m: dict) -> HTTPException:
    """`?v=` names bytes that are no longer (or never were) the asset's: never serve others under it."""
    return HTTPException(404, f"asset {asset_id} has no version {v[:64]} (now: {m['version']}; see its manifest)",
                         headers={"cache-control": "public, max-age=5"})


def asset_file(request: Request, asset_id: str) -> str:
    """The asset's real path; 400 for a malformed id, 404 for an unknown one."""
    if not valid_asset_id(asset_id):
        raise HTTPException(400, "invalid asset id")
    path = request.app.state.library.path(asset_id)
    if path is None:
        raise HTTPException(404, f"no asset {asset_id}")
    return path


@router.get("", summary="List the assets (the .snf files directly in DIR)", responses={503: READ_ERRORS[503]})
async def list_assets(request: Request) -> dict:
    assets = await anyio.to_thread.run_sync(request.app.state.library.listing)
    return JSONResponse({"assets": assets, "count": len(assets)}, headers=cache_headers("listing"))


@router.get("/{asset_id}", summary="An asset's manifest: size, levels, byte spans, bpp, PSNR",
            responses=READ_ERRORS)
async def manifest(asset_id: str, request: Request) -> dict:
    asset_file(request, asset_id)
    m = await anyio.to_thread.run_sync(request.app.state.library.manifest, asset_id)
    if m is None:
        raise HTTPException(404, f"no asset {asset_id}")
    return JSONResponse(m, headers=cache_headers("manifest", growing=m["growing"]))


def _open(library, asset_id: str, path: str, quick: bool = False) -> tuple | None:
    """(fd, stat, frames, manifest) of one version of the file: the ETag is this version's hash.

    With `quick`, None unless that version's manifest and chunk walk are already in memory:
    then the rest (open, fstat) is cheap enough for the event loop, and 1,000 streams
    arriving at once skip 1,000 thread hops. The chunk walk itself never runs on the loop:
    a file of two million empty ancillary chunks takes seconds to walk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        if quick:
            m = library.cached(asset_id, st)
            frames = library.cached_frames(asset_id, st)
            if m is None or frames is None or st.st_size > QUICK_OPEN_BYTES:
                os.close(fd)
                return None
        else:
            m = library.manifest_of(asset_id, fd, st)
            frames = library.frames_of(asset_id, fd, st)
        return fd, st, frames, m
    except BaseException:
        os.close(fd)
        raise


def plan(request: Request, st: os.stat_result, frames: Frames, level: int | None, file_etag: str,
         versioned: bool = False) -> tuple:
    """(status, start, stop, headers) for this request on this version of the file.
    A file without its end chunk is growing (an encoder still publishes levels): weak ETag, not cached."""
    size = st.st_size
    if level is not None:
        if level not in frames.level_ends:  # 0 or less: malformed (400); past the last: no such resource (404)
            have = max(frames.level_ends, default=0)
            raise HTTPException(400 if level < 1 else 404,
                                f"level {level} is not in this asset (it has levels 1..{have})")
        size = frames.level_ends[level]
    growing = not frames.valid and level is None
    etag, modified = level_etag(file_etag, level), http_date(st)
    etag = weak(etag) if growing else etag
    ends = [e for k, e in sorted(frames.level_ends.items()) if level is None or k <= level]
    headers = {"etag": etag, "last-modified": modified, "accept-ranges": "bytes",
               **cache_headers("bytes", growing=not frames.valid, versioned=versioned),
               "x-snf-level-ends": ",".join(map(str, ends)), "content-type": MIME_TYPE}
    if growing:
        headers["x-snf-growing"] = "1"
    cond = preconditions(request.headers, etag, st.st_mtime)
    if cond == 304:
        return 304, 0, 0, {k: v for k, v in headers.items() if k != "content-type"}
    if cond == 412:
        return 412, 0, 0, {"etag": etag, "last-modified": modified, "content-length": "0"}
    span = None
    if if_range_holds(request.headers.get("if-range"), etag, modified):
        try:
            span = parse_range(request.headers.get("range"), size)
        except Unsatisfiable:
            return 416, 0, 0, {**headers, "content-range": f"bytes */{size}", "content-length": "0"}
    start, stop = span or (0, size)
    headers["content-length"] = str(stop - start)
    if span:
        headers["content-range"] = content_range(start, stop, size)
    return (206 if span else 200), start, stop, headers


class FileStream(StreamingResponse):
    """A streamed file whose descriptor and pacing slot are given back however the response ends."""

    def __init__(self, *args, closer: Closer, **kw):
        super().__init__(*args, **kw)
        self.closer = closer

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.closer()


@router.api_route("/{asset_id}/stream", methods=["GET", "HEAD"], response_class=StreamingResponse,
                  summary="The .snf bytes, chunk by chunk",
                  responses={200: {"content": {MIME_TYPE: {}}}, 206: {"description": "a byte range"},
                             304: {"description": "not modified"},
                             412: {"description": "If-Match or If-Unmodified-Since failed"},
                             416: {"description": "range not satisfiable"}, **READ_ERRORS})
async def stream(asset_id: str, request: Request,
                 level: int | None = Query(None, description="stop after this level's chunk (1..999; 404 if the file has no such level)",
                                           json_schema_extra={"minimum": 1, "maximum": 999}),
                 kbps: int | None = Query(None, ge=8, le=10_000_000,
                                          description="pace to kilobits per second (at least 8)"),
                 v: str | None = VERSION_QUERY):
    """Each chunk is sent as soon as it is read. `?level=K` is its own resource (own ETag,
    Content-Length and ranges); `Range`, `If-Range`, `If-Match`, `If-None-Match`,
    `If-Modified-Since` and `If-Unmodified-Since` are honoured (RFC 9110)."""
    path = asset_file(request, asset_id)
    state = request.app.state
    try:
        opened = _open(state.library, asset_id, path, quick=True)
        fd, st, frames, m = opened or await anyio.to_thread.run_sync(_open, state.library, asset_id, path)
    except FileNotFoundError:
        raise HTTPException(404, f"no asset {asset_id}") from None
    except OSError as e:
        if out_of_descriptors(e):
            raise busy(state.settings.retry_after, "the server is out of file descriptors; try again") from None
        raise
    closer = Closer(lambda: os.close(fd))
    try:
        if v is not None and v != m["version"]:
            raise version_gone(asset_id, v, m)
        status, start, stop, headers = plan(request, st, frames, level, m["etag"], versioned=v is not None)
        if status in (304, 412, 416) or request.method == "HEAD":
            closer()
            return Response(status_code=status, headers=headers)
        if kbps is not None:
            slots = state.paced
            if not slots.take():
                raise busy(state.settings.retry_after, f"{slots.cap} paced streams are running; try again later")
            closer = Closer(lambda: os.close(fd), slots.give)
    except BaseException:
        closer()
        raise
    return FileStream(body(fd, start, stop, frames.cuts, kbps, on_close=closer), status_code=status,
                      headers=headers, media_type=MIME_TYPE, closer=closer)


LEVEL_TYPES = {"png": "image/png", "ply": "application/ply"}  # what a level renders to, by signal kind


@router.get("/{asset_id}/levels/{k}.png", summary="A level rendered to PNG on the server (cached): an image, "
                                                  "or a video's frames side by side",
            response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}, 304: {"description": "not modified"},
                       412: {"description": "If-Match or If-Unmodified-Since failed"}, **READ_ERRORS})
async def level_png(asset_id: str, k: str, request: Request, v: str | None = VERSION_QUERY):
    return await _level(asset_id, k, request, v, "png")


@router.get("/{asset_id}/levels/{k}.ply", summary="An SDF level's surface (marching cubes) as a PLY mesh (cached)",
            response_class=FileResponse,
            responses={200: {"content": {"application/ply": {}}}, 304: {"description": "not modified"},
                       412: {"description": "If-Match or If-Unmodified-Since failed"}, **READ_ERRORS})
async def level_ply(asset_id: str, k: str, request: Request, v: str | None = VERSION_QUERY):
    return await _level(asset_id, k, request, v, "ply")


async def _level(asset_id: str, k: str, request: Request, v: str | None, ext: str):
    """One level rendered as `ext`; 422 when the asset's signal renders to the other type."""
    path = asset_file(request, asset_id)
    m = await anyio.to_thread.run_sync(request.app.state.library.manifest, asset_id)
    level = int(k) if LEVEL.fullmatch(k) else 0
    if m is None or not 1 <= level <= len(m["levels"]) or not m["levels"][level - 1]["complete"]:
        raise HTTPException(404, f"asset {asset_id} has no level {k[:8]}")
    if v is not None and v != m["version"]:
        raise version_gone(asset_id, v, m)
    etag = f'{level_etag(m["etag"], level)[:-1]}.{ext}"'
    etag = weak(etag) if m["growing"] else etag
    headers = {"etag": etag, "last-modified": m["modified"],
               **cache_headers("bytes", growing=m["growing"], versioned=v is not None)}
    cond = preconditions(request.headers, etag, http_time_of(m["modified"]))
    if cond is not None:
        return Response(status_code=cond, headers=headers)
    try:
        out = await request.app.state.renderer.png(asset_id, path, m["etag"], level, m["levels"][level - 1]["end"],
                                                   ext)
    except RenderError as e:
        raise HTTPException(422, str(e)) from None
    return FileResponse(out, media_type=LEVEL_TYPES[ext], headers=headers)


def http_time_of(date: str) -> float:
    from snf.serve.ranges import http_time
    return http_time(date) or 0.0


UPLOAD_SCHEMA = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "the image (PNG, JPEG, ...)"},
                   # example "": /docs' form starts empty (the defaults) rather than with values made up
                   # from the pattern, so "Try it out" succeeds as given
                   **{name: {"type": "string", "description": text, "pattern": FIELD_PATTERN, "maxLength": 64,
                             "example": ""}
                      for name, text in FIELDS.items()}},
    "additionalProperties": False}}}}}


@router.post("", status_code=202, dependencies=[Depends(require_writer)], openapi_extra=UPLOAD_SCHEMA,
             summary="Upload an image and encode it in the background (needs the bearer token)",
             responses={202: {"description": "job queued (its `url` reports progress)",
                              "content": {"application/json": {"example": job_example()}}}, 400: {**ERROR, "description": "bad form or image"},
                        401: {**ERROR, "description": "no or wrong token"},
                        403: {**ERROR, "description": "uploads disabled"},
                        409: {**ERROR, "description": "asset exists, or a job already writes it"},
                        413: {**ERROR, "description": "file, image or encoder memory above the limits"},
                        422: {**ERROR, "description": "malformed form"},
                        429: {**BUSY, "description": "encode queue full: retry after Retry-After"},
                        503: READ_ERRORS[503]})
async def upload(request: Request):
    state = request.app.state
    job = await accept_upload(request, state.settings, state.catalog)
    state.runner.wake.set()
    view = job_view(job)
    return JSONResponse(view, status_code=202, headers={"location": view["url"]})


def bad_asset_handler(request: Request, exc: BadAsset) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)
