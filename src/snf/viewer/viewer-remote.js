// Videos and shapes in the viewer, from the server's render of each level (no GPU needed):
// - VideoPlayer plays a level's frames (the server's strip PNG: up to 16 of the level's frames
//   side by side) with play / pause, a frame slider, and the clip's frame rate from the file's
//   header; a newer level replaces the one playing, at the same frame and play state.
// - ShapeView draws an SDF level's surface (the server's marching-cubes PLY) on a 2D canvas,
//   flat-shaded, painter's order, and turns it by drag, arrow keys or its Turn button; the
//   Chamfer distance the encoder measured for the level (header `levels[k].chamfer`) is shown.

function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function button(label, onClick) {
  const b = el("button", { type: "button" }, label);
  b.style.minWidth = "44px";
  b.style.minHeight = "44px";
  b.onclick = onClick;
  return b;
}

export class VideoPlayer {
  /** `header`: the file's header (size [w, h, t], fps); `arch`: for temporal growth. */
  constructor(header, arch) {
    this.header = header;
    this.arch = arch;
    this.fps = header.fps || null;
    this.root = el("div", { id: "remote", class: "remote-video" });
    this.canvas = el("canvas", { role: "img", "aria-label": "video not loaded yet" });
    this.canvas.style.maxWidth = "100%";
    this.canvas.style.imageRendering = "pixelated";
    this.playBtn = button("Pause", () => this.toggle());
    this.slider = el("input", { type: "range", min: "0", max: "0", value: "0", step: "1", "aria-label": "frame" });
    this.slider.style.minHeight = "44px";
    this.slider.oninput = () => { this.frame = Number(this.slider.value); this.pause(); };  // pause() draws it
    this.label = el("span", { "aria-live": "off" });
    this.label.style.fontVariantNumeric = "tabular-nums";
    const bar = el("div", { class: "video-controls", role: "group", "aria-label": "video controls" });
    bar.style.display = "flex";
    bar.style.gap = "8px";
    bar.style.alignItems = "center";
    bar.append(this.playBtn, this.slider, this.label);
    this.root.append(this.canvas, bar);
    this.root.style.display = "flex";
    this.root.style.flexDirection = "column";
    this.root.style.alignItems = "center";
    this.root.style.width = "100%";
    this.playing = true;
    this.frame = 0;
    this.timer = 0;
    this.state = { level: null, frames: 0, drawn: 0, playing: true, fps: this.fps, frame: 0 };
  }

  /** Load level k's strip; resolves once it is on screen. */
  async show(url, k) {
    const img = new Image();
    img.src = url;
    await img.decode();
    const [w, h, t] = this.header.size;
    const covered = this.arch.grow === "temporal" ? Math.max(1, Math.floor((k * t) / this.arch.levels)) : t;
    this.img = img;
    this.level = k;
    this.n = Math.max(1, Math.round(img.naturalWidth / w));
    this.w = w;
    this.h = h;
    // A strip holds up to 16 of the `covered` frames: each shown as long as the frames it stands for.
    this.rate = ((this.fps || 8) * this.n) / covered;
    this.canvas.width = w;
    this.canvas.height = h;
    // Shown large (pixels kept sharp): as wide as the stage allows, within 60% of the window's height.
    this.canvas.style.width = `min(100%, ${Math.max(w, 8 * w)}px, calc(60vh * ${w / h}))`;
    this.slider.max = String(this.n - 1);
    this.frame = Math.min(this.frame, this.n - 1);
    Object.assign(this.state, { level: k, frames: this.n, fps: this.fps });
    this.draw();
    if (this.playing) this.play();
  }

