"""Value answers (a letter, a number, an order) checked without printing the right one.

A visible test compares the student's answer with a digest of the right one, and a hint
keyed by the digest of a typical wrong answer says what went wrong. Each hint is sealed
with the wrong answer it is about: plain hints for every distractor would give the right
answer away by elimination (the one option no hint talks about).

A release for a graded course (`python -m autograder release --graded`) drops these
checks: its visible tests check only that an answer is given and well formed.
"""

from __future__ import annotations

import base64
import hashlib
import numbers

import numpy

from arlib.grading.feedback import fail, unwrap_scalar


def normalize(answer) -> str:
    """A canonical text for an answer: case and spacing folded, numbers rounded to 3 decimals.

    numpy and 0-d torch numbers count as the plain numbers they hold."""
    answer = unwrap_scalar(answer)
    if isinstance(answer, (bool, numpy.bool_)):
        return str(bool(answer))
    if isinstance(answer, numbers.Real):
        return f"{float(answer) + 0.0:.3f}"  # + 0.0 folds -0.0 into 0.0
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
    hint = unseal_hint(answer, (hints or {}).get(got, default_hint))
    fail(f"{what}: {_shown(answer)} is not right yet." + (f" Hint: {hint}" if hint else ""))


def _shown(answer) -> str:
    """The answer as the student will recognise it; floats rounded as they are compared."""
    answer = unwrap_scalar(answer)
    if isinstance(answer, float):
        return f"{answer:.6g}"
    return repr(answer)


def order_digests(exercise: str, correct) -> tuple[list[str], list[str]]:
    """For authors: what a visible test stores to tell how much of an order is right without
    writing the order down: the digest of each step at its place, and of each right pair of
    neighbours (salted with the exercise, so two exercises' digests never match)."""
    steps = [normalize(step) for step in correct]
    places = [digest(f"{exercise} place {i}: {step}") for i, step in enumerate(steps, start=1)]
    pairs = sorted(digest(f"{exercise} pair: {a} {b}") for a, b in zip(steps, steps[1:]))
    return places, pairs


def order_summary(answer, exercise: str, places: list[str], pairs: list[str]) -> str:
    """'4 of 6 steps in the right place; 2 of 5 neighbouring pairs right.', counted against
    `order_digests(exercise, correct)`, for a student whose order is not right yet."""
    steps = [normalize(step) for step in answer]
    placed = sum(digest(f"{exercise} place {i}: {step}") == right
                 for i, (step, right) in enumerate(zip(steps, places), start=1))
    neighbours = sum(digest(f"{exercise} pair: {a} {b}") in pairs for a, b in zip(steps, steps[1:]))
    return (f"{placed} of {len(places)} steps in the right place; "
            f"{neighbours} of {len(places) - 1} neighbouring pairs right.")


_SEALED = "sealed:"


def seal_hint(wrong_answer, hint: str) -> str:
    """`hint` encrypted with a key made from the wrong answer it is about (readable only by
    giving that answer); `check_digest` unseals the hints it is given."""
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
