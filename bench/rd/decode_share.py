"""What share of decoding a level is entropy decoding: parse + rANS decode of every level
(container.read) against rendering the picture (Network.grid), in one process, median of N.

python bench/rd/decode_share.py FILE.snf [LEVEL] [N]"""
import statistics
import sys
import time

from snf.format import container, entropy
from snf.decode.render import Network

path = sys.argv[1]
data = open(path, "rb").read()
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
p = container.read(data)
k = int(sys.argv[2]) if len(sys.argv) > 2 else p.levels_complete
w, h = p.header["size"][:2]
t_read, t_render = [], []
for _ in range(runs):
    t0 = time.perf_counter()
    q = container.read(data)
    t1 = time.perf_counter()
    Network(q.arch, q.levels[:k], k).grid((w, h))
    t2 = time.perf_counter()
    t_read.append(t1 - t0)
    t_render.append(t2 - t1)
r, d = statistics.median(t_read), statistics.median(t_render)
print(f"{path}: level {k}, {len(data)} bytes, C rANS decoder: {entropy._fast is not None}")
print(f"parse + entropy decode of all levels: {1000 * r:.1f} ms; render {w}x{h}: {1000 * d:.1f} ms; "
      f"entropy share {100 * r / (r + d):.1f} % (medians of {runs}, loaded machine)")
