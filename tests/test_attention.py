"""The attention functions: the mask, scaled dot-product attention, heads, and the module's equivalence."""

import math

import pytest
import torch

from arlib import attend_with_cache, causal_mask, causal_self_attention, merge_heads, scaled_dot_product_attention, split_heads
from tests.helpers import CONFIGS, random_model


def test_causal_mask_square_is_lower_triangular():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool))


def test_causal_mask_for_the_last_queries_of_a_longer_sequence():
    # Queries are positions 3 and 4 of 5: each sees every key up to and including itself.
    assert torch.equal(causal_mask(2, 5), torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool))
    assert torch.all(causal_mask(1, 7))  # one new query sees everything


def test_scaled_dot_product_attention_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[10.0, 0.0], [0.0, 10.0]])
    out, weights = scaled_dot_product_attention(q, k, v)
    e = math.exp(1 / math.sqrt(2))  # scores 1/sqrt(2) and 0
    expected_weights = torch.tensor([[e / (e + 1), 1 / (e + 1)]])
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(out, expected_weights @ v)


def test_masked_positions_get_zero_weight():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 3, 4, 8).unbind(0)
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(4))
    assert torch.all(weights.triu(1) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    torch.testing.assert_close(out[:, 0], v[:, 0])  # the first query can only see the first value


def test_split_and_merge_heads_are_inverse():
    x = torch.arange(2 * 5 * 12, dtype=torch.float32).view(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads[:, 1], x[..., 4:8])  # head 1 owns channels 4..7
    torch.testing.assert_close(merge_heads(heads), x)


@pytest.mark.parametrize("name", list(CONFIGS))
@torch.no_grad()
def test_function_with_the_models_weights_equals_the_module(name):
    model = random_model(CONFIGS[name])
    attn = model.blocks[0].attn
    x = torch.randn(2, 9, model.config.d_model, generator=torch.Generator().manual_seed(2))
    module_out, module_weights = attn(x, return_attention=True)
    out, weights = causal_self_attention(x, attn.qkv.weight, attn.qkv.bias, attn.out.weight, attn.out.bias,
                                         model.config.n_head, return_weights=True)
    torch.testing.assert_close(out, module_out, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights, module_weights, atol=1e-6, rtol=0)
    # Without weights the module may take a fused path: it must give the same output.
    torch.testing.assert_close(attn(x)[0], out, atol=1e-5, rtol=0)
    assert attn(x)[1] is None


@torch.no_grad()
def test_attend_with_cache_equals_the_last_rows_of_full_attention():
    config = CONFIGS["3-layers-4-heads"]
    model = random_model(config)
    x = torch.randn(1, 6, config.d_model, generator=torch.Generator().manual_seed(3))
    qkv = model.blocks[0].attn.qkv(x).split(config.d_model, dim=-1)
    q, k, v = (split_heads(t, config.n_head) for t in qkv)
    full, _ = scaled_dot_product_attention(q, k, v, causal_mask(6))
    cache = model.new_cache()
    cache.append(0, k, v)
    torch.testing.assert_close(attend_with_cache(q[:, :, -2:], cache, layer=0), full[:, :, -2:], atol=1e-6, rtol=0)
    torch.testing.assert_close(attend_with_cache(q, cache), full, atol=1e-6, rtol=0)
