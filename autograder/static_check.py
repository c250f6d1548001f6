"""Read a student's code cell before it runs, for what no honest answer needs.

A student's cells run in the same kernel as the test cells, so a cell can do more than
answer: patch `torch.allclose` or arlib, read the hidden tests from `In`, install an IPython
hook that rewrites later cells, shadow a name the tests call, or read the solutions from
disk. `check_source` finds such constructs in the source text (IPython syntax included)
before anything runs; the caller holds a cell with findings for an instructor to review.

The rules are allowlists where an allowlist is possible (modules, magics, double-underscore
names) and name tables where it is not (attributes: answers call too many honest methods
to list). A static check cannot follow every value at run time (a module passed to a
function as an argument, say); it is one layer beside the sandbox, and when in doubt it
asks an instructor rather than waving a cell through.
"""

from __future__ import annotations

import ast
import re
import types
from collections.abc import Iterable
from dataclasses import dataclass

from IPython.core import magic_arguments
from IPython.core.inputtransformer2 import TransformerManager
from IPython.core.magic import Magics
from IPython.core.magics.execution import ExecutionMagics


@dataclass(frozen=True, order=True)
class Finding:
    line: int  # 1-based line in the cell source
    reason: str  # one short sentence for the instructor


def _why(why: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, why)


# --- what may be imported ----------------------------------------------------------------------

# Everything an honest answer could need: maths, containers, timing, typing, numpy, torch,
# plots, IPython's display() and arlib's public modules. Anything else (os, sys, inspect,
# ctypes, gc, importlib, pickle, threading, socket, pathlib, traceback, types, ...) reaches
# outside the notebook or into the interpreter.
ARLIB_PUBLIC = ("attention", "checks", "decoding", "draft", "kv_cache", "model", "pretrained", "sampling",
                "scoring", "search", "shifting", "speculative", "tokenizer", "toy_lm", "toy_world", "viz")
ALLOWED_MODULES = frozenset({
    "math", "cmath", "random", "statistics", "itertools", "functools", "operator", "collections",
    "collections.abc", "heapq", "bisect", "copy", "string", "re", "time", "timeit", "typing",
    "dataclasses", "enum", "fractions", "decimal", "numbers",
    "numpy", "numpy.linalg", "numpy.random", "torch", "torch.nn", "torch.nn.functional",
    "matplotlib", "matplotlib.pyplot", "IPython.display",
    "arlib", *(f"arlib.{m}" for m in ARLIB_PUBLIC),
    "__future__",  # `annotations` only: other features change how later cells parse
})
# arlib's other modules are grading machinery (grading, guard), or write files and take
# minutes (train, benchmark), or need packages the course does not install (interop).
ARLIB_INTERNAL = frozenset({"grading", "grading_old", "guard", "train", "benchmark", "interop"})

# IPython.display's other objects (Markdown, HTML, Image, ...) read any file or URL whose name
# they are given, and HTML or JavaScript output would run in the instructor's browser.
ALLOWED_FROM_IPYTHON_DISPLAY = frozenset({"display", "clear_output"})

# What the notebooks' setup cells bind: test cells use these, so a student cell must not
# rebind or change them, and attributes reached from them resolve to full paths
# (F.softmax is torch.nn.functional.softmax). None: a shared object, not a module.
# Not KVCache: notebook 04 asks the student to write a class of that name.
COURSE_NAMES: dict[str, str | None] = {
    "arlib": "arlib", "torch": "torch", "F": "torch.nn.functional", "math": "math",
    "np": "numpy", "numpy": "numpy", "plt": "matplotlib.pyplot", "matplotlib": "matplotlib",
    "itertools": "itertools", "time": "time", "timeit": "timeit", "toy_world": "arlib.toy_world",
    "viz": "arlib.viz", "display": "IPython.display.display", "grading": "arlib.grading",
    "model": None, "tokenizer": None, "toy": None,
}

# --- names that are findings wherever they are read --------------------------------------------
# (unless a function binds the name itself: `def forward(self, input)` is fine)

FORBIDDEN_NAMES = {
    **_why("runs a string as code", "eval", "exec", "compile"),
    **_why("imports a module by name", "__import__"),
    **_why("opens files, the solutions among them", "open"),
    **_why("starts a debugger", "breakpoint"),
    **_why("waits for input that never comes", "input"),
    **_why("reads a whole namespace, the names tests use included", "globals", "locals", "vars"),
    **_why("stops the kernel", "exit", "quit"),
    **_why("can change how later cells run", "get_ipython"),
    **_why("reads other cells' source or output, the tests' included",
           "In", "Out", "_ih", "_oh", "_dh", "_", "__", "___", "_i", "_ii", "_iii"),
    **_why("is a grading helper, meant for test cells only",
           "grading", "reference_disabled", "record", "record_call", "refuse_if_disabled"),
    **_why("reads any file or URL it is given and can show HTML (an IPython display object)",
           "Markdown", "HTML", "Javascript", "JSON", "Image", "Math", "Latex", "SVG", "IFrame",
           "Audio", "Video", "FileLink", "FileLinks", "DisplayObject"),
}
IPYTHON_HISTORY = re.compile(r"_i?\d+")  # _i3: the source of cell 3; _3: its output

