"""Grading one submission: a pure unit of work.

In: the assignment prepared for grading (`Template`: the instructor's notebook, its release,
a gradebook that knows its cells, and the values the instructor's solution recorded) and
the bytes of one student's notebook. Out (`UnitResult`): status, notes, the score of every
graded cell, the autograded notebook and the feedback page.

A unit runs nbgrader's own autograde and generate_feedback in a private temporary course
root, with the kernel in the sandbox. It touches nothing else, so units can run in any
order, in parallel, on any machine with the course's environment (a process pool or a
Dask cluster), and the parent alone writes the class's gradebook and grades.csv.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.utils import is_solution
from sqlalchemy.exc import SAWarning

from autograder import canary, static_check
from autograder.assemble import assemble
from autograder.cells import autograded_points, catalog_id
from autograder.execute import KERNEL_DIED
from autograder.preprocessors import is_test
from autograder.workspace import nbgrader_config, quiet_api

REFERENCE_STUDENT = "instructor-solution"


@dataclass(frozen=True)
class Settings:
    cell_timeout: int | None = None  # seconds per cell (None: nbgrader_config.py's)
    sandbox: bool = True
    limits: object | None = None  # autograder.sandbox.Limits (None: its defaults)


@dataclass(frozen=True)
class Template:
    """One notebook of an assignment, ready to grade against: plain bytes, so it travels."""

    assignment: str
    notebook: str
    files: dict  # path relative to the course root -> bytes: source/, release/, gradebook.db
    reference: dict | None = None  # what the solution recorded (None: this is the solution's own run)

    @functools.cached_property
    def max_points(self) -> dict[str, float]:
        """Catalog id -> the autograded points of its test cells (read once per template)."""
        return autograded_points(self.read("source"))

    @property
    def version(self) -> str:
        """Changes whenever the instructor's notebook does: results graded against another
        version are graded again."""
        return hashlib.sha256(self.files[f"source/{self.assignment}/{self.notebook}.ipynb"]).hexdigest()

    def read(self, folder: str):
        return nbformat.reads(self.files[f"{folder}/{self.assignment}/{self.notebook}.ipynb"].decode(), as_version=4)


@dataclass(frozen=True)
class Job:
    student: str
    template: Template
    submission: bytes  # the notebook file as handed in
    settings: Settings = Settings()


@dataclass
class UnitResult:
    student: str
    assignment: str
    notebook: str
    status: str = "graded"  # needs review, tampered, over a limit, timed out, kernel died, corrupt, failed
    notes: list = field(default_factory=list)
    grades: dict = field(default_factory=dict)  # grade_id -> {"score", "max_score", "needs_manual_grade"}
    raw: dict = field(default_factory=dict)  # test grade_id -> score before flags and tampering voided it
    flags: list = field(default_factory=list)  # static-check findings: {"exercise", "cell", "line", "reason"}
    verdicts: dict = field(default_factory=dict)  # test grade_id -> autograder.judge.Verdict as JSON
    feedback_lines: dict = field(default_factory=dict)  # visible test grade_id -> the student's failure message
    events: list = field(default_factory=list)  # limits hit, from the sandbox
    autograded: bytes | None = None
    feedback: bytes | None = None
    reference: dict | None = None  # the solution's run only: records, fingerprints, problems
    sandbox: bool = True
    seconds: dict = field(default_factory=dict)  # "total", "execute", "feedback"


def grade_unit(job: Job) -> UnitResult:
    """Autograde one notebook; never raises for anything in the submission."""
    start = time.perf_counter()
    t = job.template
    result = UnitResult(job.student, t.assignment, t.notebook, sandbox=job.settings.sandbox)
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-unit-") as scratch:
            _run(job, Path(scratch), result)
    except Exception as error:  # the grader's own failure: this notebook's row, never the batch's end
        result.status = "failed"
        result.notes.append(f"the grader could not grade this notebook: {type(error).__name__}: {_first_line(error)}")
    result.seconds["total"] = round(time.perf_counter() - start, 2)
    if not job.settings.sandbox:
        result.notes.append("graded without the sandbox (--no-sandbox): for trusted submissions only")
    return result


def _run(job: Job, root: Path, result: UnitResult):
    t = job.template
    submitted = parse_notebook(job.submission)
    if isinstance(submitted, str):
        result.status, result.notes = "corrupt", [submitted]
        return
    for relative, data in t.files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)

    reference_run = t.reference is None
    assembled = assemble(t.read("source"), t.read("release"), submitted)
    result.notes += [] if reference_run else assembled.notes
    flags = [] if reference_run else _flags(assembled.student_cells, t.read("source"))
    result.flags = flags
    nb = assembled.notebook
    planted = canary.insert_canaries(nb, {c.metadata.nbgrader.grade_id for c in nb.cells if is_test(c)})
    target = root / "submitted" / job.student / t.assignment / f"{t.notebook}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)

    plan = root / "plan.json"
    plan.write_text(json.dumps({
        "mode": "reference" if reference_run else "student",
        "expected": None if reference_run else t.reference["records"],
        "fingerprints": None if reference_run else t.reference["fingerprints"],
        "canaries": planted,
        "flagged": sorted({f["exercise"] for f in flags if f["exercise"]}),
    }), encoding="utf-8")
    api = quiet_api(nbgrader_config(root, job.settings, plan_file=plan, mode="reference" if reference_run else "student"))

    began, began_wall = time.perf_counter(), time.time()
    with warnings.catch_warnings():  # nbgrader's gradebook trips an SQLAlchemy autoflush notice per submission
        warnings.simplefilter("ignore", SAWarning)
        outcome = api.autograde(t.assignment, job.student, force=True, create=True)
    result.seconds["execute"] = round(time.perf_counter() - began, 2)
    if not outcome["success"]:
        raise RuntimeError(_last_line(outcome.get("error", "")) or "nbgrader autograde failed")
    autograded = root / "autograded" / job.student / t.assignment / f"{t.notebook}.ipynb"
    graded = nbformat.read(autograded, as_version=4)
    result.seconds.update(_phases(graded, began_wall))
    meta = graded.metadata.get("autograder", {})
    if reference_run:
        result.reference = {k: meta[k] for k in ("records", "fingerprints", "problems")}
    result.verdicts = meta.get("verdicts", {})
    result.raw = {gid: v["raw"] for gid, v in result.verdicts.items()}
    result.events = meta.get("events", [])
    result.feedback_lines = _feedback_lines(graded)
    _decide_status(result, meta.get("tampered", []), graded)
    result.grades = _grades(root, job.student, t)
    result.autograded = autograded.read_bytes()

    if not reference_run:
        began = time.perf_counter()
        feedback = api.generate_feedback(t.assignment, job.student, force=True)
        result.seconds["feedback"] = round(time.perf_counter() - began, 2)
        page = root / "feedback" / job.student / t.assignment / f"{t.notebook}.html"
        if feedback["success"] and page.exists():
            result.feedback = page.read_bytes()
        else:
            result.notes.append("feedback could not be generated: " + _last_line(feedback.get("error", "")))


def parse_notebook(data: bytes):
    """The notebook in `data`, or a note saying why it is not one (never quoting its content)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not a readable notebook: the file is not UTF-8 text"
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # bad JSON or not a notebook at all
        return f"not a readable notebook: {type(error).__name__} (it is not valid notebook JSON)"
    try:
        nbformat.validate(nb)
    except Exception:
        return "not a readable notebook: it does not follow the notebook format"
    return nb


