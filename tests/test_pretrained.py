"""The shipped model, measured against the toy world's true probabilities."""

import json
import shutil

import pytest

import arlib
from arlib import toy_world
from arlib.draft import greedy_agreement, heldout_sentences, measure
from arlib.pretrained import DRAFT_COMMAND, DRAFT_DIR, PRETRAINED_DIR, load_draft, load_pretrained
from arlib.train import evaluate, model_next_token_probs

MAX_BYTES = 5 * 2**20
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def pretrained():
    return arlib.load_pretrained()


def test_loads_offline_in_eval_mode_with_the_toy_world_vocabulary(pretrained):
    model, tokenizer = pretrained
    assert isinstance(model, arlib.DecoderLM) and not model.training
    assert tokenizer.id_to_token[4:] == toy_world.vocabulary()
    assert model.vocab_size == tokenizer.vocab_size and model.max_len >= 128
    assert sum(p.stat().st_size for p in PRETRAINED_DIR.iterdir()) <= MAX_BYTES


def test_missing_files_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.pt, config\.json, vocab\.json missing.*python -m arlib\.train"):
        load_pretrained(tmp_path)


def test_heldout_cross_entropy_is_within_5_percent_of_the_true_entropy(pretrained):
    model_ce, true_ce = evaluate(*pretrained)
    assert true_ce == pytest.approx(toy_world.entropy_per_token(), rel=0.05)  # a fair sample of the source
    assert true_ce <= model_ce <= 1.05 * true_ce


@pytest.mark.parametrize("context", toy_world.COURSE_CONTEXTS)
def test_course_context_matches_the_truth(pretrained, context):
    model, tokenizer = pretrained
    probs = model_next_token_probs(model, tokenizer, context)
    truth = toy_world.true_next_token_probs(context)
    for token, p in probs.items():
        assert p == pytest.approx(truth.get(token, 0.0), abs=TOLERANCE), f"Pr({token!r} | {context!r})"
    [greedy] = arlib.greedy_decode(model, tokenizer.encode(context, bos=True), 1)
    assert tokenizer.token(greedy) == max(truth, key=truth.get)


def test_late_positions_and_prompts_without_bos(pretrained):
    model, tokenizer = pretrained
    earlier = " </s> <s> ".join(toy_world.generate_corpus(28, seed=99))
    ids = tokenizer.encode(f"<s> {earlier} </s> <s> the cat sat on the")
    assert 200 < len(ids) <= model.max_len  # positions late in the window
    truth = toy_world.true_next_token_probs("the cat sat on the")
    probs = model.next_token_log_probs(ids).exp()
    assert float(probs[tokenizer.token_to_id["mat"]]) == pytest.approx(truth["mat"], abs=TOLERANCE)
    no_bos = model.next_token_log_probs(tokenizer.encode("the cat sat")).exp()
    assert tokenizer.token(int(no_bos.argmax())) == "on"


def test_greedy_generation_stops_at_end_of_sentence(pretrained):
    model, tokenizer = pretrained
    new = arlib.greedy_decode(model, tokenizer.encode("the cat sat", bos=True), 20, eos_id=tokenizer.eos_id)
    assert tokenizer.decode(new) == "on the mat . </s>"
    new = arlib.greedy_decode(model, [tokenizer.bos_id], 20, eos_id=tokenizer.eos_id)
    assert tokenizer.decode(new) == "the quick brown fox jumps over the lazy dog . </s>"


# --- the draft model for speculative decoding ------------------------------------------

@pytest.fixture(scope="module")
def draft():
    return load_draft()


def test_draft_loads_offline_with_the_targets_vocabulary_and_window(pretrained, draft):
    model, tokenizer = draft
    target, target_tokenizer = pretrained
    assert isinstance(model, arlib.DecoderLM) and not model.training
    assert tokenizer.id_to_token == target_tokenizer.id_to_token
    assert model.vocab_size == target.vocab_size and model.max_len == target.max_len == 256


def test_draft_is_much_smaller_than_the_target(pretrained, draft):
    n_params = [sum(p.numel() for p in model.parameters()) for model in (pretrained[0], draft[0])]
    assert n_params[1] * 20 < n_params[0]
    weights = [(directory / "model.pt").stat().st_size for directory in (PRETRAINED_DIR, DRAFT_DIR)]
    assert weights[1] <= 300_000 and weights[1] * 20 < weights[0]


def test_draft_agrees_with_the_target_often_not_always_as_its_config_says(pretrained, draft):
    target, tokenizer = pretrained
    agreement = measure(target, draft[0], tokenizer)
    report = json.loads((DRAFT_DIR / "config.json").read_text())["training"]
    assert report["command"] == DRAFT_COMMAND
    assert agreement == report["greedy_agreement_with_target"]  # the figures the notebook quotes
    assert 0.75 <= agreement["heldout_sentences"] <= 0.9  # useful, yet rejections happen
    assert 0.75 <= agreement["course_prompts"] <= 0.95
    assert report["heldout_cross_entropy"] > 1.1 * report["heldout_true_entropy"]  # a weaker model


def test_greedy_agreement_judges_the_continuation_only(pretrained, draft):
    target, tokenizer = pretrained
    pairs = heldout_sentences(tokenizer, n=20, seed=5)
    assert greedy_agreement(target, target, pairs) == 1.0
    context, continuation = tokenizer.encode("the cat sat on the", bos=True), tokenizer.encode("mat .")
    target_says = target.log_probs(context + continuation[:1])[-2:].argmax(-1)
    draft_says = draft[0].log_probs(context + continuation[:1])[-2:].argmax(-1)
    expected = float((target_says == draft_says).float().mean())
    assert greedy_agreement(target, draft[0], [(context, continuation)]) == expected
    with pytest.raises(ValueError, match="at least one id"):
        greedy_agreement(target, draft[0], [(context, [])])


def test_missing_draft_files_are_explained(tmp_path, monkeypatch):
    for name in ("config.json", "vocab.json"):
        shutil.copy(DRAFT_DIR / name, tmp_path / name)
    monkeypatch.setattr(arlib.pretrained, "DRAFT_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"model\.pt missing from .*--draft-for arlib/pretrained"):
        load_draft()
