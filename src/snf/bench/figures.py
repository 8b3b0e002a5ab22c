"""`snf-bench figures IMAGE`: the seed's figures for one picture, as PNG files.

- levels.png (seed Fig. 4): each level's reconstruction decoded from the real file,
  with the log-magnitude spectrum of its luminance: higher levels add higher
  frequencies, which is what spectral growing claims.
- psnr-steps.png (seed Fig. 1): training PSNR against the global step for the two
  growth initialisations (`init` siren: the paper's; zero-out: new output columns
  zero), from the trainer's progress callback.
- residuals.png: what each level adds (level k minus level k-1), and each
  level's remaining error.
- landscape.png (seed Fig. 2): the loss around the final parameters of the last
  level, along the two leading PCA directions of its training trajectory, with
  the trajectory projected on it, for progressive and individual training, on a
  small downscaled copy of the picture (a two-level network, full-batch Adam).
"""
from __future__ import annotations

import os

import numpy as np

from snf.bench import metrics
from snf.bench.budget import default_budget
from snf.bench.results import load_rgb, write_json
from snf.progress import Bar


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str) -> None:
    fig.savefig(path + ".tmp.png")
    os.replace(path + ".tmp.png", path)


def log_spectrum(img: np.ndarray) -> np.ndarray:
    """log(1 + |FFT|) of the luminance, zero frequency centred."""
    y = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if img.ndim == 3 else img.astype(np.float64)
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(y - y.mean()))))


def encode_with_curve(img, init: str, budget: float | None, bar: Bar, label: str, steps: int | None = None) -> dict:
    """One progressive encode; returns the file, the decoded levels and (global step, PSNR) samples."""
    from snf import compress
    from snf.decode.decoder import render_image
    from snf.format.container import read
    from snf.settings import EncodeSettings
    samples = []

    def progress(d):
        samples.append((d["level"], d["step"], d["psnr"]))
        bar.update(label, d["fraction"], 1.0, d["text"])
    res = compress(img, EncodeSettings(init=init, time_budget=None if steps else budget, steps=steps), quiet=True,
                   progress=progress)
    steps = res["timing"]["stage_steps"]
    offset = np.concatenate([[0], np.cumsum(steps)])
    curve = [(int(offset[k - 1] + s), p) for k, s, p in samples]
    parsed = read(res["bytes"])
    recs = [render_image(parsed, k) for k in range(1, parsed.arch.levels + 1)]
    return {"curve": curve, "stage_steps": steps, "recs": recs, "widths": parsed.arch.widths,
            "psnr": [metrics.psnr(img, r) for r in recs], "bytes": len(res["bytes"])}


