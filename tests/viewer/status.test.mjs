// The viewer's status lines for both field families: a grid header has no `widths` (its levels
// are its grid groups); the page once threw on every grid file when it drew its first status.
// Run: node --test tests/viewer/
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { formatShown, formatArriving, levelCount } = await import(join(root, "src/snf/viewer/viewer-status.js"));

const siren = { arch: { widths: [30, 69, 110, 151] }, size: [768, 512], levels: [{ psnr: 28.7 }] };
const grid = { arch: { family: "grid", grids: [[6, 5, 4], [3], [2]], hidden: [12, 8, 8] }, size: [768, 512], levels: [] };

test("level count from either family's header", () => {
  assert.equal(levelCount(siren), 4);
  assert.equal(levelCount(grid), 3);
});

test("status lines name the level out of the file's levels", () => {
  const shown = { level: 2, preview: false, w: 768, h: 512, source: "js" };
  assert.match(formatShown({ header: grid, shown, ends: [1265, 2866] }), /^level 2 of 3 · 768×512 · 0\.058 bpp$/);
  assert.match(formatShown({ header: siren, shown: { ...shown, level: 1 }, ends: [4302] }), /^level 1 of 4 · 768×512 · 28\.70 dB at encode/);
  const arriving = formatArriving({ header: grid, received: 2, bytes: 2866, total: 3106, state: "streaming", elapsedMs: 0, firstMs: null });
  assert.match(arriving, /2 of 3 levels received/);
});
