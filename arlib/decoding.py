"""Greedy decoding, one token at a time, with or without the key-value cache.

Without the cache every step runs the whole sequence so far through the model: the
plain autoregressive flow. With it, `prefill` runs the prompt once and each
`decode_step` runs one new position. Both pick argmax_y Pr(y | context) and so
produce the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from arlib.checks import check_count, check_token_ids
from arlib.guard import refuse_if_disabled


@torch.no_grad()
def prefill(model, prompt_ids, cache) -> torch.Tensor:
    """Run the whole prompt once, filling `cache`; return the logits (vocab,) for the next token."""
    refuse_if_disabled("prefill")
    return model(prompt_ids, cache, last_only=True)[0, -1]


@torch.no_grad()
def decode_step(model, token_id: int, cache) -> torch.Tensor:
    """Feed one new token through the model, appending its keys and values; return next logits."""
    refuse_if_disabled("decode_step")
    ids = torch.tensor([[token_id]], device=model.device)
    return model(ids, cache)[0, -1]


@torch.inference_mode()  # the cache and logits never leave this function: no autograd bookkeeping at all
def greedy_decode(model, prompt_ids, max_new_tokens: int, eos_id=None, use_cache=True) -> list[int]:
    """Generate up to `max_new_tokens` tokens after `prompt_ids`, stopping after `eos_id`.

    Returns the new tokens only (the end-of-sequence token included when reached).
    `use_cache=True` needs a `DecoderLM`; `use_cache=False` works with any model that has
    `next_token_log_probs`, `ToyLM` included.
    """
    refuse_if_disabled("greedy_decode")
    prompt, max_new_tokens = _check_generation_args(model, prompt_ids, max_new_tokens, eos_id)
    if max_new_tokens == 0:
        return []
    if use_cache:
        if not hasattr(model, "new_cache"):
            raise TypeError(
                f"use_cache=True needs a model with a key-value cache (a DecoderLM), "
                f"got {type(model).__name__}; pass use_cache=False"
            )
        return _greedy_cached(model, prompt, max_new_tokens, eos_id)
    return _greedy_uncached(model, prompt, max_new_tokens, eos_id)


def _greedy_uncached(model, prompt, max_new_tokens, eos_id):
    refuse_if_disabled("greedy_decode")
    context = prompt.tolist()
    new_tokens = []
    for _ in range(max_new_tokens):
        token = int(model.next_token_log_probs(context).argmax())  # the whole context, every step
        new_tokens.append(token)
        context.append(token)
        if token == eos_id:
            break
    return new_tokens


def _greedy_cached(model, prompt, max_new_tokens, eos_id):
    refuse_if_disabled("greedy_decode")
    cache = model.new_cache()
    logits = prefill(model, prompt, cache)
    new_tokens = []
    while True:
        token = int(logits.argmax())
        new_tokens.append(token)
        if token == eos_id or len(new_tokens) == max_new_tokens:
            return new_tokens
        logits = decode_step(model, token, cache)


@dataclass(frozen=True)
class TraceStep:
    """One row of the step-by-step generation table."""

    context: tuple[int, ...]  # what the model was given
    token: int  # argmax of Pr(. | context)
    prob: float  # Pr(token | context)
    cumulative_prob: float  # product of every step's prob so far
    cumulative_log_prob: float  # sum of every step's log-prob so far


@torch.no_grad()
def generation_trace(model, prompt_ids, max_new_tokens: int, eos_id=None) -> list[TraceStep]:
    """Greedy decoding that records each step: context, chosen token, and the running product.

    The cumulative probability is that of the generated tokens given the prompt, so it
    starts at 1 before the first step.
    """
    refuse_if_disabled("generation_trace")
    prompt, max_new_tokens = _check_generation_args(model, prompt_ids, max_new_tokens, eos_id)
    context, steps, total = prompt.tolist(), [], 0.0
    for _ in range(max_new_tokens):
        log_probs = model.next_token_log_probs(context)
        token = int(log_probs.argmax())
        log_prob = float(log_probs[token])
        total += log_prob
        steps.append(TraceStep(tuple(context), token, math.exp(log_prob), math.exp(total), total))
        context.append(token)
        if token == eos_id:
            break
    return steps


def _check_generation_args(model, prompt_ids, max_new_tokens, eos_id):
    prompt = check_token_ids(prompt_ids, model.vocab_size, name="prompt_ids",
                             empty_hint=" to condition on (start the prompt with <s>)")
    max_new_tokens = check_count(max_new_tokens, "max_new_tokens")
    if eos_id is not None:
        check_token_ids([eos_id], model.vocab_size, name="eos_id")
    # The last new token is never fed back, so the model sees at most n + m - 1 positions.
    needed = len(prompt) + max(max_new_tokens - 1, 0)
    if needed > model.max_len:
        raise ValueError(
            f"a prompt of {len(prompt)} tokens plus max_new_tokens={max_new_tokens} needs {needed} "
            f"positions, more than max_len={model.max_len}; shorten the prompt or ask for fewer tokens"
        )
    return prompt, max_new_tokens
