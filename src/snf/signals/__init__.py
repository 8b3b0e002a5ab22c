"""snf.signals: load signals and turn them into (coordinates, values) samples, and back."""
