"""What a batch encodes: inputs expanded from files and folders, one output per input,
and which outputs a rerun can keep (complete, newer than the input, same settings)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from snf.format.container import EXTENSION, Parser, SnfError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pnm")


class PlanError(ValueError):
    """Inputs that cannot make a batch (two inputs with one output name, an empty folder)."""


@dataclass(frozen=True)
class Item:
    name: str     # output stem, also the job's key on a cluster
    source: str   # the input: an image file (or, for --grow temporal, a folder of frames)
    output: str   # DIR/name.snf


def expand_inputs(paths: list, grow: str = "spectral") -> list:
    """Input paths -> the signals to encode, in order.

    A file is one input. A folder is its images (sorted, not recursive), one
    encode each -- except with `grow == "temporal"`, where a folder is one video
    (its frames) and stays one input. This is the one place that rule lives."""
    out = []
    for path in paths:
        if os.path.isdir(path):
            if grow == "temporal":
                out.append(path)
                continue
            found = sorted(os.path.join(path, n) for n in os.listdir(path)
                           if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(path, n)))
            if not found:
                raise PlanError(f"{path}: folder holds no images ({', '.join(IMAGE_EXTENSIONS[:4])}, ...)")
            out.extend(found)
        else:
            out.append(path)  # a missing or unreadable file fails on its own, at encode time
    return out


def plan(paths: list, out_dir: str, grow: str = "spectral") -> list:
    """One Item per input; output names must not collide."""
    items, seen = [], {}
    for source in expand_inputs(paths, grow):
        stem = os.path.basename(os.path.normpath(source))
        stem = os.path.splitext(stem)[0] if os.path.isfile(source) or "." in stem else stem
        if stem in seen:
            raise PlanError(f"{seen[stem]} and {source} would both be written to {stem}{EXTENSION}")
        seen[stem] = source
        items.append(Item(stem, source, os.path.join(out_dir, stem + EXTENSION)))
    return items


def finished(item: Item, settings: dict) -> bool:
    """True if `item.output` holds a complete file newer than the input, made with `settings`
    (the header's `encoder.settings`): such an output is kept on a rerun."""
    try:
        out_st, in_st = os.stat(item.output), os.stat(item.source)
    except OSError:
        return False
    if out_st.st_mtime_ns < in_st.st_mtime_ns:
        return False
    parser = Parser(decode=False)
    try:
        with open(item.output, "rb") as f:
            parser.feed(f.read())
    except (OSError, SnfError):
        return False
    parsed = parser.finish()
    if not parsed.complete or parsed.header is None:
        return False
    return (parsed.header.get("encoder") or {}).get("settings") == settings
