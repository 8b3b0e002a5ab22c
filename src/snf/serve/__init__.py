"""snf.serve: the HTTP server (FastAPI): catalogue, streaming with pacing and ranges, uploads, encode jobs."""
