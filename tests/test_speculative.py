"""Speculative greedy decoding writes exactly the target's greedy tokens, whatever the draft."""

import math

import pytest
import torch

from arlib import ModelConfig, ToyLM, greedy_decode, speculative_greedy
from tests.helpers import CONFIGS, random_model

CONFIG = CONFIGS["2-layers-2-heads"]


@pytest.fixture(scope="module")
def target():
    return random_model(CONFIG, seed=7)


def drafts(target):
    smaller = ModelConfig(CONFIG.vocab_size, n_layer=1, n_head=1, d_model=8, max_len=CONFIG.max_len)
    return {
        "perfect (the target itself)": target,
        "random smaller model": random_model(smaller, seed=1),
        "useless toy model": _UniformDraft(CONFIG.vocab_size),
    }


class _UniformDraft:
    """A draft with no idea: every token equally likely, so its argmax is always token 0."""

    max_len = CONFIG.max_len

    def __init__(self, vocab_size):
        self.vocab_size = vocab_size

    def next_token_log_probs(self, ids):
        return torch.full((self.vocab_size,), -math.log(self.vocab_size))


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("draft_name", ["perfect (the target itself)", "random smaller model", "useless toy model"])
def test_tokens_equal_the_targets_greedy_decoding_for_any_draft(target, draft_name, k):
    draft = drafts(target)[draft_name]
    for prompt in ([1], [4, 9, 2], list(range(10, 20))):
        expected = greedy_decode(target, prompt, 17)
        result = speculative_greedy(target, draft, prompt, 17, k)
        assert result.tokens == expected, (draft_name, k, prompt)
        assert 0 <= result.accepted <= result.drafted <= k * result.target_passes


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_a_perfect_draft_needs_one_target_pass_per_k_plus_one_tokens(target, k):
    result = speculative_greedy(target, target, [3, 1], 20, k)
    assert result.target_passes == math.ceil(20 / (k + 1))
    assert result.accepted == result.drafted  # every guess is right


def test_a_useless_draft_costs_one_target_pass_per_token(target):
    result = speculative_greedy(target, _UniformDraft(CONFIG.vocab_size), [3, 1], 12, 4)
    assert result.target_passes == 12 - result.accepted  # each pass writes its own token plus what it accepted


@pytest.mark.parametrize("k", [2, 4, 6])
def test_eos_inside_a_draft_block_ends_the_generation_there(target, k):
    greedy = greedy_decode(target, [5], 12)
    eos = greedy[2]  # the third token: inside the first block of drafts
    expected = greedy[:greedy.index(eos) + 1]
    for draft in drafts(target).values():
        result = speculative_greedy(target, draft, [5], 12, k, eos_id=eos)
        assert result.tokens == expected == greedy_decode(target, [5], 12, eos_id=eos)


@pytest.mark.parametrize("max_new_tokens", [1, 2, 3, 5, 6])
def test_the_length_limit_inside_a_draft_block_is_respected(target, max_new_tokens):
    for draft in drafts(target).values():
        result = speculative_greedy(target, draft, [8, 8], max_new_tokens, k=4)
        assert result.tokens == greedy_decode(target, [8, 8], max_new_tokens)
    perfect = speculative_greedy(target, target, [8, 8], max_new_tokens, k=4)
    assert perfect.target_passes == math.ceil(max_new_tokens / 5)


def test_the_longest_prompt_that_fits_max_len_works(target):
    prompt = [2] * (CONFIG.max_len - 9)
    assert speculative_greedy(target, target, prompt, 10, 3).tokens == greedy_decode(target, prompt, 10)


def test_a_toy_lm_can_draft_for_a_toy_sized_target():
    lm = ToyLM({"": {"a": 0.6, "b": 0.4}})
    target = random_model(ModelConfig(lm.vocab_size, n_layer=1, n_head=1, d_model=8, max_len=16))
    prompt = lm.tokenizer.encode("a b")
    assert speculative_greedy(target, lm, prompt, 6, 2).tokens == greedy_decode(target, prompt, 6)


@pytest.mark.parametrize("k, draft_vocab, error", [
    (0, None, "k must be at least 1"), (1.5, None, "k must be an int"),
    (2, 10, r"the draft's vocabulary \(10 tokens\) must be the target's"),
])
def test_bad_input_says_what_was_expected(target, k, draft_vocab, error):
    draft = _UniformDraft(draft_vocab or CONFIG.vocab_size)
    with pytest.raises((TypeError, ValueError), match=error):
        speculative_greedy(target, draft, [1], 4, k)


def test_zero_new_tokens_needs_no_pass(target):
    assert speculative_greedy(target, target, [1], 0, 3) == ([], 0, 0, 0)