# Double-underscore names that lead nowhere: a name, a docstring, and x.__class__, which is
# type(x) (every way on from a class is another double-underscore name).
SAFE_DUNDER_READS = frozenset({"__name__", "__qualname__", "__doc__", "__class__"})
SAFE_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__debug__"})  # `if __name__ == "__main__":`

# The special methods honest classes define, and call on super(). Others change how the
# interpreter, torch or numpy treat an object: __torch_function__ and __array_function__ take
# over every torch or numpy call on it, __del__ runs whenever the collector decides,
# __instancecheck__ fools isinstance, __getattribute__ and __init_subclass__ intercept more
# than the class's own use, __reduce__ and friends run code when an object is copied.
ALLOWED_DUNDER_METHODS = frozenset({
    "__init__", "__post_init__", "__repr__", "__str__", "__format__", "__len__", "__getitem__",
    "__setitem__", "__delitem__", "__contains__", "__iter__", "__next__", "__reversed__",
    "__call__", "__enter__", "__exit__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
    "__ge__", "__hash__", "__bool__", "__float__", "__int__", "__index__", "__getattr__",
    "__neg__", "__pos__", "__abs__", "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__",
    "__isub__", "__mul__", "__rmul__", "__imul__", "__matmul__", "__rmatmul__", "__truediv__",
    "__rtruediv__", "__floordiv__", "__mod__", "__pow__", "__slots__",
})

# namedtuple's public methods start with an underscore so as not to clash with field names.
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})

# --- attributes that are findings on any object --------------------------------------------------
# Modules re-export each other (torch.sys, numpy.os, matplotlib.pyplot.subprocess), so these
# are findings however they are reached, on self too. So is any name containing "hook":
# forward hooks, display hooks, excepthooks and audit hooks all run code at others' moments.