def fig_levels(img, enc: dict, path: str) -> None:
    plt = _plt()
    n = len(enc["recs"]) + 1
    fig, ax = plt.subplots(2, n, figsize=(2.6 * n, 5.2), dpi=110)
    pics = enc["recs"] + [img]
    titles = [f"level {k + 1} (w {w})\n{p:.2f} dB" for k, (w, p) in enumerate(zip(enc["widths"], enc["psnr"]))] \
        + ["original"]
    spec = [log_spectrum(p) for p in pics]
    vmax = max(s.max() for s in spec)
    for j, (p, s, t) in enumerate(zip(pics, spec, titles)):
        ax[0, j].imshow(p)
        ax[0, j].set_title(t, fontsize=8)
        ax[1, j].imshow(s, cmap="magma", vmin=0, vmax=vmax)
        ax[1, j].set_title("log |FFT| (luminance)", fontsize=7)
        for a in ax[:, j]:
            a.axis("off")
    fig.suptitle("Per-level reconstructions and their spectra (cf. seed Fig. 4)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def fig_steps(encs: dict, path: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for init, enc in encs.items():
        if enc["curve"]:
            x, y = zip(*enc["curve"])
            ax.plot(x, y, label=f"init {init}: final " + " / ".join(f"{p:.2f}" for p in enc["psnr"]) + " dB")
        for e in np.cumsum(enc["stage_steps"])[:-1]:
            ax.axvline(e, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("global training step (dotted: a new level starts)")
    ax.set_ylabel("training PSNR (dB, running mean)")
    ax.set_title("PSNR per step for the two growth initialisations (cf. seed Fig. 1)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def fig_residuals(img, enc: dict, path: str) -> None:
    plt = _plt()
    recs = [r.astype(np.float64) for r in enc["recs"]]
    n = len(recs)
    fig, ax = plt.subplots(2, n, figsize=(2.6 * n, 5.2), dpi=110)
    prev = np.full_like(recs[0], 127.5)
    for k, r in enumerate(recs):
        add, err = r - prev, img.astype(np.float64) - r
        for a, d, t in ((ax[0, k], add, f"level {k + 1} adds" if k else "level 1 (from grey)"),
                        (ax[1, k], err, f"error after level {k + 1}")):
            s = max(1.0, np.abs(d).max())
            a.imshow(np.clip(0.5 + d / (2 * s), 0, 1))
            a.set_title(f"{t}\n(max |d| {s:.0f})", fontsize=7)
            a.axis("off")
        prev = r
    fig.suptitle("What each level adds, and what is left (grey = 0)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def landscape(img, mode: str, widths=(16, 32), steps: int = 300, every: int = 5, grid: int = 21,
              lr: float = 1e-3, seed: int = 0) -> dict:
    """Train a two-level field on `img` in `mode`; loss around the last level's final
    parameters along the two leading PCA directions of its trajectory."""
    import torch
    from torch.nn.utils import parameters_to_vector, vector_to_parameters
    from snf.encode.model import BlockSiren
    from snf.encode.stage import Autograd
    from snf.field.arch import Arch
    from snf.signals.image import image_samples
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    coords, values = (torch.as_tensor(a) for a in image_samples(img))
    model = BlockSiren(Arch(widths, mode=mode, d_out=img.shape[2]))
    traj = []
    for k in range(1, len(widths) + 1):
        model.grow(gen)
        for j in range(1, k):
            model.freeze(j)
        obj = Autograd(model, [k], coords, values)
        opt = torch.optim.Adam(obj.params, lr=lr)
        for s in range(steps):
            if k == len(widths) and s % every == 0:
                traj.append(parameters_to_vector(obj.params).detach().clone())
            obj.step(None)
            opt.step()
    params = obj.params
    final = parameters_to_vector(params).detach().clone()
    traj.append(final)
    T = torch.stack(traj).double() - final.double()
    _, sv, vh = torch.linalg.svd(T, full_matrices=False)
    d1, d2 = vh[0], vh[1]
    xy = torch.stack([T @ d1, T @ d2], 1).numpy()
    span = 1.2 * max(np.abs(xy).max(), 1e-3)
    axis = np.linspace(-span, span, grid)
    loss = np.zeros((grid, grid))
    with torch.no_grad():
        for i, b in enumerate(axis):
            for j, a in enumerate(axis):
                vector_to_parameters((final.double() + a * d1 + b * d2).float(), params)
                loss[i, j] = float(torch.nn.functional.mse_loss(model(coords, len(widths)), values))
        vector_to_parameters(final, params)
    explained = (sv[:2] ** 2 / (sv ** 2).sum()).numpy()
    return {"axis": axis, "loss": loss, "traj": xy, "explained": explained,
            "final_loss": float(loss[grid // 2, grid // 2]), "widths": widths}


def fig_landscape(res: dict, path: str) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, len(res), figsize=(5.2 * len(res), 4.6), dpi=110)
    for ax, (mode, r) in zip(np.atleast_1d(axes), res.items()):
        A = r["axis"]
        cs = ax.contourf(A, A, np.log10(r["loss"]), levels=24, cmap="viridis")
        fig.colorbar(cs, ax=ax, label="log10 MSE (values in [-1, 1])")
        ax.plot(r["traj"][:, 0], r["traj"][:, 1], "w.-", ms=2, lw=0.8, label="trajectory")
        ax.plot([0], [0], "r*", ms=10, label="final")
        ax.set_title(f"{mode}: level {len(r['widths'])} (widths {'/'.join(map(str, r['widths']))}), "
                     f"PCA {100 * r['explained'][0]:.0f}% / {100 * r['explained'][1]:.0f}%", fontsize=8)
        ax.set_xlabel("PCA direction 1")
        ax.set_ylabel("PCA direction 2")
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("Loss landscape around the last level's parameters (cf. seed Fig. 2)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def run(args, out: str, bar: Bar, say) -> dict:
    from PIL import Image
    img = load_rgb(args.image)
    h, w = img.shape[:2]
    budget = None if args.steps else (args.budget or default_budget(w * h, "figures"))
    if not 8 <= args.landscape_size <= 256:
        from snf.bench.results import BenchError
        raise BenchError("--landscape-size must be 8..256")
    encs = {}
    for init in ("siren", "zero-out"):
        encs[init] = encode_with_curve(img, init, budget, bar, f"figures: encode, init {init}", args.steps)
        bar.line(f"init {init}: PSNR " + " / ".join(f"{p:.2f}" for p in encs[init]["psnr"]) + " dB")
    files = {}
    p = os.path.join(out, "levels.png")
    fig_levels(img, encs["siren"], p)
    files[p] = "per-level reconstructions with log-magnitude spectra (seed Fig. 4)"
    p = os.path.join(out, "psnr-steps.png")
    fig_steps(encs, p)
    files[p] = "training PSNR per step, init siren vs zero-out (seed Fig. 1)"
    p = os.path.join(out, "residuals.png")
    fig_residuals(img, encs["siren"], p)
    files[p] = "what each level adds, and the error left"
    s = args.landscape_size
    small = np.asarray(Image.fromarray(img).resize((s, max(8, round(s * h / w))), Image.LANCZOS))
    land = {}
    for mode in ("progressive", "individual"):
        bar.update(f"figures: loss landscape, {mode}", 0, 1, "training", force=True)
        land[mode] = landscape(small, mode)
    p = os.path.join(out, "landscape.png")
    fig_landscape(land, p)
    files[p] = f"loss landscape along the trajectory's PCA directions, progressive vs individual ({s} px wide)"
    write_json(os.path.join(out, "figures.json"), {
        "image": os.path.abspath(args.image), "budget_s": budget, "steps_per_level": args.steps,
        "encodes": {k: {"psnr": v["psnr"], "bytes": v["bytes"], "stage_steps": v["stage_steps"],
                        "curve": v["curve"]} for k, v in encs.items()},
        "landscape": {m: {"final_loss": r["final_loss"], "explained": [float(x) for x in r["explained"]]}
                      for m, r in land.items()}})
    files[os.path.join(out, "figures.json")] = "the numbers behind the figures"
    return files