def _flags(student_cells, source) -> list[dict]:
    """What the static check finds in the code the student wrote. Names the instructor's
    cells define (helpers the tests call) may not be redefined by it."""
    protected = set().union(*(static_check.definitions(c.source) for c in source.cells
                              if c.cell_type == "code" and not is_solution(c)))
    write_yourself = {c.metadata.nbgrader.grade_id: c.metadata.get("autograder", {}).get("write_yourself", [])
                      for c in source.cells if is_solution(c)}
    return [{"exercise": cell.exercise, "cell": cell.label, "line": finding.line, "reason": finding.reason}
            for cell in student_cells
            for finding in static_check.check_source(cell.source, protected)
            + static_check.uses(cell.source, write_yourself.get(cell.label, []))]


def _decide_status(result: UnitResult, tampered: list[str], graded):
    kinds = {e["kind"] for e in result.events}
    died = any(o.get("ename") == KERNEL_DIED for c in graded.cells for o in c.get("outputs", []))
    timeouts = [i for i, c in enumerate(graded.cells) for o in c.get("outputs", []) if o.get("ename") == "CellTimeoutError"]
    if tampered:
        result.status = "tampered"
        result.notes += [f"tampered: {reason}; autograded points void" for reason in tampered]
    elif result.flags:
        result.status = "needs review"
    elif kinds & {"memory", "output", "disk", "processes"}:
        result.status = "over a limit"
    elif timeouts or kinds & {"notebook time", "cell time"}:
        result.status = "timed out"
    elif died or "kernel died" in kinds:
        result.status = "kernel died"
    result.notes += [f"needs review: {f['cell']}, line {f['line']}: {f['reason']}"
                     + (f" ({f['exercise']} scores 0 until cleared)" if f["exercise"] else "") for f in result.flags]
    result.notes += [e["detail"] for e in result.events]
    if died and "kernel died" not in kinds:
        first = next(i for i, c in enumerate(graded.cells) for o in c.get("outputs", []) if o.get("ename") == KERNEL_DIED)
        result.notes.append(f"the kernel died in cell {first}; later cells scored zero")
    if timeouts and "cell time" not in kinds:
        result.notes.append(f"cell {', '.join(map(str, timeouts))} ran past the time limit and was stopped")


