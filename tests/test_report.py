"""The class report (autograder/report.py): what it counts, what it says, and how it looks in a browser.

Fast tests check how messages are normalised and how a page is rendered. The slow ones grade
a few of the fixture assignment's samples through the real pipeline once (without the
sandbox: they are the course's own samples), add fabricated results beside them (a class
that made the same mistake with different numbers, a tampered and an over-the-limit
submission, a student's answer that is HTML), write the report and open it in Debian's
Chromium through Playwright. The screenshot goes to tests/screenshots/class-report.png.
"""

import copy
import hashlib
import re

import nbformat
import pytest

from autograder import report, results
from autograder.cells import autograded_points
from autograder.grade import Options
from autograder.report import normalise_feedback, normalise_mistake, strip_values
from autograder.unit import Settings, UnitResult
from autograder.verify import grade_samples
from autograder.workspace import REPO, Course, Workspace

FIXTURES = Course(source=REPO / "tests" / "fixtures" / "solutions", samples=REPO / "tests" / "fixtures" / "samples")
FIXTURE = "00-fixture"
HEADINGS = ["Summary", "Scores per notebook", "Exercises and frequent mistakes", "Flagged submissions"]
HINT = "multiply the probabilities, do not add them."
XSS = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"


# --- normalising messages (fast) ----------------------------------------------------------------

def test_the_same_mistake_with_other_numbers_reads_the_same():
    a = normalise_feedback(f"ExerciseFailure: Your cumulative probability: 0.8 is not right yet. Hint: {HINT}")
    b = normalise_feedback(f"ExerciseFailure: Your cumulative probability: 0.81 is not right yet. Hint: {HINT}")
    assert a == b == (f"Your cumulative probability: … is not right yet. Hint: {HINT}", report.MISTAKE)


def test_the_hint_is_kept_verbatim_and_other_answers_are_stripped():
    text, kind = normalise_feedback("ExerciseFailure: Your answer to E1-02: 'the cat sat' is not right yet. "
                                    "Hint: count 2 tokens, not 3.")
    assert text == "Your answer to E1-02: … is not right yet. Hint: count 2 tokens, not 3." and kind == report.MISTAKE
    assert strip_values("E1-10 first differs at position 3: got ['a'], expected [['b', 1]]") == \
        "E1-10 first differs at position …: got …, expected …"


def test_no_answer_and_stopped_cells_are_told_apart_from_mistakes():
    assert normalise_feedback("ExerciseFailure: Your order has no answer yet: replace the placeholder.")[1] == report.NO_ANSWER
    assert normalise_feedback("NoAnswerYet: no answer yet: write your answer ...")[1] == report.NO_ANSWER
    assert normalise_feedback("KernelDied: not run: the kernel died in cell 19") == \
        ("KernelDied: not run: the kernel died in cell …", report.NOT_REACHED)
    assert normalise_feedback("NameError: name 'greedy' is not defined") == ("NameError: name … is not defined", report.MISTAKE)


@pytest.mark.parametrize("mistake, expected", [
    ("eos reached early: [3, 4] items, expected [3]", "case 'eos reached early': wrong value"),
    ("eos reached early: 3 items, expected 2", "case 'eos reached early': wrong length"),
    ("long prompt: raised ValueError: too long (300 > 256)", "case 'long prompt': raised ValueError"),
    ("probability: 0.8, expected 0.12", "case 'probability': wrong value"),
    ("probability: expected a number, got str 'x'", "case 'probability': wrong type (str where a number was expected)"),
    ("probability: expected a number, got nothing", "case 'probability': nothing (None) where a number was expected"),
    ("order: order 50% right", "case 'order': order partly right"),
    ("f(x: 1): 0.5 at [2], expected 0.25", "case 'f(x: 1)': wrong value"),
])
def test_hidden_mistakes_become_the_case_and_the_kind_of_difference(mistake, expected):
    assert normalise_mistake(mistake)[0] == expected


def test_hidden_no_answer_and_not_reached():
    assert normalise_mistake("greedy: raised NoAnswerYet: no answer yet")[1] == report.NO_ANSWER
    assert normalise_mistake("greedy: not recorded (the cell stopped before this check)")[1] == report.NOT_REACHED


def test_notes_that_repeat_for_several_cells_read_as_one():
    notes = [f"tampered: the check before {gid} did not report; autograded points void"
             for gid in ("E0-01-test", "E0-02-test", "E0-02-hidden")] + ["needs review: E0-01, line 1: imports ast"]
    assert report.collapse_notes(notes) == [
        "tampered: the check before E0-01-test did not report; autograded points void "
        "(and the same for E0-02-test, E0-02-hidden)", "needs review: E0-01, line 1: imports ast"]


