"""The course's figures. Each function returns a matplotlib Figure.

They build `matplotlib.figure.Figure` objects directly instead of going through pyplot's
global state, so they work the same in a notebook, in a test and on a headless machine;
in JupyterLab a returned figure displays itself, and `fig.savefig("name.png")` saves it.
"""

from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

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


# --- 05-sampling-and-search ------------------------------------------------------------


TEMPERATURE_COLORS = ["#3b4cc0", "#7b9ff9", "#b7cff9", "#f1b89c", "#e7745b", "#b40426"]

def _check_named_distributions(distributions, name):
    if not isinstance(distributions, dict) or not distributions:
        raise TypeError(f"{name} must be a non-empty dict {{label: {{token: probability}}}}, "
                        f"got {type(distributions).__name__}")
    for label, probs in distributions.items():
        _check_distribution(probs, f"{name}[{label!r}]")
    return distributions


def temperature_figure(by_temperature, truth=None, title="") -> Figure:
    """Grouped bars: one next-token distribution at several temperatures, beside the truth.

    `by_temperature` maps a temperature to {token: probability}; the tokens shown are those
    of the first distribution, in its order (pass them most likely first).
    """
    by_temperature = _check_named_distributions(by_temperature, "by_temperature")
    truth = None if truth is None else _check_distribution(truth, "truth")
    tokens = list(next(iter(by_temperature.values())))
    groups = len(by_temperature) + (1 if truth else 0)
    width = 0.8 / groups
    fig = Figure(figsize=(max(7, 1.1 * len(tokens) + 2), 4), layout="constrained")
    ax = fig.add_subplot()
    for g, (temperature, probs) in enumerate(by_temperature.items()):
        shade = TEMPERATURE_COLORS[round(g * (len(TEMPERATURE_COLORS) - 1) / max(1, len(by_temperature) - 1))]
        ax.bar([i - 0.4 + width * (g + 0.5) for i in range(len(tokens))], [probs.get(t, 0.0) for t in tokens],
               width, color=shade, label=f"T = {temperature:g}")
    if truth:
        ax.bar([i + 0.4 - width / 2 for i in range(len(tokens))], [truth.get(t, 0.0) for t in tokens], width,
               color="none", edgecolor="black", hatch="//", label="truth")
    ax.set_xticks(range(len(tokens)), tokens, rotation=30 if len(tokens) > 6 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("next token")
    ax.set_ylabel("probability")
    ax.set_title(title or "softmax(logits / T): the same logits at several temperatures")
    ax.legend(ncols=2, fontsize=9)
    return fig


def sampling_frequencies_figure(draws, probs, truth, token) -> Figure:
    """Sampled frequencies beside the probabilities they were drawn from and the truth.

    `draws` maps a label ("T = 1") to the tokens drawn (strings); `probs` maps the same labels
    to the distribution each was drawn from; `truth` is the true distribution. Left: the
    frequency of each token against its probability, every token the truth leaves out folded
    into one "(others)" bar. Right: the running frequency of `token` as the draws accumulate,
    closing in on the probability it was drawn with.
    """
    if not isinstance(draws, dict) or not draws or not all(isinstance(d, (list, tuple)) and d for d in draws.values()):
        raise TypeError("draws must be a non-empty dict {label: non-empty list of drawn tokens}")
    probs = _check_named_distributions(probs, "probs")
    truth = _check_distribution(truth, "truth")
    if set(probs) != set(draws):
        raise ValueError(f"probs must have the labels of draws, {sorted(draws)}; got {sorted(probs)}")
    others = "(others)"  # every token the truth never puts here, in one bar
    tokens = list(truth) + [others]
    fold = lambda distribution: {**{t: distribution.get(t, 0.0) for t in truth},  # noqa: E731
                                 others: sum(p for t, p in distribution.items() if t not in truth)}
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.2, 1])
    columns = 1 + 2 * len(draws)
    width = 0.84 / columns
    x = range(len(tokens))
    offset = lambda c: [i - 0.42 + width * (c + 0.5) for i in x]  # noqa: E731
    left.bar(offset(0), [truth.get(t, 0.0) for t in tokens], width, color=TRUTH_COLOR, label="truth")
    colors = [MODEL_COLOR, "tab:purple", "tab:green", "tab:brown"]
    for g, (label, tokens_drawn) in enumerate(draws.items()):
        color = colors[g % len(colors)]
        counts = {t: 0 for t in tokens}
        for t in tokens_drawn:
            counts[t if t in truth else others] += 1
        folded = fold(probs[label])
        left.bar(offset(1 + 2 * g), [folded[t] for t in tokens], width, color=color, alpha=0.35,
                 label=f"{label}: probability")
        bars = left.bar(offset(2 + 2 * g), [counts[t] / len(tokens_drawn) for t in tokens], width, color=color,
                        label=f"{label}: frequency in {len(tokens_drawn):,} draws")
        left.bar_label(bars, labels=[f"{b.get_height():.3f}" if b.get_height() >= 0.0005 else "" for b in bars],
                       fontsize=7)
    left.set_xticks(list(x), tokens)
    left.set_ylim(0, 1.05)
    left.set_xlabel("next token")
    left.set_ylabel("probability or frequency")
    left.set_title("Frequencies of the sampled tokens")
    left.legend(fontsize=8)
    for g, (label, tokens_drawn) in enumerate(draws.items()):
        color = colors[g % len(colors)]
        n = torch.arange(1, len(tokens_drawn) + 1, dtype=torch.float64)
        running = torch.tensor([t == token for t in tokens_drawn], dtype=torch.float64).cumsum(0) / n
        right.plot(n.tolist(), running.tolist(), color=color, label=f"{label}: running frequency")
        right.axhline(probs[label].get(token, 0.0), color=color, linestyle="--", linewidth=1)
    right.axhline(truth.get(token, 0.0), color=TRUTH_COLOR, linewidth=2, label="truth")
    right.set_xscale("log")
    right.set_ylim(0, 1.05)
    right.set_xlabel("number of draws")
    right.set_ylabel(f"frequency of '{token}'")
    right.set_title(f"The frequency of '{token}' settles on the probability it is drawn with (dashed)")
    right.legend(fontsize=8, loc="lower right")
    return fig


