"""A word-level tokenizer: lower-cased words and punctuation marks, four special tokens."""

from __future__ import annotations

import json
import re

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3 in every vocabulary

_TOKEN = re.compile(r"<pad>|<s>|</s>|<unk>|[a-z0-9']+|[^\sa-z0-9']")


class Tokenizer:
    def __init__(self, words):
        words = [w for w in words if w not in SPECIAL_TOKENS]
        if len(set(words)) != len(words):
            raise ValueError("the vocabulary lists a word twice")
        self.id_to_token = list(SPECIAL_TOKENS) + words
        self.token_to_id = {token: i for i, token in enumerate(self.id_to_token)}

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.id_to_token)

    @property
    def vocab_size(self) -> int:
        return len(self)

    @staticmethod
    def split(text: str) -> list[str]:
        """Lower-case `text` and cut it into words, punctuation marks and special tokens."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return _TOKEN.findall(text.lower())

    def encode(self, text: str, bos=False, eos=False) -> list[int]:
        ids = [self.token_to_id.get(token, self.unk_id) for token in self.split(text)]
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids, skip_special=False) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        for i in ids:
            if not isinstance(i, int) or isinstance(i, bool):
                raise TypeError(f"token ids must be ints, got {i!r} ({type(i).__name__})")
            if not 0 <= i < len(self):
                raise ValueError(f"token id {i!r} is outside the vocabulary 0 .. {len(self) - 1}")
        tokens = [self.id_to_token[i] for i in ids]
        if skip_special:
            tokens = [t for t in tokens if t not in SPECIAL_TOKENS]
        return " ".join(tokens)

    def token(self, token_id: int) -> str:
        return self.decode([token_id])

    def save(self, path):
        with open(path, "w") as f:
            json.dump(self.id_to_token[len(SPECIAL_TOKENS):], f, indent=0)

    @classmethod
    def load(cls, path) -> "Tokenizer":
        with open(path) as f:
            return cls(json.load(f))
