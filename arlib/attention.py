"""Causal multi-head self-attention, as functions and as a module.

The functions take plain tensors so that a notebook can call them with weights of its
own and compare; the module is what the model uses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from arlib.guard import refuse_if_disabled


def causal_mask(n_query: int, n_key: int | None = None, device=None) -> torch.Tensor:
    """Boolean (n_query, n_key) mask, True where a query may attend to a key.

    The queries are the last `n_query` of `n_key` positions, so query i sits at absolute
    position n_key - n_query + i and sees keys 0 .. that position, itself included.
    """
    refuse_if_disabled("causal_mask")
    n_key = n_query if n_key is None else n_key
    query_pos = torch.arange(n_key - n_query, n_key, device=device).unsqueeze(1)
    key_pos = torch.arange(n_key, device=device).unsqueeze(0)
    return key_pos <= query_pos


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d) + mask) v over the last two dimensions; returns (output, weights)."""
    refuse_if_disabled("scaled_dot_product_attention")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(batch, T, d_model) -> (batch, n_head, T, head_dim)."""
    refuse_if_disabled("split_heads")
    batch, T, d_model = x.shape
    return x.view(batch, T, n_head, d_model // n_head).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, n_head, T, head_dim) -> (batch, T, d_model)."""
    refuse_if_disabled("merge_heads")
    batch, n_head, T, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, T, n_head * head_dim)


def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head: int, return_weights=False):
    """Multi-head causal self-attention of x (batch, T, d_model) with explicit weights.

    w_qkv is (3 d_model, d_model): the query, key and value projections stacked in that
    order, as `nn.Linear` stores them; w_out is (d_model, d_model).
    """
    refuse_if_disabled("causal_self_attention")
    q, k, v = F.linear(x, w_qkv, b_qkv).split(x.shape[-1], dim=-1)
    q, k, v = (split_heads(t, n_head) for t in (q, k, v))
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(x.shape[1], device=x.device))
    out = F.linear(merge_heads(out), w_out, b_out)
    return (out, weights) if return_weights else out


def attend_with_cache(q, cache, layer: int = 0):
    """Attention of new queries (batch, heads, T_new, head_dim) over every key in `cache`'s layer.

    The new positions' keys and values must already be appended: at step i the query
    q_i attends over k_1 .. k_i, its own key included.
    """
    refuse_if_disabled("attend_with_cache")
    keys, values = cache.keys(layer), cache.values(layer)
    mask = causal_mask(q.shape[2], keys.shape[2], device=q.device)
    return scaled_dot_product_attention(q, keys, values, mask)[0]


class SelfAttention(nn.Module):
    """Causal multi-head self-attention of one layer; `layer` is where its keys go in a cache."""

    def __init__(self, d_model: int, n_head: int, layer: int):
        super().__init__()
        self.n_head, self.layer = n_head, layer
        self.qkv = nn.Linear(d_model, 3 * d_model)  # query, key, value in one matrix
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x, cache=None, *, return_attention=False):
        """x (B, T, C) holds the new positions only; returns (output (B, T, C), weights or None)."""
        q, k, v = self._queries_keys_values(x)  # each (B, n_head, T, head_dim)
        if cache is not None:
            # Append first, so the new queries see their own keys: k, v become (B, n_head, T_past + T, head_dim).
            k, v = cache.append(self.layer, k, v)
        if return_attention:  # the weights (B, n_head, T, T_past + T), for the course's figures
            out, weights = scaled_dot_product_attention(q, k, v, causal_mask(q.shape[2], k.shape[2], device=x.device))
        else:  # torch's fused kernel: the same numbers (tests check 1e-5), no weights kept
            out, weights = self._fused_attention(q, k, v), None
        return self.out(merge_heads(out)), weights  # (B, T, C)

    @staticmethod
    def _fused_attention(q, k, v):
        n_query, n_key = q.shape[2], k.shape[2]
        if n_query == n_key:  # no cache before: the plain causal triangle
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if n_query == 1:  # one decoding step: the new query may see every key
            return F.scaled_dot_product_attention(q, k, v)
        # New positions after cached ones (a verification pass): each sees the past and up to itself.
        return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(n_query, n_key, device=q.device))

    def _queries_keys_values(self, x):
        """q, k and v, each (B, n_head, T, head_dim), from one projection and one view.

        The same as splitting the projection in three and calling `split_heads` on each, in
        fewer tensor operations: a decoding step runs this once per layer.
        """
        batch, T, d_model = x.shape
        qkv = self.qkv(x).view(batch, T, 3, self.n_head, d_model // self.n_head)  # (B, T, 3, n_head, head_dim)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, n_head={self.n_head}"
