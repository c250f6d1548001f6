"""Load the tiny pretrained models that ship inside arlib (trained by `python -m arlib.train`).

`load_pretrained()` gives the course's model; `load_draft()` a much smaller one with the
same vocabulary, trained to propose tokens for it in speculative decoding.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from arlib.model import DecoderLM, ModelConfig
from arlib.tokenizer import Tokenizer

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
DRAFT_DIR = PRETRAINED_DIR / "draft"
WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE = "model.pt", "config.json", "vocab.json"
TRAIN_COMMAND = "python -m arlib.train"
# How the shipped draft was made (its config.json records the same); an error quotes it,
# since the bare TRAIN_COMMAND would overwrite the target instead.
DRAFT_COMMAND = (f"{TRAIN_COMMAND} --n-layer 1 --n-head 2 --d-model 32 --steps 600 "
                 "--draft-for arlib/pretrained --out arlib/pretrained/draft")


def load_pretrained(directory=None) -> tuple[DecoderLM, Tokenizer]:
    """(model in eval mode, its tokenizer), from `arlib/pretrained/` or from `directory`.

    Reads local files only: nothing is downloaded.
    """
    return _load(PRETRAINED_DIR if directory is None else Path(directory), TRAIN_COMMAND)


def load_draft(directory=None) -> tuple[DecoderLM, Tokenizer]:
    """(draft model in eval mode, its tokenizer), from `arlib/pretrained/draft/` or `directory`.

    One layer, d_model 32: about 30 times fewer parameters than `load_pretrained()`'s
    model, whose vocabulary and 256 positions it shares, so that it can draft for it.
    How often its greedy choice is the target's is in its config.json's "training" report.
    """
    return _load(DRAFT_DIR if directory is None else Path(directory), DRAFT_COMMAND)


def _load(directory: Path, command: str) -> tuple[DecoderLM, Tokenizer]:
    """The model saved in `directory`; the errors name `command`, which recreates the files."""
    missing = [name for name in (WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE) if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the pretrained model is incomplete: {', '.join(missing)} missing from {directory}. "
            f"Reinstall arlib, or recreate the files with `{command}`."
        )
    with open(directory / CONFIG_FILE) as f:
        config = ModelConfig(**json.load(f)["model"])
    tokenizer = Tokenizer.load(directory / VOCAB_FILE)
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(
            f"{directory / VOCAB_FILE} has {tokenizer.vocab_size} tokens but {CONFIG_FILE} says "
            f"{config.vocab_size}: the files come from different training runs; rerun `{command}`"
        )
    model = DecoderLM(config)
    model.load_state_dict(torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return model.eval(), tokenizer
