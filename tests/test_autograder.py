"""The real nbgrader grading of sample submissions, in the sandbox: every score and status exactly as expected.

Two grading batches are shared by all tests (session fixtures), each through the same code as
`python -m autograder demo`:
- the fixture assignment (tests/fixtures) with every generic sample: broken ones, hostile ones
  (`autograder.samples.ATTACKS`) and the hand-made ones (delegation in every form);
- every assignment of solutions/: its solution, its blank release and its hand-made samples.
"""

import contextlib
import csv
import html
import io
import json
import re
import shutil
import socket
import subprocess

import nbformat
import pytest

from autograder.__main__ import demo, main
from autograder.cells import without_hidden_tests
from autograder.grade import Options
from autograder.samples import ATTACKS, BROKEN
from autograder.sandbox import sandbox_problem
from autograder.unit import Settings
from autograder.verify import Outcome, grade_samples
from autograder.workspace import REPO, Course, Workspace

pytestmark = pytest.mark.slow

FIXTURES = Course(source=REPO / "tests" / "fixtures" / "solutions", samples=REPO / "tests" / "fixtures" / "samples")
COURSE = Course()
FIXTURE = "00-fixture"
SHORT_TIMEOUT = 10  # seconds per cell: the infinite loop costs this much
SANDBOXED = Options(Settings(cell_timeout=SHORT_TIMEOUT), workers=2, progress=False)

if sandbox_problem():  # CI installs bubblewrap: hostile samples are only ever run inside it
    pytest.skip(f"the grading sandbox does not work here: {sandbox_problem()}", allow_module_level=True)


def _hand_made(course, assignment):
    path = course.samples / f"{assignment}.json"
    return list(json.loads(path.read_text())) if path.exists() else []


FIXTURE_SAMPLES = ["solution", "blank", *_hand_made(FIXTURES, FIXTURE), *BROKEN, *ATTACKS]
COURSE_SAMPLES = [(a, s) for a in COURSE.assignments() for s in ["solution", "blank", *_hand_made(COURSE, a)]]


@pytest.fixture(scope="session")
def fixture_run(tmp_path_factory):
    """The fixture's samples, graded while a listener waits on this machine's loopback for the
    hostile sample that tries to reach it."""
    root = tmp_path_factory.mktemp("fixture-grading")
    with socket.create_server(("127.0.0.1", 8888)) as listener:
        listener.settimeout(0.1)
        outcomes, report = demo(FIXTURES, root, [FIXTURE], broken_on=FIXTURE, options=SANDBOXED)
        try:
            listener.accept()
            reached = True
        except TimeoutError:
            reached = False
    return Workspace(root, FIXTURES), {o.sample.name: o for o in outcomes}, report, reached


@pytest.fixture(scope="session")
def course_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("course-grading")
    outcomes = grade_samples(Workspace(root, COURSE), COURSE.assignments(), options=SANDBOXED)
    return {(o.sample.assignment, o.sample.name): o for o in outcomes}


def _explain(outcome: Outcome) -> str:
    g = outcome.grade
    return (f"{g.assignment} / {outcome.sample.name} ({outcome.sample.about}): {'; '.join(outcome.problems)}\n"
            f"  got {g.points}, status {g.status}, notes {g.notes}")


def _autograded(outcome):
    return nbformat.read(outcome.grade.autograded, as_version=4)


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


# --- exact scores and statuses ----------------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURE_SAMPLES)
def test_fixture_sample_gets_its_exact_score_and_status(fixture_run, name):
    outcome = fixture_run[1][name]
    assert not outcome.problems, _explain(outcome)


@pytest.mark.parametrize("assignment, name", COURSE_SAMPLES)
def test_course_sample_gets_its_exact_score(course_run, assignment, name):
    outcome = course_run[(assignment, name)]
    assert not outcome.problems, _explain(outcome)


def test_the_demo_table_reports_every_sample_as_expected(fixture_run):
    report = fixture_run[2]
    for name in FIXTURE_SAMPLES:
        line = next(line for line in report.splitlines() if re.match(rf"{FIXTURE}\s+{name}\s", line))
        assert line.rstrip().endswith("yes"), line
    assert "test cell E0-01-test was deleted (restored)" in report


