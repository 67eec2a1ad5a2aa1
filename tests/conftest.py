"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A Qwen2-style model built from config with a locally trained tokenizer (no training)."""
    import torch

    from agentprm_bench.agents.bc import TrainPolicyConfig, build_model, train_tokenizer

    torch.manual_seed(0)
    texts = ["Mission: go to the red ball\nYou see:\n- red ball 1: 2 steps forward", "Action: go to red ball 1",
             "Crafting commands:\ncraft 4 oak planks using 1 oak logs\n\nGoal: craft oak planks.",
             "Instruction: find shoes [Search] search[shoes] click[Buy Now]"] * 20
    tokenizer = train_tokenizer(texts, vocab_size=300)
    cfg = TrainPolicyConfig(env="babyai", hidden_size=32, layers=2, heads=2, max_len=256)
    model = build_model(cfg, tokenizer)
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
