"""The key-value cache: every earlier position's keys and values, in every layer.

At decoding step i the model computes k_i and v_i once and appends them, so
cache_i = cache_(i-1) + (k_i, v_i), and the prefix is never run through the model again.
The buffers are allocated once at `max_len` so an append is a copy, not a reallocation.
"""

from __future__ import annotations

import torch

from arlib.guard import refuse_if_disabled


class KVCache:
    def __init__(self, config, batch_size: int = 1, device=None, dtype=torch.float32):
        self.n_layer, self.n_head, self.head_dim = config.n_layer, config.n_head, config.head_dim
        self.max_len, self.batch_size = config.max_len, batch_size
        shape = (config.n_layer, batch_size, config.n_head, config.max_len, config.head_dim)
        # Uninitialised: only positions that were appended are ever read.
        self._keys = torch.empty(shape, device=device, dtype=dtype)
        self._values = torch.empty(shape, device=device, dtype=dtype)
        self._lengths = [0] * config.n_layer

    def __len__(self) -> int:
        """Positions cached in every layer (the last layer is the last to append)."""
        return self._lengths[-1]

    def __repr__(self):
        return (f"KVCache(layers={self.n_layer}, heads={self.n_head}, head_dim={self.head_dim}, "
                f"positions={len(self)}/{self.max_len}, nbytes={self.nbytes})")

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Append the keys and values (batch, heads, T_new, head_dim) of `layer`'s new positions.

        Returns that layer's keys and values for every position so far, the new ones included.
        """
        refuse_if_disabled("KVCache.append")
        expected = (self.batch_size, self.n_head, k.shape[2], self.head_dim)
        if k.dim() != 4 or tuple(k.shape) != expected or k.shape != v.shape:
            raise ValueError(
                f"keys/values of shape {tuple(k.shape)}/{tuple(v.shape)} do not fit this cache: "
                f"expected (batch={self.batch_size}, heads={self.n_head}, new positions, head_dim={self.head_dim})"
            )
        start = self._lengths[layer]
        end = start + k.shape[2]
        if end > self.max_len:
            raise ValueError(
                f"KV cache is full: {start} positions cached, {k.shape[2]} more would exceed "
                f"max_len={self.max_len}"
            )
        self._keys[layer].narrow(2, start, end - start).copy_(k)
        self._values[layer].narrow(2, start, end - start).copy_(v)
        self._lengths[layer] = end
        return self.keys(layer), self.values(layer)

    def keys(self, layer: int) -> torch.Tensor:
        refuse_if_disabled("KVCache.keys")
        return self._keys[layer].narrow(2, 0, self._lengths[layer])

    def values(self, layer: int) -> torch.Tensor:
        refuse_if_disabled("KVCache.values")
        return self._values[layer].narrow(2, 0, self._lengths[layer])

    def crop(self, length: int) -> None:
        """Forget every position from `length` on, in every layer: for drafted tokens the target rejected."""
        if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= len(self):
            raise ValueError(f"crop needs a length from 0 to the {len(self)} cached positions, got {length!r}")
        self._lengths = [length] * self.n_layer

    @property
    def nbytes(self) -> int:
        """Bytes held for the cached positions: 2 x layers x batch x positions x d_model x element size."""
        per_position = 2 * self.n_layer * self.batch_size * self.n_head * self.head_dim
        return per_position * len(self) * self._keys.element_size()

    def check_compatible(self, config, batch_size: int, device=None):
        """Raise ValueError unless this cache fits a model of `config` fed `batch_size` sequences."""
        mine = (self.n_layer, self.n_head, self.head_dim, self.max_len, self.batch_size)
        theirs = (config.n_layer, config.n_head, config.head_dim, config.max_len, batch_size)
        if mine != theirs:
            names = "(n_layer, n_head, head_dim, max_len, batch)"
            raise ValueError(
                f"this KVCache was made for {names} = {mine}, but the model and input have {theirs}; "
                "make a new cache with model.new_cache()"
            )
        if device is not None and torch.device(device) != self._keys.device:
            raise ValueError(
                f"this KVCache lives on {self._keys.device}, but the model is on {torch.device(device)}; "
                "make a new cache with model.new_cache()"
            )
