"""snf.fetch: the terminal client that streams an asset and writes each level as it lands."""
