"""snf-serve DIR [--host 127.0.0.1] [--port 8000]: serve every .snf file directly in DIR."""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile

from snf.cli.common import UsageError, run
from snf.serve.config import Settings

PROG = "snf-serve"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the .snf files directly in DIR (asset id = file name without .snf) over HTTP: "
                    "manifests, chunked streams with Range/ETag and optional pacing, level PNGs, and "
                    "background encodes of uploaded images. State (SQLite catalogue, render cache, job "
                    "folders) lives in DIR/.snf-*. API docs at /docs.")
    p.add_argument("dir", help="directory of .snf files (must exist and be writable)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default: %(default)s)")
    p.add_argument("--token-env", default="SNF_TOKEN",
                   help="environment variable holding the bearer token for uploads; unset = read-only "
                        "(default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="encode jobs run at once (default: %(default)s)")
    p.add_argument("--encode-threads", type=int, help="torch threads per encode job (default: torch's)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=os.environ.get("SNF_SCHEDULER") or None,
                   help="run encode jobs on this Dask distributed scheduler instead of local processes "
                        "(default: $SNF_SCHEDULER if set); needs pip install 'snf[cluster]'")
    p.add_argument("--max-upload-mb", type=float, default=20, help="largest upload, MB (default: %(default)s)")
    p.add_argument("--max-pixels", type=int, default=16_000_000, help="largest uploaded image (default: %(default)s)")
    p.add_argument("--max-steps", type=int, default=20_000, help="most training steps per level (default: %(default)s)")
    p.add_argument("--max-queue", type=int, default=16, help="queued encode jobs before uploads get 429 (default: %(default)s)")
    p.add_argument("--max-encode-mb", type=int, default=3072,
                   help="memory an encode may take, MiB: larger uploads are refused, workers are capped "
                        "(default: %(default)s)")
    p.add_argument("--max-connections", type=int, default=1100,
                   help="open connections; past it 503 + Retry-After (default: %(default)s)")
    p.add_argument("--max-paced-streams", type=int, default=1000,
                   help="?kbps= streams at once; past it 503 + Retry-After (default: %(default)s)")
    p.add_argument("--max-render-params", type=int, default=1 << 24,
                   help="most parameters a level render may decode (default: %(default)s; the format's limit is 2^26)")
    p.add_argument("--max-render-macs", type=int, default=1 << 38,
                   help="most multiply-adds of one level render (default: %(default)s; the format's limit is 2^42)")
    p.add_argument("--max-render-mb", type=int, default=2048,
                   help="memory (MiB) of one render process (default: %(default)s)")
    p.add_argument("--header-timeout", type=float, default=10.0,
                   help="seconds a client has to send its request headers (default: %(default)s)")
    p.add_argument("--idle-timeout", type=float, default=30.0,
                   help="seconds a response may stall on a client that does not read (default: %(default)s)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--no-access-log", action="store_true", help="do not log each request")
    return p


def settings_from(args) -> Settings:
    root = os.path.realpath(args.dir)
    if not os.path.isdir(root):
        raise UsageError(f"{args.dir}: no such directory")
    try:  # really write: access() says yes to root on a read-only mount
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError:
        raise UsageError(f"{args.dir}: directory is not writable (the catalogue and cache live in it)") from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    if args.workers < 1 or (args.encode_threads is not None and args.encode_threads < 1):
        raise UsageError("--workers and --encode-threads must be at least 1")
    if args.max_upload_mb <= 0 or args.max_pixels < 1 or args.max_steps < 1 or min(
            args.max_queue, args.max_encode_mb, args.max_connections, args.max_paced_streams,
            args.max_render_params, args.max_render_macs, args.max_render_mb) < 1 \
            or args.header_timeout <= 0 or args.idle_timeout <= 0:
        raise UsageError("limits must be positive")
    if args.scheduler:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError("--scheduler needs Dask: pip install 'snf[cluster]'") from None
    return Settings(root=root, token=os.environ.get(args.token_env) or None, token_env=args.token_env,
                    scheduler=args.scheduler,
                    workers=args.workers, encode_threads=args.encode_threads,
                    max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_pixels=args.max_pixels,
                    max_steps=args.max_steps, max_queue=args.max_queue, max_encode_mb=args.max_encode_mb,
                    max_connections=args.max_connections, max_paced_streams=args.max_paced_streams,
                    header_timeout=args.header_timeout, idle_timeout=args.idle_timeout,
                    max_render_params=args.max_render_params, max_render_macs=args.max_render_macs,
                    max_render_mb=args.max_render_mb)


def bind(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts, so a taken port is a one-line error and port 0 works."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(2048)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def log_config(level: str) -> dict:
    """uvicorn's logging, with the server's own `snf.*` loggers on the same handler."""
    import copy
    from uvicorn.config import LOGGING_CONFIG
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["snf"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    # out of descriptors: one line per incident, not a traceback per failed accept()
    config["filters"] = {"once": {"()": "snf.serve.limits.OncePerIncident"}}
    config["loggers"]["asyncio"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    for name in ("asyncio", "uvicorn.error", "snf"):
        config["loggers"][name]["filters"] = ["once"]
    return config


def body(argv) -> int:
    args = parser().parse_args(argv)
    settings = settings_from(args)
    import dataclasses

    import uvicorn
    from snf.serve.app import create_app
    from snf.serve.connections import guarded_protocol
    from snf.serve.limits import raise_descriptor_limit
    allowed = raise_descriptor_limit(settings.max_connections)
    if allowed < settings.max_connections:
        print(f"{PROG}: the descriptor limit allows {allowed} connections, not {settings.max_connections}",
              file=sys.stderr)
        settings = dataclasses.replace(settings, max_connections=allowed,
                                       max_paced_streams=min(settings.max_paced_streams, allowed))
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    writes = "uploads enabled" if settings.token else f"read-only (set {settings.token_env} to allow uploads)"
    print(f"{PROG}: serving {settings.root} at http://{shown}:{port}/ ({writes}; docs at /docs)", flush=True)
    protocol = guarded_protocol(settings.max_connections, settings.header_timeout, settings.idle_timeout,
                                settings.retry_after)
    config = uvicorn.Config(create_app(settings), log_level=args.log_level, access_log=not args.no_access_log,
                            log_config=log_config(args.log_level), timeout_graceful_shutdown=5, http=protocol,
                            timeout_keep_alive=settings.keepalive_timeout, backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def main(argv=None) -> int:
    sys.exit(run(PROG, body, argv))
