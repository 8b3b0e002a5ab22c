// WebGL2 renderer of the latent-grid field (format_spec.md section 9.4), on
// the WebGLRenderer's context. Per level: one draw per feature map (RGBA32F,
// four grids each) upsamples the level's new grids, then one draw runs the
// level's ReLU synthesis network on the features and adds its residual to the
// previous level's sum, a float texture, as numpy adds them (y += r, level by
// level); a last draw makes the 8-bit samples. The sum and feature maps of the
// last level drawn are kept, so the next level of a stream costs its own draws only.
//
// No filtering anywhere: R32F textures filter only with OES_texture_float_linear,
// which software WebGL may lack, and the spec's taps are not the GPU's anyway.
// Grids live in one R32F atlas read with texelFetch; the taps (source rows,
// columns and weights, exactly as render-grid-js.js's axisTaps computes them in
// float32) in an RGBA32F table; a level's weights in a uniform array (else a
// texture), four inputs per vec4, the bias after them. Products sum in another
// order than numpy's, so samples agree within one 8-bit step (section 9.4).

import { gridTaps } from "./render-grid-js.js";
import { Cancelled } from "./cancelled.js";

const VERT = `#version 300 es
in vec2 pos;
void main() { gl_Position = vec4(pos, 0.0, 1.0); }`;

const c4 = (n) => Math.ceil(n / 4);
const UNROLL_DOTS = 1500;   // a level with at most this many 4-wide dot products gets straight-line code

/** Texels per weight row: four inputs each (the widest of the level's layers), then the bias. */
const rowTexels = (fan, hidden) => Math.max(c4(fan), c4(hidden)) + 1;

/**
 * Fragment shader of one level: `nf` features in, `layers` ReLU layers of `hidden` units, `dOut`
 * outputs, added to the sum of the levels before. Weights come from a uniform array where it fits
 * (`uniforms`: quickest on software WebGL), else from a texture; small networks are unrolled
 * into straight-line code, wide ones loop.
 */
function fragSource(nf, hidden, layers, dOut, uniforms, loops = false) {
  const xyzw = "xyzw";
  const F4 = c4(nf), H4 = c4(hidden), HP = 4 * H4, TW = rowTexels(nf, hidden);
  const rows = layers * HP + 4;
  const unroll = !loops && (F4 + (layers - 1) * H4) * hidden + dOut * H4 <= UNROLL_DOTS;
  const W = uniforms ? `#define W(row, c) u_wv[(row) * ${TW} + (c)]\nuniform vec4 u_wv[${rows * TW}];`
    : "#define W(row, c) texelFetch(u_w, ivec2(c, row), 0)\nuniform sampler2D u_w;";
  // Feature maps hold four grids each; components past the last grid are zero, whatever the texture holds.
  const feats = [...Array(F4).keys()].map((j) => (4 * j + 4 <= nf ? `vec4 x${j} = texelFetch(u_f${j}, p, 0);`
    : `vec4 f${j} = texelFetch(u_f${j}, p, 0);
  vec4 x${j} = vec4(${[0, 1, 2, 3].map((q) => (4 * j + q < nf ? `f${j}.${xyzw[q]}` : "0.0")).join(", ")});`)).join("\n  ");
  let body;
  if (unroll) {
    const lines = [];
    let src = "x", n4 = F4;
    const row = (R, n) => `(${[...Array(n).keys()].map((c) => `dot(W(${R}, ${c}), ${src}${c})`).join(" + ")}) + W(${R}, ${n}).x`;
    for (let i = 0; i < layers; i++) {
      for (let j = 0; j < H4; j++) {
        lines.push(`vec4 h${i}_${j} = max(vec4(${[0, 1, 2, 3].map((q) =>
          (4 * j + q < hidden ? row(i * HP + 4 * j + q, n4) : "0.0")).join(",\n      ")}), 0.0);`);
      }
      src = `h${i}_`;
      n4 = H4;
    }
    lines.push(`vec4 r = vec4(${[0, 1, 2, 3].map((q) => (q < dOut ? row(layers * HP + q, H4) : "0.0")).join(",\n      ")});`);
    body = lines.join("\n  ");
  } else {
    const lines = [`vec4 x[${F4}] = vec4[${F4}](${[...Array(F4).keys()].map((j) => `x${j}`).join(", ")});`];
    let src = "x", n4 = F4;
    for (let i = 0; i < layers; i++) {
      lines.push(`vec4 h${i}[${H4}];
  for (int j = 0; j < ${H4}; j++) {
    vec4 z = vec4(0.0);
    for (int q = 0; q < 4; q++) {
      int R = ${i * HP} + 4 * j + q;
      float acc = 0.0;
      for (int c = 0; c < ${n4}; c++) acc += dot(W(R, c), ${src}[c]);
      z[q] = acc + W(R, ${n4}).x;
    }
    h${i}[j] = max(z, 0.0);
  }`);
      src = `h${i}`;
      n4 = H4;
    }
    lines.push(`vec4 r = vec4(0.0);
  for (int q = 0; q < ${dOut}; q++) {
    float acc = 0.0;
    for (int c = 0; c < ${H4}; c++) acc += dot(W(${layers * HP} + q, c), ${src}[c]);
    r[q] = acc + W(${layers * HP} + q, ${H4}).x;
  }`);
    body = lines.join("\n  ");
  }
  return `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
${[...Array(F4).keys()].map((j) => `uniform sampler2D u_f${j};`).join("\n")}   // feature maps: grids 4j..4j+3 at each pixel
uniform sampler2D u_prev;   // sum of the levels before (RGBA32F)
uniform int u_hasPrev;
// the level's weights: a row per unit (layer i from row i * ${HP}, outputs last),
// ${TW - 1} texels of four inputs, then the bias
${W}
out vec4 o;

void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ${feats}
  ${body}
  o = (u_hasPrev == 1 ? texelFetch(u_prev, p, 0) : vec4(0.0)) + r;
}`;
}

