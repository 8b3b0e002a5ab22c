"""snf-serve DIR [--host 127.0.0.1] [--port 8000]: serve every .snf file directly in DIR."""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile

from snf.cli.common import UsageError, run
from snf.serve.config import ServerSettingsError, Settings, env_name, flag_fields, from_sources, option

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
    for f in flag_fields():  # every server setting, declared in snf.serve.config.Settings
        default = "none" if f.default is None else f"{f.default:g}" if isinstance(f.default, float) else f.default
        env = env_name(f)
        p.add_argument(option(f), dest=f.name, type=f.metadata["type"], metavar=f.metadata["metavar"] or {int: "N", float: "X"}.get(f.metadata["type"]),
                       help=f"{f.metadata['help']} (default: {default}" + (f"; ${env} if set)" if env else ")"))
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--no-access-log", action="store_true", help="do not log each request")
    return p


def settings_from(args, environ=None) -> Settings:
    """The server's settings: each from its flag, else its environment variable, else the default."""
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
    try:
        settings = from_sources(root, {f.name: getattr(args, f.name) for f in flag_fields()}, environ)
    except ServerSettingsError as e:
        raise UsageError(str(e)) from None
    if settings.scheduler:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError("--scheduler needs Dask: pip install 'snf[cluster]'") from None
    return settings


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
