"""`POST /v1/assets`: read a multipart upload under a byte cap, check it, queue an encode job.

The body is counted as it arrives (a Content-Length above the cap is refused
before reading, and so is any upload while the queue is full: 429). The image is
checked from its header alone (format allow-list, pixel count, the encoder's
estimated memory), never decoded here: a small file can hold a huge picture. The
form's encode settings are validated with the codec's own rules. One pending job
per asset id is enforced by the catalogue (a unique index), not by this check.
"""
from __future__ import annotations

import os
import shutil
import uuid

import anyio
from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile

from snf.settings import EncodeSettings, SettingsError
from snf.serve.catalog import Catalog, Duplicate
from snf.serve.config import Settings
from snf.serve.ids import id_from_upload, valid_asset_id
from snf.serve.limits import busy, check_encoder_memory

FORM_OVERHEAD = 64 << 10   # multipart framing and form fields on top of the file
INPUT_NAME = "input"
# Formats an upload may be in (Pillow's names): decoded by the worker, so only well-trodden decoders.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF", "PPM")
# The form: the asset's id and replace flag, plus every encode setting an upload may set
# (derived from snf.settings.EncodeSettings, so the CLI and the form cannot drift).
FIELDS = {
    "id": "asset id (default: from the file name); letters, digits, '.', '_', '-'",
    **EncodeSettings.form_fields(),
    "replace": "true to replace an existing asset of the same id",
    "publish_levels": "true to publish each level as soon as it is encoded: the asset is served, growing, "
                      "from level 1 on (the upload page sets it)",
}


# The documented upload, run by tests/test_first_hour.py against a real server (TOKEN and HOST
# substituted): an image and one setting; every field is optional but `file`.
CURL_EXAMPLE = ("curl -sS -H \"Authorization: Bearer $SNF_TOKEN\" -F file=@photo.png -F id=photo -F steps=300 "
                "http://127.0.0.1:8000/v1/assets")


def form_table() -> str:
    """The upload form's fields as a markdown table (src/snf/serve/README.md holds this text,
    checked by a test): generated from FIELDS, so the docs list what the server takes."""
    from dataclasses import MISSING, fields
    defaults = {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(EncodeSettings)}

    def default(name):
        d = defaults.get(name)
        return "" if d is None else ",".join(map(str, d)) if isinstance(d, tuple) else str(d)
    rows = ["| field | default | meaning |", "|---|---|---|",
            "| `file` | (required) | the image: " + ", ".join(FORMATS) + " |"]
    rows += [f"| `{name}` | {default(name)} | {text.replace('|', '/')} |" for name, text in FIELDS.items()]
    return "\n".join(rows) + "\n"


def job_example() -> dict:
    """What `POST /v1/assets` answers (202) for CURL_EXAMPLE: built by the code that builds
    real answers (`jobs.job_view`), with the values one run gave."""
    from snf.serve.jobs import job_view
    enc = EncodeSettings(steps=300)
    job = {"id": "5f1c0f7e2b9a4d3c8e6f1a2b3c4d5e6f", "state": "queued", "progress": 0.0, "message": None,
           "error": None, "asset_id": "photo", "attempts": 0, "created": 1765134000.25, "started": None,
           "finished": None, "updated": 1765134000.25,
           "params": {"settings": enc.to_dict(), "threads": 1, "replace": False, "memory_mb": 3072,
                      "image": "768x512", "estimate_mb": 704, "publish": False}}
    return job_view(job)


class TooLarge(Exception):
    pass


def limited(request: Request, cap: int) -> Request:
    """The same request, whose body raises TooLarge past `cap` bytes."""
    seen = 0
    receive = request.receive

    async def counted():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > cap:
            raise TooLarge()
        return message
    return Request(request.scope, counted)


FIELD_PATTERN = "^[ -~]{0,64}$"   # form values: printable ASCII, at most 64 characters


def check_fields(form) -> None:
    """Every form value but the file: printable ASCII and short, or 400 (before any parsing)."""
    for name, value in form.multi_items():
        if name == "file":
            continue
        if name not in FIELDS:
            raise HTTPException(400, f"unknown form field {name[:32]!r}; known: file, {', '.join(FIELDS)}")
        if not isinstance(value, str) or len(value) > 64 or not (value.isascii() and value.isprintable()):
            raise HTTPException(400, f"form field {name} must be printable ASCII of at most 64 characters")