/** Up to four grids upsampled to the render's pixels (section 9.4), one per component of a feature map. */
export const FEATURE = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
uniform sampler2D u_lat;    // the grids, packed in an atlas (R32F)
uniform sampler2D u_taps;   // row 2g: column taps of grid g (i0, i1, t) per x; row 2g+1: row taps per y
uniform int u_g[4];         // the grid of each component (-1: none; that component is masked)
uniform ivec2 u_at[4];      // its origin in the atlas
out vec4 o;
float feature(int g, ivec2 at, ivec2 p) {
  vec4 tx = texelFetch(u_taps, ivec2(p.x, 2 * g), 0);
  vec4 ty = texelFetch(u_taps, ivec2(p.y, 2 * g + 1), 0);
  int x0 = at.x + int(tx.x), x1 = at.x + int(tx.y), y0 = at.y + int(ty.x), y1 = at.y + int(ty.y);
  float sy = 1.0 - ty.z, sx = 1.0 - tx.z;
  // rows first, then columns
  float r0 = texelFetch(u_lat, ivec2(x0, y0), 0).r * sy + texelFetch(u_lat, ivec2(x0, y1), 0).r * ty.z;
  float r1 = texelFetch(u_lat, ivec2(x1, y0), 0).r * sy + texelFetch(u_lat, ivec2(x1, y1), 0).r * ty.z;
  return r0 * sx + r1 * tx.z;
}
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  vec4 v = vec4(0.0);
  for (int q = 0; q < 4; q++) if (u_g[q] >= 0) v[q] = feature(u_g[q], u_at[q], p);
  o = v;
}`;

/**
 * The sum to 8-bit RGBA, as snf-image.js's toRGBA: round(clip((v - lo) * (top / (hi - lo)), 0, top))
 * in float32, half to even, then down to 8 bits; one channel grey, two grey and alpha.
 */
const SAMPLES = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
uniform sampler2D u_sum;
uniform float u_lo, u_k, u_top;
uniform int u_shift, u_dout;
out vec4 o;
float s(float v) { return float(int(roundEven(clamp((v - u_lo) * u_k, 0.0, u_top))) >> u_shift) / 255.0; }
void main() {
  vec4 v = texelFetch(u_sum, ivec2(gl_FragCoord.xy), 0);
  vec4 q = vec4(s(v.x), s(v.y), s(v.z), s(v.w));
  o = u_dout == 1 ? vec4(q.xxx, 1.0) : u_dout == 2 ? q.xxxy : u_dout == 3 ? vec4(q.xyz, 1.0) : q;
}`;

