"""What nbgrader test cells use: checks that explain, records for the grader, partial credit.

One idea per module:
- `feedback`: checks whose failure message says what to fix (`check_number`, `check_close`, ...);
- `answers`: value answers (a letter, a number, an order) checked against a digest;
- `recording`: what a test cell hands to the grader, which decides the points outside the kernel;
- `credit`: partial-credit arithmetic, shared with the grader;
- `canary`: the kernel side of the grader's tamper check;
- `arlib.guard`: switching arlib's reference implementations off while a student's code runs.

Importing this package changes nothing global.
"""

from arlib.grading.answers import check_digest, digest, normalize, order_digests, order_summary, seal_hint, unseal_hint
from arlib.grading.credit import order_share, partial_credit, share_summary
from arlib.grading.feedback import (
    ExerciseFailure,
    NoAnswerYet,
    check_answered,
    check_close,
    check_equal,
    check_number,
    check_sequence,
    check_type,
    fail,
)
from arlib.grading.recording import record, record_call, score_by_share
from arlib.guard import DelegatedToReference, reference_disabled

__all__ = [
    "DelegatedToReference", "ExerciseFailure", "NoAnswerYet", "check_answered", "check_close", "check_digest",
    "check_equal", "check_number", "check_sequence", "check_type", "digest", "fail", "normalize",
    "order_digests", "order_share", "order_summary", "partial_credit", "record", "record_call", "reference_disabled",
    "score_by_share", "seal_hint", "share_summary", "unseal_hint",
]
