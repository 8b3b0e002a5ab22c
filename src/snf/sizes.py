"""Defaults that fit the picture: the widths (so the levels), steps and batch of a default
image encode by pixel count, and the fewest pixels a SIREN can be fitted to.

torch-free and outside `snf.encode`: settings (and so the server) use it to validate.
"""
from __future__ import annotations

# Defaults that fit the picture (images, siren field, preset fast, widths not given): the
# widths, so the levels, and the steps and batch scale with the pixel count. Why: with the
# seed's widths a 192x128 photo became a 55-60 kB file, larger than its 40 kB PNG, because
# the bytes follow the parameters, not the pixels; and the steps, sized for 768x512, took as
# long on a thumbnail. Rows: (at most this many pixels, widths, steps per level (None: the
# preset's), batch (None: the preset's)).
#
# The 192x128 row, measured on centre crops of kodim03/08/14/21 (issue 27; q75, one thread on
# a loaded 2-core machine): files of 3,458-3,581 bytes (6-9 % of their PNGs), 1-3 minutes
# under that load against about 35 for the 768x512 default beside it. Level 1 (about 1.5 kB)
# is 0.6 dB above the progressive-JPEG prefix of the same bytes on kodim03 and kodim14 and
# 0.6-1.1 dB below it on kodim21 and kodim08; level 2 is 0.8-3.5 dB below it on all four
# (narrower or shallower nets, three levels, the grid field: no better; -q 25 brings level 2
# 0.5-0.7 dB closer on kodim08/21, still 1.7-3.0 dB below, level 1 no closer). The other
# rows follow the same rule (parameters about in proportion to pixels, at least two levels);
# they were not measured against the prefix.
REFERENCE_WIDTHS = (30, 69, 110, 151)  # the seed's widths: 768x512 and up
SIZES = (
    (6_144, (8, 16), (1000,), 2048),                      # up to 96x64
    (49_152, (16, 32), (1500,), 4096),                    # up to 256x192 (a 192x128 crop)
    (196_608, (24, 50, 80), (3000, 2300), 8192),          # up to 512x384
    (None, REFERENCE_WIDTHS, None, None),                 # above: the preset's own recipe
)


def fitted(pixels: int | None) -> tuple:
    """(widths, steps per level or None, batch or None) of the default encode of a picture
    of `pixels` pixels (None: the reference size)."""
    for top, widths, steps, batch in SIZES:
        if top is None or (pixels is not None and pixels <= top):
            return widths, steps, batch
    raise AssertionError("SIZES ends with an open row")


def min_pixels(widths) -> int:
    """The fewest pixels a SIREN of these widths can be fitted to: each stage solves output
    columns by least squares, at most one unknown per unit of the widest level and a bias, so
    a picture needs more samples than that (a 1x1 picture made the solve singular)."""
    return max(widths) + 2
