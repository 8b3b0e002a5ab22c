// Conformance vectors (tests/vectors/) through the browser viewer's own modules, in Node:
// the JavaScript reader must agree with manifest.json exactly as the Python reader does
// (tests/test_vectors.py). Run: node --test tests/viewer/   (tests/test_viewer_node.py runs it under pytest)

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

import { Parser } from "../../src/snf/viewer/snf-parse.js";
import { buildNetwork } from "../../src/snf/viewer/snf-model.js";
import { toSamples } from "../../src/snf/viewer/snf-image.js";
import { JsRenderer } from "../../src/snf/viewer/render-js.js";
import { renderGrid } from "../../src/snf/viewer/render-grid-js.js";
import { ERROR_KINDS, MODE_RULES } from "../../src/snf/viewer/snf-constants.js";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors");
const MANIFEST = JSON.parse(readFileSync(join(HERE, "manifest.json"), "utf8"));
const file = (sub, name) => new Uint8Array(readFileSync(join(HERE, sub, `${name}.snf`)));
const hex = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

function parse(data, step = data.length || 1) {
  const p = new Parser();
  for (let i = 0; i < data.length; i += step) p.feed(data.subarray(i, i + step));
  p.finish();
  return p;
}

test("the vectors cover every mode, bit depth, channel count and error kind", () => {
  for (const mode of Object.keys(MODE_RULES)) {
    for (const bits of [4, 8, 12, 16]) {
      for (const c of [1, 2, 3, 4]) assert.ok(`${mode}-b${bits}-c${c}` in MANIFEST.good, `${mode}-b${bits}-c${c}`);
    }
  }
  assert.deepEqual(new Set(Object.values(MANIFEST.bad).map((v) => v.kind)), new Set(ERROR_KINDS));
});

for (const [name, want] of Object.entries(MANIFEST.good)) {
  test(`good vector ${name}`, async () => {
    const data = file("good", name);
    const p = parse(data);
    assert.equal(p.error, null, p.error && p.error.message);
    assert.equal(p.complete, want.complete);
    assert.equal(p.levels.length, want.levels);
    // fed in 7-byte pieces the reader reports the same levels
    assert.equal(parse(data, 7).levels.length, want.levels);
    const [w, h] = want.size;
    for (let k = 1; k <= want.levels; k++) {
      const parts = p.levels[k - 1].map(({ values }) => hex(values));
      assert.equal(parts.join(""), want.values[k - 1], `level ${k}: dequantised values differ`);
      const values = p.arch.family === "grid" ? renderGrid(p.arch, p.levels, k, w, h)
        : await new JsRenderer().render(buildNetwork(p.arch, p.levels, k), w, h);
      const got = toSamples(values, p.header.values.range, want.bit_depth);
      const expect = Buffer.from(want.samples[k - 1], "hex");
      const exp = want.bit_depth > 8 ? new Uint16Array(expect.buffer, expect.byteOffset, expect.length / 2) : expect;
      assert.equal(got.length, w * h * want.channels);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - exp[i]));
      assert.ok(worst <= 1, `level ${k}: a sample is ${worst} steps off (the spec allows 1)`);
    }
  });
}

for (const [name, want] of Object.entries(MANIFEST.bad)) {
  test(`bad vector ${name}`, () => {
    const data = file("bad", name);
    for (const step of [data.length || 1, 5]) {
      const p = parse(data, step);
      assert.ok(p.error, "no error reported");
      assert.deepEqual(
        { kind: p.error.kind, level: p.error.level, levels_complete: p.levels.length, complete: p.complete },
        want, p.error.message);
    }
  });
}
