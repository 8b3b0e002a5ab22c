"""How much a richer model could save on a file's hidden-layer integers (offline, ideal code lengths).

Per level, against the file's own per-block Laplace bits: a Laplace per row (plus 4 bytes
of state flush per row, no side cost counted), four buckets by the magnitude of the two
previous integers of the row, separate models for columns reading frozen vs new units,
and the block's empirical order-0 entropy (the bound of any static model of one symbol).

python bench/rd/model_headroom.py FILE.snf
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from info_rows import level_blocks, level_payloads  # noqa: E402
from snf.format import entropy  # noqa: E402


def lap_bits(q) -> float:
    """Bits of q under its own fitted Laplace, plus the 32-bit state flush."""
    return 0.0 if q.size == 0 else entropy.fit(q).bits(q) + 32


def hidden(blk) -> bool:
    """A hidden layer's weight matrix (not the first layer, a bias or the output)."""
    return blk.tensor.startswith("l") and blk.tensor != "l0.w" and not blk.tensor.endswith(".b")


def main():
    parsed, payloads = level_payloads(sys.argv[1])
    arch, empirical = parsed.arch, []
    for k in sorted(payloads):
        cur = rowb = ctxb = colb = emp = 0.0
        for blk, _, m, q in level_blocks(arch, k, payloads[k]):
            if not hidden(blk):
                continue
            cur += m.bits(q)
            rowb += sum(lap_bits(r) for r in q)
            # context: magnitude of the 2 previous symbols in the row
            s = np.zeros_like(q)
            s[:, 1:] += np.abs(q[:, :-1])
            s[:, 2:] += np.abs(q[:, :-2])
            b = np.digitize(s, np.quantile(s, [0.25, 0.5, 0.75]))
            ctxb += sum(lap_bits(q[b == i]) for i in range(4))
            # column groups: inputs from frozen units vs new units
            a = arch.span(k)[0]
            colb += lap_bits(q[:, :a]) + lap_bits(q[:, a:])
            _, n = np.unique(q, return_counts=True)
            emp += -(n * np.log2(n / n.sum())).sum()
        print(f"level {k}: hidden bytes now {cur/8:,.0f}; per-row Laplace {rowb/8:,.0f} ({rowb/cur-1:+.1%}); "
              f"row-context 4 buckets {ctxb/8:,.0f} ({ctxb/cur-1:+.1%}); old/new columns {colb/8:,.0f} ({colb/cur-1:+.1%})")
        empirical.append(f"{k} {cur/8:,.0f} {emp/8:,.0f} ({emp/cur-1:+.1%})")
    print("empirical order-0 vs Laplace, all hidden, per level:")
    print("\n".join(empirical))


if __name__ == "__main__":
    main()
