"""Server settings: one frozen object built by the CLI (or a test) and read by every route."""
from __future__ import annotations

import os
from dataclasses import dataclass

STATE_PREFIX = ".snf-"   # catalogue, cache and job folders: hidden, never served as assets


@dataclass(frozen=True)
class Settings:
    root: str                          # the served directory (real path)
    token: str | None = None           # bearer token for writes; None disables them
    token_env: str = "SNF_TOKEN"
    workers: int = 1                   # encode jobs run at once
    encode_threads: int | None = None  # torch threads per encode job (None: torch's default)
    max_upload_bytes: int = 20 << 20
    max_pixels: int = 16_000_000       # pixels of an uploaded image
    max_steps: int = 20_000            # training steps per level of an upload
    max_time_budget: float = 3600.0    # seconds, for time-budgeted uploads
    max_width: int = 512               # widest level of an uploaded encode
    max_render_pixels: int = 16_000_000
    # ---- a level render's cost, from the header before decoding (format_spec.md 5.1); the spec's
    # hard limits are 2^26 parameters and 2^42 multiply-adds: these defaults are lower
    max_render_params: int = 1 << 24   # parameters decoded for one render (64 MiB of float32)
    max_render_macs: int = 1 << 38     # multiply-adds of one render (~5 s at 57 GMAC/s on 2 cores)
    max_render_mb: int = 2048          # address space of a render process (plus 1 GiB of mappings)
    max_attempts: int = 2              # runs of a job before an interruption fails it
    # ---- bounds under hostile load (figures and reasons: serve/README.md, "Limits")
    max_queue: int = 16                # jobs queued (not running) before uploads get 429
    max_encode_mb: int = 3072          # estimated encoder memory (MiB) above which an upload is refused
    max_connections: int = 1100        # open HTTP connections; past it 503 + Retry-After at accept
    max_paced_streams: int = 1000      # ?kbps= streams at once; past it 503 + Retry-After
    min_kbps: int = 8                  # slowest ?kbps= pacing accepted
    header_timeout: float = 10.0       # seconds to send a request's headers (slowloris)
    idle_timeout: float = 30.0         # seconds a connection may stall (no byte read or written)
    keepalive_timeout: float = 5.0     # seconds an idle keep-alive connection is kept
    retry_after: int = 5               # seconds, in Retry-After of 429 and 503
    scheduler: str | None = None       # Dask scheduler address: encode jobs run on that cluster

    @property
    def db_path(self) -> str:
        return os.path.join(self.root, STATE_PREFIX + "catalog.sqlite3")

    @property
    def cache_dir(self) -> str:
        return os.path.join(self.root, STATE_PREFIX + "cache")

    @property
    def jobs_dir(self) -> str:
        return os.path.join(self.root, STATE_PREFIX + "jobs")

    def job_dir(self, job_id: str) -> str:
        return os.path.join(self.jobs_dir, job_id)
