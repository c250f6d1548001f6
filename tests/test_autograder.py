"""The real nbgrader autograde on sample submissions: every score exactly as expected.

Two grading runs are shared by all tests (session fixtures), each one nbgrader batch:
- the fixture assignment (tests/fixtures) with every generic sample, broken ones included,
  and a short cell timeout, through the same code as `python -m autograder demo`;
- every assignment of solutions/: its solution, its blank release and its hand-made samples.
"""

import contextlib
import csv
import html
import io
import json
import re
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.__main__ import demo, main
from autograder.cells import nbgrader_cells
from autograder.grade import NotebookGrade, without_hidden_tests
from autograder.samples import BROKEN, Sample
from autograder.submissions import Submission, collect
from autograder.verify import Outcome, grade_samples_in_parallel
from autograder.workspace import REPO, Course, Workspace

pytestmark = pytest.mark.slow

FIXTURES = Course(source=REPO / "tests" / "fixtures" / "solutions", samples=REPO / "tests" / "fixtures" / "samples")
COURSE = Course()
FIXTURE = "00-fixture"
SHORT_TIMEOUT = 10  # seconds per cell: the infinite loop costs this much


def _hand_made(course, assignment):
    path = course.samples / f"{assignment}.json"
    return list(json.loads(path.read_text())) if path.exists() else []


FIXTURE_SAMPLES = ["solution", "blank", *_hand_made(FIXTURES, FIXTURE), *BROKEN]
COURSE_SAMPLES = [(a, s) for a in COURSE.assignments() for s in ["solution", "blank", *_hand_made(COURSE, a)]]


@pytest.fixture(scope="session")
def fixture_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixture-grading")
    outcomes, report = demo(FIXTURES, root, [FIXTURE], broken_on=FIXTURE, cell_timeout=SHORT_TIMEOUT)
    return Workspace(root / FIXTURE, FIXTURES, SHORT_TIMEOUT), {o.sample.name: o for o in outcomes}, report


@pytest.fixture(scope="session")
def course_run(tmp_path_factory):
    """Two assignments at a time, each in a workspace of its own."""
    if not COURSE.assignments():
        pytest.skip("no assignments in solutions/ yet")
    outcomes = grade_samples_in_parallel(COURSE, tmp_path_factory.mktemp("course-grading"), COURSE.assignments())
    return {(o.sample.assignment, o.sample.name): o for o in outcomes}


def _explain(outcome: Outcome) -> str:
    g = outcome.grade
    return (f"{g.assignment} / {outcome.sample.name} ({outcome.sample.about}): {'; '.join(outcome.problems)}\n"
            f"  got {g.points}, status {g.status}, notes {g.notes}")


def _autograded(outcome):
    return nbformat.read(outcome.grade.autograded, as_version=4)


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


# --- exact scores ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURE_SAMPLES)
def test_fixture_sample_gets_its_exact_score(fixture_run, name):
    outcome = fixture_run[1][name]
    assert not outcome.problems, _explain(outcome)


@pytest.mark.parametrize("assignment, name", COURSE_SAMPLES or [pytest.param(None, None, marks=pytest.mark.skip("no assignments yet"))])
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
    assert outcomes["infinite-loop"].grade.score == outcomes["solution"].grade.score - 1
    assert outcomes["kernel-dies"].grade.points == {"E0-01": 1, "E0-02": 2, "E0-03": 3, "E0-04": 0}
    # tampered tests are restored, so the blank answer behind them scores zero
    for name in ("deleted-test", "edited-test"):
        assert outcomes[name].grade.points["E0-01"] == 0 and outcomes[name].grade.score == 9


def test_delegation_to_arlib_earns_nothing(fixture_run):
    workspace, outcomes, _ = fixture_run
    partial = _autograded(outcomes["partial"])
    visible, hidden = _cell(partial, "E0-04-test"), _cell(partial, "E0-04-hidden")
    assert not [o for o in visible.outputs if o.output_type == "error"]  # the delegating answer looks right...
    assert [o.ename for o in hidden.outputs if o.output_type == "error"] == ["DelegatedToReference"]  # ...until graded
    assert outcomes["partial"].grade.points["E0-04"] == 2  # visible points only
    assert outcomes["solution"].grade.points["E0-04"] == 4


@pytest.mark.parametrize("assignment", [a for a in COURSE.assignments() if _hand_made(COURSE, a)]
                         or [pytest.param(None, marks=pytest.mark.skip("no hand-made samples yet"))])
def test_each_assignment_has_a_sample_caught_delegating(course_run, assignment):
    caught = [name for (a, name), o in course_run.items() if a == assignment and any(
        o.ename == "DelegatedToReference" for cell in _autograded(o).cells
        for o in cell.get("outputs", []) if o.output_type == "error")]
    assert caught, f"no hand-made sample of {assignment} delegates to arlib and gets caught"


