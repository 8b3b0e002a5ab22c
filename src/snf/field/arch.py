"""The growing-SIREN layout: which parameter blocks each level owns (numpy only).

A network is a stack of `layers` sine layers and one linear output layer. Its
tensors are named ``l0.w`` (first layer, width x d_in), ``l{i}.w`` (hidden,
width x width), ``l{i}.b``, ``out.w`` (d_out x width) and ``out.b``. A level
owns rectangular blocks of those tensors; the order of `Arch.blocks(k)` is the
order of the level's payload in the container, so it is part of the format.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict


@dataclass(frozen=True)
class ModeRule:
    """What a mode means, in one place: the layout, the renderer, the trainer and the
    JavaScript viewer (through the generated snf-constants.js) read these flags and
    never compare mode names.

    separate: each level is a whole network of its own (level k's blocks make net k-1);
    lateral:  level k > 1 also stores the old units' weights from its new units;
    causal:   an earlier unit never reads a later one (so a level's units depend only on
              units that existed when it was trained);
    joint:    every level trains together in one stage (the levels share their weights).
    """
    separate: bool
    lateral: bool
    causal: bool
    joint: bool


MODE_RULES = {
    "progressive": ModeRule(separate=False, lateral=False, causal=True, joint=False),
    "slimmable": ModeRule(separate=False, lateral=True, causal=False, joint=True),
    "individual": ModeRule(separate=True, lateral=False, causal=False, joint=False),
}
MODES = tuple(MODE_RULES)
FAMILIES = ("siren", "grid", "latent")  # header key `field`: the field family (grid: snf.field.grid); a reader refuses one it does not know
GROWS = ("spectral", "spatial", "temporal")
INITS = ("siren", "zero-out")
SIGNALS = ("image", "video", "sdf")  # the kinds an encoder fits (the container also reserves "signal1d")

# Per signal kind: network inputs, and sine layers when --layers is not given
# (the seed's counts imply 5 for images, 6 for videos, 4 for SDFs).
SIGNAL_D_IN = {"image": 2, "video": 3, "sdf": 3}
DEFAULT_LAYERS = {"image": 5, "video": 6, "sdf": 4}
# Per signal kind: the sine frequency w0 (the header's arch.w0). SIREN's 30 for pictures and
# videos; 10 for SDFs: at 30 a 3D field on [-1, 1]^3 starts so rough that, at a CPU budget of
# a few hundred steps, its zero set is full of spurious sheets (a torus fitted 300 steps at
# width 64: Chamfer 0.27 at w0 30, 0.04 at w0 10; bench/RESULTS.md).
DEFAULT_W0 = {"image": 30.0, "video": 30.0, "sdf": 10.0}
# Which signal kinds a growth mode can grow, and along which coordinate (index into the input).
GROW_SIGNALS = {"spectral": ("image", "video", "sdf"), "spatial": ("image",), "temporal": ("video",)}
GROW_AXIS = {"spatial": 0, "temporal": 2}

# Hard limits, checked before anything is allocated (also listed in format_spec.md).
MAX_LEVELS = 16
MAX_LAYERS = 16
MAX_WIDTH = 4096
MAX_DIM = 4
MAX_W0 = 1000


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
        return math.prod(self.shape)

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
        if self.composite:  # one independent network per region: any positive widths
            if any(x < 1 for x in w):
                raise ArchError(f"widths must be positive: {list(w)}")
        elif any(b <= a for a, b in zip((0,) + w, w)):
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
        if self.regional and self.rule.joint:
            raise ArchError(f"grow {self.grow} supports modes progressive and individual, not {self.mode}")
        if self.regional and self.d_in <= GROW_AXIS[self.grow]:
            raise ArchError(f"grow {self.grow} needs at least {GROW_AXIS[self.grow] + 1} inputs")
        if self.init not in INITS:
            raise ArchError(f"unknown init {self.init!r} (choose {', '.join(INITS)})")
        if not (0 < float(self.w0) <= MAX_W0):
            raise ArchError(f"w0 out of range: {self.w0}")

    @property
    def levels(self) -> int:
        return len(self.widths)

    # -- growth in the signal's domain (spatial stripes, temporal windows) --------
    @property
    def regional(self) -> bool:
        """Whether levels extend the signal's domain (spatial, temporal) rather than its detail."""
        return self.grow in GROW_AXIS

    @property
    def composite(self) -> bool:
        """Separate networks under regional growth: level k adds one network for region k only,
        and level k renders networks 1..k side by side (the seed's individual baseline)."""
        return self.regional and MODE_RULES[self.mode].separate if self.mode in MODE_RULES else False

    @property
    def axis(self) -> int | None:
        """The input coordinate that regions split (0: x for spatial, 2: t for temporal)."""
        return GROW_AXIS.get(self.grow)

    def cut(self, j: int, n: int) -> int:
        """Samples along the growth axis (n in all) in regions 1..j: floor(j n / K)."""
        return (j * n) // self.levels

    def revealed(self, k: int, n: int) -> int:
        """Samples along the growth axis that level k covers (all n without regional growth)."""
        return self.cut(k, n) if self.regional else n

    def trained_regions(self, k: int) -> tuple:
        """Regions (first, stop), 0-based, whose samples stage k trains on."""
        if not self.regional:
            return (0, self.levels)
        return (k - 1, k) if self.composite else (0, k)

    def renderers(self, k: int) -> list:
        """(level whose network renders, (first, stop) region it renders) for level k."""
        if self.composite:
            return [(j, (j - 1, j)) for j in range(1, k + 1)]
        return [(k, (0, k if self.regional else self.levels))]

    def span(self, k: int) -> tuple:
        """Units (start, stop) that level k (1-based) adds to every hidden layer."""
        return (self.widths[k - 2] if k > 1 else 0, self.widths[k - 1])

    def blocks(self, k: int) -> list:
        """The blocks level k adds, in payload order."""
        a, b = self.span(k)
        if self.rule.separate:
            return _dense_blocks(k - 1, b, self)
        out = [Block(0, "l0.w", (a, b), (0, self.d_in)), Block(0, "l0.b", (a, b), None)]
        for i in range(1, self.layers):
            out.append(Block(0, f"l{i}.w", (a, b), (0, b)))
            if self.rule.lateral and a > 0:
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
        """Parameters of the sub-network(s) that render level k (composite: networks 1..k)."""
        first = 1 if self.composite else self.first_level(k)
        return sum(self.level_params(j) for j in range(first, k + 1))

    # ---- mode behaviour: every caller asks these, never the mode's name

    @property
    def rule(self) -> ModeRule:
        return MODE_RULES[self.mode]

    @property
    def causal(self) -> bool:
        """Earlier units never read later ones (progressive)."""
        return self.rule.causal

    @property
    def trains_jointly(self) -> bool:
        """All levels train in one stage and share weights (slimmable): a level's stored
        values are only final once every level is trained."""
        return self.rule.joint

    def net_of(self, k: int) -> int:
        """Which dense network renders level k."""
        return k - 1 if self.rule.separate else 0

    def first_level(self, k: int) -> int:
        """The first level whose blocks build level k's network."""
        return k if self.rule.separate else 1

    def net_width(self, net: int) -> int:
        """Width of the dense tensors of network `net` (big enough for every level it serves)."""
        return self.widths[net] if self.rule.separate else self.widths[-1]

    def row_groups(self, k: int) -> list:
        """Row spans of level k's hidden layers that may be evaluated as separate groups,
        each reading only units 0..stop: one span per level where causal, else one."""
        if self.rule.causal:
            return [self.span(j) for j in range(1, k + 1)]
        return [(0, self.widths[k - 1])]

    def stages(self) -> list:
        """Levels trained by each training stage, in order."""
        if self.rule.joint:
            return [list(range(1, self.levels + 1))]
        return [[k] for k in range(1, self.levels + 1)]

    def trained_levels(self, stage: list, grown: int) -> list:
        """Levels whose blocks a stage's optimiser updates: the new one where earlier units
        are frozen (causal), each stage level's own network (separate), else every grown level."""
        if self.rule.causal:
            return [max(stage)]
        if self.rule.separate:
            return list(stage)
        return list(range(1, grown + 1))

    def init_fan(self, k: int) -> int:
        """Fan-in for level k's SIREN init: the full width where old units read new ones."""
        return self.widths[-1] if self.rule.lateral else self.widths[k - 1]

    def grows_from_zero(self, k: int) -> bool:
        """Level k's new-to-new weights start at zero (a causal growth step, k > 1)."""
        return self.rule.causal and k > 1

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
        widths = d.get("widths")
        if not isinstance(widths, list) or not all(_is_int(w) for w in widths):
            raise ArchError(f"widths must be a list of integers, got {widths!r}")
        for key in ("layers", "d_in", "d_out"):
            if key in d and not _is_int(d[key]):
                raise ArchError(f"{key} must be an integer, got {d[key]!r}")
        if "w0" in d and not _is_number(d["w0"]):
            raise ArchError(f"w0 must be a number, got {d['w0']!r}")
        for key in ("mode", "grow", "init"):
            if key in d and not isinstance(d[key], str):
                raise ArchError(f"{key} must be a string, got {d[key]!r}")
        try:
            kw = {k: d[k] for k in known if k in d}
            kw.update({k: int(d[k]) for k in ("layers", "d_in", "d_out") if k in d})
            return cls(**kw, extra={k: v for k, v in d.items() if k not in known})
        except (TypeError, ValueError) as e:
            raise ArchError(f"bad architecture: {e}") from None


def _is_int(v) -> bool:
    """An integer as the spec reads one: a msgpack int, or a float with an integral value
    (JavaScript cannot tell them apart); never a bool."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and math.isfinite(v) and v.is_integer())


def _is_number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def arch_for_signal(signal: str, widths, channels: int, layers: int | None = None, **kw) -> Arch:
    """The architecture for a signal kind: its inputs, its outputs (1 for an SDF) and
    its default depth; checks that the growth mode can grow this kind."""
    if signal not in SIGNALS:
        raise ArchError(f"unknown signal kind {signal!r} (choose {', '.join(SIGNALS)})")
    grow = kw.get("grow", "spectral")
    if grow in GROW_SIGNALS and signal not in GROW_SIGNALS[grow]:
        raise ArchError(f"grow {grow} applies to {' and '.join(GROW_SIGNALS[grow])} signals, not {signal}")
    kw.setdefault("w0", DEFAULT_W0[signal])
    return Arch(widths, layers=layers or DEFAULT_LAYERS[signal], d_in=SIGNAL_D_IN[signal],
                d_out=1 if signal == "sdf" else channels, **kw)


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
