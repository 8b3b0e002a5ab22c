"""Server settings, declared once: one frozen object built by the CLI (or a test) and read by
every route.

Each field carries its metadata (help text, type, lower bound, CLI flag, environment
variable), the way `snf.settings.EncodeSettings` does for encodes: `snf-serve`'s options,
their environment variables (`SNF_<NAME>`, e.g. `SNF_MAX_QUEUE`; the token's variable is
named by `token_env`) and the defaults all come from here. A value is taken from the flag,
else the environment, else the default. Process options that routes never read (host,
port, logging) stay in `snf.serve.cli`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

STATE_PREFIX = ".snf-"   # catalogue, cache and job folders: hidden, never served as assets
ENV_PREFIX = "SNF_"      # environment variable of a setting: SNF_ + its name in capitals


class ServerSettingsError(ValueError):
    """A server setting out of range or unreadable: one line, for users."""


def _opt(default, help: str, type=int, minimum=1, flag: bool = True, env: bool = True, metavar: str | None = None):
    """A settings field with its user-facing metadata. `minimum`: smallest allowed value
    (None: unchecked; floats must be above 0 when it is 0)."""
    return field(default=default, metadata={"help": help, "type": type, "minimum": minimum, "flag": flag,
                                            "env": env, "metavar": metavar})


@dataclass(frozen=True)
class Settings:
    """What a running server allows; figures and reasons of the bounds: serve/README.md, "Limits"."""
    root: str = field(metadata={"help": "the served directory (real path)"})
    token: str | None = field(default=None, metadata={"help": "bearer token for writes; None disables them"})
    token_env: str = _opt("SNF_TOKEN", "environment variable holding the bearer token for uploads; unset = "
                                       "read-only", type=str, minimum=None, env=False, metavar="NAME")
    workers: int = _opt(1, "encode jobs run at once")
    encode_threads: int | None = _opt(None, "torch threads per encode job (none: torch's own default)")
    scheduler: str | None = _opt(None, "run encode jobs on this Dask distributed scheduler instead of local "
                                       "processes; needs pip install 'snf[cluster]'", type=str, minimum=None,
                                 metavar="tcp://HOST:PORT")
    max_upload_mb: float = _opt(20.0, "largest upload, MB (2^20 bytes)", type=float, minimum=0)
    max_pixels: int = _opt(16_000_000, "largest uploaded image, pixels")
    max_steps: int = _opt(20_000, "most training steps per level of an upload")
    max_time_budget: float = _opt(3600.0, "longest time budget of an upload, seconds", type=float, minimum=0)
    max_width: int = _opt(512, "widest level of an uploaded encode")
    max_render_pixels: int = _opt(16_000_000, "largest level render the server makes, samples")
    # a level render's cost, from the header before decoding (format_spec.md 5.1); the format's hard
    # limits are 2^26 parameters and 2^42 multiply-adds: these defaults are lower
    max_render_params: int = _opt(1 << 24, "most parameters a level render decodes (64 MiB of float32)")
    max_render_macs: int = _opt(1 << 38, "most multiply-adds of one level render (~5 s on 2 cores)")
    max_render_mb: int = _opt(2048, "memory (MiB) of a render process (plus 1 GiB of mappings)")
    max_attempts: int = _opt(2, "runs of a job before an interruption fails it")
    # ---- bounds under hostile load (figures and reasons: serve/README.md, "Limits")
    max_queue: int = _opt(16, "queued encode jobs before uploads get 429")
    max_encode_mb: int = _opt(3072, "memory an encode may take, MiB: larger uploads are refused, workers "
                                    "are capped")
    max_connections: int = _opt(1100, "open connections; past it 503 + Retry-After")
    max_paced_streams: int = _opt(1000, "?kbps= streams at once; past it 503 + Retry-After")
    min_kbps: int = _opt(8, "slowest ?kbps= pacing accepted")
    header_timeout: float = _opt(10.0, "seconds a client has to send its request headers (slowloris)",
                                 type=float, minimum=0)
    idle_timeout: float = _opt(30.0, "seconds a response may stall on a client that does not read",
                               type=float, minimum=0)
    keepalive_timeout: float = _opt(5.0, "seconds an idle keep-alive connection is kept", type=float, minimum=0)
    retry_after: int = _opt(5, "seconds, in Retry-After of 429 and 503")

    def __post_init__(self):
        for f in fields(self):
            low = f.metadata.get("minimum")
            value = getattr(self, f.name)
            if low is None or value is None:
                continue
            if value < low or (f.metadata["type"] is float and low == 0 and value <= 0):
                raise ServerSettingsError(f"{option(f)} must be {'above' if low == 0 else 'at least'} {low}, "
                                          f"got {value}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * (1 << 20))

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


def flag_fields() -> list:
    """The settings `snf-serve` has an option for, in declaration order."""
    return [f for f in fields(Settings) if f.metadata.get("flag")]


def option(f) -> str:
    return "--" + f.name.replace("_", "-")


def env_name(f) -> str | None:
    return ENV_PREFIX + f.name.upper() if f.metadata.get("env") else None


def from_sources(root: str, given: dict, environ=None) -> Settings:
    """Settings from flags (`given`: name -> value, None where not given), then the
    environment, then the defaults; the token from the variable `token_env` names."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in flag_fields():
        value = given.get(f.name)
        name = env_name(f)
        if value is None and name and environ.get(name, "").strip():
            text = environ[name].strip()
            try:
                value = f.metadata["type"](text)
            except ValueError:
                raise ServerSettingsError(f"${name}: expected {f.metadata['type'].__name__}, got {text[:40]!r}") \
                    from None
        if value is not None:
            values[f.name] = value
    token_env = values.get("token_env", Settings.token_env)
    return Settings(root=root, token=environ.get(token_env) or None, **values)
