"""One encode, whatever asks for it: load the input, set up torch, compress with the
family the settings name, write the file atomically, summarise.

Every front end goes through here: `snf-encode` (`snf.cli.encode`) calls `encode_file`;
a batch task (`snf.batch.task`, in a local pool or on Dask, and so the server's Dask
jobs) calls `load` and `encode`, because its bytes are written by the submitting side;
the server's worker process (`snf.serve.worker`) calls `load` (it sizes the activation
cache from the picture) and `encode_file`. So what an encode does is decided once:
which compress function runs is `encoder.FAMILIES[settings.field][kind]` (a new field
family is one entry there), and every family returns the same `encoder.Encoded`.

torch-free at import (the encoder is imported after torch is set up), so a front end
that only parses arguments never loads torch.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from snf.settings import EncodeSettings

KINDS = ("image", "video", "sdf")


@dataclass
class Signal:
    """A loaded input: its kind, and the arguments its compress function takes
    (`args`: the image; the clip; points and normals; `options`: a clip's fps)."""
    kind: str
    args: tuple
    options: dict = field(default_factory=dict)

    @property
    def samples(self) -> int:
        """Pixels, or pixels times frames (a shape: 0; its file has a fixed grid)."""
        if self.kind == "sdf":
            return 0
        shape = self.args[0].shape
        n = 1
        for d in shape[:-1]:
            n *= int(d)
        return n


@dataclass(frozen=True)
class Summary:
    """What an encode made, for the line a front end prints or stores."""
    kind: str
    levels: int
    size: int             # bytes of the file
    samples: int          # the header's size multiplied out (pixels, pixels x frames, grid cells)
    last: dict            # the last level's figures (psnr, or chamfer for a shape)
    sha256: str           # hex digest of the file's bytes (the server records it before placing)
    seconds: float
    png: int | None = None  # an image's own size as a lossless PNG (None: not an image)

    @property
    def bits_per_sample(self) -> float:
        """Bits per pixel (a video's: per pixel of every frame): snf-info's and the manifest's bpp."""
        return self.size * 8 / self.samples

    @property
    def warning(self) -> str | None:
        """A line when the file is larger than the picture as a lossless PNG, else None."""
        if self.png is None or self.size <= self.png:
            return None
        return (f"warning: the .snf file ({self.size:,} bytes) is larger than this picture as a lossless PNG "
                f"({self.png:,} bytes); lower --quality or give fewer, narrower --widths")

    @property
    def figure(self) -> str:
        """The last level's quality: '31.20 dB', or 'Chamfer 0.0123' for a shape."""
        return f"{self.last['psnr']:.2f} dB" if "psnr" in self.last else f"Chamfer {self.last['chamfer']}"

    def brief(self) -> str:
        """'4 levels, 23,573 bytes, last level 29.30 dB' (the server's job message)."""
        return f"{self.levels} levels, {self.size:,} bytes, last level {self.figure}"

    def line(self, path: str) -> str:
        """The line `snf-encode` prints after writing `path`."""
        rate = "" if self.kind == "sdf" else f"{self.bits_per_sample:.3f} bpp, "
        return (f"wrote {path}: {self.kind}, {self.levels} levels, {self.size:,} bytes, "
                f"{rate}last level {self.figure}")


def load(source, settings: EncodeSettings, kind: str = "image") -> Signal:
    """Read one input of `kind` (a path, or for an image also a file object whose str()
    names it); one-line SignalError on a bad one."""
    if kind == "video":
        from snf.signals.video import load_video
        video, fps = load_video(source)
        return Signal("video", (video,), {"fps": fps})
    if kind == "sdf":
        from snf.signals.sdf import load_shape
        return Signal("sdf", load_shape(source, seed=settings.seed))
    if kind != "image":
        raise ValueError(f"signal kind {kind!r} is not known (choose {', '.join(KINDS)})")
    from snf.signals.image import load_image
    return Signal("image", (load_image(source),))


def encode(signal: Signal, settings: EncodeSettings, *, threads: int | None = None, device: str | None = None,
           quiet: bool = True, progress=None, publish=None, cache_limit: int | None = None):
    """Set up torch (threads, device), then compress `signal` with the family
    `settings.field` names -> `encoder.Encoded`. `quiet`, `progress`, `publish` and
    `cache_limit` as `encoder.compress`; none of them changes the bytes."""
    if signal.kind == "image":  # too small for the field: refused before torch is set up
        shape = signal.args[0].shape
        settings.check_pixels(shape[0] * shape[1], f"a {shape[1]}x{shape[0]} image")
    from snf.encode.runtime import prepare
    prepare(threads, device)
    from snf.encode.encoder import FAMILIES
    kinds = FAMILIES[settings.field]
    if signal.kind not in kinds:
        raise ValueError(f"field {settings.field} does not encode {signal.kind}s (it encodes "
                         f"{', '.join(k + 's' for k in kinds)})")
    return kinds[signal.kind](*signal.args, settings, **signal.options, quiet=quiet, device=device,
                              progress=progress, publish=publish, cache_limit=cache_limit)


def summarise(result, kind: str, seconds: float, image=None) -> Summary:
    """The `Summary` of an `encoder.Encoded` (`image`: the picture, to compare with its PNG)."""
    samples = 1
    for n in result["header"]["size"]:
        samples *= n
    data = result["bytes"]
    return Summary(kind=kind, levels=len(result["levels"]), size=len(data), samples=samples,
                   last=dict(result["levels"][-1]), sha256=hashlib.sha256(data).hexdigest(),
                   seconds=round(seconds, 2), png=None if image is None else png_bytes(image))


def png_bytes(img) -> int:
    """The size of a uint8 (H, W, C) picture as a lossless PNG (Pillow's default compression)."""
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[2] == 1 else img).save(buf, format="PNG")
    return buf.tell()


def encode_file(source, output: str, settings: EncodeSettings, *, kind: str = "image", threads: int | None = None,
                device: str | None = None, quiet: bool = True, progress=None, publish_levels: bool = False,
                cache_limit: int | None = None) -> Summary:
    """Encode one input (a path, or a `Signal` already loaded) into the file `output`,
    written atomically (durably: an encode took minutes). `publish_levels`: also write
    `output` after each level but the last, as a valid prefix file (replaced atomically),
    so a server streams early levels while later ones train."""
    from snf.format.container import write_atomic
    t0 = time.monotonic()
    signal = source if isinstance(source, Signal) else load(source, settings, kind)
    publish = (lambda prefix: write_atomic(output, prefix, durable=False)) if publish_levels else None
    result = encode(signal, settings, threads=threads, device=device, quiet=quiet, progress=progress,
                    publish=publish, cache_limit=cache_limit)
    write_atomic(output, result["bytes"])
    return summarise(result, signal.kind, time.monotonic() - t0,
                     signal.args[0] if signal.kind == "image" else None)
