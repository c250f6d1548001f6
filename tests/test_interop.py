"""arlib against Hugging Face's GPT-2 on the same weights: logits, greedy tokens, log-likelihoods."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from arlib import ModelConfig, greedy_decode, sequence_log_likelihood  # noqa: E402
from arlib.interop import from_hf, gpt2_config, hf_name, quiet_transformers, to_hf  # noqa: E402
from tests.helpers import random_model  # noqa: E402

quiet_transformers()

NEW_TOKENS = 64
INTEROP_CONFIGS = {
    "1-layer-1-head": ModelConfig(vocab_size=61, n_layer=1, n_head=1, d_model=16, max_len=80),
    "2-layers-4-heads": ModelConfig(vocab_size=500, n_layer=2, n_head=4, d_model=64, max_len=96),
    "4-layers-8-heads": ModelConfig(vocab_size=1000, n_layer=4, n_head=8, d_model=128, max_len=128),
}


@pytest.fixture(scope="module", params=list(INTEROP_CONFIGS), ids=list(INTEROP_CONFIGS))
def pair(request):
    """(arlib model, Hugging Face model with the same weights)."""
    model = random_model(INTEROP_CONFIGS[request.param], seed=7)
    return model, to_hf(model)


def prompts(config, lengths=None):
    """Random prompts of 1 token up to the longest that leaves room for NEW_TOKENS, by length."""
    generator = torch.Generator().manual_seed(config.vocab_size)
    longest = config.max_len - NEW_TOKENS
    lengths = lengths or (1, 2, longest // 2, longest)
    return {length: torch.randint(0, config.vocab_size, (length,), generator=generator) for length in lengths}


def test_gpt2_config_has_the_same_shape_and_no_dropout():
    config = INTEROP_CONFIGS["2-layers-4-heads"]
    hf = gpt2_config(config)
    assert (hf.vocab_size, hf.n_layer, hf.n_head, hf.n_embd, hf.n_positions) == (500, 2, 4, 64, 96)
    assert hf.n_inner == 4 * 64 and hf.activation_function == "gelu_new" and hf.layer_norm_epsilon == 1e-5
    assert hf.resid_pdrop == hf.embd_pdrop == hf.attn_pdrop == 0.0
    assert all(0 <= i < 500 for i in (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id))


def test_every_parameter_maps_to_one_of_the_same_size(pair):
    model, hf_model = pair
    hf_shapes = {name: p.shape for name, p in hf_model.named_parameters(remove_duplicate=False)}
    mapped = set()
    for name, parameter in model.state_dict().items():
        target = hf_name(name)
        assert hf_shapes[target].numel() == parameter.numel(), name
        transposed = target.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))
        expected_shape = parameter.T.shape if transposed else parameter.shape
        assert hf_shapes[target] == expected_shape, f"{name} -> {target}"
        mapped.add(target)
    assert mapped == set(hf_shapes)  # nothing on the Hugging Face side is left unset


@torch.no_grad()
def test_logits_equal(pair):
    model, hf_model = pair
    for length, prompt in prompts(model.config).items():
        ids = prompt.unsqueeze(0)
        torch.testing.assert_close(model(ids), hf_model(ids).logits, atol=1e-5, rtol=0, msg=f"prompt length {length}")
    full = torch.randint(0, model.vocab_size, (2, model.max_len), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(full), hf_model(full).logits, atol=1e-5, rtol=0)


@torch.no_grad()
def test_greedy_tokens_equal_hugging_face_generate(pair):
    model, hf_model = pair
    eos = hf_model.config.eos_token_id
    for length, prompt in prompts(model.config, lengths=(1, model.max_len - NEW_TOKENS)).items():
        theirs = hf_model.generate(prompt.unsqueeze(0), max_new_tokens=NEW_TOKENS, do_sample=False, use_cache=True,
                                   attention_mask=torch.ones(1, length, dtype=torch.long))
        ours = greedy_decode(model, prompt, NEW_TOKENS, eos_id=eos, use_cache=True)
        assert ours == theirs[0, length:].tolist(), f"prompt length {length}"


@torch.no_grad()
def test_sequence_log_likelihood_equals_the_sum_of_hugging_face_log_probs(pair):
    model, hf_model = pair
    generator = torch.Generator().manual_seed(3)
    for x_length in (1, 5):
        y_length = model.max_len - x_length
        ids = torch.randint(0, model.vocab_size, (x_length + y_length,), generator=generator)
        log_probs = torch.log_softmax(hf_model(ids[None, :-1]).logits[0].double(), dim=-1)
        theirs = log_probs[x_length - 1 :].gather(1, ids[x_length:, None]).sum().item()
        ours = sequence_log_likelihood(model, ids[:x_length], ids[x_length:])
        assert ours == pytest.approx(theirs, abs=1e-4), f"x of {x_length} tokens"


@torch.no_grad()
def test_from_hf_round_trips(pair):
    model, hf_model = pair
    back = from_hf(hf_model)
    assert back.config == model.config
    for (name, ours), (_, theirs) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(ours, theirs), name
    assert back.lm_head.weight is back.token_embedding.weight


def test_from_hf_rejects_another_feed_forward():
    config = gpt2_config(INTEROP_CONFIGS["1-layer-1-head"], activation_function="relu")
    with pytest.raises(ValueError, match=r"tanh-GELU feed-forward .* activation 'relu'"):
        from_hf(transformers.GPT2LMHeadModel(config))
