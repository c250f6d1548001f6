"""Every figure of arlib.viz renders headless (Agg) to a non-empty, labelled PNG."""

import io

import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

matplotlib.use("Agg")

from arlib import viz  # noqa: E402
from arlib.decoding import generation_trace  # noqa: E402
from arlib.model import DecoderLM, ModelConfig  # noqa: E402
from arlib.toy_lm import ToyLM  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def toy():
    return ToyLM({"": {"</s>": 1.0}, "<s>": {"a": 1.0}, "a": {"cat": 0.6, "dog": 0.4},
                  "cat": {"sat": 0.7, "</s>": 0.3}, "sat": {"</s>": 1.0}})


@pytest.fixture(scope="module")
def trace(toy):
    tok = toy.tokenizer
    return generation_trace(toy, tok.encode("<s>"), 5, eos_id=tok.eos_id)


@pytest.fixture(scope="module")
def small_model(toy):
    torch.manual_seed(0)
    return DecoderLM(ModelConfig(toy.vocab_size, n_layer=2, n_head=2, d_model=16, max_len=16)).eval()


def render(fig) -> bytes:
    assert isinstance(fig, Figure)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    png = buffer.getvalue()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5000
    return png


def labelled(fig):
    ax = fig.axes[0]
    return ax.get_title() and (ax.get_xlabel() and ax.get_ylabel() or not ax.axison)


def test_generation_table_figure(trace, toy):
    fig = viz.generation_table_figure(trace, toy.tokenizer)
    render(fig)
    assert labelled(fig)
    cells = [cell.get_text().get_text() for cell in fig.axes[0].tables[0].get_celld().values()]
    for needed in ("context (model input)", "predicted token", "decision rule", "cumulative probability",
                   "argmax", "cat", "<s> a cat", "0.6000", "0.4200"):
        assert needed in cells


def test_cumulative_probability_figure(trace, toy):
    fig = viz.cumulative_probability_figure(trace, toy.tokenizer)
    render(fig)
    assert labelled(fig)
    line = fig.axes[0].lines[0]
    assert list(line.get_ydata()) == pytest.approx([1.0, 0.6, 0.42, 0.42])


def test_next_token_bar_chart_model_beside_truth():
    fig = viz.next_token_bar_chart({"on": 0.55, "by": 0.35, "under": 0.1}, truth={"on": 0.6, "by": 0.3, "under": 0.1},
                                   title="after 'the cat sat'")
    render(fig)
    ax = fig.axes[0]
    assert ax.get_title() == "after 'the cat sat'" and ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["on", "by", "under"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["model", "truth"]
    assert len(ax.patches) == 6


def test_next_token_bar_chart_alone_keeps_the_top_tokens():
    probs = {f"w{i}": (i + 1) / 210 for i in range(20)}
    fig = viz.next_token_bar_chart(probs)
    render(fig)
    ax = fig.axes[0]
    assert ax.get_title() and len(ax.patches) == 10 and ax.get_legend() is None
    assert ax.get_xticklabels()[0].get_text() == "w19"


def test_attention_heatmap_shows_the_causal_triangle(small_model, toy):
    fig = viz.attention_heatmap(small_model, toy.tokenizer, "a cat sat", layer=1, head=1)
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig) and "layer 1, head 1" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["<s>", "a", "cat", "sat"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["<s>", "a", "cat", "sat"]
    weights = torch.tensor(ax.images[0].get_array())
    assert torch.all(weights.triu(1) == 0) and torch.allclose(weights.sum(-1), torch.ones(4))


def test_time_per_token_figure():
    fig = viz.time_per_token_figure([16, 32, 64], [0.001, 0.0011, 0.0012], [0.002, 0.004, 0.008])
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig) and len(ax.lines) == 2 and len(ax.get_legend().get_texts()) == 2
    assert list(ax.lines[0].get_ydata()) == pytest.approx([2.0, 4.0, 8.0])  # in milliseconds


