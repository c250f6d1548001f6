"""Shifting generation: each token is what the model writes from scratch on the kept window."""

import pytest
import torch

from arlib import generate_with_shifting, greedy_decode
from tests.helpers import CONFIGS, random_model

CONFIG = CONFIGS["2-layers-2-heads"]  # max_len 40


@pytest.fixture(scope="module")
def model():
    return random_model(CONFIG, seed=3)


@torch.no_grad()
def from_scratch(model, prompt, max_new_tokens, window, keep):
    """The definition, run the slow way: no cache, the whole kept window through the model every step."""
    tokens, start, new, processed = list(prompt), 0, [], 0
    shifted = True  # the first step runs everything it sees
    for _ in range(max_new_tokens):
        if len(tokens) - start > window:
            start, shifted = len(tokens) - keep, True
        seen = tokens[start:]
        processed += len(seen) if shifted else 1
        shifted = False
        token = int(model(seen)[0, -1].argmax())
        new.append(token)
        tokens.append(token)
    return new, processed


@pytest.mark.parametrize("window, keep", [(40, 20), (40, 39), (40, 40), (12, 4), (12, 1), (7, 7)])
@pytest.mark.parametrize("prompt_length", [1, 5, 30])
def test_shifting_equals_rerunning_the_kept_window_from_scratch(model, window, keep, prompt_length):
    prompt = torch.randint(0, CONFIG.vocab_size, (prompt_length,), generator=torch.Generator().manual_seed(1)).tolist()
    result = generate_with_shifting(model, prompt, 100, window, keep)  # 100 > max_len: it must shift
    expected_tokens, expected_positions = from_scratch(model, prompt, 100, window, keep)
    assert result.tokens == expected_tokens
    assert result.positions_processed == expected_positions


def test_while_the_window_has_room_it_is_plain_cached_greedy(model):
    result = generate_with_shifting(model, [4, 2], 20, window=CONFIG.max_len, keep=10)
    assert result.tokens == greedy_decode(model, [4, 2], 20)
    assert result.positions_processed == 2 + 19  # the prompt once, then one position per fed-back token


@pytest.mark.parametrize("window, keep", [(8, 4), (16, 8), (32, 16), (8, 7), (16, 15), (32, 31), (32, 8)])
def test_each_shift_recomputes_keep_positions_once_per_cycle(model, window, keep):
    """A cycle writes window - keep + 1 tokens: window - keep ordinary steps, then one that overflows the
    window and re-runs the newest keep tokens. So about window / (window - keep + 1) positions per token."""
    n = 600  # long enough that the first, shift-free window hardly counts
    per_token = generate_with_shifting(model, [1], n, window, keep).positions_processed / n
    assert per_token == pytest.approx(window / (window - keep + 1), rel=0.1)


def test_eos_stops_it(model):
    tokens = generate_with_shifting(model, [1], 60, 10, 5).tokens
    eos = tokens[25]
    assert generate_with_shifting(model, [1], 60, 10, 5, eos_id=eos).tokens == tokens[:tokens.index(eos) + 1]


@pytest.mark.parametrize("window, keep, error", [
    (41, 10, "window <= max_len=40"), (10, 11, "keep <= window"), (10, 0, "1 <= keep"),
    (10, 2.5, "keep must be an int"), (-1, 1, "window must be >= 0"),
])
def test_bad_windows_say_what_was_expected(model, window, keep, error):
    with pytest.raises((TypeError, ValueError), match=error):
        generate_with_shifting(model, [1], 5, window, keep)
