"""`/upload`: a page to upload an image and watch it encode, and `/v1/settings`, the form it is built from.

The form is not written by hand: `/v1/settings` describes every setting an upload may
set, straight from `snf.settings.EncodeSettings` (the object `snf-encode`'s options and
the upload route's validation come from), with each one's help, default, kind and
choices, and this server's limits. A setting added there appears on the page.
"""
from __future__ import annotations

import os
from dataclasses import MISSING, fields

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from snf import settings as S
from snf.viewer import STATIC_DIR

router = APIRouter(tags=["service"])

# The settings an uploader most often picks, shown first; the rest sit under "more settings".
MAIN = ("field", "quality", "preset", "steps")


def choices() -> dict:
    """Settings whose values are one of a list (the lists `EncodeSettings.validate` checks against)."""
    return {"field": list(S.FIELDS), "mode": list(S.MODES), "grow": list(S.GROWS), "signal": list(S.SIGNALS),
            "init": list(S.INITS), "preset": list(S.PRESET_NAMES)}


def ranges(server) -> dict:
    top_bits = getattr(S, "MAX_CODED_BITS", None) or getattr(S, "MAX_BITS")   # the bound validate() checks
    return {"quality": (0, 100), "bits": (S.MIN_BITS, top_bits), "steps": (1, server.max_steps),
            "time_budget": (0, server.max_time_budget), "seed": (0, 2 ** 53 - 1), "layers": (1, 64),
            "batch": (1, 1 << 24), "lr": (0, 1)}


def kind_of(f) -> str:
    t = str(f.type)
    if "bool" in t:
        return "bool"
    if t.startswith("int"):
        return "int"
    if t.startswith("float"):
        return "float"
    return "text"


def schema(server) -> dict:
    """Every upload form field of EncodeSettings, in the CLI's order (main ones first)."""
    names = S.EncodeSettings.form_fields()
    opts, bounds, out = choices(), ranges(server), []
    for f in fields(S.EncodeSettings):
        if f.name not in names:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        entry = {"name": f.name, "flag": "--" + f.name.replace("_", "-"), "help": names[f.name],
                 "kind": "choice" if f.name in opts else kind_of(f), "default": default, "main": f.name in MAIN}
        if f.name in opts:
            entry["choices"] = opts[f.name]
        if f.name in bounds:
            entry["min"], entry["max"] = bounds[f.name]
        out.append(entry)
    out.sort(key=lambda e: (not e["main"], MAIN.index(e["name"]) if e["main"] else 0))
    return {"fields": out, "defaults_note": f"an empty field takes the encoder's default (quality "
                                            f"{S.DEFAULT_QUALITY} unless bits is given)",
            "limits": {"max_upload_bytes": server.max_upload_bytes, "max_pixels": server.max_pixels,
                       "max_steps": server.max_steps, "max_width": server.max_width},
            "writes": bool(server.token)}


@router.get("/v1/settings", summary="The encode settings an upload may set (the upload page's form): "
                                    "help, default, kind, choices and this server's limits")
async def settings_schema(request: Request) -> dict:
    return schema(request.app.state.settings)


@router.get("/upload", include_in_schema=False)
async def upload_page():
    return FileResponse(os.path.join(STATIC_DIR, "upload.html"), media_type="text/html",
                        headers={"cache-control": "no-cache"})
