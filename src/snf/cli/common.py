"""What every command shares: one-line errors with exit code 2, never a traceback."""
from __future__ import annotations

import os
import sys
import tempfile
import unicodedata

from snf.field.arch import ArchError
from snf.format.container import SnfError
from snf.format.quant import QuantError
from snf.signals.image import SignalError

USER_ERRORS = (SnfError, SignalError, ArchError, QuantError, ValueError, OSError)  # CostError is a ValueError


class UsageError(Exception):
    """Bad arguments that argparse cannot see (an unwritable output, say)."""


def escape(text: str, keep: str = "\n") -> str:
    """Text from a file or a server, safe for a terminal: control and format characters
    (C0, DEL, C1, bidi overrides) become backslash escapes, so an ESC sequence in a header
    or an HTTP reason phrase is shown, never executed. `keep`: characters left as they are."""
    out = []
    for ch in str(text):
        if ch in keep:
            out.append(ch)
            continue
        o = ord(ch)
        if o < 0x20 or 0x7f <= o < 0xa0 or unicodedata.category(ch) in ("Cf", "Cs", "Co", "Cn") and o > 0x7f:
            out.append(f"\\x{o:02x}" if o <= 0xff else f"\\u{o:04x}" if o <= 0xffff else f"\\U{o:08x}")
        else:
            out.append(ch)
    return "".join(out)


def json_safe(v, depth: int = 0):
    """A value strict JSON (`allow_nan=False`) can carry: non-finite floats become null, other
    types are dropped. The informative parts of a header are the file's word."""
    import math
    if depth > 64:
        return None
    if isinstance(v, dict):
        return {str(k): json_safe(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x, depth + 1) for x in v]
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return v if v is None or isinstance(v, (bool, int, str)) else None


def fail(prog: str, message: str, code: int = 2) -> int:
    print(f"{prog}: error: {escape(message, keep='')}", file=sys.stderr)
    return code


def run(prog: str, body, argv=None) -> int:
    """Run a command body; map expected failures to one line and exit code 2."""
    try:
        return body(argv) or 0
    except KeyboardInterrupt:
        return fail(prog, "interrupted", 130)
    except BrokenPipeError:  # the reader went away (`snf-info x.snf | head -1`): not worth a message
        _silence_stdout()
        return 1
    except UsageError as e:
        return fail(prog, str(e))
    except MemoryError:
        return fail(prog, "out of memory")
    except USER_ERRORS as e:
        if os.environ.get("SNF_DEBUG"):
            raise
        return fail(prog, _one_line(e))
    except Exception as e:  # a bug: still one line; SNF_DEBUG=1 shows the traceback
        if os.environ.get("SNF_DEBUG"):
            raise
        return fail(prog, f"internal error: {e.__class__.__name__}: {_one_line(e)} (set SNF_DEBUG=1 for details)", 1)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or e}"
    text = str(e).strip().splitlines()
    return text[0] if text else e.__class__.__name__


def check_output_path(path: str, directory: bool = False) -> None:
    """Fail before any work if the output cannot be written."""
    target = os.path.abspath(path)
    folder = target if directory and os.path.isdir(target) else os.path.dirname(target)
    if not directory and os.path.isdir(target):
        raise UsageError(f"{path}: is a directory")
    if not os.path.isdir(folder):
        raise UsageError(f"{path}: folder {folder} does not exist")
    try:  # really try: access() says yes to root on read-only file systems
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        raise UsageError(f"{path}: folder is not writable") from None
