"""bench/ holds benchmarks a maintainer reruns, each documented where it is run: a module
docstring with its command, and that command in bench/RESULTS.md (the one results page)."""
import ast
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
HELPERS = {"timing.py"}  # imported by the benchmarks, not run
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py"))


def test_bench_holds_scripts_and_one_results_page():
    files = sorted(p.name for p in BENCH.iterdir() if p.is_file())
    assert [f for f in files if not f.endswith(".py")] == ["RESULTS.md"], files
    assert len(SCRIPTS) >= 6


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_benchmark_says_how_it_is_run(name):
    doc = ast.get_docstring(ast.parse((BENCH / name).read_text()))
    assert doc, f"{name} has no module docstring"
    if name in HELPERS:
        assert name in (BENCH / "RESULTS.md").read_text()
        return
    command = f"python bench/{name}"
    assert command in doc, f"{name}'s docstring does not show `{command} ...`"
    assert command in (BENCH / "RESULTS.md").read_text(), f"bench/RESULTS.md does not show `{command}`"
