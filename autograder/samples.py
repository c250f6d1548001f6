"""Sample submissions with the exact scores they must get.

Two sources:
- hand-made, in `<samples>/<assignment>.json` (format in solutions/AUTHORING.md): answer-cell
  replacements applied to the release filled with the solutions, and the expected
  autograded points of the catalog ids they change (ids left out get full marks);
- generic, made here for any assignment: the solution notebook itself, the blank release,
  and broken ones (a corrupt file, a missing notebook, an infinite loop, a kernel killed
  mid-notebook, a test cell deleted or edited by the student). Their expected scores
  follow from the notebook's own cells and points.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.cells import Cell, autograded_points, nbgrader_cells, tests_of
from autograder.workspace import Course

GOOD = ("solution", "blank")
BROKEN = ("corrupt", "missing", "infinite-loop", "kernel-dies", "deleted-test", "edited-test")


@dataclass
class Sample:
    """One submission to grade (`notebook` None: nothing handed in; bytes: a damaged file)."""

    name: str  # also the student id it is graded under
    assignment: str
    notebook_name: str
    about: str
    notebook: object  # nbformat.NotebookNode, bytes, or None
    expected: dict[str, float]  # catalog id -> autograded points, every autograded id
    expected_status: str = "graded"
    expected_notes: list[str] = field(default_factory=list)  # substrings the grading notes must contain

    def write(self, folder: Path):
        """Hand the sample in as `folder/<name>/<notebook>.ipynb` (a folder per student)."""
        student = folder / self.name
        student.mkdir(parents=True, exist_ok=True)
        path = student / f"{self.notebook_name}.ipynb"
        if isinstance(self.notebook, bytes):
            path.write_bytes(self.notebook)
        elif self.notebook is not None:
            nbformat.write(self.notebook, path)
        else:
            (student / "README.txt").write_text("handed in without the notebook\n")


class Assignment:
    """The source and release notebooks of a one-notebook assignment."""

    def __init__(self, course: Course, name: str, release: Path):
        notebooks = course.notebooks(name)
        if len(notebooks) != 1:
            raise ValueError(f"sample submissions need exactly one notebook in {name}, found {notebooks}")
        self.course, self.name, self.notebook_name = course, name, notebooks[0]
        self.source = nbformat.read(course.source / name / f"{self.notebook_name}.ipynb", as_version=4)
        self.release = nbformat.read(release / name / f"{self.notebook_name}.ipynb", as_version=4)
        self.cells = nbgrader_cells(self.source)
        self.full = autograded_points(self.source)

    def sample(self, name, about, notebook, expected=None, status="graded", notes=()):
        return Sample(name, self.name, self.notebook_name, about, notebook,
                      self.full if expected is None else expected, status, list(notes))

    # --- building notebooks -----------------------------------------------------------------

    def filled(self, replacements: dict[str, str] | None = None):
        """The release with every answer filled in: from `replacements` where given, else
        the solution (its solution delimiters dropped)."""
        replacements = dict(replacements or {})
        answers = {c.grade_id: c for c in self.cells if c.kind in ("answer", "manual")}
        unknown = sorted(set(replacements) - set(answers))
        if unknown:
            raise ValueError(f"{self.name}: no answer cell {', '.join(unknown)}; "
                             f"the answer cells are {', '.join(answers)}")
        nb = copy.deepcopy(self.release)
        for cell in nb.cells:
            grade_id = _grade_id(cell)
            if grade_id in answers:
                cell.source = replacements.get(grade_id, _solution_text(answers[grade_id].source))
        return nb

    def _cell(self, nb, grade_id):
        return next(c for c in nb.cells if _grade_id(c) == grade_id)

    def value_answer(self) -> Cell:
        """The answer cell the broken samples spoil: the first that defines no function or class
        (later exercises are unlikely to build on it), else the first answer cell."""
        answers = [c for c in self.cells if c.kind == "answer"]
        if not answers:
            raise ValueError(f"{self.name} has no answer cell to build broken samples from")
        plain = [c for c in answers if "def " not in c.source and "class " not in c.source]
        return (plain or answers)[0]

    def expected_without(self, zeroed: list[Cell]) -> dict[str, float]:
        """Full marks except the points of the `zeroed` test cells."""
        expected = dict(self.full)
        for cell in zeroed:
            expected[cell.exercise] = round(expected[cell.exercise] - cell.points, 3)
        return expected

    # --- the samples ------------------------------------------------------------------------

    def solution(self):
        return self.sample("solution", "the solution notebook itself", self.source)

    def blank(self):
        return self.sample("blank", "the release, handed in untouched", self.release,
                           {e: 0.0 for e in self.full})

    def corrupt(self):
        text = nbformat.writes(self.filled())
        return self.sample("corrupt", "a notebook file cut off half way (not valid JSON)",
                           text[: len(text) // 2].encode(), {e: 0.0 for e in self.full}, "corrupt")

    def missing(self):
        return self.sample("missing", "a student folder without the notebook", None,
                           {e: 0.0 for e in self.full}, "missing")

    def infinite_loop(self):
        target = self.value_answer()
        nb = self.filled()
        cell = self._cell(nb, target.grade_id)
        cell.source = "while True:  # never ends: the cell is stopped at the time limit\n    pass\n" + cell.source
        return self.sample("infinite-loop", f"an endless loop before the answer of {target.grade_id}", nb,
                           self.expected_without(tests_of(target, self.cells)), "timed out", ["time limit"])

    def kernel_dies(self):
        target = [c for c in self.cells if c.kind == "answer"][-1]
        nb = self.filled()
        cell = self._cell(nb, target.grade_id)
        cell.source += "\nimport os\nos._exit(1)  # kills the kernel\n"
        later_tests = [c for c in self.cells if c.kind == "test" and c.index > target.index]
        # os._exit is also flagged by the static check: the status says so first.
        return self.sample("kernel-dies", f"the answer of {target.grade_id} kills the kernel", nb,
                           self.expected_without(later_tests), "needs review", ["kernel died", "os._exit"])

    def deleted_test(self):
        target = self.value_answer()
        tests = tests_of(target, self.cells)
        nb = self.filled({target.grade_id: self._cell(self.release, target.grade_id).source})
        ids = {t.grade_id for t in tests}
        nb.cells = [c for c in nb.cells if _grade_id(c) not in ids]
        return self.sample("deleted-test", f"{target.grade_id} left blank and its test cells deleted", nb,
                           self.expected_without(tests), "graded", [f"{t.grade_id} was deleted" for t in tests])

    def edited_test(self):
        target = self.value_answer()
        tests = tests_of(target, self.cells)
        nb = self.filled({target.grade_id: self._cell(self.release, target.grade_id).source})
        for t in tests:
            self._cell(nb, t.grade_id).source = "print('all tests passed')  # edited by the student"
        return self.sample("edited-test", f"{target.grade_id} left blank and its test cells edited to pass", nb,
                           self.expected_without(tests), "graded", [f"{t.grade_id} was edited" for t in tests])

    def hand_made(self) -> list[Sample]:
        path = self.course.samples / f"{self.name}.json"
        if not path.exists():
            return []
        samples = []
        for name, spec in json.loads(path.read_text(encoding="utf-8")).items():
            if name in GOOD + BROKEN:
                raise ValueError(f"{path}: the sample name {name!r} is taken by a generic sample")
            unknown = sorted(set(spec.get("expected", {})) - set(self.full))
            if unknown:
                raise ValueError(f"{path}, sample {name!r}: {', '.join(unknown)} have no autograded cells; "
                                 f"expected ids among {', '.join(self.full)}")
            expected = {**self.full, **{k: float(v) for k, v in spec.get("expected", {}).items()}}
            samples.append(self.sample(name, spec.get("about", ""), self.filled(spec.get("cells", {})), expected))
        return samples


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _solution_text(source: str) -> str:
    """An answer cell's source as a student who solved it would hand it in."""
    keep = [line for line in source.split("\n")
            if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line]
    return "\n".join(keep)


def samples_for(course: Course, assignment: str, release: Path, broken: bool = False) -> list[Sample]:
    """The solution, the blank release, the hand-made samples and, if `broken`, the broken ones."""
    a = Assignment(course, assignment, release)
    samples = [a.solution(), a.blank(), *a.hand_made()]
    if broken:
        samples += [a.corrupt(), a.missing(), a.infinite_loop(), a.kernel_dies(), a.deleted_test(), a.edited_test()]
    return samples
