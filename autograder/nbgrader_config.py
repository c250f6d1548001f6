"""nbgrader configuration of the course.

Used two ways:
- by nbgrader itself (JupyterLab's formgrader and Create Assignment toolbar, the `nbgrader`
  command): start them from the repository root with `JUPYTER_CONFIG_PATH=autograder`, so
  this file is found, and every folder below is relative to the repository root;
- by `python -m autograder`, which loads this file and then points the folders at a
  grading workspace of its own (see autograder/workspace.py).

Set AUTOGRADER_CELL_TIMEOUT (seconds) to change how long one cell may run at grading.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the preprocessors below live in this repository's autograder package
    sys.path.insert(0, str(REPO))

# --- where things are -----------------------------------------------------------------------
c.CourseDirectory.course_id = "autoregressive-generation"
c.CourseDirectory.root = str(REPO)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
# Student work and grades stay out of git (.gitignore ignores grading/).
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.db_url = f"sqlite:///{REPO / 'grading' / 'gradebook.db'}"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
# nbgrader's exchange (release_assignment, fetch, submit, collect; the Assignment List panel):
# on one machine, grading/exchange; on a shared JupyterHub, the shared folder named by
# AUTOGRADER_EXCHANGE (README, "For students": setting up the exchange on a JupyterHub).
SHARED_EXCHANGE = os.environ.get("AUTOGRADER_EXCHANGE")
c.Exchange.root = SHARED_EXCHANGE or str(REPO / "grading" / "exchange")
# The formgrader opens grading/gradebook.db at once and nbgrader never makes its folder, so
# loading this file makes grading/ (and the local exchange): a fresh clone works as it is.
for folder in [REPO / "grading"] + ([] if SHARED_EXCHANGE else [REPO / "grading" / "exchange"]):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only clone: nbgrader then says which file it cannot open
        pass

# --- what a student sees in place of a solution -----------------------------------------------
# NoAnswerYet (arlib.grading, imported by every notebook's setup cell) is a NotImplementedError
# that shows one line, "no answer yet: ...", instead of a traceback.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NoAnswerYet()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# nbgrader's release steps, with ours after ClearSolutions: a release for a graded course
# (python -m autograder release --graded) leaves out the visible tests' right/wrong feedback
# on value answers; it runs before the checksums and the gradebook copy are made.
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "autograder.preprocessors.ReleaseMode",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# --- running submissions ----------------------------------------------------------------------
# Seconds one cell may run before it is interrupted (what it had not recorded by then scores
# nothing). Every solution notebook runs in well under 20 s in total, so this only ever stops
# runaway code.
c.Execute.timeout = int(os.environ.get("AUTOGRADER_CELL_TIMEOUT", "60"))
c.Execute.startup_timeout = 120
# Seconds a cell's last output may trail its end; a machine busy grading in parallel needs
# more than nbclient's 4 s, or a slow flush would count as output lost.
c.Execute.iopub_timeout = 15
# Warnings and log records go to stdout in grading kernels, so a student never sees a
# library's notice as an error of theirs.
c.Execute.extra_arguments = [
    "--HistoryManager.enabled=False",  # no history: nothing to read the hidden tests back from
    "--IPKernelApp.log_level=ERROR",  # the kernel's own notices would clutter the grading output
    f"--IPKernelApp.exec_files={REPO / 'autograder' / 'kernel_startup.py'}",
]
# Deleted test cells are put back (autograder.assemble already rebuilds every submission
# from the release; this is nbgrader's own safety net).
c.OverwriteCells.add_missing_cells = True
# `nbgrader validate` would cut its lines at 90 characters.
c.Validator.width = 200
# Run in the sandbox, then score each test cell in the grader's process from what it
# recorded (autograder/preprocessors.py): nbgrader's own reading of cell outputs, which a
# student's kernel controls, decides nothing.
c.Autograde.autograde_preprocessors = [
    "autograder.execute.LimitedExecute",
    "autograder.preprocessors.JudgeRecords",
    "nbgrader.preprocessors.LimitOutput",
    "autograder.preprocessors.SaveVerdicts",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Feedback never shows hidden tests, and keeps only plain text and images from the
# student's outputs, scrubbed of the instructor's hidden tests and solutions.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.preprocessors.HideHiddenTests",
    "autograder.preprocessors.ScrubOutputs",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Markdown and HTML that a student wrote must not run script in a page an instructor opens
# (the formgrader) or in the feedback.
c.HTMLExporter.sanitize_html = True
