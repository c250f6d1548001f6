"""The grader's side: comparing records, scoring cells, canaries, and the notebook that is run."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from arlib.grading.recording import MIME
from autograder import canary
from autograder.assemble import assemble
from autograder.judge import CellRecords, check_reference, compare, judge, read_records


def _record(key, value, **options):
    return {"key": key, "value": value, "tol": options.get("tol"), "rtol": options.get("rtol"),
            "order": options.get("order", False)}


def _cell(*payloads):
    cell = new_code_cell("")
    cell.outputs = [new_output("display_data", data={MIME: p}) for p in payloads]
    return cell


@pytest.mark.parametrize("got, expected, options, difference", [
    (0.12, 0.12, {}, None),
    (0.1201, 0.12, {"tol": 1e-3}, None),
    (0.13, 0.12, {"tol": 1e-3}, "0.13, expected 0.12"),
    (3, 3.0, {}, None),
    (True, 1, {}, "expected a number, got bool True"),
    ({"tensor": [[1.0, 2.0]]}, [[1.0, 2.000001]], {"tol": 1e-5}, None),
    ({"tensor": [[1.0, 2.0]]}, {"tensor": [[1.0, 2.5]]}, {"tol": 1e-5}, "2 at [0][1], expected 2.5"),
    ([1, 2], [1, 2, 3], {}, "2 items, expected 3"),
    (100.5, 100.0, {"rtol": 1e-2}, None),
    ({"raised": "ValueError", "message": "bad shape"}, [1], {}, "raised ValueError: bad shape"),
    ({"unsupported": "AlwaysEqual"}, [1], {}, "gave AlwaysEqual, which the grader does not compare"),
    ("b", "b", {}, None),
    ("B", "b", {}, "'B', expected 'b'"),
    ({"float": "nan"}, {"float": "nan"}, {}, None),
    ({"dict": [["a", 1]]}, {"dict": [["a", 2]]}, {}, "1 at [0][1], expected 2"),
])
def test_compare(got, expected, options, difference):
    assert compare(got, expected, options.get("tol"), options.get("rtol")) == difference


def test_a_cell_gives_all_or_nothing_unless_it_shares_its_points():
    expected = CellRecords({"a": _record("a", 1), "b": _record("b", 2)})
    half = CellRecords({"a": _record("a", 1), "b": _record("b", 3)})
    assert judge(expected, half, 2.0).score == 0.0
    assert judge(expected, CellRecords({"a": _record("a", 1), "b": _record("b", 2)}), 2.0).score == 2.0
    expected.rule = "share"
    verdict = judge(expected, half, 2.0)
    assert (verdict.score, verdict.matched, verdict.total) == (1.0, 1, 2)
    assert verdict.mistakes == ["b: 3, expected 2"]
    assert judge(expected, CellRecords({"a": _record("a", 1)}), 2.0).mistakes == [
        "b: not recorded (the cell stopped before this check)"]


def test_an_order_answer_keeps_its_partial_credit():
    expected = CellRecords({"order": _record("order", ["c", "a", "b", "d"], order=True)})
    assert judge(expected, CellRecords({"order": _record("order", ["a", "c", "b", "d"])}), 2.0).score == 1.0
    assert judge(expected, CellRecords({"order": _record("order", {"unsupported": "X"})}), 2.0).score == 0.0


def test_records_the_test_never_makes_void_the_cell():
    expected = CellRecords({"a": _record("a", 1)})
    forged = read_records(_cell(_record("a", 1), _record("a", 1)))
    assert forged.duplicates == ["a"]
    assert judge(expected, forged, 1.0).tampered == ["'a' was recorded more than once"]
    extra = read_records(_cell(_record("a", 1), _record("b", 5)))
    verdict = judge(expected, extra, 1.0)
    assert verdict.score == 0.0 and verdict.tampered == ["'b' was recorded, but the test never records it"]


def test_read_records_takes_the_rule_and_ignores_other_outputs():
    cell = _cell(_record("a", 1), {"rule": "share"})
    cell.outputs.append(new_output("display_data", data={"text/plain": "4"}))
    cell.outputs.append(new_output("execute_result", data={"text/plain": "99"}, execution_count=1))
    found = read_records(cell)
    assert found.rule == "share" and list(found.records) == ["a"]


def test_the_solution_must_record_and_agree_with_arlib():
    assert check_reference("X-test", CellRecords()) == [
        "X-test records nothing: a test cell must record what it checks (arlib.grading.record)"]
    wrong = CellRecords({"k": {**_record("k", [1, 2]), "reference": [1, 3]}})
    assert check_reference("X-hidden", wrong) == ["X-hidden / k: the solution differs from arlib: 2 at [1], expected 3"]
    failing = CellRecords({"k": _record("k", {"raised": "TypeError", "message": "oops"})})
    assert check_reference("X-hidden", failing) == ["X-hidden / k: the solution raised TypeError: oops"]


# --- canaries ---------------------------------------------------------------------------------

def _graded_notebook():
    test = new_code_cell("grading.record('a', 1)")
    test.metadata["nbgrader"] = {"grade_id": "E0-01-test", "grade": True, "locked": True, "points": 1, "solution": False}
    return new_notebook(cells=[new_code_cell("x = 1"), test])


def _run_canaries(nb, planted, fingerprint, ran=True, reports=None):
    for cell in nb.cells:
        name = cell.metadata.get(canary.TAG)
        if name is not None and ran:
            cell.execution_count = 1
            payloads = reports(name) if reports else [{"canary": planted[name], "fingerprint": fingerprint}]
            cell.outputs = [new_output("display_data", data={MIME: p}) for p in payloads]


def test_canaries_catch_a_kernel_whose_machinery_was_rewired():
    nb = _graded_notebook()
    planted = canary.insert_canaries(nb, {"E0-01-test"})
    assert list(planted) == ["E0-01-test", "end"] and len({*planted.values()}) == 2
    assert [c.metadata.get(canary.TAG) for c in nb.cells] == [None, "E0-01-test", None, "end"]
    baseline = {"E0-01-test": {"ast transformers": []}, "end": {"ast transformers": []}}
    honest = nbformat.from_dict(nb)
    _run_canaries(honest, planted, {"ast transformers": []})
    assert canary.tampering(honest, planted, baseline) == []
    hooked = nbformat.from_dict(nb)
    _run_canaries(hooked, planted, {"ast transformers": ["__main__.Rewrite"]})
    assert canary.tampering(hooked, planted, baseline) == [
        "before E0-01-test, the kernel's ast transformers had been changed by the submission's code",
        "at the end of the notebook, the kernel's ast transformers had been changed by the submission's code"]
    swallowed = nbformat.from_dict(nb)
    _run_canaries(swallowed, planted, None, reports=lambda name: [])
    assert len(canary.tampering(swallowed, planted, baseline)) == 2
    never_ran = nbformat.from_dict(nb)  # the kernel died first: not tampering
    assert canary.tampering(never_ran, planted, baseline) == []
    canary.remove_canaries(never_ran)
    assert len(never_ran.cells) == 2


# --- the notebook that is run -----------------------------------------------------------------

def _nb(*cells):
    made = []
    for grade_id, kind, source in cells:
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        if grade_id:
            cell.metadata["nbgrader"] = {"grade_id": grade_id, "locked": kind in ("locked", "test", "markdown"),
                                         "solution": kind == "answer", "grade": kind == "test",
                                         "points": 1 if kind == "test" else 0}
        made.append(cell)
    return new_notebook(cells=made)


SOURCE = _nb(("setup", "locked", "import arlib"), ("E1-01", "answer", "answer = None\n### BEGIN SOLUTION\nanswer = 'D'\n### END SOLUTION"),
             ("E1-01-test", "test", "grading.record('a', answer)\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS"))
RELEASE = _nb(("setup", "locked", "import arlib"), ("E1-01", "answer", "answer = None\n# YOUR CODE HERE\nraise NoAnswerYet()"),
              ("E1-01-test", "test", "grading.record('a', answer)"))


def test_only_the_answers_come_from_the_submission():
    submitted = _nb(("setup", "locked", "import os  # edited"), ("E1-01", "answer", "answer = 'B'"),
                    ("E1-01-test", "test", "pass  # edited to pass"))
    submitted.cells[1].metadata["nbgrader"]["points"] = 99
    result = assemble(SOURCE, RELEASE, submitted)
    assert [c.source for c in result.notebook.cells] == ["import arlib", "answer = 'B'", "grading.record('a', answer)"]
    assert result.notes == ["test cell E1-01-test was edited (restored)"]
    assert [(c.label, c.exercise) for c in result.student_cells] == [("E1-01", "E1-01")]


def test_deleted_duplicated_renamed_and_added_cells():
    submitted = _nb(("setup", "locked", "import arlib"), ("E1-01", "answer", "answer = 'A'"), (None, "code", "helper = 1"),
                    ("E1-01", "answer", "answer = 'D'"), ("E9-99", "test", "print('renamed')"))
    result = assemble(SOURCE, RELEASE, submitted)
    sources = [c.source for c in result.notebook.cells]
    assert sources == ["import arlib", "answer = 'A'", "helper = 1", "answer = 'D'", "print('renamed')",
                       "grading.record('a', answer)"]
    assert "test cell E1-01-test was deleted (restored)" in result.notes
    assert any("appears more than once" in n for n in result.notes)
    assert any("'E9-99', which the assignment does not have" in n for n in result.notes)
    assert [c.label for c in result.student_cells] == ["a cell added after setup", "a cell added after setup", "E1-01",
                                                       "a cell added after E1-01"]
    assert all(c.exercise == "E1-01" for c in result.student_cells)


def test_an_unanswered_cell_is_the_release_stub_never_the_solution():
    result = assemble(SOURCE, RELEASE, _nb(("setup", "locked", "import arlib")))
    text = "\n".join(c.source for c in result.notebook.cells)
    assert "raise NoAnswerYet()" in text and "'D'" not in text and "secret" not in text
