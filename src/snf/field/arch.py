"""The growing-SIREN layout: which parameter blocks each level owns (numpy only).

A network is a stack of `layers` sine layers and one linear output layer. Its
tensors are named ``l0.w`` (first layer, width x d_in), ``l{i}.w`` (hidden,
width x width), ``l{i}.b``, ``out.w`` (d_out x width) and ``out.b``. A level
owns rectangular blocks of those tensors; the order of `Arch.blocks(k)` is the
order of the level's payload in the container, so it is part of the format.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict

MODES = ("progressive", "slimmable", "individual")
GROWS = ("spectral", "spatial", "temporal")
INITS = ("siren", "zero-out")

# Hard limits, checked before anything is allocated (also listed in format_spec.md).
MAX_LEVELS = 16
MAX_LAYERS = 16
MAX_WIDTH = 4096
MAX_DIM = 4


class ArchError(ValueError):
    """An architecture that breaks a rule or a hard limit."""


@dataclass(frozen=True)
class Block:
    """One rectangle of a dense tensor that a level owns.

    net: which dense network it belongs to (0 shared; k-1 for mode individual).
    rows/cols: (start, stop) in that tensor; vectors have cols None.
    """
    net: int
    tensor: str
    rows: tuple
    cols: tuple | None

    @property
    def shape(self) -> tuple:
        r = self.rows[1] - self.rows[0]
        return (r,) if self.cols is None else (r, self.cols[1] - self.cols[0])

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def small(self) -> bool:
        """Biases and first-layer rows: few numbers whose errors w0 amplifies."""
        return self.cols is None or self.tensor == "l0.w"


@dataclass(frozen=True)
class Arch:
    """Architecture of a streamable field, as stored in the container header."""
    widths: tuple
    layers: int = 5
    d_in: int = 2
    d_out: int = 3
    w0: float = 30.0
    mode: str = "progressive"
    grow: str = "spectral"
    init: str = "siren"
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        self.validate()

    def validate(self) -> None:
        w = self.widths
        if not 1 <= len(w) <= MAX_LEVELS:
            raise ArchError(f"need 1..{MAX_LEVELS} levels, got {len(w)}")
        if any(b <= a for a, b in zip((0,) + w, w)):
            raise ArchError(f"widths must be positive and strictly increasing: {list(w)}")
        if w[-1] > MAX_WIDTH:
            raise ArchError(f"width {w[-1]} exceeds the limit {MAX_WIDTH}")
        if not 1 <= self.layers <= MAX_LAYERS:
            raise ArchError(f"need 1..{MAX_LAYERS} sine layers, got {self.layers}")
        if not (1 <= self.d_in <= MAX_DIM and 1 <= self.d_out <= MAX_DIM):
            raise ArchError(f"input/output dimensions must be 1..{MAX_DIM}")
        if self.mode not in MODES:
            raise ArchError(f"unknown mode {self.mode!r} (choose {', '.join(MODES)})")
        if self.grow not in GROWS:
            raise ArchError(f"unknown growth {self.grow!r} (choose {', '.join(GROWS)})")
        if self.init not in INITS:
            raise ArchError(f"unknown init {self.init!r} (choose {', '.join(INITS)})")
        if not (0 < float(self.w0) <= 1000):
            raise ArchError(f"w0 out of range: {self.w0}")

    @property
    def levels(self) -> int:
        return len(self.widths)

    def span(self, k: int) -> tuple:
        """Units (start, stop) that level k (1-based) adds to every hidden layer."""
        return (self.widths[k - 2] if k > 1 else 0, self.widths[k - 1])

    def blocks(self, k: int) -> list:
        """The blocks level k adds, in payload order."""
        a, b = self.span(k)
        if self.mode == "individual":
            return _dense_blocks(k - 1, b, self)
        out = [Block(0, "l0.w", (a, b), (0, self.d_in)), Block(0, "l0.b", (a, b), None)]
        for i in range(1, self.layers):
            out.append(Block(0, f"l{i}.w", (a, b), (0, b)))
            if self.mode == "slimmable" and a > 0:
                out.append(Block(0, f"l{i}.w", (0, a), (a, b)))
            out.append(Block(0, f"l{i}.b", (a, b), None))
        out.append(Block(0, "out.w", (0, self.d_out), (a, b)))
        if k == 1:
            out.append(Block(0, "out.b", (0, self.d_out), None))
        return out

    def level_params(self, k: int) -> int:
        """Parameters stored in level k's chunk."""
        return sum(b.size for b in self.blocks(k))

    def params(self, k: int) -> int:
        """Parameters of the sub-network that renders level k."""
        if self.mode == "individual":
            return self.level_params(k)
        return sum(self.level_params(j) for j in range(1, k + 1))

    def net_of(self, k: int) -> int:
        """Which dense network renders level k."""
        return k - 1 if self.mode == "individual" else 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d.pop("extra")
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Arch":
        if not isinstance(d, dict):
            raise ArchError("architecture must be a map")
        known = {"widths", "layers", "d_in", "d_out", "w0", "mode", "grow", "init"}
        try:
            kw = {k: d[k] for k in known if k in d}
            return cls(**kw, extra={k: v for k, v in d.items() if k not in known})
        except (TypeError, ValueError) as e:
            raise ArchError(f"bad architecture: {e}") from None


def _dense_blocks(net: int, w: int, arch: Arch) -> list:
    """Every tensor of a dense network of width w (mode individual)."""
    out = [Block(net, "l0.w", (0, w), (0, arch.d_in)), Block(net, "l0.b", (0, w), None)]
    for i in range(1, arch.layers):
        out += [Block(net, f"l{i}.w", (0, w), (0, w)), Block(net, f"l{i}.b", (0, w), None)]
    out += [Block(net, "out.w", (0, arch.d_out), (0, w)), Block(net, "out.b", (0, arch.d_out), None)]
    return out


def tensor_shapes(arch: Arch, width: int) -> dict:
    """Shapes of the dense tensors of a network of the given width."""
    shapes = {"l0.w": (width, arch.d_in), "l0.b": (width,)}
    for i in range(1, arch.layers):
        shapes[f"l{i}.w"] = (width, width)
        shapes[f"l{i}.b"] = (width,)
    shapes["out.w"] = (arch.d_out, width)
    shapes["out.b"] = (arch.d_out,)
    return shapes


def parse_widths(text: str) -> tuple:
    """'30,69,110,151' -> (30, 69, 110, 151), with a clear error."""
    try:
        widths = tuple(int(t) for t in str(text).split(",") if t.strip())
    except ValueError:
        raise ArchError(f"widths must be comma-separated integers, got {text!r}") from None
    if not widths:
        raise ArchError("widths must not be empty")
    return widths
