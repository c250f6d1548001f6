"""Beam search: a bounded search for a more probable continuation than greedy decoding finds.

Greedy decoding keeps one candidate and exhaustive search keeps all |V|^n; beam search
keeps the `beam_width` best partial continuations at every step. Width 1 is greedy
decoding; a width as large as the number of candidates is exhaustive search.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from arlib.checks import check_count
from arlib.decoding import check_generation_args, new_context
from arlib.guard import GREEDY, refuse_if_disabled


class Hypothesis(NamedTuple):
    tokens: tuple[int, ...]  # the new tokens, after the prompt
    log_prob: float  # log Pr(tokens | prompt): the sum of every step's log-prob
    finished: bool = False  # ends with the end-of-sequence token


def score(hypothesis: Hypothesis, length_penalty: float = 0.0) -> float:
    """log_prob / length ** length_penalty: 0 ranks by probability alone, which favours short
    hypotheses (every token adds a negative log-prob); 1 ranks by log-prob per token."""
    return hypothesis.log_prob / len(hypothesis.tokens) ** length_penalty


@torch.inference_mode()
def beam_search(model, prompt_ids, beam_width: int, max_new_tokens: int, eos_id=None,
                length_penalty: float = 0.0) -> list[Hypothesis]:
    """The best continuations found with `beam_width` beams, best first (at most beam_width).

    Each step extends every live beam by every possible token, ranks all the candidates by
    `score` (ties: smaller token ids first) and keeps the best `beam_width`. A kept
    candidate that ends with `eos_id` is finished: it is kept aside and no longer extended,
    so fewer beams stay live. Works with a `DecoderLM` (one KV cache per beam, copied when
    a beam forks) and with any model that has `next_token_log_probs` (`ToyLM`).
    """
    refuse_if_disabled("beam_search", *GREEDY)
    prompt, max_new_tokens = check_generation_args(model, prompt_ids, max_new_tokens, eos_id)
    beam_width = check_count(beam_width, "beam_width")
    if beam_width < 1:
        raise ValueError("beam_width must be at least 1 (1 is greedy decoding)")
    if not isinstance(length_penalty, (int, float)) or isinstance(length_penalty, bool):
        raise ValueError(f"length_penalty must be a number (0: rank by log-prob), got {length_penalty!r}")
    if max_new_tokens == 0:
        return [Hypothesis((), 0.0)]
    live = [(Hypothesis((), 0.0), new_context(model, prompt.tolist(), use_cache=hasattr(model, "new_cache")))]
    finished = []
    for _ in range(max_new_tokens):
        kept = _best_extensions(live, beam_width, eos_id, length_penalty)
        finished += [hypothesis for hypothesis, _ in kept if hypothesis.finished]
        live = [(hypothesis, _child(parent, hypothesis.tokens[-1])) for hypothesis, parent in kept
                if not hypothesis.finished]
        if not live:
            break
    ranked = sorted(finished + [hypothesis for hypothesis, _ in live], key=lambda h: _rank(h, length_penalty))
    return ranked[:beam_width]


def _best_extensions(live, beam_width, eos_id, length_penalty):
    """The `beam_width` best one-token extensions of the live beams, each with its parent's context."""
    candidates = []
    for hypothesis, context in live:
        for token, log_prob in enumerate(context.next_log_probs().tolist()):
            if log_prob == -math.inf:  # an impossible token (a ToyLM's table leaves it out)
                continue
            extended = Hypothesis(hypothesis.tokens + (token,), hypothesis.log_prob + log_prob, token == eos_id)
            candidates.append((extended, context))
    candidates.sort(key=lambda candidate: _rank(candidate[0], length_penalty))
    return candidates[:beam_width]


def _child(parent, token):
    """A parent may have several children: each gets its own copy of the context (and cache)."""
    child = parent.fork()
    child.append(token)
    return child


def _rank(hypothesis, length_penalty):
    return -score(hypothesis, length_penalty), hypothesis.tokens
