"""One encode's settings: validated once, and the single source for every place that
spells them (the `snf-encode` options, the server's upload form, the job row, the
file header's `encoder` record).

Each field carries its metadata (help text, CLI flag, whether an upload may set it),
so adding a setting is one line here, and the CLI, the form and the server's API
docs follow. Runtime choices that do not change the bytes (threads, device, quiet,
progress callbacks) are not settings; they are arguments of `compress`.

torch-free: the server validates uploads with it.
"""
from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, field, fields, replace

from snf.field.arch import (DEFAULT_LAYERS, FAMILIES, GROWS, INITS, MODES, SIGNALS, Arch, ArchError,
                            arch_for_signal, parse_widths)
from snf.field.grid import GridArch, GridArchError, parse_grid_levels
from snf.field.latent import MAX_LEVELS as LATENT_MAX_LEVELS
from snf.format.entropy import MAX_CODED_BITS  # --bits: levels are rANS-coded, integers within +-MAX_AMAX
from snf.format.quant import MIN_BITS

DEFAULT_QUALITY = 75     # --quality when neither it nor --bits is given (see snf.encode.rd)
SDF_BITS = 8             # --bits of an SDF when not given: its steps are fixed, never from --quality

PRESET_NAMES = ("fast", "paper")  # snf.encode.presets.PRESETS has one entry per name (tested)
FIELDS = FAMILIES        # --field: every field family the container reads can be encoded
GRID_ONLY = ("field", "grid", "effort", "levels")  # settings a SIREN encode leaves out of its header (from_dict restores the defaults)
GRID_KEYS = ("field", "grid", "steps", "time_budget", "seed", "lr", "batch")  # the settings a grid encode reads
DEFAULT_GRID = "6.5.4:12,3:8,2:8"
LATENT_KEYS = ("field", "quality", "effort", "levels", "steps", "time_budget", "deadline", "seed", "lr")  # what a latent encode reads
EFFORTS = ("fast", "slow")
MAX_STEPS = 10_000_000
MAX_TIME_BUDGET = 7 * 86400.0
DEFAULT_DEADLINE = 260.0  # seconds of training for the fast preset's own steps (see `deadline_on`);
# quantising and checking the levels add about 20 s to a 768x512 encode


class SettingsError(ValueError):
    """A setting out of range, or two that cannot go together: one line, for users."""


def _opt(default, help: str, flag: str | None = None, form: bool = True, metavar: str | None = None):
    """A settings field with its user-facing metadata."""
    meta = {"help": help, "flag": flag, "form": form, "metavar": metavar}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


def _parse_bool(text) -> bool:
    if isinstance(text, bool):
        return text
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"expected true or false, got {str(text)[:40]!r}")


