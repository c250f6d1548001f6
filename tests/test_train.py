"""`python -m arlib.train` works end to end (a few steps of a tiny model), reproducibly."""

import json
import random
import shlex

import pytest
import torch

from arlib import load_pretrained, toy_world
from arlib.train import heldout_rows, learning_rate, main, training_batch, training_stream

TINY = ["--steps", "3", "--batch-size", "2", "--n-layer", "1", "--n-head", "2", "--d-model", "16",
        "--max-len", "32", "--no-progress"]


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    main([*TINY, "--out", str(out)])
    return out


def test_command_writes_weights_config_and_vocabulary(trained_dir):
    assert {p.name for p in trained_dir.iterdir()} == {"model.pt", "config.json", "vocab.json"}
    config = json.loads((trained_dir / "config.json").read_text())
    assert config["model"] == {"vocab_size": len(toy_world.vocabulary()) + 4, "n_layer": 1, "n_head": 2,
                               "d_model": 16, "max_len": 32}
    assert config["training"]["steps"] == 3 and config["training"]["heldout_true_entropy"] > 0
    model, tokenizer = load_pretrained(trained_dir)
    assert not model.training and model.max_len == 32
    assert tokenizer.id_to_token[4:] == toy_world.vocabulary()


def test_same_seed_same_weights(trained_dir, tmp_path):
    main([*TINY, "--out", str(tmp_path)])
    first, second = (torch.load(d / "model.pt", weights_only=True) for d in (trained_dir, tmp_path))
    assert all(torch.equal(first[name], second[name]) for name in first)
    main([*TINY, "--seed", "1", "--out", str(tmp_path)])
    third = torch.load(tmp_path / "model.pt", weights_only=True)
    assert not torch.equal(first["blocks.0.attn.qkv.weight"], third["blocks.0.attn.qkv.weight"])


def test_training_streams_are_whole_sentences_in_a_row():
    tokenizer = toy_world.tokenizer()
    batch = training_batch(random.Random(0), tokenizer, batch_size=8, length=64)
    assert batch.shape == (8, 65)
    for row in batch.tolist():
        words = [tokenizer.id_to_token[i] for i in row]
        sentences = " ".join(words).replace("<s>", "").split("</s>")[:-1]  # the last one is cut off
        assert len(sentences) >= 2
        for sentence in sentences:
            assert toy_world.sentence_log_prob(sentence) < 0  # raises if the grammar cannot say it
        for before, after in zip(words, words[1:]):
            assert (before == "</s>") == (after == "<s>")
    starts = [training_stream(random.Random(seed), tokenizer, 10)[0] for seed in range(200)]
    assert 0.6 < starts.count(tokenizer.bos_id) / 200 < 0.95  # some streams start without <s>


def test_heldout_rows_hold_whole_sentences():
    tokenizer = toy_world.tokenizer()
    rows = heldout_rows(tokenizer, length=40, n_sentences=50, seed=3)
    text = " ".join(tokenizer.decode(row, skip_special=False).replace("<pad>", "") for row in rows)
    assert text.split() == " ".join(f"<s> {s} </s>" for s in toy_world.generate_corpus(50, 3)).split()
    assert rows.shape[1] == 40 and all(row[0] == tokenizer.bos_id for row in rows.tolist())


def test_learning_rate_warms_up_then_decays():
    rates = [learning_rate(step, 100, 1e-3, warmup=10) for step in range(100)]
    assert rates[0] == pytest.approx(1e-4) and max(rates) == pytest.approx(1e-3)
    assert rates[9] == pytest.approx(1e-3) and rates[-1] < 1e-6
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--steps", "0"])
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_draft_for_records_the_command_and_the_greedy_agreement(trained_dir, tmp_path):
    argv = [*TINY, "--seed", "1", "--draft-for", str(trained_dir), "--out", str(tmp_path)]
    main(argv)
    report = json.loads((tmp_path / "config.json").read_text())["training"]
    assert report["command"] == shlex.join(["python", "-m", "arlib.train", *argv])
    agreement = report["greedy_agreement_with_target"]
    assert set(agreement) == {"heldout_sentences", "course_prompts"}
    assert all(0 <= share <= 1 for share in agreement.values())
    assert "greedy_agreement_with_target" not in json.loads((trained_dir / "config.json").read_text())["training"]


def test_draft_for_a_missing_model_fails_before_training(tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained although --draft-for names no model")

    monkeypatch.setattr("arlib.train.train", no_training)
    with pytest.raises(FileNotFoundError, match="missing from"):
        main([*TINY, "--draft-for", str(tmp_path / "nowhere"), "--out", str(tmp_path / "draft")])
