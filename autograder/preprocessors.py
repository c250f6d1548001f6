"""Two nbgrader preprocessors, named in nbgrader_config.py.

- `ExecuteSurvivingKernelDeath` (autograde): when a submission kills its kernel, the cell
  that did it and every later code cell get an error output, so the exercises before it keep
  their points and the rest score zero, instead of nbgrader failing the whole submission.
- `HideHiddenTests` (feedback): a hidden test cell shows neither its source nor its output
  in the student's feedback, only whether it passed.
"""

from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade

KERNEL_DIED = "KernelDied"
# Errors whose message helps a student and gives no hidden test away.
_SAFE_TO_SHOW = {"DelegatedToReference", "CellTimeoutError", KERNEL_DIED}


def _error(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class ExecuteSurvivingKernelDeath(Execute):
    """nbgrader's Execute, except that a dead kernel zeroes the rest instead of aborting."""

    def preprocess(self, nb, resources=None, km=None):
        self._died_in_cell = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._died_in_cell is not None:
            cell.outputs = [_error(KERNEL_DIED, f"not run: the kernel died in cell {self._died_in_cell}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._died_in_cell = index
            self.log.warning("The kernel died in cell %d; later cells score zero", index)
            cell.outputs.append(_error(KERNEL_DIED, f"the kernel died while running cell {index}"))
            return cell, resources


def hidden_test_summary(cell) -> str:
    """What feedback says in place of a hidden test's output."""
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    stderr = any(o.output_type == "stream" and o.name == "stderr" for o in cell.get("outputs", []))
    if errors:
        e = errors[-1]
        detail = f"{e.ename}: {e.evalue}" if e.ename in _SAFE_TO_SHOW else e.ename
        return f"Hidden tests ran at grading and did not pass ({detail})."
    if stderr:
        return "Hidden tests ran at grading and wrote to stderr, which scores zero."
    if any(o.output_type == "execute_result" for o in cell.get("outputs", [])):
        return "Hidden tests ran at grading; partial credit is the score shown for this cell."
    return "Hidden tests ran at grading and passed."


class HideHiddenTests(NbGraderPreprocessor):
    """Strip hidden test regions from the source and replace their outputs by a summary."""

    def preprocess_cell(self, cell, resources, index):
        if is_grade(cell) and "BEGIN HIDDEN TESTS" in cell.source:
            summary = hidden_test_summary(cell)
            ClearHiddenTests(parent=self)._remove_hidden_test_region(cell)
            cell.outputs = [new_output("stream", name="stdout", text=summary + "\n")]
        return cell, resources