@dataclass(frozen=True)
class EncodeSettings:
    """Everything that decides an encode's bytes (with the input and the machine)."""
    field: str = _opt("siren", "field family: siren (the paper's growing SIREN) | grid (latent grids and a "
                               "small synthesis network per level) | latent (one jointly trained model with an "
                               "integer context model, streamed coarse grids first)")
    effort: str = _opt("fast", "latent field: fast (1000 steps, about 2 minutes on 2 CPU cores at 768x512) | "
                               "slow (3000 steps, 11-18 %% fewer bytes, about 3x as long; uses CUDA where present)")
    grid: str = _opt(DEFAULT_GRID, "grid field levels: per level the log2 downsampling factors of its new grids "
                                   "(dot-separated) and its synthesis width", metavar="F.F:W,F:W,...")
    widths: tuple | None = _opt(None, "cumulative hidden width per level (default: fitted to the picture: "
                                      "30,69,110,151 above 512x384, fewer and narrower levels below)",
                                metavar="W1,W2,...")
    mode: str = _opt("progressive", "progressive | slimmable | individual")
    grow: str = _opt("spectral", "growth: spectral (levels add detail) | spatial (level k adds the k-th of K "
                                 "vertical stripes of an image) | temporal (level k adds the k-th of K windows "
                                 "of a video's frames)")
    signal: str | None = _opt(None, "signal kind: image | video | sdf (default: video under --grow temporal, "
                                    "sdf for a mesh or point cloud input, else image)")
    layers: int | None = _opt(None, "sine layers (default: " + ", ".join(
        f"{n} for {k}s" for k, n in DEFAULT_LAYERS.items()) + ")")
    init: str = _opt("siren", "growth init: siren (paper) | zero-out (new output columns zero)")
    quality: int | None = _opt(None, "0..100: higher is better and bigger; steps chosen by rate and distortion "
                                     f"(default: {DEFAULT_QUALITY} unless --bits is given; not for an sdf)", flag="-q")
    bits: int | None = _opt(None, f"experts, instead of --quality: fixed bits per weight, {MIN_BITS}..{MAX_CODED_BITS} "
                                  f"(each row's step from its peak; an sdf's default: {SDF_BITS})")
    qat: bool | None = _opt(None, "quantisation-aware training: the last 15%% of each stage's steps "
                                  "run at the quantised values (straight-through; with --quality at the "
                                  "rate-distortion steps), then the output columns are re-solved (default: "
                                  "on at --bits 4 or fewer, where it pays; off with --quality, where it does not)")
    rdoq: bool | None = _opt(None, "rate-distortion rounding: each weight takes the integer below or above it by "
                                   "bits against a second-order estimate of the output's error (with --quality; "
                                   "default: on)")
    preset: str = _opt("fast", "fast (CPU) | paper (the seed's recipe, for GPUs)")
    steps: int | None = _opt(None, "training steps per level (overrides the preset)")
    time_budget: float | None = _opt(None, "wall-clock seconds for all training, split across levels; "
                                           "NOT deterministic", metavar="SECONDS")
    deadline: float | None = _opt(None, "seconds the training and quantisation of the preset's steps must fit "
                                        "in: on a machine too slow or busy for them, stages train fewer steps "
                                        "(said on stderr and recorded in the file as steps_asked; the bytes then "
                                        "depend on the machine). The training and quantising end within the "
                                        "deadline plus a margin of about the last level's quantisation (under 6 s "
                                        "at 768x512), or it says that they cannot (before training where a few "
                                        f"timed steps show it). Default {DEFAULT_DEADLINE:.0f} with the fast "
                                        "preset's steps, none with --steps; 0: none", form=False, metavar="SECONDS")
    levels: int | None = _opt(None, "latent field: how many levels its grids are sent in, 1 to the picture's "
                                    "most (4 at 768x512: the coarse grids, then 1/4, 1/2, 1/1; default: the most); "
                                    "fewer merges the finest into one level: 1 gives one level, no early pictures, "
                                    "and about a quarter fewer bytes at the same PSNR (bench/RESULTS.md)")
    seed: int = _opt(0, "random seed")
    lr: float | None = _opt(None, "learning rate (overrides the preset)")
    batch: int | None = _opt(None, "samples per step (overrides the preset)")

    def __post_init__(self):
        try:
            set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen)
            if self.widths is not None:
                set_("widths", parse_widths(self.widths) if isinstance(self.widths, str)
                     else tuple(int(w) for w in self.widths))
            for name in ("seed",):
                set_(name, _int(getattr(self, name), name))
            for name in ("layers", "steps", "batch", "bits", "quality", "levels"):
                if getattr(self, name) is not None:
                    set_(name, _int(getattr(self, name), name))
            for name in ("time_budget", "lr", "deadline"):
                if getattr(self, name) is not None:
                    set_(name, _float(getattr(self, name), name))
            for name in ("qat", "rdoq"):
                if getattr(self, name) is not None:
                    set_(name, _parse_bool(getattr(self, name)))
        except ArchError as e:
            raise SettingsError(str(e)) from None
        self.validate()

    def validate(self) -> None:
        if self.field not in FIELDS:
            raise SettingsError(f"field {self.field!r} is not known (choose {', '.join(FIELDS)})")
        if self.field == "grid":
            self.grid_arch(3)  # its own rules and limits
            if self.grow != "spectral" or self.signal not in (None, "image"):
                raise SettingsError("field grid encodes images with spectral growth only (videos, SDFs and "
                                    "spatial or temporal growth are the siren field's)")
            siren_only = ("preset", "mode", "bits", "quality", "widths", "layers", "init")  # at their defaults
            given = [f.name for f in fields(self) if f.name in siren_only and getattr(self, f.name) != f.default]
            given += [n for n in ("qat", "rdoq") if getattr(self, n)]
            if given:
                raise SettingsError(f"field grid has its own recipe: --{given[0].replace('_', '-')} applies to the "
                                    "siren field only (the grid's levels are set by --grid)")
        if self.field == "latent":
            if self.grow != "spectral" or self.signal not in (None, "image"):
                raise SettingsError("field latent encodes images with spectral growth only")
            siren_only = ("preset", "mode", "bits", "grid", "batch", "widths", "layers", "init")
            if self.qat or self.rdoq or any(getattr(self, f.name) != f.default for f in fields(self)
                                            if f.name in siren_only):
                raise SettingsError("field latent has its own recipe: --preset, --mode, --qat, --rdoq, --bits, "
                                    "--grid, --batch, --widths, --layers and --init do not apply to it")
        elif self.effort != "fast":
            raise SettingsError("effort applies to the latent field only")
        elif self.levels is not None:
            raise SettingsError("levels applies to the latent field only (a siren's levels are its --widths, "
                                "a grid's its --grid)")
        if self.levels is not None and not 1 <= self.levels <= LATENT_MAX_LEVELS:
            raise SettingsError(f"levels must be 1..{LATENT_MAX_LEVELS}")
        if self.effort not in EFFORTS:
            raise SettingsError(f"effort {self.effort!r} is not known (choose {', '.join(EFFORTS)})")
        if self.mode not in MODES:
            raise SettingsError(f"mode {self.mode!r} is not supported (choose {', '.join(MODES)})")
        if self.grow not in GROWS:
            raise SettingsError(f"grow {self.grow!r} is not supported (choose {', '.join(GROWS)})")
        if self.signal is not None and self.signal not in SIGNALS:
            raise SettingsError(f"signal {self.signal!r} is not known (choose {', '.join(SIGNALS)})")
        if self.init not in INITS:
            raise SettingsError(f"init {self.init!r} is not known (choose {', '.join(INITS)})")
        if self.preset not in PRESET_NAMES:
            raise SettingsError(f"preset {self.preset!r} is not known (choose {', '.join(PRESET_NAMES)})")
        if self.bits is not None and not MIN_BITS <= self.bits <= MAX_CODED_BITS:
            raise SettingsError(f"bits must be {MIN_BITS}..{MAX_CODED_BITS}, got {self.bits}")
        if self.quality is not None and not 0 <= self.quality <= 100:
            raise SettingsError(f"quality must be 0..100, got {self.quality}")
        if self.quality is not None and self.bits is not None:
            raise SettingsError("quality and --bits do not go together: give one")
        if self.kind == "sdf" and self.quality is not None:
            raise SettingsError("quality does not apply to an sdf (its steps weigh sample MSE, not distance "
                                f"and normals): give --bits, default {SDF_BITS}")
        if self.rdoq and self.quality_on is None:
            raise SettingsError("rdoq needs --quality (its trade of bits for error is the quality's)")
        if self.qat and self.bits is None and self.kind == "sdf":
            raise SettingsError("qat needs --bits for an sdf (its steps are fixed bits)")
        if self.steps is not None and not 1 <= self.steps <= MAX_STEPS:
            raise SettingsError(f"steps must be 1..{MAX_STEPS}")
        if self.time_budget is not None and not 0 < self.time_budget <= MAX_TIME_BUDGET:
            raise SettingsError("time_budget must be a positive number of seconds (at most a week)")
        if self.steps is not None and self.time_budget is not None:
            raise SettingsError("give steps or a time budget, not both")
        if self.deadline is not None and not 0 <= self.deadline <= MAX_TIME_BUDGET:
            raise SettingsError("deadline must be 0 (none) or a positive number of seconds (at most a week)")
        if self.deadline and self.time_budget is not None:
            raise SettingsError("a time budget already bounds the training: give it or a deadline, not both")
        if self.batch is not None and self.batch < 1:
            raise SettingsError("batch must be at least 1")
        if self.lr is not None and not 0 < self.lr < 1:
            raise SettingsError("lr must be in (0, 1)")
        if not 0 <= self.seed < 2 ** 63:
            raise SettingsError("seed must be 0..2^63-1")
        self.check_decodable(self.arch(d_out=3))  # the architecture's rules and limits (and kind vs growth)

    def check_decodable(self, arch: Arch, header: dict | None = None) -> None:
        """Refuse, before any training, what a decoder would refuse (format_spec.md 5 and 5.1):
        a level's chunk over 64 MiB, more parameters than the cost model's limit, and, once the
        input's size is known (`header`: its signal and size), a render above the limit."""
        from snf.format import coded, cost
        from snf.format.container import MAX_CHUNK_BYTES
        for k in range(1, arch.levels + 1):
            if coded.head_size(arch, k) + arch.level_params(k) > MAX_CHUNK_BYTES:
                raise SettingsError(f"level {k} ({arch.level_params(k):,} parameters) would exceed the format's "
                                    f"chunk limit of {MAX_CHUNK_BYTES:,} bytes")
        params = cost.params_upto(arch, arch.levels)
        if params > cost.MAX_PARAMS:
            raise SettingsError(f"{params:,} parameters exceed the format's limit of {cost.MAX_PARAMS:,} "
                                "(format_spec.md 5.1): no decoder would read the file")
        if header is not None:
            try:
                cost.check(header, arch, arch.levels)
            except cost.CostError as e:
                raise SettingsError(f"no decoder would render this file: {e}") from None

    # -- derived ---------------------------------------------------------------
    @property
    def qat_on(self) -> bool:
        """With --bits, `qat` None means on at 4 bits or fewer (measured: it pays there and costs above);
        with --quality, off unless asked (the straight-through phase then trains at the RD steps)."""
        if self.bits is None:
            return bool(self.qat) and self.quality_on is not None
        return self.bits <= QAT_AUTO_BITS if self.qat is None else self.qat

    @property
    def deadline_on(self) -> float | None:
        """Seconds the fixed-step training must fit in, or None. By default only the fast
        preset's own steps get one: they are sized to take ~170 s of a 768x512 encode on a
        2-core machine, and CPUs differ by 1.5x, so a slow one would otherwise pass the
        5-minute mark; on a machine fast enough it never acts and the bytes stay the same."""
        if self.deadline is not None:
            return self.deadline or None
        if self.steps is None and self.time_budget is None and self.preset == "fast":
            return DEFAULT_DEADLINE
        return None

    @property
    def rdoq_on(self) -> bool:
        """Rate-distortion rounding: with --quality, on unless turned off (bench/RESULTS.md)."""
        return self.quality_on is not None and self.rdoq is not False

    def header_record(self) -> dict:
        """The settings as a file's header records them (`encoder.settings`; batch reruns
        compare with it): a SIREN's with qat resolved, without the grid family's keys and unset ones, a
        grid's only the keys the grid field reads (a header byte is a level-1 byte)."""
        if self.field == "grid":
            return {k: v for k, v in self.to_dict().items() if k in GRID_KEYS}
        if self.field == "latent":
            return {k: v for k, v in self.to_dict().items() if k in LATENT_KEYS and v is not None}
        # unset options (None) and those at their defaults are left out (from_dict reads a missing
        # key as the default, and `for_signal` resolves kind and layers alike again): on a small
        # picture the header is a large part of level 1's bytes
        implied = {"signal": self.grow != "temporal" and "image" or "video", "layers": DEFAULT_LAYERS.get(self.kind),
                   "qat": self.with_(qat=None).qat_on}  # qat as it resolves when not given
        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        return {k: v for k, v in self.with_(qat=self.qat_on).to_dict().items()
                if k not in GRID_ONLY and v is not None and v != defaults.get(k) and v != implied.get(k, MISSING)}

    def grid_arch(self, d_out: int) -> GridArch:
        try:
            grids, hidden = parse_grid_levels(self.grid)
            return GridArch(grids, hidden, layers=2, d_out=d_out)
        except GridArchError as e:
            raise SettingsError(f"grid {e}") from None

    @property
    def kind(self) -> str:
        """The signal kind these settings encode (`signal`, else implied by `grow`)."""
        return self.signal or ("video" if self.grow == "temporal" else "image")

    @property
    def quality_on(self) -> int | None:
        """The quality that sets the steps, or None in the fixed-bits mode."""
        if self.bits is not None or self.kind == "sdf":
            return None
        return DEFAULT_QUALITY if self.quality is None else self.quality

    def for_signal(self, signal: str) -> "EncodeSettings":
        """With the kind an input turned out to be and that kind's default depth filled in
        (what the header's encoder record stores: what ran)."""
        s = self if self.signal == signal else self.with_(signal=signal)
        if signal == "sdf" and s.bits is None:
            s = s.with_(bits=SDF_BITS)
        if s.layers is not None or s.field != "siren":  # the grid field has no SIREN layers
            return s
        return s.with_(layers=s.arch(d_out=3).layers)

    def widths_for(self, pixels: int | None = None) -> tuple:
        """The widths an encode uses: the ones given, else those fitted to an image of `pixels`
        pixels (`presets.fitted`; other signal kinds, and None, the reference widths)."""
        if self.widths is not None:
            return self.widths
        from snf.sizes import fitted
        return fitted(pixels if self.kind == "image" else None)[0]

    def fitted_recipe(self, pixels: int | None) -> tuple:
        """(steps per level, batch) the default encode of an image of `pixels` pixels uses
        instead of the preset's, each None where the preset's stand: only with the fast preset,
        widths, steps and batch not given, and an image."""
        if self.widths is not None or self.preset != "fast" or self.kind != "image" or self.field != "siren":
            return None, None
        from snf.sizes import fitted
        _, steps, batch = fitted(pixels)
        return (None if self.steps is not None or self.time_budget is not None else steps,
                None if self.batch is not None else batch)

    def check_pixels(self, pixels: int, what: str = "the image") -> None:
        """SettingsError if a picture of `pixels` pixels is too small for the field (before any
        training: a 1x1 picture once trained 20 s, then failed in a singular solve)."""
        if self.field != "siren":
            return
        from snf.sizes import min_pixels
        widths = self.widths_for(pixels)
        need = min_pixels(widths)
        if pixels < need:
            raise SettingsError(f"{what} has {pixels} pixel{'s' if pixels != 1 else ''}: too small for the field "
                                f"(widths {','.join(map(str, widths))} need at least {need})")

    def arch(self, d_in: int | None = None, d_out: int = 3, pixels: int | None = None) -> Arch:
        """The architecture for `kind` with `d_out` channels (d_in follows from the kind;
        given, it must agree), for a picture of `pixels` pixels (None: the reference size)."""
        try:
            arch = arch_for_signal(self.kind, self.widths_for(pixels), channels=d_out, layers=self.layers, mode=self.mode,
                                   grow=self.grow, init=self.init)
        except ArchError as e:
            raise SettingsError(str(e)) from None
        if d_in is not None and d_in != arch.d_in:
            raise SettingsError(f"a {self.kind} field has {arch.d_in} inputs, not {d_in}")
        return arch

    def to_dict(self) -> dict:
        """JSON-able: the job row, and `from_dict` reads it back."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["widths"] = None if self.widths is None else list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EncodeSettings":
        """From a job row or any mapping of names to values or strings; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}")
        try:
            return cls(**{k: v for k, v in d.items() if v is not None and v != ""})
        except (TypeError, ArchError) as e:
            raise SettingsError(str(e)) from None

    @classmethod
    def for_cli(cls, message: str) -> str:
        """A settings message with the field spelled as its option: 'bits must...' -> '--bits must...'."""
        for f in fields(cls):
            if message.startswith(f.name + " "):
                return "--" + f.name.replace("_", "-") + message[len(f.name):]
        return message

    def with_(self, **kw) -> "EncodeSettings":
        return replace(self, **kw)

    # -- the command line --------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, exclusive=(("steps", "time_budget"),)) -> None:
        """One option per field: --name (underscores as dashes), defaults shown from the field."""
        groups = {}
        for names in exclusive:
            g = parser.add_mutually_exclusive_group()
            for n in names:
                groups[n] = g
        for f in fields(cls):
            meta, flag = f.metadata, "--" + f.name.replace("_", "-")
            flags = [meta["flag"], flag] if meta["flag"] else [flag]
            default = f.default if f.default is not MISSING else f.default_factory()
            target = groups.get(f.name, parser)
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            help_ = meta["help"] + (f" (default: {shown})" if default is not None else "")
            if f.type in ("bool | None", "bool"):
                target.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                    help=help_)
            else:
                target.add_argument(*flags, dest=f.name, default=None, metavar=meta["metavar"], help=help_)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "EncodeSettings":
        return cls.from_dict({f.name: getattr(args, f.name) for f in fields(cls)
                              if getattr(args, f.name, None) is not None})

    # -- the upload form ---------------------------------------------------------
    @classmethod
    def form_fields(cls) -> dict:
        """Upload form fields: name -> help text (the server's API docs list these)."""
        return {f.name: f.metadata["help"].replace("%%", "%") for f in fields(cls) if f.metadata["form"]}

    @classmethod
    def from_form(cls, form) -> "EncodeSettings":
        return cls.from_dict({name: str(form.get(name)) for name in cls.form_fields()
                              if form.get(name) not in (None, "")})


QAT_AUTO_BITS = 4


def _int(value, name: str) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {str(value)[:40]!r}") from None


def _float(value, name: str) -> float:
    try:
        v = float(str(value).strip()) if not isinstance(value, (int, float)) or isinstance(value, bool) \
            else float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {str(value)[:40]!r}") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise SettingsError(f"{name} must be a finite number")
    return v
