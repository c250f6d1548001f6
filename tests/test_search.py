"""Beam search: width 1 is greedy, a wide enough beam is exhaustive, finished hypotheses are kept."""

import itertools
import math

import pytest
import torch

from arlib import Hypothesis, ToyLM, beam_search, greedy_decode, sequence_log_likelihood
from tests.helpers import CONFIGS, random_model

# Greedy takes "a" (0.6) then is stuck with 0.5 at best: 0.3. "b" (0.4) leads to "c" for sure: 0.4.
GREEDY_MISSES = ToyLM({"": {"a": 0.6, "b": 0.4}, "a": {"c": 0.5, "d": 0.5}, "b": {"c": 1.0},
                       "c": {"d": 0.9, "c": 0.1}, "d": {"d": 0.7, "c": 0.3}})


def ids(lm, text):
    return lm.tokenizer.encode(text)


def exhaustive_best(lm, prompt, n):
    """The most probable n-token continuation, by scoring every one of |V|^n."""
    best = None
    for tokens in itertools.product(range(lm.vocab_size), repeat=n):
        log_prob, context = 0.0, list(prompt)
        for token in tokens:
            log_prob += float(lm.next_token_log_probs(context)[token])
            context.append(token)
        if best is None or log_prob > best[1]:
            best = (tokens, log_prob)
    return best


@pytest.mark.parametrize("name", list(CONFIGS))
def test_width_one_is_greedy_decoding(name):
    model = random_model(CONFIGS[name], seed=4)
    best, = beam_search(model, [1, 2], 1, 9)
    assert list(best.tokens) == greedy_decode(model, [1, 2], 9)
    assert best.log_prob == pytest.approx(float(sequence_log_likelihood(model, [1, 2], list(best.tokens))), abs=1e-4)


def test_width_two_finds_what_greedy_misses_and_a_full_width_is_exhaustive():
    prompt = ids(GREEDY_MISSES, "<s>")
    greedy, = beam_search(GREEDY_MISSES, prompt, 1, 2)
    found = beam_search(GREEDY_MISSES, prompt, 2, 2)[0]
    assert [GREEDY_MISSES.tokenizer.decode(list(h.tokens)) for h in (greedy, found)] == ["a c", "b c"]
    assert math.exp(greedy.log_prob) == pytest.approx(0.3) and math.exp(found.log_prob) == pytest.approx(0.4)
    for n in (1, 2, 3):
        tokens, log_prob = exhaustive_best(GREEDY_MISSES, prompt, n)
        widest = beam_search(GREEDY_MISSES, prompt, GREEDY_MISSES.vocab_size ** n, n)[0]
        assert widest.tokens == tokens and widest.log_prob == pytest.approx(log_prob)


def test_hypotheses_come_best_first_with_their_log_probs():
    model = random_model(CONFIGS["2-layers-2-heads"], seed=1)
    with torch.no_grad():  # flatter, so that several beams stay close
        model.token_embedding.weight.mul_(0.1)
    hypotheses = beam_search(model, [5], 4, 6)
    assert len(hypotheses) == 4 and len({h.tokens for h in hypotheses}) == 4
    assert [h.log_prob for h in hypotheses] == sorted((h.log_prob for h in hypotheses), reverse=True)
    for h in hypotheses:
        assert h.log_prob == pytest.approx(float(sequence_log_likelihood(model, [5], list(h.tokens))), abs=1e-4)


def test_finished_hypotheses_are_kept_and_not_extended():
    # Ending at once (0.5) beats every longer continuation (at most 0.5 x 0.9).
    lm = ToyLM({"": {"</s>": 0.5, "x": 0.3, "y": 0.2}, "x": {"y": 0.9, "</s>": 0.1}, "y": {"</s>": 1.0}})
    eos = lm.tokenizer.eos_id
    hypotheses = beam_search(lm, ids(lm, "<s>"), 2, 3, eos_id=eos)
    assert hypotheses[0] == Hypothesis((eos,), pytest.approx(math.log(0.5)), True)
    assert all(h.finished and h.tokens.count(eos) == 1 for h in hypotheses)


def test_a_length_penalty_of_one_ranks_by_log_prob_per_token():
    # Ending at once: 0.4. "x x x x": 0.6 x 0.8^3 = 0.31 in all, but 0.74 per token.
    lm = ToyLM({"": {"</s>": 0.4, "x": 0.6}, "x": {"x": 0.8, "</s>": 0.2}})
    eos, x = lm.tokenizer.eos_id, lm.tokenizer.token_to_id["x"]
    plain = beam_search(lm, ids(lm, "<s>"), 3, 4, eos_id=eos)[0]
    per_token = beam_search(lm, ids(lm, "<s>"), 3, 4, eos_id=eos, length_penalty=1.0)[0]
    assert plain.tokens == (eos,) and per_token.tokens == (x, x, x, x)


def test_cached_and_toy_models_agree():
    """The same beams whether the model runs with a cache (DecoderLM) or not (its ToyLM-like uncached twin)."""
    model = random_model(CONFIGS["1-layer-1-head"], seed=6)

    class Uncached:  # the same model, seen only through next_token_log_probs
        vocab_size, max_len = model.vocab_size, model.max_len
        next_token_log_probs = staticmethod(model.next_token_log_probs)

    cached, uncached = beam_search(model, [2, 3], 3, 5), beam_search(Uncached(), [2, 3], 3, 5)
    assert [h.tokens for h in cached] == [h.tokens for h in uncached]


@pytest.mark.parametrize("settings, error", [
    ({"beam_width": 0}, "beam_width must be at least 1"), ({"beam_width": 1.5}, "beam_width must be an int"),
    ({"beam_width": 2, "length_penalty": "long"}, "length_penalty must be a number"),
])
def test_bad_input_says_what_was_expected(settings, error):
    with pytest.raises((ValueError, TypeError), match=error):
        beam_search(GREEDY_MISSES, [1], max_new_tokens=2, **settings)
