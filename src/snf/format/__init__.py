"""snf.format: the .snf container and the quantised payloads inside it.

What `format_spec.md` specifies lives here: signature, header, chunks, CRCs,
hard limits, and the integer coding of each level. Needs numpy, msgpack and
zstandard; never torch.
"""
