"""A language model written out as tables of conditional distributions.

It answers the same question as the neural model, Pr(next token | context), so greedy
decoding, the generation trace and scoring run on it unchanged, and the numbers of a
pen-and-paper example come out exactly.
"""

from __future__ import annotations

import math

import torch

from arlib.checks import check_token_ids
from arlib.tokenizer import Tokenizer


class ToyLM:
    """`table` maps a context (a string of words, or a tuple of them) to {next word: prob}.

    A context is looked up by its longest suffix that has an entry, so ("sat",) covers
    every context ending in "sat" unless a longer one says otherwise; the key "" (or ())
    is the fallback for everything else.
    """

    def __init__(self, table: dict, max_len: int = 64):
        self.table = {self._key(context): dict(dist) for context, dist in table.items()}
        for context, dist in self.table.items():
            total = sum(dist.values())
            if any(p < 0 for p in dist.values()) or not math.isclose(total, 1.0, abs_tol=1e-9):
                raise ValueError(f"the distribution after {' '.join(context)!r} must be >= 0 and sum to 1, sums to {total}")
        words = {w for context, dist in self.table.items() for w in (*context, *dist)}
        self.tokenizer = Tokenizer(sorted(words))
        self.max_len = max_len

    @staticmethod
    def _key(context) -> tuple[str, ...]:
        return tuple(Tokenizer.split(context)) if isinstance(context, str) else tuple(context)

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def distribution(self, context) -> dict[str, float]:
        """{word: Pr(word | context)} for the words with non-zero probability.

        `context` is a string, a sequence of words, or a sequence of token ids.
        """
        words = self._context_words(context)
        for start in range(len(words) + 1):
            if words[start:] in self.table:
                return self.table[words[start:]]
        raise ValueError(
            f"ToyLM has no distribution for the context {' '.join(words)!r}: expected an entry for it or for "
            "one of its suffixes, or a fallback entry under the key ''"
        )

    def _context_words(self, context) -> tuple[str, ...]:
        if isinstance(context, str):
            return tuple(Tokenizer.split(context))
        if isinstance(context, (list, tuple)) and context and all(isinstance(w, str) for w in context):
            return tuple(context)
        ids = check_token_ids(context, self.vocab_size, name="context", allow_empty=True)
        return tuple(self.tokenizer.id_to_token[i] for i in ids.tolist())

    def next_token_log_probs(self, ids) -> torch.Tensor:
        """(vocab,): log Pr(next token | ids), -inf for the words the table leaves out."""
        probs = torch.zeros(self.vocab_size, dtype=torch.float64)
        for word, p in self.distribution(ids).items():
            probs[self.tokenizer.token_to_id[word]] = p
        return probs.log()

    def log_probs(self, ids) -> torch.Tensor:
        """(T, vocab): row t is log Pr(next token | ids[: t + 1])."""
        ids = check_token_ids(ids, self.vocab_size, name="ids").tolist()
        return torch.stack([self.next_token_log_probs(ids[: t + 1]) for t in range(len(ids))])
