"""Speculative greedy decoding: a small draft model proposes, the target model verifies.

A decoding step of the target costs about as much for k + 1 new positions as for one
(it streams the same weights once). So a cheap draft model guesses k tokens greedily, and
the target runs them all in one cached pass: it accepts the longest prefix on which its
own argmax agrees, then adds its own token at the first disagreement. Every token written
is the target's argmax after the tokens before it, so the output is exactly the target's
greedy decoding, whatever the draft; a good draft only makes it take fewer target passes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from arlib.checks import check_count
from arlib.decoding import check_generation_args, greedy_decode
from arlib.guard import GREEDY, refuse_if_disabled


class Speculation(NamedTuple):
    tokens: list[int]  # the new tokens: the target's greedy decoding
    target_passes: int  # forward passes of the target model
    drafted: int  # tokens the draft proposed
    accepted: int  # of those, tokens the target accepted (acceptance rate: accepted / drafted)


@torch.inference_mode()
def speculative_greedy(target, draft, prompt_ids, max_new_tokens: int, k: int, eos_id=None) -> Speculation:
    """The target's greedy continuation of `prompt_ids`, verified in blocks of up to `k` drafted tokens.

    `target` is a `DecoderLM` (its KV cache holds the verified tokens); `draft` is any model
    with `next_token_log_probs` and the target's vocabulary.
    """
    refuse_if_disabled("speculative_greedy", *GREEDY)
    prompt, max_new_tokens = check_generation_args(target, prompt_ids, max_new_tokens, eos_id)
    k = check_count(k, "k")
    if k < 1:
        raise ValueError("k must be at least 1: the number of tokens the draft proposes per target pass")
    if draft.vocab_size != target.vocab_size:
        raise ValueError(f"the draft's vocabulary ({draft.vocab_size} tokens) must be the target's "
                         f"({target.vocab_size}): they must read and write the same token ids")
    context, new = prompt.tolist(), []
    cache = target.new_cache()  # holds every token of `context` but the last one, once the first pass ran
    passes = drafted = accepted = 0
    while len(new) < max_new_tokens:
        proposal = _propose(draft, context, min(k, max_new_tokens - len(new) - 1), eos_id)
        choices = _verify(target, cache, context[len(cache):] + proposal, len(proposal))
        agreed = _agreeing_prefix(proposal, choices)
        passes, drafted, accepted = passes + 1, drafted + len(proposal), accepted + agreed
        cache.crop(len(context) + agreed)  # forget the rejected drafts' keys and values
        for token in proposal[:agreed] + [choices[agreed]]:  # the target's own token comes last
            new.append(token)
            context.append(token)
            if token == eos_id:
                return Speculation(new, passes, drafted, accepted)
    return Speculation(new, passes, drafted, accepted)


def _propose(draft, context, n, eos_id) -> list[int]:
    """The draft's greedy guess of the next n tokens (fewer if it writes eos_id)."""
    if n == 0:  # one token left to write: the target writes it alone
        return []
    return greedy_decode(draft, context, n, eos_id, use_cache=hasattr(draft, "new_cache"))


def _verify(target, cache, unseen, n_drafted) -> list[int]:
    """One target pass over the unseen tokens (the last verified one, then the drafts).

    Returns the target's argmax after each of the last n_drafted + 1 positions: what it
    would write in place of each drafted token, and after the last one.
    """
    logits = target(torch.tensor([unseen], device=target.device), cache)[0]  # (len(unseen), vocab)
    return logits[-(n_drafted + 1):].argmax(dim=-1).tolist()


def _agreeing_prefix(proposal, choices) -> int:
    """How many drafted tokens, from the first, equal the target's own choice."""
    agreed = 0
    while agreed < len(proposal) and proposal[agreed] == choices[agreed]:
        agreed += 1
    return agreed
