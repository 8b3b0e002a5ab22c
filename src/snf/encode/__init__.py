"""snf.encode: train a growing field and pack its levels (the only torch code).

Nothing outside this package imports torch; `tests/test_layout.py` holds the
decoder, server and client to that.
"""
