"""arlib's DecoderLM and Hugging Face's GPT2LMHeadModel: the same network, two spellings.

Both are GPT-2, so every parameter has a twin. The mapping (L = layer index):

| arlib (DecoderLM)             | Hugging Face (GPT2LMHeadModel)      | note                     |
|-------------------------------|-------------------------------------|--------------------------|
| token_embedding.weight        | transformer.wte.weight              | (vocab, d_model)         |
| position_embedding.weight     | transformer.wpe.weight              | (max_len, d_model)       |
| blocks.L.attn_norm.{weight,bias} | transformer.h.L.ln_1.{weight,bias} |                        |
| blocks.L.attn.qkv.weight      | transformer.h.L.attn.c_attn.weight  | transposed: Conv1D       |
| blocks.L.attn.qkv.bias        | transformer.h.L.attn.c_attn.bias    | q, k, v in the same order|
| blocks.L.attn.out.weight      | transformer.h.L.attn.c_proj.weight  | transposed: Conv1D       |
| blocks.L.attn.out.bias        | transformer.h.L.attn.c_proj.bias    |                          |
| blocks.L.ffn_norm.{weight,bias} | transformer.h.L.ln_2.{weight,bias} |                         |
| blocks.L.ffn.up.{weight,bias} | transformer.h.L.mlp.c_fc.{...}      | weight transposed        |
| blocks.L.ffn.down.{weight,bias} | transformer.h.L.mlp.c_proj.{...}  | weight transposed        |
| final_norm.{weight,bias}      | transformer.ln_f.{weight,bias}      |                          |
| lm_head.weight (tied)         | lm_head.weight (tied to wte)        | nothing to copy          |

Why the transposes: GPT-2's original code multiplies x @ W with W of shape (in, out),
and Hugging Face keeps that layout in its `Conv1D` layer; `nn.Linear` computes x @ W.T
with W of shape (out, in).

Hugging Face `transformers` is a development dependency only (requirements-dev.txt):
the course itself never needs this module.
"""

from __future__ import annotations

import torch

try:
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "arlib.interop needs Hugging Face transformers; install it with "
        "`pip install -r requirements-dev.txt`"
    ) from error

from arlib.model import LAYER_NORM_EPS, DecoderLM, ModelConfig

# Transposed on the way across (Conv1D layout); every other tensor is copied as it is.
CONV1D_SUFFIXES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

_BLOCK_NAMES = {  # arlib block parameter -> Hugging Face block parameter
    "attn_norm": "ln_1",
    "attn.qkv": "attn.c_attn",
    "attn.out": "attn.c_proj",
    "ffn_norm": "ln_2",
    "ffn.up": "mlp.c_fc",
    "ffn.down": "mlp.c_proj",
}
_TOP_NAMES = {  # arlib parameter outside the blocks -> Hugging Face parameter
    "token_embedding.weight": "transformer.wte.weight",
    "position_embedding.weight": "transformer.wpe.weight",
    "final_norm.weight": "transformer.ln_f.weight",
    "final_norm.bias": "transformer.ln_f.bias",
    "lm_head.weight": "lm_head.weight",
}


def gpt2_config(config: ModelConfig, eos_id: int | None = None, **overrides) -> GPT2Config:
    """The GPT2Config of the same shape as `config`, built locally (no download).

    Dropout is off, as it is in arlib, and the special token ids are kept inside the
    vocabulary (GPT-2's default, 50256, would not be for a small vocabulary).
    """
    eos_id = config.vocab_size - 1 if eos_id is None else eos_id
    settings = dict(
        vocab_size=config.vocab_size,
        n_positions=config.max_len,
        n_embd=config.d_model,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_inner=config.d_ff,
        activation_function="gelu_new",  # GELU with the tanh approximation
        layer_norm_epsilon=LAYER_NORM_EPS,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=True,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    settings.update(overrides)
    return GPT2Config(**settings)


def hf_name(arlib_name: str) -> str:
    """The Hugging Face name of one of arlib's parameters, e.g. 'blocks.0.attn.qkv.weight'."""
    if arlib_name.startswith("blocks."):
        _, layer, rest = arlib_name.split(".", 2)
        module, field = rest.rsplit(".", 1)
        return f"transformer.h.{layer}.{_BLOCK_NAMES[module]}.{field}"
    return _TOP_NAMES[arlib_name]


def _is_conv1d_weight(hf_parameter_name: str) -> bool:
    return hf_parameter_name.endswith(CONV1D_SUFFIXES)


@torch.no_grad()
def to_hf(model: DecoderLM, **config_overrides) -> GPT2LMHeadModel:
    """A GPT2LMHeadModel in eval mode holding copies of `model`'s weights."""
    hf_model = GPT2LMHeadModel(gpt2_config(model.config, **config_overrides))
    hf_params = dict(hf_model.named_parameters(remove_duplicate=False))
    for name, tensor in model.state_dict().items():
        target_name = hf_name(name)
        source = tensor.t() if _is_conv1d_weight(target_name) else tensor
        hf_params[target_name].copy_(source)
    return hf_model.to(model.device).eval()


@torch.no_grad()
def from_hf(hf_model: GPT2LMHeadModel) -> DecoderLM:
    """A DecoderLM in eval mode holding copies of a GPT2LMHeadModel's weights."""
    hf = hf_model.config
    if hf.activation_function not in ("gelu_new", "gelu_pytorch_tanh") or hf.n_inner not in (None, 4 * hf.n_embd):
        raise ValueError(
            f"arlib's DecoderLM has a tanh-GELU feed-forward of width 4 x d_model; this GPT-2 has "
            f"activation {hf.activation_function!r} and width {hf.n_inner}"
        )
    config = ModelConfig(hf.vocab_size, hf.n_layer, hf.n_head, hf.n_embd, hf.n_positions)
    model = DecoderLM(config)
    hf_params = dict(hf_model.named_parameters(remove_duplicate=False))
    for name, tensor in model.state_dict().items():
        source_name = hf_name(name)
        source = hf_params[source_name]
        tensor.copy_(source.t() if _is_conv1d_weight(source_name) else source)
    return model.to(hf_model.device).eval()


def quiet_transformers():
    """Silence transformers' informational logs and warnings (tests and the benchmark)."""
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
