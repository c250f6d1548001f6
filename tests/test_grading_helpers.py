"""arlib.grading: the checks test cells use, what they record for the grader, partial credit."""

from pathlib import Path

import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import arlib
from arlib import grading
from arlib.grading import ExerciseFailure

from arlib.grading.recording import canonical
from autograder.workspace import nbgrader_config


# --- answers compared by digest -------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    (0.12, 0.1201), (3, np.int64(3)), (3, 3.0), (0.0, -0.0), (0.5, torch.tensor(0.5)),
    (True, np.bool_(True)), ("  The Cat ", "the   cat"), (["A", "b"], ("a", "B")),
])
def test_equivalent_answers_share_a_digest(a, b):
    assert grading.digest(a) == grading.digest(b)


@pytest.mark.parametrize("a, b", [(0.12, 0.13), ("a", "b"), (["a", "b"], ["b", "a"]), (True, False), (1, True)])
def test_different_answers_have_different_digests(a, b):
    assert grading.digest(a) != grading.digest(b)


def test_check_digest_passes_the_right_answer_and_hints_at_a_known_wrong_one():
    grading.check_digest("B", grading.digest("b"), "Your choice")
    with pytest.raises(ExerciseFailure, match="'a' is not right yet. Hint: sampling is random"):
        grading.check_digest("a", grading.digest("b"), "Your choice", hints={grading.digest("a"): "sampling is random"})
    with pytest.raises(ExerciseFailure, match="Hint: look again"):
        grading.check_digest("c", grading.digest("b"), "Your choice", default_hint="look again")


@pytest.mark.parametrize("placeholder", [None, ..., "", []])
def test_check_answered_flags_placeholders(placeholder):
    with pytest.raises(ExerciseFailure, match="has no answer yet"):
        grading.check_answered(placeholder, "Your answer")


# --- values ---------------------------------------------------------------------------------

def test_check_number_within_tolerance_and_explains_a_miss():
    grading.check_number(0.1204, 0.12, "p", tol=1e-3)
    grading.check_number(torch.tensor(0.12), 0.12, "p", tol=1e-6)
    grading.check_number(np.float32(0.12), 0.12, "p", tol=1e-6)
    with pytest.raises(ExerciseFailure, match=r"p is 0.8, expected 0.12 \(within 0.001\). multiply"):
        grading.check_number(0.8, 0.12, "p", tol=1e-3, hint="multiply")
    with pytest.raises(ExerciseFailure, match="should be a number, but it is a str"):
        grading.check_number("0.12", 0.12, "p")
    with pytest.raises(ExerciseFailure, match="should be a number, but it is a bool"):
        grading.check_number(True, 1.0, "p")


def test_check_sequence_names_the_first_difference():
    grading.check_sequence(torch.tensor([1, 2, 3]), [1, 2, 3], "tokens")
    with pytest.raises(ExerciseFailure, match=r"tokens first differs at item 3: got \[9\], expected \[3\] \(the 2 before it agree\)"):
        grading.check_sequence([1, 2, 9], [1, 2, 3], "tokens")
    with pytest.raises(ExerciseFailure, match="has 2 items, expected 3; the first 2 agree"):
        grading.check_sequence([1, 2], [1, 2, 3], "tokens")


def test_check_close_names_the_first_differing_index_and_shape_errors():
    grading.check_close(torch.ones(2, 3), torch.ones(2, 3) + 1e-7, "x")
    bad = torch.ones(2, 3)
    bad[1, 2] = 5
    with pytest.raises(ExerciseFailure, match=r"x differs at index \(1, 2\): got 5, expected 1 \(1 of 6 entries"):
        grading.check_close(bad, torch.ones(2, 3), "x")
    with pytest.raises(ExerciseFailure, match=r"x has shape \(3, 2\), expected \(2, 3\)"):
        grading.check_close(torch.ones(3, 2), torch.ones(2, 3), "x")
    with pytest.raises(ExerciseFailure, match="should be a torch.Tensor, but it is a list"):
        grading.check_close([1.0], torch.ones(1), "x")


# --- partial credit -------------------------------------------------------------------------

def test_order_share_is_the_better_of_steps_placed_and_pairs_right():
    correct = ["c", "a", "b", "d"]
    assert grading.order_share(correct, correct) == 1.0
    assert grading.order_share(["a", "c", "b", "d"], correct) == 0.5  # 2 of 4 placed > 1 of 3 pairs
    assert grading.order_share(["d", "c", "a", "b"], correct) == pytest.approx(2 / 3)  # 0 placed, 2 of 3 pairs
    assert grading.order_share(["C", " a", "b", "D"], correct) == 1.0  # case and spaces folded
    assert grading.order_share(["c", "a", "b"], correct) == 0.0  # a step missing


