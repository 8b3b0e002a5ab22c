"""Run an encode and save each level's float tensors (as they leave training) and the
dequantised ones the next level trained on: the input of the post-hoc RD study (study.py).

python bench/rd/capture.py IMAGE OUT.pkl [STEPS]   (--bits 8 steps; STEPS per level for a quicker study)"""
import pickle, sys
import numpy as np
from PIL import Image
import snf.encode.encoder as enc
from snf.format import coded

img_path, out = sys.argv[1], sys.argv[2]
seen = {}
real = coded.encode_level
def capture(arch, k, tensors, codes, *a, **kw):
    payload, deq, stats = real(arch, k, tensors, codes, *a, **kw)
    seen[k] = ([np.array(t) for t in tensors], deq, len(payload))
    return payload, deq, stats
coded.encode_level = capture
img = np.asarray(Image.open(img_path).convert("RGB"))
steps = int(sys.argv[3]) if len(sys.argv) > 3 else None
r = enc.compress(img, quiet=True, bits=8, **({"steps": steps} if steps else {}))
pickle.dump({"levels": seen, "arch": r["arch"].to_dict(), "header": r["header"], "bytes": len(r["bytes"])},
            open(out, "wb"))
print(r["levels"])
