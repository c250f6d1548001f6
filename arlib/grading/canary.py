"""The kernel side of the grader's canary cells.

Between the test cells of a submission the grader inserts cells that call `report` with a
fresh secret. Each reports the secret and a fingerprint of the machinery that runs cells
and shows results: input and AST transformers, the cell runner, exception handlers, event
callbacks, display hooks and formatters, trace and profile hooks. The grader compares
every fingerprint with the one the instructor's own solution produced at the same place:
a kernel whose student code rewired that machinery is reported as tampered.
"""

from __future__ import annotations

import sys

from arlib.grading.recording import _emit

# IPython methods that run a cell or show its result: replacing one can change any outcome.
_RUNNERS = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "transform_cell",
            "transform_ast", "showtraceback", "_showtraceback", "showsyntaxerror", "should_run_async")


def report(secret: str):
    _emit({"canary": secret, "fingerprint": fingerprint()})


def fingerprint() -> dict:
    from IPython import get_ipython

    shell = get_ipython()
    formatter = shell.display_formatter
    return {
        "input transformers": _names(shell.input_transformers_cleanup + shell.input_transformers_post
                                     + shell.input_transformer_manager.line_transforms
                                     + shell.input_transformer_manager.token_transformers),
        "ast transformers": _names(shell.ast_transformers),
        "runners": [name for name in _RUNNERS if not _original(shell, name)],
        "exception handlers": _names(shell.custom_exceptions) + _names([shell.CustomTB] if "CustomTB" in vars(shell) else []),
        "events": {event: _names(callbacks) for event, callbacks in shell.events.callbacks.items() if callbacks},
        "hooks": [_name(type(sys.displayhook)), _name(sys.excepthook), _name(type(shell.displayhook)),
                  _name(type(shell.display_pub)), _name(type(formatter))],
        "formatters": {mime: [_name(type(f)), *sorted(_names([*f.type_printers.values(), *f.deferred_printers.values(),
                                                             *f.singleton_printers.values()]))]
                       for mime, f in sorted(formatter.formatters.items())},
        "tracing": [sys.gettrace() is None, sys.getprofile() is None],
    }


def _original(shell, name: str) -> bool:
    """Whether the shell's `name` is the method its class (from IPython or ipykernel) defines."""
    bound = getattr(shell, name, None)
    defined = getattr(type(shell), name, None)
    return (name not in vars(shell) and defined is not None and getattr(bound, "__func__", None) is defined
            and defined.__module__.split(".")[0] in ("IPython", "ipykernel"))


def _name(thing) -> str:
    return f"{getattr(thing, '__module__', '?')}.{getattr(thing, '__qualname__', type(thing).__qualname__)}"


def _names(things) -> list[str]:
    return [_name(t) for t in things]
