"""Generating past the context window by shifting it: keep the newest tokens, recompute them.

A model with learned absolute positions has no embedding beyond `max_len`, so a long
generation must drop its oldest tokens. The cache cannot simply slide: each cached key
and value was computed with its token at its old position, and the kept tokens now sit
at positions 0, 1, ... So when the window is full, the newest `keep` tokens are prefilled
again into a fresh cache; every step in between is an ordinary cached step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from arlib.checks import check_count
from arlib.decoding import CachedContext, argmax, check_generation_args, generation_steps
from arlib.guard import GREEDY, refuse_if_disabled


class Shifted(NamedTuple):
    tokens: list[int]  # the new tokens
    positions_processed: int  # positions that went through the model, prefills included


class ShiftingContext(CachedContext):
    """A cached context that the model sees through a window of at most `window` tokens.

    `tokens[start:]` is what the model sees. When it would grow past `window`, `start`
    jumps so that only the newest `keep` remain, and they are run again from position 0.
    """

    def __init__(self, model, prompt_ids, window: int, keep: int):
        refuse_if_disabled("generate_with_shifting")
        super().__init__(model, prompt_ids)
        self.window, self.keep, self.start = window, keep, 0
        self._shift_if_full()

    def append(self, token: int) -> None:
        super().append(token)
        self._shift_if_full()

    def _shift_if_full(self):
        if len(self.tokens) - self.start > self.window:
            self.start = len(self.tokens) - self.keep
            self.cache = self.model.new_cache()  # the old keys were computed at other positions
            self.unseen = self.tokens[self.start:]


@torch.inference_mode()
def generate_with_shifting(model, prompt_ids, max_new_tokens: int, window: int, keep: int, eos_id=None) -> Shifted:
    """Greedy decoding that may run past the model's max_len, seeing at most `window` tokens at a time.

    Every token is the argmax of the model run from scratch on the newest tokens of the
    context (from `start`, as `ShiftingContext` moves it).
    """
    refuse_if_disabled("generate_with_shifting", *GREEDY)
    prompt, max_new_tokens = check_generation_args(model, prompt_ids, max_new_tokens, eos_id, within_max_len=False)
    window, keep = check_count(window, "window"), check_count(keep, "keep")
    if not 1 <= keep <= window <= model.max_len:
        raise ValueError(f"expected 1 <= keep <= window <= max_len={model.max_len}, got keep={keep}, "
                         f"window={window}: the window must fit the model, and keep tokens must fit the window")
    context = ShiftingContext(model, prompt.tolist(), window, keep)
    tokens = [token for token, _ in generation_steps(context, max_new_tokens, argmax, eos_id)]
    return Shifted(tokens, context.positions_processed)
