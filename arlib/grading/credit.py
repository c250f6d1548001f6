"""Partial credit arithmetic: what the grader gives for an order answer, or a share of cases."""

from __future__ import annotations

from arlib.grading.answers import normalize


def partial_credit(share: float, points: float) -> float:
    """`share` (clipped to 0..1) of `points`, rounded to 3 decimals."""
    if not 0 <= points:
        raise ValueError(f"points must be >= 0, got {points}")
    return round(points * min(max(float(share), 0.0), 1.0), 3)


def order_share(answer, correct) -> float:
    """How right an ordering is: the better of the share of steps in their right place and the
    share of the right neighbouring pairs (0 if it is not a permutation of the steps). Steps
    compare as `normalize`d, as `order_summary` counts them for the student."""
    answer, correct = [normalize(a) for a in answer], [normalize(c) for c in correct]
    if sorted(answer) != sorted(correct):
        return 0.0
    return max(_placed(answer, correct) / len(correct), _adjacent(answer, correct) / max(len(correct) - 1, 1))


def _placed(answer, correct) -> int:
    return sum(a == c for a, c in zip(answer, correct))


def _adjacent(answer, correct) -> int:
    pairs = set(zip(correct, correct[1:]))
    return sum(p in pairs for p in zip(answer, answer[1:]))


def share_summary(results: list[bool], labels: list[str]) -> str:
    """'5 of 8 right. Look again at: statement 2, statement 7.' for a student."""
    wrong = [label for label, ok in zip(labels, results) if not ok]
    return f"{sum(map(bool, results))} of {len(results)} right." + (f" Look again at: {', '.join(wrong)}." if wrong else "")
