// WebGL2 renderer of the latent field (format_spec.md section 11.5), on the
// WebGLRenderer's context, reusing the grid renderer's parts (render-grid-webgl.js:
// the grid atlas, the tap table, the feature pass and the 8-bit samples pass):
// one draw per feature map (RGBA32F, four grids each; the grids of levels not held
// are zero, the fill rule), one draw of the synthesis (ReLU layers, weights in a
// uniform array where they fit, else a texture; straight-line code), then one draw
// per 3x3 residual conv layer (zero outside the picture), then the samples.
// Products sum in another order than numpy's: samples agree within one 8-bit step.

import { GridWebGL, FEATURE, bind, gpuFinished } from "./render-grid-webgl.js";
import { Cancelled } from "./cancelled.js";

const c4 = (n) => Math.ceil(n / 4);
const xyzw = "xyzw";

/** Weight rows: per layer 4 ceil(h/4) rows (outputs: 4), each c4(widest fan) texels then the bias. */
function layout(G, syn, dOut) {
  const fans = [G, ...syn], outs = [...syn, dOut];
  const TW = Math.max(...fans.map(c4)) + 1;
  const starts = [];
  let rows = 0;
  for (const h of outs) { starts.push(rows); rows += 4 * c4(h); }
  return { fans, outs, TW, starts, rows };
}

function synSource(G, syn, dOut, uniforms) {
  const { fans, outs, TW, starts, rows } = layout(G, syn, dOut);
  const W = uniforms ? `#define W(row, c) u_wv[(row) * ${TW} + (c)]\nuniform vec4 u_wv[${rows * TW}];`
    : "#define W(row, c) texelFetch(u_w, ivec2(c, row), 0)\nuniform sampler2D u_w;";
  const F4 = c4(G);
  const lines = [...Array(F4).keys()].map((j) => (4 * j + 4 <= G ? `vec4 x${j} = texelFetch(u_f${j}, p, 0);`
    : `vec4 f${j} = texelFetch(u_f${j}, p, 0);\n  vec4 x${j} = vec4(${[0, 1, 2, 3].map((q) => (4 * j + q < G ? `f${j}.${xyzw[q]}` : "0.0")).join(", ")});`));
  let src = "x";
  outs.forEach((h, l) => {
    const n4 = c4(fans[l]), last = l === outs.length - 1;
    const row = (R) => `(${[...Array(n4).keys()].map((c) => `dot(W(${R}, ${c}), ${src}${c})`).join(" + ")}) + W(${R}, ${n4}).x`;
    const name = last ? "r" : `h${l}_`;
    for (let j = 0; j < c4(h); j++) {
      const v = `vec4(${[0, 1, 2, 3].map((q) => (4 * j + q < h ? row(starts[l] + 4 * j + q) : "0.0")).join(",\n      ")})`;
      lines.push(last ? `vec4 r = ${v};` : `vec4 ${name}${j} = max(${v}, 0.0);`);
    }
    src = name;
  });
  return `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
${[...Array(F4).keys()].map((j) => `uniform sampler2D u_f${j};`).join("\n")}   // feature maps: grids 4j..4j+3 at each pixel
${W}
out vec4 o;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  ${lines.join("\n  ")}
  o = r;
}`;
}

