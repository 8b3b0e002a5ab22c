"""Post-hoc RD study on one captured encode (bench/rd/capture.py): for each level k, levels
< k as the 8-bit file held them, level k's floats re-quantised with RD steps at several eps;
bytes (entropy-coded payload) and PSNR per level. Ignores later levels' compensation."""
import pickle, sys, json
import numpy as np
import torch
from PIL import Image
from snf.field.arch import Arch
from snf.encode.model import BlockSiren
from snf.encode import rd
from snf.format import coded, quant
import zstandard
from snf.decode.render import Network, to_samples
from snf.signals.image import VALUE_RANGE, image_samples, psnr

cap = pickle.load(open(sys.argv[1], "rb"))
img = np.asarray(Image.open(sys.argv[2]).convert("RGB"))
arch = Arch.from_dict(cap["arch"])
coords, values = image_samples(img)
h, w, c = img.shape
def render_psnr(levels, k):
    v = Network(arch, levels, k).grid((w, h))
    return psnr(img.reshape(-1, c), to_samples(v, VALUE_RANGE))
gen = torch.Generator().manual_seed(0)
model = BlockSiren(arch)
rows = []
for k in range(1, arch.levels + 1):
    floats, deq8, raw = cap["levels"][k]
    model.grow(gen)
    prev = [cap["levels"][j][1] for j in range(1, k)]
    model.set_level(k, floats)
    sens, mse = rd.sensitivity(model, k, coords, values)
    p_float = render_psnr(prev + [floats], k)
    raw8, v1deq = quant.encode_level(arch, k, floats, quant.default_quant(8))  # today's 1.0 coding
    p_8 = render_psnr(prev + [v1deq], k)
    old_bytes = len(zstandard.ZstdCompressor(level=19, write_content_size=True, write_checksum=False).compress(raw8)) + 14
    # nearest-integer rounding only (rate-distortion rounding: bench/rd/rdoq_study.py)
    for eps, rdoq in [(float(a), False) for a in sys.argv[3].split(",")]:
        codes = rd.rd_codes(arch, k, sens, mse, eps)
        payload, deq, stats = coded.encode_level(arch, k, floats, codes)
        assert all(np.array_equal(a, b) for a, b in zip(coded.decode_level(arch, k, payload), deq))
        p = render_psnr(prev + [deq], k)
        rows.append({"level": k, "eps": eps, "rdoq": rdoq, "bytes": len(payload) + 14, "bytes_8bit": old_bytes, "psnr": round(p, 3),
                     "psnr_float": round(p_float, 3), "psnr_8bit": round(p_8, 3), "bpp_kind": rd.bits_per_param(stats)})
        print(json.dumps(rows[-1]), flush=True)
    model.set_level(k, deq8)
    model.freeze(k)
