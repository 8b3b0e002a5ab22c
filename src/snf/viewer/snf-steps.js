// The quantisation step table of .snf 2.x (format_spec.md section 3.2): shared by the
// SIREN's coded levels (snf-coded.js) and the grid field's (snf-grid.js). A module of its
// own with no imports, so neither of those needs the other (no import circle through snf-arch.js).

const FRAC_BITS = [0x3f800000, 0x3f8b95c2, 0x3f9837f0, 0x3fa5fed7, 0x3fb504f3, 0x3fc5672a, 0x3fd744fd, 0x3feac0c7];
const FRAC = new Float32Array(new Uint32Array(FRAC_BITS).buffer);

/** STEP[e] = FRAC[e mod 8] * 2^(floor(e/8) - 24): a power-of-two scaling, exact in float32. */
export const STEPS = new Float32Array(256).map((_, e) => FRAC[e & 7] * 2 ** ((e >> 3) - 24));
