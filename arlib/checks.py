"""Input checks shared by the model, decoding and scoring.

Each failure says what was wrong and what was expected, because the people reading
these messages are students in the middle of an exercise.
"""

from __future__ import annotations

import torch


def check_token_ids(ids, vocab_size: int, name: str = "ids", allow_batch=False, allow_empty=False, empty_hint=""):
    """Return `ids` as an int64 tensor, or raise TypeError / ValueError explaining the problem.

    `empty_hint` finishes the message for an empty sequence (what the caller needs it for).
    """
    if isinstance(ids, torch.Tensor):
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise TypeError(
                f"{name} must hold integer token ids, got a tensor of dtype {ids.dtype}; "
                "convert with .long() if the values are whole numbers"
            )
        tensor = ids.long()
    elif isinstance(ids, (list, tuple)):
        bad = next((t for t in _flatten(ids) if not _is_int(t)), None)
        if bad is not None:
            raise TypeError(f"{name} must be integer token ids, but it contains {bad!r} ({type(bad).__name__})")
        _check_rectangular(ids, name)
        tensor = torch.tensor(ids, dtype=torch.long)
    else:
        raise TypeError(f"{name} must be a list of ints or an integer tensor, got {type(ids).__name__}")
    max_dim = 2 if allow_batch else 1
    if tensor.dim() == 0 or tensor.dim() > max_dim:
        shape = "(T,) or (batch, T)" if allow_batch else "(T,)"
        raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
    if tensor.shape[-1] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: expected at least one token id{empty_hint}")
    if tensor.numel() and not _all_within(tensor, vocab_size):
        bad = tensor[(tensor < 0) | (tensor >= vocab_size)][0].item()
        raise ValueError(f"{name} contains token id {bad}, outside the vocabulary 0 .. {vocab_size - 1}")
    return tensor


def _check_rectangular(ids, name: str):
    if any(isinstance(row, (list, tuple)) for row in ids):
        lengths = [len(row) if isinstance(row, (list, tuple)) else "not a list" for row in ids]
        if len(set(lengths)) > 1:
            raise ValueError(f"{name} must be one list of ids, or a list of lists that all have the same length; "
                             f"got sequences of lengths {lengths}")


def _all_within(tensor, vocab_size: int) -> bool:
    # One pass and one sync (min and max together): a decoding step checks every new token.
    lowest, highest = torch.aminmax(tensor)
    return int(lowest) >= 0 and int(highest) < vocab_size


def check_count(value, name: str) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _is_int(x) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return True
    return isinstance(x, torch.Tensor) and x.dim() == 0 and not x.dtype.is_floating_point


def _flatten(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item