# --- rendering (fast) ---------------------------------------------------------------------------

def _row(student, status="graded", points=1.0, notes=()):
    return results.NotebookGrade(student, FIXTURE, FIXTURE, status, list(notes), points={"E0-01": points},
                                 max_points={"E0-01": 1.0}, seconds=4.0)


def test_every_student_string_is_escaped_and_the_page_has_no_script():
    rows = [_row("ann"), _row("bob", "needs review", 0.0, [f"needs review: E0-01, line 1: {XSS}"])]
    exercise = report.Exercise("E0-01", "choice", 1.0, full=1, zero=1, points=[1.0, 0.0])
    exercise.messages["m"] = report.Message(f"Your answer: … is not right yet. Hint: {XSS}", {"bob"},
                                            report.Counter({XSS: 1}), {"visible test"})
    page = report.render([report.NotebookReport(FIXTURE, FIXTURE, rows, {"E0-01": exercise})])
    assert XSS not in page and "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
    assert page.count("data:image/png;base64,") == 2
    assert [h for h in re.findall(r"<h2>(.*?)</h2>", page)] == HEADINGS


# --- a graded class (slow) ----------------------------------------------------------------------

def _fabricate(workspace: Workspace, base: dict, student: str, **changes) -> dict:
    """Record a result like `base` (a stored result) for `student`, with `changes`."""
    stored = copy.deepcopy(base)
    stored.update(student=student, **changes)
    fields = {k: v for k, v in stored.items() if k not in ("sha256", "assignment_version")}
    source = workspace.root / "source" / FIXTURE / f"{FIXTURE}.ipynb"
    results.save(workspace, UnitResult(**fields), None, base["assignment_version"],
                 autograded_points(nbformat.read(source, as_version=4)))
    return stored


