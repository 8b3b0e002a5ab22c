"""RDOQ against plain rounding on the same trained floats: for each level of one real encode,
re-quantise that level's floats at the steps of several qualities, once with nearest-integer
rounding and once with snf.encode.rdoq (both then re-solve the output columns as the encoder
does), and report the level's bytes and decoded PSNR (earlier levels as the real encode
rounded them). One JSON line per (level, quality, variant). The real encode goes on with its
own settings (so levels after the first build on its rounding, not on each variant's).

python bench/rd/rdoq_study.py OUT.jsonl IMAGE QUALITY STUDY_QUALITIES [--steps N] [--no-rdoq] [--tag T] [--save FILE.snf] [--level-steps 3600,1500,2300,2300]

The last line ("final": true) has the real encode's levels as bench/rd/sweep.py writes them.
"""
import argparse
import json
import time

import numpy as np
import torch
from PIL import Image

import snf.encode.train as train_mod
from snf.encode import rd, rdoq
from snf.encode.encoder import compress
from sweep import levels_of
from snf.format import coded
from snf.decode.render import Network, to_samples
from snf.settings import EncodeSettings
from snf.signals.image import VALUE_RANGE, image_samples, psnr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("image")
    ap.add_argument("quality", type=int)
    ap.add_argument("study")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--no-rdoq", action="store_true")
    ap.add_argument("--tag", default="")
    ap.add_argument("--save", help="write the real encode's file here")
    ap.add_argument("--level-steps", help="steps per level for preset fast, e.g. 3600,1500,2300,2300")
    a = ap.parse_args()
    torch.set_num_threads(1)
    img = np.asarray(Image.open(a.image).convert("RGB"))
    h, w, c = img.shape
    coords, values = image_samples(img)
    prev = {}
    real_run = train_mod.Trainer.run

    def run(self, on_stage_end):
        def wrapped(levels, model, refit):
            for k in levels:
                study_level(model, k, refit)
            on_stage_end(levels, model, refit)
            for k in levels:
                prev[k] = model.level_tensors(k)  # as rounded by the real encode
        return real_run(self, wrapped)

    def measure(arch, k, deq):
        v = Network(arch, [prev[j] for j in range(1, k)] + [deq], k).grid((w, h))
        return psnr(img.reshape(-1, c), to_samples(v, VALUE_RANGE).reshape(-1, c))

    def study_level(model, k, refit):
        arch = model.arch
        floats = model.level_tensors(k)
        sens, mse = rd.sensitivity(model, k, coords, values)
        n_out = 2 if k == 1 else 1
        for q in [int(x) for x in a.study.split(",")]:
            eps = rd.eps_of_quality(q)
            codes = rd.rd_codes(arch, k, sens, mse, eps)
            for variant in ("plain", "rdoq", "rdoq-diag", "rdoq-lam2"):
                model.set_level(k, floats)
                t0 = time.monotonic()
                r = None
                if variant != "plain":  # diag: H's diagonal only (no error feedback); lam2: twice lambda
                    r = rdoq.LevelRounder(model, k, codes, coords, values, eps, feedback=variant != "rdoq-diag",
                                          lam_scale=2.0 if variant == "rdoq-lam2" else 1.0)
                    r.hidden()
                cc = codes if r is None else r.codes
                _, deq, _ = coded.encode_level(arch, k, floats, cc, None if r is None else r.ints)
                model.set_level(k, deq[:-n_out] + floats[-n_out:])
                if refit is not None:
                    refit()
                if r is not None:
                    r.output()
                payload, deq, stats = coded.encode_level(arch, k, model.level_tensors(k), cc,
                                                         None if r is None else r.ints)
                sec = time.monotonic() - t0
                row = {"tag": a.tag, "image": a.image.rsplit("/", 1)[-1], "level": k, "quality": q,
                       "variant": variant, "bytes": len(payload), "psnr": round(measure(arch, k, deq), 3),
                       "psnr_float": round(measure(arch, k, floats), 3), "seconds": round(sec, 2),
                       "bpp_kind": rd.bits_per_param(stats),
                       "objective": None if r is None else {t: [round(x, 6) for x in v] for t, v in r.cost.items()}}
                with open(a.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
        model.set_level(k, floats)

    train_mod.Trainer.run = run
    if a.level_steps:
        from dataclasses import replace
        from snf.encode import presets
        presets.PRESETS["fast"] = replace(presets.PRESETS["fast"], steps=tuple(int(x) for x in a.level_steps.split(",")))
    import snf.encode.encoder as enc
    enc.Trainer = train_mod.Trainer
    # no deadline: the preset's steps whatever the load (a loaded machine would otherwise train
    # fewer); the module default, so the header stays a default encode's (deadline=0 would be recorded)
    import snf.settings
    snf.settings.DEFAULT_DEADLINE = None
    s = EncodeSettings(quality=a.quality, steps=a.steps, rdoq=not a.no_rdoq)
    r = compress(img, s, quiet=True)
    lv = levels_of(r["bytes"])
    for d, kinds in zip(lv, r["bits_per_param"]):
        d["bits_per_param"] = kinds
    if a.save:
        with open(a.save, "wb") as f:
            f.write(r["bytes"])
    row = {"tag": a.tag, "image": a.image.rsplit("/", 1)[-1], "quality": a.quality, "rdoq": not a.no_rdoq,
           "level_steps": a.level_steps,
           "final": True, "bytes": len(r["bytes"]), "levels": lv,
           "stage_seconds_loaded": [round(x, 1) for x in r["timing"]["stage_seconds"]]}
    with open(a.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
