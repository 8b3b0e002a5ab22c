"""Write a small synthetic clip as numbered PNG frames: synthetic_video.py OUT_DIR [W H T].

A bright blob moving across a colour ramp with a drifting stripe texture: smooth
in space and time, so a small field can fit it (the modalities benchmark's input).
"""
import os
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
w, h, t = (int(v) for v in sys.argv[2:5]) if len(sys.argv) > 4 else (48, 32, 24)
os.makedirs(out, exist_ok=True)
y, x = np.mgrid[0:h, 0:w] / max(w, h)
for i in range(t):
    s = i / max(1, t - 1)
    blob = np.exp(-((x - 0.15 - 0.7 * s) ** 2 + (y - 0.35 - 0.1 * np.sin(6 * s)) ** 2) / 0.02)
    stripes = 0.5 + 0.5 * np.sin(20 * x + 8 * y - 4 * s)
    frame = np.stack([0.2 + 0.7 * blob, 0.15 + 0.5 * x + 0.2 * stripes, 0.6 - 0.4 * y + 0.2 * blob * stripes], -1)
    Image.fromarray((np.clip(frame, 0, 1) * 255).astype(np.uint8)).save(os.path.join(out, f"frame{i}.png"))