def beam_width_figure(widths, probabilities, scorings, best_probability, exhaustive_scorings) -> Figure:
    """What beam search finds and what it costs, width by width, against exhaustive search.

    `probabilities[i]` is the probability of the best hypothesis found with `widths[i]` beams
    (width 1 is greedy decoding), `scorings[i]` the number of candidates it scored.
    """
    widths = _check_series(widths, {"probabilities": probabilities, "scorings": scorings})
    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(widths, [float(p) for p in probabilities], "o-", color=MODEL_COLOR, label="beam search")
    left.axhline(float(best_probability), color=TRUTH_COLOR, linestyle="--", label="exhaustive search: the best")
    left.set_ylim(0, min(1.05, 1.3 * max(float(best_probability), *map(float, probabilities))))
    left.set_xticks(widths, ["1\n(greedy)" if w == 1 else str(w) for w in widths])
    left.set_xlabel("beam width")
    left.set_ylabel("probability of the best hypothesis found")
    left.set_title("What the search finds")
    left.legend(loc="lower right")
    right.plot(widths, [float(s) for s in scorings], "o-", color=MODEL_COLOR, label="beam search")
    right.axhline(float(exhaustive_scorings), color=TRUTH_COLOR, linestyle="--",
                  label=f"exhaustive search: {int(exhaustive_scorings):,}")
    right.set_yscale("log")
    right.set_xticks(widths, ["1\n(greedy)" if w == 1 else str(w) for w in widths])
    right.set_xlabel("beam width")
    right.set_ylabel("candidates scored (log scale)")
    right.set_title("What the search costs")
    right.legend(loc="center right")
    return fig


