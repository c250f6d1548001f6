"""KVCache: append realises cache_i = cache_(i-1) + (k_i, v_i); its length, size and limits."""

import pytest
import torch

from arlib import KVCache, ModelConfig

CONFIG = ModelConfig(vocab_size=20, n_layer=3, n_head=2, d_model=8, max_len=5)


def step_tensors(n_new, fill):
    """Keys and values (batch 1, 2 heads, n_new positions, head_dim 4) filled with recognisable numbers."""
    k = torch.full((1, 2, n_new, 4), float(fill))
    return k, -k


def test_a_new_cache_is_empty():
    cache = KVCache(CONFIG)
    assert len(cache) == 0
    assert cache.nbytes == 0
    assert cache.keys(0).shape == (1, 2, 0, 4)


def test_append_returns_every_position_so_far():
    cache = KVCache(CONFIG)
    keys, values = cache.append(0, *step_tensors(2, fill=1))
    assert keys.shape == values.shape == (1, 2, 2, 4)
    keys, values = cache.append(0, *step_tensors(1, fill=7))
    assert keys.shape == (1, 2, 3, 4)
    assert keys[0, 0, :, 0].tolist() == [1, 1, 7]  # the old positions are kept, the new one appended
    assert values[0, 1, :, 0].tolist() == [-1, -1, -7]
    torch.testing.assert_close(cache.keys(0), keys)
    torch.testing.assert_close(cache.values(0), values)
    assert cache.keys(1).shape[2] == 0  # other layers are untouched


def test_length_counts_positions_cached_in_every_layer():
    cache = KVCache(CONFIG)
    for step in range(1, 4):
        for layer in range(CONFIG.n_layer):
            cache.append(layer, *step_tensors(1, fill=step))
        assert len(cache) == step


@pytest.mark.parametrize("dtype, element_size", [(torch.float32, 4), (torch.float16, 2), (torch.float64, 8)])
def test_nbytes_is_two_times_layers_positions_d_model_bytes(dtype, element_size):
    cache = KVCache(CONFIG, dtype=dtype)
    for layer in range(CONFIG.n_layer):
        cache.append(layer, *(t.to(dtype) for t in step_tensors(4, fill=1)))
    assert cache.nbytes == 2 * CONFIG.n_layer * 4 * CONFIG.d_model * element_size


def test_nbytes_grows_linearly_with_batch_and_positions():
    cache = KVCache(CONFIG, batch_size=3)
    sizes = []
    for step in range(1, 4):
        for layer in range(CONFIG.n_layer):
            cache.append(layer, torch.zeros(3, 2, 1, 4), torch.zeros(3, 2, 1, 4))
        sizes.append(cache.nbytes)
    per_position = 2 * CONFIG.n_layer * 3 * CONFIG.d_model * 4
    assert sizes == [per_position, 2 * per_position, 3 * per_position]


def test_going_past_max_len_is_a_clear_error():
    cache = KVCache(CONFIG)
    cache.append(0, *step_tensors(4, fill=1))
    cache.append(0, *step_tensors(1, fill=2))  # exactly max_len = 5 is fine
    with pytest.raises(ValueError, match=r"KV cache is full: 5 positions cached, 1 more would exceed max_len=5"):
        cache.append(0, *step_tensors(1, fill=3))
    assert len(cache.keys(0)[0, 0]) == 5  # the failed append left the cache as it was


def test_append_rejects_keys_of_the_wrong_shape():
    cache = KVCache(CONFIG)
    with pytest.raises(ValueError, match=r"expected \(batch=1, heads=2, new positions, head_dim=4\)"):
        cache.append(0, torch.zeros(1, 3, 1, 4), torch.zeros(1, 3, 1, 4))
    with pytest.raises(ValueError, match="do not fit this cache"):
        cache.append(0, torch.zeros(1, 2, 1, 4), torch.zeros(1, 2, 2, 4))


def test_check_compatible_names_both_shapes():
    cache = KVCache(CONFIG)
    cache.check_compatible(CONFIG, 1)
    other = ModelConfig(vocab_size=20, n_layer=2, n_head=2, d_model=8, max_len=5)
    with pytest.raises(ValueError, match=r"made for .* = \(3, 2, 4, 5, 1\), but the model and input have \(2, 2, 4, 5, 1\)"):
        cache.check_compatible(other, 1)
    with pytest.raises(ValueError, match="new_cache"):
        cache.check_compatible(CONFIG, 2)


def test_repr_shows_positions_and_size():
    cache = KVCache(CONFIG)
    cache.append(0, *step_tensors(1, fill=1))
    assert "heads=2" in repr(cache) and "/5" in repr(cache)


def test_crop_forgets_the_newest_positions_in_every_layer_and_appends_after_them():
    cache = KVCache(CONFIG)
    for layer in range(CONFIG.n_layer):
        cache.append(layer, *step_tensors(4, fill=layer + 1))
    cache.crop(2)
    assert len(cache) == 2 and all(cache.keys(layer).shape[2] == 2 for layer in range(CONFIG.n_layer))
    keys, _ = cache.append(0, *step_tensors(1, fill=9))
    assert keys[0, 0, :, 0].tolist() == [1, 1, 9]
    for bad in (3, -1, 1.0, True):  # past the 2 positions every layer holds, negative, not an int
        with pytest.raises(ValueError, match="crop needs a length from 0 to the"):
            cache.crop(bad)
