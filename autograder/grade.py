"""Grade a batch of submissions: one unit of work per notebook, in parallel, recorded as each ends.

1. The class's course root learns each assignment (nbgrader's generate_assignment).
2. Each notebook gets a `Template`, and the instructor's solution runs through it once to
   record the right values (`autograder.unit`).
3. Every submitted notebook becomes a `Job`, run by a `concurrent.futures` executor: a pool
   of local processes (`--workers N`) or a Dask cluster (`--scheduler ADDRESS`), one code path.
4. As each result arrives, the parent alone records it (`autograder.results`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from autograder import report, results
from autograder.submissions import Submission, collect, read_submission
from autograder.sandbox import Limits
from autograder.unit import REFERENCE_STUDENT, Job, Settings, UnitResult, grade_unit, prepare_template
from autograder.workspace import Workspace


class SolutionProblem(Exception):
    """The instructor's solution fails its own tests: grading students against it would be wrong."""


@dataclass(frozen=True)
class Options:
    settings: Settings = Settings()
    workers: int | None = None  # local processes (default: the number of cores)
    scheduler: str | None = None  # a Dask scheduler's address: grade on that cluster instead
    force: bool = False  # regrade notebooks already graded from the same file
    progress: bool = True
    overrides: dict | None = None  # (student, assignment) -> {"cell_timeout": .., Limits field: ..} for that notebook

    def settings_for(self, student: str, assignment: str) -> Settings:
        """The settings of one notebook: the batch's, with its own overrides (samples use them)."""
        changes = dict((self.overrides or {}).get((student, assignment), {}))
        if not changes:
            return self.settings
        timeout = changes.pop("cell_timeout", self.settings.cell_timeout)
        limits = dataclasses.replace(self.settings.limits or Limits(), **changes)
        return dataclasses.replace(self.settings, cell_timeout=timeout, limits=limits)


def grade_folder(folder: Path, workspace: Workspace, assignment: str | None = None,
                 student_pattern: str | None = None, options: Options = Options()) -> list[results.NotebookGrade]:
    """Grade every submission in `folder`; return the rows of grades.csv for them."""
    submissions = collect(folder, workspace.course, assignment, student_pattern)
    if not submissions:
        raise ValueError(f"no submissions of {assignment or 'any assignment'} found in {folder}")
    return grade_submissions(submissions, workspace, options)


def grade_submissions(submissions: list[Submission], workspace: Workspace,
                      options: Options = Options()) -> list[results.NotebookGrade]:
    notebooks = sorted({(s.assignment, s.notebook) for s in submissions})
    for assignment in sorted({a for a, _ in notebooks}):
        workspace.prepare(assignment)
    recorder = _Recorder(workspace)
    try:
        with executor(options) as pool:
            templates = reference_runs(pool, workspace, notebooks, options.settings)
            todo = []
            for s in submissions:  # each file read once: the bytes graded are the bytes compared with the stored hash
                data, problem = _read(s)
                if options.force or not _already_graded(workspace, s, data, templates[(s.assignment, s.notebook)]):
                    todo.append((s, data, problem))
            progress = tqdm(total=len(todo), desc="grading", unit="notebook", disable=not options.progress)
            lost = _run(pool, todo, templates, recorder, options, progress, last_try=False)
        if lost:  # a worker process was lost (killed, out of memory): its notebooks once more, in a fresh pool
            with executor(options) as pool:
                _run(pool, lost, templates, recorder, options, progress, last_try=True)
        progress.close()
    finally:  # Ctrl-C or a crash included: grades.csv holds every notebook graded so far
        if recorder.saved:
            results.write_csv(workspace)
    try:
        report.write_report(workspace)  # grading/report.html: the class report, for the instructor
    except Exception as error:  # the grades are safe; only the summary page failed
        print(f"the class report could not be written ({type(error).__name__}: {error}); "
              "grades.csv and feedback are complete. Try again with: python -m autograder report")
    graded = {(s.student, s.assignment, s.notebook) for s in submissions}
    return [row for row in results.rows(workspace) if (row.student, row.assignment, row.notebook) in graded]


def _run(pool: Executor, todo, templates, recorder, options, progress, last_try: bool) -> list:
    """Grade `todo` ((submission, bytes, result if it cannot be graded) each) in `pool`, recording
    each result as it arrives; return the entries whose worker was lost (on the last try they
    are recorded as failed instead)."""
    futures, lost = {}, []
    for s, data, problem in todo:
        template = templates[(s.assignment, s.notebook)]
        if problem:
            recorder.save(problem, data, template)
            progress.update()
        else:
            job = Job(s.student, template, data, options.settings_for(s.student, s.assignment))
            futures[pool.submit(grade_unit, job)] = (s, data, template)
    for future in as_completed(futures):
        s, data, template = futures[future]
        if future.exception() is not None and not last_try:
            lost.append((s, data, None))
            continue
        recorder.save(_result_of(future, s), data, template)
        progress.update()
    return lost


