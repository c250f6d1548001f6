"""Sampling: choosing the next token by a random draw from Pr(. | context) instead of argmax.

Temperature reshapes the distribution (softmax of logits / T: below 1 sharper, above 1
flatter, 0 is argmax); top-k and top-p cut its tail before the draw. `sample` runs the
same generation loop as greedy decoding (`decoding.generation_steps`); only the choice of
the next token differs. The same `torch.Generator` state always draws the same token, so
a seeded run can be repeated exactly, with the cache or without it.
"""

from __future__ import annotations

import math
import numbers

import torch

from arlib.decoding import argmax, check_generation_args, generation_steps, new_context
from arlib.guard import GREEDY, refuse_if_disabled


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None) -> int:
    """Draw the next token from softmax(logits / temperature), cut by top-k, then top-p.

    The steps, in this order (a reimplementation that follows them draws the same token
    from the same generator state):
    1. temperature 0, or top_k 1, is argmax: no random number is drawn;
    2. probs = softmax(logits / temperature), in float64;
    3. top-k keeps every token at least as probable as the k-th most probable one;
    4. top-p ranks the kept tokens by probability and keeps each one whose more probable
       predecessors hold less than p of their mass (the smallest set that reaches p), plus
       any token exactly as probable as the last one kept: ties are kept, the top token always;
    5. one draw, `torch.multinomial(probs, 1, generator=generator)`, from what is left
       (multinomial renormalises).
    """
    refuse_if_disabled("sample_next")
    logits = _check_logits(logits)
    temperature, top_k, top_p = check_sampling_args(temperature, top_k, top_p)
    if temperature == 0 or top_k == 1:
        return argmax(logits)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    if top_k is not None:
        probs = keep_top_k(probs, top_k)
    if top_p is not None:
        probs = keep_top_p(probs / probs.sum(), top_p)
    return int(torch.multinomial(probs, 1, generator=generator))


def keep_top_k(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Zero every probability below the k-th largest (ties with it stay)."""
    refuse_if_disabled("sample_next")  # a step of sample_next: where that is the exercise, this is too
    kth_largest = probs.topk(min(k, probs.numel())).values[-1]
    return torch.where(probs >= kth_largest, probs, 0.0)


def keep_top_p(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Zero every probability outside the smallest top set whose mass reaches p (ties with its last stay)."""
    refuse_if_disabled("sample_next")
    ranked = probs.sort(descending=True).values
    mass_before = ranked.cumsum(0) - ranked  # mass of the tokens more probable than each one
    smallest_kept = ranked[mass_before < p].min()  # the top token always qualifies: 0 < p
    return torch.where(probs >= smallest_kept, probs, 0.0)


@torch.inference_mode()
def sample(model, prompt_ids, max_new_tokens: int, eos_id=None, temperature=1.0, top_k=None, top_p=None,
           generator=None, use_cache=True) -> list[int]:
    """Generate up to `max_new_tokens` tokens by sampling each from the model; stop after `eos_id`.

    Returns the new tokens. `use_cache=False` works with any model that has
    `next_token_log_probs` (`ToyLM` too) and draws the same tokens as the cached run.
    """
    refuse_if_disabled("sample", *GREEDY)
    prompt, max_new_tokens = check_generation_args(model, prompt_ids, max_new_tokens, eos_id)
    temperature, top_k, top_p = check_sampling_args(temperature, top_k, top_p)

    def choose(log_probs):
        return sample_next(log_probs, temperature, top_k, top_p, generator)

    context = new_context(model, prompt.tolist(), use_cache)
    return [token for token, _ in generation_steps(context, max_new_tokens, choose, eos_id)]


def check_sampling_args(temperature, top_k, top_p):
    """The three settings, checked, with messages that say what was expected."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0 (0 means argmax), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"top_k must be None or a whole number >= 1 (how many tokens to keep), got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, numbers.Real)
                              or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be None or a probability in (0, 1] (the mass to keep), got {top_p!r}")
    return float(temperature), None if top_k is None else int(top_k), None if top_p is None else float(top_p)


def _check_logits(logits) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point:
        kind = logits.dtype if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a float tensor of shape (vocab,), got {kind}")
    if logits.dim() != 1 or logits.numel() == 0:
        raise ValueError(f"logits must have shape (vocab,): one score per token, got shape {tuple(logits.shape)}")
    if torch.isnan(logits).any() or (logits == math.inf).any():
        raise ValueError("logits contain NaN or +inf: expected finite scores (-inf marks an impossible token)")
    if (logits == -math.inf).all():
        raise ValueError("every logit is -inf: no token is possible, so there is nothing to sample")
    return logits
