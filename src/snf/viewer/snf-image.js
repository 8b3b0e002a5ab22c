// Image coordinates and sample conversion, mirroring snf/decode/render.py (grid_axis,
// to_samples) operation by operation in float32, so both renderers land on the
// same 8-bit values as the numpy decoder.

/** n positions spanning [-1, 1] as numpy's linspace gives them (float64, then float32). */
export function gridAxis(n) {
  const out = new Float32Array(n);
  if (n === 1) return out;
  const step = 2 / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step - 1;
  out[n - 1] = 1; // linspace sets the endpoint exactly
  return out;
}

/** numpy.rint: round half to even. */
function rint(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One sample: round(clip((v - lo) * (top / (hi - lo)), 0, top)) in float32, half to even. */
function sample(v, lo32, k32, top) {
  return rint(Math.min(Math.max(Math.fround(Math.fround(v - lo32) * k32), 0), top));
}

/** Field outputs -> integer samples at `bitDepth` (format_spec.md section 4), as to_samples. */
export function toSamples(values, range, bitDepth = 8) {
  const [lo, hi] = range;
  const top = 2 ** bitDepth - 1;
  const lo32 = Math.fround(lo), k32 = Math.fround(top / (hi - lo));
  const out = bitDepth > 8 ? new Uint16Array(values.length) : new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = sample(values[i], lo32, k32, top);
  return out;
}

/**
 * Field outputs (pixel-major, dOut per pixel) -> RGBA bytes for a canvas:
 * round(clip((y - lo) * (top / (hi - lo)), 0, top)) in float32, as to_samples does.
 * One channel is grey; two are grey and alpha; three RGB; four RGBA.
 */
export function toRGBA(values, dOut, range, bitDepth = 8) {
  const [lo, hi] = range;
  const top = 2 ** bitDepth - 1;
  const lo32 = Math.fround(lo), k32 = Math.fround(top / (hi - lo));
  const shift = bitDepth - 8; // only 8-bit samples reach the screen
  const n = values.length / dOut;
  const rgba = new Uint8ClampedArray(n * 4);
  const s = new Float32Array(4);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < dOut; c++) {
      s[c] = sample(values[p * dOut + c], lo32, k32, top) >> shift;
    }
    const o = 4 * p;
    if (dOut <= 2) {
      rgba[o] = rgba[o + 1] = rgba[o + 2] = s[0];
      rgba[o + 3] = dOut === 2 ? s[1] : 255;
    } else {
      rgba[o] = s[0]; rgba[o + 1] = s[1]; rgba[o + 2] = s[2];
      rgba[o + 3] = dOut === 4 ? s[3] : 255;
    }
  }
  return rgba;
}
