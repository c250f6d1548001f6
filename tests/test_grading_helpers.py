"""arlib.grading: the checks nbgrader test cells use, and the switch that catches delegation."""

from pathlib import Path

import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import arlib
from arlib import grading
from arlib.grading import DelegatedToReference, ExerciseFailure

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
    with pytest.raises(ExerciseFailure, match="should be a number, but it is str"):
        grading.check_number("0.12", 0.12, "p")
    with pytest.raises(ExerciseFailure, match="should be a number, but it is bool"):
        grading.check_number(True, 1.0, "p")


def test_check_sequence_names_the_first_difference():
    grading.check_sequence(torch.tensor([1, 2, 3]), [1, 2, 3], "tokens")
    with pytest.raises(ExerciseFailure, match=r"tokens first differs at position 2: got \[9\], expected \[3\] \(the 2 before it agree\)"):
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
    with pytest.raises(ExerciseFailure, match="should be a torch.Tensor, but it is list"):
        grading.check_close([1.0], torch.ones(1), "x")


# --- partial credit -------------------------------------------------------------------------

def test_order_credit_is_the_better_share_and_never_more_than_the_points(capsys):
    correct = ["c", "a", "b", "d"]
    assert grading.order_credit(correct, correct, 2) == 2
    assert grading.order_credit(["a", "c", "b", "d"], correct, 2) == 1.0  # 2 of 4 placed > 1 of 3 pairs
    assert grading.order_credit(["d", "c", "a", "b"], correct, 3) == 2.0  # 0 placed, 2 of 3 pairs
    assert "0 of 4 steps in the right place; 2 of 3 neighbouring pairs right." in capsys.readouterr().out
    assert grading.order_credit(["c", "a", "b"], correct, 2) == 0.0  # a step missing
    assert grading.order_credit(None, correct, 2) == 0.0  # no answer: no credit, no crash
    assert "list of the 4 step letters" in capsys.readouterr().out


def test_share_credit_and_partial_credit_stay_within_the_points():
    assert grading.share_credit([True, False, True, True], 2) == 1.5
    assert grading.share_credit([True] * 3, 3) == 3
    with pytest.raises(ValueError, match="at least one result"):
        grading.share_credit([], 2)
    assert grading.partial_credit(1.7, 2) == 2
    assert grading.partial_credit(-0.5, 2) == 0
    assert grading.partial_credit(1 / 3, 2) == 0.667


# --- delegation to the reference ------------------------------------------------------------

@pytest.fixture
def toy():
    lm = arlib.ToyLM({"": {"a": 0.6, "b": 0.4}, "a": {"b": 1.0}, "b": {"a": 0.7, "b": 0.3}})
    return lm, lm.tokenizer.encode("a")


from arlib.decoding import greedy_decode as alias  # noqa: E402 (as a notebook would import it)


def test_reference_disabled_blocks_the_reference_under_any_name_and_restores_it(toy):
    lm, prompt = toy
    expected = arlib.greedy_decode(lm, prompt, 3, use_cache=False)
    with pytest.raises(DelegatedToReference, match="write greedy_decode yourself"):
        with grading.reference_disabled("greedy_decode"):
            alias(lm, prompt, 3, use_cache=False)
    with pytest.raises(DelegatedToReference, match="decoding._greedy_uncached"):
        with grading.reference_disabled("decoding._greedy_uncached"):
            arlib.decoding._greedy_uncached(lm, prompt, 3, None)
    with pytest.raises(DelegatedToReference, match="ToyLM.next_token_log_probs"):
        with grading.reference_disabled("ToyLM.next_token_log_probs"):
            lm.next_token_log_probs(prompt)
    assert alias is arlib.greedy_decode is arlib.decoding.greedy_decode
    assert arlib.greedy_decode(lm, prompt, 3, use_cache=False) == expected
    assert lm.next_token_log_probs(prompt).shape == (lm.vocab_size,)


def test_reference_disabled_catches_a_swallowed_call_and_lets_own_code_through(toy):
    lm, prompt = toy

    def sneaky(lm, prompt, n):
        try:
            return arlib.greedy_decode(lm, prompt, n, use_cache=False)
        except Exception:
            return [0] * n

    def own(lm, prompt, n):
        ids, new = list(prompt), []
        for _ in range(n):
            new.append(int(lm.next_token_log_probs(ids).argmax()))
            ids.append(new[-1])
        return new

    with pytest.raises(DelegatedToReference, match="your code called arlib's greedy_decode"):
        with grading.reference_disabled("greedy_decode"):
            sneaky(lm, prompt, 3)
    with grading.reference_disabled("greedy_decode", "decoding._greedy_uncached"):
        got = own(lm, prompt, 3)
    assert got == arlib.greedy_decode(lm, prompt, 3, use_cache=False)


@pytest.mark.parametrize("name", ["no_such_function", "decoding.nope", ""])
def test_reference_disabled_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="no function"):
        with grading.reference_disabled(name):
            pass


def _run_in_kernel(sources, extra_arguments):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   extra_arguments=extra_arguments).execute()
    return nb


def test_reference_disabled_works_in_a_real_notebook_kernel():
    """The notebook's namespace is the kernel's __main__: names imported there are blocked too."""
    nb = _run_in_kernel([
        "import arlib\nfrom arlib import grading\nfrom arlib import greedy_decode as gd\n"
        "lm = arlib.ToyLM({'': {'a': 0.6, 'b': 0.4}, 'a': {'b': 1.0}})\nprompt = lm.tokenizer.encode('a')",
        "def mine(lm, prompt, n):\n    return gd(lm, prompt, n, use_cache=False)\n"
        "with grading.reference_disabled('greedy_decode'):\n    mine(lm, prompt, 2)",
        "with grading.reference_disabled('decoding._greedy_uncached'):\n    arlib.greedy_decode(lm, prompt, 2, use_cache=False)",
        "print(gd(lm, prompt, 2, use_cache=False))",
    ], [])
    errors = [[o.ename for o in c.outputs if o.output_type == "error"] for c in nb.cells]
    assert errors == [[], ["DelegatedToReference"], ["DelegatedToReference"], []]
    assert nb.cells[3].outputs[0].text.strip() == "[5, 4]"  # restored afterwards


def test_a_failure_shows_the_feedback_not_a_traceback_in_a_notebook():
    """Students read the message, not frames of arlib.grading; nbgrader still sees an error."""
    nb = _run_in_kernel([
        "from arlib import grading\n"
        "grading.check_number(0.8, 0.12, 'E1-02: the cumulative probability', hint='did you multiply?')",
    ], [])
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.ename == "ExerciseFailure"
    assert error.traceback == [
        "\x1b[1;31mExerciseFailure\x1b[0m: E1-02: the cumulative probability is 0.8, "
        "expected 0.12 (within 1e-06). did you multiply?"]


def test_grading_kernels_show_library_warnings_on_stdout():
    """The kernel startup of nbgrader_config.py keeps warnings out of stderr (which scores 0),
    even in a notebook that never imports arlib.grading; without it they land on stderr."""
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
