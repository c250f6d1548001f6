"""DecoderLM: GPT-2's semantics, the parts one by one, ForwardDetails, devices."""

import math

import pytest
import torch
import torch.nn.functional as F

from arlib import DecoderLM, ForwardDetails, ModelConfig
from tests.helpers import CONFIGS, random_model


def test_config_derived_sizes():
    config = ModelConfig(vocab_size=10, n_layer=2, n_head=4, d_model=64, max_len=8)
    assert config.d_ff == 256
    assert config.head_dim == 16


@pytest.mark.parametrize("field, value", [("vocab_size", 0), ("n_layer", -1), ("d_model", 3.0), ("max_len", True)])
def test_config_rejects_non_positive_or_non_int(field, value):
    settings = dict(vocab_size=10, n_layer=1, n_head=1, d_model=8, max_len=8)
    settings[field] = value
    with pytest.raises(ValueError, match=f"ModelConfig.{field} must be a positive int"):
        ModelConfig(**settings)


def test_config_rejects_heads_that_do_not_divide_d_model():
    with pytest.raises(ValueError, match=r"d_model \(10\) must be divisible by n_head \(3\)"):
        ModelConfig(vocab_size=10, n_layer=1, n_head=3, d_model=10, max_len=8)


def test_module_names_and_tied_output_projection():
    model = random_model(CONFIGS["2-layers-2-heads"])
    names = {name for name, _ in model.named_parameters()}
    for expected in ("token_embedding.weight", "position_embedding.weight", "blocks.1.attn_norm.weight",
                     "blocks.1.attn.qkv.weight", "blocks.1.attn.out.bias", "blocks.1.ffn_norm.bias",
                     "blocks.1.ffn.up.weight", "blocks.1.ffn.down.weight", "final_norm.weight"):
        assert expected in names
    assert model.lm_head.weight is model.token_embedding.weight
    assert model.blocks[0].ffn.up.out_features == 4 * model.config.d_model
    assert all(norm.eps == 1e-5 for norm in (model.final_norm, model.blocks[0].attn_norm, model.blocks[0].ffn_norm))


def gpt2_reference_forward(model: DecoderLM, ids: torch.Tensor) -> torch.Tensor:
    """GPT-2 written out from its definition with torch primitives, reading model's weights."""
    config = model.config
    T = ids.shape[1]
    x = model.token_embedding.weight[ids] + model.position_embedding.weight[:T]
    for block in model.blocks:
        h = F.layer_norm(x, (config.d_model,), block.attn_norm.weight, block.attn_norm.bias, eps=1e-5)
        q, k, v = (h @ block.attn.qkv.weight.T + block.attn.qkv.bias).chunk(3, dim=-1)
        heads = lambda t: t.view(1, T, config.n_head, config.head_dim).transpose(1, 2)  # noqa: E731
        q, k, v = heads(q), heads(k), heads(v)
        scores = q @ k.transpose(-1, -2) / math.sqrt(config.head_dim)
        scores = scores.masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf"))
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(1, T, config.d_model)
        x = x + attended @ block.attn.out.weight.T + block.attn.out.bias
        h = F.layer_norm(x, (config.d_model,), block.ffn_norm.weight, block.ffn_norm.bias, eps=1e-5)
        up = h @ block.ffn.up.weight.T + block.ffn.up.bias
        gelu = 0.5 * up * (1 + torch.tanh(math.sqrt(2 / math.pi) * (up + 0.044715 * up**3)))
        x = x + gelu @ block.ffn.down.weight.T + block.ffn.down.bias
    x = F.layer_norm(x, (config.d_model,), model.final_norm.weight, model.final_norm.bias, eps=1e-5)
    return x @ model.token_embedding.weight.T


@torch.no_grad()
def test_forward_is_gpt2_written_out(model):
    ids = torch.randint(0, model.vocab_size, (1, model.max_len), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(ids), gpt2_reference_forward(model, ids), atol=1e-5, rtol=0)


@torch.no_grad()
def test_parts_one_by_one_assemble_the_forward_pass(model):
    ids = torch.tensor([[1, 5, 7, 2, 9]])
    x = model.embed(ids)
    for block in model.blocks:
        x = block(x)
    torch.testing.assert_close(model.head(x), model(ids), atol=1e-5, rtol=0)
    torch.testing.assert_close(model.lm_head(model.final_norm(x)), model(ids), atol=1e-5, rtol=0)


@torch.no_grad()
def test_blocks_run_one_by_one_with_one_cache_fill_every_layer(model):
    """Each block knows its layer, so a loop over the blocks with one cache is the whole cached pass."""
    prompt, more = torch.tensor([[1, 5, 7]]), torch.tensor([[2, 9]])
    by_hand, whole = model.new_cache(), model.new_cache()
    for ids, start in ((prompt, 0), (more, 3)):
        x = model.embed(ids, start)
        for block in model.blocks:
            x = block(x, by_hand)
        torch.testing.assert_close(model.head(x), model(ids, whole), atol=1e-5, rtol=0)
    assert len(by_hand) == len(whole) == 5
    for layer in range(model.config.n_layer):
        torch.testing.assert_close(by_hand.keys(layer), whole.keys(layer), atol=1e-6, rtol=0)
    assert [block.layer for block in model.blocks] == [block.attn.layer for block in model.blocks] \
        == list(range(model.config.n_layer))


