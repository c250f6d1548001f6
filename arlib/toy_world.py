"""A toy world of short English sentences whose true probabilities are known exactly.

The sentences come from a small probabilistic grammar written as a deterministic
probabilistic finite-state machine: every state offers a few next words, each with its
probability, and each word leads to exactly one next state. So the words of a sentence
so far determine where the grammar is, and the true distribution of the next word is
read off that state, with no sum over hidden derivations. That is what lets the course
compare a trained model with the best possible model, number for number:

    >>> true_next_token_probs("the cat sat")
    {'on': 0.6, 'by': 0.3, 'under': 0.1}

Every sentence is `<s> words . </s>`. In a stream of several sentences (how the
pretrained model is trained) `</s>` is always followed by `<s>`, and what comes next
depends only on the current sentence.
"""

from __future__ import annotations

import math
import random
from functools import cache
from itertools import accumulate

from arlib.tokenizer import BOS, EOS, SPECIAL_TOKENS, Tokenizer

END = None  # where `</s>` leads: the sentence is over


class State:
    """A point in the grammar: {next word: (probability, state after that word)}."""

    def __init__(self):
        self.weights: dict[str, float] = {}
        self.targets: dict[str, State | None] = {}
        self.interior: set[str] = set()  # words whose target is a trie node owned by this phrase set

    @property
    def probs(self) -> dict[str, float]:
        total = sum(self.weights.values())
        # Rounded so that 0.6 prints as 0.6, not 0.6000000000000001; far below any tolerance.
        return {word: round(weight / total, 12) for word, weight in self.weights.items()}


def phrases(options, then=END) -> State:
    """A choice between phrases: `options` lists (phrase, weight) or (phrase, weight, next_state).

    Phrases that share their first words share those states (a trie), with the weights
    summed, so the machine stays deterministic. Two phrases that reach the same words and
    then go different ways would make it ambiguous, so that is refused.
    """
    root = State()
    for option in options:
        phrase, weight, target = option if len(option) == 3 else (*option, then)
        *leading, last = phrase.split()
        node = root
        for word in leading:
            if word in node.targets and word not in node.interior:
                raise ValueError(f"ambiguous grammar: {phrase!r} continues past a phrase that ends at {word!r}")
            if word not in node.targets:
                node.targets[word], node.weights[word] = State(), 0.0
                node.interior.add(word)
            node.weights[word] += weight
            node = node.targets[word]
        if last in node.targets:
            raise ValueError(f"ambiguous grammar: two options reach {phrase!r}")
        node.targets[last], node.weights[last] = target, weight
    return root


def uniform(words, then=END, total=1.0) -> list[tuple[str, float, State | None]]:
    """Options giving each word the same share of `total`."""
    return [(word, total / len(words), then) for word in words]


# --- the words ------------------------------------------------------------------------

ANIMALS = ["dog", "bird", "horse", "rabbit", "mouse", "cow", "duck", "goat", "sheep", "pig",
           "frog", "owl", "bear", "wolf", "lion", "tiger", "monkey", "hen", "goose", "deer"]
PEOPLE = ["man", "woman", "boy", "girl", "teacher", "doctor", "farmer", "child", "student", "baker",
          "king", "queen", "nurse", "pilot", "singer", "painter", "writer", "driver", "cook", "sailor"]
NAMES = ["anna", "tom", "maria", "david", "lucy", "james", "emma", "peter", "sara", "leo"]
PLACES = ["park", "garden", "house", "kitchen", "school", "river", "forest", "city", "village", "market",
          "library", "beach", "hill", "field", "station", "shop", "lake", "farm", "castle", "bridge"]
FOODS = ["bread", "soup", "cake", "fish", "rice", "cheese", "honey", "corn", "apples", "grapes",
         "pears", "eggs", "carrots", "nuts", "berries"]
OBJECTS = ["book", "letter", "ball", "key", "box", "hat", "coat", "map", "cup", "lamp",
           "chair", "bag", "ring", "coin", "pen", "clock", "bell", "rope", "basket", "kite"]
