"""What `snf-encode` checks before any work so that it never destroys an input: an output
that is one of the inputs, an output name that does not say .snf (torch-free; issue 27).
(A picture too small for the field is refused by `snf.encode.service.encode`, a file larger
than the input's PNG said by its `Summary.warning`.)"""
from __future__ import annotations

import os

from snf.cli.common import UsageError

SUFFIX = ".snf"


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(output: str, inputs: list, force: bool = False) -> None:
    """UsageError (exit 2, before any work) for an output that is one of the inputs (even with
    --force: the input would be gone), or one not named *.snf without --force."""
    for path in inputs:
        if os.path.exists(output) and _same(output, path):
            raise UsageError(f"{output}: is the input {path}; give another output name (-o NAME.snf)")
    if not output.lower().endswith(SUFFIX) and not force:
        raise UsageError(f"{output}: the output is an .snf file, so its name should end in {SUFFIX} "
                         f"(--force writes it anyway)")
