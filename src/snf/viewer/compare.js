// The compare page: an snf asset beside what other codecs show at the same number of bytes.
// A classic script with no imports, so `snf-bench compare` can inline it into one static
// HTML file. On the server the table comes from /v1/assets/{id}/compare and the snf levels
// from compare-stream.js (streamed and decoded in the page); in the static file both are
// embedded (#compare-data). Every pane's PSNR is measured here, from the pixels shown
// against the original. State for tests: `window.snfCompare`.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const EOI = new Uint8Array([0xff, 0xd9]);
  const PANES = [["snf", "snf"], ["jpeg", "progressive JPEG prefix"], ["webp", "WebP"], ["jxl", "JPEG XL"]];
  const now = () => performance.now();   // the same clock as compare-stream.js

  const S = {
    table: null, W: 0, H: 0, orig: null, N: 0, total: 0, follow: true,
    snfLevels: new Map(),   // level -> {canvas, psnr, t_ms}
    levelsShown: [],        // first drawing of each snf level on the page: {level, t_ms}
    levelsReceived: [],     // set by compare-stream.js: {level, t_ms, bytes}
    panes: {},              // name -> {label, detail, bytes, psnr, canvas}
    settled: false, error: null, gen: 0,
    zoom: 1, cx: 0, cy: 0, split: 50, layout: "split", other: "jpeg",
    jpegCache: new Map(), files: new Map(),
  };
  window.snfCompare = S;
  let resolveTable;
  S.tableReady = new Promise((r) => { resolveTable = r; });

  const fmtBytes = (n) => `${Math.round(n).toLocaleString("en")} B`;
  const fmtDb = (p) => (p === null || p === undefined ? "–" : p >= 99 ? "lossless" : `${p.toFixed(2)} dB`);

  function fail(message) {
    S.error = message;
    $("problem").textContent = message;
    S.settled = true;
  }

  /** PSNR (dB) of RGBA bytes against the original, over the R, G and B samples. */
  function psnr(rgba) {
    const o = S.orig;
    let se = 0;
    for (let i = 0; i < o.length; i += 4) {
      const a = rgba[i] - o[i], b = rgba[i + 1] - o[i + 1], c = rgba[i + 2] - o[i + 2];
      se += a * a + b * b + c * c;
    }
    if (se === 0) return 99;
    return 10 * Math.log10((255 * 255 * 3 * S.W * S.H) / se);
  }

  function canvasOf(w, h) {
    const c = document.createElement("canvas");
    c.width = w;
    c.height = h;
    return c;
  }

  /** A decoded picture: {canvas, psnr}, or null when the bytes do not decode. */
  async function picture(blob) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    } catch {
      return null;
    }
    if (bitmap.width !== S.W || bitmap.height !== S.H) return null;
    const c = canvasOf(S.W, S.H);
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    return { canvas: c, psnr: psnr(ctx.getImageData(0, 0, S.W, S.H).data) };
  }

  async function bytesOf(url) {
    if (!S.files.has(url)) {
      S.files.set(url, fetch(url).then((r) => {
        if (!r.ok) throw new Error(`${url.split("?")[0]}: the server answered ${r.status}`);
        return r.arrayBuffer();
      }).then((b) => new Uint8Array(b)));
    }
    return S.files.get(url);
  }

  const decoded = new Map();
  /** A whole file's picture (cached): WebP natively, JPEG XL as the server's lossless decode. */
  function wholeFile(url, type) {
    if (!decoded.has(url)) decoded.set(url, bytesOf(url).then((b) => picture(new Blob([b], { type }))));
    return decoded.get(url);
  }

  /** The progressive-JPEG prefix at n bytes: the best picture the first n bytes of any of the
   * progressive JPEGs decode to (a cut file gets an EOI marker, so the browser's libjpeg shows
   * it as far as it goes, as Pillow's does). */
  function jpegAt(n) {
    if (!S.jpegCache.has(n)) {
      S.jpegCache.set(n, (async () => {
        const files = await Promise.all(S.table.jpeg.map((e) => bytesOf(e.file)));
        const tries = await Promise.all(files.map((f, i) => {
          if (n < 200) return null;
          const cut = n >= f.length ? [f] : [f.subarray(0, n), EOI];
          return picture(new Blob(cut, { type: "image/jpeg" })).then((p) => p && { ...p, quality: S.table.jpeg[i].quality,
            used: Math.min(n, f.length), size: f.length });
        }));
        let best = null;
        for (const t of tries) if (t && (!best || t.psnr > best.psnr)) best = t;
        return best;
      })());
      if (S.jpegCache.size > 48) S.jpegCache.delete(S.jpegCache.keys().next().value);
    }
    return S.jpegCache.get(n);
  }

  /** The best whole file of at most n bytes by the table's PSNR, or null. */
  function bestWhole(list, n) {
    let best = null;
    for (const e of list || []) if (e.bytes <= n && (!best || e.psnr > best.psnr)) best = e;
    return best;
  }

  function snfPane(n) {
    const ends = S.table.snf.ends;
    let k = 0;
    while (k < ends.length && ends[k] <= n) k++;
    const total = S.table.snf.psnr_at_encode.length || ends.length;
    if (!k) return { detail: `nothing yet: level 1 needs ${fmtBytes(ends[0] || 0)}`, bytes: 0, psnr: null, canvas: null };
    let have = k;
    while (have > 0 && !S.snfLevels.has(have)) have--;
    if (!have) return { detail: `level ${k} of ${total}: decoding…`, bytes: ends[k - 1], psnr: null, canvas: null };
    const lv = S.snfLevels.get(have);
    const wait = have < k ? ` (level ${k} decoding…)` : "";
    return { detail: `level ${have} of ${total}${wait}${lv.source === "workers" ? " (decoded in this page)" : lv.source === "server PNG" ? " (the server's decode)" : ""}`, bytes: ends[have - 1], psnr: lv.psnr, canvas: lv.canvas, level: have };
  }

  /** Recompute every pane for the current byte count, then draw (stale answers are dropped). */
  async function update() {
    if (!S.table) return;
    const gen = ++S.gen, n = S.N;
    S.settled = false;
    showBytes();
    S.panes.snf = { label: "snf", ...snfPane(n) };
    draw();
    const w = bestWhole(S.table.webp, n), x = bestWhole(S.table.jxl, n);
    const [jp, wp, xp] = await Promise.all([jpegAt(n), w ? wholeFile(w.file, "image/webp") : null,
      x ? wholeFile(x.file, "image/png") : null]).catch((e) => { fail(e.message); return [null, null, null]; });
    if (gen !== S.gen) return;
    S.panes.snf = { label: "snf", ...snfPane(n) };
    S.panes.jpeg = jp ? { label: "progressive JPEG prefix", detail: `quality ${jp.quality}: first ${fmtBytes(jp.used)} of ${fmtBytes(jp.size)}`,
      bytes: jp.used, psnr: jp.psnr, canvas: jp.canvas }
      : { label: "progressive JPEG prefix", detail: "nothing: too few bytes for a first scan", bytes: 0, psnr: null, canvas: null };
    S.panes.webp = wp ? { label: "WebP", detail: `quality ${w.quality}, whole file`, bytes: w.bytes, psnr: wp.psnr, canvas: wp.canvas, table_psnr: w.psnr }
      : { label: "WebP", detail: "nothing: the smallest WebP is larger", bytes: 0, psnr: null, canvas: null };
    if (S.table.jxl) {
      S.panes.jxl = xp ? { label: "JPEG XL", detail: `distance ${x.distance}, whole file`, bytes: x.bytes, psnr: xp.psnr, canvas: xp.canvas, table_psnr: x.psnr }
        : { label: "JPEG XL", detail: "nothing: the smallest JPEG XL is larger", bytes: 0, psnr: null, canvas: null };
    }
    draw();
    S.settled = true;
  }

  let pending = 0;
  /** Slider moves come fast: update at most once per animation frame. */
  function setBytes(n, byUser = true) {
    S.N = Math.max(0, Math.min(S.total, Math.round(n)));
    if (byUser) S.follow = false;
    $("bytes").value = String(S.N);
    $("bytes-num").value = String(S.N);
    S.settled = false;
    if (!pending) pending = requestAnimationFrame(() => { pending = 0; update(); });
  }

  function showBytes() {
    const pct = S.total ? ` (${((100 * S.N) / S.total).toFixed(1)}% of the snf file, ${((S.N * 8) / (S.W * S.H)).toFixed(3)} bpp)` : "";
    $("bytes-text").textContent = `${fmtBytes(S.N)}${pct}`;
    $("bytes").setAttribute("aria-valuetext", `${fmtBytes(S.N)}${pct}`);
  }

  /** Draw `src` into `dst` through the zoom window (the whole picture at 1x). */
  function paint(dst, src) {
    if (dst.width !== S.W || dst.height !== S.H) { dst.width = S.W; dst.height = S.H; }
    const ctx = dst.getContext("2d");
    ctx.clearRect(0, 0, S.W, S.H);
    if (!src) return;
    const z = S.zoom, sw = S.W / z, sh = S.H / z;
    const sx = Math.max(0, Math.min(S.W - sw, S.cx - sw / 2)), sy = Math.max(0, Math.min(S.H - sh, S.cy - sh / 2));
    ctx.imageSmoothingEnabled = z === 1;
    ctx.drawImage(src, sx, sy, sw, sh, 0, 0, S.W, S.H);
  }

  const names = () => PANES.filter(([k]) => S.panes[k]);
  const describe = (p) => `${p.label}: ${p.detail}, ${p.bytes ? fmtBytes(p.bytes) : "no bytes"}, ${fmtDb(p.psnr)}`;

  function draw() {
    const snf = S.panes.snf;
    if (snf && snf.level && !S.levelsShown.some((s) => s.level === snf.level)) {
      S.levelsShown.push({ level: snf.level, t_ms: now(), bytes: S.N, source: S.snfLevels.get(snf.level).source });
    }
    $("facts").replaceChildren(...names().map(([k]) => {
      const p = S.panes[k], tr = document.createElement("tr");
      tr.dataset.pane = k;
      for (const text of [p.label, p.detail, p.bytes ? fmtBytes(p.bytes) : "–", fmtDb(p.psnr)]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }));
    for (const z of [$("split"), $("side")]) z.classList.toggle("zoomed", S.zoom > 1);
    const zoomNote = S.zoom > 1 ? `, zoomed ${S.zoom}× around pixel ${Math.round(S.cx)}, ${Math.round(S.cy)}` : "";
    if (S.layout === "split") {
      const right = S.panes[S.other] || { label: "", detail: "", canvas: null };
      paint($("split-left"), snf && snf.canvas);
      paint($("split-right"), right.canvas);
      $("split-right").style.clipPath = `inset(0 0 0 ${S.split}%)`;
      $("split-bar").style.left = `${S.split}%`;
      $("tag-left").textContent = snf ? `snf ${snf.psnr ? fmtDb(snf.psnr) : ""}` : "snf";
      $("tag-right").textContent = right.label ? `${right.label} ${right.psnr ? fmtDb(right.psnr) : ""}` : "";
      $("split").setAttribute("aria-label", `split view at ${fmtBytes(S.N)}${zoomNote}: left of ${S.split}%, ${snf ? describe(snf) : "snf"}; `
        + `right, ${right.label ? describe(right) : "nothing"}`);
    } else {
      const side = $("side");
      for (const [k] of names()) {
        let fig = side.querySelector(`figure[data-pane="${k}"]`);
        if (!fig) {
          fig = document.createElement("figure");
          fig.dataset.pane = k;
          const st = document.createElement("div");
          st.className = "stage";
          st.tabIndex = 0;
          st.setAttribute("role", "img");
          st.append(canvasOf(1, 1));
          fig.append(st, document.createElement("figcaption"));
          side.append(fig);
          hookStage(st);
        }
        const p = S.panes[k];
        paint(fig.querySelector("canvas"), p.canvas);
        fig.querySelector("figcaption").textContent = describe(p);
        fig.querySelector(".stage").setAttribute("aria-label", `${describe(p)}${zoomNote}`);
      }
    }
  }

  /** Click to centre the zoom; arrow keys pan (an eighth of the window per press). */
  function hookStage(el) {
    el.addEventListener("click", (e) => {
      const r = el.getBoundingClientRect();
      const z = S.zoom, sw = S.W / z, sh = S.H / z;
      const sx = Math.max(0, Math.min(S.W - sw, S.cx - sw / 2)), sy = Math.max(0, Math.min(S.H - sh, S.cy - sh / 2));
      S.cx = sx + ((e.clientX - r.left) / r.width) * sw;
      S.cy = sy + ((e.clientY - r.top) / r.height) * sh;
      if (S.zoom === 1) { S.zoom = 4; $("zoom").value = "4"; }
      draw();
    });
    el.addEventListener("keydown", (e) => {
      const step = (S.W / S.zoom) / 8, d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (!d) return;
      e.preventDefault();
      S.cx = Math.max(0, Math.min(S.W, S.cx + d[0] * step));
      S.cy = Math.max(0, Math.min(S.H, S.cy + d[1] * step));
      draw();
    });
  }

  function controls() {
    const r = $("bytes");
    r.max = String(S.total);
    $("bytes-num").max = String(S.total);
    r.addEventListener("input", () => setBytes(Number(r.value)));
    // A byte is too small a step for the keys: arrows move 1/200 of the file (x10 with Shift), pages 1/20.
    r.addEventListener("keydown", (e) => {
      const fine = Math.max(1, Math.round(S.total / 200)) * (e.shiftKey ? 10 : 1);
      const by = { ArrowLeft: -fine, ArrowDown: -fine, ArrowRight: fine, ArrowUp: fine,
                   PageDown: -S.total / 20, PageUp: S.total / 20 }[e.key];
      if (by === undefined) return;
      e.preventDefault();
      setBytes(S.N + by);
    });
    $("bytes-num").addEventListener("change", () => setBytes(Number($("bytes-num").value) || 0));
    $("ends").replaceChildren(...S.table.snf.ends.map((end, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `L${i + 1}`;
      b.setAttribute("aria-label", `L${i + 1}: end of snf level ${i + 1}, ${fmtBytes(end)}`);
      b.onclick = () => setBytes(end);
      return b;
    }));
    const other = $("other");
    other.replaceChildren(...PANES.slice(1).filter(([k]) => k !== "jxl" || S.table.jxl).map(([k, label]) => new Option(label, k)));
    other.onchange = () => { S.other = other.value; draw(); };
    $("mode").onchange = () => {
      S.layout = $("mode").value;
      $("split").hidden = S.layout !== "split";
      $("side").hidden = S.layout === "split";
      $("other-label").hidden = $("split-label").hidden = S.layout !== "split";
      draw();
    };
    $("split-at").addEventListener("input", () => { S.split = Number($("split-at").value); draw(); });
    $("zoom").onchange = () => { S.zoom = Number($("zoom").value); draw(); };
    hookStage($("split"));
    const about = S.table.about || {};
    $("about").textContent = [about.snf, about.jpeg, about.webp, S.table.jxl ? about.jxl : `JPEG XL: not made here (${S.table.jxl_note})`,
      "PSNR: measured in this page, 8-bit RGB against the original."].filter(Boolean).join(" · ");
  }

  /** Called with each decoded snf level (compare-stream.js on the server, embedded pictures in the static page). */
  S.addLevel = (k, canvas, source = "embedded") => {
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    S.snfLevels.set(k, { canvas, psnr: psnr(ctx.getImageData(0, 0, S.W, S.H).data), t_ms: now(), source });
    const ends = S.table.snf.ends;
    if (S.follow) setBytes(ends[Math.min(k, ends.length) - 1], false);   // follow the stream until the user moves
    else { S.panes.snf = { label: "snf", ...snfPane(S.N) }; draw(); }
  };

  /** Streaming: a growing file's level ends as they become known (compare-stream.js). */
  S.setEnds = (ends) => { S.table.snf.ends = ends; };

  async function loadOriginal(url) {
    const p = await (async () => {
      const blob = url.startsWith("data:") ? await (await fetch(url)).blob() : new Blob([await bytesOf(url)]);
      return createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    })();
    const c = canvasOf(p.width, p.height), ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(p, 0, 0);
    S.orig = ctx.getImageData(0, 0, p.width, p.height).data;
  }

  async function main() {
    const embedded = $("compare-data").textContent.trim();
    const id = embedded ? "" : decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
    try {
      if (embedded) {
        S.table = JSON.parse(embedded);
      } else {
        const resp = await fetch(`/v1/assets/${encodeURIComponent(id)}/compare`);
        const body = await resp.json().catch(() => ({}));
        if (!resp.ok) {
          $("asset").textContent = id;
          fail(`${typeof body.detail === "string" ? body.detail : `the server answered ${resp.status}`}`);
          const a = document.createElement("a");
          a.href = `/view/${encodeURIComponent(id)}`;
          a.textContent = " Open it in the viewer instead.";
          $("problem").append(a);
          resolveTable(null);
          return;
        }
        S.table = body;
      }
      $("asset").textContent = S.table.id;
      document.title = `snf compare ${S.table.id}`;
      S.W = S.table.width;
      S.H = S.table.height;
      S.cx = S.W / 2;
      S.cy = S.H / 2;
      S.total = S.table.snf.bytes;
      // The pictures keep their aspect and fit the window's height (room left for the controls).
      $("split").style.maxWidth = `min(100%, calc(72vh * ${S.W / S.H}))`;
      await loadOriginal(S.table.original);
      controls();
      $("main").hidden = false;
      if (embedded) {
        S.follow = false;
        S.N = S.total;
        for (const lv of S.table.snf.levels) {
          const p = await picture(await (await fetch(lv.file)).blob());
          S.snfLevels.set(lv.level, { canvas: p.canvas, psnr: p.psnr, t_ms: now() });
        }
        setBytes(S.total, false);
      } else {
        setBytes(0, false);
      }
      resolveTable(S.table);
    } catch (e) {
      fail(`cannot show the comparison: ${e.message}`);
      resolveTable(null);
    }
  }

  main();
})();