MOODS = ["happy", "tired", "hungry", "old", "young", "small", "big", "quiet", "sleepy", "angry",
         "calm", "brave", "clever", "kind", "lazy", "busy", "sad", "friendly", "gentle", "strong"]
SUBJECTS = ["math", "history", "music", "physics", "chemistry", "biology", "art", "poetry"]
LIKES = ["music", "books", "cats", "dogs", "pizza", "tea", "coffee", "rain", "summer", "games"]
SIZES = ["small", "big", "young", "little", "tall"]  # all take "a", never "an"


# --- the grammar, built from the end of a sentence back to its start ------------------

def _grammar() -> State:
    eos = phrases([(EOS, 1.0, END)])
    full_stop = phrases([(".", 1.0, eos)])

    def then_stop(words):
        return phrases(uniform(words, full_stop))

    places, foods, objects, moods = (then_stop(w) for w in (PLACES, FOODS, OBJECTS, MOODS))

    # Only the cat sits, so "sat" alone says whose distributions follow.
    animal_does = phrases([
        ("plays in the", 0.10, then_stop(["grass", "snow", "mud", "sand", "rain"])),
        ("hides behind the", 0.10, then_stop(["door", "gate", "wall", "barn", "rocks"])),
        ("ran to the", 0.25, places),
        ("ate some", 0.20, foods),
        ("is", 0.20, moods),
        ("sleeps in the", 0.15, places),
    ])
    person_does = phrases([
        ("went to the", 0.30, places),
        ("is", 0.20, moods),
        ("found the", 0.15, objects),
        ("ate some", 0.15, foods),
        ("saw the", 0.10, then_stop(ANIMALS + ["cat"])),
        ("read the", 0.10, then_stop(["book", "letter", "map", "news"])),
    ])

    # The course's examples: these numbers are the true distributions.
    cat_does = phrases([
        ("sat", 0.50, phrases([
            ("on the", 0.6, phrases([("mat", 0.65, full_stop), ("floor", 0.25, full_stop),
                                     ("sky", 0.05, full_stop), ("bed", 0.05, full_stop)])),
            ("by the", 0.3, phrases([("window", 0.5), ("fire", 0.3), ("door", 0.2)], full_stop)),
            ("under the", 0.1, phrases([("table", 0.6), ("tree", 0.4)], full_stop)),
        ])),
        ("is", 0.20, moods),
        ("ate some", 0.10, foods),
        ("chased the", 0.20, phrases([("mouse", 0.5), ("bird", 0.3), ("ball", 0.2)], full_stop)),
    ])
    fox_does = phrases([
        ("jumps over the", 0.7, phrases([("lazy dog", 0.8), ("fence", 0.2)], full_stop)),
        ("runs into the forest", 0.3, full_stop),
    ])
    ocean_is = phrases([
        ("deep", 0.5, phrases([("and", 0.6, phrases([("blue", 0.5), ("dark", 0.25), ("wide", 0.25)], full_stop)),
                               (".", 0.4, eos)])),
        ("blue", 0.3, phrases([("today", 0.4, full_stop), (".", 0.6, eos)])),
        ("cold", 0.2, full_stop),
    ])
    movie_was = phrases([
        ("good", 0.35, phrases([("and", 0.4, then_stop(["funny", "short", "sad"])), (".", 0.6, eos)])),
        ("boring", 0.20, full_stop),
        ("long", 0.15, full_stop),
        ("great", 0.15, full_stop),
        ("incredibly", 0.15, phrases([("boring", 0.5), ("long", 0.5)],
                                     phrases([("and predictable", 0.5, full_stop), (".", 0.5, eos)]))),
    ])
    weather_is = phrases(uniform(["nice", "cold", "warm"],
                                 phrases([("today", 0.5, full_stop), (".", 0.5, eos)])))

    the = phrases([
        ("quick brown", 0.20, phrases([("fox", 0.8, fox_does), ("dog", 0.2, animal_does)])),
        ("quick little mouse", 0.05, animal_does),
        ("cat", 0.14, cat_does),
        ("ocean", 0.08, phrases([("is", 0.7, ocean_is), ("looks", 0.3, then_stop(["calm", "grey"]))])),
        ("movie", 0.08, phrases([("was", 0.8, movie_was), ("is", 0.2, then_stop(["long", "good", "boring"]))])),
        ("weather is", 0.03, weather_is),
        ("sky is", 0.02, then_stop(["blue", "grey", "clear", "dark"])),
        *uniform(ANIMALS, animal_does, total=0.20),
        *uniform(PEOPLE, person_does, total=0.20),
    ])

    # "we study deep learning": log-probabilities ln 0.5 = -0.69 and ln(2/3) = -0.41.
    # "deep" (the noun's, not the ocean's) is followed by "learning" 2/3 of the time
    # wherever it stands, so a model need not learn a separate rule for each place.
    deep_learning_or_sea = phrases([("learning", 2 / 3, full_stop), ("sea fish", 1 / 3, full_stop)])
    studied = [("deep", 0.5, deep_learning_or_sea), *uniform(SUBJECTS, full_stop, total=0.5)]
    liked = [("deep", 0.2, deep_learning_or_sea), *uniform(LIKES, full_stop, total=0.8)]

    def does(verbs):
        study, like, love, be = verbs
        return phrases([(study, 0.20, phrases(studied)), (like, 0.20, phrases(liked)),
                        (love, 0.15, phrases(liked)), ("went to the", 0.20, places),
                        ("ate some", 0.15, foods), (be, 0.10, moods)])

    return phrases([
        ("the", 0.55, the),
        *[(f"a {size} {noun}", 0.10 / (len(SIZES) * 40), animal_does) for size in SIZES for noun in ANIMALS],
        *[(f"a {size} {noun}", 0.10 / (len(SIZES) * 40), person_does) for size in SIZES for noun in PEOPLE],
        *uniform(NAMES, person_does, total=0.06),
        *uniform(["i", "we", "they", "you"], does(("study", "like", "love", "are")), total=0.12),
        *uniform(["she", "he"], does(("studies", "likes", "loves", "is")), total=0.10),
        ("deep learning is", 0.05 * 2 / 3, phrases([("fun", 0.3), ("hard", 0.2), ("useful", 0.3),
                                                    ("everywhere", 0.2)], full_stop)),
        ("deep sea fish are", 0.05 / 3, then_stop(["strange", "beautiful", "rare"])),
        ("it is", 0.02, then_stop(["raining", "sunny", "cold", "late", "dark"])),
    ])


