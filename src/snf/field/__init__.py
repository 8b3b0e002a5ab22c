"""snf.field: what a field is, independent of how it is trained or rendered.

The architecture object (`arch.Arch`) owns every rule about which parameter
blocks a level adds; the trainer, the quantiser, the container and both
decoders follow it. numpy-free and torch-free.
"""
