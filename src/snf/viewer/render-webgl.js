// WebGL2 renderer. Weights live in RGBA32F textures (four inputs of one row per
// texel, the bias in the last column) read with texelFetch, so there is no
// filtering. Activations live in a 2D array texture, one layer per four hidden
// units; one pass per group of 16 units writes four layers at once (four colour
// attachments), ping-ponging between two array textures layer by layer. The
// output layer writes float values to an RGBA32F texture that is read back, so
// both renderers share the exact sample conversion in snf-image.js. Large images
// render in tiles so the activation textures stay within a memory budget.

import { gridAxis } from "./snf-image.js";
import { Cancelled } from "./cancelled.js";
import { GridWebGL } from "./render-grid-webgl.js";
import { LatentWebGL } from "./render-latent-webgl.js";

const UNITS_PER_PASS = 16;     // 4 attachments x RGBA
const ACT_BUDGET = 64 << 20;   // bytes per activation texture
const SLICE_SIDE = 256;        // tiles at most this side: the page gets control (and can cancel) between them

const VERT = `#version 300 es
in vec2 pos;
void main() { gl_Position = vec4(pos, 0.0, 1.0); }`;

/** Fragment shader for one layer: FIRST reads coordinates, SINE applies sin, NOUT attachments. */
function fragSource(first, sine, nOut) {
  const outs = [...Array(nOut).keys()];
  return `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
precision highp sampler2DArray;
uniform sampler2D u_w;        // rows = output units, texel j = inputs 4j..4j+3, last texel = bias
uniform sampler2DArray u_in;  // previous activations, layer j = units 4j..4j+3
uniform sampler2D u_xs;       // x coordinate per column (float32, as numpy computes it)
uniform sampler2D u_ys;       // y coordinate per row
uniform ivec2 u_origin;       // tile origin in the image
uniform int u_nin;            // input texels
uniform int u_unit0;          // first output unit of this pass
${outs.map((o) => `layout(location = ${o}) out vec4 o${o};`).join("\n")}

// sin in float32 by hand (Cephes sinf): reduce by pi/2 in three parts, then a
// minimax polynomial on [-pi/4, pi/4]. GPU sin is often only good to ~1e-4, and
// w0 = 30 turns such errors into visibly different samples.
float sinr(float x) {
  float k = floor(x * 0.63661977236758134 + 0.5);
  float r = ((x - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  float z = r * r;
  float s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  float c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  int q = int(k - 4.0 * floor(k * 0.25));
  float v = (q == 0 || q == 2) ? s : c;
  return q >= 2 ? -v : v;
}

float row(int unit, vec4 a, int j) { return dot(texelFetch(u_w, ivec2(j, unit), 0), a); }

void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ${outs.map((o) => `vec4 acc${o} = vec4(0.0);`).join(" ")}
  for (int j = 0; j < u_nin; j++) {
    ${first
      ? "vec4 a = vec4(texelFetch(u_xs, ivec2(u_origin.x + p.x, 0), 0).r, texelFetch(u_ys, ivec2(u_origin.y + p.y, 0), 0).r, 0.0, 0.0);"
      : "vec4 a = texelFetch(u_in, ivec3(p, j), 0);"}
    ${outs.map((o) => [0, 1, 2, 3].map((c) =>
      `acc${o}.${"xyzw"[c]} += row(u_unit0 + ${4 * o + c}, a, j);`).join(" ")).join("\n    ")}
  }
  ${outs.map((o) => {
    const bias = `vec4(${[0, 1, 2, 3].map((c) => `texelFetch(u_w, ivec2(u_nin, u_unit0 + ${4 * o + c}), 0).x`).join(", ")})`;
    const v = `acc${o} + ${bias}`;
    return sine ? `o${o} = vec4(sinr((${v}).x), sinr((${v}).y), sinr((${v}).z), sinr((${v}).w));` : `o${o} = ${v};`;
  }).join("\n  ")}
}`;
}

export class WebGLUnavailable extends Error {}

export class WebGLRenderer {
  /**
   * Throws WebGLUnavailable where WebGL2 or float colour buffers are missing.
   * `tile` fixes the tile side (tests use a small one to exercise tiling).
   */
  constructor({ tile = null } = {}) {
    this.tileOverride = tile;
    this.name = "webgl2";
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 1;
    const gl = canvas.getContext("webgl2", { antialias: false, depth: false, stencil: false, alpha: true });
    if (!gl) throw new WebGLUnavailable("WebGL2 is not available");
    if (!gl.getExtension("EXT_color_buffer_float")) throw new WebGLUnavailable("float render targets (EXT_color_buffer_float) are missing");
    this.gl = gl;
    this.maxTex = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    this.maxLayers = gl.getParameter(gl.MAX_ARRAY_TEXTURE_LAYERS);
    this.programs = new Map();
    this.quad = makeQuad(gl);
  }

