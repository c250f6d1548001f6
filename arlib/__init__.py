"""arlib: the reference implementation behind the course on autoregressive generation.

A decoder-only Transformer with GPT-2's semantics, greedy decoding with and without a
key-value cache, sampling, beam search, speculative decoding, generation past the
context window, log-likelihood scoring, a word-level tokenizer and a table-driven toy
language model.
"""

from arlib.attention import (
    attend_with_cache,
    causal_mask,
    causal_self_attention,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from arlib.decoding import TraceStep, decode_step, generation_trace, greedy_decode, prefill
from arlib.kv_cache import KVCache
from arlib.model import Block, DecoderLM, FeedForward, ForwardDetails, ModelConfig
from arlib.pretrained import load_draft, load_pretrained
from arlib.sampling import sample, sample_next
from arlib.search import Hypothesis, beam_search
from arlib.shifting import Shifted, generate_with_shifting
from arlib.speculative import Speculation, speculative_greedy
from arlib.scoring import perplexity, sequence_log_likelihood, sequence_probability, token_log_probs
from arlib.tokenizer import Tokenizer
from arlib.toy_lm import ToyLM
from arlib import toy_world  # the grammar behind the pretrained model: arlib.toy_world.*

__all__ = [
    "Block", "DecoderLM", "FeedForward", "ForwardDetails", "KVCache", "ModelConfig", "Tokenizer",
    "ToyLM", "TraceStep", "attend_with_cache", "causal_mask", "causal_self_attention",
    "decode_step", "generation_trace", "greedy_decode", "merge_heads", "perplexity", "prefill",
    "scaled_dot_product_attention", "sequence_log_likelihood", "sequence_probability",
    "split_heads", "token_log_probs",
    "load_pretrained", "load_draft", "sample_next", "sample", "Hypothesis", "beam_search", "Speculation", "speculative_greedy",
    "Shifted", "generate_with_shifting",
]
