"""ToyLM reproduces the course's pen-and-paper numbers exactly, through the neural model's interface."""

import math

import pytest
import torch

from arlib import ToyLM, generation_trace, greedy_decode, sequence_log_likelihood, sequence_probability, token_log_probs

# The course's example: "the cat sat" so far; next comes on 0.6, by 0.3, under 0.1.
TABLE = {
    "<s>": {"the": 1.0},
    "<s> the": {"cat": 0.4, "dog": 0.35, "mat": 0.25},
    "the cat": {"sat": 0.5, "ran": 0.3, "</s>": 0.2},
    "the cat sat": {"on": 0.6, "by": 0.3, "under": 0.1},
    "sat on": {"the": 0.7, "a": 0.3},
    "on the": {"mat": 0.9, "cat": 0.1},
    "mat": {"</s>": 1.0},
    "": {"</s>": 0.5, "the": 0.5},
}


@pytest.fixture
def toy():
    return ToyLM(TABLE)


def test_the_cat_sat_distribution_is_exact(toy):
    assert toy.distribution("the cat sat") == {"on": 0.6, "by": 0.3, "under": 0.1}
    assert toy.distribution("The Cat Sat") == {"on": 0.6, "by": 0.3, "under": 0.1}  # lower-cased
    assert toy.distribution(("<s>", "the", "cat", "sat")) == {"on": 0.6, "by": 0.3, "under": 0.1}


def test_next_token_log_probs_is_the_table_in_log_space(toy):
    ids = toy.tokenizer.encode("<s> the cat sat")
    log_probs = toy.next_token_log_probs(ids)
    assert log_probs.shape == (toy.vocab_size,)
    tok = toy.tokenizer.token_to_id
    assert math.exp(log_probs[tok["on"]]) == pytest.approx(0.6, abs=1e-15)
    assert math.exp(log_probs[tok["by"]]) == pytest.approx(0.3, abs=1e-15)
    assert math.exp(log_probs[tok["under"]]) == pytest.approx(0.1, abs=1e-15)
    assert log_probs[tok["mat"]] == float("-inf")  # not in the table: probability 0
    assert toy.tokenizer.token(int(log_probs.argmax())) == "on"  # the greedy choice


def test_longest_matching_suffix_wins_and_empty_is_the_fallback(toy):
    assert toy.distribution("a dog sat on") == {"the": 0.7, "a": 0.3}  # "sat on" covers it
    assert toy.distribution("the big mat") == {"</s>": 1.0}
    assert toy.distribution("dog") == {"</s>": 0.5, "the": 0.5}


def test_generation_trace_gives_the_running_product(toy):
    prompt = toy.tokenizer.encode("<s> the")
    trace = generation_trace(toy, prompt, 10, eos_id=toy.tokenizer.eos_id)
    words = [toy.tokenizer.token(step.token) for step in trace]
    assert words == ["cat", "sat", "on", "the", "mat", "</s>"]
    probs = [step.prob for step in trace]
    assert probs == pytest.approx([0.4, 0.5, 0.6, 0.7, 0.9, 1.0], abs=1e-15)
    cumulative = [step.cumulative_prob for step in trace]
    # 0.4, then 0.4 x 0.5 = 0.2 ("the cat sat"), then 0.2 x 0.6 = 0.12 ("... on"), ...
    assert cumulative == pytest.approx([0.4, 0.2, 0.12, 0.084, 0.0756, 0.0756], abs=1e-15)
    assert trace[2].cumulative_log_prob == pytest.approx(math.log(0.12), abs=1e-15)
    assert toy.tokenizer.decode(trace[2].context) == "<s> the cat sat"


def test_greedy_decoding_and_scoring_run_on_the_toy(toy):
    prompt = toy.tokenizer.encode("<s> the cat sat")
    new = greedy_decode(toy, prompt, 10, eos_id=toy.tokenizer.eos_id, use_cache=False)
    assert toy.tokenizer.decode(new) == "on the mat </s>"
    x, y = toy.tokenizer.encode("<s> the cat"), toy.tokenizer.encode("sat under")
    scores = token_log_probs(toy, x, y)
    assert scores.exp().tolist() == pytest.approx([0.5, 0.1], abs=1e-15)
    assert sequence_probability(toy, x, y) == pytest.approx(0.05, abs=1e-15)
    assert sequence_log_likelihood(toy, x, y) == pytest.approx(math.log(0.05), abs=1e-15)


def test_an_impossible_continuation_has_log_likelihood_minus_infinity(toy):
    x, y = toy.tokenizer.encode("<s> the cat sat"), toy.tokenizer.encode("mat")
    assert sequence_log_likelihood(toy, x, y) == float("-inf")
    assert sequence_probability(toy, x, y) == 0.0


def test_log_probs_rows_follow_the_prefixes(toy):
    ids = toy.tokenizer.encode("<s> the cat sat")
    rows = toy.log_probs(ids)
    assert rows.shape == (4, toy.vocab_size)
    for t in range(4):
        assert torch.equal(rows[t], toy.next_token_log_probs(ids[: t + 1]))


def test_tables_that_are_not_distributions_are_rejected():
    with pytest.raises(ValueError, match=r"the distribution after 'the cat' must be >= 0 and sum to 1, sums to 0.9"):
        ToyLM({"the cat": {"sat": 0.5, "ran": 0.4}})
    with pytest.raises(ValueError, match="must be >= 0"):
        ToyLM({"": {"a": 1.5, "b": -0.5}})


def test_a_context_with_no_entry_is_a_clear_error():
    toy = ToyLM({"the": {"cat": 1.0}})
    with pytest.raises(ValueError, match="no distribution for the context 'cat': expected an entry for it"):
        toy.distribution("cat")
