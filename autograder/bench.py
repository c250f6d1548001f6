"""python -m autograder bench: how fast a class is graded, each configuration side by side.

One run builds a class from an assignment's solution and blank release (`autograder.samples`:
by default 12 notebooks of 01-autoregressive-generation, 10 solved and 2 blank), grades it
through the real pipeline (`autograder.grade.grade_submissions`) in a fresh temporary grading
folder per configuration, and prints one table:

- workers=1 without the sandbox, workers=1 in the sandbox, workers=2 in the sandbox, and a
  2-worker Dask `LocalCluster` (one thread per worker, separate processes) in the sandbox;
  configurations run one after the other, in reverse order in every second round
  (`--rounds`), with the load average printed before and after each, since the machine is
  shared;
- wall seconds of the whole batch, of which the per-batch fixed cost (the grading folder,
  the templates, the instructor's solution's reference run, the class report), and seconds
  per notebook without it; speed-up against workers=1;
- where one notebook's time goes, at workers=1 (measured in this process, where its units
  run): nbgrader before the kernel, starting the kernel until it is ready, the setup cell
  (`import torch`, `arlib.load_pretrained()`), the other cells, between cells (the grader's
  canary cells and the round trips), nbgrader after the last cell, the feedback page, the
  unit's own work (assembling, static check, canaries) and recording the result;
- what the sandbox and the checks cost at workers=1: from the two workers=1 batches, and
  (fairer on a shared machine) from units graded in this process with the sandbox on and
  off alternately, unit by unit, on the same notebooks;
- the targets: workers=2 at least 1.8x workers=1; grading overhead (everything but executing
  the notebook's cells) at most 40% of a notebook's time; the sandbox and the checks at most
  15% of it.

Timings are printed, never asserted. `--quick` (tests/test_bench.py) grades 2 notebooks at
workers=1 and 2, without the sandbox and without Dask.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import nbformat

from autograder import grade as grading
from autograder import report as reporting
from autograder import results
from autograder.grade import Options, grade_submissions
from autograder.sandbox import sandbox_problem
from autograder.submissions import collect
from autograder.unit import REFERENCE_STUDENT, Settings, cell_spans
from autograder.workspace import Course, Workspace

DEFAULT_ASSIGNMENT = "01-autoregressive-generation"
TARGET_SPEEDUP = 1.8
TARGET_OVERHEAD = 0.40
TARGET_SANDBOX = 0.15


@dataclass(frozen=True)
class Config:
    name: str
    workers: int
    sandbox: bool
    dask: bool = False


# --- one notebook's time, measured where its unit runs ----------------------------------------

@dataclass
class Split:
    """Seconds of one notebook's grading, by phase (workers=1: its unit ran in this process)."""

    before: float = 0.0  # nbgrader's autograde, before the kernel is started
    kernel: float = 0.0  # starting the kernel until it answers
    setup: float = 0.0  # the setup cell: import torch, arlib.load_pretrained()
    cells: float = 0.0  # every other code cell of the notebook, executing
    between: float = 0.0  # from the setup cell to the last reply, not in a cell: canary cells, round trips
    after: float = 0.0  # nbgrader's autograde after the last cell: kernel shutdown, judging, gradebook
    feedback: float = 0.0  # nbgrader's generate_feedback
    unit: float = 0.0  # the rest of the unit: assembling, static check, canaries, files
    record: float = 0.0  # the parent's results.save

    PHASES = (("before", "nbgrader, before the kernel"), ("kernel", "kernel start until it runs cell 1"),
              ("setup", "setup cell (import torch, load_pretrained)"), ("cells", "the notebook's other cells"),
              ("between", "between cells (canary cells, round trips)"), ("after", "nbgrader, after the last cell"),
              ("feedback", "feedback page"), ("unit", "unit: assemble, static check, files"),
              ("record", "recording the result (parent)"))

    @property
    def total(self) -> float:
        return sum(getattr(self, name) for name, _ in self.PHASES)

    @property
    def executing(self) -> float:
        """Executing the notebook's own cells (the setup cell included)."""
        return self.setup + self.cells


