"""The C extensions under AddressSanitizer and UBSan, in one step (issue 26).

Builds `_fastfield.c` and `_rans.c` with `-fsanitize=address,undefined` into a
temporary folder and runs tests/fuzz/asan_run.py in a subprocess with libasan
preloaded (Python itself is not sanitized): random network shapes against the numpy
path, thousands of malformed kernel calls, and the fuzz corpus through the readers.
A sanitizer report (an out-of-bounds write such as the one `_fastfield.c:130` had
when a group's n exceeded d_out) fails the test. Skipped where gcc or libasan is missing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GCC = shutil.which("gcc")
FLAGS = ["-shared", "-fPIC", "-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=undefined"]


def libasan() -> str | None:
    if GCC is None:
        return None
    path = subprocess.run([GCC, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.skipif(libasan() is None, reason="gcc with libasan is not installed")
def test_c_extensions_under_address_sanitizer(tmp_path):
    sys.path.insert(0, os.path.join(HERE, "fuzz"))
    from corpus import write
    include = sysconfig.get_paths()["include"]
    for name, src in (("_fastfield", "src/snf/decode/_fastfield.c"), ("_rans", "src/snf/format/_rans.c")):
        r = subprocess.run([GCC, *FLAGS, f"-I{include}", os.path.join(ROOT, src), "-o",
                            str(tmp_path / f"{name}.so"), "-lm"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    corpus = tmp_path / "corpus"
    write(str(corpus), 150)
    env = dict(os.environ, LD_PRELOAD=libasan(), PYTHONMALLOC="malloc", OPENBLAS_NUM_THREADS="1",
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=86",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87")
    r = subprocess.run([sys.executable, os.path.join(HERE, "fuzz", "asan_run.py"), str(tmp_path), str(corpus)],
                       capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    report = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, report
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, report
    assert "kernel renders" in r.stdout, report
    print(r.stdout.strip())
