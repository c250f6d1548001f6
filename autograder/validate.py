"""`python -m autograder validate NOTEBOOK`: a student's check of their own notebook, one line per exercise.

It runs the notebook as it is (a local kernel, the notebook's folder as working directory,
a time limit per cell), without saving anything, then prints for each exercise whether it
is `right`, `not yet` or has `no answer`, with the points of its visible tests, and for
one that is not right the first line of the feedback of its first failing visible test.
Explanations say "graded by your instructor". Hidden tests are not in a student's
notebook: the last lines say how many more points they decide at grading.

The exit status is 0 only if every autograded exercise is right. A test cell that the
student deleted or edited is named in a warning and, as at grading, the original runs
instead (when the notebook matches one of course/ by name).

nbgrader's own `nbgrader validate` and the JupyterLab *Validate* button print each failing
test cell's whole source; nbgrader 0.9.6 has no option to show only the error, hence this.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.utils import compute_checksum, is_grade, is_locked, is_solution

from autograder.cells import CATALOG_ID, catalog_id, grade_id_of

REPO = Path(__file__).resolve().parent.parent
KERNEL_STARTUP = Path(__file__).resolve().parent / "kernel_startup.py"
DEFAULT_TIMEOUT = 60  # seconds per cell, as at grading (nbgrader_config.py's Execute.timeout)

RIGHT, NOT_YET, NO_ANSWER, MANUAL = "right", "not yet", "no answer", "graded by your instructor"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_QUIET = logging.getLogger("autograder.validate.kernel")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


# --- running the notebook -------------------------------------------------------------------

def run(nb, folder: Path, timeout: int = DEFAULT_TIMEOUT, kernel_name: str = "python3") -> str | None:
    """Execute `nb` in place (outputs cleared first, errors allowed) with `folder` as working
    directory; return a note if the kernel died, else None. Cells never run keep no
    execution count."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    extra = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
    if KERNEL_STARTUP.exists():  # library warnings on stdout, as at grading
        extra.append(f"--IPKernelApp.exec_files={KERNEL_STARTUP}")
    client = NotebookClient(
        nb, timeout=timeout, startup_timeout=120, kernel_name=kernel_name, allow_errors=True,
        interrupt_on_timeout=True, record_timing=False, extra_arguments=extra,
        error_on_timeout={"ename": "CellTimeoutError",
                          "evalue": f"this cell ran longer than {timeout} s and was stopped",
                          "traceback": [f"CellTimeoutError: this cell ran longer than {timeout} s and was stopped"]},
        resources={"metadata": {"path": str(folder)}})
    running = {}

    def started(cell, cell_index, **_):
        running["index"] = cell_index

    def executed(cell, execute_reply, **_):
        content = execute_reply.get("content", {})
        if content.get("status") != "error":
            return
        error = new_output("error", ename=content.get("ename", "Error"), evalue=content.get("evalue", ""),
                           traceback=content.get("traceback", []))
        if error.ename == "CellTimeoutError":  # say so, not the KeyboardInterrupt that stopped it
            cell.outputs = [error] + [o for o in cell.outputs if o.get("ename") != "KeyboardInterrupt"]
        elif not _outputs(cell, "error"):
            cell.outputs.append(error)

    client.on_cell_execute, client.on_cell_executed = started, executed
    client.log = _QUIET  # the report says what timed out or died
    # As nbgrader validate does; and nothing is recorded for a grader (arlib.grading.record).
    with _environment(NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate", ARLIB_RECORD=None):
        try:
            client.execute()
        except DeadKernelError:
            index = running.get("index")
            if index is not None:
                nb.cells[index].outputs.append(new_output(
                    "error", ename="KernelDied", evalue="the kernel died while running this cell",
                    traceback=["KernelDied: the kernel died while running this cell"]))
            where = "a cell" if index is None else grade_id_of(nb.cells[index]) or f"cell {index + 1}"
            return f"the kernel died while running {where}: later cells did not run"
    return None


@contextlib.contextmanager
def _environment(**changes):
    """Environment variables set (or, for None, unset) while the block starts its kernel."""
    before = {key: os.environ.get(key) for key in changes}
    _set_environment(changes)
    try:
        yield
    finally:
        _set_environment(before)


def _set_environment(values: dict):
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# --- what each exercise got -----------------------------------------------------------------

@dataclass
class Exercise:
    id: str
    status: str = RIGHT  # RIGHT, NOT_YET, NO_ANSWER, or MANUAL (explanations only)
    points: float = 0.0  # visible tests' points earned
    max_points: float = 0.0  # visible tests' points
    hidden_points: float = 0.0  # points decided by hidden tests at grading
    manual_points: float = 0.0  # points graded by the instructor
    message: str = ""  # the first line of the feedback, for an exercise that is not right
    checked: bool = False  # has a visible test

    def line(self, width: int = 6) -> str:
        manual = f"{self.manual_points:g} point{'s' if self.manual_points != 1 else ''} graded by your instructor"
        if not self.checked and self.manual_points:
            return f"{self.id.ljust(width)}  {manual}"
        if not self.checked:
            status = self.status if self.status != RIGHT else "checked at grading"
            text = f"{self.id.ljust(width)}  {status:<10}  (hidden tests only)"
        else:
            text = f"{self.id.ljust(width)}  {self.status:<10}  {self.points:g} / {self.max_points:g}"
        if self.message:
            text += f"   {self.message}"
        if self.manual_points:
            text += f"   (+ {manual})"
        return text


def _outputs(cell, kind):
    return [o for o in cell.get("outputs", []) if o.output_type == kind]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in _ANSI.sub("", text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


def no_answer(ename: str, evalue: str) -> bool:
    """An unanswered exercise raises NotImplementedError (or a subclass such as arlib's
    NoAnswerYet), or an error whose message says "no answer yet"."""
    return ename in ("NotImplementedError", "NoAnswerYet") or "no answer yet" in _ANSI.sub("", evalue or "").lower()


def feedback(error) -> str:
    """One line for an error output: the feedback message of arlib.grading's checks as it is,
    any other error (a bug in the student's code) after its name."""
    message = _first_line(error.get("evalue", ""))
    ename = error.get("ename", "Error")
    if ename in ("ExerciseFailure", "DelegatedToReference", "NoAnswerYet") or ename.endswith("Failure"):
        return message or ename
    return f"{ename}: {message}" if message else ename


NOT_RUN = "did not run (an earlier cell stopped the notebook)"


def _failure(cell) -> tuple[str, bool] | None:
    """(one-line message, whether it means "no answer") if a code cell failed, else None."""
    if cell.get("execution_count") is None and not cell.get("outputs"):
        return NOT_RUN, False
    errors = _outputs(cell, "error")
    if errors:
        return feedback(errors[0]), no_answer(errors[0].get("ename", ""), errors[0].get("evalue", ""))
    stderr = [o for o in _outputs(cell, "stream") if o.get("name") == "stderr"]
    if stderr:
        said = _first_line(stderr[0].get("text", ""))
        return f"wrote to stderr, which a test cell never does on a right answer: {said}", False
    return None


def is_hidden_test(cell) -> bool:
    """A hidden test: nbgrader's hidden region, or (in a release, where that region is gone)
    a grade cell named `...-hidden` or holding nothing but comments."""
    grade_id = cell.metadata.nbgrader.get("grade_id", "")
    code = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return "BEGIN HIDDEN TESTS" in cell.source or grade_id.endswith("-hidden") or not code


def exercises(nb) -> list[Exercise]:
    """The exercises of an executed notebook, in notebook order."""
    found: dict[str, Exercise] = {}
    tests: dict[str, list] = {}
    answer_failures: dict[str, tuple[str, bool]] = {}
    for cell in nb.cells:
        grade_id = grade_id_of(cell) or ""
        if not CATALOG_ID.match(grade_id) or not (is_grade(cell) or is_solution(cell)):
            continue  # teaching text, figures and other locked cells
        exercise = found.setdefault(catalog_id(grade_id), Exercise(catalog_id(grade_id)))
        points = float(cell.metadata.nbgrader.get("points", 0) or 0)
        if is_grade(cell) and (is_solution(cell) or cell.cell_type != "code"):
            exercise.manual_points += points  # an explanation
        elif is_grade(cell) and is_hidden_test(cell):
            exercise.hidden_points += points
        elif is_grade(cell):
            tests.setdefault(exercise.id, []).append(cell)
        elif cell.cell_type == "code" and (failure := _failure(cell)) and failure[0] != NOT_RUN:
            part = "" if grade_id == exercise.id else f" {grade_id}"
            answer_failures.setdefault(exercise.id, (f"your answer cell{part} failed: {failure[0]}", failure[1]))
    for exercise in found.values():
        failures = []
        parts = tests.get(exercise.id, [])
        for cell in parts:
            points = float(cell.metadata.nbgrader.get("points", 0) or 0)
            exercise.max_points += points
            failure = _failure(cell)
            if not failure:
                exercise.points += points
                continue
            part = cell.metadata.nbgrader.grade_id.removesuffix("-test")
            if len(parts) > 1 and part not in failure[0]:  # which part, if the message does not say
                failure = (f"{part}: {failure[0]}", failure[1])
            failures.append(failure)
        exercise.checked = exercise.id in tests
        answer = answer_failures.get(exercise.id)
        if not exercise.checked and not exercise.hidden_points:
            exercise.status = MANUAL if exercise.manual_points else RIGHT  # nothing autograded
        elif failures or (answer and not exercise.checked):
            if answer and not answer[1]:  # the answer cell itself failed: that is what to fix first
                exercise.status, exercise.message = NOT_YET, answer[0]
            elif exercise.points == 0 and (answer or all(no for _, no in failures)):
                exercise.status = NO_ANSWER
            else:
                exercise.status = NOT_YET
                exercise.message = next((message for message, no in failures if not no), failures[0][0])
    return list(found.values())


# --- deleted or edited test cells ---------------------------------------------------------------

def release_of(notebook: Path, release: Path) -> Path | None:
    """The notebook of `release` (course/) that `notebook` is a copy of, by name: the same
    name, else the longest release name inside it ("alice_01-autoregressive-generation")."""
    candidates = sorted(release.glob("*/*.ipynb")) if release.is_dir() else []
    for path in candidates:
        if path.stem == notebook.stem:
            return path
    inside = [path for path in candidates if path.stem in notebook.stem]
    return max(inside, key=lambda path: len(path.stem)) if inside else None


def _test_cells(nb) -> dict[str, object]:
    return {cell.metadata.nbgrader["grade_id"]: cell for cell in nb.cells
            if is_grade(cell) and is_locked(cell) and not is_solution(cell) and cell.cell_type == "code"
            and cell.metadata.nbgrader.get("grade_id")}


def restore_tests(nb, original) -> list[str]:
    """Put back, in `nb`, the test cells of `original` that were deleted or edited, as grading
    does; return a warning for each."""
    warnings = []
    ours, theirs = _test_cells(nb), _test_cells(original)
    for grade_id, cell in theirs.items():
        if grade_id in ours and ours[grade_id].source.strip() != cell.source.strip():
            ours[grade_id].source = cell.source
            warnings.append(f"the test cell {grade_id} differs from the course's (edited?): "
                            "this check ran the course's, as grading will")
    ids = [grade_id_of(c) for c in original.cells]
    for grade_id, cell in theirs.items():
        if grade_id in ours:
            continue
        # after the nearest cell before it (in the original) that the notebook still has
        here = {grade_id_of(c): i for i, c in enumerate(nb.cells)}
        before = [g for g in ids[:ids.index(grade_id)] if g in here]
        nb.cells.insert(here[before[-1]] + 1 if before else len(nb.cells), nbformat.from_dict(dict(cell)))
        warnings.append(f"the test cell {grade_id} is missing (deleted?): this check ran the course's, as grading will")
    return warnings


def edited_by_checksum(nb) -> list[str]:
    """Without the release at hand: test cells whose source no longer matches nbgrader's checksum."""
    return [f"the test cell {grade_id} was edited: grading runs the original instead"
            for grade_id, cell in _test_cells(nb).items()
            if "checksum" in cell.metadata.nbgrader and compute_checksum(cell) != cell.metadata.nbgrader.checksum]


# --- the command ------------------------------------------------------------------------------

@dataclass
class Report:
    notebook: Path
    exercises: list[Exercise] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        autograded = [e for e in self.exercises if e.status != MANUAL]
        return bool(self.exercises) and all(e.status == RIGHT for e in autograded)

    def text(self) -> str:
        width = max([len(e.id) for e in self.exercises] + [6])
        lines = [f"warning: {w}" for w in self.warnings]
        lines += [e.line(width) for e in self.exercises]
        checked = [e for e in self.exercises if e.checked]
        right = sum(e.status == RIGHT for e in checked)
        hidden = sum(e.hidden_points for e in self.exercises)
        manual = sum(e.manual_points for e in self.exercises)
        lines.append("")
        lines.append(f"{right} of {len(checked)} exercises right "
                     f"({sum(e.points for e in checked):g} / {sum(e.max_points for e in checked):g} points of visible tests)"
                     f", in {self.seconds:.0f} s.")
        hidden_part = f", worth {hidden:g} more points," if hidden else ""
        lines.append(f"More tests run when your notebook is graded: hidden tests{hidden_part} try your answers on "
                     "other inputs, so right here is not yet full marks"
                     + (f"; explanations, worth {manual:g} points, are graded by your instructor." if manual else "."))
        return "\n".join(lines)


def validate(notebook: Path, release: Path = REPO / "course", timeout: int | None = None) -> Report:
    """Run `notebook` and say what each exercise got (raises ValueError for a notebook that
    cannot be read or has no exercises)."""
    notebook = Path(notebook).resolve()
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as error:  # not JSON, not a notebook
        raise ValueError(f"cannot read {notebook}: {error}") from None
    report = Report(notebook)
    original = release_of(notebook, Path(release))
    if original is not None:
        report.warnings += restore_tests(nb, nbformat.read(original, as_version=4))
    else:
        report.warnings += edited_by_checksum(nb)
    if not any(CATALOG_ID.match(grade_id_of(c) or "") for c in nb.cells):
        raise ValueError(f"{notebook.name} has no exercises (nbgrader cells with ids like E1-01)")
    spec = nb.metadata.get("kernelspec", {}).get("name") or "python3"
    start = time.perf_counter()
    died = run(nb, notebook.parent, timeout or configured_timeout(), kernel_name=_installed(spec))
    report.seconds = time.perf_counter() - start
    if died:
        report.warnings.append(died)
    report.exercises = exercises(nb)
    return report


def configured_timeout() -> int:
    """nbgrader_config.py's per-cell limit (AUTOGRADER_CELL_TIMEOUT), the one grading uses."""
    try:
        from traitlets.config import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(Path(__file__).resolve().parent)).load_config()
        return int(config.Execute.timeout) if "timeout" in config.Execute else DEFAULT_TIMEOUT
    except Exception:
        return DEFAULT_TIMEOUT


def _installed(kernel_name: str) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return kernel_name if kernel_name in KernelSpecManager().find_kernel_specs() else "python3"


def add_parser(commands) -> argparse.ArgumentParser:
    """The `validate` subcommand of `python -m autograder`."""
    parser = commands.add_parser("validate", help="run your notebook and see each exercise: right, not yet or no answer")
    parser.add_argument("notebook", type=Path, help="the .ipynb to check (it is run, not changed)")
    parser.add_argument("--timeout", type=int, default=None,
                        help=f"seconds a cell may run (default: nbgrader_config.py's, {DEFAULT_TIMEOUT})")
    return parser


def cmd_validate(course, args) -> int:
    """Print the report; exit 0 if every autograded exercise is right, 1 if not, 2 if the
    notebook could not be checked."""
    try:
        report = validate(args.notebook, course.release, args.timeout)
    except (ValueError, FileNotFoundError) as error:
        print(f"validate: {error}")
        return 2
    print(report.text())
    return 0 if report.ok else 1