  draw() {
    if (!this.img) return;
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.w, this.h);
    ctx.drawImage(this.img, this.frame * this.w, 0, this.w, this.h, 0, 0, this.w, this.h);
    this.slider.value = String(this.frame);
    const fps = this.fps ? `${this.fps} fps (from the file)` : "8 fps (the file gives no rate)";
    this.label.textContent = `frame ${this.frame + 1} of ${this.n} · level ${this.level} · ${fps}`;
    this.canvas.setAttribute("aria-label", `video, level ${this.level}, frame ${this.frame + 1} of ${this.n}, ${this.playing ? "playing" : "paused"}`);
    this.state.drawn += 1;
    this.state.frame = this.frame;
  }

  play() {
    clearInterval(this.timer);
    this.playing = this.state.playing = true;
    this.playBtn.textContent = "Pause";
    this.playBtn.setAttribute("aria-label", "pause the video");
    this.timer = setInterval(() => { this.frame = (this.frame + 1) % this.n; this.draw(); },
      1000 / Math.min(60, Math.max(1, this.rate)));
  }

  pause() {
    clearInterval(this.timer);
    this.playing = this.state.playing = false;
    this.playBtn.textContent = "Play";
    this.playBtn.setAttribute("aria-label", "play the video");
    this.draw();
  }

  toggle() { return this.playing ? this.pause() : this.play(); }

  stop() { clearInterval(this.timer); }
}

// ------------------------------------------------------------------ PLY and the shape view

const SCALARS = { char: "Int8", int8: "Int8", uchar: "Uint8", uint8: "Uint8", short: "Int16", int16: "Int16",
  ushort: "Uint16", uint16: "Uint16", int: "Int32", int32: "Int32", uint: "Uint32", uint32: "Uint32",
  float: "Float32", float32: "Float32", double: "Float64", float64: "Float64" };
const SIZES = { Int8: 1, Uint8: 1, Int16: 2, Uint16: 2, Int32: 4, Uint32: 4, Float32: 4, Float64: 8 };

/** {vertices: Float32Array (x, y, z per vertex), faces: Uint32Array (triangles)} from PLY bytes
 * (binary little-endian or ASCII; polygons are fanned into triangles). */
export function parsePly(buffer) {
  const bytes = new Uint8Array(buffer);
  const head = new TextDecoder().decode(bytes.subarray(0, Math.min(bytes.length, 4096)));
  const endAt = head.indexOf("end_header");
  if (!head.startsWith("ply") || endAt < 0) throw new Error("not a PLY file");
  const headerLen = head.indexOf("\n", endAt) + 1;
  const elements = [];
  let format = "";
  for (const line of head.slice(0, endAt).split(/\r?\n/)) {
    const p = line.trim().split(/\s+/);
    if (p[0] === "format") format = p[1];
    else if (p[0] === "element") elements.push({ name: p[1], count: Number(p[2]), props: [] });
    else if (p[0] === "property") {
      const e = elements[elements.length - 1];
      if (p[1] === "list") e.props.push({ list: true, countType: SCALARS[p[2]], type: SCALARS[p[3]], name: p[4] });
      else e.props.push({ type: SCALARS[p[1]], name: p[2] });
    }
  }
  const vert = elements.find((e) => e.name === "vertex"), face = elements.find((e) => e.name === "face");
  if (!vert) throw new Error("PLY without vertices");
  const vertices = new Float32Array(vert.count * 3), tris = [];
  const xyz = ["x", "y", "z"].map((n) => vert.props.findIndex((p) => p.name === n));
  if (format === "ascii") {
    const words = new TextDecoder().decode(bytes.subarray(headerLen)).trim().split(/\s+/).map(Number);
    let i = 0;
    for (const e of elements) {
      for (let r = 0; r < e.count; r++) {
        const vals = [];
        for (const p of e.props) {
          if (p.list) { const n = words[i++]; vals.push(words.slice(i, i + n)); i += n; } else vals.push(words[i++]);
        }
        if (e === vert) for (let a = 0; a < 3; a++) vertices[3 * r + a] = vals[xyz[a]];
        if (e === face) { const f = vals[0]; for (let j = 1; j + 1 < f.length; j++) tris.push(f[0], f[j], f[j + 1]); }
      }
    }
  } else if (format === "binary_little_endian") {
    const dv = new DataView(buffer, bytes.byteOffset + headerLen);
    let o = 0;
    const read = (t) => { const v = dv[`get${t}`](o, true); o += SIZES[t]; return v; };
    for (const e of elements) {
      for (let r = 0; r < e.count; r++) {
        const vals = [];
        for (const p of e.props) {
          if (p.list) { const n = read(p.countType); const l = []; for (let j = 0; j < n; j++) l.push(read(p.type)); vals.push(l); } else vals.push(read(p.type));
        }
        if (e === vert) for (let a = 0; a < 3; a++) vertices[3 * r + a] = vals[xyz[a]];
        if (e === face) { const f = vals[0]; for (let j = 1; j + 1 < f.length; j++) tris.push(f[0], f[j], f[j + 1]); }
      }
    }
  } else {
    throw new Error(`PLY format ${format} is not read here`);
  }
  return { vertices, faces: Uint32Array.from(tris) };
}

