"""Grouped-query attention: the same numbers as transformers' sdpa, without repeat_kv."""

from __future__ import annotations

import copy

import pytest
import torch

from agentprm_bench.attention import NAME, use_grouped_attention
from tests.cached_steps import prefill_then_steps


def _model(heads: int, kv_heads: int):
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=97, hidden_size=16 * heads, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=256)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()


def _run(model, steps=(5, 1, 3)) -> list[torch.Tensor]:
    """A left-padded prefill, then cached steps of several tokens -> each forward's logits."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 97, (3, 40), generator=g)
    attn = torch.ones_like(ids)
    attn[1, :9], attn[2, :23] = 0, 0
    return [out.logits for out, _ in prefill_then_steps(model, ids, attn, steps, (0, 97), g)]


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("heads,kv_heads", [(4, 2), (4, 1), (6, 3)])
def test_grouped_attention_gives_sdpa_logits_exactly_and_copies_no_kv(monkeypatch, heads, kv_heads, n_threads):
    """Prefill over left padding and cached multi-token steps give sdpa's logits bit for bit, and
    repeat_kv (the copy of every key/value head) is never called; at two threads too, where one
    attention call per query head of a group (an earlier design) differed for (4, 1) and (6, 3)."""
    import transformers.integrations.sdpa_attention as sdpa

    torch.set_num_threads(n_threads)  # conftest restores it
    plain = _model(heads, kv_heads)
    grouped = use_grouped_attention(copy.deepcopy(plain))
    assert grouped.config._attn_implementation == NAME
    with torch.no_grad():
        expected = _run(plain)
        calls = []
        real = sdpa.repeat_kv
        monkeypatch.setattr(sdpa, "repeat_kv", lambda x, n: calls.append(n) or real(x, n))
        got = _run(grouped)
    assert not calls
    for a, b in zip(expected, got):
        assert torch.equal(a, b)


def test_grouped_attention_leaves_gradient_steps_to_sdpa(monkeypatch):
    """With gradients on (training), transformers' own path runs, so trained weights do not move."""
    import transformers.integrations.sdpa_attention as sdpa

    grouped = use_grouped_attention(_model(4, 2))
    calls = []
    real = sdpa.repeat_kv
    monkeypatch.setattr(sdpa, "repeat_kv", lambda x, n: calls.append(n) or real(x, n))
    _run(grouped, steps=(2,))[-1].sum().backward()
    assert calls


def test_grouped_attention_is_not_written_into_a_saved_config(tmp_path):
    grouped = use_grouped_attention(_model(4, 2))
    grouped.config.save_pretrained(tmp_path)
    assert NAME not in (tmp_path / "config.json").read_text()