class _Recorder:
    """Records each result at once; rebuilds grades.csv at most every CSV_SECONDS (rebuilding
    reads every result, so doing it after each of a large class's notebooks would not scale)."""

    CSV_SECONDS = 10

    def __init__(self, workspace: Workspace):
        self.workspace, self.saved, self.csv_written = workspace, 0, time.monotonic()

    def save(self, result: UnitResult, data: bytes | None, template):
        results.save(self.workspace, result, _sha256(data), template.version, template.max_points)
        self.saved += 1
        if time.monotonic() - self.csv_written >= self.CSV_SECONDS:
            results.write_csv(self.workspace)
            self.csv_written = time.monotonic()


@contextlib.contextmanager
def executor(options: Options):
    """Where the units run: a Dask cluster, a pool of local processes, or this process."""
    if options.scheduler:
        from distributed import Client

        with Client(options.scheduler) as client:
            client.run(_import_grader)  # every worker, while the solution's run goes on
            yield client.get_executor()
        return
    workers = options.workers or os.cpu_count() or 1
    if workers == 1:
        with _InProcess() as pool:
            yield pool
        return
    # spawn: a fresh interpreter per worker, never a fork of one that holds torch's threads.
    # Every worker starts at once and imports the grader while the solution's run goes on,
    # instead of the pool starting the second one at the first student.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_import_grader) as pool:
        for _ in range(workers):
            pool.submit(int)  # each submit while no worker is idle starts one
        yield pool


def _import_grader():
    import autograder.unit  # noqa: F401 (nbgrader, torch: a second or two, once per worker)


class _InProcess(Executor):
    """Runs each unit at once in this process (one worker needs no pool)."""

    def submit(self, fn, /, *args, **kwargs):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 (handed to the caller through the future)
            future.set_exception(error)
        return future


def reference_runs(pool: Executor, workspace: Workspace, notebooks, settings: Settings) -> dict:
    """A Template per (assignment, notebook), with what the instructor's solution recorded.

    Stops with the reasons if the solution does not pass its own tests: grading against a
    broken solution would grade every student wrongly."""
    with tempfile.TemporaryDirectory(prefix="autograder-templates-") as scratch:
        templates = {key: prepare_template(workspace.course, *key, Path(scratch) / key[0]) for key in notebooks}
    futures = {pool.submit(grade_unit, Job(REFERENCE_STUDENT, t, t.files[f"source/{a}/{nb}.ipynb"], settings)): (a, nb)
               for (a, nb), t in templates.items()}
    for future in as_completed(futures):
        key = futures[future]
        result = future.result()
        problems = (result.reference or {}).get("problems", []) if result.reference else [
            f"the solution could not be run: {'; '.join(result.notes) or result.status}"]
        if problems:
            raise SolutionProblem(f"{key[0]}/{key[1]}: the instructor's solution does not pass its own tests, so nothing "
                                  "was graded:\n  " + "\n  ".join(problems))
        templates[key] = dataclasses.replace(templates[key], reference=result.reference)
    return templates


def _read(s: Submission) -> tuple[bytes | None, UnitResult | None]:
    """The submitted bytes, or the result of a notebook that cannot be graded at all."""
    if s.problem:
        return None, UnitResult(s.student, s.assignment, s.notebook, s.problem, s.notes)
    data = read_submission(s.path)
    if isinstance(data, str):
        return None, UnitResult(s.student, s.assignment, s.notebook, "corrupt", [*s.notes, data])
    return data, None


def _result_of(future, s: Submission) -> UnitResult:
    try:
        result = future.result()
    except Exception as error:  # a worker lost (killed, out of memory): this notebook's row only
        result = UnitResult(s.student, s.assignment, s.notebook, "failed",
                            [f"the grader could not grade this notebook: {type(error).__name__}: {error}"])
    result.notes = [*s.notes, *result.notes]
    return result


def _already_graded(workspace: Workspace, s: Submission, data: bytes | None, template) -> bool:
    """Graded before from the very same bytes (`data`, None for a file that cannot be graded)
    against the same assignment (a rerun after a crash resumes where it stopped; --force regrades)."""
    stored = results.load(workspace, s.assignment, s.student, s.notebook)
    if stored is None or stored["status"] == "failed" or stored.get("assignment_version") != template.version:
        return False
    return stored["sha256"] == _sha256(data)


def _sha256(data: bytes | None) -> str | None:
    """What the results store keeps of the bytes graded, to tell a file already graded."""
    return hashlib.sha256(data).hexdigest() if data is not None else None