def test_broken_samples_are_graded_as_what_they_are(fixture_run):
    outcomes = fixture_run[1]
    assert outcomes["corrupt"].grade.status == "corrupt" and outcomes["corrupt"].grade.score == 0
    assert outcomes["missing"].grade.status == "missing"
    # the endless loop costs its own exercise only; the kernel that dies costs everything after it
    assert outcomes["infinite-loop"].grade.points["E0-01"] == 0
    assert outcomes["infinite-loop"].grade.auto_score == outcomes["solution"].grade.auto_score - 1
    assert outcomes["kernel-dies"].grade.points == {"E0-01": 1, "E0-02": 2, "E0-03": 3, "E0-04": 0}
    for name in ("deleted-test", "edited-test"):  # tests restored: the blank answer behind them scores zero
        assert outcomes[name].grade.points["E0-01"] == 0 and outcomes[name].grade.auto_score == 9


def test_a_hostile_blank_notebook_earns_nothing_and_says_why(fixture_run):
    outcomes = fixture_run[1]
    for name, attack in ATTACKS.items():
        grade = outcomes[name].grade
        assert grade.auto_score == 0 and grade.status == attack.status, _explain(outcomes[name])
    assert any("tampered" in note and "autograded points void" in note for note in outcomes["hook-run-cell"].grade.notes)


def test_delegation_is_caught_however_the_reference_is_reached(fixture_run):
    outcomes = fixture_run[1]
    for name in ("partial", "delegates-default-argument", "delegates-closure", "delegates-partial", "delegates-swallowed"):
        hidden = _cell(_autograded(outcomes[name]), "E0-04-hidden")
        grader_lines = "".join(o.data["text/plain"] for o in hidden.outputs if o.output_type == "display_data")
        assert "DelegatedToReference" in grader_lines, name
        assert outcomes[name].grade.points["E0-04"] == 2, name  # the visible points only
    assert outcomes["solution"].grade.points["E0-04"] == 4


@pytest.mark.parametrize("assignment", [a for a in COURSE.assignments() if _hand_made(COURSE, a)])
def test_each_assignment_has_a_sample_caught_delegating(course_run, assignment):
    caught = [name for (a, name), o in course_run.items() if a == assignment
              and any("DelegatedToReference" in o.data.get("text/plain", "")
                      for cell in _autograded(o).cells for o in cell.get("outputs", []) if o.output_type == "display_data")]
    assert caught, f"no hand-made sample of {assignment} delegates to arlib and gets caught"


def test_a_library_warning_in_a_test_cell_costs_nothing(fixture_run):
    workspace, outcomes, *_ = fixture_run
    cell = _cell(_autograded(outcomes["solution"]), "E0-04-test")
    streams = {o.name: o.text for o in cell.outputs if o.output_type == "stream"}
    assert "UserWarning: To copy construct from a tensor" in streams.get("stdout", "")  # torch did warn
    assert outcomes["solution"].grade.points["E0-04"] == 4


def test_the_gradebook_holds_the_same_scores(fixture_run):
    """The instructor's formgrader reads nbgrader's gradebook: it must agree with grades.csv."""
    workspace, outcomes, *_ = fixture_run
    with workspace.gradebook() as gb:
        for name, outcome in outcomes.items():
            submission = gb.find_submission_notebook(FIXTURE, FIXTURE, name)
            auto = sum(g.score or 0 for g in submission.grades if g.name != "E0-05")
            assert auto == pytest.approx(outcome.grade.auto_score), name
        assert gb.find_grade("E0-05", FIXTURE, FIXTURE, "solution").needs_manual_grade  # left for the instructor


