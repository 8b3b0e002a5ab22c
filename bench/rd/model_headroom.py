"""How much a richer model could save on a file's hidden-layer integers (offline, ideal code lengths).

Per level, against the file's own per-block Laplace bits: a Laplace per row (plus 4 bytes
of state flush per row, no side cost counted), four buckets by the magnitude of the two
previous integers of the row, separate models for columns reading frozen vs new units,
and the block's empirical order-0 entropy (the bound of any static model of one symbol).

python bench/rd/model_headroom.py FILE.snf
"""
import sys

import numpy as np
sys.path.insert(0, __import__("os").path.dirname(__file__))
from info_rows import chunks
from snf.format.container import read_path
from snf.format import entropy
from snf.format.coded import n_codes
path = sys.argv[1]
parsed = read_path(path, decode=False); data = open(path, "rb").read()
payloads = {lv: d for t, lv, d in chunks(data) if t == b"LEVL"}
def lap_bits(q):
    if q.size == 0: return 0.0
    return entropy.fit(q).bits(q) + 32
for k in range(1, 5):
    arch = parsed.arch; pl = payloads[k]; pos = 0; heads = []
    for blk in arch.blocks(k):
        codes = np.frombuffer(pl, np.uint8, n_codes(blk), pos); pos += codes.size
        m, pos = entropy.read_model(pl, pos); heads.append((blk, codes, m))
    ints = entropy.decode_segments(pl[pos:], [(b.size, m) for b, _, m in heads])
    cur = rowb = ctxb = colb = 0.0
    for (blk, c, m), q in zip(heads, ints):
        if not blk.tensor.startswith("l") or blk.tensor == "l0.w" or blk.tensor.endswith(".b"):
            continue
        q = q.reshape(blk.shape)
        cur += m.bits(q)
        rowb += sum(lap_bits(r) for r in q)
        # context: magnitude of the 2 previous symbols in the row
        prev = np.zeros_like(q); prev[:, 1:] = np.abs(q[:, :-1]); prev2 = np.zeros_like(q); prev2[:, 2:] = np.abs(q[:, :-2])
        s = prev + prev2
        edges = np.quantile(s, [0.25, 0.5, 0.75])
        b = np.digitize(s, edges)
        ctxb += sum(lap_bits(q[b == i]) for i in range(4))
        # column groups: old inputs vs new inputs (a..)
        a = arch.span(k)[0]
        colb += lap_bits(q[:, :a]) + lap_bits(q[:, a:])
    print(f"level {k}: hidden bytes now {cur/8:,.0f}; per-row Laplace {rowb/8:,.0f} ({rowb/cur-1:+.1%}); "
          f"row-context 4 buckets {ctxb/8:,.0f} ({ctxb/cur-1:+.1%}); old/new columns {colb/8:,.0f} ({colb/cur-1:+.1%})")
print("empirical order-0 vs Laplace, all hidden, per level:")
for k in range(1, 5):
    arch = parsed.arch; pl = payloads[k]; pos = 0; heads = []
    for blk in arch.blocks(k):
        codes = np.frombuffer(pl, np.uint8, n_codes(blk), pos); pos += codes.size
        m, pos = entropy.read_model(pl, pos); heads.append((blk, codes, m))
    ints = entropy.decode_segments(pl[pos:], [(b.size, m) for b, _, m in heads])
    cur = emp = 0.0
    for (blk, c, m), q in zip(heads, ints):
        if blk.tensor in ("l0.w",) or blk.tensor.endswith(".b") or blk.tensor.startswith("out"): continue
        cur += m.bits(q); v, n = np.unique(q, return_counts=True); p = n / n.sum(); emp += -(n * np.log2(p)).sum()
    print(k, f"{cur/8:,.0f} {emp/8:,.0f} ({emp/cur-1:+.1%})")
