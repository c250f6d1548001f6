"""The generation loop, and greedy decoding on it, with or without the key-value cache.

Every decoder in arlib runs the same loop (`generation_steps`): ask the model for
Pr(. | context), choose a token, append it, repeat until end-of-sequence or the length
limit. Only two things vary: how the next token is chosen (argmax here, a random draw in
`sampling.py`) and how the context reaches the model:

- `RecomputedContext` runs the whole sequence so far through the model at every step:
  the plain autoregressive flow, and it works with any model (`ToyLM` too);
- `CachedContext` runs the prompt once (`prefill`), then one new position a step
  (`decode_step`), keeping every earlier position's keys and values in a `KVCache`.

Both give the same distributions, so greedy decoding writes the same tokens either way.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from arlib.checks import check_count, check_token_ids
from arlib.guard import GREEDY, refuse_if_disabled


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


# --- how the context reaches the model ----------------------------------------------------

class RecomputedContext:
    """The tokens so far; every step runs all of them through the model again."""

    def __init__(self, model, prompt_ids):
        self.model, self.tokens = model, list(prompt_ids)

    def next_log_probs(self) -> torch.Tensor:
        """(vocab,): log Pr(next token | every token so far)."""
        return self.model.next_token_log_probs(self.tokens)

    def append(self, token: int) -> None:
        self.tokens.append(token)

    def fork(self) -> RecomputedContext:
        return RecomputedContext(self.model, self.tokens)


class CachedContext:
    """The tokens so far and a KV cache of them: each step runs only the tokens not yet seen.

    Appending does not run the model; the next call to `next_log_probs` does. So the last
    token of a generation, whose successor nobody asks for, is never run at all.
    """

    def __init__(self, model, prompt_ids):
        self.model, self.tokens, self.cache = model, list(prompt_ids), model.new_cache()
        self.unseen = list(self.tokens)  # not yet run through the model
        self.positions_processed = 0  # how many positions went through the model, in total
        self._log_probs = None  # for the context as it was when the model last ran

    def next_log_probs(self) -> torch.Tensor:
        if self.unseen:
            self._log_probs = F.log_softmax(self._run(self.unseen).float(), dim=-1)
            self.positions_processed += len(self.unseen)
            self.unseen = []
        return self._log_probs

    def _run(self, tokens) -> torch.Tensor:
        if len(self.cache) == 0:
            return prefill(self.model, tokens, self.cache)
        for token in tokens:  # one token, unless several were appended in a row
            logits = decode_step(self.model, token, self.cache)
        return logits

    def append(self, token: int) -> None:
        self.tokens.append(token)
        self.unseen.append(token)

    def fork(self) -> CachedContext:
        twin = CachedContext.__new__(CachedContext)
        twin.__dict__.update(self.__dict__, tokens=list(self.tokens), unseen=list(self.unseen),
                             cache=copy.deepcopy(self.cache))
        return twin


def new_context(model, prompt_ids, use_cache: bool):
    if use_cache and not hasattr(model, "new_cache"):
        raise TypeError(f"use_cache=True needs a model with a key-value cache (a DecoderLM), "
                        f"got {type(model).__name__}; pass use_cache=False")
    return CachedContext(model, prompt_ids) if use_cache else RecomputedContext(model, prompt_ids)


# --- the loop -------------------------------------------------------------------------

def generation_steps(context, max_new_tokens: int, choose, eos_id=None):
    """The one generation loop: yields (token, log_probs it was chosen from), one step at a time.

    `choose` maps the next-token log-probs to a token id. While a step is being yielded,
    `context.tokens` is still the context that token was chosen after. Stops after
    `eos_id` or after `max_new_tokens` tokens.
    """
    refuse_if_disabled("generation_steps", *GREEDY)
    for _ in range(max_new_tokens):
        log_probs = context.next_log_probs()
        token = choose(log_probs)
        yield token, log_probs
        context.append(token)
        if token == eos_id:
            return


def argmax(log_probs: torch.Tensor) -> int:
    """The greedy decision rule: the most probable token (the lowest id among exact ties)."""
    return int(log_probs.argmax())


@torch.inference_mode()  # the cache and logits never leave this function: no autograd bookkeeping at all
def greedy_decode(model, prompt_ids, max_new_tokens: int, eos_id=None, use_cache=True) -> list[int]:
    """Generate up to `max_new_tokens` tokens after `prompt_ids`, stopping after `eos_id`.

    Returns the new tokens only (the end-of-sequence token included when reached).
    `use_cache=True` needs a `DecoderLM`; `use_cache=False` works with any model that has
    `next_token_log_probs`, `ToyLM` included.
    """
    refuse_if_disabled("greedy_decode")
    prompt, max_new_tokens = check_generation_args(model, prompt_ids, max_new_tokens, eos_id)
    context = new_context(model, prompt.tolist(), use_cache)
    return [token for token, _ in generation_steps(context, max_new_tokens, argmax, eos_id)]


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
    prompt, max_new_tokens = check_generation_args(model, prompt_ids, max_new_tokens, eos_id)
    context, steps, total = RecomputedContext(model, prompt.tolist()), [], 0.0
    for token, log_probs in generation_steps(context, max_new_tokens, argmax, eos_id):
        log_prob = float(log_probs[token])
        total += log_prob
        steps.append(TraceStep(tuple(context.tokens), token, math.exp(log_prob), math.exp(total), total))
    return steps


def check_generation_args(model, prompt_ids, max_new_tokens, eos_id, within_max_len=True):
    """(prompt as a tensor, max_new_tokens), or a ValueError that says what was wrong.

    The model sees at most the prompt plus every new token but the last (the last is never
    fed back), so with `within_max_len` that many positions must fit in the model's max_len.
    """
    prompt = check_token_ids(prompt_ids, model.vocab_size, name="prompt_ids",
                             empty_hint=" to condition on (start the prompt with <s>)")
    max_new_tokens = check_count(max_new_tokens, "max_new_tokens")
    if eos_id is not None:
        check_token_ids([eos_id], model.vocab_size, name="eos_id")
    if within_max_len:
        needed = len(prompt) + max(max_new_tokens - 1, 0)
        if needed > model.max_len:
            raise ValueError(
                f"a prompt of {len(prompt)} tokens plus max_new_tokens={max_new_tokens} needs {needed} "
                f"positions, more than max_len={model.max_len}; shorten the prompt or ask for fewer tokens"
            )
    return prompt, max_new_tokens
