"""`python -m autograder validate NOTEBOOK`: one line per exercise, and the exit status.

Most cases run a tiny notebook built here (it imports only arlib's grading checks); one
runs an untouched release of course/, where every exercise has no answer yet.
"""

import contextlib
import io
import re
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.__main__ import main
from autograder.workspace import REPO

pytestmark = pytest.mark.slow  # each case starts a kernel

FIXTURE = "00-validate-fixture"


def _cell(kind: str, grade_id: str, source: str, points: float = 0):
    """An nbgrader cell: kind is "locked", "answer", "test" or "explain" (a manually graded markdown cell)."""
    make = new_markdown_cell if kind == "explain" else new_code_cell
    cell = make(source)
    meta = {"grade_id": grade_id, "schema_version": 3, "locked": kind in ("locked", "test"),
            "solution": kind in ("answer", "explain"), "grade": kind in ("test", "explain")}
    if meta["grade"]:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


SETUP = _cell("locked", "setup", "from arlib import grading")
HIDDEN = "# Hidden tests (other inputs) run when your notebook is graded."


def _value_exercise(n: int, answer: str, points: float = 1, plain: bool = False):
    """A value exercise E9-0n whose right answer is 42 (checked with plain asserts if `plain`,
    for a notebook that imports nothing and so runs each cell at once)."""
    test = (f'assert answer_e9_0{n} is not None, "E9-0{n} has no answer yet"\n'
            f'assert answer_e9_0{n} == 42, "E9-0{n} is not 42"') if plain else (
            f'grading.check_answered(answer_e9_0{n}, "E9-0{n}")\n'
            f'grading.check_equal(answer_e9_0{n}, 42, "E9-0{n}", hint="count again.")')
    return [
        _cell("answer", f"E9-0{n}", f"answer_e9_0{n} = None\n{answer}"),
        _cell("test", f"E9-0{n}-test", test, points),
        _cell("test", f"E9-0{n}-hidden", HIDDEN, 2),
    ]


def _code_exercise(n: int, body: str):
    """A code exercise E9-0n: double(x) must return 2 * x."""
    return [
        _cell("answer", f"E9-0{n}", f"def double(x):\n{body}"),
        _cell("test", f"E9-0{n}-test", 'grading.check_equal(double(3), 6, "double(3)")', 2),
    ]


def _notebook(*cells, setup=True):
    cells = [c for group in cells for c in (group if isinstance(group, list) else [group])]
    nb = new_notebook(cells=[SETUP, *cells] if setup else cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _write(nb, folder, name=FIXTURE):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _argv(path, *options, release=None):
    """The arguments of `python -m autograder [--release RELEASE] validate PATH OPTIONS`."""
    argv = ["--release", str(release)] if release else []
    return argv + ["validate", str(path), *options]


@pytest.fixture
def cli(capsys):
    """Run the command: (exit status, printed lines)."""
    def run(path, *options, release=None):
        status = main(_argv(path, *options, release=release))
        return status, capsys.readouterr().out.splitlines()
    return run


def _line(lines, exercise):
    found = [line for line in lines if line.startswith(exercise + " ")]
    assert len(found) == 1, f"one line for {exercise} expected in:\n" + "\n".join(lines)
    return found[0]


# --- a mix of right, wrong and unanswered ------------------------------------------------------

@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One run of a notebook with every kind of outcome, in a release folder of its own whose
    original has two test cells that the student's copy deleted or edited."""
    root = tmp_path_factory.mktemp("validate-mixed")
    original = _notebook(
        _value_exercise(1, "### BEGIN SOLUTION\nanswer_e9_01 = 42\n### END SOLUTION"),
        _value_exercise(2, "### BEGIN SOLUTION\nanswer_e9_02 = 42\n### END SOLUTION"),
        _value_exercise(3, "### BEGIN SOLUTION\nanswer_e9_03 = 42\n### END SOLUTION"),
        _code_exercise(4, "    return 2 * x"),
        _code_exercise(5, "    return 2 * x"),
        _value_exercise(6, ""),
        _cell("locked", "E9-07-question", "Explain why."),
        _cell("explain", "E9-07", "YOUR ANSWER HERE", 3),
        _cell("answer", "E9-08", "import sys\nanswer_e9_08 = 42"),
        _cell("test", "E9-08-test", 'import sys\nprint("careful", file=sys.stderr)', 1),
    )
    release = root / "course"
    _write(original, release / FIXTURE)
    student = nbformat.from_dict(original)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in student.cells}
    cells["E9-01"].source = "answer_e9_01 = 42"  # right
    cells["E9-02"].source = "answer_e9_02 = 41"  # wrong: the test's feedback
    cells["E9-03"].source = 'answer_e9_03 = None\nraise NotImplementedError("replace this line with your answer")'
    cells["E9-04"].source = 'def double(x):\n    raise NotImplementedError("replace this line with your answer")'
    cells["E9-05"].source = "def double(x):\n    return 1 / 0"  # a bug in the student's code
    cells["E9-06"].source = "answer_e9_06 = 42"
    cells["E9-06-test"].source = "pass  # the student made the test pass"  # edited: the original runs
    student.cells.remove(cells["E9-01-test"])  # deleted: it runs anyway
    path = _write(student, root / "student")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = main(_argv(path, release=release))
    return status, output.getvalue().splitlines(), path


