"""Run in every kernel that grades a submission (IPKernelApp.exec_files in nbgrader_config.py).

Warnings and log records, which go to stderr by default, are shown on stdout instead, marked
as not counted: a student reading the feedback must not take a library's deprecation notice
for an error of theirs. (Points never depend on stderr: the grader scores what test cells
record, see autograder/judge.py.)
"""

import logging
import sys
import warnings


def _show_warning_on_stdout(message, category, filename, lineno, file=None, line=None):
    print(f"(warning, not counted against you) {category.__name__}: {message}", file=sys.stdout)


class _StdoutHandler(logging.Handler):
    """Looks sys.stdout up at every record: the kernel swaps its streams per cell."""

    def emit(self, record):
        print(self.format(record), file=sys.stdout)


warnings.showwarning = _show_warning_on_stdout
logging.lastResort = _StdoutHandler(logging.WARNING)