  /**
   * Same contract as JsRenderer.render: Float32Array, pixel-major, dOut values per pixel.
   * `opts` (optional): {onProgress(fraction), cancelled()}; checked between tiles (slices).
   * A latent-grid field (render-grid-js.js's gridNet) goes to its own renderer on this context.
   */
  async render(net, width, height, opts = {}) {
    if (net.family === "grid") return (this.grid ||= new GridWebGL(this)).render(net, width, height, opts);
    if (net.family === "latent") return (this.latent ||= new LatentWebGL(this)).render(net, width, height, opts);
    const gl = this.gl;
    const layers = padUnits(net.width) / 4;
    if (layers > this.maxLayers || Math.max(width, height, padUnits(net.width)) > this.maxTex) {
      throw new WebGLUnavailable(`width ${net.width} or size ${width}x${height} is beyond this GPU's texture limits`);
    }
    const res = new Resources(gl);
    try {
      const side = this.tileOverride || Math.min(SLICE_SIDE, tileSide(layers, this.maxTex));
      const tw = Math.min(side, width), th = Math.min(side, height);
      const ctx = {
        weights: net.sine.map((l) => res.weights(l, padUnits(l.rows))), outW: res.weights(net.out, 4),
        xs: res.line(gridAxis(width)), ys: res.line(gridAxis(height)),
        act: [res.array(tw, th, layers), res.array(tw, th, layers)], out: res.plain(tw, th), fbo: res.framebuffer(),
      };
      const values = new Float32Array(width * height * net.dOut);
      for (let y0 = 0; y0 < height; y0 += side) {
        for (let x0 = 0; x0 < width; x0 += side) {
          if (opts.cancelled && opts.cancelled()) throw new Cancelled();
          await this.tile(net, ctx, [x0, y0, Math.min(side, width - x0), Math.min(side, height - y0)], values, width);
          if (opts.onProgress) opts.onProgress(Math.min(1, ((y0 * width) + (x0 + side) * Math.min(side, height - y0)) / (width * height)));
        }
      }
      const err = gl.getError();
      if (err !== gl.NO_ERROR || gl.isContextLost()) throw new Error(`WebGL error 0x${err.toString(16)}`);
      return values;
    } finally {
      res.release();
    }
  }

  /** Run every layer over one tile and copy its outputs into `values`. */
  async tile(net, ctx, [x0, y0, tw, th], values, width) {
    const gl = this.gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, ctx.fbo);
    gl.viewport(0, 0, tw, th);
    const common = { xs: ctx.xs, ys: ctx.ys, origin: [x0, y0] };
    // Completeness is checked once per render: each check is a round trip that waits for the GPU.
    const check = x0 === 0 && y0 === 0;
    let src = null;
    net.sine.forEach((layer, i) => {
      const dst = ctx.act[i % 2];
      const nin = i === 0 ? 1 : padUnits(layer.cols) / 4;
      for (let u = 0; u < layer.rows; u += UNITS_PER_PASS) {
        for (let a = 0; a < 4; a++) gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + a, dst, 0, u / 4 + a);
        gl.drawBuffers([0, 1, 2, 3].map((a) => gl.COLOR_ATTACHMENT0 + a));
        if (check && i === 0 && u === 0) this.checkFramebuffer();
        this.pass(this.program(i === 0, true, 4), { ...common, w: ctx.weights[i], src, nin, unit0: u });
      }
      src = dst;
    });
    for (let a = 1; a < 4; a++) gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + a, null, 0, 0);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, ctx.out, 0);
    gl.drawBuffers([gl.COLOR_ATTACHMENT0]);
    if (check) this.checkFramebuffer();
    this.pass(this.program(false, false, 1), { ...common, w: ctx.outW, src, nin: padUnits(net.width) / 4, unit0: 0 });
    await gpuFinished(gl);
    gl.bindFramebuffer(gl.FRAMEBUFFER, ctx.fbo);
    const px = new Float32Array(tw * th * 4);
    gl.readPixels(0, 0, tw, th, gl.RGBA, gl.FLOAT, px);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    for (let r = 0; r < th; r++) {
      for (let c = 0; c < tw; c++) {
        const at = ((y0 + r) * width + x0 + c) * net.dOut;
        for (let o = 0; o < net.dOut; o++) values[at + o] = px[(r * tw + c) * 4 + o];
      }
    }
  }

  checkFramebuffer() {
    const gl = this.gl, status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
    if (status !== gl.FRAMEBUFFER_COMPLETE) throw new WebGLUnavailable(`float framebuffer incomplete (0x${status.toString(16)})`);
  }

  pass(prog, { w, src, xs, ys, origin, nin, unit0 }) {
    const gl = this.gl;
    gl.useProgram(prog.program);
    bindTexture(gl, 0, gl.TEXTURE_2D, w, prog.loc.u_w);
    bindTexture(gl, 1, gl.TEXTURE_2D_ARRAY, src, prog.loc.u_in);
    bindTexture(gl, 2, gl.TEXTURE_2D, xs, prog.loc.u_xs);
    bindTexture(gl, 3, gl.TEXTURE_2D, ys, prog.loc.u_ys);
    gl.uniform2i(prog.loc.u_origin, origin[0], origin[1]);
    gl.uniform1i(prog.loc.u_nin, nin);
    gl.uniform1i(prog.loc.u_unit0, unit0);
    gl.bindVertexArray(this.quad);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }

  program(first, sine, nOut) {
    const key = `${first}/${sine}/${nOut}`;
    if (!this.programs.has(key)) this.programs.set(key, linkProgram(this.gl, VERT, fragSource(first, sine, nOut)));
    return this.programs.get(key);
  }
}