START = _grammar()

# The course's example contexts, as the notebooks use them.
COURSE_CONTEXTS = (
    "the cat sat",  # E1-02: on 0.6, by 0.3, under 0.1
    "the cat sat on the",  # E4-01: mat 0.65, floor 0.25, sky 0.05
    "the quick brown",  # E1-01, E1-05: fox
    "the ocean is",  # E1-04
    "the movie was",  # E1-06
    "we study",  # E3-01: deep, then learning
    "we study deep",
)


# --- asking the grammar ---------------------------------------------------------------

def _current_sentence(context) -> list[str]:
    """The words of `context` after its last sentence boundary, checked for type."""
    if isinstance(context, str):
        words = Tokenizer.split(context)
    elif isinstance(context, (list, tuple)) and all(isinstance(w, str) for w in context):
        words = [w.lower() for w in context]
    else:
        raise TypeError(f"context must be a string or a list of words, got {context!r}")
    if words[-1:] == [EOS]:
        return [EOS]
    boundaries = [i for i, w in enumerate(words) if w in (BOS, EOS)]
    return words[boundaries[-1] + 1:] if boundaries else words


def _state_after(words) -> State:
    state = START
    for i, word in enumerate(words):
        if word not in state.targets:
            so_far = " ".join([BOS, *words[:i]])
            raise ValueError(
                f"the toy world never says {word!r} after {so_far!r}; "
                f"it continues with one of: {', '.join(sorted(state.targets))}"
            )
        state = state.targets[word]
    return state