class Probe:
    """Timestamps from inside the units that run in this process (workers=1), read afterwards
    with the cells' own timing (nbclient's `record_timing`: `cell.metadata.execution`)."""

    def __init__(self):
        self.autograde: dict[str, list[float]] = {}  # student -> [start, end] (wall clock)
        self.kernel: dict[str, float] = {}  # student -> when nbclient started its kernel (wall clock)
        self.saved: dict[str, float] = {}  # student -> seconds in results.save
        self._student = None

    @contextlib.contextmanager
    def installed(self):
        from nbclient.client import NotebookClient
        from nbgrader.apps import NbGraderAPI

        autograde, start, start_sync, save = (NbGraderAPI.autograde, NotebookClient.async_start_new_kernel,
                                              NotebookClient.start_new_kernel, results.save)
        probe = self

        def timed_autograde(api, assignment_id, student_id, *args, **kwargs):
            probe._student = student_id
            probe.kernel.pop(student_id, None)
            began = time.time()
            try:
                return autograde(api, assignment_id, student_id, *args, **kwargs)
            finally:
                probe.autograde[student_id] = [began, time.time()]

        def starting():  # the first of the (possibly nested) calls that start the kernel
            probe.kernel.setdefault(probe._student, time.time())

        async def timed_start(client, *args, **kwargs):
            starting()
            return await start(client, *args, **kwargs)

        def timed_start_sync(client, *args, **kwargs):
            starting()
            return start_sync(client, *args, **kwargs)

        def timed_save(workspace, result, *args, **kwargs):
            began = time.perf_counter()
            try:
                return save(workspace, result, *args, **kwargs)
            finally:
                probe.saved[result.student] = time.perf_counter() - began

        # nbclient's sync start_new_kernel wraps the async one as defined at import: both are
        # patched (an Execute subclass may override either), the first call's time counts.
        with mock.patch.object(NbGraderAPI, "autograde", timed_autograde), \
                mock.patch.object(NotebookClient, "async_start_new_kernel", timed_start), \
                mock.patch.object(NotebookClient, "start_new_kernel", timed_start_sync), \
                mock.patch.object(results, "save", timed_save):
            yield self

    def split(self, workspace: Workspace, stored: dict) -> Split | None:
        """One notebook's phases, from this probe, its autograded notebook and its stored result."""
        student, seconds = stored["student"], stored.get("seconds", {})
        path = workspace.root / "autograded" / student / stored["assignment"] / f"{stored['notebook']}.ipynb"
        if student not in self.autograde or student not in self.kernel or not path.exists():
            return None
        spans = cell_spans(nbformat.read(path, as_version=4))
        if not spans:
            return None
        (begun, ended), kernel_start = self.autograde[student], self.kernel[student]
        first_input, setup_reply = spans[0]
        last_reply = max(end for _, end in spans)
        s = Split()
        s.before = kernel_start - begun
        s.kernel = first_input - kernel_start  # until it answers and takes the first cell
        s.setup = setup_reply - first_input
        s.cells = sum(end - start for start, end in spans[1:])
        s.between = (last_reply - first_input) - s.setup - s.cells
        s.after = ended - last_reply
        s.feedback = seconds.get("feedback", 0.0)
        s.unit = max(0.0, seconds.get("total", 0.0) - (ended - begun) - s.feedback)
        s.record = self.saved.get(student, 0.0)
        return s


# --- one configuration ------------------------------------------------------------------------

@dataclass
class Run:
    config: Config
    notebooks: int
    wall: float = 0.0  # the whole grade_submissions call
    students_phase: float = 0.0  # from the end of the reference run to the start of the report
    cluster_start: float = 0.0  # Dask only: starting the LocalCluster (outside the batch)
    unit_seconds: list = field(default_factory=list)  # each notebook's unit total (its latency)
    cell_seconds: list = field(default_factory=list)  # each notebook's (setup cell, other cells), from its cells' timing
    splits: list = field(default_factory=list)  # Split per notebook (workers=1 only)
    problems: list = field(default_factory=list)  # grades that are not what the class should get
    load: tuple = ()  # 1-minute load average before and after

    @property
    def fixed(self) -> float:
        return self.wall - self.students_phase

    @property
    def per_notebook(self) -> float:
        return self.students_phase / self.notebooks


