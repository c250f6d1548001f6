"""python -m autograder release | check | grade DIR | export | clear | demo | validate NOTEBOOK
(see README, "For instructors" and "For students")."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from autograder import bench as benching
from autograder import release as releasing
from autograder import results
from autograder import validate as validating
from autograder.grade import Options, SolutionProblem, grade_folder
from autograder.sandbox import Limits, sandbox_problem
from autograder.unit import Settings
from autograder.verify import grade_samples, notes_table, table
from autograder.workspace import REPO, Course, Workspace


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    course = Course(source=Path(args.source).resolve(), release=Path(args.release).resolve(),
                    samples=Path(args.samples).resolve())
    commands = {"release": cmd_release, "check": cmd_check, "grade": cmd_grade, "export": cmd_export,
                "clear": cmd_clear, "demo": cmd_demo, "validate": validating.cmd_validate,
                "report": cmd_report, "bench": benching.cmd_bench}
    try:
        return commands[args.command](course, args)
    except SolutionProblem as problem:  # the instructor's notebook, not a student's, is at fault
        print(problem)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    parser.add_argument("--source", default=REPO / "solutions", help="nbgrader source folder (default: solutions/)")
    parser.add_argument("--release", default=REPO / "course", help="release folder (default: course/)")
    parser.add_argument("--samples", default=REPO / "autograder" / "samples", help="hand-made sample submissions")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="regenerate course/ from solutions/")
    release.add_argument("--only", nargs="+", metavar="ASSIGNMENT", help="these assignments only")
    release.add_argument("--graded", action="store_true",
                         help="for a graded course: visible tests of value answers check only that an answer is given "
                              "and well formed (no right/wrong before grading)")
    release.add_argument("--dest", type=Path, help="write the release here instead of course/")
    check = commands.add_parser("check", help="each solution scores full marks, each blank release zero")
    grade = commands.add_parser("grade", help="grade a folder of submissions: grades.csv, feedback, report")
    grade.add_argument("folder", type=Path, help="one folder per student, or files named with the student id")
    grade.add_argument("--assignment", help="grade this assignment only (default: every one handed in)")
    grade.add_argument("--student-pattern", help="regex with a 'student' group, for LMS file names")
    grade.add_argument("--force", action="store_true", help="regrade notebooks already graded from the same file")
    export = commands.add_parser("export", help="rewrite grades.csv from the gradebook (manual points included)")
    clear = commands.add_parser("clear", help="clear a 'needs review' flag after reading the student's code")
    clear.add_argument("student")
    clear.add_argument("--assignment", required=True)
    clear.add_argument("--exercise", nargs="+", help="only these exercises (default: every flagged one)")
    report = commands.add_parser("report", help="rewrite report.html, the class report, from the stored results")
    for sub in (grade, export, clear, report):
        sub.add_argument("--root", type=Path, default=REPO / "grading", help="the class's grading folder (default: grading/)")
    demo = commands.add_parser("demo", help="grade the bundled sample submissions and print the table")
    demo.add_argument("--root", type=Path, help="keep the grading folder here (default: a temporary folder)")
    demo.add_argument("--broken-on", help="assignment to grade the broken and hostile samples on "
                                          "(default: the first; 'none' for none)")
    validating.add_parser(commands)  # validate NOTEBOOK: what a student runs
    benching.add_parser(commands)  # bench: grading speed, each configuration side by side
    for sub in (check, demo):
        sub.add_argument("--only", nargs="+", metavar="ASSIGNMENT", help="these assignments only")
    for sub in (check, grade, demo):
        sub.add_argument("--workers", type=int, help="notebooks graded at once on this machine (default: the number of cores)")
        sub.add_argument("--scheduler", help="grade on a Dask cluster: the scheduler's address, e.g. tcp://10.0.0.5:8786")
        sub.add_argument("--timeout", type=int, default=20 if sub is demo else None,
                         help="seconds a cell may run (default: nbgrader_config.py's, 20 for demo)")
        sub.add_argument("--no-sandbox", action="store_true",
                         help="run students' code without the bubblewrap sandbox: trusted submissions only")
        _limit_options(sub)
    return parser


def _limit_options(parser):
    defaults = Limits()
    group = parser.add_argument_group("sandbox limits (per notebook)")
    group.add_argument("--memory-mb", type=int, default=defaults.memory_mb, help="memory of the kernel (default: %(default)s)")
    group.add_argument("--processes", type=int, default=defaults.processes, help="processes and threads (default: %(default)s)")
    group.add_argument("--scratch-mb", type=int, default=defaults.scratch_mb, help="disk it may write (default: %(default)s)")
    group.add_argument("--cell-output-kb", type=int, default=defaults.cell_output_kb, help="output kept per cell (default: %(default)s)")
    group.add_argument("--notebook-output-kb", type=int, default=defaults.notebook_output_kb,
                       help="output kept per notebook (default: %(default)s)")
    group.add_argument("--notebook-seconds", type=int, default=defaults.notebook_seconds,
                       help="wall clock for the whole notebook (default: %(default)s)")


def _options(args) -> Options:
    if not args.no_sandbox:
        problem = sandbox_problem()
        if problem:
            raise SystemExit(f"cannot grade safely: {problem}\n(--no-sandbox grades anyway, for trusted submissions only)")
    else:
        print("WARNING: grading without the sandbox (--no-sandbox): students' code runs with your rights. "
              "Use it for trusted submissions only.", file=sys.stderr)
    limits = Limits(memory_mb=args.memory_mb, processes=args.processes, scratch_mb=args.scratch_mb,
                    cell_output_kb=args.cell_output_kb, notebook_output_kb=args.notebook_output_kb,
                    notebook_seconds=args.notebook_seconds)
    settings = Settings(cell_timeout=args.timeout, sandbox=not args.no_sandbox, limits=limits)
    # check and demo grade samples: always afresh, never resumed from an earlier run's results
    force = getattr(args, "force", False) or args.command in ("check", "demo")
    return Options(settings, workers=args.workers, scheduler=args.scheduler, force=force)


def cmd_release(course: Course, args) -> int:
    released, removed = releasing.release(course, args.only, args.graded, args.dest)
    print(f"released {', '.join(released) or 'nothing'}" + (" for a graded course" if args.graded else "")
          + f" into {args.dest or course.release}"
          + (f"; removed {', '.join(removed)} (no source)" if removed else ""))
    return 0


def cmd_check(course: Course, args) -> int:
    assignments = _assignments(course, args.only)
    options = _options(args)
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as root:
        outcomes = grade_samples(Workspace(Path(root), course), assignments, only=("solution", "blank"), options=options)
    print(table(outcomes))
    failed = [o for o in outcomes if o.problems]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} as expected"
          + ("" if not failed else ": the solution must score full marks and the blank release zero"))
    return 1 if failed else 0


def cmd_grade(course: Course, args) -> int:
    workspace = Workspace(args.root, course)
    grades = grade_folder(args.folder, workspace, args.assignment, args.student_pattern, _options(args))
    width = max(len(g.student) for g in grades)
    for g in sorted(grades, key=lambda g: (g.assignment, g.student)):
        print(f"{g.student.ljust(width)}  {g.assignment}  {g.score:g} / {g.max_score:g}  {g.status}"
              + (f"  ({'; '.join(g.notes)})" if g.notes else ""))
    print(f"\ngrades: {workspace.root / 'grades.csv'}\nfeedback: {workspace.root / 'feedback'}/<student>/<assignment>/<notebook>.html")
    return 0


def cmd_export(course: Course, args) -> int:
    path = results.write_csv(Workspace(args.root, course))
    print(f"grades: {path}")
    return 0


def cmd_report(course: Course, args) -> int:
    from autograder.report import write_report

    print(f"report: {write_report(Workspace(args.root, course))}")
    return 0


def cmd_clear(course: Course, args) -> int:
    workspace = Workspace(args.root, course)
    cleared = results.clear_review(workspace, args.student, args.assignment, args.exercise)
    if not cleared:
        print(f"nothing to clear: {args.student} has no flagged exercise"
              + (f" among {', '.join(args.exercise)}" if args.exercise else "") + f" in {args.assignment}")
        return 1
    print(f"cleared {', '.join(cleared)} for {args.student}; grades: {workspace.root / 'grades.csv'}")
    return 0


def cmd_demo(course: Course, args) -> int:
    assignments = _assignments(course, args.only)
    options = _options(args)
    with tempfile.TemporaryDirectory(prefix="autograder-demo-") as scratch:
        root = args.root or Path(scratch)
        broken_on = None if args.broken_on == "none" else args.broken_on or assignments[0]
        outcomes, report = demo(course, root, assignments, broken_on, options)
        print(report + (f"; grades.csv and feedback in {root}" if args.root else ""))
    failed = [o for o in outcomes if o.problems]
    if failed:
        print(f"{len(failed)} sample(s) did not get the expected score", file=sys.stderr)
    return 1 if failed else 0


def demo(course: Course, root: Path, assignments: list[str], broken_on: str | None, options: Options = Options()):
    """Grade every sample (the broken and hostile ones on `broken_on`); return the outcomes and the report."""
    start = time.perf_counter()
    outcomes = grade_samples(Workspace(root, course), assignments, broken_on, options=options)
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
