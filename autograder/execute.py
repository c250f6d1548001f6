"""`LimitedExecute`: nbgrader's Execute, with the kernel in the sandbox and every limit enforced.

- The kernel runs in `autograder.sandbox` (`SandboxedKernelManager`), or with `sandbox = False`
  as a plain local kernel; either way it gets only the environment variables in `extra_env`.
- Output is cut as it arrives, in the grader's process: at most `Limits.cell_output_kb` per
  cell and `Limits.notebook_output_kb` per notebook are kept, and the cell where output was
  cut gets one line saying so. Errors are always kept (they say what failed), shortened; the
  grader's own records (`grader_mime_types`) are never cut, so a chatty function cannot cost
  a correct answer its points. A notebook that sends more than FLOOD_BYTES beyond what is
  kept (dropped output, records) is stopped: the grader could not keep up with it.
- Wall clock: after `Limits.notebook_seconds` the kernel is killed; the running cell gets a
  `NotebookTimeLimit` error and every later code cell one saying it was not run.
  nbgrader's `Execute.timeout` stays the limit per cell (the cell is interrupted).
- A dead kernel (os._exit, a crash, a limit) does not fail the submission: the cell that
  killed it and every later code cell get a `KernelDied` error, and the run goes on.

Every limit hit, and a kernel death, is recorded for the grader in
`nb.metadata["autograder"]["events"]`: `{"kind", "cell", "detail"}`.
"""

from __future__ import annotations

import copy
import json
import threading

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Enum, Instance, List, Unicode

from arlib.grading.recording import MIME as RECORD_MIME
from autograder.cells import without_hidden_tests
from autograder.sandbox import MAX_MESSAGE_BYTES, GradingKernelManager, Limits, SandboxedKernelManager

KERNEL_DIED = "KernelDied"
NOTEBOOK_TIME_LIMIT = "NotebookTimeLimit"
OUTPUT_LOST = "OutputLost"
EVENT_KINDS = ("memory", "output", "disk", "notebook time", "cell time", "kernel died", "processes")

FLOOD_BYTES = 64 * 2**20
RECONNECT_SECONDS = 10
RICH = ("display_data", "execute_result", "update_display_data", "comm_open", "comm_msg", "comm_close")