def run_config(config: Config, course: Course, inbox: Path, assignment: str, solved: set[str],
               scratch: Path, index: int, measure: bool) -> Run:
    """Grade the class in `inbox` once, in a fresh grading folder, with `config`."""
    run = Run(config, 0)
    submissions = collect(inbox, course, assignment)
    run.notebooks = len(submissions)
    settings = Settings(sandbox=config.sandbox)
    workspace = Workspace(scratch / f"{index:02d}-{config.name.replace(' ', '-').replace('=', '')}", course)
    marks = {}
    reference_runs, write_report = grading.reference_runs, reporting.write_report

    def timed_reference_runs(*args, **kwargs):
        try:
            return reference_runs(*args, **kwargs)
        finally:
            marks["students"] = time.perf_counter()

    def timed_report(*args, **kwargs):
        marks["report"] = time.perf_counter()
        return write_report(*args, **kwargs)

    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        scheduler = None
        if config.dask:
            from distributed import LocalCluster

            began = time.perf_counter()
            cluster = stack.enter_context(LocalCluster(n_workers=config.workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=logging.ERROR))
            run.cluster_start = time.perf_counter() - began
            scheduler = cluster.scheduler_address
        probe = stack.enter_context(Probe().installed()) if measure else None
        stack.enter_context(mock.patch.object(grading, "reference_runs", timed_reference_runs))
        stack.enter_context(mock.patch.object(reporting, "write_report", timed_report))
        options = Options(settings, workers=None if config.dask else config.workers, scheduler=scheduler,
                          force=True, progress=False)
        began = time.perf_counter()
        grades = grade_submissions(submissions, workspace, options)
        run.wall = time.perf_counter() - began
    run.load = (load_before, os.getloadavg()[0])
    run.students_phase = marks.get("report", began + run.wall) - marks.get("students", began)
    for g in grades:
        want = g.auto_max if g.student in solved else 0.0
        if g.status != "graded" or abs(g.auto_score - want) > 1e-6:
            run.problems.append(f"{g.student}: {g.status}, {g.auto_score:g} of {g.auto_max:g} (expected {want:g})")
    for g in grades:
        stored = results.load(workspace, g.assignment, g.student, g.notebook)
        if stored is None or g.student == REFERENCE_STUDENT:
            continue
        run.unit_seconds.append(stored.get("seconds", {}).get("total", 0.0))
        spans = cell_spans(nbformat.read(g.autograded, as_version=4)) if g.autograded else []
        if spans:
            run.cell_seconds.append((spans[0][1] - spans[0][0], sum(end - start for start, end in spans[1:])))
        split = probe.split(workspace, stored) if probe is not None else None
        if split is not None:
            run.splits.append(split)
    return run


# --- the class --------------------------------------------------------------------------------

def build_class(course: Course, assignment: str, students: int, blanks: int, folder: Path) -> set[str]:
    """Hand in `students` notebooks of `assignment` into `folder` (a folder per student): the
    release filled with the solution's answers, the last `blanks` the untouched release.
    Returns the solved students' ids."""
    from autograder.samples import Assignment

    with tempfile.TemporaryDirectory(prefix="autograder-bench-release-") as scratch:
        release = Workspace(Path(scratch), course).prepare(assignment).parent
        a = Assignment(course, assignment, release)
        solved_nb, blank_nb = a.filled(), a.release
    solved = set()
    for i in range(students):
        student = f"student-{i + 1:02d}"
        blank = i >= students - blanks
        (folder / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(blank_nb if blank else solved_nb, folder / student / f"{a.notebook_name}.ipynb")
        if not blank:
            solved.add(student)
    return solved


# --- printing ---------------------------------------------------------------------------------

def _table(rows: list[list[str]], right: set[int] = frozenset()) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in rows)


