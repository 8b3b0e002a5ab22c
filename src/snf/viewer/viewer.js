// The viewer page: stream /v1/assets/{id}/stream with fetch() and a reader,
// parse chunks as they arrive, and show each level as soon as it is whole.
// State for tests and curious users is on `window.snf`.

import { Parser } from "./snf-parse.js";
import { buildNetwork } from "./snf-model.js";
import { toRGBA } from "./snf-image.js";
import { pickRenderer } from "./renderers.js";
import { JsRenderer } from "./render-js.js";
import { formatStatus } from "./viewer-status.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const assetId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");

const snf = {
  asset: assetId,
  renderer: null,        // "webgl2" or "js", once chosen
  rendererNote: "",
  webgl: null,           // how WebGL2 fared: "ok", "unavailable", "inaccurate", "not tried"
  levelsShown: [],       // first showing of each level: {level, t_ms, bytes}
  levelsReceived: [],    // {level, t_ms, bytes}
  bytes: 0, total: null,
  streamEnded: false, streamEndMs: null,
  done: false,           // stream over and the picture settled (or an error stopped it)
  error: null,           // message of the error that stopped reading, if any
  current: null,         // level on the canvas
  header: null,
  /** RGBA bytes of the level on the canvas, as a plain array (row-major, 4 per pixel). */
  pixels: async () => (view.shown ? Array.from(view.images.get(view.shown)) : null),
  show: (k) => view.pick(k),   // pin a level (null follows the stream), as the level buttons do
};
window.snf = snf;

const t0 = performance.now();
const now = () => performance.now() - t0;

/** Rendering and display: one level at a time, the newest wanted one first. */
const view = {
  parser: new Parser(),
  renderer: null,
  images: new Map(),   // level -> RGBA bytes
  shown: null,
  pinned: null,        // level picked by the user; null follows the stream
  busy: false,

  async image(k) {
    if (!this.images.has(k)) {
      const p = this.parser, [w, h] = p.header.size;
      const net = buildNetwork(p.arch, p.levels, k);
      const toPixels = (values) => toRGBA(values, p.arch.d_out, p.header.values.range, p.header.values.bit_depth ?? 8);
      // The JS renderer reports finished bands: paint them over the previous level as they come.
      const onRows = (y0, y1, values) => drawRows(toPixels(values.subarray(y0 * w * p.arch.d_out, y1 * w * p.arch.d_out)), w, y0);
      let values;
      try {
        values = await this.renderer.render(net, w, h, onRows);
      } catch (e) {
        if (this.renderer.name === "js") throw e;
        // The GPU path failed on this level (limits, lost context): finish on the JS path.
        this.renderer = new JsRenderer();
        setRenderer("js", `JS renderer (WebGL2 failed: ${e.message})`);
        values = await this.renderer.render(net, w, h, onRows);
      }
      this.images.set(k, revealStripes(toPixels(values), p.arch, k, w, h));
    }
    return this.images.get(k);
  },

  pick(k) {
    this.pinned = k;
    this.update();
  },

  target() {
    const have = this.parser.levels.length;
    return this.pinned && this.pinned <= have ? this.pinned : have || null;
  },

  /** Render and show the wanted level; loops until the picture is what is wanted. */
  async update() {
    if (this.remote) return showRemote(this.target());
    if (this.busy || !this.renderer) return;
    this.busy = true;
    try {
      for (let k = this.target(); k && k !== this.shown; k = this.target()) {
        const rgba = await this.image(k);
        draw(rgba, this.parser.header.size);
        this.shown = snf.current = k;
        if (!snf.levelsShown.some((s) => s.level === k)) {
          snf.levelsShown.push({ level: k, t_ms: now(), bytes: this.parser.received });
        }
        refresh();
      }
    } catch (e) {
      fail(`rendering failed: ${e.message}`);
    } finally {
      this.busy = false;
      settle();
    }
  },
};

/** A spatially grown picture (format_spec 4.1): level k covers columns 0..floor(kW/K);
 * the rest stays transparent, so the stripes are seen arriving. */
function revealStripes(rgba, arch, k, w, h) {
  if (arch.grow !== "spatial") return rgba;
  const stop = Math.floor((k * w) / arch.widths.length);
  for (let y = 0; y < h; y++) rgba.fill(0, 4 * (y * w + stop), 4 * (y + 1) * w);
  return rgba;
}

/** Videos and shapes: the server's render of level k (a frame strip PNG; a PLY to download). */
function showRemote(k) {
  if (!k || view.shown === k) return;
  const base = `/v1/assets/${encodeURIComponent(assetId)}/levels/${k}`;
  let el;
  if (view.remote === "video") {
    el = document.createElement("img");
    el.src = `${base}.png`;
    el.alt = `frames of level ${k}`;
    el.style.maxWidth = "100%";
  } else {
    el = document.createElement("a");
    el.href = `${base}.ply`;
    el.download = `${assetId}-level-${k}.ply`;
    el.textContent = `download the level ${k} mesh (PLY)`;
  }
  el.id = "remote";
  $("stage").querySelector("#remote")?.remove();
  $("stage").append(el);
  view.shown = snf.current = k;
  if (!snf.levelsShown.some((s) => s.level === k)) snf.levelsShown.push({ level: k, t_ms: now(), bytes: view.parser.received });
  refresh();
  settle();
}

function draw(rgba, [w, h]) {
  const canvas = $("view");
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
    fit();
  }
  canvas.getContext("2d").putImageData(new ImageData(rgba, w, h), 0, 0);
}

