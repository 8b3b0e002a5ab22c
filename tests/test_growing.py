"""A growing file: compress(publish=...) hands out a valid prefix after each level but
the last, and the final bytes do not depend on it."""
from snf.encode.encoder import compress
from snf.format.container import read


def test_publish_prefixes_then_the_same_final_bytes(tiny_image):
    kw = dict(widths=(8, 16, 24), layers=3, steps=30, seed=2)
    published = []
    out = compress(tiny_image, publish=published.append, **kw)
    assert out["bytes"] == compress(tiny_image, **kw)["bytes"]
    final = read(out["bytes"])
    assert len(published) == 2
    for k, prefix in enumerate(published, 1):
        p = read(prefix)
        assert not p.complete and p.levels_complete == k and p.error.level == k + 1  # "truncated" at k+1: growing
        assert p.header["levels"] == final.header["levels"][:k]  # figures of the levels it holds
        # the level chunks are the final file's, byte for byte (only the header grows)
        assert prefix[p.header_end:] == out["bytes"][final.header_end:final.ends[k - 1]]
        for a, b in zip(p.levels, final.levels):
            assert all((x == y).all() for x, y in zip(a, b))