def _phases(graded, began_wall: float) -> dict[str, float]:
    """Where a notebook's time went, from the timestamps nbclient keeps in each cell:
    "kernel" (up to the first cell: nbgrader's steps and the kernel's start), "setup" (the
    first cell: imports and the model), "cells" (running every other cell)."""
    spans = cell_spans(graded)
    if not spans:
        return {}
    return {"kernel": round(spans[0][0] - began_wall, 2), "setup": round(spans[0][1] - spans[0][0], 2),
            "cells": round(sum(end - start for start, end in spans[1:]), 2)}


def cell_spans(nb) -> list[tuple[float, float]]:
    """(execute_input, execute_reply) wall-clock seconds of each executed code cell, in order."""
    spans = []
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            spans.append((_epoch(timing["iopub.execute_input"]), _epoch(timing["shell.execute_reply"])))
    return spans


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _feedback_lines(graded) -> dict[str, str]:
    """The first failure message of every visible test cell that failed: what the student saw."""
    lines = {}
    for cell in graded.cells:
        if is_test(cell) and "BEGIN HIDDEN TESTS" not in cell.source:
            errors = [o for o in cell.outputs if o.output_type == "error"]
            if errors:
                lines[cell.metadata.nbgrader.grade_id] = f"{errors[0].ename}: {_first_line(errors[0].evalue)}"
    return lines


def _grades(root: Path, student: str, t: Template) -> dict:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(t.notebook, t.assignment, student)
        return {g.name: {"score": g.auto_score, "max_score": g.max_score, "needs_manual_grade": g.needs_manual_grade,
                         "exercise": catalog_id(g.name)} for g in notebook.grades}


def _first_line(text) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0].strip()[:300] if lines else ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def prepare_template(course, assignment: str, notebook: str, root: Path) -> Template:
    """The files every unit of `assignment`'s `notebook` starts from: its source, its release
    and a gradebook that knows its cells (nbgrader's generate_assignment, run once in `root`)."""
    from autograder.workspace import Workspace

    workspace = Workspace(root, course)
    workspace.prepare(assignment)
    files = {str(p.relative_to(root)): p.read_bytes()
             for folder in ("source", "release") for p in (root / folder / assignment).rglob("*") if p.is_file()}
    files["gradebook.db"] = (root / "gradebook.db").read_bytes()
    return Template(assignment, notebook, files)