def test_each_exercise_gets_one_line(mixed):
    _, lines, _ = mixed
    assert [line.split()[0] for line in lines if re.match(r"E\d", line)] == [f"E9-0{i}" for i in range(1, 9)]
    assert re.fullmatch(r"E9-01\s+right\s+1 / 1", _line(lines, "E9-01"))
    assert re.fullmatch(r"E9-02\s+not yet\s+0 / 1\s+E9-02 is 41, expected 42\. count again\.", _line(lines, "E9-02"))
    assert re.fullmatch(r"E9-03\s+no answer\s+0 / 1", _line(lines, "E9-03"))
    assert re.fullmatch(r"E9-04\s+no answer\s+0 / 2", _line(lines, "E9-04"))
    assert re.fullmatch(r"E9-05\s+not yet\s+0 / 2\s+ZeroDivisionError: division by zero", _line(lines, "E9-05"))
    assert re.fullmatch(r"E9-06\s+right\s+1 / 1", _line(lines, "E9-06"))
    assert re.fullmatch(r"E9-07\s+3 points graded by your instructor", _line(lines, "E9-07"))
    assert re.match(r"E9-08\s+not yet\s+0 / 1\s+wrote to stderr, .*careful", _line(lines, "E9-08"))
    assert not any("Traceback" in line or "File " in line for line in lines)


def test_a_failing_notebook_exits_non_zero(mixed):
    assert mixed[0] == 1


def test_deleted_and_edited_test_cells_are_named_and_run_as_at_grading(mixed):
    _, lines, path = mixed
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert any("E9-01-test is missing (deleted?)" in w for w in warnings)
    assert any("E9-06-test differs from the course's (edited?)" in w for w in warnings)
    assert len(warnings) == 2, warnings
    assert nbformat.read(path, as_version=4).cells[2].metadata.nbgrader.grade_id == "E9-01-hidden", \
        "validate must not change the student's file"


def test_hidden_tests_and_explanations_are_mentioned_once_at_the_end(mixed):
    text = "\n".join(mixed[1])
    assert text.count("hidden tests") == 1 and "hidden tests, worth 8 more points, try" in text
    assert "explanations, worth 3 points, are graded by your instructor" in text
    assert "2 of 7 exercises right (2 / 9 points of visible tests)" in text  # E9-07 is graded by hand


# --- right, stopped, dead ---------------------------------------------------------------------

def test_a_notebook_with_every_exercise_right_exits_zero(tmp_path, cli):
    nb = _notebook(_value_exercise(1, "answer_e9_01 = 42"), _code_exercise(2, "    return 2 * x"),
                   _cell("explain", "E9-03", "Because.", 2))
    status, lines = cli(_write(nb, tmp_path))
    assert status == 0, "\n".join(lines)
    assert re.fullmatch(r"E9-01\s+right\s+1 / 1", _line(lines, "E9-01"))
    assert re.fullmatch(r"E9-02\s+right\s+2 / 2", _line(lines, "E9-02"))
    assert "graded by your instructor" in _line(lines, "E9-03")


def test_an_endless_cell_is_stopped_and_a_dead_kernel_stops_the_rest(tmp_path, cli):
    nb = _notebook(_value_exercise(1, "answer_e9_01 = 42", plain=True),
                   _value_exercise(2, "while True:\n    pass", plain=True),
                   _value_exercise(3, "import os\nos._exit(1)", plain=True),
                   _value_exercise(4, "answer_e9_04 = 42", plain=True), setup=False)  # no import: only the loop is slow
    status, lines = cli(_write(nb, tmp_path), "--timeout", "3")
    assert status == 1
    assert re.fullmatch(r"E9-01\s+right\s+1 / 1", _line(lines, "E9-01"))
    assert "ran longer than 3 s" in _line(lines, "E9-02")
    assert "KernelDied" in _line(lines, "E9-03")
    assert "did not run" in _line(lines, "E9-04")
    assert any(line.startswith("warning: the kernel died") for line in lines)


def test_a_file_that_is_not_a_notebook_exits_2(tmp_path, cli):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    status, lines = cli(path)
    assert status == 2 and "cannot read" in lines[0]


# --- an untouched release ---------------------------------------------------------------------

def test_an_untouched_release_has_no_answer_anywhere(tmp_path, cli):
    releases = sorted((REPO / "course").glob("*/*.ipynb"))
    if not releases:
        pytest.skip("no release in course/")
    path = tmp_path / releases[0].name
    shutil.copy(releases[0], path)
    status, lines = cli(path)
    assert status == 1
    assert not [line for line in lines if line.startswith("warning")], "an untouched release has no tampering"
    exercise_lines = [line for line in lines if re.match(r"E\d+-\d\d ", line)]
    assert exercise_lines
    for line in exercise_lines:
        assert re.search(r"\bno answer\s+0 / \d+$", line) or line.endswith("graded by your instructor"), line