def error_output(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class LimitedExecute(Execute):
    """nbgrader's Execute in the sandbox, within `limits`, surviving a dead kernel."""

    sandbox = Bool(True, help="run the kernel in the sandbox; False: a plain local kernel "
                   "(limits on output and wall clock still apply)").tag(config=True)
    limits = Instance(Limits, args=(), help="autograder.sandbox.Limits").tag(config=True)
    extra_env = Dict(help="environment variables the grader passes into the kernel; "
                     "nothing else of the grader's environment leaks in").tag(config=True)
    grader_mime_types = List(Unicode(), [RECORD_MIME], help="outputs made only of these MIME types are "
                             "the grader's records: never cut by the output limits").tag(config=True)
    # A graded kernel has nothing to save at exit, and ipykernel 7's graceful shutdown now and
    # then waits 2.5 s to be killed anyway (its control thread flushes to the closed iopub thread).
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        if not isinstance(nb.metadata.get("autograder"), dict):
            nb.metadata["autograder"] = {}
        self._events = nb.metadata["autograder"]["events"] = []  # whatever a submission put there goes
        self._not_run = None  # (ename, evalue) for every later code cell, once the kernel is gone
        self._output = OutputBudget(self.limits)
        self._clock = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._clock is not None:
                self._clock.cancel()

    def create_kernel_manager(self):
        if not self.kernel_name:
            self.kernel_name = self.nb.metadata.get("kernelspec", {}).get("name") or ""
        options = {"config": self.config, "extra_env": self.extra_env}
        if self.kernel_name:
            options["kernel_name"] = self.kernel_name
        if self.sandbox:
            self.km = SandboxedKernelManager(limits=self.limits, workdir_files=self._notebook_copy(), **options)
        else:
            self.km = GradingKernelManager(**options)
        return self.km

    async def async_start_new_kernel_client(self):
        km = self.km
        try:
            return await super().async_start_new_kernel_client()
        except RuntimeError as error:  # "Kernel died before replying to kernel_info": say what it said
            said = getattr(km, "last_words", "")
            raise RuntimeError(f"{error}. The kernel's last output:\n{said}" if said else str(error)) from error

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # nbclient binds its own

    def _notebook_copy(self) -> dict[str, bytes]:
        """The notebook for the kernel's working directory, without hidden tests: at autograde,
        the notebook being run (in memory and on disk) holds them."""
        nb = copy.deepcopy(self.nb)
        for cell in nb.cells:
            cell.source = without_hidden_tests(cell.source)
            if cell.cell_type == "code":
                cell.outputs = []
        name = (self.resources or {}).get("metadata", {}).get("name") or "notebook"
        return {f"{name}.ipynb": nbformat.writes(nb).encode()}

    # --- one cell at a time ---------------------------------------------------------------------

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._not_run is not None:
            cell.outputs = [error_output(*self._not_run)]
            return cell, resources
        self._start_clock()
        self._output.start_cell()
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._kernel_gone(cell, index)
        except CellTimeoutError as error:
            if "IOPub" not in str(error):  # a cell over its time, with interrupt_on_timeout off: as nbclient does
                raise
            # The cell ended but its last messages never came: ZMQ closed the connection over a
            # message above MAX_MESSAGE_BYTES, and everything after it was lost.
            self._output_lost(cell, index)
            self._reconnect()
        self._note_errors(cell, index)
        return cell, resources

    def _start_clock(self):
        if self._clock is None:
            self._clock = threading.Timer(self.limits.notebook_seconds, self._out_of_time)
            self._clock.daemon = True
            self._clock.start()

    def _out_of_time(self):
        km = self.km
        if hasattr(km, "stop_now"):  # one of ours, not a manager handed to preprocess()
            km.stop_now("notebook time", f"the notebook ran longer than {self.limits.notebook_seconds} s in all")

    def _kernel_gone(self, cell, index):
        kind, detail = getattr(self.km, "stopped_by", None) or ("kernel died", "")
        if kind == "notebook time":
            cell.outputs.append(error_output(NOTEBOOK_TIME_LIMIT, f"stopped: {detail}"))
            self._not_run = (NOTEBOOK_TIME_LIMIT, f"not run: {detail} (the time ran out in cell {index})")
            self._event(kind, index, f"{detail}: cell {index} was stopped and later cells were not run")
            return
        because = f": {detail}" if detail else ""
        self.log.warning("The kernel died in cell %d%s; later cells score zero", index, because)
        cell.outputs.append(error_output(KERNEL_DIED, f"the kernel died while running cell {index}{because}"))
        self._not_run = (KERNEL_DIED, f"not run: the kernel died in cell {index}")
        self._event(kind, index, f"cell {index}: {detail}" if detail else
                    f"the kernel died while running cell {index}; later cells were not run")

    def _output_lost(self, cell, index):
        mb = MAX_MESSAGE_BYTES // 2**20
        cell.outputs.append(error_output(OUTPUT_LOST, f"the output of this cell did not all arrive: "
                                                      f"an output over {mb} MB is dropped"))
        self._event("output", index, f"cell {index} sent an output over {mb} MB (or output that kept "
                                     "arriving after the cell ended); it was dropped")

    async def _async_reconnect(self):
        """A new client for the kernel: ZMQ closes a connection that brought a message over
        MAX_MESSAGE_BYTES, and does not open it again."""
        await ensure_async(self.kc.stop_channels())  # a stopped client cannot start again
        self.kc = self.km.client()
        self.kc.allow_stdin = False
        await ensure_async(self.kc.start_channels())
        try:
            await self.kc.wait_for_ready(timeout=RECONNECT_SECONDS)
        except RuntimeError:  # the kernel is busy or gone: the next cell finds out
            pass

    _reconnect = run_sync(_async_reconnect)

    def _note_errors(self, cell, index):
        """The limits that the kernel itself reported, as errors in the cell's outputs."""
        limits = self.limits
        for output in cell.outputs:
            if output.output_type != "error":
                continue
            ename, evalue = output.get("ename", ""), str(output.get("evalue", ""))
            if ename == "CellTimeoutError":
                self._event("cell time", index, f"cell {index} ran longer than {self.timeout} s and was interrupted")
            elif ename == "MemoryError" or "can't allocate memory" in evalue:
                self._event("memory", index, f"cell {index} ran out of memory (the limit is {limits.memory_mb} MB)")
            elif "File too large" in evalue:
                self._event("disk", index, f"cell {index} tried to write a file over {limits.scratch_mb} MB")
            elif "can't start new thread" in evalue or (ename == "BlockingIOError"
                                                        and "temporarily unavailable" in evalue):
                self._event("processes", index, f"cell {index} could not start another process or thread "
                                                f"(the limit is {limits.processes})")

    def _event(self, kind: str, cell: int | None, detail: str):
        assert kind in EVENT_KINDS, kind
        event = {"kind": kind, "cell": cell, "detail": detail}
        if event not in self._events:
            self._events.append(event)

    # --- output, as it arrives ------------------------------------------------------------------

    def process_message(self, msg, cell, cell_index):
        try:
            if not self._within_limits(msg, cell, cell_index):
                return None
            return super().process_message(msg, cell, cell_index)
        except (KeyError, TypeError, AttributeError, ValueError) as error:  # a malformed message: dropped
            self.log.warning("Dropped a malformed %s message from the kernel (%s)", msg.get("msg_type"), error)
            return None

    def _within_limits(self, msg, cell, index) -> bool:
        """Cut the message's output to what the limits keep; False if none of it is kept."""
        kind, content = msg["msg_type"], msg["content"]
        kept = True
        if kind == "stream":
            kept = self._fit_stream(content, cell, index)
        elif kind in RICH:
            kept = self._fit_rich(content, cell, index)
        elif kind == "error":
            shorten_error(content, self.limits.cell_output_kb * 1024)
        self._stop_a_flood()
        return kept

    def on_cell_executed(self, **kwargs):
        reply = kwargs["execute_reply"]["content"]
        if reply.get("status") == "error":
            shorten_error(reply, self.limits.cell_output_kb * 1024)
        return super().on_cell_executed(**kwargs)

    def _fit_stream(self, content, cell, index) -> bool:
        """Keep what fits of a stream's text; False if nothing does."""
        data = content["text"].encode()
        left = self._output.left()
        if len(data) > left:
            content["text"] = data[:left].decode(errors="ignore")
            self._cut(cell, index)
        self._output.keep(min(len(data), left))
        self._output.beyond(max(0, len(data) - left))
        return bool(content["text"])

    def _fit_rich(self, content, cell, index) -> bool:
        """An image, a table, a widget's state: kept whole or dropped. Records: always kept."""
        data = content.get("data", {})
        size = len(json.dumps(data)) + len(json.dumps(content.get("metadata", {})))
        if data and set(data) <= set(self.grader_mime_types):
            self._output.beyond(size)
        elif size > self._output.left():
            self._cut(cell, index)
            self._output.beyond(size)
            return False
        else:
            self._output.keep(size)
        return True

    def _cut(self, cell, index):
        """Once per cell: one line in its output, one event."""
        budget = self._output
        if budget.cut_in_cell:
            return
        budget.cut_in_cell = True
        if budget.notebook_left() < budget.cell_left():
            kb = self.limits.notebook_output_kb
            note = f"output truncated: the notebook's output reached {kb} KB; the rest was dropped"
            if not budget.notebook_cut:
                budget.notebook_cut = True
                self._event("output", index, f"the notebook's output reached {kb} KB in cell {index}; "
                                             "later output was dropped")
        else:
            kb = self.limits.cell_output_kb
            note = f"output truncated at {kb} KB: the rest of this cell's output was dropped"
            self._event("output", index, f"the output of cell {index} passed {kb} KB; the rest was dropped")
        cell.outputs.append(new_output("stream", name="stdout", text=f"\n[{note}]\n"))

    def _stop_a_flood(self):
        """Past FLOOD_BYTES beyond the limits, stop the kernel: it may send faster than the grader
        can read, and the messages waiting in ZMQ's queue would fill the grader's memory."""
        if self._output.flooded() and getattr(self.km, "stopped_by", True) is None:
            self.km.stop_now("output", f"the notebook sent more than {FLOOD_BYTES // 2**20} MB of output "
                                       "beyond what is kept, so the kernel was stopped")


class OutputBudget:
    """Bytes of output kept in the current cell and in the notebook, and received beyond that."""

    def __init__(self, limits: Limits):
        self.cell_size = limits.cell_output_kb * 1024
        self.notebook_size = limits.notebook_output_kb * 1024
        self.cell_used = self.notebook_used = self.beyond_limits = 0
        self.cut_in_cell = self.notebook_cut = False

    def start_cell(self):
        self.cell_used, self.cut_in_cell = 0, False

    def cell_left(self) -> int:
        return max(0, self.cell_size - self.cell_used)

    def notebook_left(self) -> int:
        return max(0, self.notebook_size - self.notebook_used)

    def left(self) -> int:
        """Once a cell's output is cut, the rest of it is dropped."""
        return 0 if self.cut_in_cell else min(self.cell_left(), self.notebook_left())

    def keep(self, size: int):
        self.cell_used += size
        self.notebook_used += size

    def beyond(self, size: int):
        """Count bytes that the limits do not hold: dropped output, records."""
        self.beyond_limits += size

    def flooded(self) -> bool:
        return self.beyond_limits > FLOOD_BYTES


def shorten_error(content, size: int):
    """An error's message and traceback, each cut to `size` characters."""
    content["evalue"] = str(content.get("evalue", ""))[:size]
    kept, total = [], 0
    for line in content.get("traceback", []):
        total += len(line)
        if total > size:
            kept.append("... (traceback shortened)")
            break
        kept.append(line)
    content["traceback"] = kept