def _wrong_probability(base: dict, shown: str) -> dict:
    """E0-02 answered with a sum (0.2 + 0.6) instead of a product: its visible and hidden tests fail."""
    grades, verdicts = copy.deepcopy(base["grades"]), copy.deepcopy(base["verdicts"])
    for gid in ("E0-02-test", "E0-02-hidden"):
        grades[gid]["score"] = 0.0
        verdicts[gid].update(score=0.0, raw=0.0, matched=0, mistakes=[f"probability: {shown}, expected 0.12"])
    lines = {"E0-02-test": f"ExerciseFailure: Your cumulative probability: {shown} is not right yet. Hint: {HINT}"}
    return {"grades": grades, "verdicts": verdicts, "raw": {g: v["raw"] for g, v in verdicts.items()},
            "feedback_lines": lines}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Five samples graded for real (solution, blank, kernel-dies, corrupt, missing), then six
    fabricated students; returns the workspace and whether the batch itself wrote the report."""
    root = tmp_path_factory.mktemp("report-class")
    workspace = Workspace(root, FIXTURES)
    options = Options(Settings(sandbox=False), workers=2, progress=False)
    outcomes = grade_samples(workspace, [FIXTURE], broken_on=FIXTURE,
                             only=("solution", "blank", "kernel-dies", "corrupt", "missing"), options=options)
    wrong = [f"{o.sample.name}: {'; '.join(o.problems)} (notes: {'; '.join(o.grade.notes)})" for o in outcomes if o.problems]
    if wrong:  # the report's counts below assume these grades
        pytest.fail("the samples were not graded as expected:\n" + "\n".join(wrong))
    written_by_batch = (root / "report.html").is_file()
    solution = results.load(workspace, FIXTURE, "solution", FIXTURE)
    for student, shown in [("dora", "0.8"), ("emil", "0.81"), ("fay", "0.8")]:
        _fabricate(workspace, solution, student, **_wrong_probability(solution, shown))
    greedy = copy.deepcopy(solution)
    greedy["grades"]["E0-04-hidden"]["score"] = 0.0
    greedy["verdicts"]["E0-04-hidden"].update(score=0.0, raw=0.0, matched=0,
                                              mistakes=["greedy on another table: raised ValueError: 3 is too long"])
    _fabricate(workspace, greedy, "gus", grades=greedy["grades"], verdicts=greedy["verdicts"])
    _fabricate(workspace, solution, "hana", status="over a limit", notes=["cell 7 printed more than 1024 KB; the rest was dropped"])
    wrong = _wrong_probability(solution, "0.8")
    wrong["feedback_lines"]["E0-01-test"] = f"ExerciseFailure: Your answer to E0-01: {XSS!r} is not right yet."
    zero = {gid: {**g, "score": 0.0 if g["score"] is not None else None} for gid, g in solution["grades"].items()}
    _fabricate(workspace, solution, "ivan", status="tampered", grades=zero, feedback_lines=wrong["feedback_lines"],
               notes=[f"tampered: E0-01-test: 'choice' was recorded more than once; autograded points void ({XSS})"])
    path = report.write_report(workspace)
    return workspace, path, written_by_batch


@pytest.mark.slow
def test_a_batch_writes_the_report_beside_grades_csv(graded_class):
    workspace, path, written_by_batch = graded_class
    assert written_by_batch, "grade_submissions did not write report.html"
    assert path == workspace.root / "report.html" and (workspace.root / "grades.csv").is_file()
    feedback = workspace.root / "feedback"
    assert not any(p.name == "report.html" for p in feedback.rglob("*"))
    with pytest.raises(ValueError, match="instructors only"):
        report.write_report(workspace, feedback / "ivan" / "report.html")


@pytest.mark.slow
def test_the_report_counts_the_class(graded_class):
    workspace, path, _ = graded_class
    (notebook,) = report.read_class(workspace)
    assert len(notebook.rows) == 11
    e02 = notebook.exercises["E0-02"]
    top = e02.top()[0]
    assert top.text == f"Your cumulative probability: … is not right yet. Hint: {HINT}"
    assert top.students == {"dora", "emil", "fay"} and top.where == {"visible test"}  # ivan's tampered: left out
    hidden = next(m for m in e02.messages.values() if m.text == "case 'probability': wrong value")
    assert hidden.students == {"dora", "emil", "fay"} and hidden.where == {"hidden test"}
    assert "blank" in e02.no_answer and "blank" not in top.students  # a blank answer is not a mistake
    e04 = notebook.exercises["E0-04"]
    assert any(m.text == "case 'greedy on another table': raised ValueError" and m.students == {"gus"}
               for m in e04.messages.values())
    # from the gradebook: solution, kernel-dies, gus, hana have full points; ivan's are void (tampered)
    assert (e02.full, e02.partial, e02.zero) == (4, 0, 7)

    page = path.read_text(encoding="utf-8")
    assert re.search(r"<b>11</b><span>students</span>", page)
    assert re.search(r"<b>5</b><span>flagged</span>", page)  # kernel-dies, corrupt, missing, hana, ivan
    row = re.search(r"<tr><td class='num'>(\d+)</td><td class='num'>(\d+)%</td><td>Your cumulative probability: … "
                    r"is not right yet\. Hint: " + re.escape(HINT), page)
    assert row and row.groups() == ("3", "27")
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page.lower()
    assert not re.search(r"""(src|href)=['"]?(https?:|//|file:)""", page)
    for status in ("needs review", "corrupt", "missing", "over a limit", "tampered"):
        assert f">{status}</span>" in page, status
    assert "cell 7 printed more than 1024 KB" in page and "no notebook handed in" in page


@pytest.mark.slow
def test_student_strings_are_escaped_and_feedback_is_untouched(graded_class):
    workspace, path, _ = graded_class
    page = path.read_text(encoding="utf-8")
    assert "window.pwned" in page and XSS not in page and "<img src=x" not in page
    feedback = workspace.root / "feedback"
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in feedback.rglob("*") if p.is_file()}
    report.write_report(workspace)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in feedback.rglob("*") if p.is_file()}
    assert before == after  # the report never writes into what students receive
    hidden_case = "greedy on another table"
    assert hidden_case in page
    assert not [p for p in before if hidden_case in p.read_text(errors="ignore")]


@pytest.mark.slow
def test_the_report_command_rewrites_it(graded_class):
    from autograder.__main__ import main

    workspace, path, _ = graded_class
    path.unlink()
    assert main(["--source", str(FIXTURES.source), "--samples", str(FIXTURES.samples),
                 "report", "--root", str(workspace.root)]) == 0
    assert path.is_file() and "Flagged submissions" in path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_report_in_chromium(graded_class):
    from tests.browser_support import CHROMIUM, SCREENSHOTS, launch_chromium

    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    workspace, path, _ = graded_class
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            assert page.locator("h1").inner_text() == "Class report: 00-fixture"
            assert page.locator("h2").all_inner_texts() == HEADINGS
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
            assert len(images) == 2 and all(done and width > 0 for done, width, _ in images), images
            assert page.evaluate("window.pwned === undefined")
            assert page.locator("table.flagged tbody tr").count() == 5
            assert [u for u in requests if not u.startswith("data:")] == [path.as_uri()]
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "class-report.png"), full_page=True)
        finally:
            browser.close()
