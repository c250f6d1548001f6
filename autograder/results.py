"""The class's results: what each unit of grading returned, recorded once, by one writer.

As each notebook's result arrives, the parent process (never a unit) writes it into the
class's course root: `results/<assignment>/<student>/<notebook>.json` (status, notes, raw
scores, review flags, the submission's hash), the autograded notebook and the feedback
page where nbgrader keeps them, and the scores into nbgrader's gradebook. So a crash, a
kill or Ctrl-C loses nothing already graded, and a rerun can skip what is done.
`grades.csv` is rebuilt from all of that (every few seconds during a batch, at its end,
and by `python -m autograder export`), so the points an instructor gives by hand in the
formgrader appear in it too.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SAWarning

from autograder.cells import catalog_id
from autograder.unit import UnitResult
from autograder.workspace import Workspace


@dataclass
class NotebookGrade:
    """One row of grades.csv: a student's notebook, as the gradebook has it now."""

    student: str
    assignment: str
    notebook: str
    status: str = "graded"
    notes: list[str] = field(default_factory=list)
    points: dict[str, float] = field(default_factory=dict)  # exercise -> autograded points
    max_points: dict[str, float] = field(default_factory=dict)  # exercise -> autograded maximum
    manual: dict[str, float] = field(default_factory=dict)  # exercise -> points given by hand so far
    manual_max: dict[str, float] = field(default_factory=dict)  # exercise -> points graded by hand
    manual_pending: float = 0.0  # points of explanations not graded yet
    seconds: float = 0.0
    feedback: Path | None = None
    autograded: Path | None = None

    @property
    def score(self) -> float:
        """Autograded points (an instructor's override counts instead) plus the points given by hand."""
        return round(sum(self.points.values()) + sum(self.manual.values()), 3)

    @property
    def max_score(self) -> float:
        return round(sum(self.max_points.values()) + sum(self.manual_max.values()), 3)

    @property
    def auto_score(self) -> float:
        return round(sum(self.points.values()), 3)

    @property
    def auto_max(self) -> float:
        return round(sum(self.max_points.values()), 3)


def result_path(workspace: Workspace, assignment: str, student: str, notebook: str) -> Path:
    return workspace.root / "results" / assignment / student / f"{notebook}.json"


def load(workspace: Workspace, assignment: str, student: str, notebook: str) -> dict | None:
    path = result_path(workspace, assignment, student, notebook)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def save(workspace: Workspace, result: UnitResult, sha256: str | None, assignment_version: str,
         max_points: dict[str, float]):
    """Record one notebook's result: its files, the gradebook and its JSON (grades.csv is
    rebuilt from these by `write_csv`, which the batch calls every few seconds and at its end)."""
    folder = (result.student, result.assignment)
    autograded = workspace.root / "autograded" / Path(*folder) / f"{result.notebook}.ipynb"
    feedback = workspace.root / "feedback" / Path(*folder) / f"{result.notebook}.html"
    for path in (autograded, feedback):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    if result.autograded:
        autograded.write_bytes(result.autograded)
    feedback.write_bytes(result.feedback or _problem_page(result, max_points).encode())
    _write_gradebook(workspace, result)
    stored = {k: v for k, v in dataclasses.asdict(result).items() if k not in ("autograded", "feedback")}
    stored["sha256"], stored["assignment_version"] = sha256, assignment_version
    atomic_write(result_path(workspace, result.assignment, result.student, result.notebook),
                 json.dumps(stored, indent=1, sort_keys=True))


def _write_gradebook(workspace: Workspace, result: UnitResult):
    """The unit's scores into the class's gradebook; a manual score given earlier stays."""
    with workspace.gradebook() as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader trips an SQLAlchemy autoflush notice per new submission
        gb.update_or_create_student(result.student)
        gb.update_or_create_submission(result.assignment, result.student)
        for grade in gb.find_submission_notebook(result.notebook, result.assignment, result.student).grades:
            mine = result.grades.get(grade.name)
            grade.auto_score = mine["score"] if mine else 0.0
            grade.needs_manual_grade = bool(mine and mine["needs_manual_grade"]) or grade.manual_score is not None
        gb.db.commit()


