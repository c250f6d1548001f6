"""The course in a real browser: JupyterLab driven through Playwright in Debian's Chromium.

One JupyterLab serves a temporary copy of course/ (the repository is never modified), and
one browser opens each release in turn, as a student would:
- Run > Run All Cells runs to the last cell (answer and test cells of an unanswered
  exercise fail without stopping the run);
- every teaching figure shows an image (one that draws a student's function may instead
  say "Complete E1-07 first", while that exercise has no answer);
- a failing test cell, or an unanswered answer cell, shows one line, not a traceback.
In notebook 01 the student then answers E1-01 right and E1-02 wrong in the editor, runs
their test cells, and presses nbgrader's Validate button.

A second JupyterLab, started with the course's nbgrader configuration from a copy of the
repository without grading/ (a fresh clone), shows the formgrader with every assignment,
and an Assignment List without exchange errors.

Screenshots go to tests/screenshots/ (git ignores it). Needs /usr/bin/chromium
(`apt-get install chromium`); skipped without it. Takes a few minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from tests.browser_support import (
    CHROMIUM,
    REPO,
    JupyterLab,
    LabNotebook,
    NotebookPlan,
    launch_chromium,
    plan,
    screenshot,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium"),
]

# To try the test on notebooks in progress: AUTOGRADER_BROWSER_COURSE=<a folder laid out like course/>.
COURSE = Path(os.environ.get("AUTOGRADER_BROWSER_COURSE") or REPO / "course")
SOURCE = REPO / "solutions"
ASSIGNMENTS = sorted(d.name for d in COURSE.iterdir() if d.is_dir() and any(d.glob("*.ipynb"))) if COURSE.is_dir() else []
FIRST = "01-autoregressive-generation"
TRACEBACK_MARKS = ("Traceback", "File ", "---->")


@dataclass
class Observed:
    """What the browser showed for one release."""

    plan: NotebookPlan
    prompts: list[str] = field(default_factory=list)
    images: dict[int, int] = field(default_factory=dict)  # figure cell -> <img> outputs
    outputs: dict[int, str] = field(default_factory=dict)  # figure, answer and test cells -> output text
    errors: dict[int, str] = field(default_factory=dict)  # answer and test cells -> error text
    failures: list[str] = field(default_factory=list)  # steps that could not be done, with their screenshot
    interaction: dict[str, str] = field(default_factory=dict)  # notebook 01: what answering and Validate showed


def _notebook_of(assignment: str) -> Path:
    return sorted((COURSE / assignment).glob("*.ipynb"))[0]


@pytest.fixture(scope="module")
def chromium():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory):
    if not ASSIGNMENTS:
        pytest.skip(f"no releases in {COURSE}")
    root = tmp_path_factory.mktemp("browser-course")
    course = root / "course"
    shutil.copytree(COURSE, course, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    with JupyterLab(course, root / "jupyter") as lab:
        yield lab


@pytest.fixture(scope="module")
def observed(student_lab, chromium) -> dict[str, Observed]:
    """Each release opened and run in the browser once; the checks below read what was seen."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    seen = {}
    try:
        for assignment in ASSIGNMENTS:
            seen[assignment] = _observe(context, student_lab, assignment)
    finally:
        context.close()
    return seen


def _observe(context, lab: JupyterLab, assignment: str) -> Observed:
    path = _notebook_of(assignment)
    result = Observed(plan(path))
    page = context.new_page()
    notebook = LabNotebook(page, lab, f"{assignment}/{path.name}")
    try:
        notebook.open(cells=len(result.plan.cells))
        result.prompts = notebook.run_all()
        screenshot(page, f"{assignment}-run-all")
        for cell in result.plan.of_role("figure"):
            result.images[cell.index] = notebook.images(cell.index)
            result.outputs[cell.index] = notebook.output_text(cell.index)
            if not result.images[cell.index]:
                notebook.scroll_to(cell.index)
                screenshot(page, f"{assignment}-no-figure-{cell.grade_id or cell.index}")
        for cell in result.plan.of_role("test") + result.plan.of_role("answer"):
            result.outputs[cell.index] = notebook.output_text(cell.index)
            result.errors[cell.index] = notebook.error_text(cell.index)
    except Exception as error:  # recorded: every check then says what it could not see
        result.failures.append(_failure(error, page, f"{assignment}-failed"))
    try:
        if assignment == FIRST and not result.failures:
            _answer_and_validate(notebook, result)
    except Exception as error:  # recorded for the checks of notebook 01's answers alone
        result.interaction["failure"] = _failure(error, page, f"{assignment}-answering-failed")
    finally:
        try:
            lab.shut_down_kernels()
        finally:
            page.close()
    return result


