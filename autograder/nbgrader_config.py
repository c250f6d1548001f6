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

# --- what a student sees in place of a solution -----------------------------------------------
c.ClearSolutions.code_stub = {
    "python": '# YOUR CODE HERE\nraise NotImplementedError("replace this line with your answer")'
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# --- running submissions ----------------------------------------------------------------------
# Seconds one cell may run before it is interrupted and scored as an error. Every solution
# notebook runs in well under 20 s in total, so this only ever stops runaway code.
c.Execute.timeout = int(os.environ.get("AUTOGRADER_CELL_TIMEOUT", "60"))
c.Execute.startup_timeout = 120
# nbgrader scores any stderr output of a test cell as zero: the startup file shows warnings
# and log records on stdout instead, so a harmless library warning never costs points.
c.Execute.extra_arguments = [
    "--HistoryManager.hist_file=:memory:",
    "--IPKernelApp.log_level=ERROR",  # the kernel's own notices would clutter the grading output
    f"--IPKernelApp.exec_files={REPO / 'autograder' / 'kernel_startup.py'}",
]
# A kernel that dies (os._exit, a crash, out of memory) scores the cells it could not run as
# zero instead of failing the whole submission.
c.Autograde.autograde_preprocessors = [
    "autograder.preprocessors.ExecuteSurvivingKernelDeath",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Feedback never shows hidden tests: their source and output are replaced by a summary.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.preprocessors.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
