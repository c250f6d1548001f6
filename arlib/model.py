"""A decoder-only Transformer language model with GPT-2's semantics.

Reads top to bottom: configuration, the feed-forward network, one block,
the whole model. Attention lives in `attention.py`, the cache in `kv_cache.py`, and a
speed-only re-layout of the weights (no number changes) in `weight_layout.py`.

Shapes in comments: B batch, T new positions, C = d_model, V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from arlib.attention import SelfAttention
from arlib.checks import check_token_ids
from arlib.guard import refuse_if_disabled
from arlib.kv_cache import KVCache
from arlib.weight_layout import store_long_side_contiguous

LAYER_NORM_EPS = 1e-5  # GPT-2's value; Hugging Face's GPT2Config uses it too


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    max_len: int = 256

    def __post_init__(self):
        for name in (f.name for f in fields(self)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive int, got {value!r}")
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head}) "
                "so that every head gets the same width"
            )

    @property
    def d_ff(self) -> int:
        return 4 * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


class FeedForward(nn.Module):
    """Position-wise MLP: widen to 4 x d_model, tanh-approximated GELU, narrow back."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.up = nn.Linear(config.d_model, config.d_ff)
        self.down = nn.Linear(config.d_ff, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x), approximate="tanh"))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class Block(nn.Module):
    """One pre-LayerNorm decoder block: x + attn(norm(x)), then x + ffn(norm(x)).

    There is no cross-attention: a decoder-only model has no second sequence to attend to.
    `layer` is the block's place in the stack: its attention keeps its keys and values in
    that layer of a cache, so the blocks can be run one by one with a single cache.
    """

    def __init__(self, config: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.attn_norm = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)
        self.attn = SelfAttention(config.d_model, config.n_head, layer)
        self.ffn_norm = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)
        self.ffn = FeedForward(config)

    def forward(self, x, cache: KVCache | None = None, *, return_attention=False):
        attended, weights = self.attn(self.attn_norm(x), cache, return_attention=return_attention)
        x = x + attended  # (B, T, C)
        x = x + self.ffn(self.ffn_norm(x))
        return (x, weights) if return_attention else x

    def extra_repr(self) -> str:
        return f"layer={self.layer}"


@dataclass
class ForwardDetails:
    """What `DecoderLM.forward(..., details=True)` returns, for the course's figures."""

    logits: torch.Tensor  # (batch, T, vocab)
    hidden: torch.Tensor  # (batch, T, d_model): final hidden states, after the final norm
    attentions: list[torch.Tensor]  # one (batch, n_head, T, T_keys) tensor per layer


class DecoderLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.max_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config, layer) for layer in range(config.n_layer))
        self.final_norm = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # tied, as in GPT-2
        self.apply(self._init_weights)
        # GPT-2 scales the projections into the residual stream by 1/sqrt(2L) so its
        # variance does not grow with depth.
        for block in self.blocks:
            for proj in (block.attn.out, block.ffn.down):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * config.n_layer))
        store_long_side_contiguous(self)  # speed only: the same numbers, streamed faster

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def device(self) -> torch.device:
        return self.token_embedding.weight.device

    @property
    def max_len(self) -> int:
        return self.config.max_len

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def new_cache(self, batch_size: int = 1) -> KVCache:
        weight = self.token_embedding.weight
        return KVCache(self.config, batch_size, device=weight.device, dtype=weight.dtype)

    # --- the parts, usable one by one -------------------------------------------------

    def embed(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token embedding plus the learned embedding of each absolute position."""
        # The positions are consecutive, so their embeddings are one slice of the table;
        # narrow, unlike [a:b], raises when the slice would run past max_len.
        return self.token_embedding(ids) + self.position_embedding.weight.narrow(0, start, ids.shape[-1])

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final LayerNorm, then one logit per vocabulary entry."""
        return self.lm_head(self.final_norm(hidden))

    # --- the whole pass ---------------------------------------------------------------

    def forward(self, ids, cache: KVCache | None = None, *, details=False, last_only=False):
        """Logits for every position of `ids` (batch, T), or of the last one if `last_only`.

        With a `cache`, `ids` are the positions after those already cached; their keys
        and values are appended, so the prefix is never processed again.
        """
        refuse_if_disabled("DecoderLM.forward")
        ids = self._check_ids(ids, cache)
        start = 0 if cache is None else len(cache)
        x = self.embed(ids, start)  # (B, T, C)
        attentions = []
        for block in self.blocks:
            if details:
                x, weights = block(x, cache, return_attention=True)
                attentions.append(weights)
            else:
                x = block(x, cache)
        if last_only:
            x = x[:, -1:]  # (B, 1, C): only the next token's logits are wanted
        if details:
            hidden = self.final_norm(x)
            return ForwardDetails(self.lm_head(hidden), hidden, attentions)
        return self.head(x)  # (B, T, V)

    def _check_ids(self, ids, cache):
        ids = check_token_ids(ids, self.config.vocab_size, name="ids", allow_batch=True)
        if ids.dim() == 1:
            ids = ids.unsqueeze(0)
        past = 0
        if cache is not None:
            cache.check_compatible(self.config, ids.shape[0], self.device)
            past = len(cache)
        if past + ids.shape[1] > self.config.max_len:
            raise ValueError(
                f"{past} cached + {ids.shape[1]} new positions exceed max_len={self.config.max_len}; "
                "shorten the sequence (the model has no position embedding beyond max_len)"
            )
        return ids.to(self.device)

    # --- the next-token interface shared with ToyLM ------------------------------------

    @torch.no_grad()
    def log_probs(self, ids) -> torch.Tensor:
        """(T, vocab): row t is log Pr(next token | ids[: t + 1]), from one forward pass."""
        refuse_if_disabled("DecoderLM.log_probs")
        return F.log_softmax(self(ids)[0].float(), dim=-1)

    @torch.no_grad()
    def next_token_log_probs(self, ids) -> torch.Tensor:
        """(vocab,): log Pr(next token | ids)."""
        refuse_if_disabled("DecoderLM.next_token_log_probs")
        return F.log_softmax(self(ids, last_only=True)[0, -1].float(), dim=-1)
