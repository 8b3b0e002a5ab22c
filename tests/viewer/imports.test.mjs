// The viewer's ES modules import one another without a circle (a circle makes the
// evaluation order matter and breaks as soon as a module uses an import at load time).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const VIEWER = resolve(dirname(fileURLToPath(import.meta.url)), "../../src/snf/viewer");

/** Relative imports (static `import ... from`, `export ... from`) of one module, as absolute paths. */
function importsOf(file) {
  const text = readFileSync(file, "utf8");
  const out = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']/gms)) out.push(join(dirname(file), m[1]));
  return out;
}

/** The first import circle found from any module, as a list of file names, or null. */
export function findCycle(files) {
  const state = new Map(), stack = [];
  const visit = (f) => {
    if (state.get(f) === "done") return null;
    if (state.get(f) === "open") return stack.slice(stack.indexOf(f)).concat(f);
    state.set(f, "open");
    stack.push(f);
    for (const g of importsOf(f)) {
      const c = visit(g);
      if (c) return c;
    }
    stack.pop();
    state.set(f, "done");
    return null;
  };
  for (const f of files) {
    const c = visit(f);
    if (c) return c.map((p) => p.slice(VIEWER.length + 1));
  }
  return null;
}

test("the viewer's modules have no import circle", () => {
  const files = readdirSync(VIEWER).filter((n) => n.endsWith(".js")).map((n) => join(VIEWER, n));
  assert.ok(files.length > 10);
  assert.equal(findCycle(files), null);
});
