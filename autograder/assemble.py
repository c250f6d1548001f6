"""The notebook that is actually run for a submission: the instructor's cells, the student's answers.

Only the student's answers come from the submission: every teaching cell, test cell,
point value, cell metadata and the kernelspec come from the released assignment (nbgrader
then puts the hidden tests back into the test cells). So a deleted, edited, duplicated or
renamed test cell, changed points or a changed kernel cannot change what is graded.
Cells the student added are kept where they were (after the same instructor cell) and run
like any other code, since honest work often defines a helper in a cell of its own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat
from nbgrader.utils import is_grade, is_locked, is_solution

from autograder.cells import as_released, catalog_id, grade_id_of, without_hidden_tests


@dataclass
class StudentCell:
    """A code cell whose source the student wrote: checked before it runs."""

    label: str  # "E1-07" for an answer cell, "a cell added after E1-07-test" for an extra one
    exercise: str | None  # the exercise it belongs to (None: none follows it)
    source: str


@dataclass
class Assembled:
    notebook: object  # nbformat.NotebookNode, ready for nbgrader's autograde
    student_cells: list[StudentCell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def assemble(source, release, submitted) -> Assembled:
    """The release with the submission's answers in place and its extra cells after their anchors
    (`source`, the instructor's notebook, tells which test cells the student changed)."""
    answers = {grade_id_of(c) for c in release.cells if is_solution(c)}
    instructor = {grade_id_of(c): c for c in release.cells if grade_id_of(c)}
    chosen, extras, notes = _sort_cells(submitted.cells, answers, instructor)
    notes += _changed_tests(source, submitted)

    nb = copy.deepcopy(release)
    cells = list(extras.pop(None, []))  # extra cells above every instructor cell
    for cell in release.cells:
        gid = grade_id_of(cell)
        if gid in chosen:
            cell = copy.deepcopy(cell)
            cell.source = chosen[gid].source
        cells.append(cell)
        cells += extras.pop(gid, [])
    nb.cells = [_clean(c) for c in cells]
    return Assembled(nb, _student_cells(nb.cells, answers), notes)


def _sort_cells(cells, answers, instructor):
    """(the graded copy of each answer cell, the extra cells by the instructor cell they follow, notes).

    When an answer cell appears more than once (a copy-paste), the last copy is the answer and
    the others run, where they were, as extra cells."""
    last = {grade_id_of(cell): index for index, cell in enumerate(cells)
            if grade_id_of(cell) in answers and cell.get("cell_type") == instructor[grade_id_of(cell)].cell_type}
    chosen, extras, notes, anchor = {}, {}, [], None
    for index, cell in enumerate(cells):
        gid = grade_id_of(cell)
        if last.get(gid) == index:
            chosen[gid], anchor = cell, gid
        elif gid in instructor and gid not in last:
            anchor = gid  # the instructor's own cell: the release's copy is used
        elif cell.get("cell_type") in ("code", "markdown"):
            if gid in last:
                notes.append(f"answer cell {gid} appears more than once: the last copy was graded, "
                             "the others ran as extra cells")
            elif gid and gid not in instructor:
                notes.append(f"a cell with grade_id {gid!r}, which the assignment does not have, ran as an extra cell")
            extras.setdefault(anchor, []).append(_extra(cell))
    return chosen, extras, sorted(set(notes), key=notes.index)


def _extra(cell):
    """A student's own cell: its source only (no nbgrader role, no outputs, no metadata)."""
    if cell.get("cell_type") == "code":
        return nbformat.v4.new_code_cell(cell.get("source", ""))
    return nbformat.v4.new_markdown_cell(cell.get("source", ""))


def _clean(cell):
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _changed_tests(source, submitted) -> list[str]:
    """Notes on test cells the student deleted or edited (the release's copy is what runs),
    whichever release they had, self-study or graded."""
    handed_in = {}
    for cell in submitted.cells:
        handed_in.setdefault(grade_id_of(cell), cell)
    notes = []
    for cell in source.cells:
        if not (is_grade(cell) and is_locked(cell)) or is_solution(cell) or cell.cell_type != "code":
            continue
        gid = grade_id_of(cell)
        released = {without_hidden_tests(as_released(cell.source, graded, catalog_id(gid))) for graded in (False, True)}
        if gid not in handed_in:
            notes.append(f"test cell {gid} was deleted (restored)")
        elif without_hidden_tests(as_released(handed_in[gid].get("source", ""), False, "")) not in released:
            notes.append(f"test cell {gid} was edited (restored)")
    return notes


def _student_cells(cells, answers) -> list[StudentCell]:
    """The code the student wrote: answer cells belong to their exercise, an extra cell to
    the exercise whose test runs next after it."""
    found = []
    for index, cell in enumerate(cells):
        gid = grade_id_of(cell)
        if cell.cell_type != "code" or (gid is not None and gid not in answers):
            continue
        if gid is not None:
            found.append(StudentCell(gid, catalog_id(gid), cell.source))
            continue
        before = [grade_id_of(c) for c in cells[:index] if grade_id_of(c)]
        tests_after = [grade_id_of(c) for c in cells[index + 1:] if is_grade(c)]
        label = f"a cell added after {before[-1]}" if before else "a cell added at the top"
        found.append(StudentCell(label, catalog_id(tests_after[0]) if tests_after else None, cell.source))
    return found