def factorisation_figure(orders, title="") -> Figure:
    """One bar per token order: its factors as segments of -ln Pr, all adding up to -ln of the joint.

    `orders` maps a label ("left to right") to a list of (factor label, probability).
    """
    if not isinstance(orders, dict) or not orders:
        raise TypeError("orders must be a non-empty dict {label: [(factor label, probability), ...]}")
    for label, factors in orders.items():
        if not factors or not all(isinstance(f, (list, tuple)) and len(f) == 2 and 0 < float(f[1]) <= 1
                                  for f in factors):
            raise ValueError(f"orders[{label!r}] must be a non-empty list of (label, probability in (0, 1]) pairs")
    fig = Figure(figsize=(11, 0.9 + 0.75 * len(orders)), layout="constrained")
    ax = fig.add_subplot()
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink"]
    labels = list(orders)
    for row, label in enumerate(labels):
        start = 0.0
        for i, (name, p) in enumerate(orders[label]):
            width = -math.log(float(p))
            ax.barh(row, width, left=start, color=colors[i % len(colors)], alpha=0.75, edgecolor="white")
            ax.text(start + width / 2, row, f"{name.replace(' | ', ' |' + chr(10))}\n= {float(p):.3g}",
                    ha="center", va="center", fontsize=7.5)
            start += width
        ax.text(start + 0.05, row, f"product {math.exp(-start):.4g}", va="center", fontsize=9)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.25 * max(sum(-math.log(float(p)) for _, p in f) for f in orders.values()))
    ax.set_xlabel("-ln probability: each segment is one factor; a factor of 1 has no width")
    ax.set_ylabel("token order")
    ax.set_title(title or "The same joint probability, factorised in several orders")
    return fig


# --- 06-faster-and-longer ----------------------------------------------------------------

ACCEPTED_COLOR, OWN_COLOR, DISCARDED_COLOR = "#8fd19e", "#f5a65b", "0.85"
RATE_COLORS = ["#b40426", "#e7745b", "#7b9ff9", "#3b4cc0"]


def speculative_rounds_figure(rounds, tokenizer, prompt_ids=None, title="") -> Figure:
    """The rounds of greedy speculative decoding, one row per target pass.

    `rounds` lists (accepted guesses, the target's own token(s), discarded guesses) as lists
    of token ids. The written tokens go on left to right from row to row, so the text reads
    in order; the discarded guesses follow their row's own token, crossed out.
    """
    rounds = [tuple(list(part) for part in r) for r in rounds]
    if not rounds or any(len(r) != 3 for r in rounds):
        raise TypeError("rounds must be a non-empty list of (accepted, own, discarded) lists of token ids")
    unit = 0.13  # data units per character
    width_of = lambda token: unit * len(tokenizer.token(int(token))) + 0.35  # noqa: E731
    written = sum(width_of(t) for accepted, own, _ in rounds for t in accepted + own)
    widest = max(sum(width_of(t) for t in discarded) for _, _, discarded in rounds)
    fig = Figure(figsize=(min(16, 2.5 + 1.1 * (written + widest)), 1.4 + 0.42 * (len(rounds) + 2)), layout="constrained")
    ax = fig.add_subplot()
    ax.axis("off")

    def box(x, y, token, color, crossed=False):
        word, w = tokenizer.token(int(token)), width_of(token)
        ax.add_patch(Rectangle((x, y - 0.35), w - 0.08, 0.7, facecolor=color, edgecolor="0.4", linewidth=0.6))
        ax.text(x + (w - 0.08) / 2, y, word, ha="center", va="center", fontsize=9,
                color="0.45" if crossed else "black")
        if crossed:
            ax.plot([x + 0.05, x + w - 0.13], [y, y], color="0.35", linewidth=0.9)
        return x + w

    y, x = 0.0, 0.0
    if prompt_ids is not None:
        ax.text(-0.2, y, "prompt", ha="right", va="center", fontsize=9)
        ax.text(0, y, tokenizer.decode(list(prompt_ids)), ha="left", va="center", fontsize=9, style="italic")
        y -= 1
    for number, (accepted, own, discarded) in enumerate(rounds, start=1):
        ax.text(-0.2, y, f"pass {number}", ha="right", va="center", fontsize=9)
        for token in accepted:
            x = box(x, y, token, ACCEPTED_COLOR)
        end = x
        for token in own:
            end = box(end, y, token, OWN_COLOR)
        tail = end + 0.15
        for token in discarded:
            tail = box(tail, y, token, DISCARDED_COLOR, crossed=True)
        x = end
        y -= 1
    ax.set_xlim(-1.3, max(x, written) + widest + 0.5)
    ax.set_ylim(y - 0.2, 0.6)  # a free row at the bottom, for the legend
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="0.4") for c in (ACCEPTED_COLOR, OWN_COLOR, DISCARDED_COLOR)]
    ax.legend(handles, ["accepted guess", "the target's own token", "discarded guess"], loc="lower right",
              fontsize=8, ncols=3, frameon=False, bbox_to_anchor=(1, -0.02))
    tokens = sum(len(accepted) + len(own) for accepted, own, _ in rounds)
    ax.set_title(title or "Greedy speculative decoding, one row per target pass")
    ax.set_title(f"{tokens} tokens in {len(rounds)} target passes", loc="right", fontsize=9)
    return fig


