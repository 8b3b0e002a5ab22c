// The status lines, from plain data (so they are easy to test): what is on
// screen (level, size, dB, bpp), what is arriving (bytes, rate, levels, stream
// state; a file that ended early is marked incomplete) and what is being done
// ("rendering level N… x %").

/** Levels a header declares: the SIREN's widths, or the grid family's grid groups. */
export const levelCount = (h) => (h.arch.widths || h.arch.grids || []).length;

export const kB = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`);

/** What the canvas shows. `s.shown`: {level, preview, w, h, source} or null. */
export function formatShown(s) {
  const h = s.header;
  if (!h || !s.shown) return "nothing on screen yet";
  const total = levelCount(h);
  const meta = (h.levels || (s.meta && s.meta.levels) || [])[s.shown.level - 1] || {};
  const parts = [`level ${s.shown.level} of ${total}${s.shown.preview ? " (preview)" : ""}`,
                 `${s.shown.w}×${s.shown.h}${s.shown.w !== h.size[0] ? ` of ${h.size[0]}×${h.size[1]}` : ""}`];
  if (typeof meta.psnr === "number") parts.push(`${meta.psnr.toFixed(2)} dB at encode`);
  if (s.ends[s.shown.level - 1]) parts.push(`${((s.ends[s.shown.level - 1] * 8) / (h.size[0] * h.size[1])).toFixed(3)} bpp`);
  return parts.join(" · ");
}

/** What is arriving. `s.state`: "connecting" | "streaming" | "ended" | "incomplete" | "lost" | "failed". */
export function formatArriving(s) {
  let bytes = s.total ? `${kB(s.bytes)} / ${kB(s.total)}` : kB(s.bytes);
  if (s.state === "incomplete") bytes += " (file incomplete)";
  const parts = [bytes];
  if (s.elapsedMs > 0 && s.bytes) parts.push(`${((s.bytes * 8) / s.elapsedMs).toFixed(1)} kbit/s`);
  if (s.header) parts.push(`${s.received} of ${levelCount(s.header)} levels received`);
  if (s.firstMs !== null && s.firstMs !== undefined) parts.push(`first picture ${(s.firstMs / 1000).toFixed(2)} s`);
  parts.push({ connecting: "connecting…", streaming: "streaming…", ended: "stream ended", incomplete: "stream ended early",
               lost: "connection lost", failed: "stopped" }[s.state] || s.state);
  return parts.join(" · ");
}

/** The current job, or "" (the line keeps its space). */
export function formatActivity(job) {
  if (!job) return "";
  const what = job.phase === "preview" ? "preview of level" : "rendering level";
  return `${what} ${job.level}… ${Math.floor(100 * (job.progress || 0))} %${job.via ? ` (${job.via})` : ""}`;
}

/** Backwards-compatible one-line status (all three). */
export function formatStatus(s) {
  return [formatShown(s), formatArriving(s), formatActivity(s.job)].filter(Boolean).join(" · ");
}
