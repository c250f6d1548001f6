"""The source notebooks follow the conventions, and course/ is their current release."""

import re
from pathlib import Path

import nbformat
import pytest

from autograder import release
from autograder.cells import nbgrader_cells
from autograder.workspace import REPO, Course
from tests.catalog import CATALOG_IDS, read_catalog

COURSE = Course()
FIXTURES = Course(source=REPO / "tests" / "fixtures" / "solutions", samples=REPO / "tests" / "fixtures" / "samples")
SHARED_CATALOG = REPO.parent / "shared" / "COURSE.md"


def _sources():
    """Every source notebook: the course's and the fixture's."""
    return [pytest.param(c.source / a / f"{nb}.ipynb", id=f"{a}/{nb}")
            for c in (COURSE, FIXTURES) for a in c.assignments() for nb in c.notebooks(a)]


@pytest.mark.parametrize("path", _sources())
def test_source_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    with_outputs = [i for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not with_outputs, f"{path.name}: cells {with_outputs} have outputs; clear them before saving"


@pytest.mark.parametrize("path", _sources())
def test_grade_ids_are_unique(path):
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nbformat.read(path, as_version=4).cells
           if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"{path.name}: grade_id used more than once: {duplicates}"


@pytest.mark.parametrize("path", _sources())
def test_every_test_cell_records_what_it_checks(path):
    """The grader scores a test cell only from its records (autograder/judge.py)."""
    silent = [c.grade_id for c in nbgrader_cells(nbformat.read(path, as_version=4))
              if c.kind == "test" and "grading.record" not in c.source]
    assert not silent, f"{path.name}: test cells that record nothing (grading.record / record_call): {silent}"


@pytest.mark.parametrize("path", [p for p in _sources() if "fixture" not in p.id])
def test_unanswered_exercises_do_not_stop_run_all(path):
    """JupyterLab's Run All goes on past a cell tagged raises-exception; answer and test cells
    raise until the student has answered."""
    nb = nbformat.read(path, as_version=4)
    untagged = [c.metadata.nbgrader.grade_id for c in nb.cells
                if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                and (c.metadata.nbgrader.get("solution") or c.metadata.nbgrader.get("grade"))
                and "raises-exception" not in c.metadata.get("tags", [])]
    assert not untagged, f"{path.name}: answer or test cells without the tag raises-exception: {untagged}"


NO_REFERENCE = "arlib has no reference for this"


@pytest.mark.parametrize("path", _sources())
def test_hidden_tests_of_code_exercises_switch_the_reference_off(path):
    """A code exercise's hidden tests run the student's code with arlib's reference switched off
    (record_call(..., disable=...)), unless they say in a comment that arlib has no reference
    for what the exercise asks."""
    cells = nbgrader_cells(nbformat.read(path, as_version=4))
    code_exercises = {c.exercise for c in cells if c.kind == "answer" and "def " in c.source}
    hidden = [c for c in cells if c.kind == "test" and c.hidden and c.exercise in code_exercises]
    settled = {c.exercise for c in hidden if "disable=" in c.source or NO_REFERENCE in c.source}
    unguarded = sorted(code_exercises - settled)
    assert not unguarded, (f"{path.name}: no hidden test of {unguarded} runs the student's code with "
                           f"record_call(..., disable=...) (or says '# {NO_REFERENCE}')")


def test_catalog_copy_matches_the_course_catalog():
    if not SHARED_CATALOG.exists():
        pytest.skip(f"the course catalog is not beside the repository ({SHARED_CATALOG})")
    shared = read_catalog(SHARED_CATALOG)
    assert shared == CATALOG_IDS


@pytest.mark.parametrize("assignment", COURSE.assignments() or [pytest.param(None, marks=pytest.mark.skip("no assignments yet"))])
def test_every_catalog_exercise_has_graded_cells(assignment):
    ids = set()
    for nb in COURSE.notebooks(assignment):
        ids |= {c.exercise for c in nbgrader_cells(nbformat.read(COURSE.source / assignment / f"{nb}.ipynb", as_version=4))
                if c.kind in ("test", "manual")}
    missing = [i for i in CATALOG_IDS.get(assignment, []) if i not in ids]
    assert assignment in CATALOG_IDS, f"{assignment} is not an assignment of the catalog {sorted(CATALOG_IDS)}"
    assert not missing, f"{assignment}: no graded cell for catalog ids {missing}"


def test_course_folder_is_the_current_release():
    problems = release.stale(COURSE)
    assert not problems, "course/ is stale; run `python -m autograder release`:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def fixture_release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    release.render(FIXTURES, folder)
    return folder


def test_release_clears_solutions_hidden_tests_and_outputs(fixture_release):
    nb = nbformat.read(fixture_release / "00-fixture" / "00-fixture.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text and "Mark scheme" not in text
    assert 'answer_e0_02 = 0.2 * 0.6' not in text and "raise NoAnswerYet()" in text
    assert "SELF-STUDY" not in text and "check_digest" in text  # self-study: right/wrong at once
    assert all(not c.get("outputs") for c in nb.cells)


def test_a_graded_release_gives_no_right_or_wrong_before_grading(tmp_path):
    release.render(FIXTURES, tmp_path, graded=True)
    nb = nbformat.read(tmp_path / "00-fixture" / "00-fixture.ipynb", as_version=4)
    tests = {c.grade_id: c.source for c in nbgrader_cells(nb) if c.kind == "test"}
    assert all("check_digest" not in source and "SELF-STUDY" not in source for source in tests.values())
    assert "E0-01: answer given and well formed; it is graded after you hand it in." in tests["E0-01-test"]
    assert "check_answered" in tests["E0-01-test"] and "grading.record" in tests["E0-01-test"]


def test_release_is_deterministic(fixture_release, tmp_path):
    release.render(FIXTURES, tmp_path)
    assert release._differences(fixture_release, tmp_path) == []
    (tmp_path / "00-fixture" / "00-fixture.ipynb").write_text("{}")
    assert release._differences(fixture_release, tmp_path) == ["00-fixture/00-fixture.ipynb differs from a fresh release"]


def test_nbgrader_config_loads_from_the_repository():
    """What JupyterLab's formgrader and `nbgrader` read with JUPYTER_CONFIG_PATH=autograder."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO / "autograder")).load_config()
    coursedir = CourseDirectory(config=config)
    assert Path(coursedir.root) == REPO
    assert Path(coursedir.format_path(coursedir.source_directory, ".", "x")).resolve() == REPO / "solutions" / "x"
    assert Path(coursedir.format_path(coursedir.release_directory, ".", "x")).resolve() == REPO / "course" / "x"
    assert "grading" in coursedir.db_url and Path(coursedir.format_path(coursedir.submitted_directory, "s", "x")).is_relative_to(REPO / "grading")
    assert NbGraderAPI(coursedir, config=config).get_source_assignments() == set(COURSE.assignments())


NOTEBOOKS = [pytest.param(COURSE.source / a / f"{nb}.ipynb", id=a) for a in COURSE.assignments() for nb in COURSE.notebooks(a)]


def _cell_of(nb, grade_id):
    return next((c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id), None)


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_the_points_table_at_the_top_tells_the_truth(path):
    nb = nbformat.read(path, as_version=4)
    table = _cell_of(nb, "points-table")
    assert table is not None and nb.cells.index(table) < 6, f"{path.name}: no points table near the top"
    auto, by_hand = {}, {}
    for cell in nbgrader_cells(nb):
        if cell.kind in ("test", "manual"):
            points = by_hand if cell.kind == "manual" else auto
            points[cell.exercise] = points.get(cell.exercise, 0) + cell.points
    rows = {}
    for line in table.source.splitlines():
        columns = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns and re.fullmatch(r"E\d-\d\d", columns[0]):
            rows[columns[0]] = (float(columns[-2]), float(columns[-1]))
    exercises = sorted(set(auto) | set(by_hand))
    assert rows == {e: (auto.get(e, 0), by_hand.get(e, 0)) for e in exercises}


def test_every_notebook_has_the_same_notation_box():
    boxes = {path.id: _cell_of(nbformat.read(path.values[0], as_version=4), "notation") for path in NOTEBOOKS}
    assert all(boxes.values()), f"no notation box in {[k for k, v in boxes.items() if not v]}"
    assert len({box.source for box in boxes.values()}) == 1, "the notation boxes differ"