DENIED_ATTRIBUTES = {
    **_why("leads to the interpreter and every loaded module", "sys", "os", "builtins", "importlib",
           "import_module", "reload", "gc", "inspect", "posix", "platform"),
    **_why("watches or rewrites other code as it runs", "settrace", "setprofile", "gettrace",
           "getprofile", "monitoring", "_getframe", "currentframe", "f_back", "f_locals",
           "f_globals", "f_builtins", "f_code", "f_trace", "tb_frame", "tb_next", "gi_frame",
           "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "co_code", "co_consts"),
    **_why("can change how later cells run (the IPython shell)",
           "get_ipython", "run_cell", "run_line_magic", "run_cell_magic", "ast_transformers",
           "input_transformers_post", "input_transformers_cleanup", "input_transformer_manager",
           "transformer_manager", "events", "set_custom_exc", "showtraceback", "showsyntaxerror",
           "displayhook", "display_pub", "display_formatter", "excepthook", "user_ns",
           "user_global_ns", "user_module", "kernel", "shell", "magics_manager",
           "register_magic_function", "history_manager", "_render_traceback_", "IPython",
           "InteractiveShell", "interactiveshell", "getipython", "ipykernel", "zmqshell"),
    **_why("starts or signals processes", "subprocess", "system", "popen", "Popen", "getoutput",
           "kill", "killpg", "fork", "forkpty", "spawn", "execv", "execve", "_exit", "abort",
           "environ", "putenv", "getppid", "signal", "threading", "Thread", "multiprocessing",
           "distributed", "socket", "hub", "urlopen", "animation"),
    **_why("loads native code", "cpp_extension", "load_inline", "load_library", "library",
           "ctypes", "ctypeslib", "cdll", "CDLL", "extbuild", "f2py", "_C"),
    # torch.utils: cpp_extension, benchmark.Timer("code"), collect_env.run("cmd"), swap_tensors
    **_why("holds tools that compile code, run strings of code or commands", "utils", "benchmark",
           "collect_env", "PackageImporter", "package"),
    **_why("reads files, the solutions among them", "load", "loadtxt", "genfromtxt", "fromfile",
           "fromregex", "memmap", "open_memmap", "from_file", "imread", "rc_file", "read_text",
           "read_bytes", "DataSource", "style", "get_sample_data", "rc_params_from_file"),
    **_why("writes files, the grader's among them", "save", "savez", "savez_compressed",
           "savetxt", "tofile", "savefig", "imsave", "write_text", "write_bytes", "dump", "PdfPages"),
    **_why("reads memory it does not own", "as_strided", "stride_tricks"),
    **_why("evaluates strings as code", "get_type_hints", "ForwardRef", "singledispatch",
           "singledispatchmethod", "Formatter", "overrides", "seterrcall"),
    **_why("shows HTML or JavaScript in the instructor's browser", "_repr_html_",
           "_repr_javascript_", "_repr_markdown_", "_repr_svg_", "_repr_latex_",
           "_repr_mimebundle_", "_ipython_display_", "publish_display_data"),
    **{name: FORBIDDEN_NAMES[name] for name in ("Markdown", "HTML", "Javascript", "Image", "IFrame")},
}

# Full paths that are findings where the last name alone is honest elsewhere (re.compile).
DENIED_PATHS = {
    "torch.compile": "compiles C++ in a subprocess",
    "matplotlib.use": "imports a module by name",
    "matplotlib.pyplot.switch_backend": "imports a module by name",
}

# Calls whose arguments name attributes: the names must be literals and go through the
# attribute rules; passed around uncalled (functools.partial(getattr, x)) they are findings.
ATTRIBUTE_BY_NAME = frozenset({"getattr", "setattr", "delattr", "hasattr", "attrgetter", "methodcaller"})

# timeit's functions run a string as code: the string is checked like a cell.
TIMEIT_CALLS = frozenset({"timeit.timeit", "timeit.repeat", "timeit.Timer"})

# Keywords that make display and plotting functions read a file or a URL, or run LaTeX
# (whose \input reads any file into the figure).
DENIED_KEYWORDS = {**_why("reads a file", "filename", "fname"), "url": "reads a URL",
                   "usetex": "runs LaTeX, which reads any file"}

# Classes an answer is compared as: a subclass passes for one (isinstance) while its __eq__ or
# allclose says whatever it likes. Honest answers never need one.
VALUE_TYPES = frozenset({"int", "float", "complex", "bool", "str", "bytes", "list", "tuple", "dict",
                         "set", "frozenset", "torch.Tensor", "torch.nn.Parameter", "numpy.ndarray",
                         "numpy.float64", "numpy.float32", "numpy.int64", "numpy.generic"})

# Methods that change an object in place: on a shared object (the model, the tokenizer, a
# module's tables) they change what the tests compute. torch marks its in-place methods with
# a trailing underscore (zero_, copy_, normal_), so those count too.
MUTATING_METHODS = frozenset({
    "load_state_dict", "apply", "to", "double", "float", "half", "bfloat16", "cuda", "cpu",
    "train", "zero_grad", "register_buffer", "register_parameter", "add_module", "update",
    "append", "extend", "insert", "pop", "popitem", "clear", "setdefault", "remove", "discard",
    "add", "sort", "reverse",
})
HARMLESS_SHARED_STATE = ("rcParams",)  # plt.rcParams["figure.figsize"] = ... changes plots only

# Builtins the test cells call. `sum = 0` is common and honest (a value shadows the builtin;
# a test that calls sum() then fails, the student's loss); a def, a class or a lambda under
# one of these names fakes what the tests rely on.
TEST_BUILTINS = frozenset({
    "abs", "all", "any", "bool", "dict", "enumerate", "float", "getattr", "id", "int",
    "isinstance", "issubclass", "len", "list", "max", "min", "next", "print", "range", "repr",
    "round", "set", "sorted", "str", "sum", "tuple", "type", "zip",
    "Exception", "TypeError", "ValueError", "AssertionError", "NotImplementedError",
})

# Magics that only time or draw. Everything else (%run, %load, %env, %pip, %config, %%bash,
# %%writefile, %%javascript, %%html, x?? ...) and every shell escape reaches outside the notebook.
ALLOWED_MAGICS = {("line", "timeit"), ("cell", "timeit"), ("line", "time"), ("cell", "time"),
                  ("line", "matplotlib")}
MATPLOTLIB_BACKENDS = frozenset({"inline"})

FORMAT_FIELD_ATTRIBUTE = re.compile(r"\{[^{}!:]*\.\s*_")  # "{0.__class__}".format(x) reads attributes

_TRANSFORMER = TransformerManager()
_PARSE_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT  # IPython runs top-level await
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def check_source(source: str, protected_names: Iterable[str] = ()) -> list[Finding]:
    """Findings for one code cell's source (IPython syntax allowed), by line.

    `protected_names`: what the notebook's locked cells define (see `definitions`); a student
    cell must not rebind these, nor the course's modules, model and tokenizer (COURSE_NAMES).
    A cell that does not parse gets no finding: it fails when run, and nothing in it runs."""
    tree = _parse(source)
    if tree is None:
        return []
    checker = _Checker(frozenset(COURSE_NAMES) | frozenset(protected_names))
    try:
        checker.visit(tree)
    except RecursionError:
        return [Finding(1, "is nested too deeply to be checked")]
    offset = _leading_blank_lines(source)  # IPython drops them before parsing
    return sorted({Finding(f.line + offset, f.reason) for f in checker.findings})


def uses(source: str, names: Iterable[str]) -> list[Finding]:
    """Where a cell names any of `names`, as a name, an attribute or an import. An exercise
    whose point is to write what torch already does (the instructor lists the names in the
    answer cell's metadata, `autograder.write_yourself`) uses this to spot a call of torch's."""
    tree, names = _parse(source), set(names)
    if tree is None or not names:
        return []
    found = set()
    for node in ast.walk(tree):
        named = {getattr(node, "id", None), getattr(node, "attr", None)}
        if isinstance(node, ast.alias):
            named |= {node.name.split(".")[-1], node.asname}
        for name in sorted(named & names):
            found.add(Finding(getattr(node, "lineno", 1) + _leading_blank_lines(source),
                              f"uses {name}, which this exercise asks you to write yourself"))
    return sorted(found)


def definitions(source: str) -> set[str]:
    """The functions and classes a cell defines at its top level. Over a source notebook's
    locked and test cells: the helpers the tests call, to pass to `check_source` as protected
    names (a student cell could otherwise redefine one between two test cells)."""
    tree = _parse(source)
    return set() if tree is None else {
        name for name, node in _bindings(tree) if isinstance(node, (*_FUNCTIONS, ast.ClassDef))}


def _parse(source: str) -> ast.Module | None:
    """The cell as IPython runs it, or None if it cannot run at all."""
    try:
        return compile(_TRANSFORMER.transform_cell(source), "<cell>", "exec", _PARSE_FLAGS, dont_inherit=True)
    except Exception:  # a SyntaxError, or IPython could not tokenize the cell
        return None


class _Checker(ast.NodeVisitor):
    """One pass over a cell. Visits a chain such as torch.sys.modules from the inside out, and
    reports only its first problem (torch.sys), not every link after it."""

    def __init__(self, protected: frozenset[str]):
        self.protected = protected
        self.findings: list[Finding] = []
        self.reported: set[int] = set()  # nodes with a finding, and the chains built on them
        self.vetted: set[int] = set()  # nodes a call checked already (getattr, get_ipython(), ...)
        self.imports: dict[str, str] = {}  # name bound by an import -> full dotted path
        self.aliases: dict[str, str] = {}  # w = model.lm_head.weight: w -> model
        self.local_names: list[set[str]] = []  # per enclosing function: the names it binds
        self.owners: list[frozenset[str]] = [frozenset()]  # self or cls of the enclosing methods
        self.class_body = False  # visiting the statements directly in a class body
        self.defined_functions: set[str] = set()
        self.assigned: dict[int, ast.AST] = {}  # attribute being assigned -> the value

    def flag(self, node: ast.AST, reason: str):
        self.findings.append(Finding(getattr(node, "lineno", 1), reason))
        self.reported.add(id(node))

    @property
    def at_module_level(self) -> bool:
        return not self.local_names and not self.class_body

    def is_local(self, name: str) -> bool:
        return any(name in scope for scope in self.local_names)

    def is_shared(self, name: str | None) -> bool:
        return name is not None and (name in self.protected or name in self.imports or name in self.aliases)

    def origin(self, name: str | None) -> str:
        """What a shared name stands for: model for w = model.lm_head.weight."""
        return self.aliases.get(name, name) if name else "a class"

    # --- scopes ------------------------------------------------------------------------------

    def visit_Module(self, node):
        self.defined_functions = {name for name, n in _bindings(node) if isinstance(n, _FUNCTIONS)}
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if _is_dunder(node.name) and node.name not in ALLOWED_DUNDER_METHODS:
            self.flag(node, f"defines {node.name}, which changes how the interpreter or torch treats its objects")
        elif node.name in DENIED_ATTRIBUTES:
            self.flag(node, f"defines {node.name}, which {DENIED_ATTRIBUTES[node.name]}")
        self.bind(node.name, node, makes_function=True)
        for child in [*node.decorator_list, *_defaults(node.args), node.returns]:
            if child is not None:
                self.visit(child)
        self.enter_function(node, node.body, method=self.class_body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        for child in _defaults(node.args):
            self.visit(child)
        self.enter_function(node, [node.body], method=False)

    def enter_function(self, node, body, method: bool):
        names = _bound_names(node)
        owners = self.owners[-1] - names
        params = [*node.args.posonlyargs, *node.args.args]
        if method and params and not _is_staticmethod(node):
            first = params[0].arg
            if first not in _stored_names(node):  # `self = torch` would make self._C look honest
                owners |= {first}
        self.local_names.append(names)
        self.owners.append(owners)
        outer, self.class_body = self.class_body, False
        for arg in _all_args(node.args):
            if arg.annotation is not None:
                self.visit(arg.annotation)
        for statement in body:
            self.visit(statement)
        self.class_body = outer
        self.owners.pop()
        self.local_names.pop()

    def visit_ClassDef(self, node):
        if any(keyword.arg == "metaclass" for keyword in node.keywords):
            self.flag(node, f"gives class {node.name} a metaclass, which changes how classes behave")
        for base in node.bases:
            kind = base.id if isinstance(base, ast.Name) and not self.is_local(base.id) else self.path(base)
            if kind in VALUE_TYPES:
                self.flag(node, f"subclasses {kind}, which passes for one in a test while comparing as it likes")
        self.bind(node.name, node, makes_function=True)
        for child in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(child)
        outer, self.class_body = self.class_body, True
        for statement in node.body:
            self.visit(statement)
        self.class_body = outer

    def visit_Global(self, node):
        for name in node.names:
            if name in self.protected:
                self.flag(node, f"declares {name} global, so that a function can replace what the tests use")

    # --- names -------------------------------------------------------------------------------

    def visit_Name(self, node):
        name = node.id
        if not isinstance(node.ctx, ast.Load):
            self.bind(name, node, makes_function=False)
        elif id(node) in self.vetted or self.is_local(name):
            pass
        elif name in FORBIDDEN_NAMES:
            self.flag(node, f"uses {name}, which {FORBIDDEN_NAMES[name]}")
        elif IPYTHON_HISTORY.fullmatch(name):
            self.flag(node, f"uses {name}, which reads another cell's source or output")
        elif _is_dunder(name) and name not in SAFE_DUNDER_NAMES:
            self.flag(node, f"uses {name}, which reaches the interpreter's internals")
        else:
            self.check_passed_around(node, name)

    def bind(self, name: str, node: ast.AST, makes_function: bool):
        """A name bound by an assignment, def, class, for loop, del, except ... as, ..."""
        if _is_dunder(name) and name not in ALLOWED_DUNDER_METHODS and not isinstance(node, _FUNCTIONS):
            self.flag(node, f"assigns {name}, which changes how the interpreter treats this code")
        if not self.at_module_level:
            return
        if name in self.protected:
            self.flag(node, f"rebinds {name}, which the test cells use")
        elif name in TEST_BUILTINS and makes_function:
            self.flag(node, f"replaces the builtin {name} with a function of its own, and the test cells call {name}")

    def visit_Assign(self, node):
        for target in node.targets:
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Lambda):
                self.bind(target.id, target, makes_function=True)
            self.note_alias(target, node.value)
            self.assigned[id(target)] = node.value
        self.generic_visit(node)

    def visit_For(self, node):
        self.note_alias(node.target, node.iter)  # for block in model.blocks: block is the model's
        self.generic_visit(node)

    def note_alias(self, target, value):
        """w = model.lm_head.weight or cls = type(model): changing w changes the shared object."""
        if not isinstance(target, ast.Name):
            return
        root = _root_name(value)
        self.aliases.pop(target.id, None)  # a name rebound to something else is no longer an alias
        if target.id not in self.protected:
            self.imports.pop(target.id, None)
        if not isinstance(value, ast.Call) and self.is_shared(root):
            self.aliases[target.id] = self.origin(root)
            if self.path(value):  # mpl = arlib.viz.matplotlib: mpl.use is matplotlib.use
                self.imports[target.id] = self.path(value)
        elif _is_type_call(value):
            self.aliases[target.id] = "a class"

    def visit_ExceptHandler(self, node):
        if node.name:
            self.bind(node.name, node, makes_function=False)
        self.generic_visit(node)

    def visit_MatchAs(self, node):
        if node.name:
            self.bind(node.name, node, makes_function=False)
        self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    # --- imports -----------------------------------------------------------------------------

    def visit_Import(self, node):
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            if alias.name not in ALLOWED_MODULES:
                self.flag(node, f"imports {alias.name}, which answers never need")
            elif bound not in ALLOWED_MODULES and not alias.asname:  # import IPython.display binds all of IPython
                self.flag(node, f"binds {bound}, which answers never need; import what is needed from {alias.name}")
            self.bind_import(bound, alias.name if alias.asname else bound, node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level:
            return self.flag(node, "uses a relative import, which answers never need")
        if module not in ALLOWED_MODULES:
            return self.flag(node, f"imports from {module}, which answers never need")
        for alias in node.names:
            path = f"{module}.{alias.name}"
            if alias.name == "*":
                self.flag(node, f"imports every name of {module}, which can replace names the tests use")
                continue
            if module == "__future__" and alias.name != "annotations":
                self.flag(node, f"imports {alias.name} from __future__, which changes how later cells parse")
            elif module == "IPython.display" and alias.name not in ALLOWED_FROM_IPYTHON_DISPLAY:
                self.flag(node, f"imports {path}, which {FORBIDDEN_NAMES.get(alias.name, 'answers never need')}")
            elif alias.name in ATTRIBUTE_BY_NAME and alias.asname not in (None, alias.name):
                self.flag(node, f"renames {alias.name}, which can reach any attribute")
            else:
                self.check_attribute_name(node, path, None, alias.name, store=False, text=path)
            self.bind_import(alias.asname or alias.name, path, node)

    def bind_import(self, name: str, path: str, node: ast.AST):
        self.imports[name] = path
        if name in self.protected and COURSE_NAMES.get(name) != path and self.at_module_level:
            self.flag(node, f"rebinds {name}, which the test cells use, to {path}")

    # --- attributes --------------------------------------------------------------------------

    def visit_Attribute(self, node):
        self.visit(node.value)
        if id(node) in self.vetted:  # get_ipython().run_line_magic of a magic checked as a whole
            return
        if id(node.value) in self.reported:
            self.reported.add(id(node))
            return
        store = isinstance(node.ctx, (ast.Store, ast.Del))
        self.check_attribute_name(node, self.path(node), node.value, node.attr, store)
        if store:
            self.check_store(node, node.value, value=self.assigned.get(id(node)))
        elif node.attr in ("format", "format_map"):
            self.check_format(node)
        self.check_passed_around(node, node.attr)

    def check_attribute_name(self, node, path, base, name, store, text=None):
        """The rules for reading or setting `name` on `base` (None: imported from a module).
        `text` shows the access in a finding (default: the source of `node`)."""
        if _is_dunder(name):
            on_super = base is not None and _is_super_call(base) and name in ALLOWED_DUNDER_METHODS
            if store or not (name in SAFE_DUNDER_READS or on_super):
                self.flag(node, f"uses {text or _short(node)}, a double-underscore attribute that reaches "
                                "the interpreter's internals")
        elif name in DENIED_ATTRIBUTES or "hook" in name.lower():
            why = DENIED_ATTRIBUTES.get(name, "runs code when other code runs")
            self.flag(node, f"uses {text or _short(node)}, which {why}")
        elif name.startswith("_") and name not in NAMEDTUPLE_API and not self.is_owner(base):
            self.flag(node, f"uses {text or _short(node)}, a private attribute that answers never need")
        elif path:
            parts = path.split(".")
            if parts[0] == "arlib" and len(parts) > 1 and parts[1] in ARLIB_INTERNAL:
                self.flag(node, f"uses arlib.{parts[1]}, which is grading machinery, not part of the course")
            for denied, why in DENIED_PATHS.items():  # torch.compile, or arlib.viz.matplotlib.use
                if f".{path}.".find(f".{denied}.") >= 0:
                    self.flag(node, f"uses {denied}, which {why}")

    def check_store(self, node, base, text=None, value=None):
        """Setting or deleting an attribute or item: fine on self and on the student's own objects."""
        if self.is_owner(base):
            return
        root = _root_name(base)
        if (self.is_shared(root) or _is_type_call(_root(base))) and not self.through_harmless_state(base):
            self.flag(node, f"assigns to {text or _short(node)}, changing {self.origin(root)} for every later "
                            "cell, the tests included")
        elif isinstance(value, ast.Lambda) or isinstance(value, ast.Name) and value.id in self.defined_functions:
            self.flag(node, f"assigns a function to {text or _short(node)}, replacing a method of an object "
                            "it did not make")

    def through_harmless_state(self, node) -> bool:
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            if isinstance(node, ast.Attribute) and node.attr in HARMLESS_SHARED_STATE:
                return True
            node = node.value
        return False

    def check_format(self, node):
        receiver = node.value
        if not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)):
            self.flag(node, f"formats with {_short(node)}, a template that is not a string literal and can "
                            "read any attribute")
        elif FORMAT_FIELD_ATTRIBUTE.search(receiver.value):
            self.flag(node, "formats a string whose fields read private or double-underscore attributes")

    def check_passed_around(self, node, name: str):
        """getattr and timeit.timeit are checked where they are called; handed on uncalled
        (functools.partial(getattr, x), run = timeit.timeit) they would escape that check."""
        if id(node) in self.vetted:
            return
        if name in ATTRIBUTE_BY_NAME:
            self.flag(node, f"passes {name} around uncalled, which can reach any attribute")
        elif self.path(node) in TIMEIT_CALLS:
            self.flag(node, f"passes {self.path(node)} around uncalled, which can run a string as code")

    def is_owner(self, base) -> bool:
        return isinstance(base, ast.Name) and base.id in self.owners[-1]

    def path(self, node) -> str | None:
        """torch.nn.functional.softmax for F.softmax; None when the chain does not start at a module."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or self.is_local(node.id):
            return None
        root = self.imports.get(node.id) or COURSE_NAMES.get(node.id)
        return ".".join([root, *reversed(parts)]) if root else None

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and id(node.value) not in self.reported:
            self.check_store(node, node.value)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and "usetex" in node.value:  # plt.rcParams["text.usetex"] = True
            self.flag(node, "turns on matplotlib's usetex, which runs LaTeX, and LaTeX reads any file")

    def visit_AugAssign(self, node):
        if isinstance(node.target, ast.Name):
            self.bind(node.target.id, node.target, makes_function=False)
        self.generic_visit(node)

    # --- calls -------------------------------------------------------------------------------

    def visit_Call(self, node):
        func = node.func
        for keyword in node.keywords:
            if keyword.arg in DENIED_KEYWORDS:
                self.flag(node, f"passes {keyword.arg}= to {_short(func)}, which then {DENIED_KEYWORDS[keyword.arg]}")
        if self.path(func) == "IPython.display.display" and any(k.arg == "raw" for k in node.keywords):
            self.flag(node, "calls display(..., raw=True), which can show HTML or JavaScript in the "
                            "instructor's browser")
        magic = _magic_call(node)
        if magic:
            self.vetted |= {id(func), id(func.value.func)}
            self.check_magic(node, *magic)
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in ATTRIBUTE_BY_NAME and not (isinstance(func, ast.Name) and self.is_local(name)):
            self.vetted.add(id(func))
            self.check_attribute_call(node, name)
        if self.path(func) in TIMEIT_CALLS:
            self.vetted.add(id(func))
            self.check_timeit(node)
        target = self.mutation_target(node)
        if target is not None and not self.through_harmless_state(func):
            self.flag(node, f"calls {_short(func)}, changing {self.origin(target)} for every later cell, "
                            "the tests included")
        self.generic_visit(node)
        if id(func) in self.reported:
            self.reported.add(id(node))

    def mutation_target(self, node: ast.Call) -> str | None:
        """The shared name whose object a call changes in place, if it looks like one that does."""
        func = node.func
        if not isinstance(func, ast.Attribute):
            return None
        owner = self.path(func.value)
        if owner in ALLOWED_MODULES or (owner and func.attr.endswith("_")):
            # a module's function: torch.nn.init.zeros_(w) changes w, torch.sort(x) changes nothing
            changed = _root_name(node.args[0]) if func.attr.endswith("_") and node.args else None
        else:
            changed = _root_name(func.value) if _is_mutating(func.attr) else None
        return changed if self.is_shared(changed) else None

    def check_attribute_call(self, node, name: str):
        """getattr(x, "name") is x.name: the name must be a literal, and pass the attribute rules."""
        args = node.args
        if name in ("attrgetter", "methodcaller"):
            names, base, store = (args if name == "attrgetter" else args[:1]), None, False
        else:
            names, base, store = args[1:2], (args[0] if args else None), name in ("setattr", "delattr")
        literals = [a.value for a in names if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if not names or len(literals) != len(names) or (node.keywords and name != "methodcaller"):
            return self.flag(node, f"calls {name} with a name computed at run time, which can reach any attribute")
        for literal in literals:
            for part in literal.split(".") if name == "attrgetter" else [literal]:
                text = f"{_short(base)}.{part}" if base is not None else f"{name}({literal!r})"
                self.check_attribute_name(node, None, base, part, store, text)
                if store:
                    self.check_store(node, base, text, args[2] if len(args) > 2 else None)

    def check_timeit(self, node):
        """timeit.timeit("code") runs the string as code: check it; a function or lambda is fine."""
        code_args = [*node.args[:2], *(k.value for k in node.keywords if k.arg in ("stmt", "setup", None))]
        for arg in code_args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self.check_code(arg.value, node.lineno - 1, "timeit")
            elif not (isinstance(arg, ast.Lambda) or isinstance(arg, ast.Name) and arg.id in self.defined_functions):
                self.flag(node, "gives timeit something other than a function or a literal string, which it "
                                "may run as code")

    def check_magic(self, node, kind: str, name: str, line: str, body: str | None):
        if (kind, name) not in ALLOWED_MAGICS:
            shown = f"!{line}" if kind in ("system", "getoutput") else ("%" if kind == "line" else "%%") + name
            return self.flag(node, f"uses {_shorten(shown)}, which reaches outside the notebook")
        if name == "matplotlib":
            if line.strip() not in MATPLOTLIB_BACKENDS:
                self.flag(node, f"uses %matplotlib {_shorten(line)}; only %matplotlib inline is needed")
            return
        code = self.magic_code(node, name, line)
        if code is not None and body is None:
            self.check_code(code, node.lineno - 1, f"%{name}")
        elif code is not None:
            self.check_code(code, node.lineno - 1, f"%%{name}")  # timeit's setup line
            self.check_code(body, node.lineno, f"%%{name}")  # the body starts on the next line

    def magic_code(self, node, name: str, line: str) -> str | None:
        """The code %time or %timeit takes from its line, parsed the way IPython parses it."""
        try:
            if name == "time":
                return " ".join(magic_arguments.parse_argstring(ExecutionMagics.time, line, partial=True)[1])
            options, code = Magics.parse_options(types.SimpleNamespace(options_table={}), line, "n:r:tcp:qov:",
                                                 posix=False, strict=False, preserve_non_opts=True)
        except Exception:
            self.flag(node, f"gives %{name} options it cannot read")
            return None
        if "v" in options:
            self.flag(node, "uses %timeit -v, which stores into any variable of the notebook")
        return code

    def check_code(self, code: str, line_offset: int, where: str):
        """Code a magic or timeit runs in the notebook: the same rules as a cell."""
        if not code.strip():
            return
        if _parse(code) is None:
            self.findings.append(Finding(line_offset + 1, f"gives {where} code that cannot be checked"))
            return
        for finding in check_source(code, self.protected - frozenset(COURSE_NAMES)):
            self.findings.append(Finding(finding.line + line_offset, f"{finding.reason} (in {where})"))


# --- helpers -----------------------------------------------------------------------------------

def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_super_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _is_type_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type"


def _is_staticmethod(node) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in getattr(node, "decorator_list", []))


def _is_mutating(method: str) -> bool:
    return method in MUTATING_METHODS or (method.endswith("_") and not method.startswith("_"))


def _root(node):
    """model for model.blocks[0].attn.weight, type(model) for type(model).forward."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


