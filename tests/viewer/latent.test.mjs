// The latent family's conformance vectors (tests/vectors/latent/) through the viewer's own modules,
// in Node: the same integers as the Python and C decoders (manifest.json holds them, written by the
// Python reference), pictures within one 8-bit step of numpy's, every bad file refused with the
// manifest's kind at the manifest's level. The integer ARM is also checked against an independent
// BigInt implementation of format_spec.md 11.4, weights and latents at their limits included.
// Run: node --test tests/viewer/   (tests/test_viewer_node.py runs it under pytest)

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

import { Parser } from "../../src/snf/viewer/snf-parse.js";
import { armPredict, decodeLatentLevel } from "../../src/snf/viewer/snf-latent.js";
import { latentNet, latentRows, renderLatent } from "../../src/snf/viewer/render-latent-js.js";
import { toSamples } from "../../src/snf/viewer/snf-image.js";
import { FAMILIES, LATENT } from "../../src/snf/viewer/snf-constants.js";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors", "latent");
const MANIFEST = JSON.parse(readFileSync(join(HERE, "manifest.json"), "utf8"));
const file = (sub, name) => new Uint8Array(readFileSync(join(HERE, sub, `${name}.snf`)));
const hex = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");

function parse(data, step = data.length || 1, decodeAsync = null) {
  const p = new Parser();
  p.decodeAsync = decodeAsync;
  for (let i = 0; i < data.length; i += step) p.feed(data.subarray(i, i + step));
  p.finish();
  return p;
}

/** The parser with its levels decoded "elsewhere" (a promise a tick later), as the viewer's worker does. */
async function parseAsync(data, step) {
  const p = new Parser();
  const decoded = [];
  p.decodeAsync = (level, body, parser) => new Promise((resolve) => setTimeout(resolve, 1))
    .then(() => {
      const arrays = decodeLatentLevel(parser.arch, level, parser.header.size, body, decoded);
      decoded.push(arrays);
      return arrays;
    });
  let settled = null;
  const idle = () => new Promise((resolve) => { settled = resolve; });
  p.onLevels = () => settled && settled();
  for (let i = 0; i < data.length; i += step) {
    p.feed(data.subarray(i, i + step));
    while (p.pending) await idle();
  }
  p.finish();
  while (p.pending) await idle();
  return p;
}

const result = (p) => ({ kind: p.error && p.error.kind, level: p.error && p.error.level,
                         levels_complete: p.levels.length, complete: p.complete });

test("the viewer reads the latent family", () => {
  assert.ok(FAMILIES.includes("latent"));
  assert.ok(Object.keys(MANIFEST.good).length >= 5 && Object.keys(MANIFEST.bad).length >= 18);
});

for (const [name, want] of Object.entries(MANIFEST.good)) {
  test(`good latent vector ${name}: same integers as Python, pictures within one step`, async () => {
    const data = file("good", name);
    const runs = [parse(data), parse(data, 7), await parseAsync(data, 11)];
    for (const p of runs) {
      assert.equal(p.error, null, p.error && p.error.message);
      assert.equal(p.complete, want.complete);
      assert.equal(p.levels.length, want.levels);
      for (let k = 1; k <= want.levels; k++) {
        assert.equal(p.levels[k - 1].map(({ values }) => hex(values)).join(""), want.values[k - 1], `level ${k}: decoded values differ`);
      }
    }
    const p = runs[0], [w, h] = want.size;
    for (let k = 1; k <= want.levels; k++) {
      const got = toSamples(renderLatent(p.arch, p.levels, k, w, h), p.header.values.range, want.bit_depth);
      const expect = Buffer.from(want.samples[k - 1], "hex");
      assert.equal(got.length, w * h * want.channels);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expect[i]));
      assert.ok(worst <= 1, `level ${k}: a sample is ${worst} steps off (the spec allows 1)`);
    }
  });
}

for (const [name, want] of Object.entries(MANIFEST.bad)) {
  test(`bad latent vector ${name} is refused as ${want.kind}`, async () => {
    const data = file("bad", name);
    for (const p of [parse(data), parse(data, 5), await parseAsync(data, 9)]) {
      assert.ok(p.error, "no error reported");
      assert.deepEqual(result(p), want, p.error.message);
    }
  });
}