def test_summaries_tell_a_student_how_much_is_right_without_writing_the_answer():
    places, pairs = grading.order_digests("E9-01", ["c", "a", "b", "d"])
    assert not {"c", "a", "b", "d"} & {*places, *pairs}
    assert grading.order_summary(["D", "c", "a", "b"], "E9-01", places, pairs) == (
        "0 of 4 steps in the right place; 2 of 3 neighbouring pairs right.")
    assert grading.order_summary(["c", "a", "b", "d"], "E9-01", places, pairs).startswith("4 of 4 steps")
    assert grading.order_summary(["c", "a", "b", "d"], "E9-02", places, pairs).startswith("0 of 4 steps")  # salted
    assert grading.share_summary([True, False, True], ["one", "two", "three"]) == "2 of 3 right. Look again at: two."


def test_partial_credit_stays_within_the_points():
    assert grading.partial_credit(1.7, 2) == 2
    assert grading.partial_credit(-0.5, 2) == 0
    assert grading.partial_credit(1 / 3, 2) == 0.667
    with pytest.raises(ValueError, match="points must be >= 0"):
        grading.partial_credit(0.5, -1)


# --- records for the grader -------------------------------------------------------------------

def test_canonical_values_are_plain_json_and_only_exact_types_count():
    class AlwaysEqual(list):
        def __eq__(self, other):
            return True

    class Shady(torch.Tensor):
        pass

    values = [None, True, 3, 0.5, "x", (1, 2), {"a": 1}, torch.tensor([[1, 2], [3, 4]]), torch.tensor(0.25),
              torch.tensor([0.5], dtype=torch.float64), np.float32(0.25), np.array([1.5]), float("nan"),
              AlwaysEqual([1]), torch.ones(2).as_subclass(Shady), object()]
    assert [canonical(v) for v in values] == [
        None, True, 3, 0.5, "x", [1, 2], {"dict": [["a", 1]]}, {"tensor": [[1, 2], [3, 4]]}, {"tensor": 0.25},
        {"tensor": [0.5]}, 0.25, {"tensor": [1.5]}, {"float": "nan"},
        {"unsupported": "AlwaysEqual"}, {"unsupported": "Shady"}, {"unsupported": "object"}]
    assert canonical(torch.zeros(300_000)) == {"unsupported": "tensor of 300000 numbers, too large"}


def test_record_returns_the_value_and_records_only_while_grading(monkeypatch):
    emitted = []
    monkeypatch.setattr("arlib.grading.recording._emit", emitted.append)
    monkeypatch.delenv("ARLIB_RECORD", raising=False)
    assert grading.record("k", 3) == 3 and emitted == []  # a student's own notebook: nothing recorded
    monkeypatch.setenv("ARLIB_RECORD", "student")
    assert grading.record("k", torch.tensor([1.0]), tol=1e-5) is not None
    assert emitted == [{"key": "k", "value": {"tensor": [1.0]}, "tol": 1e-5, "rtol": None, "order": False}]


def test_record_call_records_what_the_students_code_did(monkeypatch):
    emitted = []
    monkeypatch.setattr("arlib.grading.recording._emit", emitted.append)
    monkeypatch.setenv("ARLIB_RECORD", "reference")
    lm = arlib.ToyLM({"": {"a": 0.6, "b": 0.4}, "a": {"b": 1.0}, "b": {"a": 0.7, "b": 0.3}})
    prompt = lm.tokenizer.encode("a")

    def broken():
        raise grading.NoAnswerYet()

    got = grading.record_call("own", lambda: [int(lm.next_token_log_probs(prompt).argmax())], disable=["greedy_decode"],
                              reference=lambda: arlib.greedy_decode(lm, prompt, 1, use_cache=False))
    assert got == [5]
    assert grading.record_call("stub", broken) is None
    grading.record_call("delegates", lambda: arlib.greedy_decode(lm, prompt, 1, use_cache=False), disable=["greedy_decode"])
    grading.record_call("swallows", lambda: _swallowing(lm, prompt), disable=["greedy_decode"])
    assert [e["value"] for e in emitted] == [
        [5],
        {"raised": "NoAnswerYet", "message": grading.NoAnswerYet().args[0]},
        {"raised": "DelegatedToReference", "message": "called arlib's greedy_decode, which this exercise switches off"},
        {"raised": "DelegatedToReference", "message": "called arlib's greedy_decode, which this exercise switches off"},
    ]
    assert emitted[0]["reference"] == [5]  # the solution's run also checks itself against arlib