def _failure(error, page, name) -> str:
    shot = screenshot(page, name)
    return f"{type(error).__name__}: {error} (screenshot {shot.relative_to(REPO)})"


def _wrong_e1_02() -> str:
    """The solution's E1-02 answer with a wrong probability (0.2 + 0.6 instead of a product)."""
    source = next(c.source for c in nbformat.read(SOURCE / FIRST / f"{FIRST}.ipynb", as_version=4).cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "E1-02")
    solution = source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip().splitlines()
    lines = [line for line in solution if not line.startswith("answer_e1_02_probability")]
    return "\n".join(lines + ["answer_e1_02_probability = 0.2 + 0.6"])


def _answer_and_validate(notebook: LabNotebook, result: Observed):
    """In the browser: E1-01 answered right, E1-02 wrong, both test cells run; then Validate."""
    page, cells = notebook.page, result.plan
    for exercise, answer in [("E1-01", 'answer_e1_01 = "D"'), ("E1-02", _wrong_e1_02())]:
        answer_cell, test_cell = cells.by_id(exercise), cells.by_id(f"{exercise}-test")
        notebook.type_into(answer_cell.index, answer)
        result.interaction[f"{exercise} typed"] = notebook.editor_text(answer_cell.index)
        notebook.run_cell(answer_cell.index)
        notebook.run_cell(test_cell.index)
        result.interaction[f"{exercise} output"] = notebook.output_text(test_cell.index)
        result.interaction[f"{exercise} error"] = notebook.error_text(test_cell.index)
        notebook.scroll_to(test_cell.index)
        screenshot(page, f"{FIRST}-{exercise}-answered")
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=240_000)  # nbgrader runs the whole notebook before it answers
    deadline = time.monotonic() + 30
    while "Validation Results" not in dialog.inner_text() and time.monotonic() < deadline:
        time.sleep(0.5)  # "Validation failed: Cannot save notebook" and the like say so too
    time.sleep(0.5)
    result.interaction["validate"] = dialog.inner_text()
    message = result.interaction["E1-02 error"].strip().split(": ", 1)[-1][:40]
    if message and message in result.interaction["validate"]:  # show it, below the test's source
        dialog.locator("pre", has_text=message).first.scroll_into_view_if_needed(timeout=10_000)
    screenshot(page, f"{FIRST}-validate")
    dialog.locator("button.jp-mod-accept, .jp-Dialog-button").last.click()


def _seen(observed, assignment) -> Observed:
    result = observed[assignment]
    assert not result.failures, f"{assignment}: the browser could not do every step: {result.failures}"
    return result


