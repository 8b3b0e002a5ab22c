// The status line: bytes, rate, level, PSNR at encode, bpp, time to first picture.

const kB = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`);

/** One line of text from the viewer's state (plain data, so it is easy to test). */
export function formatStatus(s) {
  const parts = [s.total ? `${kB(s.bytes)} / ${kB(s.total)}` : kB(s.bytes)];
  if (s.elapsedMs > 0) parts.push(`${((s.bytes * 8) / s.elapsedMs).toFixed(1)} kbit/s`);
  const h = s.header;
  if (h) {
    const total = h.arch.widths.length;
    if (s.shown) {
      const meta = (h.levels || [])[s.shown - 1] || {};
      const [w, ht] = h.size;
      parts.push(`level ${s.shown} of ${total}`);
      if (typeof meta.psnr === "number") parts.push(`${meta.psnr.toFixed(2)} dB at encode`);
      parts.push(`${((s.ends[s.shown - 1] * 8) / (w * ht)).toFixed(3)} bpp`);
    } else {
      parts.push(`${s.received} of ${total} levels received`);
    }
  }
  if (s.firstMs !== null) parts.push(`first picture ${(s.firstMs / 1000).toFixed(2)} s`);
  parts.push(s.ended ? "stream ended" : "streaming…");
  return parts.join(" · ");
}