def _mean(values) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def summarise(runs: dict[str, list[Run]], configs: list[Config]) -> str:
    lines = []
    base = {c.sandbox: _mean(r.per_notebook for r in runs.get(c.name, [])) for c in configs if c.workers == 1 and not c.dask}
    base_wall = {c.sandbox: _mean(r.wall for r in runs.get(c.name, [])) for c in configs if c.workers == 1 and not c.dask}
    rows = [["configuration", "wall s", "fixed s", "notebooks s", "s/notebook", "speed-up", "batch speed-up",
             "unit mean s", "setup cell s", "other cells s", "load 1 min", "as expected"]]
    for c in configs:
        mine = runs.get(c.name, [])
        if not mine:
            continue
        per = _mean(r.per_notebook for r in mine)
        wall = _mean(r.wall for r in mine)
        fixed = _mean(r.fixed for r in mine)
        extra = f" (+{_mean(r.cluster_start for r in mine):.1f} s cluster start)" if c.dask else ""
        problems = sorted({p for r in mine for p in r.problems})
        rows.append([c.name, f"{wall:.1f}", f"{fixed:.1f}{extra}", f"{_mean(r.students_phase for r in mine):.1f}",
                     f"{per:.2f}", f"{base.get(c.sandbox, float('nan')) / per:.2f}x",
                     f"{base_wall.get(c.sandbox, float('nan')) / wall:.2f}x",
                     f"{_mean(s for r in mine for s in r.unit_seconds):.2f}",
                     f"{_mean(c[0] for r in mine for c in r.cell_seconds):.2f}",
                     f"{_mean(c[1] for r in mine for c in r.cell_seconds):.2f}",
                     " -> ".join(f"{x:.2f}" for x in (mine[0].load[0], mine[-1].load[1])),
                     "yes" if not problems else "NO: " + "; ".join(problems[:3])])
    lines.append(_table(rows, right={1, 3, 4, 5, 6, 7, 8, 9}))
    lines.append("  fixed: per batch (grading folder, templates, the solution's reference run, class report); "
                 "s/notebook = notebooks s / notebooks; speed-up against workers=1 with the same sandbox setting;\n"
                 "  unit mean: one notebook's grading, start to end (its latency); setup cell, other cells: "
                 "executing them, mean per notebook (from the cells' own timing)")

    split_configs = [c for c in configs if any(r.splits for r in runs.get(c.name, []))]
    if split_configs:
        lines.append("\nOne notebook's time at workers=1 (mean over the class; measured in this process):")
        header = ["phase"] + [c.name for c in split_configs]
        rows = [header]
        means = {c.name: {name: _mean(getattr(s, name) for r in runs[c.name] for s in r.splits) for name, _ in Split.PHASES}
                 for c in split_configs}
        totals = {c.name: sum(means[c.name].values()) for c in split_configs}
        for name, label in Split.PHASES:
            rows.append([label] + [f"{means[c.name][name]:6.2f} s {100 * means[c.name][name] / totals[c.name]:3.0f}%"
                                   for c in split_configs])
        rows.append(["total"] + [f"{totals[c.name]:6.2f} s 100%" for c in split_configs])
        start = {c.name: means[c.name]["kernel"] + means[c.name]["setup"] for c in split_configs}
        rows.append(["  kernel start + imports"] + [f"{start[c.name]:6.2f} s {100 * start[c.name] / totals[c.name]:3.0f}%"
                                                    for c in split_configs])
        execute = {c.name: means[c.name]["setup"] + means[c.name]["cells"] for c in split_configs}
        rows.append(["  executing cells (setup included)"]
                    + [f"{execute[c.name]:6.2f} s {100 * execute[c.name] / totals[c.name]:3.0f}%" for c in split_configs])
        lines.append(_table(rows))

    lines.append("\nTargets:")
    sandboxed = [c for c in configs if c.sandbox and runs.get(c.name)]
    for sandbox in ([True] if sandboxed else []) + [False]:
        w1 = next((c for c in configs if c.workers == 1 and not c.dask and c.sandbox == sandbox and runs.get(c.name)), None)
        w2 = next((c for c in configs if c.workers == 2 and not c.dask and c.sandbox == sandbox and runs.get(c.name)), None)
        if w1 and w2:
            ratio = base[sandbox] / _mean(r.per_notebook for r in runs[w2.name])
            lines.append(f"  {w2.name} vs {w1.name}: {ratio:.2f}x per notebook (>= {TARGET_SPEEDUP}x) -> "
                         f"{_verdict(ratio >= TARGET_SPEEDUP)}")
    for c in split_configs:
        splits = [s for r in runs[c.name] for s in r.splits]
        total = _mean(s.total for s in splits)
        overhead = 1 - _mean(s.executing for s in splits) / total
        strict = 1 - _mean(s.cells for s in splits) / total
        lines.append(f"  overhead, {c.name}: {overhead:.1%} of a notebook's {total:.2f} s is not executing its cells "
                     f"(<= {TARGET_OVERHEAD:.0%}) -> {_verdict(overhead <= TARGET_OVERHEAD)}; "
                     f"{strict:.1%} if the setup cell's imports count as overhead")
    return "\n".join(lines)


