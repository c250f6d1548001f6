"""Scoring a known continuation y of a context x by its log-likelihood.

log Pr(y | x) = sum_i log Pr(y_i | x, y_<i). With teacher forcing every conditional comes
out of one forward pass over x followed by y (minus its last token): the logits at
position t predict the token at t + 1. Everything stays in log space, where a sum of
500 terms is fine and a product of 500 probabilities underflows to zero.
"""

from __future__ import annotations

import math

import torch

from arlib.checks import check_token_ids
from arlib.guard import refuse_if_disabled


def token_log_probs(model, x_ids, y_ids) -> torch.Tensor:
    """(len(y),): log Pr(y_i | x, y_<i) for each token of y, from one forward pass."""
    refuse_if_disabled("token_log_probs")
    x = check_token_ids(x_ids, model.vocab_size, name="x_ids",
                        empty_hint=" (the first token of y needs a context: start x with <s>)")
    y = check_token_ids(y_ids, model.vocab_size, name="y_ids", empty_hint=" to score")
    sequence = torch.cat([x, y.to(x.device)])
    if len(sequence) - 1 > model.max_len:
        raise ValueError(
            f"x ({len(x)} tokens) and y ({len(y)} tokens) need {len(sequence) - 1} positions, "
            f"more than max_len={model.max_len}"
        )
    log_probs = model.log_probs(sequence[:-1])  # row t predicts sequence[t + 1]
    predicts_y = log_probs[len(x) - 1 :]  # the rows that predict y_1 .. y_n
    return predicts_y.gather(1, y.to(predicts_y.device).unsqueeze(1)).squeeze(1)


def sequence_log_likelihood(model, x_ids, y_ids) -> float:
    """log Pr(y | x), the sum of the per-token log-probabilities."""
    refuse_if_disabled("sequence_log_likelihood")
    # Summed in float64: a float32 sum of hundreds of terms near -10 loses the fourth decimal.
    return float(token_log_probs(model, x_ids, y_ids).double().sum())


def sequence_probability(model, x_ids, y_ids) -> float:
    """Pr(y | x). Underflows to 0.0 for long y: compare log-likelihoods instead."""
    refuse_if_disabled("sequence_probability")
    return math.exp(sequence_log_likelihood(model, x_ids, y_ids))


def perplexity(model, x_ids, y_ids) -> float:
    """exp of the mean negative log-likelihood per token of y."""
    refuse_if_disabled("perplexity")
    return math.exp(-float(token_log_probs(model, x_ids, y_ids).double().mean()))
