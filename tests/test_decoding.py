"""Greedy decoding: cached equals uncached, the two phases equal the full pass, stopping rules, the trace."""

import math

import pytest
import torch

from arlib import TraceStep, decode_step, generation_trace, greedy_decode, prefill
from tests.helpers import CONFIGS, random_model


def prompt_of(length, vocab_size, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (length,), generator=generator).tolist()


def prompt_lengths(max_len, new_tokens):
    """1, 2, a few in between, and the longest prompt that leaves room for `new_tokens`."""
    longest = max_len - new_tokens + 1  # the last new token is never fed back
    return sorted({1, 2, longest // 2, longest - 1, longest})


@pytest.mark.parametrize("name", list(CONFIGS))
def test_cached_equals_uncached_for_prompts_up_to_max_len(name):
    config = CONFIGS[name]
    model = random_model(config, seed=1)
    new_tokens = 8
    for length in prompt_lengths(config.max_len, new_tokens):
        prompt = prompt_of(length, config.vocab_size, seed=length)
        cached = greedy_decode(model, prompt, new_tokens, use_cache=True)
        uncached = greedy_decode(model, prompt, new_tokens, use_cache=False)
        assert cached == uncached, f"prompt length {length}"
        assert len(cached) == new_tokens  # no eos_id: the length limit stops it
        assert all(isinstance(t, int) and 0 <= t < config.vocab_size for t in cached)


def test_cached_equals_uncached_over_the_whole_context(model):
    """From a 1-token prompt all the way to max_len positions."""
    new_tokens = model.max_len  # the last one is never fed back, so this fills max_len exactly
    cached = greedy_decode(model, [1], new_tokens, use_cache=True)
    assert cached == greedy_decode(model, [1], new_tokens, use_cache=False)
    assert len(cached) == new_tokens


def test_greedy_picks_the_argmax_given_the_whole_context(model):
    prompt = [3, 1, 4, 1, 5]
    tokens = greedy_decode(model, prompt, 4)
    context = list(prompt)
    for token in tokens:
        assert token == int(model.next_token_log_probs(context).argmax())
        context.append(token)


@pytest.mark.parametrize("use_cache", [True, False])
def test_stops_at_eos_and_includes_it(model, use_cache):
    prompt = prompt_of(3, model.vocab_size, seed=5)
    free_run = greedy_decode(model, prompt, 12, use_cache=use_cache)
    eos = free_run[4]  # a token the model is known to produce; it may also appear earlier
    first = free_run.index(eos)
    stopped = greedy_decode(model, prompt, 12, eos_id=eos, use_cache=use_cache)
    assert stopped == free_run[: first + 1]
    assert stopped[-1] == eos


@pytest.mark.parametrize("use_cache", [True, False])
def test_length_limit_and_zero_new_tokens(model, use_cache):
    never = next(t for t in range(model.vocab_size) if t not in greedy_decode(model, [2], 6))
    assert len(greedy_decode(model, [2], 6, eos_id=never, use_cache=use_cache)) == 6
    assert greedy_decode(model, [2], 0, use_cache=use_cache) == []
    assert greedy_decode(model, [2], 0, eos_id=never, use_cache=use_cache) == []


def test_eos_as_the_very_first_token_stops_after_one(model):
    first = greedy_decode(model, [7], 1)[0]
    assert greedy_decode(model, [7], 10, eos_id=first) == [first]
    assert greedy_decode(model, [7], 10, eos_id=first, use_cache=False) == [first]


def test_a_prompt_of_exactly_max_len_gets_one_new_token(model):
    prompt = prompt_of(model.max_len, model.vocab_size)
    assert greedy_decode(model, prompt, 1) == greedy_decode(model, prompt, 1, use_cache=False)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(model, prompt, 2)


@torch.no_grad()
def test_prefill_and_decode_steps_equal_the_full_forward(model):
    sequence = prompt_of(model.max_len, model.vocab_size, seed=9)
    full = model(torch.tensor([sequence]))[0]
    for prompt_length in (1, 5):
        cache = model.new_cache()
        logits = prefill(model, sequence[:prompt_length], cache)
        assert logits.shape == (model.vocab_size,)
        torch.testing.assert_close(logits, full[prompt_length - 1], atol=1e-5, rtol=0)
        assert len(cache) == prompt_length
        for position in range(prompt_length, len(sequence)):
            logits = decode_step(model, sequence[position], cache)
            torch.testing.assert_close(logits, full[position], atol=1e-5, rtol=0)
            assert len(cache) == position + 1


def test_prefill_and_decode_step_build_no_autograd_graph(model):
    cache = model.new_cache()
    logits = prefill(model, [1, 2], cache)
    assert not logits.requires_grad
    assert not decode_step(model, 3, cache).requires_grad
    assert not cache.keys(0).requires_grad


def test_decode_step_accepts_a_tensor_token(model):
    cache_a, cache_b = model.new_cache(), model.new_cache()
    prefill(model, [1, 2], cache_a)
    prefill(model, [1, 2], cache_b)
    torch.testing.assert_close(decode_step(model, torch.tensor(5), cache_a), decode_step(model, 5, cache_b))


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_decode_on_an_explicit_device(device, use_cache):
    config = CONFIGS["3-layers-4-heads"]
    model = random_model(config, seed=3).to(device)
    prompt = torch.tensor(prompt_of(6, config.vocab_size), device=device)
    expected = greedy_decode(random_model(config, seed=3), prompt.cpu().tolist(), 10)
    assert greedy_decode(model, prompt, 10, use_cache=use_cache) == expected
    cache = model.new_cache()
    logits = prefill(model, prompt, cache)
    assert logits.device.type == device
    assert decode_step(model, int(logits.argmax()), cache).device.type == device


def test_use_cache_with_a_model_that_has_no_cache_is_a_clear_error():
    from arlib import ToyLM

    toy = ToyLM({"": {"a": 1.0}})
    assert greedy_decode(toy, [1], 2, use_cache=False) == [toy.tokenizer.token_to_id["a"]] * 2
    with pytest.raises(TypeError, match="use_cache=False"):
        greedy_decode(toy, [1], 2, use_cache=True)


def test_generation_trace_follows_greedy_decoding(model):
    prompt = prompt_of(4, model.vocab_size, seed=11)
    trace = generation_trace(model, prompt, 5)
    assert [step.token for step in trace] == greedy_decode(model, prompt, 5)
    total = 0.0
    for i, step in enumerate(trace):
        assert isinstance(step, TraceStep)
        assert list(step.context) == prompt + [s.token for s in trace[:i]]
        log_prob = float(model.next_token_log_probs(list(step.context))[step.token])
        total += log_prob
        assert step.prob == pytest.approx(math.exp(log_prob), rel=1e-6)
        assert step.cumulative_log_prob == pytest.approx(total, rel=1e-6)
        assert step.cumulative_prob == pytest.approx(math.exp(total), rel=1e-6)
    cumulative = [step.cumulative_prob for step in trace]
    assert cumulative == sorted(cumulative, reverse=True)  # a running product of probabilities only shrinks


def test_generation_trace_stops_at_eos(model):
    free_run = greedy_decode(model, [4], 6)
    trace = generation_trace(model, [4], 6, eos_id=free_run[2])
    assert [s.token for s in trace] == free_run[: free_run.index(free_run[2]) + 1]
    assert generation_trace(model, [4], 0) == []
