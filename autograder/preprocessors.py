"""The nbgrader preprocessors of this course, named in nbgrader_config.py.

Release:
- `ReleaseMode`: in a release for a graded course, the visible tests of value answers keep
  only the checks that an answer is given and well formed (their right/wrong feedback,
  between `### BEGIN SELF-STUDY FEEDBACK` and `### END SELF-STUDY FEEDBACK`, would let a
  student try every option); in the default, self-study release the markers just go.

Autograde (after `autograder.execute.LimitedExecute` has run the notebook in the sandbox):
- `JudgeRecords`: checks the canaries, then scores every test cell by comparing what it
  recorded with what the instructor's solution recorded (`autograder.judge`), and removes
  the records and canaries from the notebook;
- `SaveVerdicts`: nbgrader's SaveAutoGrades, with those scores instead of nbgrader's
  reading of cell outputs (which the student's kernel controls).

Feedback:
- `HideHiddenTests`: a hidden test cell shows neither its source nor its output, only a summary;
- `ScrubOutputs`: what a student gets back keeps only plain text and images, and never a
  line of the instructor's hidden tests, solutions or mark schemes, whatever the
  student's code printed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades
from nbgrader.utils import is_grade, is_solution
from traitlets import Bool, Unicode

from autograder import canary
from autograder.cells import as_released, catalog_id, without_hidden_tests
from autograder.judge import CellRecords, check_reference, judge, read_records
from arlib.grading.recording import MIME

GRADER = "autograder"  # marks the outputs the grader adds (instructors see them, students do not)
HIDDEN = "BEGIN HIDDEN TESTS"


def grader_output(text: str):
    """An output only instructors see: `ScrubOutputs` drops it from feedback."""
    return new_output("display_data", data={"text/plain": text.rstrip()}, metadata={GRADER: True})


def is_test(cell) -> bool:
    return is_grade(cell) and not is_solution(cell) and cell.cell_type == "code"


class ReleaseMode(NbGraderPreprocessor):
    """Self-study release: right/wrong feedback at once. Graded release: none before grading."""

    graded = Bool(False, help="leave out the visible tests' self-study feedback").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if is_grade(cell) and cell.cell_type == "code":
            cell.source = as_released(cell.source, self.graded, catalog_id(cell.metadata.nbgrader.grade_id))
        return cell, resources


class JudgeRecords(NbGraderPreprocessor):
    """Score each test cell from its records, in the grader's process (see autograder.judge)."""

    plan_file = Unicode("", help="JSON written by autograder.unit: mode, expected records, canaries, flags").tag(config=True)

    def preprocess(self, nb, resources):
        plan = json.loads(Path(self.plan_file).read_text(encoding="utf-8"))
        meta = nb.metadata.setdefault(GRADER, {})
        if plan["mode"] == "reference":
            meta.update(self._reference(nb))
        else:
            meta.update(self._judge(nb, plan))
        canary.remove_canaries(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if MIME not in o.get("data", {})]
        resources["autograder_scores"] = {gid: v["score"] for gid, v in meta.get("verdicts", {}).items()}
        return nb, resources

    def _reference(self, nb) -> dict:
        """The instructor's solution: what every test cell recorded, and what would make it untrustworthy."""
        records, problems = {}, []
        for cell in nb.cells:
            if is_test(cell):
                gid = cell.metadata.nbgrader.grade_id
                found = read_records(cell)
                records[gid] = found.to_json()
                problems += check_reference(gid, found)
                problems += [f"{gid}: the solution's test failed: {o.ename}: {o.evalue}"
                             for o in cell.outputs if o.output_type == "error"]
            elif cell.cell_type == "code" and "raises-exception" not in cell.metadata.get("tags", []):
                # A teaching cell that fails in the solution fails for every student, and stops their Run All.
                label = cell.metadata.get("nbgrader", {}).get("grade_id") or f"code cell {nb.cells.index(cell) + 1}"
                problems += [f"{label}: the solution's notebook raised {o.ename}: {o.evalue} in a cell that is not "
                             "tagged raises-exception" for o in cell.outputs if o.output_type == "error"]
        return {"records": records, "fingerprints": canary.fingerprints(nb), "problems": problems}

    def _judge(self, nb, plan) -> dict:
        tampered = canary.tampering(nb, plan["canaries"], plan["fingerprints"])
        verdicts = {}
        for cell in nb.cells:
            if not is_test(cell):
                continue
            gid = cell.metadata.nbgrader.grade_id
            expected = CellRecords.from_json(plan["expected"][gid])
            verdict = judge(expected, read_records(cell), float(cell.metadata.nbgrader.points))
            tampered += [f"{gid}: {reason}" for reason in verdict.tampered]
            verdicts[gid] = verdict
            cell.outputs.append(grader_output(_summary(verdict, HIDDEN in cell.source)))
        judged = {gid: v.to_json() for gid, v in verdicts.items()}
        for gid, verdict in judged.items():
            verdict["raw"] = verdict["score"]  # what the cell earned before review flags and tampering
            if tampered or catalog_id(gid) in plan["flagged"]:
                verdict["score"] = 0.0
        return {"verdicts": judged, "tampered": tampered}