export class GridWebGL {
  /** `base`: the WebGLRenderer whose context (and its checks: WebGL2, float targets) this shares. */
  constructor(base) {
    this.base = base;
    const gl = (this.gl = base.gl);
    this.name = "webgl2";
    this.programs = new Map();
    this.parallel = gl.getExtension("KHR_parallel_shader_compile");  // compile without blocking the page
    this.maxUniforms = gl.getParameter(gl.MAX_FRAGMENT_UNIFORM_VECTORS);
    this.maxUnits = gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS);
    this.checked = new Set();  // render-target formats whose framebuffer was found complete once
    // Tests set these to take the paths wide networks take: weights in a texture, loops.
    this.force = { textureWeights: false, loops: false };
    this.kept = null;  // {w, h, k, grids: the latent arrays it was made from, tex}: the last sum drawn
  }

  /**
   * Same contract as the other renderers: Float32Array of width*height*dOut values, pixel-major;
   * with `opts.rgba` ({range, bitDepth}) the samples are made on the GPU too and the answer is
   * RGBA bytes (Uint8ClampedArray), as the render workers give. `net` is render-grid-js.js's
   * gridNet; `opts`: {onProgress, cancelled (checked between levels), rgba}.
   */
  async render(net, width, height, opts = {}) {
    const gl = this.gl, maxTex = this.base.maxTex;
    if (Math.max(width, height) > maxTex) throw new Error(`size ${width}x${height} is beyond this GPU's texture limits`);
    if (c4(net.grids.length) + 2 > this.maxUnits) throw new Error("more grids than this GPU has texture units for");
    const owned = [];
    const own = (t) => { owned.push(t); return t; };
    let from = 0, prev = null, feats = [], kept = this.kept;
    if (kept && kept.w === width && kept.h === height && kept.k <= net.k && kept.grids.every((g, i) => g === net.grids[i].values)) {
      from = kept.k;  // draw only the levels after the kept one, on its sum and feature maps
      prev = kept.tex;
      feats = kept.feats.slice();
    } else {
      this.forget();
      kept = null;
    }
    const isKept = (t) => kept && (t === kept.tex || kept.feats.includes(t));
    // Every program starts compiling now (in parallel where the browser can).
    const featureProgram = this.fixedProgram("feature", FEATURE, ["u_lat", "u_taps", "u_g[0]", "u_at[0]"]);
    const programs = net.syn.slice(from).map((s) => this.program(s, net.layers, net.dOut));
    for (const p of [featureProgram, ...programs]) p.catch(() => {});
    const fbo = own(gl.createFramebuffer());
    let done = false;
    try {
      // The grids of the levels to draw (none when the kept sum is the level asked for).
      const first = from === 0 ? 0 : net.syn[from - 1].fan, fresh = net.grids.slice(first);
      const atlas = fresh.length ? this.atlas(fresh, maxTex) : null;
      const taps = fresh.length ? own(this.taps(fresh, width, height)) : null;
      if (atlas) own(atlas.tex);
      for (let j = from; j < net.k; j++) {
        const s = net.syn[j];
        const fprog = await featureProgram;
        if (opts.cancelled && opts.cancelled()) throw new Cancelled();
        // This level's new grids into their components of the feature maps (four grids a map),
        // one draw per map.
        const g0 = j === 0 ? 0 : net.syn[j - 1].fan;
        for (let m = g0 >> 2; m <= (s.fan - 1) >> 2; m++) {
          if (!feats[m]) feats[m] = this.target(gl.RGBA32F, width, height);
          const comps = [0, 1, 2, 3].map((q) => 4 * m + q).map((g) => (g >= g0 && g < s.fan ? g - first : -1));
          this.attach(fbo, feats[m], gl.RGBA32F);
          gl.colorMask(...comps.map((g) => g >= 0));
          gl.useProgram(fprog.program);
          bind(gl, 0, atlas.tex, fprog.loc.u_lat);
          bind(gl, 1, taps, fprog.loc.u_taps);
          gl.uniform1iv(fprog.loc.u_g, comps);
          gl.uniform2iv(fprog.loc.u_at, comps.flatMap((g) => (g >= 0 ? [atlas.offsets[2 * g], atlas.offsets[2 * g + 1]] : [0, 0])));
          this.draw(width, height);
        }
        gl.colorMask(true, true, true, true);
        const prog = await programs[j - from];
        if (opts.cancelled && opts.cancelled()) throw new Cancelled();
        const dst = this.target(gl.RGBA32F, width, height);
        if (prev && !isKept(prev)) owned.push(prev);
        const src = prev;
        prev = dst;  // from here on, deleted with the render if it fails
        this.attach(fbo, dst, gl.RGBA32F);
        const weights = this.weights(s, net.layers, net.dOut);
        // (made before any binding below: making a texture rebinds the active unit)
        const wTex = prog.uniforms ? null : own(this.weightTexture(weights));
        gl.useProgram(prog.program);
        for (let i = 0; i < c4(s.fan); i++) bind(gl, i, feats[i], prog.loc[`u_f${i}`]);
        bind(gl, c4(s.fan), src, prog.loc.u_prev);
        if (prog.uniforms) gl.uniform4fv(prog.loc.u_wv, weights.data);
        else bind(gl, c4(s.fan) + 1, wTex, prog.loc.u_w);
        gl.uniform1i(prog.loc.u_hasPrev, src ? 1 : 0);
        this.draw(width, height);
        await gpuFinished(gl);
        if (opts.onProgress) opts.onProgress((j + 1 - from) / (net.k - from + 1));
      }
      const values = opts.rgba ? await this.samples(fbo, prev, width, height, net.dOut, opts.rgba, own)
        : this.floats(fbo, prev, width, height, net.dOut);
      const err = gl.getError();
      if (err !== gl.NO_ERROR || gl.isContextLost()) throw new Error(`WebGL error 0x${err.toString(16)}`);
      if (!kept || prev !== kept.tex) {
        if (kept) gl.deleteTexture(kept.tex);  // its feature maps live on in `feats`
        this.kept = { w: width, h: height, k: net.k, grids: net.grids.map((g) => g.values), tex: prev, feats };
      }
      done = true;
      return values;
    } finally {
      gl.colorMask(true, true, true, true);
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      for (const t of owned) (t instanceof WebGLFramebuffer ? gl.deleteFramebuffer(t) : gl.deleteTexture(t));
      if (!done) {  // failed or cancelled: what this render made goes; the kept sum stays usable
        if (prev && !isKept(prev)) gl.deleteTexture(prev);
        for (const t of feats) if (t && !isKept(t)) gl.deleteTexture(t);
      }
    }
  }

  /** Drop the kept sum and feature maps (another size, file or lower level is wanted). */
  forget() {
    if (!this.kept) return;
    this.gl.deleteTexture(this.kept.tex);
    for (const t of this.kept.feats) this.gl.deleteTexture(t);
    this.kept = null;
  }

  /** Draw into `tex`; the first target of each `format` is checked (each check waits for the GPU). */
  attach(fbo, tex, format = null) {
    const gl = this.gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    if (format && !this.checked.has(format)) {
      const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
      if (status !== gl.FRAMEBUFFER_COMPLETE) throw new Error(`framebuffer incomplete (0x${status.toString(16)})`);
      this.checked.add(format);
    }
  }

  draw(width, height) {
    const gl = this.gl;
    gl.viewport(0, 0, width, height);
    gl.bindVertexArray(this.base.quad);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    gl.bindVertexArray(null);
  }

  /** The sum's field values, dOut per pixel (row 0 of the texture is the picture's top row). */
  floats(fbo, sum, width, height, dOut) {
    const gl = this.gl;
    this.attach(fbo, sum);
    const px = new Float32Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.FLOAT, px);
    if (dOut === 4) return px;
    const values = new Float32Array(width * height * dOut);
    for (let i = 0, n = width * height; i < n; i++) for (let c = 0; c < dOut; c++) values[i * dOut + c] = px[4 * i + c];
    return values;
  }

  /** The sum as 8-bit RGBA, made by the SAMPLES pass (one more draw, a quarter of the bytes back). */
  async samples(fbo, sum, width, height, dOut, { range, bitDepth = 8 }, own) {
    const gl = this.gl, [lo, hi] = range, top = 2 ** bitDepth - 1;
    const prog = await this.samplesProgram();
    const dst = own(this.target(gl.RGBA8, width, height));
    this.attach(fbo, dst, gl.RGBA8);
    gl.useProgram(prog.program);
    bind(gl, 0, sum, prog.loc.u_sum);
    gl.uniform1f(prog.loc.u_lo, lo);              // as float32: fround(lo), as toRGBA
    gl.uniform1f(prog.loc.u_k, top / (hi - lo));  // fround(top / (hi - lo))
    gl.uniform1f(prog.loc.u_top, top);
    gl.uniform1i(prog.loc.u_shift, bitDepth - 8);
    gl.uniform1i(prog.loc.u_dout, dOut);
    this.draw(width, height);
    await gpuFinished(gl);
    const px = new Uint8ClampedArray(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, px);
    return px;
  }

  /** Every grid in one R32F texture, in columns of stacked grids within the texture limit. */
  atlas(grids, maxTex) {
    const gl = this.gl, offsets = new Int32Array(2 * grids.length);
    let x = 0, y = 0, colW = 0, width = 0, height = 0;
    grids.forEach((g, i) => {
      if (g.rows > maxTex || g.cols > maxTex) throw new Error(`a ${g.cols}x${g.rows} grid is beyond this GPU's texture limits`);
      if (y + g.rows > maxTex) { x += colW; y = 0; colW = 0; }
      offsets[2 * i] = x;
      offsets[2 * i + 1] = y;
      y += g.rows;
      colW = Math.max(colW, g.cols);
      width = Math.max(width, x + colW);
      height = Math.max(height, y);
    });
    if (width > maxTex) throw new Error("the grids do not fit one texture on this GPU");
    const t = this.target(gl.R32F, width, height);
    gl.bindTexture(gl.TEXTURE_2D, t);
    grids.forEach((g, i) => gl.texSubImage2D(gl.TEXTURE_2D, 0, offsets[2 * i], offsets[2 * i + 1], g.cols, g.rows, gl.RED, gl.FLOAT, g.values));
    gl.bindTexture(gl.TEXTURE_2D, null);
    return { tex: t, offsets };
  }

  /** Row 2g: grid g's column taps for each x; row 2g+1: its row taps for each y (i0, i1, t, 0). */
  taps(grids, width, height) {
    const gl = this.gl, n = Math.max(width, height), all = gridTaps({ grids }, width, height);
    const data = new Float32Array(n * 4 * 2 * all.length);
    all.forEach(({ x, y }, g) => {
      for (const [row, a, len] of [[2 * g, x, width], [2 * g + 1, y, height]]) {
        for (let i = 0; i < len; i++) {
          const at = (row * n + i) * 4;
          data[at] = a.i0[i];
          data[at + 1] = a.i1[i];
          data[at + 2] = a.t[i];
        }
      }
    });
    const t = texture(gl);
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, n, 2 * all.length, 0, gl.RGBA, gl.FLOAT, data);
    gl.bindTexture(gl.TEXTURE_2D, null);
    return t;
  }

  /** One level's weights, rows of rowTexels RGBA texels: layer i's units from row i * 4 ceil(H/4), outputs after. */
  weights({ fan, hidden, ps }, layers, dOut) {
    const HP = 4 * c4(hidden), texW = rowTexels(fan, hidden), rows = layers * HP + 4;
    const data = new Float32Array(texW * 4 * rows);
    const put = (row0, W, B, nOut, nIn) => {
      for (let r = 0; r < nOut; r++) {
        data.set(W.subarray(r * nIn, (r + 1) * nIn), (row0 + r) * texW * 4);
        data[((row0 + r) * texW + c4(nIn)) * 4] = B[r];
      }
    };
    for (let i = 0; i < layers; i++) put(i * HP, ps[2 * i], ps[2 * i + 1], hidden, i === 0 ? fan : hidden);
    put(layers * HP, ps[2 * layers], ps[2 * layers + 1], dOut, hidden);
    return { data, texW, rows };
  }

  weightTexture({ data, texW, rows }) {
    const gl = this.gl, t = texture(gl);
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, texW, rows, 0, gl.RGBA, gl.FLOAT, data);
    gl.bindTexture(gl.TEXTURE_2D, null);
    return t;
  }

  /** An immutable texture of this format and size (a render target or the atlas). */
  target(format, width, height) {
    const gl = this.gl, t = texture(gl);
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texStorage2D(gl.TEXTURE_2D, 1, format, width, height);
    gl.bindTexture(gl.TEXTURE_2D, null);
    return t;
  }

  /** Promise of a level's program: {program, loc, uniforms (weights in a uniform array, not a texture)}. */
  program({ fan, hidden }, layers, dOut) {
    const vectors = (layers * 4 * c4(hidden) + 4) * rowTexels(fan, hidden);
    const uniforms = !this.force.textureWeights && vectors + 16 <= this.maxUniforms;
    const loops = this.force.loops;
    const key = `${fan}/${hidden}/${layers}/${dOut}/${uniforms}/${loops}`;
    if (!this.programs.has(key)) {
      const maps = Array.from({ length: c4(fan) }, (_, i) => `u_f${i}`);
      const p = link(this.gl, fragSource(fan, hidden, layers, dOut, uniforms, loops), this.parallel,
        [...maps, "u_prev", "u_hasPrev", "u_w", "u_wv[0]"]).then((r) => ({ ...r, uniforms }));
      this.programs.set(key, p);
      p.catch(() => this.programs.delete(key));
    }
    return this.programs.get(key);
  }

  samplesProgram() {
    return this.fixedProgram("samples", SAMPLES, ["u_sum", "u_lo", "u_k", "u_top", "u_shift", "u_dout"]);
  }

  fixedProgram(key, source, names) {
    if (!this.programs.has(key)) {
      const p = link(this.gl, source, this.parallel, names);
      this.programs.set(key, p);
      p.catch(() => this.programs.delete(key));
    }
    return this.programs.get(key);
  }
}

