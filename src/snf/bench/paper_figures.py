"""`snf-bench figures --from RUN`: the seed's figures drawn from a `snf-bench paper` run.

Every figure is decoded from the run's own .snf files (the cells `tableN/<input>/<method>.snf`),
so it shows what those encodes are, at the budget the run states:

- spectrum-table1.png (seed Fig. 4): per level of the progressive stream, the reconstruction,
  the log-magnitude spectrum of its luminance, and the spectrum of what the level adds;
- strip-table1.png, strip-table3.png (seed Fig. 5 and 7): each method's levels side by side
  (spatial levels show the stripes they reveal), with the original;
- meshes-table2.png (seed Fig. 6): each method's marching-cubes mesh per level, shaded;
- residuals-table4.png (seed Fig. 8): for the progressive video, what level k changes on the
  frames earlier levels already cover (level k minus level k-1, amplified) beside the frames it
  adds, and the error left after the last level.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from snf.bench import metrics
from snf.bench.figures import _plt, _save, log_spectrum
from snf.bench.results import BenchError, write_json

METHODS = ("individual", "slimmable", "progressive")


def _cells(run: str, table: int) -> dict:
    """{input stem: {method: path of its .snf}} of one table in a paper run (inputs by name)."""
    base = os.path.join(run, f"table{table}")
    if not os.path.isdir(base):
        return {}
    out = {}
    for stem in sorted(os.listdir(base)):
        d = os.path.join(base, stem)
        got = {m: os.path.join(d, f"{m}.snf") for m in METHODS if os.path.isfile(os.path.join(d, f"{m}.snf"))}
        if got:
            out[stem] = got
    return out


def _doc(run: str, slug: str) -> dict | None:
    p = os.path.join(run, f"paper-{slug}.json")
    if not os.path.isfile(p):
        return None
    with open(p) as f:
        return json.load(f)


def _read(path: str):
    from snf.format.container import read
    with open(path, "rb") as f:
        data = f.read()
    return read(data), hashlib.sha256(data).hexdigest()[:16]


def _source(doc: dict | None, stem: str) -> np.ndarray | None:
    """The run's original picture or clip for `stem` (the path its table recorded), or None."""
    if not doc or stem not in doc.get("per_input", {}):
        return None
    path = doc["per_input"][stem]["path"]
    if not os.path.exists(path):
        return None
    if doc["signal"] == "image":
        from snf.bench.results import load_rgb
        img = load_rgb(path)
        scale = (doc["per_input"][stem].get("cut") or {}).get("scale", 1)
        if scale != 1:  # as the run cut it
            from snf.signals.video import downscale
            img = downscale(img, scale)
        return img
    return None


