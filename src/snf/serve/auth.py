"""Write access: `Authorization: Bearer <token>`, the token read from an environment variable.

No token configured means the server is read-only (403); a missing or wrong
token is 401. Checked before any request body is read.
"""
from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from snf.serve.config import Settings


def require_writer(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if not settings.token:
        raise HTTPException(403, f"uploads are disabled on this server: start it with {settings.token_env} set")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HTTPException(401, "a bearer token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": 'Bearer realm="snf"'})
    if not hmac.compare_digest(given.strip().encode(), settings.token.encode()):
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": 'Bearer realm="snf", error="invalid_token"'})
