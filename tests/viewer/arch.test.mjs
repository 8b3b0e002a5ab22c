// The viewer's architecture check against the shared cases (tests/viewer/arch-rules.json),
// which tests/test_modalities.py holds snf.field.arch.Arch to as well: spatially or temporally
// grown files with one network per region (mode individual) may have equal widths.
// Run: node --test tests/viewer/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { cases } = JSON.parse(readFileSync(join(root, "tests", "viewer", "arch-rules.json"), "utf8"));
const { checkArch, renderers, cut, HeaderError } = await import(join(root, "src/snf/viewer/snf-arch.js"));

test("checkArch accepts and refuses as the Python Arch does", () => {
  for (const c of cases) {
    const what = JSON.stringify(c.arch);
    if (c.ok) assert.doesNotThrow(() => checkArch(c.arch), what);
    else assert.throws(() => checkArch(c.arch), HeaderError, what);
  }
});

test("one network per stripe renders its own columns", () => {
  const arch = checkArch({ widths: [6, 6, 6], mode: "individual", grow: "spatial" });
  assert.equal(arch.composite, true);
  assert.deepEqual(renderers(arch, 2), [[1, 0, 1], [2, 1, 2]]);
  assert.deepEqual([0, 1, 2, 3].map((j) => cut(arch, j, 40)), [0, 13, 26, 40]);
  const prog = checkArch({ widths: [6, 12, 18], grow: "spatial" });
  assert.equal(prog.composite, false);
  assert.deepEqual(renderers(prog, 2), [[2, 0, 2]]);
  assert.deepEqual(renderers(checkArch({ widths: [6, 12] }), 1), [[1, 0, 2]]);
});
