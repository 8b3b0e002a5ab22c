"""Rate-distortion plots (PNG, matplotlib without a display).

snf's levels are joined as one progressive curve per setting (solid, markers at
the levels); measured anchors are thin solid lines; published reference curves
are dashed and their labels name their source. One plot of the means over the
run's images (with Kodak-average references), and one per image (with the
per-image Cool-chic reference where the image is a Kodak one).
"""
from __future__ import annotations

import os


def _mpl():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


STYLE = {"jpeg": ("tab:orange", "s"), "webp": ("tab:green", "^"), "jpeg2000": ("tab:purple", "v"),
         "jpegxl": ("tab:brown", "D"), "jpeg2000-layer-prefixes": ("tab:pink", "x"),
         "avif": ("tab:olive", "P")}


def _draw(ax, files: dict, refs: dict, snf_slugs: list, image: str | None) -> None:
    def curve(doc):
        c = doc["per_image"][image] if image else doc["results"]
        pts = [(b, p) for b, p in zip(c["bpp"], c["psnr-rgb"]) if b is not None and p is not None]
        return [b for b, _ in pts], [p for _, p in pts]
    colours = ["tab:blue", "tab:red", "tab:cyan", "navy", "darkred", "teal"]
    for i, s in enumerate(snf_slugs):
        x, y = curve(files[s])
        ax.plot(x, y, "-o", color=colours[i % len(colours)], lw=2, ms=5, label=f"{files[s]['name']} (levels)")
        pj = files.get(f"jpeg-progressive-prefix-at-{s}")
        if pj and i == 0:
            x, y = curve(pj)
            ax.plot(x, y, ":", color="black", marker=".", label="progressive-JPEG prefix at snf's bytes")
    for slug, (col, mk) in STYLE.items():
        if slug in files:
            x, y = curve(files[slug])
            ax.plot(x, y, "-", color=col, marker=mk, ms=3, lw=1, label=files[slug]["name"] + " (measured)")
    for slug, doc in refs.items():
        if image is None and "image" in doc or image is not None and doc.get("image") not in (None, image):
            continue
        if image is not None and "image" not in doc and "coin" not in slug:
            continue  # per-image plots: Kodak averages would mislead; keep COIN and this image's Cool-chic
        r = doc["results"]
        ax.plot(r["bpp"], r["psnr-rgb"], "--", lw=1, alpha=0.8, label=doc["name"])


def rd_plots(files: dict, refs: dict, snf_slugs: list, out: str) -> list:
    plt = _mpl()
    images = list(files[snf_slugs[0]]["per_image"]) if snf_slugs else []
    pngs = []
    targets = [(None, "rd.png")] + [(im, f"rd-{im}.png") for im in images] if len(images) > 1 else \
        [(im, "rd.png") for im in images]
    for image, name in targets:
        fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
        _draw(ax, files, refs, snf_slugs, image)
        xs = [b for s in snf_slugs for b in (files[s]["per_image"][image] if image else files[s]["results"])["bpp"]]
        ax.set_xlim(0, max(2.0, 1.15 * max(xs)) if xs else 2.0)
        ax.set_xlabel("bits per pixel (real file bytes)")
        ax.set_ylabel("PSNR RGB (dB)")
        title = f"{image}" if image else (f"mean over {', '.join(images)}" if len(images) > 1 else images[0])
        ax.set_title(f"snf rate-distortion: {title} (dashed: published reference curves)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = os.path.join(out, name)
        fig.savefig(path + ".tmp.png")
        os.replace(path + ".tmp.png", path)
        plt.close(fig)
        pngs.append(path)
    return pngs