def _summary(verdict, hidden: bool) -> str:
    """What the instructor reads under a test cell in the autograded notebook."""
    what = "hidden tests" if hidden else "this test"
    lines = [f"[grader] {what}: {verdict.matched} of {verdict.total} recorded values right, "
             f"{verdict.score:g} of {verdict.points:g} points"]
    lines += [f"[grader]   {m}" for m in verdict.mistakes[:20]]
    lines += [f"[grader]   not trusted: {t}" for t in verdict.tampered]
    return "\n".join(lines)


class SaveVerdicts(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, with the judged score of each test cell."""

    def preprocess(self, nb, resources):
        self._scores = resources.get("autograder_scores", {})
        return super().preprocess(nb, resources)

    def _add_score(self, cell, resources):
        if not is_test(cell):
            return super()._add_score(cell, resources)  # explanations: nbgrader's "no response" or manual
        grade = self.gradebook.find_grade(cell.metadata.nbgrader.grade_id, self.notebook_id,
                                          self.assignment_id, self.student_id)
        grade.auto_score = self._scores.get(cell.metadata.nbgrader.grade_id, 0.0)
        grade.needs_manual_grade = grade.manual_score is not None
        self.gradebook.db.commit()


# --- feedback -------------------------------------------------------------------------------

class HideHiddenTests(NbGraderPreprocessor):
    """A hidden test cell keeps neither its hidden source nor its outputs, only a summary."""

    def preprocess(self, nb, resources):
        self._verdicts = nb.metadata.get(GRADER, {}).get("verdicts", {})  # JudgeRecords wrote them
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if is_grade(cell) and HIDDEN in cell.source:
            summary = hidden_test_summary(cell, self._verdicts.get(cell.metadata.nbgrader.grade_id))
            cell.source = without_hidden_tests(cell.source)
            cell.outputs = [new_output("stream", name="stdout", text=summary + "\n")]
        return cell, resources


def hidden_test_summary(cell, verdict: dict | None) -> str:
    """What feedback says in place of a hidden test's output: how many checks passed, and the
    points the gradebook holds (GetGrades put them in the cell: a review cleared or a mark
    changed by hand shows here too)."""
    if verdict is None:
        return "Hidden tests ran at grading."
    grade = cell.metadata.nbgrader
    return (f"Hidden tests ran at grading: {verdict['matched']} of {verdict['total']} checks passed "
            f"({grade.get('score') or 0:g} of {grade.get('points', verdict['points']):g} points).")


class ScrubOutputs(NbGraderPreprocessor):
    """Only plain text and images reach a student, and nothing of the instructor's secrets."""

    SAFE = ("text/plain", "image/png", "image/jpeg")
    MIN_LENGTH = 24  # characters (spaces removed) a line needs to count as the instructor's own

    def preprocess(self, nb, resources):
        self._secrets = self._instructor_lines(resources)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.outputs = [self._scrubbed(o) for o in cell.outputs if not o.get("metadata", {}).get(GRADER)]
        return cell, resources

    def _scrubbed(self, output):
        if output.output_type in ("display_data", "execute_result"):
            output.data = {k: v for k, v in output.get("data", {}).items() if k in self.SAFE}
            output.metadata = {}
        text = _output_text(output)
        squeezed = re.sub(r"\s+", "", text.encode().decode("unicode_escape", errors="ignore") + text)
        if any(line in squeezed for line in self._secrets):
            return new_output("stream", name="stdout",
                              text="[output removed: it reproduced the instructor's tests or solutions]\n")
        return output

    def _instructor_lines(self, resources) -> set[str]:
        """Lines of the hidden tests, solutions and mark schemes (spaces removed), long enough to be distinctive."""
        info = resources.get("nbgrader", {})
        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.source_directory, ".", info.get("assignment", ""))) \
            / f"{info.get('notebook', '')}.ipynb"
        if not path.is_file():
            return set()
        lines = set()
        for cell in nbformat.read(path, as_version=4).cells:
            for region in re.findall(r"### BEGIN (?:HIDDEN TESTS|SOLUTION)(.*?)### END", cell.source, flags=re.S):
                lines |= {re.sub(r"\s+", "", line) for line in region.splitlines()}
        return {line for line in lines if len(line) >= self.MIN_LENGTH}


def _output_text(output) -> str:
    if output.output_type == "stream":
        return output.get("text", "")
    if output.output_type == "error":
        return "\n".join([output.get("ename", ""), output.get("evalue", ""), *output.get("traceback", [])])
    return "\n".join(str(v) for v in output.get("data", {}).values())

