"""snf-info IN.snf [--json]: levels, widths, parameters, bytes, bpp, bits per parameter, PSNR."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from snf.cli.common import escape, json_safe, run

PROG = "snf-info"


def describe(path: str) -> dict:
    """Everything snf-info reports, as one JSON-able map (also used by the server)."""
    from snf.format.container import read_path
    with open(path, "rb"):
        pass
    parsed = read_path(path, decode=False)
    if parsed.header is None:
        from snf.format.container import SnfError
        raise parsed.error or SnfError("no header")
    return summary(parsed, os.path.getsize(path))


STAT_KEYS = ("psnr", "psnr_float", "chamfer", "steps", "steps_asked")


def level_stats(h: dict, k: int) -> dict:
    """Level k's informative figures from the header's `levels` (section 2: readers need not
    read it, so a value of the wrong type, or a non-finite one, is left out, not an error)."""
    stats = h.get("levels")
    if not isinstance(stats, list) or len(stats) < k or not isinstance(stats[k - 1], dict):
        return {}
    out = {}
    for key in STAT_KEYS:
        v = stats[k - 1].get(key)
        if not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v):
            out[key] = v
    return out


def summary(parsed, file_bytes: int) -> dict:
    from snf.field.grid import GridArch
    from snf.field.latent import LatentArch
    if isinstance(parsed.arch, GridArch):
        return grid_summary(parsed, file_bytes)
    if isinstance(parsed.arch, LatentArch):
        return latent_summary(parsed, file_bytes)
    h, arch = parsed.header, parsed.arch
    pixels = 1
    for s in h["size"]:
        pixels *= s
    levels, prev = [], parsed.header_end
    reveals = {"spatial": "columns", "temporal": "frames"}.get(arch.grow) if arch.regional else None
    for k in range(1, arch.levels + 1):
        stats = level_stats(h, k)
        done = k <= parsed.levels_complete
        end = parsed.ends[k - 1] if done else None
        levels.append({
            "level": k, "width": arch.widths[k - 1], "params": arch.params(k),
            "level_params": arch.level_params(k), "complete": done,
            "bytes": end, "chunk_bytes": (end - prev) if done else None,
            "bpp": round(end * 8 / pixels, 5) if done else None,
            # the level chunk's bits (framing included) per parameter it stores
            "bits_per_param": round((end - prev) * 8 / arch.level_params(k), 3) if done else None,
            "psnr": stats.get("psnr"), "psnr_float": stats.get("psnr_float"), "steps": stats.get("steps"),
            "steps_asked": stats.get("steps_asked"),  # present only where the encoder's deadline cut the level
        })
        if "chamfer" in stats:
            levels[-1]["chamfer"] = stats["chamfer"]
        if reveals:  # the region level k covers: first k of K stripes or windows
            levels[-1][reveals] = arch.revealed(k, h["size"][arch.axis])
        prev = end if done else prev
    return {
        "signal": h["signal"], "width": h["size"][0], "height": h["size"][1] if len(h["size"]) > 1 else 1,
        "frames": h["size"][2] if len(h["size"]) > 2 else None, "channels": h["channels"],
        "regions": arch.levels if arch.regional else None,
        "mode": arch.mode, "grow": arch.grow, "init": arch.init, "layers": arch.layers, "w0": arch.w0,
        "widths": list(arch.widths), "quant": h["quant"], "encoder": h.get("encoder"),
        "file_bytes": file_bytes, "header_bytes": parsed.header_end,
        "levels_complete": parsed.levels_complete, "complete": parsed.complete,
        "error": None if parsed.error is None else str(parsed.error),
        "levels": levels,
    }


def grid_summary(parsed, file_bytes: int) -> dict:
    """The grid family's summary: per level its grids (log2 factors and shapes), synthesis
    width, numbers stored, multiply-adds per pixel, bytes and PSNR."""
    h, arch = parsed.header, parsed.arch
    size = tuple(h["size"])
    pixels = size[0] * size[1]
    levels, prev = [], parsed.header_end
    for k in range(1, arch.levels + 1):
        stats = level_stats(h, k)
        done = k <= parsed.levels_complete
        end = parsed.ends[k - 1] if done else None
        levels.append({
            "level": k, "grids": list(arch.grids[k - 1]),
            "grid_shapes": [list(s) for s in arch.grid_shapes(k, size)], "width": arch.hidden[k - 1],
            "params": arch.params(k, size), "level_params": sum(t.size for t in arch.tensors(k, size)),
            "macs_per_pixel": arch.macs(k), "complete": done,
            "bytes": end, "chunk_bytes": (end - prev) if done else None,
            "bpp": round(end * 8 / pixels, 5) if done else None,
            "psnr": stats.get("psnr"), "psnr_float": stats.get("psnr_float"), "steps": stats.get("steps"),
            "steps_asked": stats.get("steps_asked"),
        })
        prev = end if done else prev
    return {
        "field": "grid", "version": ".".join(map(str, parsed.version)),
        "signal": h["signal"], "width": size[0], "height": size[1], "frames": None, "channels": h["channels"],
        "layers": arch.layers, "widths": list(arch.hidden), "encoder": h.get("encoder"),
        "file_bytes": file_bytes, "header_bytes": parsed.header_end,
        "levels_complete": parsed.levels_complete, "complete": parsed.complete,
        "error": None if parsed.error is None else str(parsed.error),
        "levels": levels,
    }


def _n(v) -> str:
    """A count as the table prints every count: thousands separated, '-' when absent."""
    return "-" if v is None else f"{v:,}"


def _db(v) -> str:
    """A PSNR as every snf output prints one: dB to two decimals, '-' when absent."""
    return "-" if v is None else f"{v:.2f}"


def _bits(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _bpp(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def cut_lines(info: dict) -> list:
    """A line per level the encoder's --deadline cut (its bytes then depend on the machine)."""
    return [f"level {lv['level']}: trained {_n(lv.get('steps'))} of {_n(lv['steps_asked'])} steps (cut by the "
            "encoder's --deadline on a slow machine: another machine may give other bytes)"
            for lv in info["levels"] if isinstance(lv.get("steps_asked"), int)]


