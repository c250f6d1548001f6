"""Find the submissions in a folder, whichever way they were handed in.

Three layouts are understood (they can be mixed):
- one folder per student with the notebooks in it: `DIR/alice/01-autoregressive-generation.ipynb`;
- nbgrader's own layout: `DIR/alice/01-autoregressive-generation/01-autoregressive-generation.ipynb`;
- the flat files an LMS download gives, each named with the student id and the notebook:
  `DIR/alice_01-autoregressive-generation.ipynb`, `DIR/12345_678_01-autoregressive-generation (1).ipynb`
  (the student id is what comes before the notebook's name, separators trimmed), or
  anything matched by a `student_pattern` regex with a `student` group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autograder.workspace import Course


@dataclass(frozen=True)
class Submission:
    """One student's file for one notebook; `path` is None when the notebook is missing."""

    student: str
    assignment: str
    notebook: str
    path: Path | None


def safe_student_id(raw: str) -> str:
    """A student id usable as a folder name and in nbgrader's path patterns."""
    student = re.sub(r"[^A-Za-z0-9_.@-]+", "_", raw.strip()).strip("._-")
    if not student:
        raise ValueError(f"cannot make a student id out of {raw!r}")
    return student


def collect(folder: Path, course: Course, assignment: str | None = None,
            student_pattern: str | None = None) -> list[Submission]:
    """Every (student, notebook) pair to grade, a missing notebook included as path=None.

    Which notebooks are expected: those of `assignment` if given, else those of every
    assignment that at least one student handed in."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions")
    if assignment is not None:
        course.check_assignment(assignment)
    owners = _notebook_owners(course, [assignment] if assignment else course.assignments())
    found: dict[tuple[str, str], Path] = {}
    students: set[str] = set()
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            student = safe_student_id(path.name)
            students.add(student)
            for notebook_file in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in notebook_file.parts:
                    _add(found, student, _which_notebook(notebook_file.name, owners), notebook_file)
        elif path.suffix == ".ipynb":
            notebook = _which_notebook(path.name, owners)
            if notebook is None:
                continue
            student = _student_from_file_name(path.name, notebook, student_pattern)
            students.add(student)
            _add(found, student, notebook, path)
    handed_in = {owners[nb] for (_, nb) in found} if assignment is None else {assignment}
    expected = sorted(nb for nb, a in owners.items() if a in handed_in)
    return [Submission(student, owners[nb], nb, found.get((student, nb)))
            for student in sorted(students) for nb in expected]


def _notebook_owners(course: Course, assignments: list[str]) -> dict[str, str]:
    """notebook name -> assignment."""
    return {nb: a for a in assignments for nb in course.notebooks(a)}


def _which_notebook(file_name: str, owners: dict[str, str]) -> str | None:
    """The notebook a file is a copy of: the longest notebook name it contains."""
    matches = [nb for nb in owners if nb in file_name]
    return max(matches, key=len) if matches else None


def _student_from_file_name(file_name: str, notebook: str, student_pattern: str | None) -> str:
    if student_pattern:
        match = re.search(student_pattern, file_name)
        if not match or "student" not in match.groupdict():
            raise ValueError(f"the student pattern {student_pattern!r} does not find a 'student' group in {file_name!r}")
        return safe_student_id(match.group("student"))
    before = file_name.split(notebook)[0].strip(" _-.")
    if not before:
        raise ValueError(f"{file_name!r} does not start with a student id (expected e.g. alice_{notebook}.ipynb)")
    return safe_student_id(before)


def _add(found, student, notebook, path):
    if notebook is None:
        return
    if (student, notebook) in found:
        raise ValueError(f"two files for student {student!r}, notebook {notebook!r}: "
                         f"{found[(student, notebook)]} and {path}; keep one")
    found[(student, notebook)] = path
