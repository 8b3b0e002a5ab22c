// WebGL2 renderer of the latent-grid field (format_spec.md section 9.4), on
// the WebGLRenderer's context. One draw per level: its fragment shader samples
// every grid the level reads, runs the level's ReLU synthesis network and adds
// its residual to the previous level's sum, a float texture, as numpy adds
// them (y += r, level by level). The sum of the last level drawn is kept, so
// the next level of a stream costs one draw, not all of them again.
//
// No filtering anywhere: R32F textures filter only with OES_texture_float_linear,
// which software WebGL may lack, and the spec's taps are not the GPU's anyway.
// Grids live in one R32F atlas read with texelFetch; the taps (source rows,
// columns and weights, exactly as snf-grid's axisTaps computes them in float32)
// in an RGBA32F table; weights in an RGBA32F texture, four inputs per texel,
// the bias after them. Products sum in another order than numpy's, so samples
// agree within one 8-bit step (section 9.4).

import { gridTaps } from "./render-grid-js.js";
import { Cancelled } from "./cancelled.js";

const VERT = `#version 300 es
in vec2 pos;
void main() { gl_Position = vec4(pos, 0.0, 1.0); }`;

const c4 = (n) => Math.ceil(n / 4);

/** Shader of one level: NF features in, L hidden layers of H units, DOUT outputs. */
function fragSource(nf, hidden, layers, dOut) {
  const F4 = c4(nf), H4 = c4(hidden), HP = 4 * H4;
  const feats = [...Array(nf).keys()].map((g) => `x[${g >> 2}].${"xyzw"[g & 3]} = feature(${g}, p);`).join("\n  ");
  const layer = (i) => {
    const src = i === 0 ? "x" : `h${i - 1}`, n4 = i === 0 ? F4 : H4;
    return `vec4 h${i}[${H4}];
  for (int r = 0; r < ${H4}; r++) {
    vec4 z;
    ${[0, 1, 2, 3].map((q) => `z.${"xyzw"[q]} = rowDot(${i * HP} + 4 * r + ${q}, ${src}, ${n4});`).join("\n    ")}
    h${i}[r] = max(z, 0.0);
  }`;
  };
  // rowDot over a fixed-size array: one function per input width (GLSL arrays carry their size).
  const rowDot = (n4) => `float rowDot(int row, vec4 a[${n4}], int n4) {
  float acc = 0.0;
  for (int c = 0; c < ${n4}; c++) acc += dot(texelFetch(u_w, ivec2(c, row), 0), a[c]);
  return acc + texelFetch(u_w, ivec2(${n4}, row), 0).x;
}`;
  const dots = F4 === H4 ? [rowDot(F4)] : [rowDot(F4), rowDot(H4)];
  const outs = [0, 1, 2, 3].map((q) => (q < dOut ? `rowDot(${layers * HP + q}, h${layers - 1}, ${H4})` : "0.0"));
  return `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
uniform sampler2D u_lat;    // every grid, packed in an atlas (R32F)
uniform sampler2D u_taps;   // row 2g: column taps of grid g (i0, i1, t) per x; row 2g+1: row taps per y
uniform sampler2D u_w;      // the level's weights: a row per unit, 4 inputs per texel, then the bias
uniform sampler2D u_prev;   // sum of the levels before (RGBA32F)
uniform int u_hasPrev;
uniform ivec2 u_off[${nf}]; // atlas origin of each grid
out vec4 o;

float feature(int g, ivec2 p) {
  vec4 tx = texelFetch(u_taps, ivec2(p.x, 2 * g), 0);
  vec4 ty = texelFetch(u_taps, ivec2(p.y, 2 * g + 1), 0);
  ivec2 at = u_off[g];
  int x0 = at.x + int(tx.x), x1 = at.x + int(tx.y), y0 = at.y + int(ty.x), y1 = at.y + int(ty.y);
  float sy = 1.0 - ty.z, sx = 1.0 - tx.z;
  // rows first, then columns (section 9.4)
  float r0 = texelFetch(u_lat, ivec2(x0, y0), 0).r * sy + texelFetch(u_lat, ivec2(x0, y1), 0).r * ty.z;
  float r1 = texelFetch(u_lat, ivec2(x1, y0), 0).r * sy + texelFetch(u_lat, ivec2(x1, y1), 0).r * ty.z;
  return r0 * sx + r1 * tx.z;
}

${dots.join("\n\n")}

void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  vec4 x[${F4}];
  for (int c = 0; c < ${F4}; c++) x[c] = vec4(0.0);
  ${feats}
  ${[...Array(layers).keys()].map(layer).join("\n  ")}
  vec4 r = vec4(${outs.join(", ")});
  o = (u_hasPrev == 1 ? texelFetch(u_prev, p, 0) : vec4(0.0)) + r;
}`;
}