export class ShapeView {
  constructor(header) {
    this.header = header;
    this.root = el("div", { id: "remote", class: "remote-shape" });
    this.root.style.display = "flex";
    this.root.style.flexDirection = "column";
    this.root.style.alignItems = "center";
    this.canvas = el("canvas", { width: "480", height: "480", tabindex: "0", role: "img",
      "aria-label": "surface not loaded yet" });
    this.canvas.style.maxWidth = "100%";
    this.canvas.style.maxHeight = "60vh";
    this.canvas.style.touchAction = "none";
    this.info = el("p", { "aria-live": "polite" });
    this.info.style.fontVariantNumeric = "tabular-nums";
    this.info.style.margin = "4px 0";
    this.turnBtn = button("Turn", () => this.toggleTurn());
    this.turnBtn.setAttribute("aria-pressed", "false");
    const help = el("span", {}, "Drag the surface or focus it and use the arrow keys to turn it.");
    help.style.opacity = "0.85";
    const bar = el("div", { role: "group", "aria-label": "shape controls" });
    bar.style.display = "flex";
    bar.style.gap = "8px";
    bar.style.alignItems = "center";
    bar.append(this.turnBtn, help);
    this.root.append(this.canvas, this.info, bar);
    this.yaw = 0.6;
    this.pitch = -0.35;
    this.mesh = null;
    this.state = { level: null, faces: 0, yaw: this.yaw, pitch: this.pitch, draws: 0, chamfer: null };
    this.hook();
  }

