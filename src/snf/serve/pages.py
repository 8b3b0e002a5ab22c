"""Pages for people: the HTML index at `/` and HTML error pages.

A browser (a request whose Accept names `text/html`) gets HTML; anything else,
`*/*` and a missing Accept included, gets the JSON it always got, so scripts and
`snf-fetch` see no change. The pages are small server-rendered HTML with no
scripts: the index links each asset's viewer and shows its level-1 PNG (small,
cached by the server) as a thumbnail.
"""
from __future__ import annotations

import html

import anyio
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from snf import __version__

THUMB = 160  # thumbnail box, CSS pixels

STYLE = """
:root { color-scheme: light dark; font: 15px/1.45 system-ui, sans-serif; }
body { margin: 0 auto; padding: 16px; max-width: 1100px; }
h1 { font-size: 20px; margin: 0 0 12px; }
ul.assets { list-style: none; padding: 0; margin: 0; display: grid; gap: 12px;
            grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); }
ul.assets li { border: 1px solid #8884; border-radius: 6px; padding: 8px; }
ul.assets a { display: block; min-height: 44px; color: inherit; text-decoration: none; }
ul.assets a.compare { font-size: 13px; line-height: 44px; text-decoration: underline; }
ul.assets a:focus-visible, ul.assets a:hover { outline: 2px solid currentColor; }
.thumb { width: 100%; height: %dpx; object-fit: contain; display: block;
         background: repeating-conic-gradient(#8883 0 25%%, transparent 0 50%%) 0 0 / 16px 16px; }
.name { font-weight: 600; overflow-wrap: anywhere; }
.meta, footer { opacity: 0.75; font-size: 13px; font-variant-numeric: tabular-nums; }
.bad { color: #c22; }
footer { margin-top: 16px; }
footer a { display: inline-block; min-height: 44px; line-height: 44px; margin-right: 16px; }
""".replace("%dpx", f"{THUMB}px").replace("%%", "%")


def wants_html(request: Request) -> bool:
    """True when the Accept header names text/html with a non-zero q (a browser navigating)."""
    for part in request.headers.get("accept", "").split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() != "text/html":
            continue
        q = next((f[2:] for f in fields[1:] if f.lower().startswith("q=")), "1")
        try:
            return float(q) > 0
        except ValueError:
            return True
    return False


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f'<link rel="icon" href="data:,"><title>{html.escape(title)}</title><style>{STYLE}</style></head>'
           f'<body><main>{body}</main><footer><a href="/">assets</a><a href="/upload">upload</a>'
           f'<a href="/docs">API docs</a><span>snf {html.escape(__version__)}</span></footer></body></html>')
    return HTMLResponse(doc, status_code=status, headers={"cache-control": "no-cache"})


def kb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def asset_item(a: dict) -> str:
    aid = html.escape(a["id"])
    if "error" in a:
        return f'<li><span class="name">{aid}</span><div class="bad">{html.escape(a["error"])}</div></li>'
    psnr = next((p for p in reversed(a.get("psnr") or []) if isinstance(p, (int, float))), None)
    facts = [f'{a["width"]}×{a["height"]}', kb(a["bytes"]), f'{a["levels_complete"]} of {a["levels"]} levels']
    if psnr is not None:
        facts.append(f"{psnr:.1f} dB")
    if not a["complete"]:
        facts.append('<span class="bad">incomplete</span>')
    thumb = (f'<img class="thumb" src="/v1/assets/{aid}/levels/1.png" alt="{aid}, level 1" loading="lazy" '
             f'width="{THUMB}" height="{THUMB}">' if a["levels_complete"] else '<div class="thumb"></div>')
    return (f'<li><a href="/view/{aid}">{thumb}<div class="name">{aid}</div>'
            f'<div class="meta">{" · ".join(facts)}</div></a>'
            f'<a class="compare" href="/compare/{aid}">compare {aid} at equal bytes</a></li>')


async def index_page(request: Request) -> HTMLResponse:
    assets = await anyio.to_thread.run_sync(request.app.state.library.listing)
    items = "".join(asset_item(a) for a in assets)
    body = (f"<h1>snf assets ({len(assets)})</h1>"
            + (f'<ul class="assets">{items}</ul>' if assets else "<p>No .snf files in the served folder yet.</p>"))
    return page("snf assets", body)


def error_page(status: int, detail) -> HTMLResponse:
    text = detail if isinstance(detail, str) else "the request is not valid"
    heading = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 413: "Too large",
               422: "Cannot use this request", 429: "Too many requests"}.get(status, "Error")
    body = (f"<h1>{status} · {html.escape(heading)}</h1><p class=\"bad\" role=\"alert\">{html.escape(text)}</p>"
            f'<p><a href="/">See the assets this server has</a></p>')
    return page(f"{status} {heading}", body, status)


def validation_text(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path", "body"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "the request is not valid"


def install(app: FastAPI) -> None:
    """Add `/` and the HTML flavour of the error responses."""

    @app.get("/", include_in_schema=False)
    async def index(request: Request):
        if wants_html(request):
            return await index_page(request)
        return JSONResponse({"service": "snf", "version": __version__, "assets": "/v1/assets", "jobs": "/v1/jobs",
                             "docs": "/docs", "health": "/healthz"})

    async def on_http_error(request: Request, exc: StarletteHTTPException):
        if wants_html(request) and exc.status_code >= 400:
            resp = error_page(exc.status_code, exc.detail)
            for k, v in (exc.headers or {}).items():
                resp.headers.setdefault(k, v)
            return resp
        return await http_exception_handler(request, exc)

    async def on_validation_error(request: Request, exc: RequestValidationError):
        if wants_html(request):
            return error_page(422, validation_text(exc))
        return await request_validation_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
