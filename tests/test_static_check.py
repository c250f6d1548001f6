"""autograder.static_check: honest answers pass untouched, every kind of attack is found.

Two corpora: every answer cell of the course (as solved and as released) plus answers in other
honest styles, which must give no finding at all; and one attack per category, each of which
must give a finding with a sensible reason.
"""

import time

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from autograder import static_check
from autograder.static_check import Finding, check_source, definitions
from autograder.workspace import REPO


def _answer_cells(folder):
    """(grade_id, source) of every code answer cell of the notebooks under `folder`."""
    cells = []
    for path in sorted(folder.glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("solution"):
                cells.append((f"{path.stem}:{meta['grade_id']}", cell.source))
    return cells


def _protected(notebook_name):
    """What the locked and test cells of a source notebook define: the helpers tests call."""
    (path,) = (REPO / "solutions").glob(f"*/{notebook_name}.ipynb")
    names = set()
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("solution"):
            names |= definitions(cell.source)
    return names


def _solved(source):
    """An answer cell as a student who solved it hands it in: the solution delimiters gone."""
    return "\n".join(line for line in source.split("\n") if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


SOLUTIONS = [(f"solution {name}", _solved(source)) for name, source in _answer_cells(REPO / "solutions")]
RELEASED = [(f"release {name}", source) for name, source in _answer_cells(REPO / "course")]

# Correct answers in styles other than the solutions': loops, comprehensions, numpy, einsum,
# float64, helpers, small classes, functools, itertools, timings, plots, magics, type hints.
HONEST = {
    "greedy step by hand": '''
def greedy_step(lm, context_ids):
    log_probs = lm.next_token_log_probs(context_ids).tolist()
    best = max(range(len(log_probs)), key=lambda i: log_probs[i])
    return best, math.exp(log_probs[best])
''',
    "generation table with a helper and a comprehension": '''
def _row(lm, context, token_id, prob, cumulative):
    words = lm.tokenizer.decode(context)
    return {"context": words, "token": lm.tokenizer.token(token_id), "rule": decision_rule(words),
            "prob": prob, "cumulative": cumulative}


def generation_table(lm, prefix, n_steps):
    context, rows, cumulative = lm.tokenizer.encode(prefix), [], 1.0
    for step in range(n_steps):
        token_id, prob = greedy_step(lm, context)
        cumulative = cumulative * prob
        rows.append(_row(lm, context, token_id, prob, cumulative))
        context = context + [token_id]
    assert len(rows) == n_steps, f"expected {n_steps} rows, got {len(rows)}"
    return rows
''',
    "generate with a for loop and break": '''
def generate(model, prompt_ids, max_new_tokens, eos_id=None):
    context, new_tokens = [*prompt_ids], []
    for _ in range(max_new_tokens):
        next_id = torch.argmax(model.next_token_log_probs(context)).item()
        new_tokens += [next_id]
        context += [next_id]
        if eos_id is not None and next_id == eos_id:
            break
    return new_tokens
''',
    "generate recursively": '''
def generate(model, prompt_ids, max_new_tokens, eos_id=None):
    if max_new_tokens <= 0:
        return []
    token = int(model.next_token_log_probs(list(prompt_ids)).argmax())
    if token == eos_id:
        return [token]
    return [token] + generate(model, list(prompt_ids) + [token], max_new_tokens - 1, eos_id)
''',
    "sequence probability with functools.reduce": '''
import functools
import operator


def sequence_probability(lm, prompt_ids, continuation_ids):
    factors = []
    context = list(prompt_ids)
    for token_id in continuation_ids:
        factors.append(math.exp(lm.next_token_log_probs(context)[token_id].item()))
        context.append(token_id)
    return functools.reduce(operator.mul, factors, 1.0)
''',
    "sequence probability from a sum of logs": '''
def sequence_probability(lm, prompt_ids, continuation_ids):
    total = 0.0
    for i, token_id in enumerate(continuation_ids):
        context = list(prompt_ids) + list(continuation_ids[:i])
        total += float(lm.next_token_log_probs(context)[token_id])
    return math.exp(total)
''',
    "causal mask with loops": '''
def make_causal_mask(T):
    mask = torch.zeros((T, T), dtype=torch.bool)
    for t in range(T):
        for s in range(t + 1):
            mask[t, s] = True
    return mask
''',
    "causal mask from numpy and arange": '''
import numpy as np


def make_causal_mask(T):
    rows = np.arange(T)[:, None]
    cols = np.arange(T)[None, :]
    return torch.from_numpy(cols <= rows)
''',
    "single head with einsum in float64": '''
def single_head_attention(x, w_q, w_k, w_v):
    x64 = x.double()
    q = torch.einsum("btd,dk->btk", x64, w_q.double())
    k = torch.einsum("btd,dk->btk", x64, w_k.double())
    v = torch.einsum("btd,dk->btk", x64, w_v.double())
    scores = torch.einsum("bqk,bsk->bqs", q, k) / q.shape[-1] ** 0.5
    T = x.shape[1]
    scores = scores.masked_fill(~make_causal_mask(T), -math.inf)
    weights = scores.softmax(dim=-1)
    return (weights @ v).to(x.dtype), weights.to(x.dtype)
''',
    "multi head with a loop over heads": '''
def multi_head_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    batch, T, d_model = x.shape
    d_head = d_model // n_head
    qkv = x @ w_qkv.T + b_qkv
    q, k, v = qkv[..., :d_model], qkv[..., d_model:2 * d_model], qkv[..., 2 * d_model:]
    heads = []
    for h in range(n_head):
        part = slice(h * d_head, (h + 1) * d_head)
        scores = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(d_head)
        scores[:, ~make_causal_mask(T)] = float("-inf")
        heads.append(torch.softmax(scores, dim=-1) @ v[..., part])
    return torch.cat(heads, dim=-1) @ w_out.T + b_out
''',
    "multi head with scaled_dot_product_attention": '''
import torch.nn.functional as F


def multi_head_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    batch, T, d_model = x.shape
    q, k, v = F.linear(x, w_qkv, b_qkv).chunk(3, dim=-1)
    split = lambda t: t.reshape(batch, T, n_head, d_model // n_head).permute(0, 2, 1, 3)
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=True)
    return F.linear(out.permute(0, 2, 1, 3).reshape(batch, T, d_model), w_out, b_out)
''',
    "next token distribution under no_grad with nn.functional": '''
import torch.nn.functional


def next_token_distribution(model, ids):
    with torch.no_grad():
        x = model.embed(torch.tensor(list(ids)).unsqueeze(0))
        for block in model.blocks:
            x = block(x)
        logits = model.lm_head(model.final_norm(x))[0, -1]
    return torch.nn.functional.softmax(logits, dim=-1)
''',
    "generate_fixed with a decorator": '''
@torch.no_grad()
def generate_fixed(model, prompt_ids, max_new_tokens, eos_id=None):
    """Greedy decoding: the new tokens only."""
    context = list(prompt_ids)
    start = len(context)
    while len(context) - start < max_new_tokens:
        logits = model(torch.tensor([context]))
        context.append(logits[0, -1].argmax().item())
        if context[-1] == eos_id:
            break
    return context[start:]
''',
    "token log probs with gather": '''
def token_log_probs(model, x_ids, y_ids):
    x, y = list(map(int, x_ids)), list(map(int, y_ids))
    if len(x) == 0 or len(y) == 0:
        raise ValueError("x_ids and y_ids need at least one token each")
    rows = model.log_probs(x + y[:-1])[len(x) - 1:]
    return rows.gather(1, torch.tensor(y).unsqueeze(1)).squeeze(1)


def sequence_log_likelihood(model, x_ids, y_ids):
    return sum(token_log_probs(model, x_ids, y_ids).tolist())
''',
    "mean nll with cross entropy and with numpy": '''
import numpy as np


def mean_nll(logits, targets):
    return torch.nn.functional.cross_entropy(logits, targets)


def mean_nll_numpy(logits, targets):
    a = logits.detach().numpy().astype(np.float64)
    a = a - a.max(axis=1, keepdims=True)
    log_probs = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(targets)), targets.numpy()].mean())
''',
    "windowed log likelihood with a generator": '''
def windowed_log_likelihood(model, x_ids, y_ids, k: int) -> float:
    if type(k) is not int:
        raise TypeError(f"k must be an int, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    seq = [*map(int, x_ids), *map(int, y_ids)]
    return sum(model.next_token_log_probs(seq[max(0, i - k):i])[seq[i]].item()
               for i in range(len(x_ids), len(seq)))
''',
    "positions processed with a match statement": '''
def positions_processed(m, n, cached):
    for name, value in {"m": m, "n": n}.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int")
    if m < 1 or n < 0:
        raise ValueError("m must be at least 1 and n at least 0")
    match (n, cached):
        case (0, _):
            return 0
        case (_, True):
            return m + n - 1
        case _:
            return sum(m + t for t in range(n))
''',
    "most probable continuation with itertools.product and max": '''
import itertools
from typing import Optional


def most_probable_continuation(model, x_ids, n):
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    scored = ((list(c), arlib.sequence_log_likelihood(model, list(x_ids), list(c)))
              for c in itertools.product(range(model.vocab_size), repeat=n))
    best: Optional[tuple] = max(scored, key=lambda pair: pair[1])
    return best
''',
    "a KV cache class with a dataclass": '''
from dataclasses import dataclass, field


@dataclass
class KVCache:
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None
    history: list = field(default_factory=list)

    def __len__(self) -> int:
        return 0 if self.keys is None else int(self.keys.shape[2])

    def append(self, k, v):
        self.history.append(k.shape[2])
        self.keys = k if self.keys is None else torch.cat((self.keys, k), dim=2)
        self.values = v if self.values is None else torch.cat((self.values, v), dim=2)
        return self.keys, self.values

    def __repr__(self):
        return f"{self.__class__.__name__}({len(self)} positions)"
''',
    "subclassing arlib's cache with super().__init__": '''
from arlib import KVCache as ReferenceCache


class CountingCache(ReferenceCache):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._appends = 0

    def append(self, layer, k, v):
        self._appends += 1
        return super().append(layer, k, v)

    def __len__(self):
        return super().__len__()
''',
    "a small class with private state and dunders": '''
class Window:
    """The last `size` token ids."""

    def __init__(self, size):
        self._size = size
        self.__items = []

    def push(self, token):
        self.__items = (self.__items + [token])[-self._size:]

    def __len__(self):
        return len(self.__items)

    def __getitem__(self, i):
        return self.__items[i]

    def __iter__(self):
        return iter(self.__items)

    def __eq__(self, other):
        return isinstance(other, Window) and list(self) == list(other)

    def __repr__(self):
        return f"{type(self).__name__}({self.__items!r})"

    @classmethod
    def of(cls, tokens, size):
        window = cls(size)
        for t in tokens:
            window.push(t)
        return window

    @staticmethod
    def describe():
        return Window.__doc__
''',
    "an nn.Module with forward(self, input)": '''
class Scale(torch.nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.register_buffer("factor", torch.tensor(float(factor)))

    def forward(self, input):
        return input * self.factor


print(Scale(2.0)(torch.ones(3)))
''',
    "attend with cache via einsum": '''
def attend_with_cache(q, cache):
    if len(cache) == 0:
        raise ValueError("the cache is empty")
    t_new, n = q.shape[2], len(cache)
    scores = torch.einsum("bhqd,bhkd->bhqk", q, cache.keys) * q.shape[-1] ** -0.5
    allowed = torch.arange(n)[None, :] <= torch.arange(n - t_new, n)[:, None]
    scores = torch.where(allowed, scores, torch.tensor(float("-inf")))
    return torch.einsum("bhqk,bhkd->bhqd", scores.softmax(-1), cache.values)
''',
    "cached decoding with try, except and assert": '''
def cached_greedy_decode(model, prompt_ids, max_new_tokens, eos_id=None):
    new_tokens, step_logits = [], []
    cache = model.new_cache()
    try:
        logits = model(list(prompt_ids), cache)[0, -1]
    except ValueError as error:
        raise ValueError(f"the prompt could not be run: {error}") from error
    for step in range(max_new_tokens):
        token = int(logits.argmax())
        new_tokens.append(token)
        step_logits.append(logits)
        if token == eos_id or step == max_new_tokens - 1:
            break
        logits = model([token], cache)[0, -1]
    assert len(new_tokens) <= max_new_tokens
    return new_tokens, step_logits
''',
    "fixed step unpacking the cache": '''
def fixed_step(q, k, v, cache, layer):
    stored = cache.append(layer, k, v)
    keys, values = stored
    return attend(q, keys, values)
''',
    "timing with perf_counter and a plot": '''
import time
import matplotlib.pyplot as plt

lengths, seconds = [8, 16, 32], []
for n in lengths:
    start = time.perf_counter()
    model(list(range(1, n)))
    seconds.append(time.perf_counter() - start)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(lengths, [1000 * s for s in seconds], "o-", label="uncached")
ax.set_xlabel("positions")
ax.set_ylabel("ms")
ax.legend()
plt.show()
''',
    "timeit magics": '''
%timeit -n 3 -r 2 model(ids("the cat sat"))
%time tokens = arlib.greedy_decode(model, ids("the cat"), 5)
result = %timeit -o -q sum(range(100))
''',
    "a %%time cell": '''%%time
answer_e4_09_pretrained = 2 * cfg.n_layer * cfg.max_len * cfg.d_model * 4
''',
    "a %%timeit cell with a setup line": '''%%timeit -n 2 prompt = ids("we study")
model(prompt)
''',
    "matplotlib inline and a viz figure": '''
%matplotlib inline
from IPython.display import display
from arlib import viz, toy_world

display(viz.next_token_bar_chart(toy_world.true_next_token_probs("the cat sat"), title="truth"))
''',
    "timeit module with a lambda and a function": '''
import timeit


def run():
    return model(ids("the cat sat"))


print(timeit.timeit(lambda: run(), number=3), timeit.repeat(run, number=1, repeat=2))
''',
    "value answers computed with math and fractions": '''
from fractions import Fraction

answer_e3_01_log_likelihood = -0.7 + -0.4
answer_e3_01_probability = math.exp(answer_e3_01_log_likelihood)
exact = Fraction(1, 2) * Fraction(2, 3)
answer_e1_02_probability = float(Fraction(2, 10) * Fraction(6, 10))
print(f"{answer_e3_01_probability:.4f} {exact}")
''',
    "collections, heapq, bisect, statistics, random": '''
import bisect
import heapq
import random
import statistics
from collections import Counter, defaultdict, namedtuple

random.seed(0)
torch.manual_seed(0)
counts = Counter(tokenizer.token(t) for t in ids("the cat sat on the mat"))
by_length = defaultdict(list)
for word in counts:
    by_length[len(word)].append(word)
top = heapq.nlargest(2, counts.items(), key=lambda kv: kv[1])
Pair = namedtuple("Pair", "word count")
pairs = [Pair(w, c)._replace(count=c + 1) for w, c in top]
position = bisect.bisect_left(sorted(counts.values()), 2)
print(statistics.mean(counts.values()), pairs, position, pairs[0]._asdict())
''',
    "an enum, a copy and a global counter": '''
import copy
import enum


class Mode(enum.Enum):
    CACHED = "cached"
    UNCACHED = "uncached"


calls = 0


def count_call(tokens):
    global calls
    calls += 1
    return copy.deepcopy(tokens)


snapshot = count_call([1, 2, 3])
print(Mode.CACHED.value, calls, snapshot)
''',
    "shadowing builtins with values, walrus and sum": '''
sum = 0
for value in [1, 2, 3]:
    sum += value
max_len = 10
if (n := len(ids("the cat"))) > 1:
    print(n, sum, max_len)
del sum
''',
    "getattr and hasattr with literal names": '''
def describe(cache):
    keys = getattr(cache, "keys", None)
    return hasattr(cache, "append"), keys is None, "{} positions".format(len(cache))
''',
    "a main guard and an f-string table": '''
def table(rows):
    lines = [f"{'step':>4} {'token':>8}"]
    lines += [f"{i:>4} {tokenizer.token(t):>8}" for i, t in enumerate(rows, start=1)]
    return "\\n".join(lines)


if __name__ == "__main__":
    print(table(arlib.greedy_decode(model, ids("the cat"), 3)))
''',
    "answer cells that explore with the model": '''
for prompt_text in ["the cat sat", "we went"]:
    tokens = arlib.greedy_decode(model, ids(prompt_text), 6, eos_id=tokenizer.eos_id)
    print(prompt_text, "->", words(tokens))
answer_e4_06_step = 2
''',
    "numpy arrays and float64 tensors": '''
import numpy as np

probs = np.array([0.6, 0.3, 0.1], dtype=np.float64)
entropy = -np.sum(probs * np.log(probs))
t = torch.tensor(probs, dtype=torch.float64)
assert torch.isclose(-(t * t.log()).sum(), torch.tensor(entropy, dtype=torch.float64))
x = torch.zeros(3)
x.add_(1.0)
x.masked_fill_(x > 0, 2.0)
''',
    "plot settings, a functional cache and the model's parts": '''
plt.rcParams["figure.figsize"] = (6, 3)
plt.rcParams.update({"font.size": 9})


def append(cache, k, v):
    cache.keys = k if cache.keys is None else torch.cat([cache.keys, k], dim=2)
    cache.values = v if cache.values is None else torch.cat([cache.values, v], dim=2)
    return cache.keys, cache.values


n_linear = sum(1 for m in model.modules() if isinstance(m, torch.nn.Linear))
print(model.__class__.__name__, append.__name__, n_linear)
''',
    "a lambda sort and a future import": '''from __future__ import annotations

ranked = sorted(toy_world.true_next_token_probs("the cat sat").items(), key=lambda kv: -kv[1])
best: list[tuple[str, float]] = ranked[:2]
''',
}

# One attack per category; each must give a finding whose reason contains the fragment.
ATTACKS = {
    "IPython input transformer": ("get_ipython().input_transformers_post.append(lambda lines: lines)", "get_ipython"),
    "AST transformer": ("ip = get_ipython()\nip.ast_transformers.append(object())", "get_ipython"),
    "replacing run_cell": ("shell = get_ipython()\nshell.run_cell = lambda *a, **k: None", "get_ipython"),
    "custom exception handler": ("get_ipython().set_custom_exc((Exception,), lambda *a: None)", "get_ipython"),
    "pre/post-run callback": ("get_ipython().events.register('post_run_cell', print)", "get_ipython"),
    "display hook": ("ip = get_ipython()\nip.displayhook = print", "get_ipython"),
    "display formatter": ("ip = get_ipython()\nip.display_formatter.formatters.clear()", "get_ipython"),
    "sys.settrace": ("import sys\nsys.settrace(lambda *a: None)", "imports sys"),
    "setprofile through torch": ("torch.sys.setprofile(print)", "torch.sys"),
    "sys._getframe": ("import sys\nframe = sys._getframe(1)", "imports sys"),
    "inspect.currentframe": ("import inspect\nprint(inspect.currentframe().f_back.f_locals)", "imports inspect"),
    "traceback": ("import traceback\ntraceback.print_stack()", "imports traceback"),
    "frame from an exception": ("try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame", "__traceback__"),
    "generator frame": ("def g():\n    yield 1\n\nframe = g().gi_frame.f_back", "gi_frame"),
    "gc.get_objects": ("import gc\nfor o in gc.get_objects():\n    pass", "imports gc"),
    "gc.get_referrers": ("from gc import get_referrers\nget_referrers(model)", "imports from gc"),
    "ctypes": ("import ctypes\nctypes.pythonapi.PyFrame_GetBack", "imports ctypes"),
    "numpy ctypeslib": ("np.ctypeslib.as_array", "native code"),
    "patching torch": ("torch.allclose = lambda *a, **k: True", "assigns to torch.allclose"),
    "patching math": ("import math\nmath.isclose = lambda *a, **k: True", "assigns to math.isclose"),
    "patching grading": ("grading.check_number = print", "grading"),
    "patching arlib": ("arlib.greedy_decode = lambda *a, **k: []", "assigns to arlib.greedy_decode"),
    "patching numpy": ("import numpy\nnumpy.allclose = lambda *a, **k: True", "assigns to numpy.allclose"),
    "setattr on torch": ("setattr(torch, 'allclose', lambda *a, **k: True)", "changing torch"),
    "delattr on a module": ("delattr(F, 'softmax')", "changing F"),
    "patching builtins": ("import builtins\nbuiltins.isinstance = lambda *a: True", "imports builtins"),
    "builtins through a module": ("math.__builtins__['len'] = print", "__builtins__"),
    "rebinding a builtin with a def": ("def isinstance(obj, kind):\n    return True", "builtin isinstance"),
    "rebinding a builtin with a lambda": ("len = lambda x: 6", "builtin len"),
    "rebinding torch": ("import numpy as torch", "rebinds torch"),
    "replacing the model": ("model = None", "rebinds model"),
    "global rebinding": ("def f():\n    global arlib\n    arlib = None", "global"),
    "zeroing the shared model": ("model.lm_head.weight.data.zero_()", "changing model"),
    "init on the shared model": ("torch.nn.init.zeros_(model.lm_head.weight)", "changing model"),
    "forward hook": ("model.register_forward_hook(lambda m, i, o: o * 0)", "hook"),
    "global module hook": ("torch.nn.modules.module.register_module_forward_hook(print)", "hook"),
    "importlib.reload": ("import importlib\nimportlib.reload(arlib)", "imports importlib"),
    "import_module via a module": ("arlib.decoding.importlib.import_module('os')", "importlib"),
    "exec of a constructed string": ("exec('imp' + 'ort os')", "exec"),
    "eval": ("x = eval('1 + 1')", "eval"),
    "compile": ("code = compile('x = 1', 'cell', 'exec')", "compile"),
    "eval passed around": ("run = [eval][0]\nrun('1')", "eval"),
    "FunctionType from __code__": ("import types\nf = types.FunctionType(arlib.greedy_decode.__code__, {})", "imports types"),
    "__code__ alone": ("code = arlib.greedy_decode.__code__", "__code__"),
    "__wrapped__": ("raw = arlib.greedy_decode.__wrapped__", "__wrapped__"),
    "__closure__": ("cells = generate.__closure__", "__closure__"),
    "__globals__": ("g = arlib.greedy_decode.__globals__", "__globals__"),
    "__subclasses__": ("object.__subclasses__()", "__subclasses__"),
    "__dict__": ("d = arlib.__dict__", "__dict__"),
    "__class__ assignment": ("answer = 1\nanswer.__class__ = str", "__class__"),
    "inspect.getsource": ("import inspect\nprint(inspect.getsource(arlib.decoding))", "imports inspect"),
    "subprocess": ("import subprocess\nsubprocess.run(['ls'])", "imports subprocess"),
    "os.kill": ("import os\nos.kill(os.getppid(), 9)", "imports os"),
    "os reached through numpy": ("np.os.getppid()", "np.os"),
    "numpy.os.system": ("import numpy\nnumpy.os.system('ls')", "os"),
    "signal": ("import signal\nsignal.alarm(1)", "imports signal"),
    "open the solutions": ("print(open('/work/main/solutions/01-autoregressive-generation/01-autoregressive-generation.ipynb').read())", "open"),
    "numpy reads a file": ("np.loadtxt('/work/main/solutions/x.ipynb', dtype=str, delimiter='\\x00')", "reads files"),
    "display object reads a file": ("display(Markdown('/work/main/solutions/x.ipynb'))", "Markdown"),
    "filename keyword": ("from IPython.display import display\nimport arlib\ndisplay(arlib.viz.next_token_bar_chart(fname='x'))", "fname"),
    "reading In": ("print(In[-2])", "In"),
    "reading Out": ("last = Out[3]", "Out"),
    "reading _ih": ("print(_ih)", "_ih"),
    "reading _i3": ("print(_i3)", "_i3"),
    "reading _5": ("x = _5", "_5"),
    "reading _": ("x = _", "uses _"),
    "shell escape": ("!ls /work/main/solutions", "!ls"),
    "shell output": ("files = !ls", "!ls"),
    "bash cell": ("%%bash\ncat /etc/passwd\n", "%%bash"),
    "run magic": ("%run /work/main/solutions/x.py", "%run"),
    "load magic": ("%load /work/main/solutions/x.py", "%load"),
    "writefile magic": ("%%writefile evil.py\nimport os\n", "%%writefile"),
    "env magic": ("%env SECRET=1", "%env"),
    "pip magic": ("%pip install requests", "%pip"),
    "javascript magic": ("%%javascript\nalert(1)\n", "%%javascript"),
    "html magic": ("%%html\n<script>alert(1)</script>\n", "%%html"),
    "config magic": ("%config InteractiveShell.ast_node_interactivity='all'", "%config"),
    "pinfo2 shows source": ("arlib.decoding.greedy_decode??", "%pinfo2"),
    "matplotlib other backend": ("%matplotlib module://evil", "%matplotlib"),
    "timeit of forbidden code": ("%timeit -n1 -r1 __import__('os').system('ls')", "in %timeit"),
    "timeit storing into a variable": ("%timeit -v grading -o 1", "-v"),
    "time cell of forbidden code": ("%%time\nimport os\n", "in %%time"),
    "timeit module with a string": ("import timeit\ntimeit.timeit('import os', number=1)", "in timeit"),
    "timeit module with a variable": ("import timeit\ncode = 'import os'\ntimeit.timeit(code, number=1)", "timeit"),
    "getattr with a constructed name": ("getattr(torch, 'sy' + 's')", "computed at run time"),
    "getattr with a dunder literal": ("getattr(arlib.greedy_decode, '__globals__')", "__globals__"),
    "getattr with a private literal": ("getattr(arlib.decoding, '_greedy_cached')", "private"),
    "getattr passed around": ("import functools\nget = functools.partial(getattr, torch)", "getattr"),
    "attrgetter": ("import operator\noperator.attrgetter('__globals__')(arlib.greedy_decode)", "__globals__"),
    "torch.sys.modules": ("mods = torch.sys.modules", "torch.sys"),
    "np.os.system": ("np.os.system('ls')", "os"),
    "vars(arlib)": ("print(vars(arlib))", "vars"),
    "globals()": ("g = globals()", "globals"),
    "private arlib helper": ("fast = arlib.decoding._greedy_cached", "private"),
    "private cache field": ("cache = arlib.KVCache(arlib.ModelConfig())\nprint(cache._keys)", "private"),
    "torch._C": ("torch._C._set_grad_enabled(True)", "_C"),
    "__builtins__": ("b = __builtins__", "__builtins__"),
    "__import__": ("os = __import__('os')", "__import__"),
    "__loader__": ("spec = __loader__", "__loader__"),
    "threads": ("import threading\nthreading.Thread(target=print).start()", "imports threading"),
    "sockets": ("import socket\nsocket.create_connection(('example.com', 80))", "imports socket"),
    "cpp extension": ("import torch\ntorch.utils.cpp_extension.load_inline('x', '')", "torch.utils"),
    "from torch.utils import cpp_extension": ("from torch.utils import cpp_extension", "torch.utils"),
    "torch.compile": ("fast = torch.compile(model)", "torch.compile"),
    "grading import": ("from arlib import grading\ngrading.check_number(1, 1)", "grading"),
    "arlib.guard import": ("import arlib.guard", "arlib.guard"),
    "reference_disabled": ("with reference_disabled('greedy_decode'):\n    pass", "reference_disabled"),
    "record_call": ("record_call('x', print)", "record_call"),
    "star import": ("from numpy import *", "every name"),
    "relative import": ("from . import secrets", "relative"),
    "__future__ feature that changes parsing": ("from __future__ import barry_as_FLUFL", "barry_as_FLUFL"),
    "__torch_function__": ("class Liar(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n        return True", "__torch_function__"),
    "__torch_function__ assigned": ("class Liar:\n    __torch_function__ = staticmethod(lambda *a: True)", "__torch_function__"),
    "__del__": ("class Later:\n    def __del__(self):\n        print('now')", "__del__"),
    "metaclass": ("class Meta(type):\n    pass\n\nclass X(metaclass=Meta):\n    pass", "metaclass"),
    "format string reading attributes": ("print('{0.__globals__}'.format(arlib.greedy_decode))", "format"),
    "format template built at run time": ("template = '{0.' + '__globals__}'\nprint(template.format(f))", "not a string literal"),
    "string.Formatter": ("import string\nstring.Formatter().get_field('0.__globals__', [f], {})", "Formatter"),
    "exit": ("exit()", "exit"),
    "input": ("x = input()", "input"),
    "breakpoint": ("breakpoint()", "breakpoint"),
    "HTML display": ("from IPython.display import HTML\nHTML('<script>alert(1)</script>')", "HTML"),
    "repr_html hook": ("class X:\n    def _repr_html_(self):\n        return '<script></script>'", "_repr_html_"),
    "get_type_hints evaluates strings": ("import typing\ndef f(x: 'print(1)'): pass\ntyping.get_type_hints(f)", "get_type_hints"),
    "as_strided reads memory": ("torch.as_strided(torch.zeros(1), (10**6,), (1,))", "memory"),
    "torch.load": ("torch.load('/work/main/solutions/weights.pt')", "reads files"),
    "matplotlib imread": ("plt.imread('/etc/passwd')", "reads files"),
    "mutating the tokenizer": ("tokenizer.token_to_id.update({'cat': 0})", "changing tokenizer"),
    "subscript store into a module": ("arlib.toy_world.GRAMMAR['x'] = {}", "changing arlib"),
    "top-level await hides nothing": ("await something()\nimport os", "imports os"),
    "patching the model's class through type()": ("type(model).forward = lambda self, *a, **k: None", "a class"),
    "patching through an alias": ("M = arlib.DecoderLM\nM.forward = print", "changing arlib"),
    "patching the method of a parameter": ("def patch(c):\n    c.forward = lambda *a: None\n\npatch(arlib.DecoderLM)",
                                           "assigns a function"),
    "zeroing weights through an alias": ("w = model.lm_head.weight\nw.zero_()", "changing model"),
    "zeroing weights in a loop": ("for block in model.blocks:\n    block.attn.qkv.weight.data.zero_()", "changing model"),
    "IPython through its display module": ("import IPython.display\nIPython.core.interactiveshell.InteractiveShell.instance()",
                                           "binds IPython"),
    "a tensor subclass that compares as it likes": ("class Liar(torch.Tensor):\n    def __eq__(self, other):\n"
                                                    "        return torch.tensor(True)", "subclasses torch.Tensor"),
    "a float that compares as it likes": ("class Liar(float):\n    def __eq__(self, other):\n        return True",
                                          "subclasses float"),
    "LaTeX reads files": ("plt.rcParams['text.usetex'] = True", "usetex"),
    "benchmark Timer runs strings": ("torch.utils.benchmark.Timer('import os').timeit(1)", "torch.utils"),
    "writing a file with numpy": ("np.savetxt('/work/main/arlib/x.py', [[0]], fmt='import os')", "writes files"),
}


def _parses(source):
    compile(TransformerManager().transform_cell(source), "<cell>", "exec", flags=0x2000)  # top-level await


@pytest.mark.parametrize("name, source", SOLUTIONS + RELEASED + list(HONEST.items()),
                         ids=[n for n, _ in SOLUTIONS + RELEASED] + list(HONEST))
def test_honest_answers_have_no_findings(name, source):
    _parses(source)  # a cell that does not parse would pass vacuously
    assert check_source(source) == []


@pytest.mark.parametrize("name, source", SOLUTIONS, ids=[n for n, _ in SOLUTIONS])
def test_solutions_do_not_redefine_what_the_locked_and_test_cells_define(name, source):
    assert check_source(source, protected_names=_protected(name.split()[1].split(":")[0])) == []


def test_the_honest_corpus_is_large_enough():
    assert len(SOLUTIONS) >= 30 and len(RELEASED) == len(SOLUTIONS) and len(HONEST) >= 30


@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_attack_is_found_with_a_sensible_reason(name):
    source, fragment = ATTACKS[name]
    findings = check_source(source)
    assert findings, f"{name}: no finding for {source!r}"
    assert any(fragment in f.reason for f in findings), [f.reason for f in findings]
    assert all(1 <= f.line <= len(source.splitlines()) for f in findings)


def test_findings_name_the_line_of_the_cell_blank_lines_and_cell_magics_included():
    assert check_source("x = 1\n\nimport os\n") == [Finding(3, "imports os, which answers never need")]
    assert [f.line for f in check_source("\n\n!ls\n")] == [3]
    assert [f.line for f in check_source("%%timeit\nx = 1\ny = eval('x')\n")] == [3]
    assert [f.line for f in check_source("a = 1\n%timeit -n1 open('f')\n")] == [2]


def test_a_cell_that_does_not_parse_has_no_finding():
    assert check_source("import os\ndef (:\n") == []
    assert check_source("x = '''unterminated") == []


def test_magic_arguments_are_parsed_as_ipython_parses_them():
    assert check_source('%time x = "a  b"') == []
    assert check_source("%time --no-raise-error x = 1") == []
    assert check_source("%timeit -n1 -r1 -q f(-1)") == []
    assert check_source("%timeit -n1 -r1 exec('x')")[0].reason.endswith("(in %timeit)")


def test_names_bound_by_a_function_are_its_own():
    assert check_source("def f(input, compile=None):\n    return input, compile\n") == []
    assert check_source("f = lambda eval: eval + 1\n") == []
    # a comprehension's loop variable does not make the builtin local to the function around it
    assert check_source("def f():\n    [0 for eval in ()]\n    return eval('1')\n")
    # a parameter named self is trusted with private attributes only in a method
    assert check_source("class C:\n    def m(self):\n        return self._x\n") == []
    assert check_source("def m(self):\n    return self._x\n")
    assert check_source("class C:\n    def m(self):\n        self = torch\n        return self._x\n")


def test_protected_names_come_from_the_locked_cells():
    locked = "import math\n\ndef ids(text):\n    return text.split()\n\nclass PositionCounter:\n    pass\n\nx = 1\n"
    assert definitions(locked) == {"ids", "PositionCounter"}
    assert check_source("def ids(text):\n    return [1]\n", protected_names=definitions(locked))
    assert check_source("x = 2\n", protected_names=definitions(locked)) == []
    assert check_source("def ids(text):\n    return [1]\n") == []  # not protected unless the caller says so


def test_checking_is_fast():
    cells = [source for _, source in SOLUTIONS] + list(HONEST.values())
    check_source(cells[0])  # IPython's transformer warms up
    start = time.perf_counter()
    for source in cells:
        check_source(source)
    per_cell = (time.perf_counter() - start) / len(cells)
    assert per_cell < 0.010, f"{1000 * per_cell:.1f} ms per cell"


def test_an_exercise_can_name_what_it_asks_the_student_to_write_themselves():
    """E3-05 asks for the mean negative log-likelihood, to compare with torch's cross_entropy."""
    names = ["cross_entropy", "nll_loss", "CrossEntropyLoss", "NLLLoss"]
    honest = "def mean_nll(logits, targets):\n    return -torch.log_softmax(logits, -1)[range(len(targets)), targets].mean()"
    assert static_check.uses(honest, names) == []
    for source in ["def mean_nll(l, t):\n    return F.cross_entropy(l, t)",
                   "from torch.nn.functional import nll_loss as n\nmean_nll = lambda l, t: n(l.log_softmax(-1), t)",
                   "loss = torch.nn.CrossEntropyLoss()"]:
        assert [f.reason for f in static_check.uses(source, names)][0].endswith("which this exercise asks you to write yourself")
