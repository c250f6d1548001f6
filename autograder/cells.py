"""What each nbgrader cell of a notebook is: answer, test, manually graded, or locked text.

The conventions are those of solutions/AUTHORING.md: a cell's grade_id starts with its
exercise's catalog id (`E1-04`, `E1-04-test`, `E1-10-fix-hidden`), and the test cells of
an answer cell `X` are the autograded cells whose ids start with `X-`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbgrader.utils import is_grade, is_solution

CATALOG_ID = re.compile(r"^E\d+-\d{2}")


def without_hidden_tests(source: str) -> str:
    """A test cell's source as released: its hidden-test regions removed (a BEGIN without its
    END, say in a student's cell, takes everything after it)."""
    return re.sub(r"[ \t]*### BEGIN HIDDEN TESTS.*?(### END HIDDEN TESTS[^\n]*\n?|$)", "", source, flags=re.S).strip()


SELF_STUDY = re.compile(r"^[ \t]*### BEGIN SELF-STUDY FEEDBACK[^\n]*\n(.*?)^[ \t]*### END SELF-STUDY FEEDBACK[^\n]*\n?",
                        flags=re.S | re.M)


def as_released(source: str, graded: bool, exercise: str) -> str:
    """A test cell's source as a release shows it. Self-study: the right/wrong feedback between
    `### BEGIN SELF-STUDY FEEDBACK` and `### END SELF-STUDY FEEDBACK` stays (markers dropped).
    Graded: it is replaced by a note, since trying every option against it would be an oracle."""
    if not graded:
        return SELF_STUDY.sub(r"\1", source)
    note = f'print("{exercise}: answer given and well formed; it is graded after you hand it in.")\n'
    return SELF_STUDY.sub(lambda match: note, source)


def grade_id_of(cell) -> str | None:
    """The nbgrader grade_id of a cell (a plain dict or a notebook node), None if it has none."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def catalog_id(grade_id: str) -> str:
    """The exercise a cell belongs to ("E1-10-fix-test" -> "E1-10"); other ids stand for themselves."""
    match = CATALOG_ID.match(grade_id)
    return match.group(0) if match else grade_id


@dataclass(frozen=True)
class Cell:
    index: int
    grade_id: str
    kind: str  # "answer" (code to fill in), "test" (autograded), "manual" (graded by hand), "locked"
    points: float
    source: str

    @property
    def exercise(self) -> str:
        return catalog_id(self.grade_id)

    @property
    def hidden(self) -> bool:
        return "BEGIN HIDDEN TESTS" in self.source


def nbgrader_cells(nb) -> list[Cell]:
    """The cells that carry nbgrader metadata, in notebook order."""
    cells = []
    for index, cell in enumerate(nb.cells):
        grade_id = grade_id_of(cell)
        if not grade_id:
            continue
        if is_grade(cell) and (is_solution(cell) or cell.cell_type != "code"):
            kind = "manual"
        elif is_grade(cell):
            kind = "test"
        elif is_solution(cell):
            kind = "answer"
        else:
            kind = "locked"
        points = float(cell.metadata.nbgrader.get("points", 0)) if is_grade(cell) else 0.0
        cells.append(Cell(index, grade_id, kind, points, cell.source))
    return cells


def autograded_points(nb) -> dict[str, float]:
    """Catalog id -> the autograded points its test cells are worth."""
    points: dict[str, float] = {}
    for cell in nbgrader_cells(nb):
        if cell.kind == "test":
            points[cell.exercise] = points.get(cell.exercise, 0.0) + cell.points
    return points


def tests_of(answer: Cell, cells: list[Cell]) -> list[Cell]:
    """The test cells that check an answer cell: those whose id starts with the answer's id + '-',
    else every test cell of the same exercise."""
    tests = [c for c in cells if c.kind == "test" and c.grade_id.startswith(answer.grade_id + "-")]
    return tests or [c for c in cells if c.kind == "test" and c.exercise == answer.exercise]