def latent_summary(parsed, file_bytes: int) -> dict:
    """The latent family's summary: per level its grids (log2 factors and shapes), latents,
    bytes and PSNR (the figures come from the ancillary `meta` chunk, when the file has one)."""
    h, arch = parsed.header, parsed.arch
    size = tuple(h["size"])
    pixels = size[0] * size[1]
    meta = parsed.meta or {}
    stats_all = meta.get("levels") if isinstance(meta.get("levels"), list) else []
    shapes = arch.grid_shapes(size)
    levels, prev = [], parsed.header_end
    for k in range(1, arch.levels + 1):
        stats = level_stats({"levels": stats_all}, k)  # the same type rule as a header's levels
        done = k <= parsed.levels_complete
        end = parsed.ends[k - 1] if done else None
        a, b = arch.grid_range(k)
        levels.append({
            "level": k, "grids": list(arch.grids[k - 1]), "grid_shapes": [list(x) for x in shapes[a:b]],
            "latents": sum(r * c for r, c in shapes[a:b]), "complete": done,
            "bytes": end, "chunk_bytes": (end - prev) if done else None,
            "bpp": round(end * 8 / pixels, 5) if done else None, "psnr": stats.get("psnr"),
            "steps": stats.get("steps"), "steps_asked": stats.get("steps_asked"),  # a --deadline cut
        })
        prev = end if done else prev
    weights = sum(t.size for t in arch.weight_tensors())
    return {
        "field": "latent", "version": ".".join(map(str, parsed.version)),
        "signal": h["signal"], "width": size[0], "height": size[1], "frames": None, "channels": h["channels"],
        "syn": list(arch.syn), "conv": arch.conv, "arm": list(arch.arm), "weights": weights,
        "encoder": meta.get("encoder"), "file_bytes": file_bytes, "header_bytes": parsed.header_end,
        "levels_complete": parsed.levels_complete, "complete": parsed.complete,
        "error": None if parsed.error is None else str(parsed.error),
        "levels": levels,
    }


def latent_table(info: dict) -> str:
    channels = f"{info['channels']} channel" + ("s" if info["channels"] != 1 else "")
    rows = [f"{info['width']}x{info['height']} {info['signal']}, {channels}, field latent (container "
            f"{info['version']}; synthesis {info['syn']} + {info['conv']} conv, ARM {info['arm'][0]}x"
            f"{info['arm'][1]}, {_n(info['weights'])} weights in level 1), {info['levels_complete']}/"
            f"{len(info['levels'])} levels complete, {_n(info['file_bytes'])} bytes (header {_n(info['header_bytes'])})"]
    rows.append(f"{'level':>5} {'grids (1/2^f)':>14} {'latents':>9} {'bytes':>8} {'cum bytes':>9} {'bpp':>7} "
                f"{'PSNR dB':>8}")
    for lv in info["levels"]:
        cum = lv["bytes"]
        rows.append(f"{lv['level']:>5} {'.'.join(map(str, lv['grids'])):>14} {lv['latents']:>9,} "
                    f"{_n(lv['chunk_bytes']):>8} {_n(cum):>9} "
                    f"{_bpp(lv['bpp']):>7} {_db(lv['psnr']):>8}")
    rows += cut_lines(info)
    if info["error"]:
        rows.append(f"stopped: {info['error']}")
    return "\n".join(rows)


