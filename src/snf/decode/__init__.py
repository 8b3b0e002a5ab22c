"""snf.decode: .snf bytes (any prefix) to pixels, with numpy and an optional C kernel."""