def clear_review(workspace: Workspace, student: str, assignment: str, exercises: list[str] | None = None) -> list[str]:
    """An instructor has read the flagged code: give back the points the flagged exercises earned.

    Returns the exercises cleared. The stored result keeps what was cleared and by when."""
    cleared = []
    for path in sorted((workspace.root / "results" / assignment / student).glob("*.json")):
        stored = json.loads(path.read_text(encoding="utf-8"))
        flagged = {f["exercise"] for f in stored["flags"] if f["exercise"]}
        chosen = flagged if exercises is None else flagged & set(exercises)
        if not chosen or stored["status"] == "tampered":
            continue
        for gid, raw in stored["raw"].items():
            if catalog_id(gid) in chosen:
                stored["grades"][gid]["score"] = raw
        stored["flags"] = [f for f in stored["flags"] if f["exercise"] not in chosen]
        stored["notes"].append(f"review cleared by the instructor for {', '.join(sorted(chosen))}")
        if not stored["flags"] and stored["status"] == "needs review":
            stored["status"] = "graded"
        result = UnitResult(**{k: v for k, v in stored.items() if k not in ("sha256", "assignment_version")})
        _write_gradebook(workspace, result)
        atomic_write(path, json.dumps(stored, indent=1, sort_keys=True))
        cleared += sorted(chosen)
    if cleared:  # the student's page shows the points given back (nbgrader's own feedback step)
        workspace.api.generate_feedback(assignment, student, force=True)
    write_csv(workspace)
    return cleared


# --- grades.csv -----------------------------------------------------------------------------

CSV_COLUMNS = ["student", "assignment", "notebook", "status", "score", "max_score", "notes",
               "manual_given", "manual_pending"]


def rows(workspace: Workspace) -> list[NotebookGrade]:
    """Every recorded notebook, with its points as the gradebook has them now."""
    found = []
    with workspace.gradebook() as gb:
        for path in sorted((workspace.root / "results").glob("*/*/*.json")):
            stored = json.loads(path.read_text(encoding="utf-8"))
            row = NotebookGrade(stored["student"], stored["assignment"], stored["notebook"], stored["status"],
                                list(stored["notes"]), seconds=stored["seconds"].get("total", 0.0))
            notebook = gb.find_submission_notebook(row.notebook, row.assignment, row.student)
            for grade in notebook.grades:
                exercise = catalog_id(grade.name)
                if grade.cell.cell_type == "code":  # a test cell; explanations (markdown) are graded by hand
                    row.points[exercise] = round(row.points.get(exercise, 0.0) + (grade.score or 0.0), 3)
                    row.max_points[exercise] = round(row.max_points.get(exercise, 0.0) + grade.max_score, 3)
                else:  # graded by hand; nbgrader gives 0 at once to an explanation left blank
                    row.manual_max[exercise] = round(row.manual_max.get(exercise, 0.0) + grade.max_score, 3)
                    if grade.needs_manual_grade:
                        row.manual_pending += grade.max_score
                    elif grade.score is not None:
                        row.manual[exercise] = round(row.manual.get(exercise, 0.0) + grade.score, 3)
            row.feedback = workspace.root / "feedback" / row.student / row.assignment / f"{row.notebook}.html"
            autograded = workspace.root / "autograded" / row.student / row.assignment / f"{row.notebook}.ipynb"
            row.autograded = autograded if autograded.exists() else None
            found.append(row)
    return found


def write_csv(workspace: Workspace, path: Path | None = None) -> Path:
    """grades.csv: one row per student and notebook, one column per exercise (autograded and
    hand-given points together), rebuilt from the gradebook."""
    grades = rows(workspace)
    exercises = sorted({e for g in grades for e in [*g.max_points, *g.manual_max]})
    path = path or workspace.root / "grades.csv"
    lines = [CSV_COLUMNS + exercises]
    for g in sorted(grades, key=lambda g: (g.assignment, g.student, g.notebook)):
        lines.append([g.student, g.assignment, g.notebook, g.status, f"{g.score:g}", f"{g.max_score:g}",
                      "; ".join(g.notes), f"{sum(g.manual.values()):g}", f"{g.manual_pending:g}"]
                     + [_exercise_cell(g, e) for e in exercises])
    temporary = path.with_suffix(".csv.tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(lines)
    os.replace(temporary, path)
    return path


def _exercise_cell(g: NotebookGrade, exercise: str) -> str:
    if exercise not in g.max_points and exercise not in g.manual_max:
        return ""
    if exercise in g.manual_max and exercise not in g.manual and exercise not in g.max_points:
        return ""  # an explanation not graded yet
    return f"{g.points.get(exercise, 0.0) + g.manual.get(exercise, 0.0):g}"


def _problem_page(result: UnitResult, max_points: dict[str, float]) -> str:
    """Feedback for a notebook that could not be run at all."""
    reason = {"missing": "No copy of this notebook was found in your submission.",
              "corrupt": "Your file could not be opened as a notebook, so none of it could be graded."
              }.get(result.status, "The grader could not run your notebook.")
    details = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(result.notebook)}</title></head>"
            f"<body><h1>{html.escape(result.notebook)}: 0 / {sum(max_points.values()):g} points</h1><p>{reason}</p>"
            f"<ul>{details}</ul><p>Check that you hand in the .ipynb file that JupyterLab saved, "
            f"under its original name, and ask your instructor if in doubt.</p></body></html>")


def atomic_write(path: Path, text: str):
    """Write `text` whole beside `path`, then move it into place: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