def grid_table(info: dict) -> str:
    channels = f"{info['channels']} channel" + ("s" if info["channels"] != 1 else "")
    rows = [f"{info['width']}x{info['height']} {info['signal']}, {channels}, field grid (container "
            f"{info['version']}), {info['levels_complete']}/{len(info['levels'])} levels complete, "
            f"{info['file_bytes']:,} bytes"]
    rows.append(f"{'level':>5} {'grids (1/2^f)':>14} {'width':>5} {'params':>9} {'MAC/px':>7} {'bytes':>8} "
                f"{'cum bytes':>9} {'bpp':>7} {'PSNR dB':>8}")
    for lv in info["levels"]:
        cum = lv["bytes"]
        rows.append(f"{lv['level']:>5} {'.'.join(map(str, lv['grids'])):>14} {lv['width']:>5} {lv['params']:>9,} "
                    f"{lv['macs_per_pixel']:>7,} {_n(lv['chunk_bytes']):>8} {_n(cum):>9} "
                    f"{_bpp(lv['bpp']):>7} {_db(lv['psnr']):>8}")
    rows += cut_lines(info)
    if info["error"]:
        rows.append(f"stopped: {info['error']}")
    return "\n".join(rows)


def coding_text(q: dict) -> str:
    """How the levels are coded, in words: 'quality 8, entropy-coded', '8-bit, zstd'. The
    informative keys (`quality`, `bits`) are shown only where they hold a number."""
    def num(v):
        return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
    if q.get("coding", "raw") != "raw":
        if num(q.get("quality")):
            return f"quality {q['quality']:g}, entropy-coded"
        if num(q.get("bits")):
            return f"{q['bits']:g}-bit, entropy-coded"
        return "entropy-coded"
    return f"{q.get('bits'):g}-bit, zstd"


def table(info: dict) -> str:
    if info.get("field") == "grid":
        return grid_table(info)
    if info.get("field") == "latent":
        return latent_table(info)
    channels = f"{info['channels']} channel" + ("s" if info["channels"] != 1 else "")
    coding = coding_text(info["quant"])
    size = f"{info['width']}x{info['height']}" + (f"x{info['frames']}" if info["frames"] else "")
    grow = {"spatial": f", grown spatially ({info['regions']} stripes)",
            "temporal": f", grown temporally ({info['regions']} windows)"}.get(info["grow"], "")
    rows = [f"{size} {info['signal']}, {channels}, mode {info['mode']}{grow}, {info['layers']} layers, "
            f"{coding}, {info['levels_complete']}/{len(info['levels'])} levels complete, "
            f"{info['file_bytes']:,} bytes"]
    region = {"spatial": "columns", "temporal": "frames"}.get(info["grow"]) if info["regions"] else None
    sdf = info["signal"] == "sdf"
    figure = "Chamfer" if sdf else "PSNR dB"
    rows.append(f"{'level':>5} {'width':>5} {'params':>9} {'bytes':>8} {'cum bytes':>9} {'bpp':>7} "
                f"{'bits/param':>10} {figure:>8}" + (f" {region:>7}" if region else ""))
    for lv in info["levels"]:
        cum = lv["bytes"]
        value = lv.get("chamfer") if sdf else lv["psnr"]
        rows.append(f"{lv['level']:>5} {lv['width']:>5} {lv['params']:>9,} "
                    f"{_n(lv['chunk_bytes']):>8} {_n(cum):>9} "
                    f"{_bpp(lv['bpp']):>7} {_bits(lv['bits_per_param']):>10} "
                    f"{(_db(value) if not sdf else value) if value is not None else '-':>8}"
                    + (f" {lv[region]:>7}" if region else ""))
    rows += cut_lines(info)
    if info["error"]:
        rows.append(f"stopped: {info['error']}")
    return "\n".join(rows)


def body(argv) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Describe an .snf file (or a prefix of one).")
    p.add_argument("input")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    info = describe(args.input)
    print(json.dumps(json_safe(info), indent=1) if args.json else escape(table(info)))
    return 0


def main(argv=None) -> int:
    sys.exit(run(PROG, body, argv))
