// The viewer page: stream /v1/assets/{id}/stream with fetch() and a reader,
// parse chunks as they arrive, and keep a picture on screen from the first
// complete level on. Level 1 is drawn first whatever the link speed, then the
// newest complete level (stale ones are skipped); each level shows a
// reduced-resolution preview before its full render. Renders run off the main
// thread (Web Workers, or WebGL2 in slices) and are cancelled as soon as the
// wanted picture changes. State for tests and curious users is on `window.snf`.

import { Parser } from "./snf-parse.js";
import { buildNetwork } from "./snf-model.js";
import { cut, renderers } from "./snf-arch.js";
import { toRGBA } from "./snf-image.js";
import { gridNet } from "./render-grid-js.js";
import { latentNet } from "./render-latent-js.js";
import { latentDecoder } from "./latent-decode.js";
import { pickRenderer } from "./renderers.js";
import { JsRenderer } from "./render-js.js";
import { Cancelled, WorkerPool } from "./render-pool.js";
import { formatActivity, formatArriving, formatShown, kB } from "./viewer-status.js";
import { ShapeView, VideoPlayer } from "./viewer-remote.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const assetId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const assetUrl = `/v1/assets/${encodeURIComponent(assetId)}`;

const FEED_PIECE = 16384;          // bytes parsed per main-thread task
const PREVIEW_PIXELS = 12288;      // a preview has at most this many pixels (1/32 of 768x512)
const PREVIEW_MIN_PIXELS = 2048;   // and at least this many (1/192 of 768x512)
const PREVIEW_COST = 30e6;         // multiply-adds a preview aims at (~0.1 s in one idle worker)

const snf = {
  asset: assetId,
  renderer: null,        // "webgl2", "js" (workers) or "fallback" (server PNG or workers), once chosen
  rendererNote: "",
  webgl: null,           // how WebGL2 fared: "ok", "unavailable", "inaccurate", "software", "slow", "not tried"
  gpu: "",
  workers: 0,
  firstPictureMs: null,  // first anything on the canvas (a preview of level 1)
  previews: [],          // {level, t_ms, w, h}
  levelsShown: [],       // first full showing of each level: {level, t_ms, bytes, source, w, h}
  levelsReceived: [],    // {level, t_ms, bytes, arrived_ms (when its last byte was read; t_ms is when it was decoded)}
  cancelled: [],         // renders given up: {level, phase, progress, t_ms}
  longTasks: [],         // main-thread tasks over 50 ms: {start, duration}
  spans: {},             // longest synchronous run of the viewer's own steps, ms: {feed, draw, png, ...}
  bytes: 0, total: null, etag: null,
  state: "connecting",   // "streaming", "ended", "incomplete", "lost", "failed"
  streamEnded: false, streamEndMs: null,
  resumes: [],           // {from, status} per Range request after a lost connection
  done: false,           // stream over and the picture settled (or an error stopped it)
  error: null,           // message of the error that stopped reading, if any
  current: null,         // level whose full render is on the canvas
  job: null,             // {level, phase, progress, via}: the render in progress
  header: null,
  playing: null,         // a video level playing: {level, frames (in the strip), drawn (frames drawn so far)}
  /**
   * RGBA bytes on the canvas (a full render), row-major, 4 per pixel: a plain array, or with
   * "base64" one base64 string (much quicker to hand to a test for a large image).
   */
  pixels: async (as = "array") => {
    const px = view.pixels();
    if (!px || as !== "base64") return px && Array.from(px);
    let text = "";
    for (let i = 0; i < px.length; i += 0x8000) text += String.fromCharCode.apply(null, px.subarray(i, i + 0x8000));
    return btoa(text);
  },
  show: (k) => view.pick(k),   // pin a level (null follows the stream), as the level buttons do
};
window.snf = snf;

const t0 = performance.now();
const now = () => performance.now() - t0;

/** Run fn, keeping the longest time each named step held the main thread (compare with longTasks). */
function timed(name, fn) {
  const t = performance.now();
  try {
    return fn();
  } finally {
    snf.spans[name] = Math.max(snf.spans[name] || 0, Math.round(performance.now() - t));
  }
}

