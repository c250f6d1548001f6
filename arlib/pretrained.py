"""Load the tiny pretrained model that ships inside arlib (trained by `python -m arlib.train`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from arlib.model import DecoderLM, ModelConfig
from arlib.tokenizer import Tokenizer

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE = "model.pt", "config.json", "vocab.json"


def load_pretrained(directory=None) -> tuple[DecoderLM, Tokenizer]:
    """(model in eval mode, its tokenizer), from `arlib/pretrained/` or from `directory`.

    Reads local files only: nothing is downloaded.
    """
    directory = PRETRAINED_DIR if directory is None else Path(directory)
    missing = [name for name in (WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE) if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the pretrained model is incomplete: {', '.join(missing)} missing from {directory}. "
            "Reinstall arlib, or recreate the files with `python -m arlib.train`."
        )
    with open(directory / CONFIG_FILE) as f:
        config = ModelConfig(**json.load(f)["model"])
    tokenizer = Tokenizer.load(directory / VOCAB_FILE)
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(
            f"{directory / VOCAB_FILE} has {tokenizer.vocab_size} tokens but {CONFIG_FILE} says "
            f"{config.vocab_size}: the files come from different training runs; rerun `python -m arlib.train`"
        )
    model = DecoderLM(config)
    model.load_state_dict(torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return model.eval(), tokenizer