def _root_name(node) -> str | None:
    root = _root(node)
    return root.id if isinstance(root, ast.Name) else None


def _magic_call(node: ast.Call):
    """(kind, name, line, body) for get_ipython().run_line_magic("name", "line") and the like,
    the code IPython makes of %magic, %%magic and !cmd; None for any other call."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
            and not func.value.args and not func.value.keywords and not node.keywords
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
        return None
    args = [a.value for a in node.args]
    if func.attr == "run_line_magic" and len(args) == 2:
        return "line", args[0], args[1], None
    if func.attr == "run_cell_magic" and len(args) == 3:
        return "cell", args[0], args[1], args[2]
    if func.attr in ("system", "getoutput") and len(args) == 1:
        return func.attr, func.attr, args[0], None
    return None


def _defaults(args: ast.arguments):
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def _all_args(args: ast.arguments):
    return [*args.posonlyargs, *args.args, *([args.vararg] if args.vararg else []),
            *args.kwonlyargs, *([args.kwarg] if args.kwarg else [])]


def _same_scope(node):
    """The nodes of `node`'s own scope: of a nested function or class only what the enclosing
    scope evaluates (name, decorators, defaults); of a comprehension not its loop variables."""
    for child in ast.iter_child_nodes(node):
        yield child
        if isinstance(child, (*_FUNCTIONS, ast.Lambda)):
            for sub in [*getattr(child, "decorator_list", []), *_defaults(child.args)]:
                yield from _walk_scope(sub)
        elif isinstance(child, ast.ClassDef):
            for sub in [*child.decorator_list, *child.bases, *child.keywords]:
                yield from _walk_scope(sub)
        elif isinstance(child, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for sub in ast.iter_child_nodes(child):
                parts = [sub.iter, *sub.ifs] if isinstance(sub, ast.comprehension) else [sub]
                for part in parts:
                    yield from _walk_scope(part)
        else:
            yield from _same_scope(child)


def _walk_scope(node):
    yield node
    yield from _same_scope(node)


def _bindings(scope):
    """(name, node) for every name bound in `scope` itself, a function's parameters included."""
    if isinstance(scope, (*_FUNCTIONS, ast.Lambda)):
        for arg in _all_args(scope.args):
            yield arg.arg, arg
        body = scope.body if isinstance(scope.body, list) else [scope.body]
        nodes = [n for statement in body for n in _walk_scope(statement)]
    else:
        nodes = list(_same_scope(scope))
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            yield node.id, node
        elif isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            yield node.name, node
        elif isinstance(node, ast.alias) and node.name != "*":
            yield (node.asname or node.name.split(".")[0]), node
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            yield node.name, node
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest, node


def _bound_names(scope) -> set[str]:
    declared = {name for node in _same_scope(scope) if isinstance(node, (ast.Global, ast.Nonlocal))
                for name in node.names}
    return {name for name, _ in _bindings(scope)} - declared


def _stored_names(function) -> set[str]:
    return {name for name, node in _bindings(function) if not isinstance(node, ast.arg)}


def _leading_blank_lines(source: str) -> int:
    count = 0
    for line in source.splitlines():
        if line.strip():
            break
        count += 1
    return count


def _short(node) -> str:
    return _shorten(ast.unparse(node))


def _shorten(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
