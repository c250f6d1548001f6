"""arlib.guard: a reference switched off refuses however it is reached."""

import copy
import functools
import importlib
import types

import pytest
import torch

import arlib
from arlib import guard
from arlib.guard import DelegatedToReference, reference_disabled
from tests.helpers import CONFIGS, random_model

CONFIG = CONFIGS["2-layers-2-heads"]


@pytest.fixture(scope="module")
def model():
    return random_model(CONFIG)


def _calls(model):
    """One call of every guarded name, with arguments that work when it is switched on."""
    ids = [1, 2, 3]
    q = torch.randn(1, 2, 3, CONFIG.head_dim)
    x = torch.randn(1, 3, CONFIG.d_model)
    with torch.no_grad():
        cache = model.new_cache()
        model(ids, cache)
    attention = model.blocks[0].attn
    return {
        "greedy_decode": lambda: arlib.greedy_decode(model, ids, 2),
        "prefill": lambda: arlib.prefill(model, ids, model.new_cache()),
        "decode_step": lambda: arlib.decode_step(model, 4, copy.deepcopy(cache)),
        "generation_trace": lambda: arlib.generation_trace(model, ids, 2),
        "token_log_probs": lambda: arlib.token_log_probs(model, ids, [4, 5]),
        "sequence_log_likelihood": lambda: arlib.sequence_log_likelihood(model, ids, [4, 5]),
        "sequence_probability": lambda: arlib.sequence_probability(model, ids, [4, 5]),
        "perplexity": lambda: arlib.perplexity(model, ids, [4, 5]),
        "causal_mask": lambda: arlib.causal_mask(3),
        "scaled_dot_product_attention": lambda: arlib.scaled_dot_product_attention(q, q, q),
        "split_heads": lambda: arlib.split_heads(x, CONFIG.n_head),
        "merge_heads": lambda: arlib.merge_heads(q),
        "causal_self_attention": lambda: arlib.causal_self_attention(
            x, attention.qkv.weight, attention.qkv.bias, attention.out.weight, attention.out.bias, CONFIG.n_head),
        "attend_with_cache": lambda: arlib.attend_with_cache(q[:, :, -1:], cache),
        "KVCache.append": lambda: copy.deepcopy(cache).append(0, q, q),
        "KVCache.keys": lambda: cache.keys(0),
        "KVCache.values": lambda: cache.values(0),
        "DecoderLM.forward": lambda: model(ids),
        "DecoderLM.log_probs": lambda: model.log_probs(ids),
        "DecoderLM.next_token_log_probs": lambda: model.next_token_log_probs(ids),
        "generation_steps": lambda: list(arlib.decoding.generation_steps(
            arlib.decoding.RecomputedContext(model, ids), 2, arlib.decoding.argmax)),
        "sample_next": lambda: arlib.sample_next(torch.randn(5)),
        "sample": lambda: arlib.sample(model, ids, 2),
        "beam_search": lambda: arlib.beam_search(model, ids, 2, 2),
        "speculative_greedy": lambda: arlib.speculative_greedy(model, model, ids, 3, 2),
        "generate_with_shifting": lambda: arlib.generate_with_shifting(model, ids, 3, 4, 2),
    }


def test_every_guarded_name_refuses_while_switched_off_and_works_after(model):
    calls = _calls(model)
    assert set(calls) == guard.GUARDED
    for name, call in calls.items():
        call()  # switched on: works
        with pytest.raises(DelegatedToReference, match=f"arlib's {name}"):
            with reference_disabled(name):
                call()
        call()  # and on again after the block