def test_cache_size_figure():
    fig = viz.cache_size_figure([128, 256], [2 * 4 * 128 * 128 * 4, 2 * 4 * 256 * 128 * 4])
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig) and "MiB" in ax.get_ylabel()
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.5, 1.0])


def test_bad_inputs_are_explained(small_model, toy):
    with pytest.raises(TypeError, match="TraceStep"):
        viz.generation_table_figure([], toy.tokenizer)
    with pytest.raises(TypeError, match="dict"):
        viz.next_token_bar_chart([0.5, 0.5])
    with pytest.raises(ValueError, match="probabilities in"):
        viz.next_token_bar_chart({"a": 1.5})
    with pytest.raises(ValueError, match="layer must be"):
        viz.attention_heatmap(small_model, toy.tokenizer, "a cat", layer=2)
    with pytest.raises(ValueError, match="head must be"):
        viz.attention_heatmap(small_model, toy.tokenizer, "a cat", head=-1)
    with pytest.raises(ValueError, match="one per length"):
        viz.time_per_token_figure([1, 2], [0.1], [0.1, 0.2])
    with pytest.raises(ValueError, match="one per length"):
        viz.cache_size_figure([1, 2, 3], [10, 20])


# --- 05-sampling-and-search ------------------------------------------------------------

import math  # noqa: E402  (this block keeps its imports with it)


def test_temperature_figure_groups_bars_by_temperature():
    by_temperature = {0.5: {"mat": 0.86, "floor": 0.13}, 1.0: {"mat": 0.65, "floor": 0.25}, 2.0: {"mat": 0.5, "floor": 0.3}}
    fig = viz.temperature_figure(by_temperature, truth={"mat": 0.65, "floor": 0.25}, title="after 'the cat sat on the'")
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig) and len(ax.patches) == 2 * 4  # two tokens, three temperatures and the truth
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["T = 0.5", "T = 1", "T = 2", "truth"]


def test_sampling_frequencies_figure_folds_the_tail_and_follows_one_token():
    draws = {"T = 1": ["on"] * 6 + ["by"] * 3 + ["david"], "T = 0.5": ["on"] * 8 + ["by"] * 2}
    probs = {"T = 1": {"on": 0.6, "by": 0.3, "under": 0.09, "david": 0.01}, "T = 0.5": {"on": 0.8, "by": 0.2}}
    fig = viz.sampling_frequencies_figure(draws, probs, {"on": 0.6, "by": 0.3, "under": 0.1}, token="on")
    render(fig)
    left, right = fig.axes
    assert [t.get_text() for t in left.get_xticklabels()] == ["on", "by", "under", "(others)"]
    assert len(right.lines) == 2 + 2 + 1  # a running frequency and its probability per label, and the truth
    assert list(right.lines[0].get_ydata())[-1] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="labels of draws"):
        viz.sampling_frequencies_figure(draws, {"T = 1": probs["T = 1"]}, {"on": 1.0}, token="on")


def test_beam_width_figure():
    fig = viz.beam_width_figure([1, 2, 3], [0.12, 0.252, 0.252], [68, 119, 170], 0.252, 17 ** 4)
    render(fig)
    left, right = fig.axes
    assert left.get_title() and right.get_yscale() == "log"
    assert list(left.lines[0].get_ydata()) == pytest.approx([0.12, 0.252, 0.252])
    with pytest.raises(ValueError, match="one per length"):
        viz.beam_width_figure([1, 2], [0.1], [10, 20], 0.2, 100)


def test_factorisation_figure_bars_end_at_the_joint():
    orders = {"left to right": [("Pr(we)", 0.03), ("Pr(study | we)", 0.2), ("Pr(deep | we, study)", 0.5)],
              "right to left": [("Pr(deep)", 0.0374), ("Pr(study | deep)", 0.3209), ("Pr(we | study, deep)", 0.25)]}
    fig = viz.factorisation_figure(orders)
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig) and len(ax.patches) == 6
    ends = [max(p.get_x() + p.get_width() for p in ax.patches[3 * i: 3 * i + 3]) for i in range(2)]
    assert ends[0] == pytest.approx(-math.log(0.003)) and ends[1] == pytest.approx(-math.log(0.0374 * 0.3209 * 0.25))
    with pytest.raises(ValueError, match="probability in"):
        viz.factorisation_figure({"bad": [("Pr(x)", 0.0)]})