/** One 3x3 residual conv layer: y + b + sum over the taps of W_tap y(neighbour), zero outside. */
const CONV = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
uniform sampler2D u_y;
uniform mat4 u_cw[9];   // tap dy * 3 + dx: column i (input), row o (output)
uniform vec4 u_cb;
uniform ivec2 u_size;
out vec4 o;
void main() {
  ivec2 p = ivec2(gl_FragCoord.xy);
  vec4 acc = vec4(0.0);
  for (int dy = 0; dy < 3; dy++) {
    for (int dx = 0; dx < 3; dx++) {
      ivec2 q = p + ivec2(dx - 1, dy - 1);
      if (q.x >= 0 && q.y >= 0 && q.x < u_size.x && q.y < u_size.y) acc += u_cw[dy * 3 + dx] * texelFetch(u_y, q, 0);
    }
  }
  o = texelFetch(u_y, p, 0) + (acc + u_cb);
}`;

export class LatentWebGL extends GridWebGL {
  /**
   * Same contract as the other renderers: Float32Array of width*height*dOut values, pixel-major, or
   * with `opts.rgba` ({range, bitDepth}) RGBA bytes made on the GPU. `net`: render-latent-js.js's
   * latentNet; `opts`: {onProgress, cancelled (checked between passes), rgba}.
   */
  async render(net, width, height, opts = {}) {
    const gl = this.gl, maxTex = this.base.maxTex, G = net.nGrids, F4 = c4(G);
    if (Math.max(width, height) > maxTex) throw new Error(`size ${width}x${height} is beyond this GPU's texture limits`);
    if (F4 + 1 > this.maxUnits) throw new Error("more grids than this GPU has texture units for");
    const owned = [];
    const own = (t) => { owned.push(t); return t; };
    const featureProgram = this.fixedProgram("feature", FEATURE, ["u_lat", "u_taps", "u_g[0]", "u_at[0]"]);
    const synProgram = this.synProgram(G, net.syn, net.dOut);
    const convProgram = net.conv ? this.fixedProgram("latent-conv", CONV, ["u_y", "u_cw[0]", "u_cb", "u_size"]) : null;
    for (const p of [featureProgram, synProgram, convProgram]) if (p) p.catch(() => {});
    // Every program linked before the first call that waits for the GPU process (the framebuffer
    // check): software WebGL compiles in that process's queue, and the page would wait behind it.
    const [fprog, prog, cprog] = await Promise.all([featureProgram, synProgram, convProgram]);
    const check = () => { if (opts.cancelled && opts.cancelled()) throw new Cancelled(); };
    const passes = F4 + 1 + net.conv;
    let done = 0;
    const progress = () => { if (opts.onProgress) opts.onProgress(++done / (passes + 1)); };
    const fbo = own(gl.createFramebuffer());
    try {
      const held = net.grids;
      const atlas = held.length ? this.atlas(held, maxTex) : null;
      const taps = held.length ? own(this.taps(held, width, height)) : null;
      if (atlas) own(atlas.tex);
      check();
      const feats = [];
      for (let m = 0; m < F4; m++) {  // components past the grids held stay zero (the fill rule)
        feats.push(own(this.target(gl.RGBA32F, width, height)));
        const comps = [0, 1, 2, 3].map((q) => 4 * m + q).map((g) => (g < held.length ? g : -1));
        this.attach(fbo, feats[m], gl.RGBA32F);
        if (comps[0] < 0) {  // no grid held in this map: all zero
          gl.clearBufferfv(gl.COLOR, 0, [0, 0, 0, 0]);
          continue;
        }
        gl.useProgram(fprog.program);
        bind(gl, 0, atlas.tex, fprog.loc.u_lat);
        bind(gl, 1, taps, fprog.loc.u_taps);
        gl.uniform1iv(fprog.loc.u_g, comps);
        gl.uniform2iv(fprog.loc.u_at, comps.flatMap((g) => (g >= 0 ? [atlas.offsets[2 * g], atlas.offsets[2 * g + 1]] : [0, 0])));
        this.draw(width, height);
      }
      await gpuFinished(gl);
      progress();
      check();
      let y = own(this.target(gl.RGBA32F, width, height));
      this.attach(fbo, y, gl.RGBA32F);
      const weights = this.synWeights(net, G);
      const wTex = prog.uniforms ? null : own(this.weightTexture(weights));
      gl.useProgram(prog.program);
      for (let i = 0; i < F4; i++) bind(gl, i, feats[i], prog.loc[`u_f${i}`]);
      if (prog.uniforms) gl.uniform4fv(prog.loc.u_wv, weights.data);
      else bind(gl, F4, wTex, prog.loc.u_w);
      this.draw(width, height);
      await gpuFinished(gl);
      progress();
      const L = net.syn.length, d = net.dOut;
      for (let j = 0; j < net.conv; j++) {
        check();
        const W = net.ps[2 * L + 2 + 2 * j], B = net.ps[2 * L + 3 + 2 * j];
        const mats = new Float32Array(9 * 16), bias = new Float32Array(4);
        for (let t = 0; t < 9; t++) {
          for (let i = 0; i < d; i++) for (let o = 0; o < d; o++) mats[t * 16 + i * 4 + o] = W[(o * d + i) * 9 + t];
        }
        bias.set(B);
        const next = own(this.target(gl.RGBA32F, width, height));
        this.attach(fbo, next, gl.RGBA32F);
        gl.useProgram(cprog.program);
        bind(gl, 0, y, cprog.loc.u_y);
        gl.uniformMatrix4fv(cprog.loc.u_cw, false, mats);
        gl.uniform4fv(cprog.loc.u_cb, bias);
        gl.uniform2i(cprog.loc.u_size, width, height);
        this.draw(width, height);
        await gpuFinished(gl);
        progress();
        y = next;
      }
      const values = opts.rgba ? await this.samples(fbo, y, width, height, d, opts.rgba, own) : this.floats(fbo, y, width, height, d);
      const err = gl.getError();
      if (err !== gl.NO_ERROR || gl.isContextLost()) throw new Error(`WebGL error 0x${err.toString(16)}`);
      return values;
    } finally {
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      for (const t of owned) (t instanceof WebGLFramebuffer ? gl.deleteFramebuffer(t) : gl.deleteTexture(t));
    }
  }

  /** The synthesis' weights in layout()'s rows (RGBA texels: four inputs each, then the bias). */
  synWeights(net, G) {
    const { fans, outs, TW, starts, rows } = layout(G, net.syn, net.dOut);
    const data = new Float32Array(TW * 4 * rows);
    outs.forEach((h, l) => {
      const Wl = net.ps[2 * l], Bl = net.ps[2 * l + 1], fan = fans[l];
      for (let r = 0; r < h; r++) {
        data.set(Wl.subarray(r * fan, (r + 1) * fan), (starts[l] + r) * TW * 4);
        data[((starts[l] + r) * TW + c4(fan)) * 4] = Bl[r];
      }
    });
    return { data, texW: TW, rows };
  }

  synProgram(G, syn, dOut) {
    const { TW, rows } = layout(G, syn, dOut);
    const uniforms = !this.force.textureWeights && rows * TW + 16 <= this.maxUniforms;
    const key = `latent/${G}/${syn.join(".")}/${dOut}/${uniforms}`;
    if (!this.programs.has(key)) {
      const names = [...Array(c4(G)).keys()].map((i) => `u_f${i}`);
      const p = this.fixedProgram(`${key}/link`, synSource(G, syn, dOut, uniforms), [...names, "u_w", "u_wv[0]"])
        .then((r) => ({ ...r, uniforms }));
      this.programs.set(key, p);
      p.catch(() => this.programs.delete(key));
    }
    return this.programs.get(key);
  }
}