def _swallowing(lm, prompt):
    try:
        return arlib.greedy_decode(lm, prompt, 1, use_cache=False)
    except Exception:
        return [5]


def test_importing_the_grading_helpers_changes_nothing_global():
    import subprocess
    import sys

    code = ("import warnings, logging; before = (warnings.showwarning, logging.lastResort); "
            "import arlib.grading, arlib.grading.canary; "
            "assert (warnings.showwarning, logging.lastResort) == before")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def _run_in_kernel(sources, extra_arguments):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   extra_arguments=extra_arguments).execute()
    return nb


def test_reference_disabled_works_in_a_real_notebook_kernel():
    """The notebook's namespace is the kernel's __main__: a name imported there is refused too."""
    nb = _run_in_kernel([
        "import arlib\nfrom arlib import grading\nfrom arlib import greedy_decode as gd\n"
        "lm = arlib.ToyLM({'': {'a': 0.6, 'b': 0.4}, 'a': {'b': 1.0}})\nprompt = lm.tokenizer.encode('a')",
        "def mine(lm, prompt, n):\n    return gd(lm, prompt, n, use_cache=False)\n"
        "with grading.reference_disabled('greedy_decode'):\n    mine(lm, prompt, 2)",
        "print(gd(lm, prompt, 2, use_cache=False))",
    ], [])
    errors = [[o.ename for o in c.outputs if o.output_type == "error"] for c in nb.cells]
    assert errors == [[], ["DelegatedToReference"], []]
    assert nb.cells[2].outputs[0].text.strip() == "[5, 4]"  # switched on again afterwards


def test_a_failure_and_a_missing_answer_show_one_line_not_a_traceback_in_a_notebook():
    """Students read the message, not frames of arlib.grading or of their own stub."""
    nb = _run_in_kernel([
        "from arlib import grading\nfrom arlib.grading import NoAnswerYet\n"
        "grading.check_number(0.8, 0.12, 'E1-02: the cumulative probability', hint='Did you multiply?')",
        "def generate(model, prompt_ids, n):\n    # YOUR CODE HERE\n    raise NoAnswerYet()",
        "generate(None, [1], 2)",
    ], [])
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert [e.traceback for e in errors] == [
        ["\x1b[1;31mExerciseFailure\x1b[0m: E1-02: the cumulative probability is 0.8, "
         "expected 0.12 (within 1e-06). Did you multiply?"],
        [f"\x1b[1;33mNoAnswerYet\x1b[0m: {grading.NoAnswerYet().args[0]}"]]


def test_grading_kernels_show_library_warnings_on_stdout():
    """The kernel startup of nbgrader_config.py keeps warnings out of stderr (where a student would
    take a library's notice for an error), even in a notebook that never imports arlib.grading;
    without it they land on stderr."""
    warn = "import torch\nx = torch.tensor(torch.tensor([1.0]))  # torch warns about copy-construction"
    configured = nbgrader_config(Path("/tmp")).Execute.extra_arguments
    with_startup = _run_in_kernel([warn], list(configured))
    without = _run_in_kernel([warn], [])

    def streams(nb):
        return {o.name: o.text for o in nb.cells[0].outputs if o.output_type == "stream"}

    assert "stderr" not in streams(with_startup)
    assert "(warning, not counted against you) UserWarning: To copy construct" in streams(with_startup)["stdout"]
    assert "UserWarning" in streams(without).get("stderr", "")  # the routing is what keeps it off stderr


def test_a_sealed_hint_opens_only_for_the_wrong_answer_it_is_about():
    sealed = grading.seal_hint("C", "brown is conditioned on quick alone")
    assert "brown" not in sealed  # reading the test cell does not reveal the hint
    assert grading.unseal_hint("C", sealed) == "brown is conditioned on quick alone"
    assert grading.unseal_hint("B", sealed) != "brown is conditioned on quick alone"
    assert grading.unseal_hint("A", "a plain hint") == "a plain hint"


def test_check_digest_shows_the_sealed_hint_of_the_answer_given():
    hints = {grading.digest("C"): grading.seal_hint("C", "condition on every earlier token")}
    with pytest.raises(grading.ExerciseFailure, match="condition on every earlier token"):
        grading.check_digest("C", grading.digest("B"), "E1-01", hints=hints)
    with pytest.raises(grading.ExerciseFailure) as wrong_other:
        grading.check_digest("D", grading.digest("B"), "E1-01", hints=hints)
    assert "condition on every earlier token" not in str(wrong_other.value)
    grading.check_digest("b", grading.digest("B"), "E1-01", hints=hints)  # case is folded
