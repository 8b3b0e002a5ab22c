"""Pillow reader for .snf: `Image.open("x.snf")` after `snf.register_pillow()`.

Frames are levels: frame i renders level i + 1, `n_frames` is the number of
complete levels (a partial download opens too), and a freshly opened image
sits on the highest complete level, the best picture the bytes allow.
"""
from __future__ import annotations

from PIL import Image, ImageFile

from snf.format.container import SIGNATURE, MIME_TYPE, read
from snf.decode.decoder import PIL_MODES, render_image, to_pil


def _accept(prefix: bytes) -> bool:
    return prefix[: len(SIGNATURE)] == SIGNATURE


class SnfImageFile(ImageFile.ImageFile):
    format = "SNF"
    format_description = "Streamable neural field"

    def _open(self) -> None:
        parsed = read(self.fp.read())
        if parsed.header is None:
            raise SyntaxError(f"not a readable .snf file: {parsed.error}")
        if parsed.header.get("signal") != "image":
            raise SyntaxError("this .snf file does not hold an image")
        if parsed.levels_complete == 0:
            raise SyntaxError(f"no complete level in this .snf file: {parsed.error}")
        self._parsed = parsed
        w, h = parsed.header["size"][:2]
        self._size = (w, h)
        self._mode = PIL_MODES[parsed.header["channels"]]
        self.n_frames = parsed.levels_complete
        self.is_animated = self.n_frames > 1
        self.info["levels"] = parsed.arch.levels
        self.tile = []
        self._frame = self.n_frames - 1
        self._rendered = None
        self._set_info()

    def _set_info(self) -> None:
        k = self._frame + 1
        self.info["level"] = k
        stats = self._parsed.header.get("levels") or (self._parsed.meta or {}).get("levels") or []
        if isinstance(stats, list) and len(stats) >= k and isinstance(stats[k - 1], dict) and "psnr" in stats[k - 1]:
            self.info["psnr"] = stats[k - 1]["psnr"]

    def seek(self, frame: int) -> None:
        if not self._seek_check(frame):
            return
        self._frame = frame
        self._set_info()

    def tell(self) -> int:
        return self._frame

    def load(self):
        if self._rendered != self._frame:
            arr = render_image(self._parsed, self._frame + 1)
            pic = to_pil(arr, self._parsed.header["values"].get("bit_depth", 8))
            self.im = pic.im
            self._rendered = self._frame
        return Image.Image.load(self)


def register() -> None:
    Image.register_open(SnfImageFile.format, SnfImageFile, _accept)
    Image.register_extension(SnfImageFile.format, ".snf")
    Image.register_mime(SnfImageFile.format, MIME_TYPE)
