"""Pillow reader (and writer) for .snf: `Image.open("x.snf")` after `snf.register_pillow()`.

`Image.open` reads the header chunk only (size, mode, levels), as Pillow users expect of
it: nothing is decoded, and a file whose header breaks a rule or the cost model's hard
limits (format_spec.md 5.1) is refused there. The picture is decoded on `load()` (or
anything that needs pixels), levels 1..k only.

Levels: a still image whose coarser versions are reachable by `seek`, not an
animation. `is_animated` is False (a viewer must not play the levels as frames), and
`n_frames` is the number of complete levels (a partial download opens too; counting
them walks the chunk heads, no decoding). A freshly opened image sits on the highest
complete level; `seek(i)` renders level i + 1. `info["level"]` and `info["levels"]`
say which.

`Image.save(path, "SNF", **options)` encodes through the encoder (`snf.encode`, needs
torch); options are the encode settings (`widths`, `quality`, `steps`, ...). Without
torch, or with an unknown option, it raises one clear error.
"""
from __future__ import annotations

import struct

from PIL import Image, ImageFile

from snf.format.container import (CHUNK_HEAD, MAX_HEADER_BYTES, MIME_TYPE, PREFIX_LEN, SIGNATURE, Parser,
                                  SnfError, read)
from snf.decode.decoder import PIL_MODES, render_image, to_pil


def _accept(prefix: bytes) -> bool:
    return prefix[: len(SIGNATURE)] == SIGNATURE


class SnfImageFile(ImageFile.ImageFile):
    format = "SNF"
    format_description = "Streamable neural field"
    is_animated = False  # levels are versions of one still picture (seek reaches them), not frames

    def _open(self) -> None:
        start = self.fp.read(PREFIX_LEN + CHUNK_HEAD.size)
        if len(start) < PREFIX_LEN + CHUNK_HEAD.size:
            raise SyntaxError("not a readable .snf file: truncated")
        length = struct.unpack_from(">I", start, PREFIX_LEN)[0]
        if length > MAX_HEADER_BYTES:
            raise SyntaxError("not a readable .snf file: header chunk exceeds the size limit")
        head = start + self.fp.read(length + 4)
        parser = Parser(decode=False)
        parser.feed(head)
        parsed = parser.parsed
        if parsed.header is None:
            raise SyntaxError(f"not a readable .snf file: {parsed.error or 'truncated header'}")
        h = parsed.header
        if h.get("signal") != "image":
            raise SyntaxError("this .snf file does not hold an image")
        from snf.format.cost import CostError, check
        try:  # the hard limits of the full picture, before any pixel is asked for
            check(h, parsed.arch, parsed.arch.levels)
        except CostError as e:
            raise SyntaxError(f"this .snf file is above the decoder's limits: {e}") from None
        self._header_parser = parser
        self._arch = parsed.arch
        self._levels_complete = None  # counted on first use (n_frames, tell, load)
        self._size = tuple(h["size"][:2])
        self._mode = PIL_MODES[h["channels"]]
        self.info["levels"] = parsed.arch.levels
        self.tile = []
        self._frame = None
        self._seeked = False
        self._rendered = None

    def _complete_levels(self) -> int:
        """Complete levels in the file: the chunk framing and CRCs, nothing decoded."""
        if self._levels_complete is None:
            self.fp.seek(0)
            framed = read(self.fp.read(), decode=False)
            self._levels_complete = framed.levels_complete
            self._meta = framed.meta
            if self._levels_complete == 0:
                raise OSError("no complete level in this .snf file")
            if self._frame is None:  # a fresh image sits on the highest complete level
                self._frame = self._levels_complete - 1
                self._set_info()
        return self._levels_complete

    @property
    def n_frames(self) -> int:
        return self._complete_levels()

    def _current(self) -> int:
        self._complete_levels()  # sets the default frame and its info the first time
        return self._frame

    def _set_info(self) -> None:
        from snf.cli.info import level_stats
        k = self._frame + 1
        self.info["level"] = k
        header = self._header_parser.parsed.header
        meta = getattr(self, "_meta", None)  # per-level figures may travel in the ancillary meta chunk
        stats = level_stats(header if "levels" in header or not isinstance(meta, dict) else meta, k)
        if "psnr" in stats:
            self.info["psnr"] = stats["psnr"]

    def seek(self, frame: int) -> None:
        if not self._seek_check(frame):
            return
        self._frame = frame
        self._seeked = True
        self._set_info()

    def tell(self) -> int:
        return self._current()

    def load(self):
        k = self._current() + 1
        if self._rendered != k:
            self.fp.seek(0)
            parsed = read(self.fp.read(), upto=k)  # levels 1..k only
            if parsed.levels_complete < k and not self._seeked and parsed.levels_complete:
                k = parsed.levels_complete  # the last framed level's payload fails: the best one that decodes
                self._frame, self._levels_complete = k - 1, k
                self._set_info()
            if parsed.levels_complete < k:
                raise OSError(f"level {k} is not complete in this .snf file: {parsed.error}")
            self.im = to_pil(render_image(parsed, k), parsed.header["values"].get("bit_depth", 8)).im
            self._rendered = k
        return Image.Image.load(self)


def _save(im, fp, filename) -> None:
    """Encode with the encoder; `im.encoderinfo` holds the save options (encode settings)."""
    import numpy as np
    try:
        from snf.encode.encoder import compress
        from snf.settings import EncodeSettings, SettingsError
    except ImportError as e:
        raise OSError(f"saving .snf needs the encoder (torch): pip install 'snf[encode]' ({e.name} missing)") from None
    options = {k: v for k, v in im.encoderinfo.items() if k not in ("format",)}
    try:
        settings = EncodeSettings.from_dict(options)
    except SettingsError as e:
        raise ValueError(f"cannot save .snf: {e}") from None
    mode = {"1": "L", "L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA"}.get(im.mode, "RGBA" if "A" in im.mode else "RGB")
    arr = np.asarray(im.convert(mode))
    if arr.ndim == 2:
        arr = arr[..., None]
    try:
        data = compress(arr, settings, quiet=True)["bytes"]
    except SnfError as e:
        raise ValueError(f"cannot save .snf: {e}") from None
    fp.write(data)


def register() -> None:
    Image.register_open(SnfImageFile.format, SnfImageFile, _accept)
    Image.register_save(SnfImageFile.format, _save)
    Image.register_extension(SnfImageFile.format, ".snf")
    Image.register_mime(SnfImageFile.format, MIME_TYPE)