function drawRows(rgba, w, y0) {
  const rows = rgba.length / (4 * w);
  if (rows > 0) $("view").getContext("2d").putImageData(new ImageData(rgba, w, rows), 0, y0);
}

/** Scale the canvas (CSS only) to fit the stage, keeping its aspect ratio. */
function fit() {
  const canvas = $("view"), stage = $("stage");
  const s = Math.min(stage.clientWidth / canvas.width, stage.clientHeight / canvas.height);
  if (s > 0 && Number.isFinite(s)) {
    canvas.style.width = `${Math.floor(canvas.width * s)}px`;
    canvas.style.height = `${Math.floor(canvas.height * s)}px`;
  }
}

function setRenderer(name, note) {
  snf.renderer = name;
  snf.rendererNote = note;
  $("renderer").textContent = note;
}

function fail(message) {
  if (!snf.error) snf.error = message;
  $("error").textContent = snf.error;
  settle();
}

/** `done` once the stream is over and the display has caught up (or reading stopped). */
function settle() {
  const caughtUp = !view.busy && (view.shown === view.target() || !view.parser.levels.length);
  if (snf.streamEnded && caughtUp) snf.done = true;
  refresh();
}

function refresh() {
  const p = view.parser;
  $("status").textContent = formatStatus({
    bytes: snf.bytes, total: snf.total, elapsedMs: snf.streamEndMs ?? now(), header: p.header,
    shown: view.shown, received: p.levels.length, ends: p.ends,
    firstMs: snf.levelsShown.length ? snf.levelsShown[0].t_ms : null, ended: snf.streamEnded,
  });
  levelButtons();
}

function levelButtons() {
  const p = view.parser, box = $("levels");
  const total = p.arch ? p.arch.levels : 0;
  if (box.children.length !== total) {
    box.replaceChildren(...Array.from({ length: total }, (_, i) => {
      const b = document.createElement("button");
      b.textContent = String(i + 1);
      b.title = `show level ${i + 1}`;
      b.onclick = () => view.pick(i + 1 === p.levels.length && !snf.streamEnded ? null : i + 1);
      return b;
    }));
  }
  [...box.children].forEach((b, i) => {
    b.disabled = i >= p.levels.length;
    b.setAttribute("aria-pressed", String(view.shown === i + 1));
  });
}

function streamUrl() {
  const q = new URLSearchParams();
  for (const key of ["kbps", "level"]) if (params.has(key)) q.set(key, params.get(key));
  const qs = q.toString();
  return `/v1/assets/${encodeURIComponent(assetId)}/stream${qs ? `?${qs}` : ""}`;
}

/** Read the stream chunk by chunk, feeding the parser; render levels as they complete. */
async function stream() {
  const resp = await fetch(streamUrl(), { cache: "no-store" });
  if (!resp.ok) throw new Error(`the server answered ${resp.status}: ${await errorText(resp)}`);
  const length = Number(resp.headers.get("content-length"));
  if (length > 0) snf.total = length;
  const reader = resp.body.getReader();
  const p = view.parser;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    snf.bytes += value.length;
    const levels = p.feed(value);
    if (p.header && !snf.header) onHeader(p.header);
    for (const level of levels) snf.levelsReceived.push({ level, t_ms: now(), bytes: p.received });
    if (p.error) {
      reader.cancel().catch(() => {});
      break;
    }
    if (levels.length) view.update();
    refresh();
  }
  // `?level=K` asks for a prefix that stops after level K: that is not truncation.
  const asked = Number(params.get("level"));
  if (!p.error && !p.complete && !(asked && p.levels.length >= asked)) p.finish();
  if (p.error) fail(p.error.message);
}

function onHeader(header) {
  snf.header = header;
  document.title = `snf ${assetId}`;
  if (header.signal === "video" || header.signal === "sdf") {
    view.remote = header.signal;  // rendered by the server, level by level, as levels arrive
    $("view").hidden = true;
    return;
  }
  if (header.signal !== "image") throw new Error(`this asset holds a ${header.signal} signal; the viewer shows images`);
  const [w, h] = header.size;
  const canvas = $("view");
  canvas.width = w;
  canvas.height = h;
  fit();
}

async function errorText(resp) {
  const text = await resp.text().catch(() => "");
  try {
    const detail = JSON.parse(text).detail;
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  } catch {
    return text.slice(0, 200) || resp.statusText;
  }
}

/** Total size from the manifest, where the response has no Content-Length (chunked). */
async function manifestTotal() {
  try {
    const resp = await fetch(`/v1/assets/${encodeURIComponent(assetId)}`);
    if (!resp.ok) return;
    const m = await resp.json();
    const size = m.bytes ?? m.size ?? m.length;
    if (!snf.total && Number.isFinite(size)) snf.total = size;
  } catch { /* the status line just shows no total */ }
}

async function main() {
  $("asset").textContent = assetId;
  window.addEventListener("resize", fit);
  // The renderer's self-check runs while the first bytes arrive; levels wait for it.
  pickRenderer(params.get("renderer")).then(({ renderer, note, webgl }) => {
    view.renderer = renderer;
    snf.webgl = webgl;
    setRenderer(renderer.name, note);
    view.update();
  });
  manifestTotal();
  try {
    await stream();
  } catch (e) {
    fail(e.message);
  }
  snf.streamEnded = true;
  snf.streamEndMs = now();
  view.update();
  settle();
}

main();
