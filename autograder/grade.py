"""Grade a folder of submissions: nbgrader autograde, then grades.csv and feedback HTML.

Each student is autograded by a separate nbgrader call, so whatever one submission does
(corrupt JSON, a missing notebook, a dead kernel, an infinite loop, tampered test cells)
is recorded for that student alone and the batch goes on. Every outcome ends up in the
gradebook, in `grades.csv` and in one feedback file per student and notebook.
"""

from __future__ import annotations

import csv
import html
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import sqlalchemy
from nbgrader.preprocessors import ClearHiddenTests
from tqdm.auto import tqdm

from autograder.cells import autograded_points, catalog_id, nbgrader_cells
from autograder.preprocessors import KERNEL_DIED
from autograder.submissions import Submission, collect
from autograder.workspace import Workspace


@dataclass
class NotebookGrade:
    """The autograded outcome of one student's notebook."""

    student: str
    assignment: str
    notebook: str
    status: str = "graded"  # or "missing", "corrupt", "kernel died", "timed out", "failed"
    notes: list[str] = field(default_factory=list)
    points: dict[str, float] = field(default_factory=dict)  # catalog id -> autograded points
    max_points: dict[str, float] = field(default_factory=dict)
    manual_pending: float = 0.0  # points of explanations awaiting the instructor
    seconds: float = 0.0
    feedback: Path | None = None  # the HTML the student gets back
    autograded: Path | None = None  # the executed notebook, hidden tests and all (instructors only)

    @property
    def score(self) -> float:
        return round(sum(self.points.values()), 3)

    @property
    def max_score(self) -> float:
        return round(sum(self.max_points.values()), 3)


def grade_folder(folder: Path, workspace: Workspace, assignment: str | None = None,
                 student_pattern: str | None = None, progress: bool = True) -> list[NotebookGrade]:
    """Grade every submission in `folder`; write grades.csv into the workspace; return the grades."""
    submissions = collect(folder, workspace.course, assignment, student_pattern)
    if not submissions:
        raise ValueError(f"no submissions of {assignment or 'any assignment'} found in {folder}")
    grades = grade_submissions(submissions, workspace, progress)
    write_grades_csv(grades, workspace.root / "grades.csv")
    return grades


def grade_submissions(submissions: list[Submission], workspace: Workspace,
                      progress: bool = True) -> list[NotebookGrade]:
    for assignment in sorted({s.assignment for s in submissions}):
        workspace.prepare(assignment)
    by_student: dict[tuple[str, str], list[Submission]] = {}
    for s in submissions:
        by_student.setdefault((s.student, s.assignment), []).append(s)
    grades = []
    with warnings.catch_warnings():
        # nbgrader's gradebook trips an SQLAlchemy autoflush notice on every new submission
        warnings.simplefilter("ignore", sqlalchemy.exc.SAWarning)
        for (student, assignment), theirs in tqdm(sorted(by_student.items()), desc="grading", unit="student",
                                                  disable=not progress):
            try:
                grades += grade_student(workspace, student, assignment, theirs)
            except Exception as error:  # whatever went wrong is this student's row, never the batch's end
                grades += _failed(workspace, student, assignment, theirs, error)
    return grades


def _failed(workspace, student, assignment, submissions, error) -> list[NotebookGrade]:
    grades = []
    for s in submissions:
        maximum = autograded_points(_source_notebook(workspace, assignment, s.notebook))
        grades.append(NotebookGrade(student, assignment, s.notebook, "failed", [f"grading stopped: {type(error).__name__}: {error}"],
                                    {e: 0.0 for e in maximum}, maximum))
    try:
        _record_zero(workspace, student, assignment, [s.notebook for s in submissions])
    except Exception:  # the gradebook itself is the problem; grades.csv still gets the zero
        pass
    return grades


def grade_student(workspace: Workspace, student: str, assignment: str,
                  submissions: list[Submission]) -> list[NotebookGrade]:
    """Autograde one student's notebooks of one assignment and write their feedback."""
    for step in ("submitted", "autograded", "feedback"):
        shutil.rmtree(workspace.root / step / student / assignment, ignore_errors=True)
    grades = {s.notebook: NotebookGrade(student, assignment, s.notebook) for s in submissions}
    to_autograde = []
    for s in submissions:
        grade = grades[s.notebook]
        submitted, problem = _open_submission(s.path)
        if problem:
            grade.status, grade.notes = problem
            continue
        target = workspace.root / "submitted" / student / assignment / f"{s.notebook}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s.path, target)
        release = nbformat.read(workspace.root / "release" / assignment / f"{s.notebook}.ipynb", as_version=4)
        grade.notes += tampering(submitted, release)
        to_autograde.append(s.notebook)

    if to_autograde:
        start = time.perf_counter()
        result = workspace.api.autograde(assignment, student, force=True, create=True)
        seconds = (time.perf_counter() - start) / len(to_autograde)
        for notebook in to_autograde:
            grades[notebook].seconds = round(seconds, 2)
            if not result["success"]:
                grades[notebook].status = "failed"
                grades[notebook].notes.append(_last_line(result.get("error", "")))
            else:
                _read_run_status(workspace, grades[notebook])
    _record_zero(workspace, student, assignment,
                 [nb for nb, g in grades.items() if g.status in ("missing", "corrupt", "failed")])
    _read_scores(workspace, list(grades.values()))
    _write_feedback(workspace, student, assignment, list(grades.values()))
    return list(grades.values())


