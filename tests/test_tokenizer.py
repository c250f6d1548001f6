"""The word-level Tokenizer: special ids, lower-casing, unknown words, round trips, files."""

import pytest
import torch

from arlib import Tokenizer

WORDS = ["the", "cat", "sat", "on", "mat", ".", ","]


@pytest.fixture
def tokenizer():
    return Tokenizer(WORDS)


def test_special_tokens_have_fixed_ids(tokenizer):
    assert (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id) == (0, 1, 2, 3)
    assert [tokenizer.token(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert tokenizer.vocab_size == len(tokenizer) == 4 + len(WORDS)
    assert tokenizer.token(4) == "the"  # words follow in the order given


def test_encode_lower_cases_and_splits_punctuation(tokenizer):
    assert tokenizer.split("The cat sat, on the MAT.") == ["the", "cat", "sat", ",", "on", "the", "mat", "."]
    ids = tokenizer.encode("The cat sat, on the MAT.")
    assert ids == [4, 5, 6, 10, 7, 4, 8, 9]


def test_bos_and_eos_are_added_on_request(tokenizer):
    assert tokenizer.encode("the cat", bos=True, eos=True) == [1, 4, 5, 2]
    assert tokenizer.encode("the cat", bos=True) == [1, 4, 5]
    assert tokenizer.encode("<s> the cat </s>") == [1, 4, 5, 2]  # written specials are recognised


def test_unknown_words_become_unk(tokenizer):
    assert tokenizer.encode("the dog sat") == [4, tokenizer.unk_id, 6]
    assert tokenizer.decode(tokenizer.encode("the dog sat")) == "the <unk> sat"


@pytest.mark.parametrize("text", ["the cat sat on the mat .", "<s> the cat , the mat </s>", ""])
def test_round_trip(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_round_trip_of_ids_and_tensors(tokenizer):
    ids = list(range(tokenizer.vocab_size))
    assert tokenizer.encode(tokenizer.decode(ids)) == ids
    assert tokenizer.decode(torch.tensor([4, 5])) == "the cat"


def test_decode_can_skip_specials(tokenizer):
    ids = tokenizer.encode("the cat", bos=True, eos=True)
    assert tokenizer.decode(ids, skip_special=True) == "the cat"
    assert tokenizer.decode(ids) == "<s> the cat </s>"


def test_save_and_load(tokenizer, tmp_path):
    path = tmp_path / "vocab.json"
    tokenizer.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.id_to_token == tokenizer.id_to_token
    assert loaded.encode("The cat sat.") == tokenizer.encode("The cat sat.")


def test_specials_in_the_word_list_are_not_duplicated():
    assert Tokenizer(["<s>", "a", "</s>"]).id_to_token == ["<pad>", "<s>", "</s>", "<unk>", "a"]


def test_bad_input_is_explained(tokenizer):
    with pytest.raises(ValueError, match="the vocabulary lists a word twice"):
        Tokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match=r"token id 11 is outside the vocabulary 0 \.\. 10"):
        tokenizer.decode([4, 11])
    with pytest.raises(TypeError, match="text must be a str, got list"):
        tokenizer.encode(["the", "cat"])


def test_decode_rejects_ids_that_are_not_ints(tokenizer):
    with pytest.raises(TypeError, match=r"token ids must be ints, got 4.0 \(float\)"):
        tokenizer.decode([4.0])