def _one_line_problem(text: str) -> str | None:
    """Why an error output is not one line of feedback (None if it is)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        return f"{len(lines)} lines"
    marks = [mark for mark in TRACEBACK_MARKS if mark in text]
    return f"traceback marks {marks}" if marks else None


# --- every release -----------------------------------------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_run_all_reaches_the_last_cell(observed, assignment):
    result = _seen(observed, assignment)
    last = result.plan.last_code_cell
    ran = [cell for cell in result.plan.cells if result.prompts[cell.index][:2] not in ("", "[ ")]
    assert re.match(r"\[\d+\]", result.prompts[last.index]), (
        f"Run All stopped: the last code cell ({last.grade_id or last.index}) shows {result.prompts[last.index]!r}; "
        f"the last cell that ran is {ran[-1].grade_id if ran else 'none'}")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_teaching_figure_is_drawn(observed, assignment):
    result = _seen(observed, assignment)
    missing = []
    for cell in result.plan.of_role("figure"):
        waiting = cell.needs_exercise and re.search(r"Complete E\d+-\d\d\b.*first", result.outputs[cell.index])
        if not result.images[cell.index] and not waiting:
            missing.append(f"{cell.grade_id or cell.index} ({result.prompts[cell.index] or 'no prompt'}: "
                           f"{result.outputs[cell.index][:80]!r})")
    assert result.plan.of_role("figure"), "no figure cells found"
    assert not missing, f"figures without an image: {missing}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_give_one_line_of_feedback(observed, assignment):
    result = _seen(observed, assignment)
    tests = result.plan.of_role("test")
    feedback = {c.grade_id: result.errors[c.index] for c in tests if result.errors[c.index].strip()}
    assert feedback, ("no visible test cell showed feedback after Run All "
                      "(the run stopped before them, or a blank release passes its tests)")
    answers = {c.grade_id: result.errors[c.index] for c in result.plan.of_role("answer")
               if result.errors[c.index].strip()}
    bad = {grade_id: (problem, text[:200]) for grade_id, text in {**feedback, **answers}.items()
           if (problem := _one_line_problem(text))}
    assert not bad, f"error outputs that are not one line of feedback: {bad}"


# --- notebook 01, answered in the browser ------------------------------------------------------

@pytest.fixture(scope="module")
def first(observed):
    if FIRST not in observed:
        pytest.skip(f"no {FIRST} in {COURSE}")
    result = _seen(observed, FIRST)
    assert result.interaction, "notebook 01 was not answered"
    assert "failure" not in result.interaction, f"answering notebook 01 failed: {result.interaction['failure']}"
    return result.interaction


def test_the_answers_were_typed_in_the_editor(first):
    assert 'answer_e1_01 = "D"' in first["E1-01 typed"]
    assert "answer_e1_02_probability = 0.2 + 0.6" in first["E1-02 typed"]


def test_a_right_answer_says_right(first):
    assert "E1-01: right." in first["E1-01 output"], first["E1-01 output"]
    assert not first["E1-01 error"].strip(), first["E1-01 error"]


def test_a_wrong_answer_gets_one_line_of_feedback(first):
    error = first["E1-02 error"]
    assert "E1-02" in error, f"no feedback for E1-02: {first['E1-02 output']!r}"
    assert _one_line_problem(error) is None, error


def test_validate_shows_the_failing_exercise(first):
    dialog = first["validate"]
    assert "Validation Results" in dialog, dialog[:500]
    message = first["E1-02 error"].strip().split(": ", 1)[-1]  # without the exception's name
    assert message and message[:60] in dialog, f"E1-02's feedback {message[:60]!r} not in the dialog:\n{dialog[:2000]}"


# --- the instructor's JupyterLab on a fresh clone ---------------------------------------------

@pytest.fixture(scope="module")
def instructor_lab(tmp_path_factory):
    """JupyterLab with JUPYTER_CONFIG_PATH=autograder, from a copy of the repository's course
    folders and configuration without grading/ (as a fresh clone is)."""
    root = tmp_path_factory.mktemp("browser-clone")
    clone = root / "clone"
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for folder in ["autograder", "solutions", "course"]:
        shutil.copytree(REPO / folder, clone / folder, ignore=ignore)
    assert not (clone / "grading").exists()
    with JupyterLab(clone, root / "jupyter", env={"JUPYTER_CONFIG_PATH": str(clone / "autograder")}) as lab:
        yield lab, clone


def test_the_formgrader_lists_every_assignment_on_a_fresh_clone(instructor_lab, chromium):
    lab, clone = instructor_lab
    assignments = sorted(d.name for d in (clone / "solutions").iterdir() if d.is_dir() and any(d.glob("*.ipynb")))
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(lab.url("formgrader"))
        for name in assignments:
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        time.sleep(0.5)
        text = page.locator("body").inner_text()
        screenshot(page, "formgrader")
    except Exception:
        screenshot(page, "formgrader-failed")
        raise AssertionError(f"the formgrader did not list {assignments}; server log:\n{lab.log()}") from None
    finally:
        page.close()
    assert "Loading, please wait" not in text
    assert (clone / "grading" / "gradebook.db").exists()
    for name in assignments:
        assert name in text


def test_the_assignment_list_has_an_exchange(instructor_lab, chromium):
    lab, _ = instructor_lab
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(lab.url("lab"))
        page.wait_for_selector("#jp-MainMenu", timeout=60_000)
        notebook = LabNotebook(page, lab, "")
        notebook.menu("Nbgrader", "Assignment List")
        panel = page.locator("#nbgrader-assignment-list")
        panel.wait_for(timeout=30_000)
        deadline = time.monotonic() + 30
        while "Loading" in panel.inner_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        text = panel.inner_text()
        screenshot(page, "assignment-list")
    finally:
        page.close()
    assert "exchange directory does not exist" not in text, text