export class GridWebGL {
  /** `base`: the WebGLRenderer whose context (and its checks: WebGL2, float targets) this shares. */
  constructor(base) {
    this.base = base;
    this.gl = base.gl;
    this.name = "webgl2";
    this.programs = new Map();
    this.kept = null;  // {w, h, k, grids: the level arrays it was made from, tex}: the last sum drawn
  }

  /**
   * Same contract as the other renderers: Float32Array of width*height*dOut values, pixel-major.
   * `net` is render-grid-js.js's gridNet; `opts`: {onProgress, cancelled} (checked between levels).
   */
  async render(net, width, height, opts = {}) {
    const gl = this.gl, maxTex = this.base.maxTex;
    if (Math.max(width, height) > maxTex) throw new Error(`size ${width}x${height} is beyond this GPU's texture limits`);
    const owned = [];
    const tex = (make) => { const t = make(); owned.push(t); return t; };
    let from = 0, prev = null;
    const kept = this.kept;
    if (kept && kept.w === width && kept.h === height && kept.k <= net.k && kept.grids.every((g, i) => g === net.grids[i].values)) {
      from = kept.k;
      prev = kept.tex;
    }
    const fbo = gl.createFramebuffer();
    let done = false;
    try {
      const atlas = tex(() => this.atlas(net.grids, maxTex));
      const taps = tex(() => this.taps(net, width, height));
      gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
      gl.viewport(0, 0, width, height);
      for (let j = from; j < net.k; j++) {
        if (opts.cancelled && opts.cancelled()) throw new Cancelled();
        const s = net.syn[j];
        const dst = this.sumTexture(width, height);
        if (prev && prev !== (kept && kept.tex)) owned.push(prev);
        const src = prev;
        prev = dst;  // from here on, deleted with the render if it fails
        gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, dst, 0);
        if (j === from) {
          const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
          if (status !== gl.FRAMEBUFFER_COMPLETE) throw new Error(`float framebuffer incomplete (0x${status.toString(16)})`);
        }
        const w = tex(() => this.weights(s, net.layers, net.dOut));
        const prog = this.program(s.fan, s.hidden, net.layers, net.dOut);
        gl.useProgram(prog.program);
        bind(gl, 0, atlas.tex, prog.loc.u_lat);
        bind(gl, 1, taps, prog.loc.u_taps);
        bind(gl, 2, w, prog.loc.u_w);
        bind(gl, 3, src, prog.loc.u_prev);
        gl.uniform1i(prog.loc.u_hasPrev, src ? 1 : 0);
        gl.uniform2iv(prog.loc.u_off, atlas.offsets.subarray(0, 2 * s.fan));
        gl.bindVertexArray(this.base.quad);
        gl.drawArrays(gl.TRIANGLES, 0, 3);
        gl.bindVertexArray(null);
        await gpuFinished(gl);
        if (opts.onProgress) opts.onProgress((j + 1 - from) / (net.k - from));
      }
      gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, prev, 0);
      const px = new Float32Array(width * height * 4);
      gl.readPixels(0, 0, width, height, gl.RGBA, gl.FLOAT, px);
      const err = gl.getError();
      if (err !== gl.NO_ERROR || gl.isContextLost()) throw new Error(`WebGL error 0x${err.toString(16)}`);
      const d = net.dOut, values = new Float32Array(width * height * d);
      for (let i = 0, n = width * height; i < n; i++) for (let c = 0; c < d; c++) values[i * d + c] = px[4 * i + c];
      if (!kept || prev !== kept.tex) {
        if (kept) gl.deleteTexture(kept.tex);
        this.kept = { w: width, h: height, k: net.k, grids: net.grids.map((g) => g.values), tex: prev };
      }
      done = true;
      return values;
    } finally {
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      gl.deleteFramebuffer(fbo);
      for (const t of owned) gl.deleteTexture(t.tex || t);
      if (!done && prev && prev !== (kept && kept.tex)) gl.deleteTexture(prev);  // failed or cancelled
    }
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
    const t = texture(gl);
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.R32F, width, height);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    grids.forEach((g, i) => gl.texSubImage2D(gl.TEXTURE_2D, 0, offsets[2 * i], offsets[2 * i + 1], g.cols, g.rows, gl.RED, gl.FLOAT, g.values));
    gl.bindTexture(gl.TEXTURE_2D, null);
    return { tex: t, offsets };
  }

  /** Row 2g: grid g's column taps for each x; row 2g+1: its row taps for each y (i0, i1, t, 0). */
  taps(net, width, height) {
    const gl = this.gl, n = Math.max(width, height), all = gridTaps(net, width, height);
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

  /** One level's weights: layer i's rows from i * 4 ceil(H/4), the output rows after them. */
  weights({ fan, hidden, ps }, layers, dOut) {
    const gl = this.gl, HP = 4 * c4(hidden);
    const texW = Math.max(c4(fan), c4(hidden)) + 1, rows = layers * HP + 4;
    const data = new Float32Array(texW * 4 * rows);
    const put = (row0, W, B, nOut, nIn) => {
      for (let r = 0; r < nOut; r++) {
        data.set(W.subarray(r * nIn, (r + 1) * nIn), (row0 + r) * texW * 4);
        data[((row0 + r) * texW + c4(nIn)) * 4] = B[r];
      }
    };
    for (let i = 0; i < layers; i++) put(i * HP, ps[2 * i], ps[2 * i + 1], hidden, i === 0 ? fan : hidden);
    put(layers * HP, ps[2 * layers], ps[2 * layers + 1], dOut, hidden);
    const t = texture(gl);
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, texW, rows, 0, gl.RGBA, gl.FLOAT, data);
    gl.bindTexture(gl.TEXTURE_2D, null);
    return t;
  }

  sumTexture(width, height) {
    const gl = this.gl, t = texture(gl);
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, width, height);
    gl.bindTexture(gl.TEXTURE_2D, null);
    return t;
  }

  program(nf, hidden, layers, dOut) {
    const key = `${nf}/${hidden}/${layers}/${dOut}`;
    if (!this.programs.has(key)) this.programs.set(key, link(this.gl, fragSource(nf, hidden, layers, dOut)));
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

function bind(gl, unit, tex, loc) {
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.uniform1i(loc, unit);
}

/** Wait for the GPU without blocking the page (as render-webgl.js does). */
async function gpuFinished(gl) {
  const sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
  gl.flush();
  try {
    while (gl.clientWaitSync(sync, 0, 0) === gl.TIMEOUT_EXPIRED) await new Promise((r) => setTimeout(r, 4));
  } finally {
    gl.deleteSync(sync);
  }
}

function link(gl, fs) {
  const program = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, VERT], [gl.FRAGMENT_SHADER, fs]]) {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) throw new Error(`grid shader: ${gl.getShaderInfoLog(sh)}`);
    gl.attachShader(program, sh);
  }
  gl.bindAttribLocation(program, 0, "pos");
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`grid program: ${gl.getProgramInfoLog(program)}`);
  const loc = {};
  for (const name of ["u_lat", "u_taps", "u_w", "u_prev", "u_hasPrev"]) loc[name] = gl.getUniformLocation(program, name);
  loc.u_off = gl.getUniformLocation(program, "u_off[0]");
  return { program, loc };
}