@torch.no_grad()
def test_embed_adds_the_position_of_each_absolute_index(model):
    ids = torch.tensor([[3, 4]])
    expected = model.token_embedding.weight[[3, 4]] + model.position_embedding.weight[[5, 6]]
    torch.testing.assert_close(model.embed(ids, start=5)[0], expected)


@torch.no_grad()
def test_forward_accepts_lists_1d_and_batched_ids(model):
    single = model([4, 8, 15])
    assert single.shape == (1, 3, model.vocab_size)
    torch.testing.assert_close(model(torch.tensor([4, 8, 15])), single)
    batch = model(torch.tensor([[4, 8, 15], [16, 23, 42 % model.vocab_size]]))
    assert batch.shape == (2, 3, model.vocab_size)
    torch.testing.assert_close(batch[:1], single, atol=1e-5, rtol=0)


@torch.no_grad()
def test_last_only_gives_the_last_position_of_the_full_pass(model):
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    last = model(ids, last_only=True)
    assert last.shape == (1, 1, model.vocab_size)
    torch.testing.assert_close(last[0, 0], model(ids)[0, -1], atol=1e-5, rtol=0)


@torch.no_grad()
def test_forward_details_shapes_and_values(model):
    config = model.config
    ids = torch.tensor([[1, 3, 5, 7, 9, 11]])
    details = model(ids, details=True)
    assert isinstance(details, ForwardDetails)
    T = ids.shape[1]
    assert details.logits.shape == (1, T, config.vocab_size)
    assert details.hidden.shape == (1, T, config.d_model)
    assert len(details.attentions) == config.n_layer
    assert all(a.shape == (1, config.n_head, T, T) for a in details.attentions)
    torch.testing.assert_close(details.logits, model(ids), atol=1e-5, rtol=0)
    torch.testing.assert_close(details.logits, model.lm_head(details.hidden), atol=1e-5, rtol=0)


@torch.no_grad()
def test_attention_weights_are_causal_distributions(model):
    details = model(torch.tensor([[2, 4, 6, 8, 10]]), details=True)
    for weights in details.attentions:
        above_diagonal = torch.ones(5, 5).triu(1).bool()
        assert torch.all(weights[..., above_diagonal] == 0), "a query attended to a later position"
        assert torch.all(weights[..., ~above_diagonal] > 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
        torch.testing.assert_close(weights[..., 0, 0], torch.ones(weights.shape[:2]))  # the first token sees itself only


@torch.no_grad()
def test_later_tokens_do_not_change_earlier_logits(model):
    prefix = torch.tensor([[1, 2, 3]])
    longer = torch.tensor([[1, 2, 3, 4, 5]])
    torch.testing.assert_close(model(longer)[:, :3], model(prefix), atol=1e-5, rtol=0)


@torch.no_grad()
def test_log_probs_and_next_token_log_probs(model):
    ids = [1, 4, 9, 16]
    log_probs = model.log_probs(ids)
    assert log_probs.shape == (4, model.vocab_size)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(4))
    torch.testing.assert_close(model.next_token_log_probs(ids), log_probs[-1], atol=1e-5, rtol=0)
    torch.testing.assert_close(log_probs, F.log_softmax(model(ids)[0], -1))


def test_new_cache_matches_the_model(model):
    cache = model.new_cache()
    assert len(cache) == 0
    cache.check_compatible(model.config, 1)
    assert cache.keys(0).dtype == model.token_embedding.weight.dtype


@torch.no_grad()
def test_everything_on_an_explicit_device(device):
    config = CONFIGS["2-layers-2-heads"]
    model = random_model(config).to(device)
    assert model.device.type == device
    ids = torch.tensor([[1, 2, 3, 4]], device=device)
    logits = model(ids)
    assert logits.device.type == device
    details = model(ids, details=True)
    assert details.hidden.device.type == device and details.attentions[0].device.type == device
    assert model.new_cache().keys(0).device.type == device
    assert model.next_token_log_probs([1, 2, 3, 4]).device.type == device  # list ids go to the model's device
    torch.testing.assert_close(logits.cpu(), random_model(config)(ids.cpu()), atol=1e-5, rtol=0)


def test_tall_matrices_keep_their_long_side_contiguous():
    """A speed detail (see arlib.weight_layout) that must not show in shapes or values."""
    config = CONFIGS["2-layers-2-heads"]
    model = random_model(config)
    block = model.blocks[0]
    assert block.attn.qkv.weight.shape == (3 * config.d_model, config.d_model)
    assert block.attn.qkv.weight.t().is_contiguous() and block.ffn.up.weight.t().is_contiguous()
    assert model.token_embedding.weight.t().is_contiguous()
    assert block.attn.out.weight.t().is_contiguous()  # square: column-major measured faster
    assert block.ffn.down.weight.is_contiguous()  # wider than tall: rows are already the long side
    assert model.lm_head.weight is model.token_embedding.weight
    copy = DecoderLM(config)
    copy.load_state_dict(model.state_dict())  # a plain, contiguous state dict loads into the layout
    assert copy.blocks[0].attn.qkv.weight.t().is_contiguous()
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(copy(ids), model(ids))
