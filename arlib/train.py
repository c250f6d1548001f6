"""Train the pretrained model that ships with arlib: `python -m arlib.train`.

The model learns the toy world of `arlib.toy_world` from sentences sampled fresh at
every step (so it never sees the same batch twice and cannot overfit), packed into
streams of several sentences so that every position up to `max_len` is trained. With
its defaults the command is seeded, runs on a CPU in a few minutes and writes into
`arlib/pretrained/` the exact files that ship: weights, config and vocabulary. The draft
model for speculative decoding in `arlib/pretrained/draft/` comes from the same command
with a smaller model and `--draft-for arlib/pretrained` (its config.json says how).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from arlib import draft, toy_world
from arlib.model import DecoderLM, ModelConfig
from arlib.pretrained import CONFIG_FILE, PRETRAINED_DIR, VOCAB_FILE, WEIGHTS_FILE, load_pretrained
from arlib.tokenizer import Tokenizer

HELDOUT_SEED, HELDOUT_SENTENCES = 20240601, 1000  # never used for training: training draws from `seed`
DROP_BOS_SHARE = 0.2  # some streams start without <s>, so prompts without it work too


def training_stream(rng: random.Random, tokenizer: Tokenizer, n_tokens: int) -> list[int]:
    """`n_tokens` ids of whole sentences in a row, <s> ... </s> <s> ..., cut at the end."""
    ids = [] if rng.random() < DROP_BOS_SHARE else [tokenizer.bos_id]
    while len(ids) < n_tokens:
        sentence = toy_world.generate_sentence(rng)  # ends with </s>
        ids += [tokenizer.token_to_id[w] for w in sentence] + [tokenizer.bos_id]
    return ids[:n_tokens]


def training_batch(rng, tokenizer, batch_size: int, length: int) -> torch.Tensor:
    """(batch_size, length + 1) ids: inputs are [:, :-1], targets [:, 1:]."""
    rows = [training_stream(rng, tokenizer, length + 1) for _ in range(batch_size)]
    return torch.tensor(rows, dtype=torch.long)


def heldout_rows(tokenizer: Tokenizer, length: int, n_sentences=HELDOUT_SENTENCES, seed=HELDOUT_SEED):
    """Held-out sentences packed whole into rows of at most `length` ids (pad after the last)."""
    rows, row = [], []
    for sentence in toy_world.generate_corpus(n_sentences, seed):
        ids = tokenizer.encode(sentence, bos=True, eos=True)
        if len(row) + len(ids) > length:
            rows.append(row)
            row = []
        row += ids
    rows.append(row)
    return torch.tensor([r + [tokenizer.pad_id] * (length - len(r)) for r in rows], dtype=torch.long)


@torch.no_grad()
def evaluate(model: DecoderLM, tokenizer: Tokenizer, n_sentences=HELDOUT_SENTENCES, seed=HELDOUT_SEED):
    """(model's cross-entropy, true entropy) per token in nats on the same held-out tokens.

    The true entropy here is the mean of -ln p_true over those tokens: the cross-entropy
    of the grammar itself, the best any model can score. Every token after an <s> counts;
    the <s> that follows each </s> is certain and left out of both.
    """
    rows = heldout_rows(tokenizer, model.max_len, n_sentences, seed)
    was_training = model.training
    model.eval()
    model_nll = true_nll = 0.0
    n_tokens = 0
    for row in rows:
        ids = row[row != tokenizer.pad_id]
        log_probs = model.log_probs(ids[:-1])
        words = [tokenizer.id_to_token[i] for i in ids.tolist()]
        for t in range(1, len(words)):
            if words[t] == toy_world.BOS:
                continue
            model_nll -= float(log_probs[t - 1, ids[t]])
            true_nll -= math.log(toy_world.true_next_token_probs(words[:t])[words[t]])
            n_tokens += 1
    model.train(was_training)
    return model_nll / n_tokens, true_nll / n_tokens


@torch.no_grad()
def model_next_token_probs(model: DecoderLM, tokenizer: Tokenizer, context: str) -> dict[str, float]:
    """{token: model's Pr(token | <s> context)} over the whole vocabulary."""
    probs = model.next_token_log_probs(tokenizer.encode(context, bos=True)).exp()
    return {tokenizer.id_to_token[i]: float(p) for i, p in enumerate(probs)}


def context_errors(model: DecoderLM, tokenizer: Tokenizer, contexts=toy_world.COURSE_CONTEXTS) -> dict:
    """For each context: the largest |model - truth| over the vocabulary, and whether argmax agrees."""
    errors = {}
    for context in contexts:
        model_probs = model_next_token_probs(model, tokenizer, context)
        truth = toy_world.true_next_token_probs(context)
        worst = max(abs(p - truth.get(token, 0.0)) for token, p in model_probs.items())
        errors[context] = {"max_abs_error": round(worst, 4),
                           "argmax_agrees": max(model_probs, key=model_probs.get) == max(truth, key=truth.get)}
    return errors


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then a cosine decay to zero.

    Ending at zero matters here: the model is judged on exact probabilities in rare
    contexts, and a learning rate that stays up keeps them jittering around the truth.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def train(config: ModelConfig, steps: int, batch_size: int, lr: float, seed: int, progress=True) -> DecoderLM:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = toy_world.tokenizer()
    model = DecoderLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, steps // 20)
    bar = tqdm(range(steps), desc="training", disable=not progress)
    for step in bar:
        batch = training_batch(rng, tokenizer, batch_size, config.max_len)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup)
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


def save(model: DecoderLM, tokenizer: Tokenizer, out_dir: Path, report: dict):
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / WEIGHTS_FILE)
    tokenizer.save(out_dir / VOCAB_FILE)
    with open(out_dir / CONFIG_FILE, "w") as f:
        json.dump({"model": dataclasses.asdict(model.config), "training": report}, f, indent=2)