def _open_submission(path: Path | None):
    """(the notebook, None), or (None, (status, notes)) when the file cannot be graded at all."""
    if path is None:
        return None, ("missing", ["no notebook handed in"])
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # any reason a file is not a notebook: bad JSON, bad schema, bad encoding
        return None, ("corrupt", [f"not a readable notebook: {type(error).__name__}: {_last_line(str(error))[:200]}"])
    return notebook, None


def tampering(submitted, release) -> list[str]:
    """Which test cells a student deleted or edited (nbgrader restores them before running)."""
    handed_in = {c.grade_id: c for c in nbgrader_cells(submitted)}
    notes = []
    for cell in nbgrader_cells(release):
        if cell.kind != "test":
            continue
        if cell.grade_id not in handed_in:
            notes.append(f"test cell {cell.grade_id} was deleted (restored)")
        elif without_hidden_tests(handed_in[cell.grade_id].source) != cell.source.strip():
            notes.append(f"test cell {cell.grade_id} was edited (restored)")
    return notes


def without_hidden_tests(source: str) -> str:
    """A test cell's source as released (the instructor's own notebook still holds them)."""
    cell = nbformat.v4.new_code_cell(source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source.strip()


def _read_run_status(workspace: Workspace, grade: NotebookGrade):
    """Timeouts and a dead kernel, as the autograded notebook recorded them."""
    path = workspace.root / "autograded" / grade.student / grade.assignment / f"{grade.notebook}.ipynb"
    grade.autograded = path
    nb = nbformat.read(path, as_version=4)
    timed_out, died = [], []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error" and output.ename == "CellTimeoutError":
                timed_out.append(index)
            if output.output_type == "error" and output.ename == KERNEL_DIED and "while running" in output.evalue:
                died.append(index)
    if died:
        grade.status = "kernel died"
        grade.notes.append(f"the kernel died in cell {died[0]}; later cells scored zero")
    elif timed_out:
        grade.status = "timed out"
    if timed_out:
        grade.notes.append(f"cell {', '.join(map(str, timed_out))} ran past the time limit and was stopped")


def _record_zero(workspace: Workspace, student: str, assignment: str, notebooks: list[str]):
    """Zero every cell of notebooks that could not be run, as nbgrader does for missing ones."""
    if not notebooks:
        return
    with workspace.gradebook() as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
        for notebook in notebooks:
            for grade in gb.find_submission_notebook(notebook, assignment, student).grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def _read_scores(workspace: Workspace, grades: list[NotebookGrade]):
    """Autograded points per catalog id, and what awaits manual grading, from the gradebook."""
    with workspace.gradebook() as gb:
        for grade in grades:
            source = _source_notebook(workspace, grade.assignment, grade.notebook)
            grade.max_points = autograded_points(source)
            grade.points = {exercise: 0.0 for exercise in grade.max_points}
            kinds = {c.grade_id: c.kind for c in nbgrader_cells(source)}
            for cell in gb.find_submission_notebook(grade.notebook, grade.assignment, grade.student).grades:
                if kinds.get(cell.name) == "manual" and cell.needs_manual_grade:
                    grade.manual_pending += cell.max_score
                elif kinds.get(cell.name) == "test":
                    exercise = catalog_id(cell.name)
                    grade.points[exercise] = round(grade.points[exercise] + (cell.score or 0.0), 3)


def _source_notebook(workspace: Workspace, assignment: str, notebook: str):
    """The instructor's notebook, hidden tests and points included, as copied into the workspace."""
    return nbformat.read(workspace.root / "source" / assignment / f"{notebook}.ipynb", as_version=4)


def _write_feedback(workspace: Workspace, student: str, assignment: str, grades: list[NotebookGrade]):
    graded = [g for g in grades if g.status not in ("missing", "corrupt", "failed")]
    if graded:
        result = workspace.api.generate_feedback(assignment, student, force=True)
        if not result["success"]:
            for g in graded:
                g.notes.append("feedback could not be generated: " + _last_line(result.get("error", "")))
    for g in grades:
        path = workspace.root / "feedback" / student / assignment / f"{g.notebook}.html"
        if g in graded and path.exists():
            g.feedback = path
        elif g not in graded:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_problem_page(g), encoding="utf-8")
            g.feedback = path


def _problem_page(grade: NotebookGrade) -> str:
    """Feedback for a notebook that could not be run at all."""
    reason = {"missing": "No copy of this notebook was found in your submission.",
              "corrupt": "Your file could not be opened as a notebook, so none of it could be graded.",
              "failed": "The grader could not run your notebook."}[grade.status]
    details = "".join(f"<li>{html.escape(n)}</li>" for n in grade.notes)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(grade.notebook)}</title></head>"
            f"<body><h1>{html.escape(grade.notebook)}: 0 / {grade.max_score:g} points</h1><p>{reason}</p>"
            f"<ul>{details}</ul><p>Check that you hand in the .ipynb file that JupyterLab saved, "
            f"under its original name, and ask your instructor if in doubt.</p></body></html>")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


# --- grades.csv -----------------------------------------------------------------------------

CSV_COLUMNS = ["student", "assignment", "notebook", "status", "score", "max_score", "manual_pending", "notes"]


def write_grades_csv(grades: list[NotebookGrade], path: Path):
    """One row per student and notebook; one column per exercise with its autograded points."""
    exercises = sorted({e for g in grades for e in g.max_points})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS + exercises)
        for g in sorted(grades, key=lambda g: (g.assignment, g.student, g.notebook)):
            writer.writerow([g.student, g.assignment, g.notebook, g.status, f"{g.score:g}", f"{g.max_score:g}",
                             f"{g.manual_pending:g}", "; ".join(g.notes)]
                            + [f"{g.points[e]:g}" if e in g.points else "" for e in exercises])
