"""Checks for nbgrader test cells, written so a failure tells the student what to fix.

Every check raises `ExerciseFailure` (an AssertionError) whose message says what was
expected, what came back and, where we know the likely mistake, a hint. Partial credit
is returned as a number, which nbgrader reads from a test cell's last expression.

Visible tests must not hand out the answers of choice, number and order exercises, so
those are checked against a digest of the right answer (`digest`), with hints keyed by
the digests of the typical wrong ones.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import math
import numbers
import sys
import warnings

import numpy
import torch


class ExerciseFailure(AssertionError):
    """A test-cell failure whose message is feedback for the student."""

    def _render_traceback_(self):
        # IPython shows this instead of a traceback: the frames inside arlib.grading say
        # nothing to a student, the message says what to fix. The cell still fails.
        return [f"\x1b[1;31m{type(self).__name__}\x1b[0m: {self}"]


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
    """A canonical text for an answer: case and spacing folded, numbers rounded to 3 decimals.

    numpy and 0-d torch numbers count as the plain numbers they hold."""
    answer = _unwrap_scalar_tensor(answer)
    if isinstance(answer, (bool, numpy.bool_)):
        return str(bool(answer))
    if isinstance(answer, numbers.Real):
        return f"{float(answer) + 0.0:.3f}"  # + 0.0 folds -0.0 into 0.0
    if isinstance(answer, (list, tuple)):
        return "[" + ",".join(normalize(a) for a in answer) + "]"
    return " ".join(str(answer).strip().lower().split())


def _unwrap_scalar_tensor(value):
    """The Python number a 0-d tensor holds; any other value unchanged."""
    return value.item() if isinstance(value, torch.Tensor) and value.dim() == 0 else value


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
    hint = unseal_hint(answer, (hints or {}).get(got, default_hint))
    fail(f"{what}: {answer!r} is not right yet." + (f" Hint: {hint}" if hint else ""))


_SEALED = "sealed:"


def seal_hint(wrong_answer, hint: str) -> str:
    """`hint` encrypted with a key made from the wrong answer it is about.

    Plain hints for every distractor would give the right answer away by elimination (it is
    the one option no hint talks about); sealed, a hint can only be read by giving that
    wrong answer. `check_digest` unseals the hints it is given."""
    data = hint.encode()
    return _SEALED + base64.b64encode(bytes(a ^ b for a, b in zip(data, _hint_key(wrong_answer, len(data))))).decode()


def unseal_hint(answer, hint: str) -> str:
    """The plain text of a hint sealed with `answer` (plain hints come back unchanged)."""
    if not hint.startswith(_SEALED):
        return hint
    data = base64.b64decode(hint[len(_SEALED):])
    return bytes(a ^ b for a, b in zip(data, _hint_key(answer, len(data)))).decode(errors="replace")


def _hint_key(answer, length: int) -> bytes:
    # Not the digest: knowing a digest must not open the hint it keys.
    blocks = (hashlib.sha256(f"hint {i} {normalize(answer)}".encode()).digest() for i in range(length // 32 + 1))
    return b"".join(blocks)[:length]


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
    """A number (int, float, numpy or 0-d torch) within `tol` of `expected`."""
    actual = _unwrap_scalar_tensor(actual)
    if isinstance(actual, bool) or not isinstance(actual, numbers.Real):
        fail(f"{what} should be a number, but it is {type(actual).__name__}: {actual!r:.80}")
    if not math.isclose(float(actual), expected, rel_tol=0, abs_tol=tol):
        fail(f"{what} is {float(actual):.6g}, expected {expected:.6g} (within {tol:g})." + (f" {hint}" if hint else ""))


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

def partial_credit(share: float, points: float) -> float:
    """`share` (0..1) of `points`, clipped to that range: nbgrader rejects a test cell whose
    result exceeds its points and, oddly, gives full marks for a negative one."""
    if not 0 <= points:
        raise ValueError(f"points must be >= 0, got {points}")
    return round(points * min(max(float(share), 0.0), 1.0), 3)


def order_credit(answer, correct, points: float) -> float:
    """Credit for an ordering: the better of the share of steps in their right place and
    the share of the right adjacent pairs, times `points`. Prints how many were right."""
    if not isinstance(answer, (list, tuple)):
        print(f"Your order should be a list of the {len(correct)} step letters, not {type(answer).__name__}.")
        return 0.0
    answer = [normalize(a) for a in answer]
    correct = [normalize(c) for c in correct]
    if sorted(answer) != sorted(correct):
        print(f"Your order should use each of the {len(correct)} letters exactly once.")
        return 0.0
    placed = sum(a == c for a, c in zip(answer, correct)) / len(correct)
    pairs = set(zip(correct, correct[1:]))
    adjacent = sum(p in pairs for p in zip(answer, answer[1:])) / max(len(pairs), 1)
    print(f"{round(placed * len(correct))} of {len(correct)} steps in the right place; "
          f"{round(adjacent * len(pairs))} of {len(pairs)} neighbouring pairs right.")
    return partial_credit(max(placed, adjacent), points)


def share_credit(results: list[bool], points: float, labels: list[str] | None = None) -> float:
    """Credit for independent parts (statements to label, cases to pass): right share x points."""
    results = [bool(r) for r in results]
    if not results:
        raise ValueError("share_credit needs at least one result")
    if labels:
        wrong = [label for label, ok in zip(labels, results) if not ok]
        print(f"{sum(results)} of {len(results)} right." + (f" Look again at: {', '.join(wrong)}." if wrong else ""))
    return partial_credit(sum(results) / len(results), points)


# --- delegation to the reference is caught ----------------------------------------------------

class DelegatedToReference(ExerciseFailure):
    pass


def _resolve(name: str):
    """(owner, attribute, value) for "greedy_decode", "decoding._greedy_cached",
    "KVCache.append" (all relative to arlib), "arlib.decoding.prefill" or another
    importable dotted path such as "torch.nn.functional.softmax"."""
    import arlib

    unknown = ValueError(f"reference_disabled: no function {name!r} in arlib "
                         "(expected a name like 'greedy_decode' or 'decoding._greedy_cached')")
    parts = name.removeprefix("arlib.").split(".")
    owner, start = arlib, 0
    if not hasattr(arlib, parts[0]):
        try:  # a submodule of arlib not imported yet, or another package
            owner = importlib.import_module(f"arlib.{parts[0]}")
        except (ImportError, ValueError):  # ValueError: an empty name
            try:
                owner = importlib.import_module(parts[0])
            except (ImportError, ValueError):
                raise unknown from None
        start = 1
    for part in parts[start:-1]:
        owner = getattr(owner, part, None)
    if owner is None or not parts[start:] or not hasattr(owner, parts[-1]):
        raise unknown
    return owner, parts[-1], getattr(owner, parts[-1])


@contextlib.contextmanager
def reference_disabled(*names: str):
    """Within the block, the reference functions `names` raise when called.

    Hidden tests run a student's function inside this block, so a solution that only
    calls the reference earns nothing. Names are relative to arlib ("greedy_decode",
    "decoding._greedy_cached", "KVCache.append") or full dotted paths. Each is replaced
    where it is defined and wherever the notebook or arlib holds it under any name
    (`from arlib import greedy_decode as gd` included). A student's code that catches the
    error is still caught: the block raises on exit if any disabled function was called.
    """
    targets = [(name, *_resolve(name)) for name in names]
    called = []
    replaced = []  # (module namespace dict or class, key, original value)
    namespaces = [vars(m) for key, m in list(sys.modules.items())
                  if m is not None and (key == "arlib" or key.startswith("arlib.") or key == "__main__")]
    caller = sys._getframe(2).f_globals  # the module of the `with` (2 up: contextlib's __enter__)
    if all(caller is not namespace for namespace in namespaces):
        namespaces.append(caller)
    for name, owner, attribute, original in targets:
        def blocked(*args, _name=name, **kwargs):
            called.append(_name)
            raise DelegatedToReference(
                f"this exercise asks you to write {_name} yourself; calling arlib's {_name} "
                "earns no points here")
        blocked.__name__ = attribute
        for namespace in namespaces:
            for key, value in list(namespace.items()):
                if value is original:
                    replaced.append((namespace, key, value))
                    namespace[key] = blocked
        if getattr(owner, attribute) is not blocked:  # a class attribute, or outside arlib
            replaced.append((owner, attribute, original))
            setattr(owner, attribute, blocked)
    try:
        yield
    finally:
        for target, key, value in reversed(replaced):
            if isinstance(target, dict):
                target[key] = value
            else:
                setattr(target, key, value)
    if called:
        raise DelegatedToReference(
            f"this exercise asks you to write it yourself, but your code called arlib's "
            f"{called[0]}, which earns no points here")
