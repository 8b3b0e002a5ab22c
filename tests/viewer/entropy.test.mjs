// The viewer's entropy decoder against the shared vectors (tests/vectors/entropy/):
// the same integers, tables and refusals as the Python and C decoders.
// Run: node --test tests/viewer/   (tests/test_entropy.py runs it too)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const vec = (name) => JSON.parse(readFileSync(join(root, "tests", "vectors", "entropy", name), "utf8"));
const hex = (h) => Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
const { laplaceTable, decodeSegments } = await import(join(root, "src/snf/viewer/snf-rans.js"));
const { decodeCodedInts } = await import(join(root, "src/snf/viewer/snf-coded.js"));
const { Parser } = await import(join(root, "src/snf/viewer/snf-parse.js"));

test("model tables equal the Python tables", () => {
  for (const t of vec("tables.json")) {
    assert.deepEqual(Array.from(laplaceTable(t.amax, t.ratio).freq), t.freq, `amax ${t.amax} ratio ${t.ratio}`);
  }
});

test("streams decode to the vectors' integers", () => {
  for (const c of vec("streams.json")) {
    const got = decodeSegments(hex(c.data), c.segments).map((a) => Array.from(a));
    assert.deepEqual(got, c.ints, c.name);
  }
});

test("bad streams are refused with the vectors' reasons", () => {
  for (const b of vec("bad.json")) {
    assert.throws(() => decodeSegments(hex(b.data), b.segments), (e) => e.message.includes(b.error), b.why);
  }
});

test("every level of the golden 2.0 file gives the Python codes, integers and float32 values", () => {
  const lv = vec("levels.json");
  const data = new Uint8Array(readFileSync(join(root, lv.file)));
  const p = new Parser();
  p.feed(data);
  assert.equal(p.error, null);
  assert.equal(p.levels.length, lv.levels.length);
  for (const want of lv.levels) {
    const k = want.level;
    const body = sliceLevelBody(data, k === 1 ? headerEnd(data) : p.ends[k - 2], p.ends[k - 1]);
    const { codes, ints } = decodeCodedInts(p.arch, k, body);
    assert.deepEqual(codes.map((c) => Array.from(c)), want.codes, `level ${k} codes`);
    assert.deepEqual(ints.map((a) => Array.from(a)), want.ints, `level ${k} ints`);
    const vals = p.levels[k - 1].map(({ values }) => Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("hex"));
    assert.deepEqual(vals, want.values_f32_hex, `level ${k} values`);
  }
});

test("the viewer's parser reads 1.0 and 2.0 files, and every prefix of a 2.0 file to its complete levels", () => {
  const v1 = new Parser();
  v1.feed(new Uint8Array(readFileSync(join(root, "tests/golden-v1/tiny.snf"))));
  assert.equal(v1.error, null);
  assert.equal(v1.levels.length, 3);
  assert.ok(v1.complete);
  const data = new Uint8Array(readFileSync(join(root, "tests/golden/tiny.snf")));
  const whole = new Parser();
  whole.feed(data);
  assert.ok(whole.complete);
  for (let cut = 0; cut <= data.length; cut += 7) {
    const p = new Parser();
    p.feed(data.subarray(0, cut));
    assert.equal(p.levels.length, whole.ends.filter((e) => e <= cut).length, `cut ${cut}`);
  }
});

test("fuzz: prefixes, bit flips and random bytes never throw anything but EntropyError", async () => {
  const { EntropyError } = await import(join(root, "src/snf/viewer/snf-rans.js"));
  const c = vec("streams.json").find((s) => s.name === "peaked");
  const data = hex(c.data);
  for (let cut = 0; cut < data.length; cut++) assert.throws(() => decodeSegments(data.subarray(0, cut), c.segments), EntropyError);
  for (let i = 0; i < data.length * 8; i++) {
    const bad = data.slice();
    bad[i >> 3] ^= 1 << (i & 7);
    try { decodeSegments(bad, c.segments); } catch (e) { assert.ok(e instanceof EntropyError); }
  }
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let t = 0; t < 300; t++) {
    const blob = Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
    const segs = [{ n: Math.floor(rnd() * 200), amax: Math.floor(rnd() * 50), ratio: Math.floor(rnd() * 65536) }];
    try { decodeSegments(blob, segs); } catch (e) { assert.ok(e instanceof EntropyError); }
  }
});

/** The data of the chunk that ends at `end` (a level chunk starting at `start`). */
function sliceLevelBody(data, start, end) {
  return data.subarray(start + 10, end - 4);
}

/** Offset just past the HEAD chunk (signature, version, then the chunk). */
function headerEnd(data) {
  const len = new DataView(data.buffer, data.byteOffset).getUint32(10);
  return 10 + 10 + len + 4;
}

test("fuzz: context-coded latent grids (grid-ctx): cuts, bit flips and random bytes throw only EntropyError", async () => {
  const { EntropyError } = await import(join(root, "src/snf/viewer/snf-rans.js"));
  const { decodeGridCodedLevel, gridHeadSize } = await import(join(root, "src/snf/viewer/snf-grid.js"));
  const data = new Uint8Array(readFileSync(join(root, "tests", "vectors", "good", "grid-ctx-c3.snf")));
  const p = new Parser();
  p.feed(data);
  p.finish();
  assert.equal(p.error, null);
  const size = p.header.size, start = p.ends[0];
  const body = sliceLevelBody(data, start, p.ends[1]);
  const good = decodeGridCodedLevel(p.arch, 2, size, body, true).map(({ values }) => Array.from(values));
  const hs = gridHeadSize(p.arch, 2, size, true);
  const outcome = (b) => {
    try { return decodeGridCodedLevel(p.arch, 2, size, b, true).map(({ values }) => Array.from(values)); } catch (e) {
      assert.ok(e instanceof EntropyError || /payload|shorter/.test(e.message), e.message);
      return null;
    }
  };
  for (let cut = 0; cut < body.length; cut++) assert.equal(outcome(body.subarray(0, cut)), null, `cut ${cut}`);
  for (let i = hs * 8; i < body.length * 8; i++) {
    const bad = body.slice();
    bad[i >> 3] ^= 1 << (i & 7);
    const got = outcome(bad);
    if (got) assert.notDeepEqual(got, good, `flip ${i} went unnoticed and changed nothing`);
  }
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let t = 0; t < 300; t++) {
    const blob = Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
    const models = Array.from({ length: 4 }, () => ({ amax: Math.floor(rnd() * 50), ratio: Math.floor(rnd() * 65536) }));
    const segs = [{ rows: Math.floor(rnd() * 12), cols: Math.floor(rnd() * 12), models }];
    try { decodeSegments(blob, segs); } catch (e) { assert.ok(e instanceof EntropyError); }
  }
});
