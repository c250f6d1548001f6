"""What tests share besides fixtures: small model configurations, decisive random models, the
devices to test on. Test modules import them as `from tests.helpers import CONFIGS, random_model`
(tests/ is a package; pytest puts the repository root on sys.path)."""

import torch

from arlib import DecoderLM, ModelConfig

CONFIGS = {
    "1-layer-1-head": ModelConfig(vocab_size=50, n_layer=1, n_head=1, d_model=16, max_len=24),
    "2-layers-2-heads": ModelConfig(vocab_size=97, n_layer=2, n_head=2, d_model=32, max_len=40),
    "3-layers-4-heads": ModelConfig(vocab_size=200, n_layer=3, n_head=4, d_model=48, max_len=64),
}

# CUDA joins the list on a machine that has it, so the same tests cover the GPU path.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_model(config: ModelConfig, seed: int = 0, device="cpu") -> DecoderLM:
    """A DecoderLM with random weights whose greedy choices are decisive.

    GPT-2's initialisation gives nearly flat next-token distributions, where two logits
    can tie to within float rounding and two correct implementations may pick different
    argmaxes. Larger token embeddings (hence larger tied output logits) keep the top
    two logits far apart, so comparing token sequences tests the model, not rounding.
    """
    torch.manual_seed(seed)
    model = DecoderLM(config)
    with torch.no_grad():
        model.token_embedding.weight.mul_(10.0)
    return model.to(device).eval()
