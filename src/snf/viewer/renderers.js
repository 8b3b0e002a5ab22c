// Choosing a renderer: WebGL2 where it exists and computes correctly, else the
// JS fallback. A tiny self-check catches GPUs whose "highp" float is not IEEE
// single precision (or drivers that get float targets wrong): such a GPU would
// draw a plausible but wrong picture, which is worse than a slower right one.

import { JsRenderer } from "./render-js.js";
import { WebGLRenderer } from "./render-webgl.js";

const CHECK_TOLERANCE = 2e-3;

/**
 * `want`: "js" or null (best available). Returns {renderer, note, webgl}, where
 * webgl says how WebGL2 fared: "ok", "unavailable", "inaccurate" or "not tried".
 */
export async function pickRenderer(want) {
  if (want === "js") return { renderer: new JsRenderer(), note: "JS renderer (asked for)", webgl: "not tried" };
  let gl;
  try {
    gl = new WebGLRenderer();
  } catch (e) {
    return { renderer: new JsRenderer(), note: `JS renderer (${e.message})`, webgl: "unavailable" };
  }
  let diff;
  try {
    diff = await selfCheck(gl);
  } catch (e) {
    diff = Infinity;
  }
  if (diff > CHECK_TOLERANCE) {
    return { renderer: new JsRenderer(), note: `JS renderer (WebGL2 failed its self-check, off by ${diff.toExponential(1)})`, webgl: "inaccurate" };
  }
  return { renderer: gl, note: "WebGL2", webgl: "ok" };
}

/** Largest difference between WebGL2 and JS on a small random SIREN. */
async function selfCheck(gl) {
  const net = randomNet(20, 3, 3, 30, 12345);
  const [a, b] = [await gl.render(net, 9, 7), await new JsRenderer().render(net, 9, 7)];
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return Number.isFinite(worst) ? worst : Infinity;
}

/** A SIREN-initialised network in snf-model.js's layout (w0 folded into the sine layers). */
export function randomNet(width, layers, dOut, w0, seed) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const fill = (n, scale) => Float32Array.from({ length: n }, () => rand() * scale);
  const sine = [];
  for (let i = 0; i < layers; i++) {
    const cols = i === 0 ? 2 : width;
    const bound = i === 0 ? 1 / cols : Math.sqrt(6 / cols) / w0;
    sine.push({ rows: width, cols, W: fill(width * cols, bound * w0), b: fill(width, w0 / Math.sqrt(cols)),
                rowLen: new Int32Array(width).fill(cols) });
  }
  const out = { rows: dOut, cols: width, W: fill(dOut * width, Math.sqrt(6 / width)), b: fill(dOut, 0.1) };
  return { width, dIn: 2, dOut, sine, out };
}