def fig_strip(run: str, table: int, stem: str, cells: dict, doc: dict | None, path: str) -> dict:
    """Methods in rows, levels in columns (Fig. 5 / 7)."""
    from snf.decode.decoder import render_image
    plt = _plt()
    original = _source(doc, stem)
    rows = [m for m in METHODS if m in cells]
    recs, used = {}, {}
    for m in rows:
        parsed, digest = _read(cells[m])
        used[cells[m]] = digest
        recs[m] = [render_image(parsed, k, crop=True) for k in range(1, parsed.arch.levels + 1)]
    n = max(len(v) for v in recs.values()) + (original is not None)
    fig, ax = plt.subplots(len(rows), n, figsize=(2.4 * n, 1.9 * len(rows) + 0.6), dpi=110, squeeze=False)
    for i, m in enumerate(rows):
        for k in range(n):
            a = ax[i, k]
            a.axis("off")
            if k < len(recs[m]):
                r = recs[m][k]
                a.imshow(r)
                title = f"{m} level {k + 1}"
                if original is not None:
                    title += f"\n{metrics.psnr(np.ascontiguousarray(original[:, :r.shape[1]]), r):.2f} dB"
                a.set_title(title, fontsize=7)
            elif original is not None and k == n - 1:
                a.imshow(original)
                a.set_title("original", fontsize=7)
    what = "spatial growing: level k shows the stripes it reveals" if table == 3 else "spectral growing"
    fig.suptitle(f"{stem}, {what} (cf. seed Fig. {7 if table == 3 else 5})", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return used


def mean_frequency(img: np.ndarray) -> float:
    """Energy-weighted mean spatial frequency (cycles per pixel, 0..0.71) of a picture's luminance:
    whether a level adds finer detail than the one before (the claim of the seed's Fig. 4)."""
    y = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if img.ndim == 3 else img.astype(np.float64)
    power = np.abs(np.fft.fft2(y - y.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(y.shape[0]), np.fft.fftfreq(y.shape[1]), indexing="ij")
    total = power.sum()
    return float((np.hypot(fx, fy) * power).sum() / total) if total > 0 else 0.0


def fig_spectrum(stem: str, cell: str, doc: dict | None, path: str) -> tuple:
    """Per progressive level: picture, its spectrum, the spectrum of what it adds (Fig. 4)."""
    from snf.decode.decoder import render_image
    plt = _plt()
    parsed, digest = _read(cell)
    recs = [render_image(parsed, k) for k in range(1, parsed.arch.levels + 1)]
    original = _source(doc, stem)
    n = len(recs) + (original is not None)
    fig, ax = plt.subplots(3, n, figsize=(2.5 * n, 7.2), dpi=110, squeeze=False)
    specs = [log_spectrum(r) for r in recs] + ([log_spectrum(original)] if original is not None else [])
    vmax = max(s.max() for s in specs)
    prev = None
    freqs = []
    for k in range(n):
        pic = recs[k] if k < len(recs) else original
        title = f"level {k + 1} (w {parsed.arch.widths[k]})" if k < len(recs) else "original"
        if original is not None and k < len(recs):
            title += f"\n{metrics.psnr(original, pic):.2f} dB"
        ax[0, k].imshow(pic)
        ax[0, k].set_title(title, fontsize=7)
        ax[1, k].imshow(specs[k], cmap="magma", vmin=0, vmax=vmax)
        ax[1, k].set_title("log |FFT|", fontsize=7)
        if k < len(recs):
            add = recs[k].astype(np.float64) - (prev if prev is not None else 0.0)
            freqs.append(round(mean_frequency(add), 4))
            ax[2, k].imshow(log_spectrum(add), cmap="magma", vmin=0, vmax=vmax)
            ax[2, k].set_title(("log |FFT| of what it adds" if k else "log |FFT| (level 1)")
                               + f"\nmean freq {freqs[-1]:.3f} c/px", fontsize=7)
            prev = recs[k].astype(np.float64)
        for a in ax[:, k]:
            a.axis("off")
    fig.suptitle(f"{stem}, progressive levels and their spectra (cf. seed Fig. 4)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return {cell: digest}, freqs


def shaded(verts: np.ndarray, faces: np.ndarray, max_faces: int = 60_000, seed: int = 0) -> tuple:
    """Faces (at most max_faces, an even subset) and a Lambert shade per face, light from the viewer."""
    if len(faces) > max_faces:
        keep = np.random.default_rng(seed).choice(len(faces), max_faces, replace=False)
        faces = faces[np.sort(keep)]
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    light = np.array([0.4, -0.6, 0.7])
    shade = 0.25 + 0.75 * np.abs(n @ (light / np.linalg.norm(light)))
    return tri, shade


def fig_meshes(stem: str, cells: dict, path: str, resolution: int = 96) -> dict:
    """Methods in rows, levels in columns: each level's zero set, extracted from the file (Fig. 6)."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    from snf.decode.sdf import extract_mesh, sdf_grid
    plt = _plt()
    rows = [m for m in METHODS if m in cells]
    meshes, used = {}, {}
    for m in rows:
        parsed, digest = _read(cells[m])
        used[cells[m]] = digest
        meshes[m] = [extract_mesh(sdf_grid(parsed, k, resolution)) for k in range(1, parsed.arch.levels + 1)]
    n = max(len(v) for v in meshes.values())
    fig = plt.figure(figsize=(3 * n, 3 * len(rows)), dpi=110)
    for i, m in enumerate(rows):
        for k, (verts, faces) in enumerate(meshes[m]):
            a = fig.add_subplot(len(rows), n, i * n + k + 1, projection="3d")
            a.set_axis_off()
            if len(faces):
                v = verts[:, [0, 2, 1]]  # y up
                tri, shade = shaded(v, faces)
                a.add_collection3d(Poly3DCollection(tri, facecolors=plt.cm.bone(0.15 + 0.8 * shade), linewidths=0))
            a.set_xlim(-1, 1)
            a.set_ylim(-1, 1)
            a.set_zlim(-1, 1)
            a.view_init(elev=15, azim=-70)
            a.set_title(f"{m} level {k + 1}\n{len(faces):,} faces", fontsize=7)
    fig.suptitle(f"{stem}: each level's zero set, marching cubes on {resolution}^3 (cf. seed Fig. 6)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return used


def video_residuals(parsed, picks: int = 4) -> dict:
    """Per level: the frames it covers; and for k > 1 the change on the frames level k-1 covers.
    Returns {"levels": [frames_k], "change_old": [mean |level k - level k-1| on old frames],
    "frames": picked frame indices}."""
    from snf.decode.video import render_frames
    levels = [render_frames(parsed, k).astype(np.float64) for k in range(1, parsed.arch.levels + 1)]
    change = [None] + [float(np.abs(levels[k][:len(levels[k - 1])] - levels[k - 1]).mean())
                       for k in range(1, len(levels))]
    t = len(levels[-1])
    frames = sorted(set(np.linspace(0, t - 1, picks).round().astype(int).tolist()))
    return {"levels": levels, "change_old": change, "frames": frames}


def fig_residuals(stem: str, cell: str, original: np.ndarray | None, path: str) -> tuple:
    """Rows: levels; columns: picked frames. Level 1: its frames; level k > 1: what it changes on
    frames already covered (x8 around grey) or, on the frames it adds, the frame itself; last row:
    the error left after the last level (x4 around grey), when the source clip is at hand."""
    plt = _plt()
    parsed, digest = _read(cell)
    r = video_residuals(parsed)
    levels, frames = r["levels"], r["frames"]
    nrow = len(levels) + (original is not None)
    fig, ax = plt.subplots(nrow, len(frames), figsize=(2.6 * len(frames), 1.9 * nrow + 0.5), dpi=110, squeeze=False)
    for k, fr in enumerate(levels):
        for j, f in enumerate(frames):
            a = ax[k, j]
            a.axis("off")
            if f >= len(fr):
                a.set_title(f"level {k + 1}: frame {f} not covered", fontsize=6)
                continue
            if k == 0 or f >= len(levels[k - 1]):
                a.imshow(fr[f].astype(np.uint8))
                a.set_title(f"level {k + 1}, frame {f}" + (" (new)" if k else ""), fontsize=6)
            else:
                d = fr[f] - levels[k - 1][f]
                a.imshow(np.clip(0.5 + 8 * d / 255.0, 0, 1))
                a.set_title(f"level {k + 1} - level {k}, frame {f}\n(x8; mean |d| {np.abs(d).mean():.2f})", fontsize=6)
    if original is not None:
        last = levels[-1]
        for j, f in enumerate(frames):
            e = original[f].astype(np.float64) - last[f]
            ax[-1, j].imshow(np.clip(0.5 + 4 * e / 255.0, 0, 1))
            ax[-1, j].set_title(f"error, frame {f} (x4)", fontsize=6)
            ax[-1, j].axis("off")
    fig.suptitle(f"{stem}, temporal growing: what each level changes on frames already streamed "
                 "(cf. seed Fig. 8)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return {cell: digest}, r["change_old"]


def run(args, out: str, bar, say) -> dict:
    run_dir = args.from_
    if not os.path.isdir(run_dir):
        raise BenchError(f"--from {run_dir}: not a folder")
    files, sources, numbers = {}, {}, {}
    t1 = _cells(run_dir, 1)
    d1 = _doc(run_dir, "spectral")
    if t1:
        stem = args.input if args.input in t1 else next(iter(t1))
        if "progressive" in t1[stem]:
            p = os.path.join(out, "spectrum-table1.png")
            sources[os.path.basename(p)], freqs = fig_spectrum(stem, t1[stem]["progressive"], d1, p)
            numbers["table1_mean_frequency_of_what_each_level_adds"] = freqs
            files[p] = f"{stem}: progressive levels, their spectra and the spectra of what each adds (seed Fig. 4)"
        p = os.path.join(out, "strip-table1.png")
        sources[os.path.basename(p)] = fig_strip(run_dir, 1, stem, t1[stem], d1, p)
        files[p] = f"{stem}: every method's levels side by side, spectral growing (seed Fig. 5)"
    t3 = _cells(run_dir, 3)
    if t3:
        stem = args.input if args.input in t3 else next(iter(t3))
        p = os.path.join(out, "strip-table3.png")
        sources[os.path.basename(p)] = fig_strip(run_dir, 3, stem, t3[stem], _doc(run_dir, "spatial"), p)
        files[p] = f"{stem}: every method's levels side by side, spatial growing (seed Fig. 7)"
    t2 = _cells(run_dir, 2)
    if t2:
        stem = args.input if args.input in t2 else next(iter(t2))
        p = os.path.join(out, "meshes-table2.png")
        sources[os.path.basename(p)] = fig_meshes(stem, t2[stem], p, args.mesh_resolution)
        files[p] = f"{stem}: each method's mesh per level (seed Fig. 6)"
    t4 = _cells(run_dir, 4)
    if t4:
        stem = args.input if args.input in t4 else next(iter(t4))
        if "progressive" in t4[stem]:
            original = _clip(_doc(run_dir, "temporal"), stem)
            p = os.path.join(out, "residuals-table4.png")
            sources[os.path.basename(p)], change = fig_residuals(stem, t4[stem]["progressive"], original, p)
            numbers["table4_mean_abs_change_on_covered_frames"] = change
            files[p] = f"{stem}: what each progressive level changes on frames already covered (seed Fig. 8)"
    if not files:
        raise BenchError(f"--from {run_dir}: no snf-bench paper cells (tableN/<input>/<method>.snf) there")
    write_json(os.path.join(out, "figures.json"), {"from": os.path.abspath(run_dir), "sources": sources,
                                                   "numbers": numbers})
    files[os.path.join(out, "figures.json")] = "which cells (sha256 prefix of each file) each figure was drawn from"
    return files


def _clip(doc: dict | None, stem: str) -> np.ndarray | None:
    """The clip Table 4 ran on, cut as the run cut it (frames, scale), or None if not at hand."""
    if not doc or stem not in doc.get("per_input", {}):
        return None
    info = doc["per_input"][stem]
    cut = info.get("cut")
    if not cut or not os.path.exists(info["path"]):
        return None
    from snf.signals.video import load_video
    video, _ = load_video(info["path"], frames=tuple(cut["frames"]), scale=cut["scale"])
    return video