test("a render split in bands equals the whole (the conv layers' halos)", () => {
  const p = parse(file("good", "latent-c3"));
  for (const [w, h] of [[9, 7], [23, 17]]) {
    const net = latentNet(p.arch, p.levels, 2), d = net.dOut;
    const whole = renderLatent(p.arch, p.levels, 2, w, h);
    for (const band of [1, 2, 5]) {
      const parts = new Float32Array(w * h * d);
      for (let y0 = 0; y0 < h; y0 += band) {
        const y1 = Math.min(h, y0 + band);
        latentRows(net, w, h, y0, y1, parts.subarray(y0 * w * d, y1 * w * d));
      }
      assert.deepEqual(parts, whole, `${w}x${h} in bands of ${band}`);
    }
  }
});

// ------------------------------------------------------------------ the integer ARM against BigInt

const big = (v) => BigInt(v);
const floorDiv256 = (t) => (t >= 0n ? t / 256n : -((-t + 255n) / 256n));
const clampBig = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);

/** format_spec.md 11.4 in BigInt, operation by operation. */
function armBigInt(w, width, layers, ctx) {
  let a = ctx.map(big), fan = ctx.length;
  for (let l = 0; l < layers; l++) {
    const W = w[2 * l], B = w[2 * l + 1], next = [];
    for (let u = 0; u < width; u++) {
      let t = 0n;
      for (let v = 0; v < fan; v++) t += big(W[u * fan + v]) * a[v];
      if (l) t = floorDiv256(t);
      next.push(clampBig(t + big(B[u]), 0n, big(LATENT.hiddenMax)));
    }
    a = next;
    fan = width;
  }
  const W = w[2 * layers], B = w[2 * layers + 1];
  const o = [0, 1].map((m) => {
    let t = 0n;
    for (let v = 0; v < fan; v++) t += big(W[m * fan + v]) * a[v];
    return floorDiv256(t) + big(B[m]);
  });
  const M = big(LATENT.latentMax);
  return [Number(clampBig(floorDiv256(o[0] + 128n), -M, M)), Number(clampBig(floorDiv256(o[1] + 128n), 0n, big(LATENT.scales - 1)))];
}

test("the integer ARM equals a BigInt reference, at the limits too", () => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
  for (const [width, layers] of [[12, 2], [32, 4], [5, 1], [7, 3]]) {
    for (const hi of [400, LATENT.weightMax]) {
      const w = [];
      let fan = LATENT.neighbours.length + 1;
      for (let l = 0; l <= layers; l++) {
        const rows = l === layers ? 2 : width;
        w.push(Float64Array.from({ length: rows * fan }, () => int(-hi, hi)));
        w.push(Float64Array.from({ length: rows }, () => int(-hi, hi)));
        fan = width;
      }
      for (let n = 0; n < 300; n++) {
        const m = n % 3 === 0 ? 3 : LATENT.latentMax;
        const ctx = Float64Array.from({ length: LATENT.neighbours.length + 1 }, () => (n % 5 === 0 ? m * (rand() < 0.5 ? -1 : 1) : int(-m, m)));
        assert.deepEqual(armPredict(w, width, layers, ctx, [0, 0]), armBigInt(w, width, layers, Array.from(ctx)), `ARM ${width}x${layers}, weights to ${hi}`);
      }
    }
  }
  // floor, not truncation: a negative sum rounds down (as the Python test's case)
  const w = [new Float64Array(9), new Float64Array(1), new Float64Array(2), Float64Array.from([-129, -129])];
  assert.deepEqual(armPredict(w, 1, 1, new Float64Array(9), [0, 0]), [-1, 0]);
});

test("the meta chunk is read (informative), and a file without it is complete", () => {
  assert.equal(JSON.stringify(parse(file("good", "latent-c2")).meta), JSON.stringify({ levels: [{}, {}] }));
  const p = parse(file("good", "latent-no-meta-no-end"));
  assert.equal(p.meta, null);
  assert.equal(p.error, null);
});
