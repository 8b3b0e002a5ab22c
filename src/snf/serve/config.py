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
    max_attempts: int = 2              # runs of a job before an interruption fails it

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
