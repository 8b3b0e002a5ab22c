"""A one-line progress bar on stderr (no dependency): level, step, PSNR, time."""
from __future__ import annotations

import sys
import time


class Bar:
    """Redraws at most every `every` seconds; silent when quiet or not a TTY-less pipe wanted."""

    def __init__(self, quiet: bool = False, stream=None, every: float = 0.2):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.every = every
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._open = False

    def update(self, label: str, done: float, total: float, info: str, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not force and now - self._last < (self.every if self._tty else 5.0):
            return
        self._last = now
        frac = 0.0 if total <= 0 else min(1.0, done / total)
        bar = "#" * int(frac * 24)
        line = f"{label} [{bar:<24}] {info}"
        if self._tty:
            self.stream.write("\r\x1b[2K" + line)
            self._open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def line(self, text: str) -> None:
        """A permanent line (a level's summary)."""
        if self.quiet:
            return
        self.warn(text)

    def warn(self, text: str) -> None:
        """A permanent line that --quiet does not hide: a warning that the result is not
        what was asked (as `snf-encode` prints a file larger than its PNG)."""
        if self._open:
            self.stream.write("\r\x1b[2K")
            self._open = False
        self.stream.write(text + "\n")
        self.stream.flush()
