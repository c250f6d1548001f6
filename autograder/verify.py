"""Grade sample submissions and compare every score with the one expected: `check` and `demo`."""

from __future__ import annotations

import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from autograder.grade import NotebookGrade, grade_submissions, write_grades_csv
from autograder.samples import Sample, samples_for
from autograder.submissions import collect
from autograder.workspace import Course, Workspace


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
                  only: tuple[str, ...] | None = None, progress: bool = True) -> list[Outcome]:
    """Write the samples of `assignments` (the broken ones for `broken_on` only) as a folder of
    submissions per assignment, grade them all, write grades.csv, and pair samples with grades."""
    samples = []
    for assignment in assignments:
        release = workspace.prepare(assignment).parent
        for sample in samples_for(workspace.course, assignment, release, broken=assignment == broken_on):
            if only is None or sample.name in only:
                samples.append(sample)
    inbox = workspace.root / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    submissions = []
    for assignment in assignments:
        for sample in samples:
            if sample.assignment == assignment:
                sample.write(inbox / assignment)
        submissions += collect(inbox / assignment, workspace.course, assignment)
    grades = grade_submissions(submissions, workspace, progress)
    write_grades_csv(grades, workspace.root / "grades.csv")
    by_key = {(g.student, g.assignment): g for g in grades}
    return [Outcome(s, by_key[(s.name, s.assignment)]) for s in samples]


def grade_samples_in_parallel(course: Course, root: Path, assignments: list[str], broken_on: str | None = None,
                              only: tuple[str, ...] | None = None, cell_timeout: int | None = None,
                              jobs: int = 2) -> list[Outcome]:
    """`grade_samples` with each assignment in a workspace of its own, `root/<assignment>`,
    `jobs` assignments at a time (kernels run one cell at a time, so two share 2 cores
    well); the grades of all of them go to `root/grades.csv`."""
    tasks = [(course, Path(root) / a, a, broken_on, only, cell_timeout) for a in assignments]
    if jobs <= 1 or len(tasks) == 1:
        results = [_grade_assignment(t) for t in tqdm(tasks, desc="grading", unit="assignment")]
    else:
        # spawn: a fresh interpreter per worker, never a fork of one that holds torch's threads
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(tqdm(pool.map(_grade_assignment, tasks), total=len(tasks), desc="grading", unit="assignment"))
    outcomes = [o for result in results for o in result]
    write_grades_csv([o.grade for o in outcomes], Path(root) / "grades.csv")
    return outcomes


def _grade_assignment(task) -> list[Outcome]:
    course, root, assignment, broken_on, only, cell_timeout = task
    return grade_samples(Workspace(root, course, cell_timeout), [assignment], broken_on, only, progress=False)


def table(outcomes: list[Outcome]) -> str:
    """One line per sample: assignment, sample, status, score, expected score, seconds, verdict."""
    rows = [("assignment", "sample", "status", "score", "expected", "seconds", "as expected")]
    for o in outcomes:
        expected = round(sum(o.sample.expected.values()), 3)
        rows.append((o.sample.assignment, o.sample.name, o.grade.status,
                     f"{o.grade.score:g} / {o.grade.max_score:g}", f"{expected:g}",
                     f"{o.grade.seconds:.1f}", "yes" if not o.problems else "NO: " + "; ".join(o.problems)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1] for r in rows)


def notes_table(outcomes: list[Outcome]) -> str:
    lines = [f"  {o.sample.assignment} / {o.sample.name}: {'; '.join(o.grade.notes)}" for o in outcomes if o.grade.notes]
    return "What the grader noticed:\n" + "\n".join(lines) if lines else ""
