"""The toy world's grammar: the course's numbers, exact probabilities, sampling that matches them."""

import math
import random
from collections import Counter

import pytest

from arlib import toy_world
from arlib.tokenizer import Tokenizer


@pytest.mark.parametrize("context, expected", [
    ("the cat sat", {"on": 0.6, "by": 0.3, "under": 0.1}),
    ("The cat sat on the", {"mat": 0.65, "floor": 0.25, "sky": 0.05, "bed": 0.05}),
    ("the quick brown", {"fox": 0.8, "dog": 0.2}),
    ("the ocean is", {"deep": 0.5, "blue": 0.3, "cold": 0.2}),
    ("we study deep", {"learning": 2 / 3, "sea": 1 / 3}),
])
def test_course_contexts_have_the_course_numbers(context, expected):
    assert toy_world.true_next_token_probs(context) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("context", toy_world.COURSE_CONTEXTS + ("", "the", "the ocean is deep", "the movie was good"))
def test_greedy_choice_at_course_contexts_is_clear(context):
    # A trained model is within 0.05 of the truth, so a margin above 0.1 keeps its argmax right.
    first, second, *_ = [*toy_world.true_next_token_probs(context).values(), 0.0]
    assert first - second > 0.1


def test_greedy_path_from_the_start_is_the_quick_brown_fox():
    words = []
    while words[-1:] != ["</s>"]:
        probs = toy_world.true_next_token_probs(words)
        words.append(max(probs, key=probs.get))
    assert " ".join(words) == "the quick brown fox jumps over the lazy dog . </s>"


def test_every_state_is_a_distribution():
    for state in toy_world._reachable_states():
        assert math.isclose(sum(state.probs.values()), 1.0, abs_tol=1e-9)
        assert all(p > 0 for p in state.probs.values())


@pytest.mark.parametrize("context", ["<s> the cat sat", ["<s>", "the", "cat", "sat"], ("the", "cat", "sat"),
                                     "<s> it is late . </s> <s> the cat sat", "a big dog is sad . </s> the cat sat"])
def test_context_forms_agree_and_earlier_sentences_do_not_matter(context):
    assert toy_world.true_next_token_probs(context) == toy_world.true_next_token_probs("the cat sat")


def test_after_end_of_sentence_comes_a_new_one():
    assert toy_world.true_next_token_probs("the cat sat on the mat . </s>") == {"<s>": 1.0}
    assert toy_world.true_next_token_probs("<s>") == toy_world.true_next_token_probs("")


def test_impossible_context_is_explained():
    with pytest.raises(ValueError, match=r"never says 'flew' after '<s> the cat'.*sat"):
        toy_world.true_next_token_probs("the cat flew")
    with pytest.raises(ValueError, match="never says"):
        toy_world.sentence_log_prob("the cat sat on the moon .")


def test_bad_argument_types():
    with pytest.raises(TypeError, match="string or a list of words"):
        toy_world.true_next_token_probs([1, 2, 3])
    with pytest.raises(ValueError, match="non-negative int"):
        toy_world.generate_corpus(-1)
    with pytest.raises(TypeError, match="seed"):
        toy_world.generate_corpus(3, seed="0")


def test_ambiguous_grammar_is_refused():
    with pytest.raises(ValueError, match="ambiguous"):
        toy_world.phrases([("the cat", 0.5), ("the cat", 0.5, toy_world.phrases([("sat", 1.0)]))])
    with pytest.raises(ValueError, match="ambiguous"):
        toy_world.phrases([("the cat sat", 0.5), ("the cat", 0.5)])


def test_corpus_is_reproducible_and_grammatical():
    corpus = toy_world.generate_corpus(200, seed=7)
    assert corpus == toy_world.generate_corpus(200, seed=7)
    assert corpus != toy_world.generate_corpus(200, seed=8)
    for sentence in corpus:
        assert sentence.endswith(" .") and "<s>" not in sentence and "</s>" not in sentence
        assert math.isfinite(toy_world.sentence_log_prob(sentence))


def test_sampling_matches_the_true_probabilities():
    rng = random.Random(0)
    sentences = [toy_world.generate_sentence(rng) for _ in range(20000)]
    after_cat_sat = Counter(s[3] for s in sentences if s[:3] == ["the", "cat", "sat"])
    n = sum(after_cat_sat.values())
    assert n > 500
    for word, p in {"on": 0.6, "by": 0.3, "under": 0.1}.items():
        assert after_cat_sat[word] / n == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n))
    # The mean surprisal of sampled tokens estimates the entropy per token.
    surprisal = -sum(toy_world.sentence_log_prob(s) for s in sentences)
    n_tokens = sum(len(s) for s in sentences)
    assert surprisal / n_tokens == pytest.approx(toy_world.entropy_per_token(), rel=0.02)
    assert n_tokens / len(sentences) == pytest.approx(toy_world.mean_sentence_length(), rel=0.02)


def test_sentence_log_prob_is_the_product_of_the_course_numbers():
    expected = math.log(0.55 * 0.14 * 0.50 * 0.6 * 1.0 * 0.65 * 1.0 * 1.0)  # the cat sat on the mat . </s>
    assert toy_world.sentence_log_prob("the cat sat on the mat .") == pytest.approx(expected)
    assert toy_world.sentence_log_prob("<s> the cat sat on the mat . </s>") == pytest.approx(expected)


def test_vocabulary_is_a_few_hundred_single_tokens():
    words = toy_world.vocabulary()
    assert 150 <= len(words) <= 400
    assert all(Tokenizer.split(word) == [word] for word in words)
    tokenizer = toy_world.tokenizer()
    assert tokenizer.decode(tokenizer.encode("the cat sat")) == "the cat sat"
    assert 0.5 < toy_world.entropy_per_token() < 3.0