# --- 06-faster-and-longer ----------------------------------------------------------------

def test_speculative_rounds_figure_one_row_per_pass(toy):
    tok = toy.tokenizer
    a, cat, sat, end = (tok.token_to_id[w] for w in ("a", "cat", "sat", "</s>"))
    rounds = [([a], [cat], [sat, end]), ([sat], [end], [])]
    fig = viz.speculative_rounds_figure(rounds, tok, prompt_ids=tok.encode("<s>"))
    render(fig)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert ax.get_title() and "pass 1" in texts and "pass 2" in texts and "prompt" in texts
    assert len(ax.patches) == 6  # one box per token: 4 written, 2 discarded
    assert "4 tokens in 2 target passes" in ax.get_title(loc="right")
    with pytest.raises(TypeError, match="rounds"):
        viz.speculative_rounds_figure([([a], [cat])], tok)


def test_expected_tokens_figure_follows_the_formula():
    fig = viz.expected_tokens_figure([0.5, 0.9], max_k=4)
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig)
    curve = [line for line in ax.lines if len(line.get_xdata()) == 5][0]
    assert list(curve.get_ydata()) == pytest.approx([1, 1.5, 1.75, 1.875, 1.9375])
    with pytest.raises(ValueError, match="acceptance rates"):
        viz.expected_tokens_figure([1.0])


def test_speculative_k_figure_three_panels():
    fig = viz.speculative_k_figure([1, 2, 3], [0.8, 0.7, 0.6], [0.6, 0.5, 0.45], [0.7, 0.65, 0.7], 0.68,
                                   predicted_passes_per_token=[0.55, 0.45, 0.4])
    render(fig)
    assert len(fig.axes) == 3 and all(ax.get_title() and ax.get_xlabel() for ax in fig.axes)
    assert list(fig.axes[1].lines[0].get_ydata()) == pytest.approx([0.6, 0.5, 0.45])
    with pytest.raises(ValueError, match="one per length"):
        viz.speculative_k_figure([1, 2], [0.8], [0.6, 0.5], [0.7, 0.6], 0.7)


def test_shifting_window_figure_marks_the_shifts():
    fig = viz.shifting_window_figure(4, 12, window=6, keep=2)
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig)
    # Two bars per step. The window of 6 overflows at step 4 (4 prompt tokens + 3 new ones), and again
    # 6 - 2 + 1 steps later, when the 2 kept tokens and 5 new ones no longer fit: those run again (orange).
    shifted = [i // 2 + 1 for i, bar in enumerate(ax.patches)
               if i % 2 == 1 and bar.get_facecolor()[:3] != ax.patches[1].get_facecolor()[:3]]
    assert shifted == [4, 9]
    with pytest.raises(ValueError, match="keep"):
        viz.shifting_window_figure(4, 10, window=3, keep=5)


def test_shifting_positions_figure():
    fig = viz.shifting_positions_figure([8, 16], {"keep = window / 2": [500, 520], "keep = window": [2400, 4700]},
                                        n_new=300, unlimited=303)
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig) and ax.get_yscale() == "log" and len(ax.get_legend().get_texts()) == 3
    with pytest.raises(ValueError, match="one per length"):
        viz.shifting_positions_figure([8, 16], {"x": [1]}, n_new=10)


def test_logit_gap_figure():
    fig = viz.logit_gap_figure([0.0, 2e-6, 0.9, 2.4], shift_steps=[3])
    render(fig)
    ax = fig.axes[0]
    assert labelled(fig) and ax.get_yscale() == "log"
    assert list(ax.lines[0].get_ydata()) == pytest.approx([1e-8, 2e-6, 0.9, 2.4])
    with pytest.raises(ValueError, match="non-negative"):
        viz.logit_gap_figure([-1.0])
