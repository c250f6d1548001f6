"""How often a draft model's greedy choice is the target's: its worth in speculative decoding.

In greedy speculative decoding a small draft model proposes the next tokens and the
target keeps a proposal exactly when it is the target's own argmax. So the share of
positions where the two argmaxes agree, along the text the target would write, is the
chance that a token drafted after the right prefix is kept: the higher, the fewer target
passes per token. (Proposals after a rejected one are discarded unseen, so the share of
all drafted tokens that are kept comes out lower.)
"""

from __future__ import annotations

import torch

from arlib import toy_world
from arlib.decoding import greedy_decode

HELDOUT_SEED = 20240601  # arlib.train's held-out seed, never used for training: its first sentences
HELDOUT_SENTENCES = 300  # about 2,000 positions: good to about 2 % either way, in a second


@torch.no_grad()
def greedy_agreement(target, draft, sequences) -> float:
    """Share of judged positions where the draft's most likely next token is the target's.

    `sequences` holds (context, continuation) pairs of token-id lists; teacher-forced on
    context + continuation, the positions judged are those that predict the continuation's
    tokens. Both models see the same ids, so one wrong guess does not spoil the next.
    """
    agree = total = 0
    for context, continuation in sequences:
        if not context or not continuation:
            raise ValueError("every (context, continuation) pair needs at least one id on each side")
        ids = list(context) + list(continuation)[:-1]  # the last token predicts nothing judged
        judged = slice(len(context) - 1, None)
        target_says = target.log_probs(ids)[judged].argmax(-1)
        draft_says = draft.log_probs(ids)[judged].argmax(-1)
        agree += int((target_says == draft_says).sum())
        total += len(continuation)
    return agree / total


def heldout_sentences(tokenizer, n=HELDOUT_SENTENCES, seed=HELDOUT_SEED) -> list[tuple[list[int], list[int]]]:
    """(<s>, the sentence's words and </s>) for `n` sentences of the toy world: every word is judged."""
    return [([tokenizer.bos_id], tokenizer.encode(s, eos=True)) for s in toy_world.generate_corpus(n, seed)]


def target_continuations(target, tokenizer, prompts=toy_world.COURSE_CONTEXTS, max_new_tokens=20):
    """(<s> prompt, the target's greedy continuation up to </s>) for each prompt.

    These are exactly the tokens greedy speculative decoding writes, so agreement on them
    is its acceptance rate position by position.
    """
    pairs = []
    for prompt in prompts:
        context = tokenizer.encode(prompt, bos=True)
        pairs.append((context, greedy_decode(target, context, max_new_tokens, eos_id=tokenizer.eos_id)))
    return pairs


def measure(target, draft, tokenizer) -> dict[str, float]:
    """The two agreement figures that `python -m arlib.train --draft-for` stores in config.json."""
    if draft.vocab_size != target.vocab_size:
        raise ValueError(f"the draft has {draft.vocab_size} tokens, the target {target.vocab_size}: "
                         "a draft must share the target's vocabulary")
    return {
        "heldout_sentences": round(greedy_agreement(target, draft, heldout_sentences(tokenizer)), 4),
        "course_prompts": round(greedy_agreement(target, draft, target_continuations(target, tokenizer)), 4),
    }
