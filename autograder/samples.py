"""Sample submissions with the exact scores they must get.

Two sources:
- hand-made, in `<samples>/<assignment>.json` (format in solutions/AUTHORING.md): answer-cell
  replacements applied to the release filled with the solutions, and the expected
  autograded points of the catalog ids they change (ids left out get full marks);
- generic, made here for any assignment: the solution notebook itself, the blank release,
  broken ones (a corrupt file, a missing notebook, an infinite loop, a kernel killed
  mid-notebook, a test cell deleted or edited by the student) and hostile ones (`ATTACKS`:
  a blank notebook whose first answer cell hooks the kernel, patches the checks, reads the
  answers, harms the grader or floods a limit). Their expected scores follow from the
  notebook's own cells and points: a hostile blank notebook must still score zero.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.cells import Cell, autograded_points, grade_id_of, nbgrader_cells, tests_of
from autograder.workspace import Course

GOOD = ("solution", "blank")
BROKEN = ("corrupt", "missing", "infinite-loop", "kernel-dies", "deleted-test", "edited-test")

@dataclass(frozen=True)
class Attack:
    """A hostile submission: code a student puts first in the first answer cell of the blank
    release (in every answer cell if `everywhere`). It must score zero, with `status`."""

    about: str
    code: str
    status: str
    note: str  # a substring of the grader's notes
    limits: dict | None = None  # tighter limits for this notebook, so the sample stays quick
    everywhere: bool = False


ATTACKS = {
    "hook-input-transformer": Attack(
        "an IPython input transformer that turns every later cell into `pass`",
        'get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])',
        "tampered", "cells are being rewritten or swallowed"),
    "hook-ast-transformer": Attack(
        "an AST transformer that empties every later cell",
        "import ast\nclass Empty(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
        "        return ast.Module(body=[ast.Pass()], type_ignores=[])\nget_ipython().ast_transformers.append(Empty())",
        "tampered", "tampered"),
    "hook-run-cell": Attack(
        "a replaced run_cell that runs `pass` instead of each later cell",
        "shell = get_ipython()\nrun = shell.run_cell\n"
        "shell.run_cell = lambda cell, *args, **kwargs: run('pass', *args, **kwargs)\n"
        "shell.should_run_async = lambda *args, **kwargs: False",
        "tampered", "tampered"),
    "hook-exception-handler": Attack(
        "a custom exception handler that hides every failing check",
        "get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)", "tampered", "exception handlers"),
    "hook-post-run": Attack(
        "a post-run callback, as used to clear a failed cell's error",
        "get_ipython().events.register('post_run_cell', lambda result: None)", "tampered", "events"),
    "hook-display-formatter": Attack(
        "a display formatter that shows every float as 4 (a partial-credit number)",
        "get_ipython().display_formatter.formatters['text/plain'].for_type("
        "float, lambda value, printer, cycle: printer.text('4'))", "tampered", "formatters"),
    "hook-trace": Attack(
        "sys.settrace, as used to rewrite what partial credit returns",
        "import sys\nsys.settrace(lambda frame, event, arg: None)", "tampered", "tracing"),
    "patched-checks": Attack(
        "arlib.grading's checks and torch/math/numpy comparisons patched to always pass",
        "import math, numpy, torch\nfrom arlib import grading\n"
        "grading.check_digest = grading.check_answered = grading.check_number = lambda *a, **k: None\n"
        "grading.check_sequence = grading.check_close = grading.check_equal = lambda *a, **k: None\n"
        "torch.allclose = math.isclose = numpy.allclose = lambda *a, **k: True", "needs review", "needs review"),
    "reads-answers": Attack(
        "reads and prints the instructor's solutions, the grading folder's notebooks and gradebook, /etc/passwd",
        "import glob\nfor pattern in ['/work/*/solutions/*/*.ipynb', '../../../source/*/*.ipynb', '../../../gradebook.db',\n"
        "                '/etc/passwd', '/root/*']:\n    for path in glob.glob(pattern)[:3]:\n"
        "        print(path, open(path, errors='replace').read()[:20000])", "needs review", "needs review"),
    "prints-hidden-tests": Attack(
        "prints every cell the kernel was given so far (In) in every answer, so the later ones hold hidden tests",
        "print(In)", "needs review", "needs review", everywhere=True),
    "kills-grader": Attack(
        "kills its parent process, as used to end a batch with no grades.csv for anyone",
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "needs review", "needs review"),
    "harms-classmates": Attack(
        "writes the gradebook, plants arlib.py in the grading folder's source, deletes the feedback",
        "import pathlib, shutil\nfor up in ['..', '../..', '../../..']:\n"
        "    root = pathlib.Path(up)\n    (root / 'gradebook.db').write_bytes(b'')\n"
        "    (root / 'source' / 'arlib.py').write_text('raise SystemExit')\n"
        "    shutil.rmtree(root / 'feedback', ignore_errors=True)", "needs review", "needs review"),
    "leaves-a-daemon": Attack(
        "starts 50 detached processes, as used to rewrite grades.csv after the run",
        "import subprocess\nfor _ in range(50):\n    subprocess.Popen(['sleep', '600'], start_new_session=True)",
        "needs review", "needs review"),
    "opens-a-socket": Attack(
        "connects to a listener on the grading machine's loopback",
        "import socket\nsocket.create_connection(('127.0.0.1', 8888), timeout=2).sendall(b'grades')",
        "needs review", "needs review"),
    "floods-output": Attack("prints one 300 MiB line", "print('x' * (300 * 2**20))", "over a limit", "output"),
    "floods-memory": Attack("allocates 6 GiB, more memory than the limit",
                            "import torch\nhog = torch.ones(6 * 2**30, dtype=torch.uint8)", "over a limit", "memory"),
    # Writing files is flagged for review as well; the sandbox's disk limit holds anyway.
    "floods-disk": Attack("writes a 1 GiB file next to its notebook",
                          "import torch\ntorch.save(torch.zeros(2**28), 'big.pt')", "needs review", "MB of files",
                          {"scratch_mb": 64}),
    "slow-cells": Attack("cells that each stay under the per-cell limit but add up",
                         "import time\ntime.sleep(3)", "timed out", "notebook",
                         {"notebook_seconds": 8, "cell_timeout": 5}, everywhere=True),
}


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
    limits: dict | None = None  # settings for this notebook only: Limits fields and cell_timeout

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

    def sample(self, name, about, notebook, expected=None, status="graded", notes=(), limits=None):
        return Sample(name, self.name, self.notebook_name, about, notebook,
                      self.full if expected is None else expected, status, list(notes), limits)

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
            grade_id = grade_id_of(cell)
            if grade_id in answers:
                cell.source = replacements.get(grade_id, _solution_text(answers[grade_id].source))
        return nb

    def _cell(self, nb, grade_id):
        return next(c for c in nb.cells if grade_id_of(c) == grade_id)

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
                           self.expected_without(tests_of(target, self.cells)), "timed out", ["was interrupted"])

    def kernel_dies(self):
        target = [c for c in self.cells if c.kind == "answer"][-1]
        nb = self.filled()
        cell = self._cell(nb, target.grade_id)
        cell.source += "\nimport os\nos._exit(1)  # kills the kernel\n"
        # every later test fails, and so does every test of the exercise flagged for review
        later_tests = [c for c in self.cells if c.kind == "test"
                       and (c.index > target.index or c.exercise == target.exercise)]
        # os._exit is also flagged by the static check: the status says so first.
        return self.sample("kernel-dies", f"the answer of {target.grade_id} kills the kernel", nb,
                           self.expected_without(later_tests), "needs review", ["kernel died", "os._exit"])

    def deleted_test(self):
        target = self.value_answer()
        tests = tests_of(target, self.cells)
        nb = self.filled({target.grade_id: self._cell(self.release, target.grade_id).source})
        ids = {t.grade_id for t in tests}
        nb.cells = [c for c in nb.cells if grade_id_of(c) not in ids]
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

    def attack(self, name: str) -> Sample:
        attack = ATTACKS[name]
        nb = self.filled({c.grade_id: self._cell(self.release, c.grade_id).source
                          for c in self.cells if c.kind in ("answer", "manual")})
        targets = [c for c in self.cells if c.kind == "answer"]
        for target in targets if attack.everywhere else [self.value_answer()]:
            cell = self._cell(nb, target.grade_id)
            cell.source = attack.code + "\n" + cell.source
        return self.sample(name, attack.about, nb, {e: 0.0 for e in self.full}, attack.status, [attack.note],
                           attack.limits)

    def hand_made(self) -> list[Sample]:
        path = self.course.samples / f"{self.name}.json"
        if not path.exists():
            return []
        samples = []
        for name, spec in json.loads(path.read_text(encoding="utf-8")).items():
            if name in GOOD + BROKEN + tuple(ATTACKS):
                raise ValueError(f"{path}: the sample name {name!r} is taken by a generic sample")
            unknown = sorted(set(spec.get("expected", {})) - set(self.full))
            if unknown:
                raise ValueError(f"{path}, sample {name!r}: {', '.join(unknown)} have no autograded cells; "
                                 f"expected ids among {', '.join(self.full)}")
            expected = {**self.full, **{k: float(v) for k, v in spec.get("expected", {}).items()}}
            samples.append(self.sample(name, spec.get("about", ""), self.filled(spec.get("cells", {})), expected,
                                       spec.get("status", "graded"), spec.get("notes", []), spec.get("limits")))
        return samples


def _solution_text(source: str) -> str:
    """An answer cell's source as a student who solved it would hand it in."""
    keep = [line for line in source.split("\n")
            if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line]
    return "\n".join(keep)


def samples_for(course: Course, assignment: str, release: Path, broken: bool = False) -> list[Sample]:
    """The solution, the blank release, the hand-made samples and, if `broken`, the broken and
    hostile ones."""
    a = Assignment(course, assignment, release)
    samples = [a.solution(), a.blank(), *a.hand_made()]
    if broken:
        samples += [a.corrupt(), a.missing(), a.infinite_loop(), a.kernel_dies(), a.deleted_test(), a.edited_test()]
        samples += [a.attack(name) for name in ATTACKS]
    return samples
