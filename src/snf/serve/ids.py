"""Asset and job ids: one strict pattern, so no id can name a path outside DIR.

An asset id is the file name of a `.snf` file directly in the served directory,
without the extension (subfolders are not served). Ids are checked twice: by
pattern here, and by resolving the real path and checking it stays in DIR.
"""
from __future__ import annotations

import os
import re

ASSET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
JOB_ID = re.compile(r"[0-9a-f]{32}")
EXTENSION = ".snf"


def valid_asset_id(asset_id: str) -> bool:
    """True for ids like `demo`, `kodim03.v2`; never for `..`, slashes, NUL or dotfiles."""
    return bool(ASSET_ID.fullmatch(asset_id)) and ".." not in asset_id


def valid_job_id(job_id: str) -> bool:
    return bool(JOB_ID.fullmatch(job_id))


def asset_path(root: str, asset_id: str) -> str | None:
    """The real path of asset `asset_id` in `root` (which must be a real path), or None.

    None when the id is malformed or the file, once symlinks are resolved, is not a
    regular file directly inside `root`.
    """
    if not valid_asset_id(asset_id):
        return None
    path = os.path.realpath(os.path.join(root, asset_id + EXTENSION))
    if os.path.dirname(path) != root or not os.path.isfile(path):
        return None
    return path


def id_from_name(name: str) -> str | None:
    """`demo.snf` -> `demo`; None for names that are not servable assets."""
    if not name.endswith(EXTENSION):
        return None
    stem = name[: -len(EXTENSION)]
    return stem if valid_asset_id(stem) else None


def id_from_upload(filename: str | None) -> str | None:
    """A valid asset id from an uploaded file's name (`My photo.png` -> `My-photo`), or None."""
    stem = os.path.splitext(os.path.basename(filename or ""))[0]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    stem = re.sub(r"\.{2,}", ".", stem)[:100]
    return stem if stem and valid_asset_id(stem) else None
