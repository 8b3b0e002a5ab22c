"""Default training budgets that scale with the picture, so any image finishes in a
predictable time: a 128x96 image's `rd` (three encodes) in about a minute, a
768x512 Kodak image at the CPU preset's own length (about 200 s an encode)."""
from __future__ import annotations

REF_PIXELS = 128 * 96
# seconds per encode at REF_PIXELS, and the floor and cap, per command
SCALE = {"rd": (15.0, 5.0, 200.0), "paper": (10.0, 4.0, 200.0), "figures": (10.0, 4.0, 120.0)}


def default_budget(pixels: int, command: str) -> float:
    """Wall-clock seconds for one encode of a picture with `pixels` pixels."""
    per, lo, hi = SCALE[command]
    return round(min(hi, max(lo, per * pixels / REF_PIXELS)), 1)
