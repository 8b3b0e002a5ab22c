"""The FastAPI application: wiring of settings, catalogue, library, renderer and job runner.

`create_app(settings)` is what `snf-serve` runs under uvicorn (and what tests may
build). State that lives in DIR (catalogue, render cache, job folders) is set up
and crash-recovered in the lifespan, before the first request.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from fastapi.staticfiles import StaticFiles

from snf import __version__
from snf.serve.catalog import Catalog
from snf.serve.config import Settings
from snf.serve.ids import ASSET_ID, JOB_ID, valid_asset_id
from snf.serve.jobs import JobRunner, recover
from snf.serve.limits import Slots, out_of_descriptors
from snf.serve.methods import Methods
from snf.format.cost import Budget
from snf.serve.levels import LevelRenderer
from snf.serve.library import BadAsset, Library
from snf.serve import pages
from snf.serve.routes_assets import bad_asset_handler
from snf.serve.routes_assets import router as assets_router
from snf.serve.routes_jobs import router as jobs_router
from snf.serve.routes_compare import router as compare_router
from snf.serve.routes_upload_page import router as upload_page_router

from snf.viewer import STATIC_DIR as STATIC
log = logging.getLogger("snf.serve")


def prune_job_folders(settings: Settings, catalog: Catalog) -> None:
    """Remove job folders no queued or running job owns (an upload cut short by a crash)."""
    if not os.path.isdir(settings.jobs_dir):
        return
    for name in os.listdir(settings.jobs_dir):
        job = catalog.job(name)
        if job is None or job["state"] not in ("queued", "running"):
            shutil.rmtree(os.path.join(settings.jobs_dir, name), ignore_errors=True)


@asynccontextmanager
async def lifespan(app: FastAPI):
    s: Settings = app.state.settings
    os.makedirs(s.cache_dir, exist_ok=True)
    os.makedirs(s.jobs_dir, exist_ok=True)
    catalog = Catalog(s.db_path)
    requeued, failed = recover(s, catalog)
    if requeued or failed:
        log.warning("after an unclean stop: %d job(s) re-queued, %d failed", requeued, failed)
    prune_job_folders(s, catalog)
    app.state.catalog = catalog
    app.state.library = Library(s.root, catalog)
    app.state.renderer = LevelRenderer(s.cache_dir, s.max_render_pixels, budget=Budget(
        params=s.max_render_params, macs=s.max_render_macs, samples=s.max_render_pixels), memory_mb=s.max_render_mb)
    app.state.runner = JobRunner(s, catalog)
    app.state.paced = Slots(s.max_paced_streams)
    app.state.started = time.time()
    app.state.runner.start()
    try:
        yield
    finally:
        await app.state.runner.stop()
        app.state.renderer.close()
        catalog.close()


def os_error_handler(request: Request, exc: OSError) -> JSONResponse:
    """Out of descriptors is the server being busy (503, retry), not a bug; other errors stay 500."""
    if out_of_descriptors(exc):
        return JSONResponse({"detail": "the server is out of file descriptors; try again"}, status_code=503,
                            headers={"retry-after": str(request.app.state.settings.retry_after)})
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


PATTERNS = {"asset_id": ASSET_ID.pattern, "job_id": JOB_ID.pattern, "k": "[1-9][0-9]{0,2}"}
# The bearer token (snf.serve.auth) as an OpenAPI security scheme: /docs shows an Authorize
# button, and "Try it out" on the routes that need the token sends it.
BEARER = {"bearer": {"type": "http", "scheme": "bearer",
                     "description": "the value of $SNF_TOKEN (or --token-env) when the server started"}}


def declare_patterns(app: FastAPI) -> dict:
    """The OpenAPI schema, with the id patterns the routes enforce (400 when they do not match)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for op in path.values():
                for param in op.get("parameters", []):
                    if param.get("in") == "path" and param["name"] in PATTERNS:
                        param["schema"]["pattern"] = f"^{PATTERNS[param['name']]}$"
                        param["schema"]["maxLength"] = 128
                if "401" in op.get("responses", {}):  # the routes behind `require_writer`
                    op["security"] = [{name: []} for name in BEARER]
        schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(BEARER)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings) -> FastAPI:
    # FastAPIOffline: /docs and /redoc load Swagger UI / ReDoc from the package, not a CDN.
    app = FastAPIOffline(title="snf server", version=__version__, lifespan=lifespan,
                  description="Streams .snf assets (streamable neural fields) level by level, renders levels "
                              "to PNG, and encodes uploaded images in the background.")
    app.state.settings = settings
    app.include_router(assets_router)
    app.include_router(jobs_router)
    app.include_router(compare_router)        # /compare/{id} and what it loads
    app.include_router(upload_page_router)    # /upload and the settings it is built from
    app.add_exception_handler(BadAsset, bad_asset_handler)
    app.add_exception_handler(OSError, os_error_handler)
    app.add_middleware(Methods, fastapi=app)
    app.openapi = lambda: declare_patterns(app)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")

    @app.get("/healthz", tags=["service"], summary="Liveness: ok while the server answers")
    async def healthz(request: Request) -> dict:
        st = request.app.state
        return {"status": "ok", "version": __version__, "uptime_s": round(time.time() - st.started, 1),
                "writes": bool(settings.token), "jobs_running": len(st.catalog.running())}

    @app.get("/view/{asset_id}", tags=["service"], summary="The browser viewer page for an asset",
             response_class=FileResponse, responses={200: {"content": {"text/html": {}}},
                                                     400: {"description": "malformed id"},
                                                     404: {"description": "no such asset"}})
    async def view(asset_id: str, request: Request):
        if not valid_asset_id(asset_id):
            raise HTTPException(400, "invalid asset id")
        if request.app.state.library.path(asset_id) is None:
            raise HTTPException(404, f"no asset {asset_id}")
        return FileResponse(os.path.join(STATIC, "viewer.html"), media_type="text/html",
                            headers={"cache-control": "no-cache"})

    pages.install(app)  # `/` and HTML error pages for browsers

    return app