def test_a_library_warning_in_a_test_cell_costs_nothing(fixture_run):
    workspace, outcomes, _ = fixture_run
    cell = _cell(_autograded(outcomes["solution"]), "E0-04-test")
    streams = {o.name: o.text for o in cell.outputs if o.output_type == "stream"}
    assert "UserWarning: To copy construct from a tensor" in streams.get("stdout", "")  # torch did warn
    assert "stderr" not in streams
    with Gradebook(workspace.config.CourseDirectory.db_url, workspace.config.CourseDirectory.course_id) as gb:
        assert gb.find_grade("E0-04-test", FIXTURE, FIXTURE, "solution").score == 2


def test_the_gradebook_holds_the_same_scores(fixture_run):
    """The instructor's formgrader reads nbgrader's gradebook: it must agree with grades.csv."""
    workspace, outcomes, _ = fixture_run
    with Gradebook(workspace.config.CourseDirectory.db_url, workspace.config.CourseDirectory.course_id) as gb:
        for name, outcome in outcomes.items():
            submission = gb.find_submission_notebook(FIXTURE, FIXTURE, name)
            manual = {"E0-05"}
            auto = sum(g.score or 0 for g in submission.grades if g.name not in manual)
            assert auto == pytest.approx(outcome.grade.score), name
        assert gb.find_grade("E0-05", FIXTURE, FIXTURE, "solution").needs_manual_grade  # left for the instructor