def test_the_reference_refuses_however_it_is_reached(model):
    """Held in a default argument, a closure, functools.partial, a copy of the function, the
    undecorated function, a subclass, a reloaded module, or re-executed source."""
    prompt = [1, 2, 3]

    def default_argument(m, p, n, reference=arlib.greedy_decode):
        return reference(m, p, n)

    held = arlib.greedy_decode

    def closure(m, p, n):
        return held(m, p, n)

    partial = functools.partial(arlib.greedy_decode, use_cache=False)
    original = arlib.greedy_decode
    function_copy = types.FunctionType(original.__code__, original.__globals__, "copy", original.__defaults__,
                                       original.__closure__)
    unwrapped = getattr(arlib.greedy_decode, "__wrapped__", arlib.greedy_decode)
    private_helper = arlib.decoding.generation_steps
    reloaded = importlib.reload(importlib.import_module("arlib.decoding")).greedy_decode
    namespace = {}
    exec(compile(importlib.import_module("inspect").getsource(arlib.decoding), "copied", "exec"), namespace)

    class SubclassedCache(arlib.KVCache):
        pass

    ways = {
        "default argument": lambda: default_argument(model, prompt, 2),
        "closure": lambda: closure(model, prompt, 2),
        "functools.partial": lambda: partial(model, prompt, 2),
        "copy of the function": lambda: function_copy(model, prompt, 2),
        "__wrapped__": lambda: unwrapped(model, prompt, 2),
        "the loop behind it": lambda: list(private_helper(arlib.decoding.RecomputedContext(model, prompt), 2,
                                                          arlib.decoding.argmax)),
        "importlib.reload": lambda: reloaded(model, prompt, 2),
        "re-executed source": lambda: namespace["greedy_decode"](model, prompt, 2),
    }
    for way, call in ways.items():
        with pytest.raises(DelegatedToReference), reference_disabled("greedy_decode"):
            call()
    with pytest.raises(DelegatedToReference), reference_disabled("KVCache.append"):
        SubclassedCache(CONFIG).append(0, *[torch.zeros(1, CONFIG.n_head, 1, CONFIG.head_dim)] * 2)


def test_every_decoder_refuses_where_greedy_decoding_is_the_exercise(model):
    """Temperature 0, beam width 1, any draft, a window as long as the text: each decoder can decode
    greedily, so each refuses while greedy_decode or generation_trace is switched off."""
    calls = _calls(model)
    decoders = ["generation_steps", "sample", "beam_search", "speculative_greedy", "generate_with_shifting"]
    for switched_off in guard.GREEDY:
        for name in decoders:
            with pytest.raises(DelegatedToReference, match=f"arlib's {name}"), reference_disabled(switched_off):
                calls[name]()
    with pytest.raises(DelegatedToReference), reference_disabled("generate_with_shifting"):
        arlib.shifting.ShiftingContext(model, [1, 2], 4, 2)  # the heart of it, used on its own


@pytest.mark.parametrize("step", ["keep_top_k", "keep_top_p"])
def test_the_steps_of_sample_next_refuse_with_it(step):
    probs = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    getattr(arlib.sampling, step)(probs, 1)
    with pytest.raises(DelegatedToReference, match=f"arlib's sample_next"), reference_disabled("sample_next"):
        getattr(arlib.sampling, step)(probs, 1)


def test_reloading_the_guard_does_not_switch_the_references_back_on(model):
    try:
        with pytest.raises(AssertionError, match="called arlib's greedy_decode"), reference_disabled("greedy_decode"):
            importlib.reload(guard)
            arlib.greedy_decode(model, [1, 2], 1)
    finally:  # the reload made a new exception class: put the one the other tests import back
        guard.DelegatedToReference = DelegatedToReference


def test_a_swallowed_refusal_is_still_caught_and_own_code_goes_through(model):
    def sneaky(m, p, n):
        try:
            return arlib.greedy_decode(m, p, n)
        except Exception:
            return [0] * n

    def own(m, p, n):
        ids, new = list(p), []
        for _ in range(n):
            new.append(int(m.next_token_log_probs(ids).argmax()))
            ids.append(new[-1])
        return new

    with pytest.raises(DelegatedToReference, match="your code called arlib's greedy_decode"):
        with reference_disabled("greedy_decode"):
            sneaky(model, [1, 2, 3], 2)
    with reference_disabled("greedy_decode", "generation_trace", "prefill", "decode_step"):
        got = own(model, [1, 2, 3], 2)
    assert got == arlib.greedy_decode(model, [1, 2, 3], 2)


@pytest.mark.parametrize("name", ["no_such_function", "decoding._greedy_cached", "torch.nn.functional.softmax", ""])
def test_reference_disabled_rejects_names_it_cannot_switch_off(name):
    with pytest.raises(ValueError, match="cannot be switched off; expected names among"):
        with reference_disabled(name):
            pass