def true_next_token_probs(context) -> dict[str, float]:
    """{word: true Pr(word | context)} for every word that can come next, most likely first.

    `context` is a string ("the cat sat") or a list of words, with or without a leading
    `<s>`; earlier sentences of a stream are ignored, because they do not change what
    comes next. After `</s>` the stream always continues with `<s>`.
    """
    words = _current_sentence(context)
    if words == [EOS]:
        return {BOS: 1.0}
    probs = _state_after(words).probs
    return dict(sorted(probs.items(), key=lambda item: -item[1]))


def sentence_log_prob(sentence) -> float:
    """ln Pr(sentence) under the grammar; `sentence` is one sentence, `<s>` and `</s>` optional."""
    words = Tokenizer.split(sentence) if isinstance(sentence, str) else list(sentence)
    words = words[1:] if words[:1] == [BOS] else words
    words = words if words[-1:] == [EOS] else [*words, EOS]
    total = 0.0
    for i, word in enumerate(words):
        p = true_next_token_probs(words[:i]).get(word)
        if p is None:
            _state_after(words[: i + 1])  # raises the ValueError that names the impossible word
        total += math.log(p)
    return total


# --- sampling -------------------------------------------------------------------------

def generate_sentence(rng: random.Random) -> list[str]:
    """One sentence as a list of words, from the first word to `</s>` (no `<s>`)."""
    words, state = [], START
    while state is not END:
        options, cum_weights = _choices(state)
        word = rng.choices(options, cum_weights=cum_weights)[0]
        words.append(word)
        state = state.targets[word]
    return words


@cache
def _choices(state: State):
    """The next words of `state` and their cumulative weights, for `random.choices`."""
    return list(state.weights), list(accumulate(state.weights.values()))


def generate_corpus(n: int, seed: int = 0) -> list[str]:
    """`n` sentences as strings ("the cat sat on the mat ."), reproducible from `seed`.

    The strings leave out `<s>` and `</s>`: `tokenizer.encode(s, bos=True, eos=True)`
    adds them.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    rng = random.Random(seed)
    return [" ".join(generate_sentence(rng)[:-1]) for _ in range(n)]


# --- the whole source -----------------------------------------------------------------

def _reachable_states() -> list[State]:
    seen, order, todo = set(), [], [START]
    while todo:
        state = todo.pop()
        if state is END or id(state) in seen:
            continue
        seen.add(id(state))
        order.append(state)
        todo.extend(state.targets.values())
    return order


def vocabulary() -> list[str]:
    """Every word the toy world uses (no special tokens), sorted."""
    words = {word for state in _reachable_states() for word in state.targets}
    return sorted(words - set(SPECIAL_TOKENS))


def tokenizer() -> Tokenizer:
    return Tokenizer(vocabulary())


@cache
def _entropy_and_length(state: State | None) -> tuple[float, float]:
    """Expected entropy (nats) and expected number of tokens from `state` to `</s>`."""
    if state is END:
        return 0.0, 0.0
    entropy = length = 0.0
    for word, p in state.probs.items():
        rest_entropy, rest_length = _entropy_and_length(state.targets[word])
        entropy += p * (-math.log(p) + rest_entropy)
        length += p * (1 + rest_length)
    return entropy, length


def sentence_entropy() -> float:
    """H(sentence) in nats: the expected -ln Pr(sentence)."""
    return _entropy_and_length(START)[0]


def mean_sentence_length() -> float:
    """Expected number of tokens per sentence, counting the words, "." and `</s>` (not `<s>`)."""
    return _entropy_and_length(START)[1]


def entropy_per_token() -> float:
    """The source's true entropy per token in nats: no model can have a lower cross-entropy.

    Counts every token of a sentence after `<s>`; the `<s>` after `</s>` is certain and
    costs nothing.
    """
    entropy, length = _entropy_and_length(START)
    return entropy / length
