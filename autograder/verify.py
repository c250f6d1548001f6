"""Grade sample submissions and compare every score with the one expected: `check` and `demo`.

The samples go through exactly what `grade` does (`autograder.grade.grade_submissions`):
the same units, sandbox, executor and recording.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass

from autograder.grade import Options, grade_submissions
from autograder.results import NotebookGrade
from autograder.samples import Sample, samples_for
from autograder.submissions import collect
from autograder.workspace import Workspace


@dataclass
class Outcome:
    sample: Sample
    grade: NotebookGrade

    @property
    def problems(self) -> list[str]:
        """How the grade differs from what the sample expects (empty: as expected)."""
        problems = []
        if self.grade.status != self.sample.expected_status:
            problems.append(f"status {self.grade.status!r}, expected {self.sample.expected_status!r}")
        for exercise, expected in sorted(self.sample.expected.items()):
            got = self.grade.points.get(exercise)
            if got is None or abs(got - expected) > 1e-6:
                problems.append(f"{exercise}: {got} points, expected {expected:g}")
        notes = "; ".join(self.grade.notes)
        problems += [f"no note about {n!r}" for n in self.sample.expected_notes if n not in notes]
        return problems


def grade_samples(workspace: Workspace, assignments: list[str], broken_on: str | None = None,
                  only: tuple[str, ...] | None = None, options: Options = Options()) -> list[Outcome]:
    """Hand in the samples of `assignments` (the broken ones for `broken_on` only) as a folder of
    submissions per assignment, grade them all in one batch, and pair samples with grades."""
    samples, submissions = [], []
    inbox = workspace.root / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    for assignment in assignments:
        release = workspace.prepare(assignment).parent
        mine = [s for s in samples_for(workspace.course, assignment, release, broken=assignment == broken_on)
                if only is None or s.name in only]
        for sample in mine:
            sample.write(inbox / assignment)
        samples += mine
        submissions += collect(inbox / assignment, workspace.course, assignment)
    overrides = {(s.name, s.assignment): s.limits for s in samples if s.limits}
    grades = grade_submissions(submissions, workspace, dataclasses.replace(options, overrides=overrides))
    by_key = {(g.student, g.assignment): g for g in grades}
    return [Outcome(s, by_key[(s.name, s.assignment)]) for s in samples]


def table(outcomes: list[Outcome]) -> str:
    """One line per sample: assignment, sample, status, score, expected score, seconds, verdict."""
    rows = [("assignment", "sample", "status", "score", "expected", "seconds", "as expected")]
    for o in outcomes:
        expected = round(sum(o.sample.expected.values()), 3)
        rows.append((o.sample.assignment, o.sample.name, o.grade.status,
                     f"{o.grade.auto_score:g} / {o.grade.auto_max:g}", f"{expected:g}",
                     f"{o.grade.seconds:.1f}", "yes" if not o.problems else "NO: " + "; ".join(o.problems)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1] for r in rows)


def notes_table(outcomes: list[Outcome]) -> str:
    lines = [f"  {o.sample.assignment} / {o.sample.name}: {'; '.join(o.grade.notes)}" for o in outcomes if o.grade.notes]
    return "What the grader noticed:\n" + "\n".join(lines) if lines else ""