def sandbox_lines(runs: dict[str, list[Run]], configs: list[Config], checks: float | None,
                  ab: dict[bool, list[float]] | None) -> str:
    """What the sandbox and the checks cost, at workers=1: from the batches, and interleaved unit by unit."""
    on = next((c for c in configs if c.workers == 1 and not c.dask and c.sandbox and runs.get(c.name)), None)
    off = next((c for c in configs if c.workers == 1 and not c.dask and not c.sandbox and runs.get(c.name)), None)
    if checks is None or not (on or off):
        return ""
    lines = ["\nSandbox and checks, workers=1:"]
    base = _mean(r.per_notebook for r in runs[(on or off).name])
    cost = None
    if on and off:
        with_sandbox, without = base, _mean(r.per_notebook for r in runs[off.name])
        cost = (with_sandbox - without) / with_sandbox
        lines.append(f"  the batches above: {with_sandbox:.2f} s per notebook with the sandbox, {without:.2f} s without "
                     f"({cost:+.1%}; separate batches, so the machine's load differed)")
    if ab and ab[True] and ab[False]:
        with_sandbox, without = _mean(ab[True]), _mean(ab[False])
        cost = (with_sandbox - without) / with_sandbox
        lines.append(f"  interleaved unit by unit ({len(ab[True])} pairs, the same notebooks, alternating): "
                     f"{with_sandbox:.2f} s with the sandbox, {without:.2f} s without ({cost:+.1%})")
        base = with_sandbox
    lines.append(f"  checks before the kernel (assemble, static check, canaries): {checks * 1000:.0f} ms per notebook "
                 f"({checks / base:.1%}); the canary cells' own run is within 'between cells' above")
    if cost is not None:
        total = max(cost, 0.0) + checks / base
        lines.append(f"  sandbox + checks: {total:.1%} of a notebook's time (<= {TARGET_SANDBOX:.0%}) -> "
                     f"{_verdict(total <= TARGET_SANDBOX)}" + (" (the sandbox measured no slower: counted as 0)"
                                                               if cost < 0 else ""))
    else:
        lines.append("  the sandbox was not measured")
    return "\n".join(lines)


def sandbox_ab(course: Course, assignment: str, inbox: Path, pairs: int) -> dict[bool, list[float]]:
    """Seconds of one unit (`autograder.unit.grade_unit`, in this process) with and without the
    sandbox, on the class's notebooks, alternating unit by unit so both see the same machine."""
    import dataclasses

    from autograder.unit import Job, grade_unit, prepare_template

    notebook = course.notebooks(assignment)[0]
    with tempfile.TemporaryDirectory(prefix="autograder-bench-ab-") as scratch:
        template = prepare_template(course, assignment, notebook, Path(scratch))
    source = template.files[f"source/{assignment}/{notebook}.ipynb"]
    reference = grade_unit(Job(REFERENCE_STUDENT, template, source, Settings(sandbox=True))).reference
    template = dataclasses.replace(template, reference=reference)
    paths = sorted(inbox.glob(f"*/{notebook}.ipynb"))
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for i in range(pairs):
        data = paths[i % len(paths)].read_bytes()
        for sandbox in (True, False) if i % 2 == 0 else (False, True):
            began = time.perf_counter()
            grade_unit(Job(f"ab-{i:02d}", template, data, Settings(sandbox=sandbox)))
            seconds[sandbox].append(time.perf_counter() - began)
    return seconds


def checks_cost(course: Course, inbox: Path, assignment: str, repeat: int = 3) -> float:
    """Seconds per notebook of the grader's own checks before a kernel runs: assembling the
    notebook from the release, the static check of the student's code, planting canaries
    (timed here on the class's notebooks; the canary cells' run is in "between cells")."""
    from autograder import canary, unit
    from autograder.assemble import assemble
    from autograder.preprocessors import is_test

    with tempfile.TemporaryDirectory(prefix="autograder-bench-checks-") as scratch:
        release = Workspace(Path(scratch), course).prepare(assignment).parent
        notebook = course.notebooks(assignment)[0]
        source = nbformat.read(course.source / assignment / f"{notebook}.ipynb", as_version=4)
        released = nbformat.read(release / assignment / f"{notebook}.ipynb", as_version=4)
    paths = sorted(inbox.glob(f"*/{notebook}.ipynb"))
    began = time.perf_counter()
    for _ in range(repeat):
        for path in paths:
            assembled = assemble(source, released, nbformat.read(path, as_version=4))
            unit._flags(assembled.student_cells, source)  # the unit's own static check
            nb = assembled.notebook
            canary.insert_canaries(nb, {c.metadata.nbgrader.grade_id for c in nb.cells if is_test(c)})
    return (time.perf_counter() - began) / (repeat * max(1, len(paths)))


# --- the command ------------------------------------------------------------------------------