def encode_params(form, settings: Settings) -> dict:
    """The job row's parameters: the validated encode settings, within this server's limits."""
    check_fields(form)
    try:
        enc = EncodeSettings.from_form(form)
    except SettingsError as e:
        raise HTTPException(400, str(e)) from None
    if enc.widths is not None and max(enc.widths) > settings.max_width:
        raise HTTPException(400, f"widths above {settings.max_width} are not accepted by this server")
    if enc.steps is not None and enc.steps > settings.max_steps:
        raise HTTPException(400, f"steps must be in 1..{settings.max_steps} on this server, got {enc.steps}")
    if enc.time_budget is not None and enc.time_budget > settings.max_time_budget:
        raise HTTPException(400, f"time_budget must be in (0, {settings.max_time_budget:g}] seconds")
    replace = str(form.get("replace") or "").strip().lower()
    if len(replace) > 8:
        raise HTTPException(400, "replace must be true or false")
    publish = str(form.get("publish_levels") or "").strip().lower()
    if len(publish) > 8:
        raise HTTPException(400, "publish_levels must be true or false")
    return {"settings": enc.to_dict(), "threads": settings.encode_threads,
            "replace": replace in ("1", "true", "yes", "on"), "memory_mb": settings.max_encode_mb,
            "publish": publish in ("1", "true", "yes", "on")}


def check_image(path: str, max_pixels: int) -> tuple:
    """Refuse non-images, formats off the allow-list and oversized ones, from the header
    alone (no pixel is decoded: memory stays flat whatever the file claims); (w, h)."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path, formats=FORMATS) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise HTTPException(400, f"the uploaded file is not an image this server reads ({', '.join(FORMATS)})") from None
    if w < 1 or h < 1:
        raise HTTPException(400, "the uploaded image is empty")
    if w * h > max_pixels:
        raise HTTPException(413, f"{w}x{h} image: above this server's limit of {max_pixels} pixels")
    return w, h


def pick_asset_id(form, upload: UploadFile, job_id: str) -> str:
    given = form.get("id")
    if given not in (None, ""):
        if not valid_asset_id(str(given)):
            raise HTTPException(400, "id must match [A-Za-z0-9][A-Za-z0-9._-]{0,127} without '..'")
        return str(given)
    return id_from_upload(upload.filename) or f"upload-{job_id[:8]}"


async def accept_upload(request: Request, settings: Settings, catalog: Catalog) -> dict:
    """Everything `POST /v1/assets` does after the token check; returns the new job."""
    cap = settings.max_upload_bytes + FORM_OVERHEAD
    queue_full(settings, catalog)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise HTTPException(413, f"upload above this server's limit of {settings.max_upload_bytes} bytes")
    try:
        form = await limited(request, cap).form(max_files=1, max_fields=len(FIELDS) + 2, max_part_size=1 << 16)
    except TooLarge:
        raise HTTPException(413, f"upload above this server's limit of {settings.max_upload_bytes} bytes") from None
    try:
        return await _queue(form, settings, catalog)
    finally:
        await form.close()


def queue_full(settings: Settings, catalog: Catalog) -> None:
    if catalog.queued() >= settings.max_queue:
        raise busy(settings.retry_after, f"the encode queue is full ({settings.max_queue} jobs waiting); "
                                         "try again later", status=429)


async def _queue(form, settings: Settings, catalog: Catalog) -> dict:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(400, "multipart field 'file' (the image) is required")
    if upload.size is not None and upload.size > settings.max_upload_bytes:
        raise HTTPException(413, f"upload above this server's limit of {settings.max_upload_bytes} bytes")
    params = encode_params(form, settings)
    job_id = uuid.uuid4().hex
    asset_id = pick_asset_id(form, upload, job_id)
    if not params["replace"] and os.path.exists(os.path.join(settings.root, asset_id + ".snf")):
        raise HTTPException(409, f"asset {asset_id} already exists (send replace=true to replace it)")
    if (other := catalog.pending_for(asset_id)) is not None:
        raise HTTPException(409, f"job {other} is already encoding asset {asset_id}")
    queue_full(settings, catalog)
    folder = settings.job_dir(job_id)
    os.makedirs(folder)
    try:
        await anyio.to_thread.run_sync(_save, upload.file, os.path.join(folder, INPUT_NAME))
        w, h = await anyio.to_thread.run_sync(check_image, os.path.join(folder, INPUT_NAME), settings.max_pixels)
        params["image"] = f"{w}x{h}"
        params["estimate_mb"] = check_encoder_memory(
            w * h, EncodeSettings.from_dict(params["settings"]), settings.max_encode_mb)
        try:
            catalog.add_job(job_id, asset_id, params, INPUT_NAME)
        except Duplicate:
            raise HTTPException(409, f"another job is already encoding asset {asset_id}") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return catalog.job(job_id)


def _save(src, path: str) -> None:
    src.seek(0)
    with open(path + ".tmp", "wb") as f:
        shutil.copyfileobj(src, f, 1 << 20)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


if __name__ == "__main__":  # the form table for src/snf/serve/README.md
    print(form_table(), end="")
