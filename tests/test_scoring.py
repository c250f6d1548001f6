"""Scoring y given x: teacher forcing in one pass, log space, no underflow."""

import math

import pytest
import torch

from arlib import ModelConfig, perplexity, sequence_log_likelihood, sequence_probability, token_log_probs
from tests.helpers import CONFIGS, random_model


def per_position_loop(model, x, y):
    """log Pr(y_i | x, y_<i), one model call per token: the slow definition."""
    return [float(model.next_token_log_probs(x + y[:i])[token]) for i, token in enumerate(y)]


@pytest.mark.parametrize("x, y", [([1], [5]), ([1, 2, 3], [4, 5, 6, 7]), ([9], [9, 9, 9, 9, 9, 9, 9, 9])])
def test_token_log_probs_equal_a_per_position_loop(model, x, y):
    scores = token_log_probs(model, x, y)
    assert scores.shape == (len(y),)
    torch.testing.assert_close(scores, torch.tensor(per_position_loop(model, x, y)), atol=1e-5, rtol=0)


def test_sequence_log_likelihood_is_the_sum_and_probability_its_exp(model):
    x, y = [1, 2], [3, 4, 5]
    scores = token_log_probs(model, x, y)
    total = sequence_log_likelihood(model, x, y)
    assert total == pytest.approx(float(scores.sum()), abs=1e-6)
    assert total < 0
    assert sequence_probability(model, x, y) == pytest.approx(math.exp(total), rel=1e-6)
    assert perplexity(model, x, y) == pytest.approx(math.exp(-total / len(y)), rel=1e-6)


def test_chain_rule_splitting_y_anywhere_gives_the_same_total(model):
    x, y = [1, 7], [3, 8, 2, 6]
    whole = sequence_log_likelihood(model, x, y)
    split = sequence_log_likelihood(model, x, y[:2]) + sequence_log_likelihood(model, x + y[:2], y[2:])
    assert whole == pytest.approx(split, abs=1e-5)


def test_a_500_token_sequence_does_not_underflow():
    model = random_model(ModelConfig(vocab_size=300, n_layer=1, n_head=2, d_model=16, max_len=512), seed=4)
    generator = torch.Generator().manual_seed(0)
    x, y = [1], torch.randint(0, 300, (500,), generator=generator).tolist()
    scores = token_log_probs(model, x, y)
    assert torch.prod(scores.exp()) == 0.0  # multiplying probabilities underflows float32 ...
    assert math.prod(math.exp(s) for s in scores.tolist()) == 0.0  # ... and float64 too
    total = sequence_log_likelihood(model, x, y)
    assert math.isfinite(total) and total < -745  # below log of the smallest float64
    assert total == pytest.approx(float(scores.double().sum()), rel=1e-6)
    assert sequence_probability(model, x, y) == 0.0
    assert math.isfinite(perplexity(model, x, y)) and perplexity(model, x, y) > 1


def test_scoring_on_an_explicit_device(device):
    config = CONFIGS["2-layers-2-heads"]
    model = random_model(config).to(device)
    x = torch.tensor([1, 2, 3], device=device)
    scores = token_log_probs(model, x, [4, 5])  # a device tensor and a list mix
    assert scores.device.type == device
    expected = token_log_probs(random_model(config), [1, 2, 3], [4, 5])
    torch.testing.assert_close(scores.cpu(), expected, atol=1e-5, rtol=0)


def test_y_too_long_for_max_len_is_a_clear_error():
    model = random_model(CONFIGS["1-layer-1-head"])
    x, y = [1] * 10, [2] * model.max_len
    with pytest.raises(ValueError, match=r"need .* positions, more than max_len=24"):
        token_log_probs(model, x, y)
    assert token_log_probs(model, [1], [2] * model.max_len).shape == (model.max_len,)  # exactly max_len fits
