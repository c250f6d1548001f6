"""What a test cell hands to the grader: the values the student's code produced.

At grading, a test cell's points are not decided inside the student's kernel, where the
student's own code runs and could change any verdict. Instead each test cell records what
the student's code produced (`record`, `record_call`), and the grader compares those
values, outside the kernel, with the values the instructor's solution recorded for the
same cell. A cell gives all its points if every value matches, none otherwise, unless it
calls `score_by_share()`: then each value earns its share.

In a student's own notebook nothing is recorded (the grader sets ARLIB_RECORD in the
kernels it starts): these functions then just run the code and return the value.
"""

from __future__ import annotations

import math
import os

import numpy
import torch

from arlib import guard

MIME = "application/vnd.autograder.record+json"
MAX_ITEMS = 200_000  # numbers recorded per value; a larger value is recorded as too large


def recording() -> str | None:
    """'student' or 'reference' while the grader runs the notebook, None otherwise."""
    return os.environ.get("ARLIB_RECORD") or None


def record(key, value, *, tol: float | None = None, rtol: float | None = None, order: bool = False):
    """Record `value` under `key` for the grader; return `value` unchanged.

    Numbers and tensors match within |got - expected| <= tol + rtol * |expected| (exactly if
    neither is given); `order=True` gives a list of steps partial credit for its order."""
    if recording():
        _emit({"key": str(key), "value": canonical(value), "tol": tol, "rtol": rtol, "order": order})
    return value


def record_call(key, call, *, disable=(), reference=None, tol: float | None = None, rtol: float | None = None):
    """Run `call()` (the student's function on one case) with arlib's references `disable`d,
    and record what it returned, or the exception it raised; return the value (None on error).

    `reference` (a function of no arguments computing the same with arlib) runs only when the
    grader runs the instructor's solution, to check that the solution agrees with arlib."""
    entry = {"key": str(key), "tol": tol, "rtol": rtol, "order": False}
    if recording() == "reference" and reference is not None:
        entry["reference"] = canonical(reference())
    value, start = None, guard.refusals()
    try:
        with guard.reference_disabled(*disable):
            value = call()
            entry["value"] = canonical(value)
    except Exception as error:  # the student's code failed on this case: that is the record
        entry["value"] = raised(error)
    refused = guard.refused_since(start)
    if refused:
        entry["value"] = {"raised": "DelegatedToReference",
                          "message": f"called arlib's {refused[0]}, which this exercise switches off"}
    if recording():
        _emit(entry)
    return value


def score_by_share():
    """This cell's points are shared among its recorded values (default: all or nothing)."""
    if recording():
        _emit({"rule": "share"})


def raised(error: BaseException) -> dict:
    """The record of an exception: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return {"raised": type(error).__name__, "message": lines[0][:300] if lines else ""}


def canonical(value, budget: list[int] | None = None):
    """`value` as plain JSON the grader can compare: numbers, strings, lists, tensors as nested
    lists. Only exact built-in, numpy and torch types count: anything else (a subclass with its
    own `__eq__`, say) is recorded as unsupported and matches nothing."""
    budget = [MAX_ITEMS] if budget is None else budget
    kind = type(value)
    if value is None or kind in (bool, str):
        return value[:10_000] if kind is str else value
    if kind is int:
        return value if abs(value) < 2**63 else {"unsupported": "int of more than 63 bits"}
    if kind is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if kind in (torch.Tensor, torch.nn.Parameter, numpy.ndarray) or (kind.__module__ == "numpy" and hasattr(value, "item")):
        return _array(value, budget)
    if kind in (list, tuple):
        budget[0] -= len(value)
        if budget[0] < 0:
            return {"unsupported": "too large"}
        return [canonical(item, budget) for item in value]
    if kind is dict:
        return {"dict": [[canonical(k, budget), canonical(v, budget)] for k, v in value.items()]}
    return {"unsupported": kind.__name__}


def _array(value, budget):
    """A tensor, array or numpy scalar as (nested lists of) Python numbers; floats in float64."""
    if isinstance(value, numpy.generic):
        return canonical(value.item(), budget)
    tensor = torch.as_tensor(value).detach().cpu()
    budget[0] -= tensor.numel()
    if budget[0] < 0:
        return {"unsupported": f"tensor of {tensor.numel()} numbers, too large"}
    if tensor.is_floating_point():
        tensor = tensor.double()
    if tensor.is_complex():
        return {"unsupported": "complex tensor"}
    return {"tensor": canonical(tensor.tolist(), [MAX_ITEMS])}


def _emit(payload: dict):
    from IPython.display import display  # only ever called inside a grading kernel

    display({MIME: payload}, raw=True)