def test_grades_csv_has_a_row_per_student_and_a_column_per_exercise(fixture_run):
    workspace, outcomes, *_ = fixture_run
    with open(workspace.root / "grades.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = {row["student"]: row for row in reader}
    assert reader.fieldnames[:9] == ["student", "assignment", "notebook", "status", "score", "max_score", "notes",
                                     "manual_given", "manual_pending"]
    assert reader.fieldnames[9:] == ["E0-01", "E0-02", "E0-03", "E0-04", "E0-05"]
    assert set(rows) == set(outcomes)
    for name, outcome in outcomes.items():
        assert float(rows[name]["score"]) == outcome.grade.score
        assert rows[name]["status"] == outcome.grade.status
        assert float(rows[name]["max_score"]) == 12  # 10 autograded, 2 by hand
    assert rows["partial"]["E0-03"] == "1" and rows["partial"]["E0-04"] == "2"
    assert rows["solution"]["manual_pending"] == "2" and rows["blank"]["manual_pending"] == "0"
    assert rows["solution"]["E0-05"] == "" and rows["blank"]["E0-05"] == "0"


# --- what a student gets back -------------------------------------------------------------------

def _text_of(page: str) -> str:
    """What a reader of the HTML sees: tags dropped (code highlighting splits lines into spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _secret_lines(source_nb) -> list[str]:
    """Lines of hidden tests, solutions and mark schemes, long enough to be the instructor's own."""
    lines = []
    for cell in source_nb.cells:
        for region in re.findall(r"### BEGIN (?:HIDDEN TESTS|SOLUTION)(.*?)### END", cell.source, flags=re.S):
            lines += [line.strip() for line in region.splitlines() if len(line.strip()) >= 24]
    return lines


def _check_feedback(outcome, source_nb):
    path = outcome.grade.feedback
    assert path and path.exists(), f"no feedback for {outcome.sample.name}"
    text = _text_of(path.read_text(encoding="utf-8"))
    # Shown anyway: the released part of every cell, and what the student wrote (which may repeat a line)
    shown = "\n".join(without_hidden_tests(c.source) for c in _autograded(outcome).cells)
    leaked = [line for line in _secret_lines(source_nb) if line in text and line not in shown]
    assert not leaked, f"{path} shows the instructor's lines: {leaked[:3]}"
    for marker in ("HIDDEN TESTS", "Mark scheme"):  # unless the student handed in the model answer itself
        assert marker not in text or marker in shown, f"{path} shows {marker!r}"
    assert list(path.parent.iterdir()) == [path], "only the feedback page goes back to a student"


def test_feedback_never_shows_hidden_tests_solutions_or_files(fixture_run):
    workspace, outcomes, *_ = fixture_run
    source = nbformat.read(FIXTURES.source / FIXTURE / f"{FIXTURE}.ipynb", as_version=4)
    for name, outcome in outcomes.items():
        if outcome.grade.autograded is not None:
            _check_feedback(outcome, source)
    printed = _text_of(outcomes["prints-hidden-tests"].grade.feedback.read_text())
    assert "[output removed" in printed  # it printed In: every cell, hidden tests included
    assert "root:x:0:0" not in _text_of(outcomes["reads-answers"].grade.feedback.read_text())
    assert "could not be opened as a notebook" in outcomes["corrupt"].grade.feedback.read_text()


def test_course_feedback_never_shows_hidden_tests(course_run):
    for (assignment, name), outcome in course_run.items():
        if outcome.grade.autograded is not None:
            source = nbformat.read(COURSE.source / assignment / f"{outcome.grade.notebook}.ipynb", as_version=4)
            _check_feedback(outcome, source)


def test_nothing_a_submission_started_outlives_its_grading(fixture_run):
    running = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 600" not in running


def test_no_submission_reached_the_network_or_the_grading_folder(fixture_run):
    workspace, outcomes, _, reached = fixture_run
    assert not reached  # the listener on 127.0.0.1:8888 got no connection
    assert not list(workspace.root.rglob("arlib.py"))
    assert (workspace.root / "gradebook.db").stat().st_size > 0
    assert all(o.grade.feedback.exists() for o in outcomes.values())


# --- the command line -----------------------------------------------------------------------

def _cli(*args, source=FIXTURES.source):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--source", str(source), "--samples", str(FIXTURES.samples), *map(str, args)])
    return code, out.getvalue()


def _rows(root):
    with open(root / "grades.csv", newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def test_grade_takes_whatever_an_lms_download_holds_and_resumes(tmp_path):
    """Flat LMS files, a resubmission, a dot file, a symlink and a FIFO: every student gets a row."""
    inbox = tmp_path / "download"
    inbox.mkdir()
    solution = FIXTURES.source / FIXTURE / f"{FIXTURE}.ipynb"
    shutil.copy(solution, inbox / f"alice_{FIXTURE}.ipynb")
    (inbox / f"bob_{FIXTURE} (1).ipynb").write_text('{"cells": [')
    shutil.copy(solution, inbox / f".carol_{FIXTURE}.ipynb")
    (inbox / f"dave_{FIXTURE}.ipynb").symlink_to(solution)
    import os
    os.mkfifo(inbox / f"erin_{FIXTURE}.ipynb")
    root = tmp_path / "grading"
    code, out = _cli("grade", inbox, "--root", root, "--assignment", FIXTURE, "--timeout", SHORT_TIMEOUT)
    assert code == 0, out
    rows = _rows(root)
    assert (rows["alice"]["score"], rows["alice"]["status"]) == ("10", "graded")
    assert (rows["bob"]["score"], rows["bob"]["status"]) == ("0", "corrupt")
    assert rows["_carol"]["status"] == "graded"
    assert rows["dave"]["status"] == "corrupt" and "symbolic link" in rows["dave"]["notes"]
    assert rows["erin"]["status"] == "corrupt"
    for student in rows:
        assert (root / "feedback" / student / FIXTURE / f"{FIXTURE}.html").exists()
    code, again = _cli("grade", inbox, "--root", root, "--assignment", FIXTURE, "--timeout", SHORT_TIMEOUT)
    assert code == 0 and _rows(root) == rows  # nothing new: the rerun skipped every notebook already graded


def test_export_includes_the_instructors_manual_points(fixture_run, tmp_path):
    workspace, *_ = fixture_run
    copy = Workspace(shutil.copytree(workspace.root, tmp_path / "copy"), FIXTURES)
    with copy.gradebook() as gb:
        grade = gb.find_grade("E0-05", FIXTURE, FIXTURE, "solution")
        grade.manual_score, grade.needs_manual_grade = 1.5, False
        gb.db.commit()
    code, out = _cli("export", "--root", copy.root)
    assert code == 0, out
    row = _rows(copy.root)["solution"]
    assert (row["score"], row["manual_given"], row["manual_pending"], row["E0-05"]) == ("11.5", "1.5", "0", "1.5")


def test_an_instructor_clears_a_review_and_the_points_come_back(fixture_run, tmp_path):
    workspace, outcomes, *_ = fixture_run
    copy = Workspace(shutil.copytree(workspace.root, tmp_path / "copy"), FIXTURES)
    assert _rows(copy.root)["frame-inspection"]["status"] == "needs review"
    code, out = _cli("clear", "frame-inspection", "--assignment", FIXTURE, "--root", copy.root)
    assert code == 0 and "cleared E0-04" in out, out
    row = _rows(copy.root)["frame-inspection"]
    assert row["status"] == "graded" and "review cleared" in row["notes"]
    code, out = _cli("clear", "frame-inspection", "--assignment", FIXTURE, "--root", copy.root)
    assert code == 1 and "nothing to clear" in out


def test_check_fails_when_a_solution_does_not_pass_its_own_tests(tmp_path):
    source = tmp_path / "solutions"
    shutil.copytree(FIXTURES.source, source)
    path = source / FIXTURE / f"{FIXTURE}.ipynb"
    path.write_text(path.read_text().replace('answer_e0_01 = \\"b\\"', 'answer_e0_01 = \\"c\\"'))
    code, out = _cli("check", "--timeout", SHORT_TIMEOUT, source=source)
    assert code == 1, out
    assert "does not pass its own tests" in out and "E0-01-test" in out, out


def test_check_fails_when_a_teaching_cell_of_the_solution_raises(tmp_path):
    """Every student's Run All would stop there: the instructor hears of it before releasing."""
    source = tmp_path / "solutions"
    shutil.copytree(FIXTURES.source, source)
    path = source / FIXTURE / f"{FIXTURE}.ipynb"
    nb = nbformat.read(path, as_version=4)
    broken = nbformat.v4.new_code_cell("raise RuntimeError('a teaching cell that broke')", metadata={"nbgrader": {
        "grade": False, "solution": False, "locked": True, "grade_id": "teaching-broken", "schema_version": 3}})
    nb.cells.insert(2, broken)
    nbformat.write(nb, path)
    code, out = _cli("check", "--timeout", SHORT_TIMEOUT, source=source)
    assert code == 1, out
    assert "teaching-broken: the solution's notebook raised RuntimeError: a teaching cell that broke" in out, out


def test_a_graded_release_is_graded_like_any_other(tmp_path):
    """A student of a graded release hands in test cells without the self-study feedback: not 'edited'."""
    from autograder import release

    release.release(FIXTURES, graded=True, dest=tmp_path / "graded")
    inbox = tmp_path / "inbox" / "gina"
    inbox.mkdir(parents=True)
    shutil.copy(tmp_path / "graded" / FIXTURE / f"{FIXTURE}.ipynb", inbox / f"{FIXTURE}.ipynb")
    code, out = _cli("grade", tmp_path / "inbox", "--root", tmp_path / "grading", "--timeout", SHORT_TIMEOUT)
    assert code == 0, out
    row = _rows(tmp_path / "grading")["gina"]
    assert (row["score"], row["status"], row["notes"]) == ("0", "graded", "")