/**
 * Wait for the GPU without blocking the page: readPixels would stall the main
 * thread (and with it the stream) for as long as the passes take.
 */
async function gpuFinished(gl) {
  const sync = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
  gl.flush();
  try {
    while (gl.clientWaitSync(sync, 0, 0) === gl.TIMEOUT_EXPIRED) {
      await new Promise((resolve) => setTimeout(resolve, 4));
    }
  } finally {
    gl.deleteSync(sync);
  }
}

/** Units rounded up to whole passes (padding rows and columns are zero). */
function padUnits(n) {
  return Math.ceil(n / UNITS_PER_PASS) * UNITS_PER_PASS;
}

/** Side of a square tile whose activation texture fits the budget. */
function tileSide(layers, maxTex) {
  const pixels = Math.max(1, Math.floor(ACT_BUDGET / (16 * layers)));
  return Math.max(1, Math.min(maxTex, Math.floor(Math.sqrt(pixels))));
}

function bindTexture(gl, unit, target, tex, loc) {
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(target, tex);
  gl.uniform1i(loc, unit);
}

/** One triangle covering the viewport. */
function makeQuad(gl) {
  const vao = gl.createVertexArray();
  gl.bindVertexArray(vao);
  const buf = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buf);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 3, -1, -1, 3]), gl.STATIC_DRAW);
  gl.enableVertexAttribArray(0);
  gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
  gl.bindVertexArray(null);
  return vao;
}

function linkProgram(gl, vs, fs) {
  const program = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) throw new Error(`shader: ${gl.getShaderInfoLog(sh)}`);
    gl.attachShader(program, sh);
  }
  gl.bindAttribLocation(program, 0, "pos");
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`program: ${gl.getProgramInfoLog(program)}`);
  const loc = {};
  for (const name of ["u_w", "u_in", "u_xs", "u_ys", "u_origin", "u_nin", "u_unit0"]) loc[name] = gl.getUniformLocation(program, name);
  return { program, loc };
}

/** Textures and framebuffers of one render, deleted together afterwards. */
class Resources {
  constructor(gl) {
    this.gl = gl;
    this.textures = [];
    this.fbos = [];
  }

  texture(target) {
    const gl = this.gl, tex = gl.createTexture();
    gl.bindTexture(target, tex);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(target, p, gl.NEAREST);
    for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(target, p, gl.CLAMP_TO_EDGE);
    gl.bindTexture(target, null); // never left bound where a sampler could see it
    this.textures.push(tex);
    return tex;
  }

  /** A layer's weights: padded rows x (input texels + 1 bias texel), RGBA32F. */
  weights({ rows, cols, W, b }, rowsPad) {
    const gl = this.gl;
    const nin = Math.ceil((cols <= 4 ? 4 : padUnits(cols)) / 4);
    const texW = nin + 1;
    const data = new Float32Array(texW * 4 * rowsPad);
    for (let r = 0; r < rows; r++) {
      data.set(W.subarray(r * cols, (r + 1) * cols), r * texW * 4);
      data[(r * texW + nin) * 4] = b[r];
    }
    const tex = this.texture(gl.TEXTURE_2D);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, texW, rowsPad, 0, gl.RGBA, gl.FLOAT, data);
    gl.bindTexture(gl.TEXTURE_2D, null);
    return tex;
  }

  /** A 1-row R32F texture of coordinates. */
  line(values) {
    const gl = this.gl, tex = this.texture(gl.TEXTURE_2D);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32F, values.length, 1, 0, gl.RED, gl.FLOAT, values);
    gl.bindTexture(gl.TEXTURE_2D, null);
    return tex;
  }

  array(w, h, layers) {
    const gl = this.gl, tex = this.texture(gl.TEXTURE_2D_ARRAY);
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, tex);
    gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, gl.RGBA32F, w, h, layers);
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, null);
    return tex;
  }

  plain(w, h) {
    const gl = this.gl, tex = this.texture(gl.TEXTURE_2D);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, w, h);
    gl.bindTexture(gl.TEXTURE_2D, null);
    return tex;
  }

  framebuffer() {
    const fbo = this.gl.createFramebuffer();
    this.fbos.push(fbo);
    return fbo;
  }

  release() {
    for (const t of this.textures) this.gl.deleteTexture(t);
    for (const f of this.fbos) this.gl.deleteFramebuffer(f);
  }
}
