"""The benchmark command runs and prints its three sections (timings are never asserted)."""

import subprocess
import sys

from arlib import DecoderLM, ModelConfig
from arlib.benchmark import weight_bytes_per_token


def test_quick_benchmark_prints_every_section():
    result = subprocess.run([sys.executable, "-m", "arlib.benchmark", "--quick", "--threads", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(a) greedy decoding, cached vs uncached" in out
    for new_tokens in ("4", "8", "16"):
        assert any(line.split()[:1] == [new_tokens] for line in out.splitlines()), f"no row for {new_tokens} new tokens"
    assert "(b) arlib cached vs Hugging Face" in out and "GPT-2-small shape" in out
    assert "(c) bandwidth floor" in out and "matvec read bandwidth" in out
    assert "of which matrix products" in out and "everything else" in out
    assert out.count("-> ") == 4  # one verdict per target: (a), (b) small, and (c) floor and HF on GPT-2-small


def test_weight_bytes_per_token_counts_every_weight_once():
    d, V, L, T = 16, 50, 2, 32
    model = DecoderLM(ModelConfig(vocab_size=V, n_layer=L, n_head=2, d_model=d, max_len=T))
    per_block = (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d) + 4 * d  # qkv, out, up, down, 2 norms
    expected_floats = V * d + d + L * per_block + 2 * d  # tied embedding once, one position row, final norm
    assert weight_bytes_per_token(model) == 4 * expected_floats
