// Read every .snf file in a folder with the viewer's Parser and print, as one JSON
// object, name -> [error kind or null, error level, levels complete, complete, ms].
// tests/test_hostile.py compares this with the Python reader on the fuzz corpus.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Parser } from "../../src/snf/viewer/snf-parse.js";

const dir = process.argv[2];
const out = {};
for (const name of readdirSync(dir).filter((n) => n.endsWith(".snf")).sort()) {
  const t0 = performance.now();
  const p = new Parser();
  p.feed(new Uint8Array(readFileSync(join(dir, name))));
  p.finish();
  out[name] = [p.error ? p.error.kind : null, p.error ? p.error.level : null, p.levels.length, p.complete,
               Math.round(performance.now() - t0)];
}
out["#rss_mb"] = Math.round(process.memoryUsage().rss / 2 ** 20);
process.stdout.write(JSON.stringify(out));
