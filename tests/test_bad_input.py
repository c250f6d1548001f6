"""Every bad input the issue lists raises ValueError or TypeError naming what was wrong and what was expected."""

import pytest
import torch

from arlib import ModelConfig, ToyLM, decode_step, generation_trace, greedy_decode, prefill, token_log_probs
from tests.helpers import random_model

CONFIG = ModelConfig(vocab_size=30, n_layer=2, n_head=2, d_model=16, max_len=12)


@pytest.fixture(scope="module")
def model():
    return random_model(CONFIG)


# --- out-of-range token ids ---------------------------------------------------------------

@pytest.mark.parametrize("bad_id", [30, 1000, -1])
def test_out_of_range_ids_in_the_forward_pass(model, bad_id):
    with pytest.raises(ValueError, match=rf"ids contains token id {bad_id}, outside the vocabulary 0 \.\. 29"):
        model(torch.tensor([[1, 2, bad_id]]))


def test_out_of_range_ids_in_a_prompt(model):
    with pytest.raises(ValueError, match=r"prompt_ids contains token id 31, outside the vocabulary 0 \.\. 29"):
        greedy_decode(model, [1, 31], 3)
    with pytest.raises(ValueError, match=r"prompt_ids contains token id -4, outside the vocabulary 0 \.\. 29"):
        generation_trace(model, [-4], 3)


def test_out_of_range_eos_id(model):
    with pytest.raises(ValueError, match=r"eos_id contains token id 30, outside the vocabulary 0 \.\. 29"):
        greedy_decode(model, [1], 3, eos_id=30)


def test_out_of_range_ids_in_scoring(model):
    with pytest.raises(ValueError, match=r"y_ids contains token id 99, outside the vocabulary 0 \.\. 29"):
        token_log_probs(model, [1], [2, 99])


def test_out_of_range_token_in_decode_step(model):
    cache = model.new_cache()
    prefill(model, [1], cache)
    with pytest.raises(ValueError, match=r"token id 30, outside the vocabulary 0 \.\. 29"):
        decode_step(model, 30, cache)


# --- empty prompt -------------------------------------------------------------------------

@pytest.mark.parametrize("use_cache", [True, False])
def test_empty_prompt(model, use_cache):
    with pytest.raises(ValueError, match=r"prompt_ids is empty: expected at least one token id .*<s>"):
        greedy_decode(model, [], 3, use_cache=use_cache)


def test_empty_prompt_as_a_tensor_and_in_the_trace(model):
    with pytest.raises(ValueError, match="prompt_ids is empty: expected at least one token id"):
        greedy_decode(model, torch.tensor([], dtype=torch.long), 3)
    with pytest.raises(ValueError, match="prompt_ids is empty: expected at least one token id"):
        generation_trace(model, [], 3)


def test_empty_ids_in_the_forward_pass(model):
    with pytest.raises(ValueError, match="ids is empty: expected at least one token id"):
        model(torch.zeros(1, 0, dtype=torch.long))


# --- a prompt longer than max_len ---------------------------------------------------------

def test_prompt_longer_than_max_len(model):
    with pytest.raises(ValueError, match=r"a prompt of 13 tokens .* more than max_len=12; shorten the prompt"):
        greedy_decode(model, [1] * 13, 1)


def test_prompt_plus_new_tokens_beyond_max_len(model):
    with pytest.raises(ValueError, match=r"a prompt of 10 tokens plus max_new_tokens=4 needs 13 positions, more than max_len=12"):
        greedy_decode(model, [1] * 10, 4, use_cache=False)


def test_forward_longer_than_max_len(model):
    with pytest.raises(ValueError, match=r"0 cached \+ 13 new positions exceed max_len=12"):
        model(torch.ones(1, 13, dtype=torch.long))


def test_embedding_positions_past_max_len(model):
    # The parts are usable one by one: embed must not quietly broadcast a short slice.
    with pytest.raises(RuntimeError, match="exceeds dimension size"):
        model.embed(torch.ones(1, 3, dtype=torch.long), start=model.max_len - 1)


def test_decode_step_past_max_len(model):
    cache = model.new_cache()
    prefill(model, [1] * 12, cache)
    with pytest.raises(ValueError, match=r"12 cached \+ 1 new positions exceed max_len=12"):
        decode_step(model, 1, cache)


# --- negative max_new_tokens --------------------------------------------------------------

@pytest.mark.parametrize("use_cache", [True, False])
def test_negative_max_new_tokens(model, use_cache):
    with pytest.raises(ValueError, match=r"max_new_tokens must be >= 0, got -1"):
        greedy_decode(model, [1], -1, use_cache=use_cache)


def test_negative_max_new_tokens_in_the_trace(model):
    with pytest.raises(ValueError, match=r"max_new_tokens must be >= 0, got -5"):
        generation_trace(model, [1], -5)


