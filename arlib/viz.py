"""The course's figures. Each function returns a matplotlib Figure.

They build `matplotlib.figure.Figure` objects directly instead of going through pyplot's
global state, so they work the same in a notebook, in a test and on a headless machine;
in JupyterLab a returned figure displays itself, and `fig.savefig("name.png")` saves it.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

MODEL_COLOR, TRUTH_COLOR, CACHED_COLOR, UNCACHED_COLOR = "tab:blue", "tab:orange", "tab:green", "tab:red"


def _tokens(ids, tokenizer) -> list[str]:
    return [tokenizer.token(int(i)) for i in ids]


def _check_trace(trace):
    steps = list(trace) if isinstance(trace, (list, tuple)) else None
    if not steps or not all(hasattr(s, "cumulative_prob") and hasattr(s, "context") for s in steps):
        raise TypeError("trace must be a non-empty list of TraceStep, as returned by arlib.generation_trace")
    return steps


def _short_context(tokens, keep=8) -> str:
    """The last `keep` tokens of a context; long contexts would not fit in a table cell."""
    shown = " ".join(tokens[-keep:])
    return shown if len(tokens) <= keep else "... " + shown


def generation_table_figure(trace, tokenizer) -> Figure:
    """The step-by-step table of greedy generation: context, token chosen, rule, probabilities."""
    steps = _check_trace(trace)
    header = ["step", "context (model input)", "predicted token", "decision rule", "Pr(token | context)",
              "cumulative probability"]
    rows = [
        [str(i), _short_context(_tokens(s.context, tokenizer)), tokenizer.token(s.token), "argmax",
         f"{s.prob:.3f}", f"{s.cumulative_prob:.4f}"]
        for i, s in enumerate(steps, start=1)
    ]
    fig = Figure(figsize=(11, 0.6 + 0.3 * (len(rows) + 1)), layout="constrained")
    ax = fig.add_subplot()
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.auto_set_column_width(list(range(len(header))))
    table.scale(1, 1.3)
    for col in range(len(header)):
        table[0, col].set_text_props(weight="bold")
        table[0, col].set_facecolor("#e8eef7")
    ax.set_title("Greedy generation, one token per step", fontweight="bold")
    return fig


def cumulative_probability_figure(trace, tokenizer) -> Figure:
    """Each step's Pr(token | context) and the running product: the probability so far."""
    steps = _check_trace(trace)
    x = list(range(1, len(steps) + 1))
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x, [s.prob for s in steps], color="lightgray", label="Pr(token | context) at this step")
    ax.plot(x, [s.cumulative_prob for s in steps], "o-", color=MODEL_COLOR, label="cumulative probability")
    ax.set_xticks(x, [f"{i}\n{tokenizer.token(s.token)}" for i, s in zip(x, steps)])
    ax.set_ylim(0, 1.3)  # headroom for the legend above the bars
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlabel("step and the token it chose")
    ax.set_ylabel("probability")
    ax.set_title("Cumulative probability: the product of every step's probability")
    ax.legend(loc="upper center", ncols=2)
    return fig


def _check_distribution(probs, name):
    if not isinstance(probs, dict) or not probs:
        raise TypeError(f"{name} must be a non-empty dict {{token: probability}}, got {type(probs).__name__}")
    for token, p in probs.items():
        if not isinstance(token, str) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{name} must map token strings to probabilities in [0, 1], got {token!r}: {p!r}")
    return probs


