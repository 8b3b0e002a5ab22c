// Choosing how to render: WebGL2 where a real GPU computes correctly and fast;
// otherwise ("fallback") the server's PNG of each level raced against the
// render workers, whichever shows the picture sooner. Software WebGL
// (SwiftShader, llvmpipe) is detected by name, a slow GPU by timing a tiny
// self-check, and a GPU whose "highp" float is not IEEE single precision by the
// same self-check's answer: such a GPU would draw a plausible but wrong picture.

import { JsRenderer } from "./render-js.js";
import { WebGLRenderer } from "./render-webgl.js";

const CHECK_TOLERANCE = 2e-3;
const SLOW_CHECK_MS = 250;     // a real GPU answers the 9x7 self-check in a few ms
const SOFTWARE = /swiftshader|llvmpipe|softpipe|software|basic render|mesa offscreen/i;

/**
 * `want`: "webgl2", "js" (workers only), "fallback" (as without a GPU), or null (best available).
 * Returns {path, gl, note, webgl, gpu}: path "webgl2" | "js" | "fallback"; gl the WebGLRenderer
 * for path webgl2; webgl says how WebGL2 fared: "ok", "unavailable", "inaccurate", "software",
 * "slow" or "not tried"; gpu the renderer string the browser reports (or "").
 */
export async function pickRenderer(want) {
  if (want === "js") return { path: "js", gl: null, note: "asked for the JS renderer", webgl: "not tried", gpu: "" };
  if (want === "fallback") return { path: "fallback", gl: null, note: "asked for the no-GPU fallback", webgl: "not tried", gpu: "" };
  let gl;
  try {
    gl = new WebGLRenderer();
  } catch (e) {
    return { path: "fallback", gl: null, note: `no usable WebGL2: ${e.message}`, webgl: "unavailable", gpu: "" };
  }
  const gpu = gpuName(gl.gl);
  if (want !== "webgl2" && SOFTWARE.test(gpu)) {
    return { path: "fallback", gl: null, note: `software WebGL (${shortName(gpu)})`, webgl: "software", gpu };
  }
  let diff, ms;
  try {
    const t = performance.now();
    diff = await selfCheck(gl);
    ms = performance.now() - t;
  } catch (e) {
    diff = Infinity;
  }
  if (diff > CHECK_TOLERANCE) {
    return { path: "fallback", gl: null, note: `WebGL2 failed its self-check (off by ${diff.toExponential(1)})`, webgl: "inaccurate", gpu };
  }
  if (want !== "webgl2" && ms > SLOW_CHECK_MS) {
    return { path: "fallback", gl: null, note: `slow WebGL2 (self-check ${ms.toFixed(0)} ms)`, webgl: "slow", gpu };
  }
  return { path: "webgl2", gl, note: want === "webgl2" ? "asked for WebGL2" : `GPU: ${shortName(gpu) || "WebGL2"}`, webgl: "ok", gpu };
}

/** The unmasked renderer string where the browser gives it, else the masked one. */
function gpuName(gl) {
  try {
    const ext = gl.getExtension("WEBGL_debug_renderer_info");
    return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) || "");
  } catch {
    return "";
  }
}

function shortName(gpu) {
  const m = SOFTWARE.exec(gpu);
  return m ? m[0].replace(/^swiftshader$/i, "SwiftShader") : gpu.slice(0, 60);
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
