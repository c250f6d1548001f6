"""A switch that turns arlib's reference implementations off, from inside them.

An exercise asks a student to write, say, greedy decoding, and a hidden test checks the
result against the reference. A student who only calls `arlib.greedy_decode` would pass,
so the hidden test runs the student's function inside `reference_disabled("greedy_decode")`.

Every reference function starts with `refuse_if_disabled("<its name>")`. The check sits in
the function's own body, not in the name it is looked up under, so however the reference is
reached (an alias, a default argument, a closure, `functools.partial`, a copy of the
function, a subclass, a reloaded module) it refuses while switched off, and the call is
counted even when the student's code catches the error.
"""

from __future__ import annotations

import contextlib

# The names that can be switched off: each is checked inside the function it names (private
# helpers check the public name they serve). tests/test_guard.py calls every one of them.
GUARDED = frozenset({
    "greedy_decode", "prefill", "decode_step", "generation_trace", "generation_steps",
    "sample_next", "sample", "beam_search", "speculative_greedy", "generate_with_shifting",
    "token_log_probs", "sequence_log_likelihood", "sequence_probability", "perplexity",
    "causal_mask", "scaled_dot_product_attention", "split_heads", "merge_heads",
    "causal_self_attention", "attend_with_cache",
    "KVCache.append", "KVCache.keys", "KVCache.values",
    "DecoderLM.forward", "DecoderLM.log_probs", "DecoderLM.next_token_log_probs",
})

# Kept across importlib.reload, which re-runs this file in the same namespace: a reload must
# not switch the references back on.
_disabled: set[str] = globals().get("_disabled", set())
_refused: list[str] = globals().get("_refused", [])


class DelegatedToReference(AssertionError):
    """Raised by a reference function called while an exercise has it switched off."""

    def _render_traceback_(self):
        # IPython shows this line instead of a traceback through arlib's internals.
        return [f"\x1b[1;31m{type(self).__name__}\x1b[0m: {self}"]


# Every decoder can be made to decode greedily (temperature 0, beam width 1, any draft, a window
# as long as the text), so each also refuses where greedy decoding is the exercise.
GREEDY = ("greedy_decode", "generation_trace")


def refuse_if_disabled(name: str, *stands_in_for: str) -> None:
    """The first line of every reference function: raise if `name` is switched off, or any
    reference in `stands_in_for` that this one could replace (see GREEDY)."""
    if _disabled and (name in _disabled or _disabled.intersection(stands_in_for)):
        _refused.append(name)
        raise _refusal(name)


def _refusal(name: str) -> DelegatedToReference:
    return DelegatedToReference(f"this exercise asks you to write it yourself, but your code called arlib's {name}, "
                                "which earns no points here")


def refusals() -> int:
    """How many refused calls so far: compare before and after running a student's code."""
    return len(_refused)


def refused_since(count: int) -> list[str]:
    """The names refused since `refusals()` returned `count`."""
    return _refused[count:]


@contextlib.contextmanager
def reference_disabled(*names: str):
    """Within the block, the reference functions `names` (see GUARDED) refuse to run.

    A student's code that catches the refusal is still caught: the block raises
    DelegatedToReference on exit if any of them was called.
    """
    unknown = sorted(set(names) - GUARDED)
    if unknown:
        raise ValueError(f"reference_disabled: {', '.join(map(repr, unknown))} cannot be switched off; "
                         f"expected names among {', '.join(sorted(GUARDED))}")
    added = set(names) - _disabled
    start = refusals()
    _disabled.update(added)
    try:
        yield
    finally:
        _disabled.difference_update(added)
    refused = refused_since(start)
    if refused:
        raise _refusal(refused[0])
