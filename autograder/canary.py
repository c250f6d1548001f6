"""Canary cells: the grader's tamper check on the kernel that runs a submission.

Before every test cell, and once at the end, the grader inserts a cell that reports a fresh
secret and a fingerprint of the kernel's cell-running machinery (`arlib.grading.canary`).
A canary that ran but did not report its secret means cells are being rewritten or
swallowed; a fingerprint that differs from the one the instructor's solution gave at the
same place means the student's code installed a hook (an input or AST transformer, a
replaced `run_cell`, an exception handler, a display hook, a trace function). Either way
the submission is `tampered` and its autograded points are void.
"""

from __future__ import annotations

import secrets

import nbformat

from autograder.cells import grade_id_of
from autograder.judge import record_payloads

TAG = "autograder-canary"


def insert_canaries(nb, before: set[str]) -> dict[str, str]:
    """Put a canary cell before each cell whose grade_id is in `before`, and one at the end.

    Returns canary name (the grade_id it guards, or "end") -> its secret."""
    cells, planted = [], {}
    for cell in nb.cells:
        grade_id = grade_id_of(cell)
        if grade_id in before:
            cells.append(_canary_cell(grade_id, planted))
        cells.append(cell)
    cells.append(_canary_cell("end", planted))
    nb.cells = cells
    return planted


def _canary_cell(name: str, planted: dict[str, str]):
    secret = planted[name] = secrets.token_hex(16)
    cell = nbformat.v4.new_code_cell(f"import arlib.grading.canary\narlib.grading.canary.report({secret!r})")
    cell.metadata = {TAG: name}
    return cell


def read_canaries(nb) -> dict[str, dict]:
    """Canary name -> {"ran": bool, "reports": [what it reported]}."""
    found = {}
    for cell in nb.cells:
        name = cell.get("metadata", {}).get(TAG)
        if name is not None:
            found[name] = {"ran": cell.get("execution_count") is not None,
                           "reports": [p for p in record_payloads(cell) if "canary" in p]}
    return found


def fingerprints(nb) -> dict[str, dict]:
    """Canary name -> the fingerprint it reported (from a trusted run: the solution's)."""
    return {name: c["reports"][0]["fingerprint"] for name, c in read_canaries(nb).items() if c["reports"]}


def tampering(nb, planted: dict[str, str], baseline: dict[str, dict]) -> list[str]:
    """Why the run of `nb` cannot be trusted (empty: every canary that ran reported as it should)."""
    problems = []
    for name, canary in read_canaries(nb).items():
        where = "at the end of the notebook" if name == "end" else f"before {name}"
        reports = canary["reports"]
        if not canary["ran"]:
            continue  # the kernel died or the notebook ran out of time before it: not tampering
        if len(reports) != 1 or reports[0].get("canary") != planted.get(name):
            problems.append(f"the grader's check {where} did not report as it should (cells are being rewritten or swallowed)")
            continue
        reported, expected = reports[0].get("fingerprint", {}), baseline.get(name, {})
        changed = [part for part in sorted(set(reported) | set(expected)) if reported.get(part) != expected.get(part)]
        if changed:
            problems.append(f"{where}, the kernel's {', '.join(changed)} had been changed by the submission's code")
    return problems


def remove_canaries(nb):
    nb.cells = [c for c in nb.cells if TAG not in c.get("metadata", {})]
