"""Checks for nbgrader test cells, written so a failure tells the student what to fix.

Every check raises `ExerciseFailure` (an AssertionError) whose message says what was
expected, what came back and, where we know the likely mistake, a hint. Partial credit
is returned as a number, which nbgrader reads from a test cell's last expression.

Visible tests must not hand out the answers of choice, number and order exercises, so
those are checked against a digest of the right answer (`digest`), with hints keyed by
the digests of the typical wrong ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import warnings

import torch


class ExerciseFailure(AssertionError):
    """A test-cell failure whose message is feedback for the student."""


def fail(message: str):
    raise ExerciseFailure(message)


# --- warnings go to stdout: nbgrader scores any stderr output in a test cell as zero --------

def _show_warning_on_stdout(message, category, filename, lineno, file=None, line=None):
    print(f"(warning, not counted against you) {category.__name__}: {message}", file=sys.stdout)


def route_warnings_to_stdout():
    """Show library warnings as plain output so a harmless warning never costs points."""
    warnings.showwarning = _show_warning_on_stdout


route_warnings_to_stdout()


# --- answers checked without revealing them -------------------------------------------------

def normalize(answer) -> str:
    """A canonical text for an answer: case and spacing folded, numbers rounded to 3 decimals."""
    if isinstance(answer, bool):
        return str(answer)
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return f"{float(answer):.3f}"
    if isinstance(answer, (list, tuple)):
        return "[" + ",".join(normalize(a) for a in answer) + "]"
    return " ".join(str(answer).strip().lower().split())


def digest(answer) -> str:
    """Short SHA-256 of the normalized answer: what visible tests compare against."""
    return hashlib.sha256(normalize(answer).encode()).hexdigest()[:16]


def check_digest(answer, expected_digest: str, what: str, hints: dict[str, str] | None = None,
                 default_hint: str = ""):
    """Pass if `answer` normalizes to the expected digest; otherwise explain, with a hint
    specific to this wrong answer when `hints` (digest of a wrong answer -> hint) has one."""
    got = digest(answer)
    if got == expected_digest:
        return
    hint = (hints or {}).get(got, default_hint)
    fail(f"{what}: {answer!r} is not right yet." + (f" Hint: {hint}" if hint else ""))


# --- values ---------------------------------------------------------------------------------

def check_type(value, types, what: str):
    if not isinstance(value, types):
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        fail(f"{what} should be a {names}, but it is {type(value).__name__}: {value!r:.80}")


def check_answered(value, what: str):
    """Fail with a friendly message when the answer cell still holds its placeholder."""
    if value is None or value is ... or (isinstance(value, (str, list, tuple)) and not value):
        fail(f"{what} has no answer yet: replace the placeholder in the answer cell and run it.")


def check_number(actual, expected: float, what: str, tol: float = 1e-6, hint: str = ""):
    check_type(actual, (int, float), what)
    if not math.isclose(float(actual), expected, rel_tol=0, abs_tol=tol):
        fail(f"{what} is {actual:.6g}, expected {expected:.6g} (within {tol:g})." + (f" {hint}" if hint else ""))


def check_equal(actual, expected, what: str, hint: str = ""):
    if actual != expected:
        fail(f"{what} is {actual!r}, expected {expected!r}." + (f" {hint}" if hint else ""))


def check_sequence(actual, expected, what: str, decode=None, hint: str = ""):
    """Token lists (or any sequences) must match; name the first position where they part."""
    actual, expected = _as_list(actual), _as_list(expected)
    show = decode or repr
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a != e:
            fail(f"{what} first differs at position {i}: got {show([a])}, expected {show([e])} "
                 f"(the {i} before it agree)." + (f" {hint}" if hint else ""))
    if len(actual) != len(expected):
        fail(f"{what} has {len(actual)} items, expected {len(expected)}; the first "
             f"{min(len(actual), len(expected))} agree." + (f" {hint}" if hint else ""))


def check_close(actual, expected, what: str, atol: float = 1e-5, rtol: float = 0.0, hint: str = ""):
    """Tensors of the same shape, equal within tolerance; name the first differing index."""
    if not isinstance(actual, torch.Tensor):
        fail(f"{what} should be a torch.Tensor, but it is {type(actual).__name__}")
    expected = torch.as_tensor(expected)
    if tuple(actual.shape) != tuple(expected.shape):
        fail(f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}." + (f" {hint}" if hint else ""))
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    bad = ~torch.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        fail(f"{what} differs at index {index}: got {a[index].item():.6g}, expected {e[index].item():.6g} "
             f"({int(bad.sum())} of {bad.numel()} entries off by more than {atol:g})." + (f" {hint}" if hint else ""))


def _as_list(x):
    return x.tolist() if hasattr(x, "tolist") else list(x)


# --- partial credit -------------------------------------------------------------------------

def order_credit(answer, correct, points: float) -> float:
    """Credit for an ordering: the better of the share of steps in their right place and
    the share of the right adjacent pairs, times `points`. Prints how many were right."""
    answer = [normalize(a) for a in _as_list(answer)]
    correct = [normalize(c) for c in correct]
    if sorted(answer) != sorted(correct):
        print(f"Your order should use each of the {len(correct)} letters exactly once.")
        return 0.0
    placed = sum(a == c for a, c in zip(answer, correct)) / len(correct)
    pairs = set(zip(correct, correct[1:]))
    adjacent = sum(p in pairs for p in zip(answer, answer[1:])) / max(len(pairs), 1)
    share = max(placed, adjacent)
    print(f"{round(placed * len(correct))} of {len(correct)} steps in the right place; "
          f"{round(adjacent * len(pairs))} of {len(pairs)} neighbouring pairs right.")
    return round(points * share, 3)


def share_credit(results: list[bool], points: float, labels: list[str] | None = None) -> float:
    """Credit for independent parts (statements to label, cases to pass): right share x points."""
    if labels:
        wrong = [label for label, ok in zip(labels, results) if not ok]
        print(f"{sum(results)} of {len(results)} right." + (f" Look again at: {', '.join(wrong)}." if wrong else ""))
    return round(points * sum(results) / len(results), 3)


# --- delegation to the reference is caught ----------------------------------------------------

class DelegatedToReference(ExerciseFailure):
    pass


@contextlib.contextmanager
def reference_disabled(*names: str):
    """Within the block, `arlib`'s reference functions `names` raise when called.

    Hidden tests run a student's function inside this block, so a solution that only
    calls the reference earns nothing. The names are replaced in every arlib module and
    in the notebook's own namespace (`from arlib import greedy_decode` included).
    """
    import arlib

    originals = {name: getattr(arlib, name) for name in names}
    replaced = []  # (namespace dict, key, original)
    for name, original in originals.items():
        def blocked(*args, _name=name, **kwargs):
            raise DelegatedToReference(
                f"this exercise asks you to write {_name} yourself; calling arlib's {_name} "
                "earns no points here")
        namespaces = [vars(m) for key, m in list(sys.modules.items())
                      if key == "arlib" or key.startswith("arlib.") or key == "__main__"]
        for namespace in namespaces:
            for key, value in list(namespace.items()):
                if value is original:
                    replaced.append((namespace, key, value))
                    namespace[key] = blocked
    try:
        yield
    finally:
        for namespace, key, value in reversed(replaced):
            namespace[key] = value
