"""python -m autograder release | check | grade DIR | demo  (see README, "For instructors")."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from autograder import release as releasing
from autograder.grade import grade_folder
from autograder.verify import grade_samples_in_parallel, notes_table, table
from autograder.workspace import REPO, Course, Workspace


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    course = Course(source=Path(args.source).resolve(), release=Path(args.release).resolve(),
                    samples=Path(args.samples).resolve())
    return {"release": cmd_release, "check": cmd_check, "grade": cmd_grade, "demo": cmd_demo}[args.command](course, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    parser.add_argument("--source", default=REPO / "solutions", help="nbgrader source folder (default: solutions/)")
    parser.add_argument("--release", default=REPO / "course", help="release folder (default: course/)")
    parser.add_argument("--samples", default=REPO / "autograder" / "samples", help="hand-made sample submissions")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="regenerate course/ from solutions/")
    check = commands.add_parser("check", help="each solution scores full marks, each blank release zero")
    grade = commands.add_parser("grade", help="grade a folder of submissions: grades.csv and feedback")
    grade.add_argument("folder", type=Path, help="one folder per student, or files named with the student id")
    grade.add_argument("--root", type=Path, default=REPO / "grading", help="where grading happens (default: grading/)")
    grade.add_argument("--assignment", help="grade this assignment only (default: every one handed in)")
    grade.add_argument("--student-pattern", help="regex with a 'student' group, for LMS file names")
    demo = commands.add_parser("demo", help="grade the bundled sample submissions and print the table")
    demo.add_argument("--root", type=Path, help="keep the grading workspace here (default: a temporary folder)")
    demo.add_argument("--broken-on", help="assignment to grade the broken samples on (default: the first)")
    for sub in (check, demo):
        sub.add_argument("--only", nargs="+", metavar="ASSIGNMENT", help="these assignments only")
        sub.add_argument("--jobs", type=int, default=2, help="assignments graded at once (default: 2)")
    for sub in (check, grade, demo):
        sub.add_argument("--timeout", type=int, default=20 if sub is demo else None,
                         help="seconds a cell may run (default: nbgrader_config.py's, 20 for demo)")
    return parser


def cmd_release(course: Course, args) -> int:
    released, removed = releasing.release(course)
    print(f"released {', '.join(released) or 'nothing'} into {course.release}"
          + (f"; removed {', '.join(removed)} (no source)" if removed else ""))
    return 0


def cmd_check(course: Course, args) -> int:
    assignments = _assignments(course, args.only)
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as root:
        outcomes = grade_samples_in_parallel(course, Path(root), assignments, only=("solution", "blank"),
                                             cell_timeout=args.timeout, jobs=args.jobs)
    print(table(outcomes))
    failed = [o for o in outcomes if o.problems]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} as expected"
          + ("" if not failed else ": the solution must score full marks and the blank release zero"))
    return 1 if failed else 0


def cmd_grade(course: Course, args) -> int:
    workspace = Workspace(args.root, course, args.timeout)
    grades = grade_folder(args.folder, workspace, args.assignment, args.student_pattern)
    width = max(len(g.student) for g in grades)
    for g in sorted(grades, key=lambda g: (g.assignment, g.student)):
        print(f"{g.student.ljust(width)}  {g.assignment}  {g.score:g} / {g.max_score:g}  {g.status}"
              + (f"  ({'; '.join(g.notes)})" if g.notes else ""))
    print(f"\ngrades: {workspace.root / 'grades.csv'}\nfeedback: {workspace.root / 'feedback'}/<student>/<assignment>/<notebook>.html")
    return 0


def cmd_demo(course: Course, args) -> int:
    assignments = _assignments(course, args.only)
    with tempfile.TemporaryDirectory(prefix="autograder-demo-") as scratch:
        root = args.root or Path(scratch)
        outcomes, report = demo(course, root, assignments, args.broken_on or assignments[0], args.timeout, args.jobs)
        print(report + (f"; grades.csv and feedback in {root}" if args.root else ""))
    failed = [o for o in outcomes if o.problems]
    if failed:
        print(f"{len(failed)} sample(s) did not get the expected score", file=sys.stderr)
    return 1 if failed else 0


def demo(course: Course, root: Path, assignments: list[str], broken_on: str,
         cell_timeout: int | None = None, jobs: int = 2):
    """Grade every sample (the broken ones on `broken_on`); return the outcomes and the report."""
    start = time.perf_counter()
    outcomes = grade_samples_in_parallel(course, root, assignments, broken_on, cell_timeout=cell_timeout, jobs=jobs)
    report = "\n".join([table(outcomes), notes_table(outcomes),
                        f"\ngraded {len(outcomes)} sample submissions in {time.perf_counter() - start:.0f} s"])
    return outcomes, report


def _assignments(course: Course, only) -> list[str]:
    assignments = course.assignments()
    if not assignments:
        raise SystemExit(f"no assignments in {course.source}")
    for name in only or []:
        course.check_assignment(name)
    return list(only) if only else assignments


if __name__ == "__main__":
    sys.exit(main())
