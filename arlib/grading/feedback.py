"""Checks that explain a failure: what was expected, what came back, and a hint.

Every check raises `ExerciseFailure` (an AssertionError) whose message is feedback for the
student, shown in the notebook as one line instead of a traceback. These checks give
instant feedback in a student's own notebook; the grade itself is decided by the grader,
from what the test cells record (see `arlib.grading.recording`).
"""

from __future__ import annotations

import math
import numbers

import torch


class ExerciseFailure(AssertionError):
    """A test-cell failure whose message is feedback for the student."""

    def _render_traceback_(self):
        # IPython shows this instead of a traceback: the frames inside arlib.grading say
        # nothing to a student, the message says what to fix. The cell still fails.
        return [f"\x1b[1;31m{type(self).__name__}\x1b[0m: {self}"]


class NoAnswerYet(NotImplementedError):
    """What an answer cell raises until the student writes the answer (nbgrader's code stub)."""

    def __init__(self, message: str = ""):
        super().__init__(message or "no answer yet: put your answer in place of the line `raise NoAnswerYet()` "
                                    "in the answer cell, run that cell, then run the test cell below it.")

    def _render_traceback_(self):
        return [f"\x1b[1;33m{type(self).__name__}\x1b[0m: {self}"]


def fail(message: str):
    raise ExerciseFailure(message)


def _with_hint(message: str, hint: str) -> str:
    return message + (f" {hint}" if hint else "")


def check_answered(value, what: str):
    """Fail with a friendly message when the answer cell still holds its placeholder."""
    if value is None or value is ... or (isinstance(value, (str, list, tuple)) and not value):
        fail(f"{what} has no answer yet: set it in the answer cell, in place of the line `raise NoAnswerYet()`, "
             "run that cell, then run this test again.")


def check_type(value, types, what: str):
    if not isinstance(value, types):
        names = " or ".join(_with_article(t.__name__) for t in (types if isinstance(types, tuple) else (types,)))
        fail(f"{what} should be {names}, but it is {_with_article(type(value).__name__)}: {value!r:.80}")


def _with_article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def check_number(actual, expected: float, what: str, tol: float = 1e-6, hint: str = ""):
    """A number (int, float, numpy or 0-d torch) within `tol` of `expected`."""
    actual = unwrap_scalar(actual)
    if isinstance(actual, bool) or not isinstance(actual, numbers.Real):
        fail(f"{what} should be a number, but it is {_with_article(type(actual).__name__)}: {actual!r:.80}")
    if not math.isclose(float(actual), expected, rel_tol=0, abs_tol=tol):
        fail(_with_hint(f"{what} is {float(actual):.6g}, expected {expected:.6g} (within {tol:g}).", hint))


def check_equal(actual, expected, what: str, hint: str = ""):
    if actual != expected:
        fail(_with_hint(f"{what} is {actual!r}, expected {expected!r}.", hint))


def check_sequence(actual, expected, what: str, decode=None, hint: str = ""):
    """Token lists (or any sequences) must match; name the first position where they part."""
    actual, expected = _as_list(actual), _as_list(expected)
    show = decode or repr
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a != e:
            fail(_with_hint(f"{what} first differs at item {i + 1}: got {show([a])}, expected {show([e])} "
                            f"(the {i} before it agree).", hint))
    if len(actual) != len(expected):
        fail(_with_hint(f"{what} has {len(actual)} items, expected {len(expected)}; the first "
                        f"{min(len(actual), len(expected))} agree.", hint))


def check_close(actual, expected, what: str, atol: float = 1e-5, rtol: float = 0.0, hint: str = ""):
    """Tensors of the same shape, equal within tolerance, compared in float64 whatever their
    floating dtype; name the first differing index."""
    if not isinstance(actual, torch.Tensor):
        fail(f"{what} should be a torch.Tensor, but it is {_with_article(type(actual).__name__)}")
    expected = torch.as_tensor(expected)
    if tuple(actual.shape) != tuple(expected.shape):
        fail(_with_hint(f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}.", hint))
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    bad = ~torch.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        tolerance = f"{atol:g}" + (f" + {rtol:g} x |expected|" if rtol else "")
        fail(_with_hint(f"{what} differs at index {index}: got {a[index].item():.6g}, expected {e[index].item():.6g} "
                        f"({int(bad.sum())} of {bad.numel()} entries off by more than {tolerance}).", hint))


def unwrap_scalar(value):
    """The Python number a 0-d tensor holds; any other value unchanged."""
    return value.item() if isinstance(value, torch.Tensor) and value.dim() == 0 else value


def _as_list(x):
    return x.tolist() if hasattr(x, "tolist") else list(x)
