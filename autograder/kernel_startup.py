"""Run in every kernel that grades a submission (IPKernelApp.exec_files in nbgrader_config.py).

nbgrader scores any stderr output of a test cell as zero, so warnings and log records,
which go to stderr by default, are shown on stdout instead: a deprecation notice from a
library must never cost a student points.
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
