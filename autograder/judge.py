"""Points decided outside the student's kernel.

A test cell records, through `arlib.grading.record`, the values the student's code
produced. The instructor's solution, run through the same cells, recorded the values
that are right. Here, in the grader's own process, the two are compared: the kernel can
print, patch and hook whatever it likes, it only ever supplies values, and a value only
matches if the student's code computed it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from arlib.grading.credit import order_share
from arlib.grading.recording import MIME


@dataclass
class CellRecords:
    """What one executed test cell recorded."""

    records: dict[str, dict] = field(default_factory=dict)  # key -> record
    rule: str = "all"  # "all": every value must match (the least credit counts); "share": each value earns its share
    duplicates: list[str] = field(default_factory=list)  # keys recorded twice: not the test's doing

    def to_json(self) -> dict:
        return {"records": self.records, "rule": self.rule}

    @classmethod
    def from_json(cls, data: dict) -> "CellRecords":
        return cls(dict(data["records"]), data["rule"])


def read_records(cell) -> CellRecords:
    """The records among a cell's outputs (canary reports are read by `autograder.canary`)."""
    found = CellRecords()
    for payload in record_payloads(cell):
        if payload.get("rule") == "share":
            found.rule = "share"
        elif "key" in payload and "value" in payload:
            key = str(payload["key"])
            if key in found.records:
                found.duplicates.append(key)
            found.records[key] = payload
    return found


def record_payloads(cell) -> list[dict]:
    return [output["data"][MIME] for output in cell.get("outputs", [])
            if output.get("output_type") == "display_data" and isinstance(output.get("data", {}).get(MIME), dict)]


@dataclass
class Verdict:
    """The grader's decision on one test cell."""

    points: float
    score: float
    matched: int  # values that matched
    total: int  # values the solution recorded
    mistakes: list[str] = field(default_factory=list)  # "<key>: <what differs>", for the instructor
    tampered: list[str] = field(default_factory=list)  # why this cell's records cannot be trusted

    def to_json(self) -> dict:
        return vars(self)


def judge(expected: CellRecords, got: CellRecords, points: float) -> Verdict:
    """Score the student's records of one cell against the solution's."""
    credits, mistakes = [], []
    for key, want in expected.records.items():
        have = got.records.get(key)
        credit, difference = (0.0, "not recorded (the cell stopped before this check)") if have is None \
            else credit_for(have["value"], want)
        credits.append(credit)
        if difference:
            mistakes.append(f"{key}: {difference}")
    tampered = [f"{key!r} was recorded more than once" for key in sorted(set(got.duplicates))]
    tampered += [f"{key!r} was recorded, but the test never records it" for key in sorted(set(got.records) - set(expected.records))]
    if tampered or not credits:
        share = 0.0
    elif expected.rule == "share":
        share = sum(credits) / len(credits)
    else:  # all or nothing, except that an order answer keeps its partial credit
        share = min(credits)
    return Verdict(points, round(points * share, 3), sum(c == 1.0 for c in credits), len(credits), mistakes, tampered)


def credit_for(value, want: dict) -> tuple[float, str | None]:
    """(credit 0..1, what differs or None) for a student's value against a solution record."""
    if want.get("order"):
        steps = _plain(value)
        correct = _plain(want["value"])
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            return 0.0, f"not a list of step letters ({describe(value)})"
        share = order_share(steps, correct)
        return share, None if share == 1.0 else f"order {share:.0%} right"
    difference = compare(value, want["value"], want.get("tol"), want.get("rtol"))
    return (1.0, None) if difference is None else (0.0, difference)


def compare(got, expected, tol: float | None = None, rtol: float | None = None, at: str = "") -> str | None:
    """None if `got` matches `expected` (canonical values, see arlib.grading.recording.canonical),
    else a short description of the first difference."""
    got, expected = _plain(got), _plain(expected)
    where = f" at {at}" if at else ""
    if isinstance(got, dict) and "raised" in got:
        return f"raised {got['raised']}: {got.get('message', '')}".rstrip(": ")
    if isinstance(got, dict) and "unsupported" in got:
        return f"gave {got['unsupported']}, which the grader does not compare"
    if _is_number(expected):
        if not _is_number(got):
            return f"expected a number{where}, got {describe(got)}"
        return None if _close(_float(got), _float(expected), tol, rtol) else f"{_show(got)}{where}, expected {_show(expected)}"
    if isinstance(expected, list):
        if not isinstance(got, list):
            return f"expected a sequence{where}, got {describe(got)}"
        if len(got) != len(expected):
            return f"{len(got)} items{where}, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            difference = compare(g, e, tol, rtol, f"{at}[{i}]")
            if difference:
                return difference
        return None
    if isinstance(expected, dict) and "dict" in expected:
        if not (isinstance(got, dict) and "dict" in got):
            return f"expected a dict{where}, got {describe(got)}"
        return compare(got["dict"], expected["dict"], tol, rtol, at)
    if type(got) is not type(expected) or got != expected:
        return f"{_show(got)}{where}, expected {_show(expected)}"
    return None


def _plain(value):
    """A recorded tensor compares like the nested list of its numbers."""
    return value["tensor"] if isinstance(value, dict) and set(value) == {"tensor"} else value


def _is_number(value) -> bool:
    return type(value) in (int, float) or (isinstance(value, dict) and "float" in value)


def _float(value) -> float:
    """A recorded number as a float ({"float": "nan"} is how a record writes nan and inf)."""
    return float(value["float"]) if isinstance(value, dict) else float(value)


def _close(got: float, expected: float, tol, rtol) -> bool:
    if math.isnan(got) or math.isnan(expected):
        return math.isnan(got) and math.isnan(expected)
    if not tol and not rtol or math.isinf(expected):
        return got == expected
    return abs(got - expected) <= (tol or 0.0) + (rtol or 0.0) * abs(expected)


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict) and "float" in value:
        return value["float"]
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(value) -> str:
    value = _plain(value)
    if isinstance(value, list):
        return f"a sequence of {len(value)} items"
    if isinstance(value, dict):
        return value.get("unsupported") or ("a dict" if "dict" in value else "a value")
    return "nothing" if value is None else f"{type(value).__name__} {_show(value)}"


def check_reference(grade_id: str, records: CellRecords) -> list[str]:
    """What is wrong with the instructor's solution's records of one test cell (empty: fine).

    Every test cell must record something; the solution's values must not be errors; where
    the cell also computed arlib's answer (`record_call(..., reference=...)`), they must agree."""
    if not records.records:
        return [f"{grade_id} records nothing: a test cell must record what it checks (arlib.grading.record)"]
    problems = []
    for key, entry in records.records.items():
        if isinstance(entry["value"], dict) and ("raised" in entry["value"] or "unsupported" in entry["value"]):
            problems.append(f"{grade_id} / {key}: the solution {compare(entry['value'], None)}")
        elif "reference" in entry:
            difference = compare(entry["value"], entry["reference"], entry.get("tol"), entry.get("rtol"))
            if difference:
                problems.append(f"{grade_id} / {key}: the solution differs from arlib: {difference}")
    return problems