def add_parser(commands) -> argparse.ArgumentParser:
    """The `bench` subcommand of `python -m autograder`."""
    parser = commands.add_parser("bench", help="grade a generated class in each configuration and print the timings")
    parser.add_argument("--assignment", help=f"the assignment to build the class from (default: {DEFAULT_ASSIGNMENT}, "
                                             "or the first one of --source)")
    parser.add_argument("--students", type=int, help="notebooks in the class (default: 12; --quick: 2)")
    parser.add_argument("--blank", type=int, help="of which blank releases (default: 2; --quick: 1)")
    parser.add_argument("--rounds", type=int, default=1, help="grade the class this many times per configuration, "
                                                              "in reverse order every second round (default: 1)")
    parser.add_argument("--no-dask", action="store_true", help="leave out the Dask LocalCluster")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="every configuration without the sandbox (no sandbox-cost line)")
    parser.add_argument("--quick", action="store_true", help="2 notebooks, workers 1 and 2 without the sandbox, no Dask")
    return parser


def configurations(quick: bool, dask: bool, sandbox: bool = True) -> tuple[list[Config], list[str]]:
    """The configurations to run, and why any were left out."""
    if quick:
        return [Config("workers=1, no sandbox", 1, False), Config("workers=2, no sandbox", 2, False)], []
    configs, skipped = [Config("workers=1, no sandbox", 1, False)], []
    problem = sandbox_problem() if sandbox else "--no-sandbox"
    if problem:
        skipped.append(f"the sandboxed configurations: {problem}")
        configs.append(Config("workers=2, no sandbox", 2, False))
    else:
        configs += [Config("workers=1, sandbox", 1, True), Config("workers=2, sandbox", 2, True)]
    if dask:
        if importlib.util.find_spec("distributed") is None:
            skipped.append("Dask: the `distributed` package is not installed")
        else:
            configs.append(Config(f"Dask LocalCluster 2x1, {'no sandbox' if problem else 'sandbox'}", 2, not problem, dask=True))
    return configs, skipped


def cmd_bench(course: Course, args) -> int:
    assignments = course.assignments()
    if not assignments:
        raise SystemExit(f"no assignments in {course.source}")
    assignment = args.assignment or (DEFAULT_ASSIGNMENT if DEFAULT_ASSIGNMENT in assignments and not args.quick
                                     else assignments[0])
    course.check_assignment(assignment)
    students = args.students or (2 if args.quick else 12)
    blanks = args.blank if args.blank is not None else (1 if args.quick else 2)
    if not 0 <= blanks <= students:
        raise SystemExit("--blank must be between 0 and --students")
    configs, skipped = configurations(args.quick, not args.no_dask, not args.no_sandbox)
    print(f"autograder bench: {students} notebooks of {assignment} ({students - blanks} solved, {blanks} blank), "
          f"{args.rounds} round(s), {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for reason in skipped:
        print(f"skipped {reason}")
    runs: dict[str, list[Run]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="autograder-bench-") as scratch:
        scratch = Path(scratch)
        inbox = scratch / "inbox"
        solved = build_class(course, assignment, students, blanks, inbox)
        index = 0
        for round_ in range(args.rounds):
            for config in configs if round_ % 2 == 0 else configs[::-1]:
                index += 1
                print(f"  [{index}/{args.rounds * len(configs)}] {config.name} ...", end="", flush=True)
                try:
                    run = run_config(config, course, inbox, assignment, solved, scratch, index,
                                     measure=config.workers == 1 and not config.dask)
                except Exception as error:  # one configuration failing (a cluster that does not start) spoils only its line
                    print(f" failed: {type(error).__name__}: {error}", flush=True)
                    failures.append(f"{config.name}: {type(error).__name__}: {error}")
                    continue
                runs.setdefault(config.name, []).append(run)
                print(f" {run.wall:.1f} s (load {run.load[0]:.2f} -> {run.load[1]:.2f})", flush=True)
        checks = ab = None
        if not args.quick:
            checks = checks_cost(course, inbox, assignment)
            if any(c.sandbox for c in configs):
                pairs = max(2, students // 2)
                print(f"  sandbox on and off, alternating unit by unit at workers=1 ({pairs} pairs) ...", end="", flush=True)
                ab = sandbox_ab(course, assignment, inbox, pairs)
                print(f" {sum(ab[True]) + sum(ab[False]):.1f} s", flush=True)
    print()
    print(summarise(runs, configs))
    costs = sandbox_lines(runs, configs, checks, ab)
    if costs:
        print(costs)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    failed = [p for rs in runs.values() for r in rs for p in r.problems]
    if failed:
        print(f"{len(failed)} grade(s) were not what the class should get: the timings above may not mean much",
              file=sys.stderr)
    for failure in failures:
        print(f"configuration failed: {failure}", file=sys.stderr)
    return 1 if failed or failures else 0
