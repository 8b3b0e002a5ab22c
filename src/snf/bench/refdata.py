"""The published figures that ship with the package (folder `reference/`, sources in
`reference/SOURCES.md`): read here, relabelled so every name says "reference" and
where it comes from. Nothing here was measured by snf."""
from __future__ import annotations

import json
from importlib import resources

COMPRESSAI = {"jpeg": "JPEG", "webp": "WebP", "jpeg2000": "JPEG 2000", "bpg_444_x265_ycbcr": "BPG 4:4:4"}


def load(name: str) -> dict:
    return json.loads(resources.files("snf.bench").joinpath("reference", name).read_text())


def reference_curves(images: list) -> dict:
    """slug -> CompressAI-format curve: Kodak averages, and Cool-chic 5.0 for the run's
    images that are Kodak images (matched by file stem, e.g. kodim03)."""
    out = {}
    for stem, label in COMPRESSAI.items():
        d = load(f"{stem}.json")
        r = d["results"]
        out[f"reference-{stem}"] = {
            "name": f"{label} (reference: CompressAI, Kodak 24-image average)",
            "description": f"{d.get('description', '')} Published by InterDigitalInc/CompressAI, "
                           "results/image/kodak/; not measured by snf.",
            "source": "InterDigitalInc/CompressAI results/image/kodak",
            "results": {k: r[k] for k in ("bpp", "psnr-rgb", "ms-ssim-rgb") if k in r}}
    coin = load("coin.json")
    out["reference-coin"] = {"name": "COIN (reference: Dupont et al., Kodak average)",
                             "description": coin["description"], "source": "EmilienDupont/coin results.json",
                             "results": coin["results"]}
    cc = load("coolchic5_kodak.json")
    for stem in images:
        if stem in cc["results"]:
            r = cc["results"][stem]
            out[f"reference-coolchic5-{stem}"] = {
                "name": f"Cool-chic 5.0 {stem} (reference: Orange-OpenSource/Cool-Chic, published)",
                "description": cc["description"], "source": cc["source"], "image": stem,
                "results": {"bpp": r["bpp"], "psnr-rgb": r["psnr-rgb"]}}
    return out


def paper_table(grow: str) -> dict:
    """The seed's table for a growth mode: {"params"|"psnr-rgb"|"ssim"|"lpips": {method: [4]}}."""
    if grow == "spectral":
        return load("snf_paper_table1.json")["results"]
    return load("snf_paper_tables.json")["table3_spatial"]
