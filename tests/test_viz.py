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
