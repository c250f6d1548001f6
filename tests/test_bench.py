"""`python -m autograder bench --quick` grades a tiny class and prints its table (timings are never asserted)."""

import subprocess
import sys

import pytest

from autograder.workspace import REPO

pytestmark = pytest.mark.slow  # it runs nbgrader: two notebooks at workers=1, then at workers=2


def test_quick_bench_prints_the_table():
    fixtures = REPO / "tests" / "fixtures"
    run = subprocess.run([sys.executable, "-m", "autograder", "--source", str(fixtures / "solutions"),
                          "--samples", str(fixtures / "samples"), "bench", "--quick"],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "2 notebooks of 00-fixture (1 solved, 1 blank)" in out
    header = next(line for line in out.splitlines() if line.startswith("configuration"))
    for column in ("wall s", "fixed s", "s/notebook", "speed-up", "unit mean s", "as expected"):
        assert column in header, column
    rows = {line.split("  ")[0]: line for line in out.splitlines() if line.startswith("workers=")}
    assert set(rows) == {"workers=1, no sandbox", "workers=2, no sandbox"}, out
    assert all(line.rstrip().endswith("yes") for line in rows.values()), out  # graded right: 10 and 0 points
    assert "kernel start until it runs cell 1" in out and "setup cell (import torch, load_pretrained)" in out
    assert out.count("-> met") + out.count("-> NOT met") == 2  # speed-up and overhead, each with its verdict
    assert "load average before" in out and "load average after" in out