def expected_tokens_figure(rates, max_k: int = 10) -> Figure:
    """Expected tokens per target pass, (1 - a^(k+1)) / (1 - a), against k, for each acceptance rate a."""
    rates = [float(a) for a in rates]
    if not rates or not all(0 <= a < 1 for a in rates):
        raise ValueError("rates must be acceptance rates a with 0 <= a < 1")
    if not isinstance(max_k, int) or max_k < 1:
        raise ValueError(f"max_k must be a positive int, got {max_k!r}")
    ks = list(range(0, max_k + 1))
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for a, color in zip(rates, RATE_COLORS if len(rates) <= len(RATE_COLORS) else [None] * len(rates)):
        line, = ax.plot(ks, [(1 - a ** (k + 1)) / (1 - a) for k in ks], "o-", markersize=4, color=color,
                        label=f"a = {a:g}")
        ax.axhline(1 / (1 - a), color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xticks(ks)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("k, guesses per round")
    ax.set_ylabel("expected tokens per target pass")
    ax.set_title("(1 - a^(k+1)) / (1 - a): dotted, the ceiling 1 / (1 - a)")
    ax.legend(title="acceptance rate")
    return fig


def speculative_k_figure(ks, acceptance, passes_per_token, ms_per_token, greedy_ms_per_token,
                         predicted_passes_per_token=None) -> Figure:
    """Three panels against k: acceptance rate, target passes per token, wall time per token,
    beside plain greedy decoding (one pass per token)."""
    ks = _check_series(ks, {"acceptance": acceptance, "passes_per_token": passes_per_token,
                            "ms_per_token": ms_per_token,
                            **({} if predicted_passes_per_token is None
                               else {"predicted_passes_per_token": predicted_passes_per_token})})
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    left.plot(ks, acceptance, "o-", color=MODEL_COLOR)
    left.set_ylim(0, 1.05)
    left.set_ylabel("accepted / drafted guesses")
    left.set_title("acceptance rate")
    middle.plot(ks, passes_per_token, "o-", color=CACHED_COLOR, label="speculative, measured")
    if predicted_passes_per_token is not None:
        middle.plot(ks, predicted_passes_per_token, "--", color=CACHED_COLOR, label="formula, from a at k = 1")
    middle.axhline(1.0, color=UNCACHED_COLOR, label="greedy: one pass per token")
    middle.set_ylim(0, 1.1)
    middle.set_ylabel("target passes per token")
    middle.set_title("target passes per token")
    middle.legend(fontsize=8, loc="lower left")
    right.plot(ks, ms_per_token, "o-", color=CACHED_COLOR, label="speculative")
    right.axhline(float(greedy_ms_per_token), color=UNCACHED_COLOR, label="greedy")
    right.set_ylim(0, 1.25 * max(max(float(m) for m in ms_per_token), float(greedy_ms_per_token)))
    right.set_ylabel("wall time per token (ms)")
    right.set_title("time per token, on this machine")
    right.legend(fontsize=8, loc="lower left")
    for ax in (left, middle, right):
        ax.set_xticks(list(ks))
        ax.set_xlabel("k, guesses per round")
    return fig


def shifting_window_figure(prompt_len: int, n_new: int, window: int, keep: int) -> Figure:
    """What the model sees at each step of generation with a shifting window.

    Row i is the step that chooses new token i: its bar spans the tokens of the text in the
    window, dark where the positions were run at that step, orange where a shift ran them again.
    """
    for name, value in [("prompt_len", prompt_len), ("n_new", n_new), ("window", window), ("keep", keep)]:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not keep <= window:
        raise ValueError(f"keep ({keep}) must be at most window ({window})")
    start = 0 if prompt_len <= window else prompt_len - keep
    rows, seen = [], 0  # (start, end, first position run at this step, shifted?)
    for step in range(1, n_new + 1):
        end = prompt_len + step - 1  # the text before this step's token
        shifted = False
        if end - start > window:
            start, shifted = end - keep, True
        run_from = start if step == 1 or shifted else end - 1
        rows.append((start, end, run_from, shifted and step > 1))
    fig = Figure(figsize=(9, 1.2 + 0.17 * n_new), layout="constrained")
    ax = fig.add_subplot()
    for step, (start, end, run_from, shifted) in enumerate(rows, start=1):
        y = -step
        ax.barh(y, run_from - start, left=start, height=0.7, color="#c9d7ea")
        ax.barh(y, end - run_from, left=run_from, height=0.7,
                color=TRUTH_COLOR if shifted else "#2f5d8a")
    ax.axvline(prompt_len, color="0.5", linestyle=":", linewidth=1)
    ax.text(prompt_len, 0.2, " end of the prompt", fontsize=8, color="0.4", va="bottom")
    ax.set_yticks([-s for s in range(1, n_new + 1, max(1, n_new // 10))],
                  [str(s) for s in range(1, n_new + 1, max(1, n_new // 10))])
    ax.set_ylim(-n_new - 0.8, 1.0)
    ax.set_xlim(0, prompt_len + n_new)
    ax.set_xlabel("token of the text (0 = the first token of the prompt)")
    ax.set_ylabel("step (new token)")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in ("#c9d7ea", "#2f5d8a", TRUTH_COLOR)]
    ax.legend(handles, ["in the window, cached", "run at this step", "run again by a shift"], fontsize=8,
              loc="lower left")
    ax.set_title(f"What the model sees: window = {window}, keep = {keep}")
    return fig


def shifting_positions_figure(windows, positions, n_new: int, unlimited=None) -> Figure:
    """Positions processed to write n_new tokens against the window size, one line per choice of keep.

    `positions` maps a label to one count per window; `unlimited` is the count of a model
    whose context never ends (m + n - 1), drawn as a horizontal line.
    """
    if not isinstance(positions, dict) or not positions:
        raise TypeError("positions must be a non-empty dict {label: [positions processed, one per window]}")
    windows = _check_series(windows, {f"positions[{label!r}]": values for label, values in positions.items()})
    fig = Figure(figsize=(7.5, 4.3), layout="constrained")
    ax = fig.add_subplot()
    for (label, values), marker in zip(positions.items(), "osd^v<>"):
        ax.plot(windows, values, marker + "-", label=label)
    if unlimited is not None:
        ax.axhline(float(unlimited), color="0.4", linestyle="--", label="no window limit: m + n - 1")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(windows, [str(w) for w in windows])
    ax.set_xlabel("window (tokens)")
    ax.set_ylabel(f"positions processed for {n_new} new tokens")
    ax.set_title("The cost of a shifting window: positions run through the model")
    ax.legend(fontsize=8)
    return fig


def logit_gap_figure(gaps, shift_steps=(), threshold: float = 1e-4, title="") -> Figure:
    """The largest |logit difference| from the correct logits at every step (log scale),
    with the steps that came right after a shift marked."""
    gaps = [float(g) for g in gaps]
    if not gaps or any(not math.isfinite(g) or g < 0 for g in gaps):
        raise ValueError("gaps must be a non-empty list of non-negative finite numbers, one per step")
    floor = 1e-8
    steps = list(range(1, len(gaps) + 1))
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.semilogy(steps, [max(g, floor) for g in gaps], "o-", color=UNCACHED_COLOR, label="max |logits - correct|")
    for i, step in enumerate(shift_steps):
        ax.axvline(step, color="0.6", linestyle="--", linewidth=1, label="first step after a shift" if i == 0 else None)
    ax.axhline(threshold, color="0.3", linestyle=":", linewidth=1, label=f"{threshold:g}: float rounding below")
    ax.set_ylim(floor / 2, max(max(gaps) * 3, threshold * 10))
    ax.set_xticks(steps if len(steps) <= 30 else steps[::2])
    ax.set_xlabel("step i")
    ax.set_ylabel("largest |logit difference| (log scale)")
    ax.set_title(title or "How far the logits are from the correct ones")
    ax.legend(fontsize=8, loc="lower right")
    return fig


__all__ = [
    "attention_heatmap", "cache_size_figure", "cumulative_probability_figure", "generation_table_figure",
    "next_token_bar_chart", "time_per_token_figure",
    # 05-sampling-and-search
    "beam_width_figure", "factorisation_figure", "sampling_frequencies_figure", "temperature_figure",
    # 06-faster-and-longer
    "expected_tokens_figure", "logit_gap_figure", "shifting_positions_figure", "shifting_window_figure",
    "speculative_k_figure", "speculative_rounds_figure",
]