try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) snf.longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask", buffered: true });
} catch { /* no Long Tasks API: the list stays empty */ }

/** A parser whose latent levels decode on a worker (latent-decode.js); their news comes later. */
function newParser() {
  const p = new Parser();
  p.decodeAsync = latentDecoder();
  p.onLevels = (levels) => afterDecode(p, levels);
  return p;
}

/** Rendering and display: one job at a time, always towards the wanted picture. */
const view = {
  parser: newParser(),
  how: null,           // from pickRenderer: {path, gl, note, webgl, gpu}
  engine: null,        // WebGLRenderer or WorkerPool (or a main-thread JsRenderer if workers are missing)
  nets: new Map(),     // level -> network
  gridSums: null,      // a grid field's last level drawn by the workers: {level, w, h, sums (field values)}
  full: new Map(),     // `${level}@${w}x${h}` -> {rgba} or {bitmap}
  pngs: new Map(),     // level -> {promise, abort}: server PNG requests (fallback mode)
  pngBitmaps: new Map(), // level -> {bitmap, source}: server PNGs that arrived
  shown: null,         // {level, preview, w, h, source}
  pinned: null,        // level picked by the user; null follows the stream
  running: false,
  remote: null,        // "video" or "sdf": the server renders each level (showRemote)

  have() { return this.parser.levels.length; },

  /** The level to show: the pinned one, else level 1 until it has been drawn, else the newest. */
  target() {
    const have = this.have();
    if (!have) return null;
    if (this.pinned && this.pinned <= have) return this.pinned;
    if (!snf.levelsShown.length && !(this.shown && this.shown.level === 1 && !this.shown.preview)) return 1;
    return have;
  },

  /** Render size: the canvas's display size x devicePixelRatio, at most the image's own size. */
  size() {
    const [W, H] = this.parser.header.size;
    const stage = $("stage"), dpr = window.devicePixelRatio || 1;
    const sw = stage.clientWidth * dpr, sh = stage.clientHeight * dpr;
    if (!(sw > 0 && sh > 0) || params.get("native") === "1") return [W, H];
    const s = Math.min(1, sw / W, sh / H);
    return [Math.max(1, Math.round(W * s)), Math.max(1, Math.round(H * s))];
  },

  /** A full picture of level k for a w x h canvas: a render at that size, or the server's PNG (any size). */
  fullEntry(k, w, h) {
    return this.full.get(`${k}@${w}x${h}`) || this.pngBitmaps.get(k) || null;
  },

  /** What to do next: {level, phase: "draw"|"preview"|"full", w, h} or null when the picture is right. */
  next() {
    const k = this.target();
    if (!k || !this.engine) return null;
    let [w, h] = this.size();
    const sh = this.shown;
    // Keep a full render of this level at another size unless the display grew past it or shrank a lot.
    if (sh && sh.level === k && !sh.preview && this.fullEntry(k, sh.w, sh.h)) {
      if (w <= sh.w * 1.02 && w >= sh.w * 0.75) return null;
    }
    if (this.fullEntry(k, w, h)) {
      return sh && sh.level === k && !sh.preview && sh.w === w && sh.h === h ? null : { level: k, phase: "draw", w, h };
    }
    const tiny = w * h <= PREVIEW_PIXELS * 2;
    // A preview of k, or k at another size; for a grid field (whose levels render in a fraction
    // of a second) any full level: it stays on screen until k replaces it, sharper than a preview.
    const family = this.parser.arch.family;
    const havePicture = sh && (sh.level === k || ((family === "grid" || family === "latent") && !sh.preview));
    return { level: k, phase: tiny || havePicture ? "full" : "preview", w, h };
  },

  /** Run jobs until the picture is the wanted one. Re-entrant calls just return. */
  async pump() {
    if (this.remote) return showRemote(this.target());
    if (this.running) return;
    this.running = true;
    try {
      for (let job = this.next(); job; job = this.next()) {
        try {
          await this.run(job);
        } catch (e) {
          if (this.engine.name !== "webgl2") throw e;
          // The GPU path failed on this level (limits, lost context): go on with the workers.
          this.engine = new WorkerPool();
          setRenderer({ ...this.how, path: "js", note: `WebGL2 failed: ${e.message}` });
        }
      }
    } catch (e) {
      fail(`rendering failed: ${e.message}`, { stops: true });
    } finally {
      this.running = false;
      snf.job = null;
      settle();
    }
  },

  async run(job) {
    const same = (a, b) => a && b && a.level === b.level && a.phase === b.phase && a.w === b.w && a.h === b.h;
    const cancelled = () => !same(this.next(), job);
    const key = `${job.level}@${job.w}x${job.h}`;
    if (job.phase === "draw") {
      const entry = this.fullEntry(job.level, job.w, job.h);
      this.drawFull(job.level, entry, job.w, job.h, entry.source);
      return;
    }
    const net = this.net(job.level);
    snf.job = { level: job.level, phase: job.phase, progress: 0, via: this.engineName(job) };
    refresh();
    const onProgress = (f) => { if (snf.job) { snf.job.progress = f; refreshActivity(); } };
    try {
      if (job.phase === "preview") {
        const [pw, ph] = previewSize(job.w, job.h, net);
        if (this.how.path === "fallback") this.png(job.level);  // ask early: it may well win
        const rgba = await this.renderRGBA(job.level, pw, ph, { onProgress, cancelled, rgba: this.sampleFormat() });
        this.drawPreview(job.level, revealStripes(rgba, this.parser.arch, job.level, pw, ph), pw, ph, job.w, job.h);
        return;
      }
      const entry = await this.renderFull(job, net, onProgress, cancelled);
      if (entry.rgba) revealStripes(entry.rgba, this.parser.arch, job.level, job.w, job.h);  // a server PNG has its alpha
      this.full.set(key, entry);
      this.drawFull(job.level, entry, job.w, job.h, entry.source);
    } catch (e) {
      if (!(e instanceof Cancelled)) throw e;
      snf.cancelled.push({ level: job.level, phase: job.phase, progress: snf.job ? snf.job.progress : 0, t_ms: now() });
    }
  },

  /** Full render: the engine, or in fallback mode whichever of the server PNG and the workers is sooner. */
  async renderFull(job, net, onProgress, cancelled) {
    const viaEngine = async (stop) => {
      const rgba = await this.renderRGBA(job.level, job.w, job.h,
        { onProgress, cancelled: () => stop() || cancelled(), rgba: this.sampleFormat() });
      return { rgba, source: this.engine.name };
    };
    if (this.how.path !== "fallback") return viaEngine(() => false);
    const png = this.png(job.level);
    let pngWon = false;
    const fromPng = png.promise.then((entry) => {
      if (!entry) return new Promise(() => {});   // no PNG: let the workers finish
      pngWon = true;
      return entry;
    });
    const fromWorkers = viaEngine(() => pngWon).catch((e) => {
      if (pngWon) return new Promise(() => {});     // stopped because the PNG won: not an error
      throw e;
    });
    const watch = cancelWatch(cancelled);
    try {
      const winner = await Promise.race([fromPng, fromWorkers, watch.promise]);
      if (winner.source !== "server PNG") png.abort();
      return winner;
    } finally {
      watch.stop();
    }
  },

  /** The server's PNG of level k (fallback mode); resolves to an ImageBitmap or null. */
  png(k) {
    if (!this.pngs.has(k)) {
      const ctrl = new AbortController();
      const promise = (async () => {
        try {
          const resp = await fetch(`${assetUrl}/levels/${k}.png`, { signal: ctrl.signal });
          if (!resp.ok) return null;
          const blob = await resp.blob();
          const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
          return { bitmap, source: "server PNG" };
        } catch {
          return null;
        }
      })();
      this.pngs.set(k, { promise, abort: () => ctrl.abort() });
      promise.then((entry) => {
        if (!entry) {
          this.pngs.delete(k);
          return;
        }
        // A full picture of k from now on: a preview or render of k still running is cancelled.
        this.pngBitmaps.set(k, entry);
        this.pump();
      });
    }
    return this.pngs.get(k);
  },

  /** Level k's RGBA at w x h: one engine render; under spatial growth with one network per
   * stripe (mode individual, format_spec 4.1), one render per revealed stripe's network, each
   * contributing its own columns (as snf/decode/render.py's render_field). */
  async renderRGBA(level, w, h, opts) {
    const arch = this.parser.arch;
    if (arch.family === "grid") return this.gridRGBA(level, w, h, opts);
    if (!arch.composite) return this.rgba(await this.engine.render(this.net(level), w, h, opts));
    const out = new Uint8ClampedArray(4 * w * h);
    for (const [j, r0, r1] of renderers(arch, level)) {
      const part = this.rgba(await this.engine.render(this.net(j), w, h, opts));
      const lo = cut(arch, r0, w), hi = cut(arch, r1, w);
      for (let y = 0; y < h; y++) out.set(part.subarray(4 * (y * w + lo), 4 * (y * w + hi)), 4 * (y * w + lo));
    }
    return out;
  },

  /** A grid field's level k (format_spec.md section 9.4): WebGL2 keeps its own sums; the workers
   * (or the page) draw only the levels after the last one drawn at this size, on its kept sums. */
  async gridRGBA(level, w, h, opts) {
    if (this.engine.name === "webgl2") return this.rgba(await this.engine.render(this.net(level), w, h, opts));
    const kept = this.gridSums, arch = this.parser.arch;
    const from = kept && kept.w === w && kept.h === h && kept.level <= level ? kept.level : 0;
    const sums = new Float32Array(w * h * arch.d_out);
    const net = gridNet(arch, this.parser.levels, level, from);
    const rgba = this.rgba(await this.engine.render(net, w, h, { ...opts, base: from ? kept.sums : null, sums }));
    this.gridSums = { level, w, h, sums };
    return rgba;
  },

  engineName(job) {
    if (this.how.path === "fallback" && job.phase === "full") return `server PNG or ${this.engine.name}`;
    return this.engine.name;
  },

  /** Level k's network for the engines: a SIREN (snf-model.js), a grid field (render-grid-js.js) or a latent one (render-latent-js.js). */
  net(k) {
    const family = this.parser.arch.family;
    const build = family === "grid" ? gridNet : family === "latent" ? latentNet : buildNetwork;
    if (!this.nets.has(k)) this.nets.set(k, build(this.parser.arch, this.parser.levels, k));
    return this.nets.get(k);
  },

  /** How the workers should convert field values to 8-bit samples (they then return RGBA bytes). */
  sampleFormat() {
    const p = this.parser;
    return { dOut: p.arch.d_out, range: p.header.values.range, bitDepth: p.header.values.bit_depth ?? 8 };
  },

  /** RGBA bytes from an engine's answer (the workers convert already; WebGL2 returns field values). */
  rgba(values) {
    if (values instanceof Uint8ClampedArray) return values;
    const p = this.parser;
    return toRGBA(values, p.arch.d_out, p.header.values.range, p.header.values.bit_depth ?? 8);
  },

  drawPreview(level, rgba, pw, ph, w, h) {
    timed("preview", () => this.paintPreview(rgba, pw, ph, w, h));
    this.shown = { level, preview: true, w, h, source: "preview" };
    snf.previews.push({ level, t_ms: now(), w: pw, h: ph });
    if (snf.firstPictureMs === null) snf.firstPictureMs = now();
    refresh();
  },

  paintPreview(rgba, pw, ph, w, h) {
    const small = new OffscreenCanvas(pw, ph);
    small.getContext("2d").putImageData(new ImageData(rgba, pw, ph), 0, 0);
    const ctx = canvasOf(w, h);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "low";   // bilinear: "high" costs the page 100+ ms on a CPU-drawn canvas
    ctx.clearRect(0, 0, w, h);
    ctx.drawImage(small, 0, 0, w, h);
  },

  drawFull(level, entry, w, h, source) {
    timed(entry.rgba ? "draw" : "png", () => {
      const ctx = canvasOf(w, h);
      if (entry.rgba) {
        ctx.putImageData(new ImageData(entry.rgba, w, h), 0, 0);
      } else {
        ctx.imageSmoothingEnabled = true;
        ctx.clearRect(0, 0, w, h);
        ctx.drawImage(entry.bitmap, 0, 0, w, h);
      }
    });
    this.shown = { level, preview: false, w, h, source };
    snf.current = level;
    if (snf.firstPictureMs === null) snf.firstPictureMs = now();
    if (!snf.levelsShown.some((s) => s.level === level)) {
      snf.levelsShown.push({ level, t_ms: now(), bytes: snf.bytes, source, w, h });
    }
    refresh();
  },

  pixels() {
    const sh = this.shown;
    if (!sh || sh.preview) return null;
    const entry = this.fullEntry(sh.level, sh.w, sh.h);
    if (entry && entry.rgba) return entry.rgba;
    return $("view").getContext("2d").getImageData(0, 0, sh.w, sh.h).data;
  },

  pick(k) {
    this.pinned = k;
    refresh();
    this.pump();
  },

  /** Drop everything decoded (the file changed under a resumed stream). */
  reset() {
    if (this.parser.decodeAsync) this.parser.decodeAsync.stop();
    this.parser = newParser();
    this.nets.clear();
    this.gridSums = null;
    this.full.clear();
    for (const { abort } of this.pngs.values()) abort();
    this.pngs.clear();
    this.pngBitmaps.clear();
    this.shown = null;
    snf.current = null;
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

/** Videos and shapes: the server's render of level k, played (viewer-remote.js VideoPlayer: play,
 * pause, frame slider, the file's frame rate) or drawn as a surface the user turns (ShapeView,
 * with the level's Chamfer figure). A newer level replaces the one shown, in the same player. */
function showRemote(k) {
  if (!k || (view.shown && view.shown.level === k) || view.remoteLoading === k) return;
  const base = `${assetUrl}/levels/${k}`;
  if (!view.player) {
    view.player = view.remote === "video" ? new VideoPlayer(snf.header, view.parser.arch) : new ShapeView(snf.header);
    if (view.remote === "video") snf.playing = view.player.state;   // {level, frames, drawn, playing, fps, frame}
    else snf.shape = view.player.state;                              // {level, faces, yaw, pitch, draws, chamfer}
    $("stage").querySelector("#remote")?.remove();
    $("stage").append(view.player.root);
  }
  view.remoteLoading = k;
  view.player.show(view.remote === "video" ? `${base}.png` : `${base}.ply`, k).then(() => {
    view.remoteLoading = null;
    view.shown = { level: k, preview: false, w: snf.header.size[0], h: snf.header.size[1], source: "server" };
    snf.current = k;
    if (snf.firstPictureMs === null) snf.firstPictureMs = now();
    if (!snf.levelsShown.some((s) => s.level === k)) snf.levelsShown.push({ level: k, t_ms: now(), bytes: snf.bytes, source: "server" });
    refresh();
    settle();
    if (view.target() !== k) showRemote(view.target());   // a later level (or a pick) came meanwhile
  }).catch((e) => {
    view.remoteLoading = null;
    fail(`level ${k}: the server could not render it (${e.message})`);
  });
}

/** A preview's size: about PREVIEW_COST multiply-adds (fewer pixels for wider networks), within bounds. */
function previewSize(w, h, net) {
  const perPixel = net.family === "grid" || net.family === "latent" ? net.macs
    : net.sine.reduce((n, l) => n + l.rows * l.cols, 0) + net.out.rows * net.out.cols;
  const pixels = Math.min(PREVIEW_PIXELS, Math.max(PREVIEW_MIN_PIXELS, PREVIEW_COST / perPixel));
  const f = Math.max(1, Math.sqrt((w * h) / pixels));
  return [Math.max(1, Math.round(w / f)), Math.max(1, Math.round(h / f))];
}

/** {promise, stop}: the promise rejects with Cancelled once `cancelled()` holds (polled every 50 ms). */
function cancelWatch(cancelled) {
  let timer = 0;
  const promise = new Promise((_, reject) => {
    timer = setInterval(() => {
      if (cancelled()) { clearInterval(timer); reject(new Cancelled()); }
    }, 50);
  });
  return { promise, stop: () => clearInterval(timer) };
}

/** The canvas's 2D context, with its backing store set to w x h (which clears it). */
function canvasOf(w, h) {
  const canvas = $("view");
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
    fit();
  }
  return canvas.getContext("2d");
}

/** Scale the canvas (CSS only) to the largest box of the image's aspect that fits the stage. */
function fit() {
  const canvas = $("view"), stage = $("stage");
  const [W, H] = view.parser.header ? view.parser.header.size : [canvas.width, canvas.height];
  const s = Math.min(stage.clientWidth / W, stage.clientHeight / H);
  if (s > 0 && Number.isFinite(s)) {
    canvas.style.width = `${Math.floor(W * s)}px`;
    canvas.style.height = `${Math.floor(H * s)}px`;
  }
}

function setRenderer(how) {
  snf.renderer = how.path;
  snf.webgl = how.webgl;
  snf.gpu = how.gpu;
  const on = view.engine instanceof WorkerPool ? `${view.engine.size} Web Worker(s)` : "the page";
  const text = {
    webgl2: "rendering with WebGL2 on the GPU",
    js: `rendering in JavaScript on ${on}`,
    fallback: `without a GPU: each level from the server's PNG or ${on}, whichever is sooner`,
  }[how.path];
  snf.rendererNote = `${text} (${how.note})`;
}

function fail(message, { retry = false, stops = false } = {}) {
  if (stops) view.stopped = true;
  if (!snf.error || retry) snf.error = message;
  $("error").textContent = snf.error;
  $("retry").hidden = !retry;
  settle();
}

/** `done` once the stream is over and the display has caught up (or reading stopped). */
function settle() {
  const caughtUp = !view.running && !view.parser.pending && (view.stopped || !view.have() ||
    (view.remote ? view.shown && view.shown.level === view.target() : view.engine && !view.next()));
  if (snf.streamEnded && caughtUp) snf.done = true;
  refresh();
}

function statusData() {
  const p = view.parser;
  return {
    bytes: snf.bytes, total: snf.total, elapsedMs: snf.streamEndMs ?? now(), header: p.header, meta: p.meta, shown: view.shown,
    received: p.levels.length, ends: p.ends, firstMs: snf.firstPictureMs, state: snf.state, job: snf.job,
  };
}

function refresh() {
  timed("status", refreshNow);
}

function refreshNow() {
  const s = statusData();
  const shown = formatShown(s);
  if ($("shown").textContent !== shown) $("shown").textContent = shown;  // aria-live: only real changes
  $("arriving").textContent = formatArriving(s);
  refreshActivity();
  const source = view.shown && !view.shown.preview ? ` · on screen from ${view.shown.source}` : "";
  $("renderer").textContent = snf.rendererNote ? `${snf.rendererNote}${source}` : "choosing a renderer…";
  const label = view.shown
    ? `${assetId}, level ${view.shown.level} of ${p_levels()}${view.shown.preview ? " (preview)" : ""}, ${view.parser.header.size.join(" by ")} pixels`
    : "image not loaded yet";
  $("view").setAttribute("aria-label", label);
  levelButtons();
}

const p_levels = () => (view.parser.arch ? view.parser.arch.levels : 0);

let activityFrame = 0;
function refreshActivity() {
  if (activityFrame) return;
  activityFrame = requestAnimationFrame(() => {
    activityFrame = 0;
    $("activity").textContent = formatActivity(snf.job);
  });
}

function levelButtons() {
  const p = view.parser, box = $("levels");
  const total = p_levels();
  if (box.children.length !== total) {
    box.replaceChildren(...Array.from({ length: total }, (_, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = String(i + 1);
      b.title = `show level ${i + 1} (key ${i + 1})`;
      b.onclick = () => choose(i + 1);
      return b;
    }));
  }
  const on = view.pinned || view.target();
  [...box.children].forEach((b, i) => {
    b.disabled = i >= p.levels.length;
    b.setAttribute("aria-pressed", String(on === i + 1));
  });
}

/** A user's pick: the newest level while streaming means "follow the stream". */
function choose(k) {
  const have = view.have();
  if (k < 1 || k > have) return;
  view.pick(k === have && !snf.streamEnded ? null : k);
}

function onKey(e) {
  if (e.altKey || e.ctrlKey || e.metaKey || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
  const cur = view.pinned || (view.shown ? view.shown.level : view.have());
  let k = null;
  if (/^[1-9]$/.test(e.key)) k = Number(e.key);
  else if (e.key === "ArrowLeft" || e.key === "ArrowDown") k = Math.max(1, cur - 1);
  else if (e.key === "ArrowRight" || e.key === "ArrowUp") k = Math.min(view.have(), cur + 1);
  else if (e.key === "End") k = view.have();
  else if (e.key === "Home") k = 1;
  if (k === null || !view.have()) return;
  e.preventDefault();
  choose(k);
}

function streamUrl() {
  const q = new URLSearchParams();
  for (const key of ["kbps", "level"]) if (params.has(key)) q.set(key, params.get(key));
  const qs = q.toString();
  return `${assetUrl}/stream${qs ? `?${qs}` : ""}`;
}

class ConnectionLost extends Error {}

/** Fetch from `from` (a Range request with If-Range when resuming) and feed the parser. */
async function stream(from = 0) {
  const headers = {};
  if (from > 0) {
    headers.range = `bytes=${from}-`;
    if (snf.etag) headers["if-range"] = snf.etag;
  }
  let resp;
  try {
    resp = await fetch(streamUrl(), { cache: "no-store", headers });
  } catch (e) {
    throw new ConnectionLost(e.message);
  }
  if (!resp.ok) throw new Error(`the server answered ${resp.status}: ${await errorText(resp)}`);
  if (from > 0) {
    snf.resumes.push({ from, status: resp.status });
    if (resp.status !== 206) {   // the file changed (If-Range failed): start over
      view.reset();
      snf.bytes = 0;
      snf.header = null;
    }
  }
  snf.etag = resp.headers.get("etag") || snf.etag;
  snf.growing = resp.headers.get("x-snf-growing") === "1";   // an encoder still publishes levels
  const length = Number(resp.headers.get("content-length"));
  if (length > 0) snf.total = (resp.status === 206 ? from : 0) + length;
  snf.state = "streaming";
  const reader = resp.body.getReader();
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      throw new ConnectionLost(e.message);
    }
    const { done, value } = chunk;
    if (done) break;
    // A read may hold the whole file: parse it in pieces, so level 1 starts rendering as soon
    // as its chunk is decoded and the page never parses for long at a time.
    for (let i = 0; i < value.length; i += FEED_PIECE) {
      if (!feed(value.subarray(i, i + FEED_PIECE))) {
        reader.cancel().catch(() => {});
        return;
      }
      if (i + FEED_PIECE < value.length) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    refresh();
  }
}

const feedTimes = [];  // [bytes read so far, ms] per piece fed: when each latent level's last byte came

/** Feed the parser; false once it has stopped on an error. */
function feed(bytes) {
  const p = view.parser;
  snf.bytes += bytes.length;
  feedTimes.push([p.received + bytes.length, now()]);
  const levels = timed("feed", () => p.feed(bytes));
  if (p.header && !snf.header) onHeader(p.header);
  for (const level of levels) snf.levelsReceived.push({ level, t_ms: now(), bytes: p.received, arrived_ms: now() });
  if (p.error) return false;
  if (levels.length) view.pump();
  return true;
}

/** Levels the parser completed after a latent level came back from its decode worker: as feed's, and
 * an error (or the truncation the stream's end found meanwhile) is reported here once the stream is over. */
function afterDecode(p, levels) {
  if (p !== view.parser) return;  // a parser given up (the file changed under a resumed stream)
  for (const level of levels) {
    const end = p.ends[level - 1], fed = feedTimes.find(([b]) => b >= end);
    snf.levelsReceived.push({ level, t_ms: now(), bytes: end, arrived_ms: fed ? fed[1] : now() });
  }
  if (p.error && snf.streamEnded) {  // else the next feed stops the stream and its end reports it
    if (/truncated|empty/.test(p.error.message)) snf.state = "incomplete";
    fail(levelMessage(p.error.message));
  }
  if (levels.length) view.pump();
  settle();
}

/** After the last byte: a stream that stopped early is truncated, unless `?level=K` asked for a prefix. */
function endOfStream() {
  const p = view.parser;
  const asked = Number(params.get("level"));
  if (!p.error && !p.complete && !(asked && p.levels.length >= asked)) p.finish();
  snf.state = p.error && /truncated|empty/.test(p.error.message) ? "incomplete" : "ended";
  if (p.error) fail(levelMessage(p.error.message));
}

function levelMessage(message) {
  const k = view.have();
  return k ? `${message}; showing level ${k}, the last complete one` : message;
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
  if (header.field === "latent" && view.parser.decodeAsync) view.parser.decodeAsync.warm();
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
    const resp = await fetch(assetUrl);
    if (!resp.ok) return;
    const m = await resp.json();
    const size = m.bytes ?? m.size ?? m.length;
    if (!snf.total && Number.isFinite(size) && !params.has("level")) snf.total = size;
  } catch { /* the status line just shows no total */ }
}

