"""The cost model (format_spec.md section 5.1): what a decode costs, from the header alone.

Three figures bound a render before anything is allocated: the parameters a decoder
holds (dequantised float32, levels 1..k), the multiply-adds per sample of the network
that renders level k, and the samples a render evaluates. The spec's hard limits
(`MAX_PARAMS`, `MAX_RENDER_MACS`) refuse a file whose full render would exceed them;
a server passes lower `Budget`s of its own (serve/config.py). Why: a 494 kB file
within every other limit declared a billion parameters, and an 11.9 kB one an hour
of CPU per render; each was only found out after the memory or the time was spent.
"""
from __future__ import annotations

from dataclasses import dataclass

# Hard limits of the format (section 5.1). Everything the encoder writes is far below
# them (a 768x512 picture at width 256, 5 layers: 1e11 multiply-adds, 0.3M parameters).
MAX_PARAMS = 1 << 26          # parameters in levels 1..K (268 MB as float32)
MAX_RENDER_MACS = 1 << 42     # multiply-adds of one render of level K at the stored size (~80 s at 57 GMAC/s)


class CostError(ValueError):
    """A decode whose cost exceeds a limit, in one line."""


@dataclass(frozen=True)
class Budget:
    """Limits one decoder (or server) applies; the defaults are the spec's hard limits."""
    params: int = MAX_PARAMS
    macs: int = MAX_RENDER_MACS
    samples: int = 1 << 28


HARD = Budget()


def render_samples(header: dict, size: tuple | None = None) -> int:
    """Samples a render evaluates: the product of the axes rendered. An SDF renders an
    R^3 grid, R = size[0] of the header unless another R is asked for (`size` = (R,))."""
    signal = header.get("signal")
    axes = tuple(int(s) for s in (size or header["size"]))
    if signal == "sdf":
        r = axes[0]
        return r * r * r
    if signal == "video" and size is not None and len(axes) == 2:  # another picture size, every frame
        axes = axes + (int(header["size"][2]),)
    n = 1
    for s in axes:
        n *= s
    return n


def _dense_macs(arch, width: int) -> int:
    """Multiply-adds per sample of one dense SIREN network of this width."""
    return width * (arch.d_in + (arch.layers - 1) * width + arch.d_out)


def macs_per_sample(arch, k: int) -> int:
    """Multiply-adds per sample of level k: the dense network of width widths[k-1] (one
    network per region under composite growth: the widest of networks 1..k); for the
    grid family its synthesis networks 1..k (bilinear taps not counted); for the latent
    family its synthesis and convs (the same at every level)."""
    from snf.field.grid import GridArch
    if isinstance(arch, GridArch):
        return arch.macs(k)
    if getattr(arch, "family", None) == "latent" or type(arch).__name__ == "LatentArch":
        return arch.macs()
    if arch.composite:
        return max(_dense_macs(arch, w) for w in arch.widths[:k])
    return _dense_macs(arch, arch.widths[k - 1])


def params_upto(arch, k: int, size: tuple | None = None) -> int:
    """Parameters a decoder of level k holds: every number stored in levels 1..k."""
    from snf.field.grid import GridArch
    if isinstance(arch, GridArch):
        return arch.params(k, tuple(int(s) for s in size))
    if type(arch).__name__ == "LatentArch":  # weights and the latents of levels 1..k
        return arch.params(k, tuple(int(s) for s in size))
    return sum(arch.level_params(j) for j in range(1, k + 1))


@dataclass(frozen=True)
class Cost:
    level: int
    params: int
    macs_per_sample: int
    samples: int

    @property
    def macs(self) -> int:
        return self.macs_per_sample * self.samples

    def as_dict(self) -> dict:
        return {"level": self.level, "params": self.params, "macs_per_sample": self.macs_per_sample,
                "samples": self.samples, "macs": self.macs}


def cost(header: dict, arch, k: int, size: tuple | None = None) -> Cost:
    """The cost of rendering level k (at the stored size, or `size`)."""
    return Cost(k, params_upto(arch, k, header["size"]), macs_per_sample(arch, k), render_samples(header, size))


def check(header: dict, arch, k: int, size: tuple | None = None, budget: Budget = HARD) -> Cost:
    """The cost of level k's render, or CostError naming the first limit it breaks."""
    c = cost(header, arch, k, size)
    if c.params > budget.params:
        raise CostError(f"level {k} needs {c.params:,} parameters, above the limit of {budget.params:,}")
    if c.samples > budget.samples:
        raise CostError(f"a render of {c.samples:,} samples is above the limit of {budget.samples:,}")
    if c.macs > budget.macs:
        raise CostError(f"a render of level {k} needs {c.macs:,} multiply-adds "
                        f"({c.macs_per_sample:,} per sample x {c.samples:,} samples), above the limit of {budget.macs:,}")
    return c
