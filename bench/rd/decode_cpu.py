"""Whole-process `snf-decode --level 4`, before (main's code on a 1.0 file) and after (this branch on
a 2.0 file), interleaved: wall seconds and CPU seconds (user + sys of the child, less sensitive to
a loaded machine). python bench/rd/decode_cpu.py MAIN_SRC OLD.snf NEW.snf [RUNS]"""
import os, resource, statistics, subprocess, sys, time

main_src, old, new = sys.argv[1:4]
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 7
dec = "import sys; from snf.cli.decode import main; main(sys.argv[1:])"


def once(path, env):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", dec, path, "-o", path + ".png", "--level", "4"], env=env, check=True,
                   capture_output=True)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


env_old = dict(os.environ, PYTHONPATH=main_src)
env_new = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
res = {"before": [], "after": []}
for _ in range(runs):
    res["before"].append(once(old, env_old))
    res["after"].append(once(new, env_new))
for name, rows in res.items():
    print(f"{name:6}: wall median {statistics.median(w for w, _ in rows):.3f} s (min {min(w for w, _ in rows):.3f}), "
          f"cpu median {statistics.median(c for _, c in rows):.3f} s (min {min(c for _, c in rows):.3f})")