def test_grades_csv_has_a_row_per_student_and_a_column_per_exercise(fixture_run):
    workspace, outcomes, _ = fixture_run
    with open(workspace.root.parent / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(outcomes)
    for name, outcome in outcomes.items():
        assert float(rows[name]["score"]) == outcome.grade.score
        assert rows[name]["status"] == outcome.grade.status
        assert float(rows[name]["max_score"]) == 10
    assert rows["partial"]["E0-03"] == "1" and rows["partial"]["E0-04"] == "2"
    assert rows["solution"]["manual_pending"] == "2" and rows["blank"]["manual_pending"] == "0"


# --- feedback -------------------------------------------------------------------------------

def _text_of(page: str) -> str:
    """What a reader of the HTML sees: tags dropped (code highlighting splits lines into spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _check_feedback(outcome, source_nb):
    path = outcome.grade.feedback
    assert path and path.exists(), f"no feedback for {outcome.sample.name}"
    text = _text_of(path.read_text(encoding="utf-8"))
    cells = nbgrader_cells(source_nb)
    # lines shown anyway: the release's and the student's own (a delegating answer repeats the reference call)
    public = "\n".join(without_hidden_tests(c.source) for c in _autograded(outcome).cells)
    assert "HIDDEN TESTS" not in text, f"{path} shows a hidden test region"
    for cell in cells:
        if cell.kind == "test" and cell.hidden:
            region = cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            leaked = [line.strip() for line in region.splitlines()
                      if len(line.strip()) >= 12 and line.strip() not in public and line.strip() in text]
            assert not leaked, f"{path} shows hidden test lines of {cell.grade_id}: {leaked[:3]}"
    visible = [line.strip() for c in cells if c.kind == "test" and not c.hidden
               for line in c.source.splitlines() if len(line.strip()) >= 12]
    assert visible and any(line in text for line in visible), "the visible tests should be in the feedback"
    assert "Hidden tests ran at grading" in text


def test_feedback_never_shows_hidden_tests(fixture_run):
    workspace, outcomes, _ = fixture_run
    source = nbformat.read(FIXTURES.source / FIXTURE / f"{FIXTURE}.ipynb", as_version=4)
    for name in ("solution", "blank", "partial", "infinite-loop", "kernel-dies", "edited-test"):
        _check_feedback(outcomes[name], source)
    delegated = _text_of(outcomes["partial"].grade.feedback.read_text())
    assert "DelegatedToReference: this exercise asks you to write greedy_decode yourself" in delegated
    corrupt = outcomes["corrupt"].grade.feedback.read_text()
    assert "could not be opened as a notebook" in corrupt


def test_course_feedback_never_shows_hidden_tests(course_run):
    for (assignment, name), outcome in course_run.items():
        if outcome.grade.autograded is None:  # not run at all: its feedback is a short notice
            continue
        source = nbformat.read(COURSE.source / assignment / f"{outcome.grade.notebook}.ipynb", as_version=4)
        _check_feedback(outcome, source)


# --- the command line -----------------------------------------------------------------------

def _cli(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--source", str(FIXTURES.source), "--samples", str(FIXTURES.samples), *map(str, args)])
    return code, out.getvalue()


def test_grade_reads_lms_files_named_with_the_student_id(tmp_path):
    inbox = tmp_path / "download"
    inbox.mkdir()
    shutil.copy(FIXTURES.source / FIXTURE / f"{FIXTURE}.ipynb", inbox / f"alice_{FIXTURE}.ipynb")
    (inbox / f"bob_{FIXTURE} (1).ipynb").write_text('{"cells": [')
    code, out = _cli("grade", inbox, "--root", tmp_path / "grading", "--timeout", SHORT_TIMEOUT)
    assert code == 0, out
    with open(tmp_path / "grading" / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert (rows["alice"]["score"], rows["alice"]["status"]) == ("10", "graded")
    assert (rows["bob"]["score"], rows["bob"]["status"]) == ("0", "corrupt")
    for student in ("alice", "bob"):
        assert (tmp_path / "grading" / "feedback" / student / FIXTURE / f"{FIXTURE}.html").exists()


def test_check_fails_when_a_solution_does_not_score_full_marks(tmp_path):
    source = tmp_path / "solutions"
    shutil.copytree(FIXTURES.source, source)
    path = source / FIXTURE / f"{FIXTURE}.ipynb"
    path.write_text(path.read_text().replace('answer_e0_01 = \\"b\\"', 'answer_e0_01 = \\"c\\"'))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--source", str(source), "check", "--timeout", str(SHORT_TIMEOUT)])
    assert code == 1, out.getvalue()
    lines = out.getvalue().splitlines()
    assert any(re.search(r"solution .*NO: E0-01: 0\.0 points, expected 1", line) for line in lines), out.getvalue()
    assert any(re.search(r"blank .*yes$", line) for line in lines), out.getvalue()


# --- finding submissions (no grading) -------------------------------------------------------

def test_collect_understands_each_layout_and_reports_missing_notebooks(tmp_path):
    nb = (FIXTURES.source / FIXTURE / f"{FIXTURE}.ipynb").read_text()
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / f"{FIXTURE}.ipynb").write_text(nb)  # a folder per student
    (tmp_path / "ben" / FIXTURE).mkdir(parents=True)
    (tmp_path / "ben" / FIXTURE / f"{FIXTURE}.ipynb").write_text(nb)  # nbgrader's layout
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("forgot the notebook")  # nothing to grade
    (tmp_path / f"Dan Smith_{FIXTURE}-1.ipynb").write_text(nb)  # an LMS file
    (tmp_path / "unrelated.ipynb").write_text(nb)  # not a notebook of this course: ignored
    found = {s.student: s.path for s in collect(tmp_path, FIXTURES)}
    assert set(found) == {"ann", "ben", "cat", "Dan_Smith"}
    assert found["cat"] is None and found["Dan_Smith"].name == f"Dan Smith_{FIXTURE}-1.ipynb"
    pattern = {s.student for s in collect(tmp_path, FIXTURES, FIXTURE, student_pattern=r"^(?P<student>\w+) ")}
    assert "Dan" in pattern


def test_collect_rejects_ambiguous_and_unknown_input(tmp_path):
    nb = (FIXTURES.source / FIXTURE / f"{FIXTURE}.ipynb").read_text()
    (tmp_path / f"eve_{FIXTURE}.ipynb").write_text(nb)
    (tmp_path / f"eve_{FIXTURE} (2).ipynb").write_text(nb)
    with pytest.raises(ValueError, match="two files for student 'eve'"):
        collect(tmp_path, FIXTURES)
    with pytest.raises(ValueError, match="no assignment 'nope'"):
        collect(tmp_path, FIXTURES, "nope")
    with pytest.raises(ValueError, match="is not a folder of submissions"):
        collect(tmp_path / "absent", FIXTURES)


def test_a_sample_that_names_an_unknown_cell_is_rejected(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / f"{FIXTURE}.json").write_text(json.dumps({"typo": {"cells": {"E0-99": "x = 1\n"}, "expected": {}}}))
    workspace = Workspace(tmp_path / "grading", Course(source=FIXTURES.source, samples=samples))
    from autograder.samples import samples_for
    with pytest.raises(ValueError, match="no answer cell E0-99; the answer cells are E0-01, E0-02"):
        samples_for(workspace.course, FIXTURE, workspace.prepare(FIXTURE).parent)


def test_problems_name_every_mismatch():
    sample = Sample("s", "a", "nb", "", None, {"E0-01": 1.0, "E0-02": 2.0}, "graded", ["deleted"])
    grade = NotebookGrade("s", "a", "nb", status="timed out", points={"E0-01": 1.0, "E0-02": 1.5})
    assert Outcome(sample, grade).problems == [
        "status 'timed out', expected 'graded'", "E0-02: 1.5 points, expected 2", "no note about 'deleted'"]


def test_an_unexpected_error_costs_one_student_only(tmp_path, monkeypatch):
    import autograder.grade as grading_module

    workspace = Workspace(tmp_path / "grading", FIXTURES)
    corrupt = tmp_path / "corrupt.ipynb"
    corrupt.write_text("not json")
    submissions = [Submission("amy", FIXTURE, FIXTURE, None), Submission("bob", FIXTURE, FIXTURE, corrupt)]
    real = grading_module.grade_student

    def flaky(workspace, student, assignment, theirs):
        if student == "bob":
            raise RuntimeError("disk full")
        return real(workspace, student, assignment, theirs)

    monkeypatch.setattr(grading_module, "grade_student", flaky)
    grades = {g.student: g for g in grading_module.grade_submissions(submissions, workspace, progress=False)}
    assert (grades["amy"].status, grades["amy"].score, grades["amy"].max_score) == ("missing", 0, 10)
    assert (grades["bob"].status, grades["bob"].score, grades["bob"].max_score) == ("failed", 0, 10)
    assert grades["bob"].notes == ["grading stopped: RuntimeError: disk full"]
