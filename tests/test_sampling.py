"""Sampling: the draws follow the (tempered, cut) distribution, repeat with the generator, and check their input."""

import math

import pytest
import torch

from arlib import ToyLM, greedy_decode, sample, sample_next
from arlib.sampling import keep_top_k, keep_top_p
from tests.helpers import CONFIGS, random_model

LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -math.inf])


def frequencies(logits, draws=20_000, seed=0, **settings):
    generator = torch.Generator().manual_seed(seed)
    counts = torch.zeros(len(logits), dtype=torch.float64)
    for _ in range(draws):
        counts[sample_next(logits, generator=generator, **settings)] += 1
    return counts / draws


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_sampled_frequencies_converge_to_the_tempered_distribution(temperature):
    expected = torch.softmax(LOGITS.double() / temperature, dim=-1)
    observed = frequencies(LOGITS, temperature=temperature)
    # 20,000 draws: the standard error of a frequency is at most 0.0036, so 0.015 is over 4 of them.
    assert torch.allclose(observed, expected, atol=0.015), (observed, expected)
    assert observed[-1] == 0  # an impossible token is never drawn


def test_temperature_zero_and_top_k_one_are_argmax_and_draw_nothing():
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    assert sample_next(LOGITS, temperature=0, generator=generator) == 0
    assert sample_next(torch.tensor([0.1, 3.0, 2.9]), top_k=1, generator=generator) == 1
    assert torch.equal(generator.get_state(), state)


def test_top_k_keeps_the_k_most_probable_and_their_ties():
    observed = frequencies(LOGITS, draws=8000, top_k=2)
    kept = torch.softmax(LOGITS[:2].double(), dim=-1)
    assert torch.allclose(observed[:2], kept, atol=0.02) and observed[2:].sum() == 0
    tied = keep_top_k(torch.tensor([0.4, 0.2, 0.2, 0.2], dtype=torch.float64), 2)
    assert tied.tolist() == [0.4, 0.2, 0.2, 0.2]


@pytest.mark.parametrize("p, kept", [(0.79, 2), (0.8 + 1e-9, 3), (1.0, 3), (0.01, 1), (0.5, 1), (0.5 + 1e-9, 2)])
def test_top_p_keeps_the_smallest_top_set_that_reaches_p(p, kept):
    probs = torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64)
    assert int((keep_top_p(probs, p) > 0).sum()) == kept


def test_top_p_keeps_ties_with_the_last_token_kept():
    probs = torch.tensor([0.4, 0.3, 0.3], dtype=torch.float64)
    assert (keep_top_p(probs, 0.5) > 0).tolist() == [True, True, True]


def test_top_k_then_top_p_renormalises_in_between():
    # After top_k=2 the two kept tokens hold 0.6 / 0.9 and 0.3 / 0.9: p = 0.6 keeps only the first.
    logits = torch.tensor([0.6, 0.3, 0.1]).log()
    assert frequencies(logits, draws=2000, top_k=2, top_p=0.6).tolist() == [1.0, 0.0, 0.0]


def test_the_same_generator_state_draws_the_same_token():
    first = [sample_next(LOGITS, generator=torch.Generator().manual_seed(seed)) for seed in range(50)]
    again = [sample_next(LOGITS, generator=torch.Generator().manual_seed(seed)) for seed in range(50)]
    assert first == again and len(set(first)) > 2


@pytest.mark.parametrize("name", list(CONFIGS))
def test_cached_and_uncached_sampling_draw_the_same_tokens(name):
    model = random_model(CONFIGS[name], seed=2)
    with torch.no_grad():  # flatter than random_model's decisive logits, so the draws do vary
        model.token_embedding.weight.mul_(0.05)
    runs = [sample(model, [1, 2], 12, generator=torch.Generator().manual_seed(5), use_cache=cached, temperature=1.5)
            for cached in (True, False)]
    assert runs[0] == runs[1] and len(runs[0]) == 12 and len(set(runs[0])) > 1


def test_sample_at_temperature_zero_is_greedy_and_stops_at_eos():
    model = random_model(CONFIGS["2-layers-2-heads"])
    greedy = greedy_decode(model, [3], 10)
    assert sample(model, [3], 10, temperature=0) == greedy
    eos = greedy[4]
    assert sample(model, [3], 10, eos_id=eos, temperature=0) == greedy[:greedy.index(eos) + 1]


def test_sample_works_on_a_toy_lm_without_a_cache():
    lm = ToyLM({"": {"a": 0.5, "b": 0.5}})
    tokens = sample(lm, lm.tokenizer.encode("a"), 60, generator=torch.Generator().manual_seed(0), use_cache=False)
    share_a = tokens.count(lm.tokenizer.token_to_id["a"]) / len(tokens)
    assert 0.3 < share_a < 0.7
    with pytest.raises(TypeError, match="use_cache=False"):
        sample(lm, lm.tokenizer.encode("a"), 2)


@pytest.mark.parametrize("settings, message", [
    ({"temperature": -0.5}, "temperature must be a number >= 0"),
    ({"temperature": float("nan")}, "temperature"),
    ({"top_k": 0}, "top_k must be None or a whole number >= 1"),
    ({"top_k": 2.5}, "top_k"),
    ({"top_p": 0}, r"top_p must be None or a probability in \(0, 1\]"),
    ({"top_p": 1.5}, "top_p"),
])
def test_bad_settings_say_what_was_expected(settings, message):
    with pytest.raises(ValueError, match=message):
        sample_next(LOGITS, **settings)
    with pytest.raises(ValueError, match=message):
        sample(random_model(CONFIGS["1-layer-1-head"]), [1], 2, **settings)


@pytest.mark.parametrize("logits, message", [
    (torch.zeros(2, 3), "shape"), (torch.tensor([]), "shape"), (torch.tensor([1, 2]), "float tensor"),
    ([0.1, 0.2], "float tensor"), (torch.tensor([0.0, float("nan")]), "NaN"),
    (torch.full((3,), -math.inf), "every logit is -inf"),
])
def test_bad_logits_say_what_was_expected(logits, message):
    with pytest.raises(ValueError, match=message):
        sample_next(logits)
