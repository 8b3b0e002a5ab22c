"""HEAD and OPTIONS for every route, and a correct `Allow` (RFC 9110 sections 9.3.2, 9.3.7, 15.5.6).

FastAPI routes answer only the methods they declare, and a 405 lists the
methods of the first route whose path matched (so `OPTIONS /v1/assets` said
`Allow: GET` although POST exists). This ASGI middleware works from the whole
route table instead: HEAD is GET without a body wherever GET exists (uvicorn
drops the body of a HEAD response), OPTIONS answers 204 with `Allow`, and a 405
carries the union of the methods of every route matching the path.
"""
from __future__ import annotations

from starlette.routing import Match, Mount


PROBED = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app, scope) -> set:
    """Methods some route answers at this path (HEAD wherever GET; OPTIONS when any).

    Each route is asked whether it fully matches the path with each method, so grouped
    routers (FastAPI's included routers) answer as well as plain routes."""
    methods = set()
    for route in app.router.routes:
        if isinstance(route, Mount):
            if route.matches({**scope, "method": "GET"})[0] != Match.NONE:
                methods.add("GET")
            continue
        methods |= {m for m in PROBED if route.matches({**scope, "method": m})[0] == Match.FULL}
    if "GET" in methods:
        methods.add("HEAD")
    if methods:
        methods.add("OPTIONS")
    return methods


def allow_header(methods: set) -> bytes:
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return ", ".join(sorted(methods, key=lambda m: order.index(m) if m in order else 99)).encode()


class Methods:
    def __init__(self, app, fastapi):
        self.app = app
        self.fastapi = fastapi  # the application whose route table decides

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method == "OPTIONS":
            methods = allowed_methods(self.fastapi, scope)
            if methods:
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", allow_header(methods)), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
        if method == "HEAD" and not any(r.matches(scope)[0] == Match.FULL for r in self.fastapi.router.routes):
            if "GET" in allowed_methods(self.fastapi, scope):
                scope = {**scope, "method": "GET"}  # a copy: uvicorn keeps HEAD and sends no body

        async def fix_allow(message):
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": headers + [(b"allow", allow_header(allowed_methods(self.fastapi, scope)))]}
            await send(message)
        await self.app(scope, receive, fix_allow)