/** Read until the stream ends; a lost connection offers [Retry], which resumes with a Range request. */
async function readAll(from) {
  try {
    await stream(from);
  } catch (e) {
    if (e instanceof ConnectionLost) {
      snf.state = "lost";
      const total = snf.total ? ` of ${kB(snf.total)}` : "";
      const k = view.shown ? view.shown.level : 0;
      const what = snf.bytes ? `Connection lost at ${kB(snf.bytes)}${total}, showing level ${k}` : "Cannot reach the server";
      fail(what, { retry: true });
      return;
    }
    snf.state = "failed";
    fail(e.message);
  }
  if (snf.state === "streaming" && snf.growing) {
    followGrowing();   // not the end: later levels are still being encoded
    return;
  }
  if (snf.state === "streaming") endOfStream();
  $("retry").hidden = true;
  snf.streamEnded = true;
  snf.streamEndMs = now();
  view.pump();
  settle();
}

/** A growing file (published level by level by an encoder, e.g. an upload): look at its
 * manifest every second and read it again once it has changed; the newest level then replaces
 * the one on screen (each publication rewrites the header, so a Range request cannot resume it). */
async function followGrowing() {
  snf.follows = (snf.follows || 0) + 1;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const resp = await fetch(assetUrl, { cache: "no-store" }).catch(() => null);
    if (resp && resp.status === 404) {   // the encode failed and took its levels back
      snf.state = "ended";
      fail(levelMessage("the asset is gone (its encode stopped)"));
      return;
    }
    const m = resp && resp.ok ? await resp.json().catch(() => null) : null;
    if (m && (m.bytes !== snf.bytes || m.complete)) break;
  }
  view.reset();
  snf.bytes = 0;
  snf.header = null;
  snf.state = "streaming";
  readAll(0);
}

function retry() {
  $("retry").hidden = true;
  snf.error = null;
  $("error").textContent = "";
  snf.state = "streaming";
  refresh();
  readAll(view.parser.received);
}

function startWorkers() {
  try {
    return new WorkerPool(Number(params.get("workers")) || null);
  } catch {
    return null;
  }
}

async function main() {
  $("asset").textContent = assetId;
  $("retry").onclick = retry;
  document.addEventListener("keydown", onKey);
  new ResizeObserver(() => { fit(); view.pump(); }).observe($("stage"));
  // The workers start loading now (most pages use them); the renderer is chosen while the
  // first bytes arrive, and levels wait for it.
  const pool = params.get("renderer") === "webgl2" ? null : startWorkers();
  pickRenderer(params.get("renderer")).then((how) => {
    snf.rendererMs = now();
    view.how = how;
    if (how.path === "webgl2") {
      view.engine = how.gl;
    } else {
      view.engine = pool || startWorkers() || new JsRenderer();  // no module workers: render on the page
      snf.workers = view.engine.size || 0;
    }
    setRenderer(how);
    refresh();
    view.pump();
  }).catch((e) => fail(`no renderer: ${e.message}`, { stops: true }));
  manifestTotal();
  await readAll(0);
}

main();