def load_target(target_dir: Path, tokenizer: Tokenizer) -> DecoderLM:
    """The model a draft is trained for, loaded before training so that a wrong DIR fails at once."""
    target, target_tokenizer = load_pretrained(target_dir)
    if target_tokenizer.id_to_token != tokenizer.id_to_token:
        raise ValueError(f"the model in {target_dir} has another vocabulary: it cannot verify this draft")
    return target


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m arlib.train", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=800, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=18, help="streams of max-len tokens per step")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sentences and the initial weights")
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; one thread makes runs repeatable")
    parser.add_argument("--out", type=Path, default=PRETRAINED_DIR, help="where to write the files")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--draft-for", type=Path, metavar="DIR",
                        help="a draft for speculative decoding: also measure how often this model's "
                             "greedy choice is that of the model saved in DIR")
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "threads", "n_layer", "n_head", "d_model", "max_len"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    tokenizer = toy_world.tokenizer()
    config = ModelConfig(tokenizer.vocab_size, args.n_layer, args.n_head, args.d_model, args.max_len)
    target = None if args.draft_for is None else load_target(args.draft_for, tokenizer)
    started = time.perf_counter()
    model = train(config, args.steps, args.batch_size, args.lr, args.seed, progress=not args.no_progress)
    seconds = time.perf_counter() - started
    model_ce, true_ce = evaluate(model, tokenizer)
    errors = context_errors(model, tokenizer)
    report = {
        "command": shlex.join(["python", "-m", "arlib.train", *map(str, argv)]),
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "train_seconds": round(seconds, 1), "torch_threads": torch.get_num_threads(),
        "heldout_cross_entropy": round(model_ce, 4), "heldout_true_entropy": round(true_ce, 4),
        "course_contexts": errors,
    }
    if target is not None:
        report["greedy_agreement_with_target"] = draft.measure(target, model, tokenizer)
    save(model, tokenizer, args.out, report)
    print(f"trained {args.steps} steps in {seconds:.0f} s; held-out cross-entropy {model_ce:.4f} nats/token, "
          f"true entropy {true_ce:.4f} ({100 * (model_ce / true_ce - 1):+.1f}%); wrote {args.out}")
    for context, error in errors.items():
        print(f"  {context!r}: largest |model - truth| {error['max_abs_error']:.3f}, "
              f"greedy {'agrees' if error['argmax_agrees'] else 'DISAGREES'}")
    if target is not None:
        agreement = report["greedy_agreement_with_target"]
        print(f"greedy agreement with {args.draft_for}: {agreement['heldout_sentences']:.1%} of held-out "
              f"sentences' tokens, {agreement['course_prompts']:.1%} along its continuations of the course's prompts")
    return report


if __name__ == "__main__":
    main()
