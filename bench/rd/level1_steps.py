"""Level 1 alone (widths 30) on kodim03 at several step counts: bytes and PSNR, to size
level 1's steps in preset fast. python bench/rd/level1_steps.py STEPS:QUALITY ... (e.g. 1800:75 3600:75)"""
import sys
import time

import numpy as np
import torch
from PIL import Image

from snf.encode import presets
from snf.encode.encoder import compress
from snf.format import container
from snf.settings import EncodeSettings

torch.set_num_threads(1)
img = np.asarray(Image.open("/work/shared/data/kodak/kodim03.png").convert("RGB"))
for spec in sys.argv[1:]:
    steps, q = spec.split(":")
    presets.PRESETS["fast"] = presets.with_overrides(presets.PRESETS["fast"], steps=(int(steps),))
    t0 = time.monotonic()
    r = compress(img, EncodeSettings(widths=(30,), quality=int(q)), quiet=True)
    p = container.read(r["bytes"])
    print(spec, f"{time.monotonic() - t0:.1f} s (loaded)", p.ends, r["levels"], flush=True)
