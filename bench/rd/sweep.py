"""End-to-end RD sweep: one full encode per (image, quality, options), each level's cumulative
bytes (the prefix a reader needs), decoded PSNR, PSNR before rounding and bits per parameter
by tensor kind; one JSON line per encode. Every level k+1 trains on the rounded level k, as
in snf-encode (no post-hoc shortcut).

python bench/rd/sweep.py OUT.jsonl IMAGE[,IMAGE] QUALITY[,QUALITY] [--qat] [--steps N] [--no-rdoq] [--tag T]
python bench/rd/sweep.py OUT.jsonl --file FILE.snf --tag T     (an existing file, e.g. a 1.0 one)
"""
import argparse
import json
import os
import time

import numpy as np
from PIL import Image

from snf.format import container


def levels_of(data: bytes) -> list:
    p = container.read(data, decode=False)
    return [{"level": k, "cum_bytes": end, **lv} for k, (end, lv) in enumerate(zip(p.ends, p.header["levels"]), 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("images", nargs="?")
    ap.add_argument("qualities", nargs="?")
    ap.add_argument("--qat", action="store_true")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--no-rdoq", action="store_true", help="nearest-integer rounding (rdoq off)")
    ap.add_argument("--file")
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    if a.file:
        data = open(a.file, "rb").read()
        row = {"tag": a.tag, "file": a.file, "bytes": len(data), "levels": levels_of(data)}
        with open(a.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row))
        return
    import torch
    torch.set_num_threads(1)
    from snf.encode.encoder import compress
    import snf.settings
    from snf.settings import EncodeSettings
    # no deadline: the preset's steps whatever the load (the module default, so the header
    # stays a default encode's: deadline=0 would be recorded)
    snf.settings.DEFAULT_DEADLINE = None
    for image in a.images.split(","):
        img = np.asarray(Image.open(image).convert("RGB"))
        for q in [int(x) for x in a.qualities.split(",")]:
            s = EncodeSettings(quality=q, qat=True if a.qat else None, steps=a.steps,
                               rdoq=False if a.no_rdoq else None)
            t0 = time.monotonic()
            r = compress(img, s, quiet=True)
            sec = time.monotonic() - t0
            lv = levels_of(r["bytes"])
            for d, kinds in zip(lv, r["bits_per_param"]):
                d["bits_per_param"] = kinds
            row = {"tag": a.tag, "image": os.path.basename(image), "quality": q, "qat": a.qat, "steps": a.steps, "rdoq": s.rdoq_on,
                   "bytes": len(r["bytes"]), "seconds_loaded": round(sec, 1), "levels": lv}
            with open(a.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