function texture(gl) {
  const t = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, t);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
  for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
  gl.bindTexture(gl.TEXTURE_2D, null);
  return t;
}

export function bind(gl, unit, tex, loc) {
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.uniform1i(loc, unit);
}

/** Wait for the GPU without blocking the page (as render-webgl.js does). */
export async function gpuFinished(gl) {
  const sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
  gl.flush();
  try {
    while (gl.clientWaitSync(sync, 0, 0) === gl.TIMEOUT_EXPIRED) await new Promise((r) => setTimeout(r, 4));
  } finally {
    gl.deleteSync(sync);
  }
}

/**
 * Compile and link without blocking the page on it (a software compiler takes tens of
 * milliseconds per program): with KHR_parallel_shader_compile the page polls for the result;
 * without it, it waits on a fence behind the link, so the status query finds it done.
 */
async function link(gl, fs, parallel, names) {
  const program = gl.createProgram();
  const shaders = [[gl.VERTEX_SHADER, VERT], [gl.FRAGMENT_SHADER, fs]].map(([type, src]) => {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    gl.attachShader(program, sh);
    return sh;
  });
  gl.bindAttribLocation(program, 0, "pos");
  gl.linkProgram(program);
  if (parallel) {
    while (!gl.getProgramParameter(program, parallel.COMPLETION_STATUS_KHR)) await new Promise((r) => setTimeout(r, 4));
  } else {
    await gpuFinished(gl);  // the GPU process has compiled it by then: the status query below need not wait
  }
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    const log = shaders.map((sh) => gl.getShaderInfoLog(sh)).join(" ").trim() || gl.getProgramInfoLog(program);
    throw new Error(`grid shader: ${log}`);
  }
  const loc = {};
  for (const name of names) loc[name.replace("[0]", "")] = gl.getUniformLocation(program, name);
  return { program, loc };
}