def next_token_bar_chart(probs, truth=None, title="", top_k: int = 10) -> Figure:
    """Bars of a next-token distribution {token: prob}, beside the true one when it is known.

    Shows the `top_k` most likely tokens of either distribution, most likely first.
    """
    probs = _check_distribution(probs, "probs")
    truth = None if truth is None else _check_distribution(truth, "truth")
    both = {**probs, **(truth or {})}
    ranking = lambda t: -max(probs.get(t, 0.0), (truth or {}).get(t, 0.0))  # noqa: E731
    tokens = sorted(both, key=ranking)[:top_k]
    x = range(len(tokens))
    width = 0.4 if truth else 0.7
    fig = Figure(figsize=(max(5, 0.7 * len(tokens) + 2), 4), layout="constrained")
    ax = fig.add_subplot()
    offset = -width / 2 if truth else 0
    bars = ax.bar([i + offset for i in x], [probs.get(t, 0.0) for t in tokens], width, color=MODEL_COLOR, label="model")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    if truth:
        bars = ax.bar([i + width / 2 for i in x], [truth.get(t, 0.0) for t in tokens], width,
                      color=TRUTH_COLOR, label="truth")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.legend()
    ax.set_xticks(list(x), tokens, rotation=30 if len(tokens) > 6 else 0)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("next token")
    ax.set_ylabel("probability")
    ax.set_title(title or "Next-token distribution")
    return fig


@torch.no_grad()
def attention_heatmap(model, tokenizer, text: str, layer: int = 0, head: int = 0) -> Figure:
    """Attention weights of one layer and head on `text` (with <s> in front if it has none).

    Row i is query position i; the empty upper triangle is the causal mask at work.
    """
    ids = tokenizer.encode(text)
    if not ids or ids[0] != tokenizer.bos_id:
        ids = [tokenizer.bos_id] + ids
    n_layer, n_head = model.config.n_layer, model.config.n_head
    if not isinstance(layer, int) or not 0 <= layer < n_layer:
        raise ValueError(f"layer must be an int in 0 .. {n_layer - 1}, got {layer!r}")
    if not isinstance(head, int) or not 0 <= head < n_head:
        raise ValueError(f"head must be an int in 0 .. {n_head - 1}, got {head!r}")
    weights = model(ids, details=True).attentions[layer][0, head].float().cpu()
    tokens = _tokens(ids, tokenizer)
    size = 2.5 + 0.45 * len(tokens)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(weights.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(tokens)), tokens)
    ax.set_xlabel("key: the token attended to")
    ax.set_ylabel("query: the token being processed")
    ax.set_title(f"Attention weights, layer {layer}, head {head}")
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
    return fig


def _check_series(lengths, named_series):
    lengths = list(lengths)
    if not lengths:
        raise ValueError("lengths is empty: give at least one sequence length")
    for name, values in named_series.items():
        if len(values) != len(lengths):
            raise ValueError(f"{name} has {len(values)} values but lengths has {len(lengths)}: give one per length")
    return lengths


def time_per_token_figure(lengths, cached_seconds, uncached_seconds) -> Figure:
    """Seconds per generated token against the sequence length, with and without the KV cache."""
    lengths = _check_series(lengths, {"cached_seconds": cached_seconds, "uncached_seconds": uncached_seconds})
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    to_ms = lambda seconds: [1000 * float(s) for s in seconds]  # noqa: E731
    ax.plot(lengths, to_ms(uncached_seconds), "o-", color=UNCACHED_COLOR, label="without cache: the whole sequence each step")
    ax.plot(lengths, to_ms(cached_seconds), "s-", color=CACHED_COLOR, label="with KV cache: one new position each step")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel("time per generated token (ms)")
    ax.set_title("Time per token as the sequence grows")
    ax.legend()
    return fig


def _byte_unit(largest: float) -> tuple[str, float]:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if largest >= size:
            return unit, size
    return "bytes", 1


def cache_size_figure(lengths, nbytes) -> Figure:
    """Size of the KV cache against the number of cached positions: a straight line."""
    lengths = _check_series(lengths, {"nbytes": nbytes})
    unit, size = _byte_unit(max(float(b) for b in nbytes))
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(lengths, [float(b) / size for b in nbytes], "o-", color=CACHED_COLOR)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("cached positions (sequence length)")
    ax.set_ylabel(f"cache size ({unit})")
    ax.set_title("KV cache size = 2 x layers x positions x d_model x bytes")
    return fig


__all__ = [
    "attention_heatmap", "cache_size_figure", "cumulative_probability_figure", "generation_table_figure",
    "next_token_bar_chart", "time_per_token_figure",
]
