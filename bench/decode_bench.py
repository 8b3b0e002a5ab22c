"""Decode benchmark: render time per level, C kernel vs numpy alone vs a naive torch forward.

In-process render times (median of --reps), plus the whole `snf-decode` process
for the last level, as a user runs it:

    python bench/decode_bench.py FILE.snf [--reps 5]

Make FILE.snf with `snf-encode` (any steps: speed does not depend on the weights).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from snf.decode import render
from snf.format.container import read_path
from snf.decode.decoder import render_image
from timing import median_time, naive_forward_seconds


def whole_process(path: str, level: int, reps: int, env: dict) -> float:
    exe = os.path.join(os.path.dirname(sys.executable), "snf-decode")
    with tempfile.TemporaryDirectory() as d:
        cmd = [exe, path, "-o", os.path.join(d, "o.png"), "--level", str(level), "--quiet"]
        return median_time(lambda: subprocess.run(cmd, check=True, env=env), reps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    parsed = read_path(args.file)
    size = tuple(parsed.header["size"][:2])
    rows = []
    for k in range(1, parsed.levels_complete + 1):
        row = {"level": k, "width": parsed.arch.widths[k - 1]}
        for kernel in (["c"] if render._fast is not None else []) + ["numpy"]:
            os.environ.pop("SNF_NO_C_KERNEL", None)
            if kernel == "numpy":
                os.environ["SNF_NO_C_KERNEL"] = "1"
            row[f"render_{kernel}_s"] = round(median_time(lambda: render_image(parsed, k), args.reps), 3)
        os.environ.pop("SNF_NO_C_KERNEL", None)
        row["naive_torch_s"] = round(naive_forward_seconds(parsed.arch, parsed.arch.widths[k - 1], size), 3)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    last = parsed.levels_complete
    env = dict(os.environ)
    proc = {"whole_process_s": round(whole_process(args.file, last, args.reps, env), 3)}
    env["SNF_NO_C_KERNEL"] = "1"
    proc["whole_process_numpy_s"] = round(whole_process(args.file, last, args.reps, env), 3)
    print(json.dumps({"file": args.file, "size": size, "levels": rows, "level": last, **proc}, indent=1))


if __name__ == "__main__":
    main()
