"""Run a default encode and save each level's float tensors (as they leave training) and the
8-bit dequantised ones the next level trained on: the input of the post-hoc RD study."""
import pickle, sys
import numpy as np
from PIL import Image
import snf.encode.encoder as enc
from snf.format.quant import encode_level as real

img_path, out = sys.argv[1], sys.argv[2]
seen = {}
def capture(arch, k, tensors, quant):
    payload, deq = real(arch, k, tensors, quant)
    seen[k] = ([np.array(t) for t in tensors], deq, len(payload))
    return payload, deq
enc.encode_level = capture
img = np.asarray(Image.open(img_path).convert("RGB"))
r = enc.compress(img, quiet=True)
pickle.dump({"levels": seen, "arch": r["arch"].to_dict(), "header": r["header"], "bytes": len(r["bytes"])},
            open(out, "wb"))
print(r["levels"])