def test_non_integer_max_new_tokens(model):
    with pytest.raises(TypeError, match=r"max_new_tokens must be an int, got 2.5 \(float\)"):
        greedy_decode(model, [1], 2.5)


# --- a float tensor where ids are expected ------------------------------------------------

def test_float_tensor_ids_in_the_forward_pass(model):
    with pytest.raises(TypeError, match=r"ids must hold integer token ids, got a tensor of dtype torch.float32.*\.long\(\)"):
        model(torch.tensor([[1.0, 2.0]]))


def test_float_tensor_prompt(model):
    with pytest.raises(TypeError, match=r"prompt_ids must hold integer token ids, got a tensor of dtype torch.float64"):
        greedy_decode(model, torch.tensor([1.0, 2.0], dtype=torch.float64), 3)


def test_float_tensor_in_scoring(model):
    with pytest.raises(TypeError, match=r"x_ids must hold integer token ids, got a tensor of dtype torch.float32"):
        token_log_probs(model, torch.tensor([1.0]), [2])


def test_floats_in_a_list_of_ids(model):
    with pytest.raises(TypeError, match=r"prompt_ids must be integer token ids, but it contains 2.0 \(float\)"):
        greedy_decode(model, [1, 2.0], 3)


def test_ids_that_are_not_a_sequence(model):
    with pytest.raises(TypeError, match=r"ids must be a list of ints or an integer tensor, got str"):
        model("the cat sat")


def test_ragged_lists_of_ids(model):
    with pytest.raises(ValueError, match=r"a list of lists that all have the same length; got sequences of lengths \[2, 1\]"):
        model([[1, 2], [3]])
    with pytest.raises(ValueError, match=r"lengths \[2, 'not a list'\]"):
        model([[1, 2], 3])


def test_ids_with_too_many_dimensions(model):
    with pytest.raises(ValueError, match=r"ids must have shape \(T,\) or \(batch, T\), got \(1, 1, 2\)"):
        model(torch.ones(1, 1, 2, dtype=torch.long))


# --- y empty in scoring -------------------------------------------------------------------

def test_empty_y_in_scoring(model):
    with pytest.raises(ValueError, match="y_ids is empty: expected at least one token id to score"):
        token_log_probs(model, [1, 2], [])


def test_empty_x_in_scoring(model):
    with pytest.raises(ValueError, match=r"x_ids is empty: expected at least one token id \(the first token of y needs a context"):
        token_log_probs(model, [], [1, 2])


def test_empty_y_in_scoring_a_toy_lm():
    toy = ToyLM({"": {"a": 1.0}})
    with pytest.raises(ValueError, match="y_ids is empty"):
        token_log_probs(toy, [1], [])


# --- a cache used with another model's shapes --------------------------------------------

@pytest.mark.parametrize("other", [
    ModelConfig(vocab_size=30, n_layer=3, n_head=2, d_model=16, max_len=12),  # more layers
    ModelConfig(vocab_size=30, n_layer=2, n_head=4, d_model=16, max_len=12),  # other heads
    ModelConfig(vocab_size=30, n_layer=2, n_head=2, d_model=32, max_len=12),  # wider
    ModelConfig(vocab_size=30, n_layer=2, n_head=2, d_model=16, max_len=20),  # longer
], ids=["layers", "heads", "width", "max_len"])
def test_cache_from_another_models_shapes(model, other):
    foreign_cache = random_model(other).new_cache()
    with pytest.raises(ValueError, match=r"this KVCache was made for \(n_layer, n_head, head_dim, max_len, batch\) = .*make a new cache with model.new_cache\(\)"):
        prefill(model, [1, 2], foreign_cache)
    with pytest.raises(ValueError, match="this KVCache was made for"):
        decode_step(model, 1, foreign_cache)


def test_cache_for_another_batch_size(model):
    cache = model.new_cache(batch_size=2)
    with pytest.raises(ValueError, match=r"\(2, 2, 8, 12, 2\), but the model and input have \(2, 2, 8, 12, 1\)"):
        model(torch.tensor([[1, 2]]), cache)


# --- a model without a cache asked to use one --------------------------------------------

def test_use_cache_with_a_toy_lm():
    toy = ToyLM({"": {"a": 1.0}})
    with pytest.raises(TypeError, match=r"use_cache=True needs a model with a key-value cache .*got ToyLM; pass use_cache=False"):
        greedy_decode(toy, [1], 2)


def test_cache_on_another_device(model):
    from arlib import KVCache

    elsewhere = KVCache(CONFIG, device="meta")  # a device with no data: any mismatch will do
    with pytest.raises(ValueError, match=r"this KVCache lives on meta, but the model is on cpu; make a new cache"):
        prefill(model, [1, 2], elsewhere)