  hook() {
    let drag = null;
    this.canvas.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; this.canvas.setPointerCapture(e.pointerId); });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      this.turn((e.clientX - drag[0]) * 0.01, (e.clientY - drag[1]) * 0.01);
      drag = [e.clientX, e.clientY];
    });
    this.canvas.addEventListener("pointerup", () => { drag = null; });
    this.canvas.addEventListener("keydown", (e) => {
      const d = { ArrowLeft: [-0.2, 0], ArrowRight: [0.2, 0], ArrowUp: [0, -0.2], ArrowDown: [0, 0.2] }[e.key];
      if (!d) return;
      e.preventDefault();
      e.stopPropagation();   // the viewer's arrow keys pick levels; on the surface they turn it
      this.turn(...d);
    });
  }

  turn(dy, dp) {
    this.yaw += dy;
    this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + dp));
    this.state.yaw = this.yaw;
    this.state.pitch = this.pitch;
    this.draw();
  }

  toggleTurn() {
    if (this.spin) {
      clearInterval(this.spin);
      this.spin = 0;
    } else {
      this.spin = setInterval(() => this.turn(0.05, 0), 50);
    }
    this.turnBtn.setAttribute("aria-pressed", String(!!this.spin));
  }

  async show(url, k) {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`level ${k}: the server answered ${resp.status}`);
    const mesh = parsePly(await resp.arrayBuffer());
    // Centre and scale once per level: the surface fills the canvas whatever its units.
    const v = mesh.vertices, lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < v.length; i += 3) for (let a = 0; a < 3; a++) { lo[a] = Math.min(lo[a], v[i + a]); hi[a] = Math.max(hi[a], v[i + a]); }
    mesh.centre = lo.map((l, a) => (l + hi[a]) / 2);
    mesh.radius = Math.max(1e-9, ...hi.map((h, a) => (h - lo[a]) / 2)) * Math.sqrt(3);
    this.mesh = mesh;
    this.level = k;
    const meta = (this.header.levels || [])[k - 1] || {};
    const chamfer = typeof meta.chamfer === "number" ? meta.chamfer : null;
    Object.assign(this.state, { level: k, faces: mesh.faces.length / 3, chamfer });
    this.info.textContent = `level ${k} surface: ${(mesh.faces.length / 3).toLocaleString("en")} triangles · `
      + (chamfer !== null ? `Chamfer distance ${chamfer.toPrecision(4)} (measured at encode, from the file)` : "no Chamfer figure in the file");
    this.draw();
  }

  /** Flat-shaded triangles, far to near (painter's order), light from the viewer's upper left. */
  draw() {
    const m = this.mesh, c = this.canvas, ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    if (!m) return;
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    const v = m.vertices, n = v.length / 3, P = new Float32Array(n * 3), s = (0.48 * c.width) / m.radius;
    for (let i = 0; i < n; i++) {
      const x = v[3 * i] - m.centre[0], y = v[3 * i + 1] - m.centre[1], z = v[3 * i + 2] - m.centre[2];
      const x1 = cy * x + sy * z, z1 = -sy * x + cy * z;          // turn about the vertical axis
      const y2 = cp * y - sp * z1, z2 = sp * y + cp * z1;         // then tilt
      P[3 * i] = c.width / 2 + s * x1;
      P[3 * i + 1] = c.height / 2 - s * y2;
      P[3 * i + 2] = z2;
    }
    const f = m.faces, nf = f.length / 3, order = new Uint32Array(nf), depth = new Float32Array(nf);
    for (let t = 0; t < nf; t++) { order[t] = t; depth[t] = P[3 * f[3 * t] + 2] + P[3 * f[3 * t + 1] + 2] + P[3 * f[3 * t + 2] + 2]; }
    order.sort((a, b) => depth[a] - depth[b]);
    const L = [-0.4, 0.5, 0.77];
    for (const t of order) {
      const a = 3 * f[3 * t], b = 3 * f[3 * t + 1], d = 3 * f[3 * t + 2];
      const ux = P[b] - P[a], uy = P[b + 1] - P[a + 1], uz = P[b + 2] - P[a + 2];
      const wx = P[d] - P[a], wy = P[d + 1] - P[a + 1], wz = P[d + 2] - P[a + 2];
      // normal in screen space (y down): flip y to light in a right-handed frame
      let nx = -(uy * wz - uz * wy), ny = uz * wx - ux * wz, nz = -(ux * wy - uy * wx);
      const len = Math.hypot(nx, ny, nz) || 1;
      nx /= len; ny /= len; nz /= len;
      const lit = Math.abs(nx * L[0] + ny * L[1] + nz * L[2]);
      const g = Math.round(40 + 200 * lit);
      ctx.fillStyle = `rgb(${g},${Math.round(g * 0.93)},${Math.round(g * 0.8)})`;
      ctx.beginPath();
      ctx.moveTo(P[a], P[a + 1]);
      ctx.lineTo(P[b], P[b + 1]);
      ctx.lineTo(P[d], P[d + 1]);
      ctx.closePath();
      ctx.fill();
    }
    this.state.draws += 1;
    this.canvas.setAttribute("aria-label", `surface of level ${this.level}, turned ${Math.round((this.yaw * 180) / Math.PI) % 360} degrees`);
  }

  stop() { clearInterval(this.spin); }
}
