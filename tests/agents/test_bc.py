"""Behaviour cloning: the loss on a hand case, and a seconds-long end-to-end training run."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import pytest
import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.bc import (POLICY_META, TrainPolicyConfig, batches, bc_loss, choice_points, decision_loss,
                                     default_config, encode, lm_loss, merge_prefixes, step_prompts, train_policy,
                                     train_tokenizer, whole_reply)
from agentprm_bench.errors import UserError
from tests.agents.test_policies import histories


def test_bc_loss_counts_only_reply_tokens():
    # vocab 2; logits predict token 1 with p = e^2/(1+e^2) at every position
    logits = torch.tensor([[[0.0, 2.0], [0.0, 2.0], [0.0, 2.0]]])
    labels = torch.tensor([[-100, 1, 0]])  # position 1 predicts 1, position 2 predicts 0
    p1 = math.exp(2) / (1 + math.exp(2))
    expected = (-math.log(p1) - math.log(1 - p1)) / 2
    assert bc_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_lm_loss_counts_every_real_token_and_no_padding():
    # vocab 2, row [1, 0, pad]: position 0 predicts token 0 (p = 1 / (1 + e^2)); predicting the pad is ignored
    logits = torch.tensor([[[0.0, 2.0], [5.0, 0.0], [0.0, 0.0]]])
    ids, attn = torch.tensor([[1, 0, 1]]), torch.tensor([[1, 1, 0]])
    assert lm_loss(logits, ids, attn).item() == pytest.approx(math.log(1 + math.exp(2)), rel=1e-6)


def test_decision_loss_is_cross_entropy_over_the_admissible_tokens_only():
    # vocab 4; at position 1 the reply token 2 was chosen among {1, 2}; token 3 is not admissible
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [5.0, 1.0, 2.0, 9.0], [0.0, 0.0, 0.0, 0.0]]])
    index, targets = torch.tensor([[0, 2]]), torch.tensor([2])
    allowed = torch.tensor([[False, True, True, False]])
    expected = -math.log(math.exp(2) / (math.exp(1) + math.exp(2)))
    assert decision_loss(logits, index, targets, allowed).item() == pytest.approx(expected, rel=1e-6)


def test_choice_points_skip_forced_tokens():
    trie = {(): {7}, (7,): {1, 2}, (7, 1): {9}, (7, 2): {3, 4}, (7, 2, 3): {9}, (7, 2, 4): {9}}
    # prompt [5, 5], reply 7 2 4 9: the choices are at 2 (among 1, 2) and 4 (among 3, 4)
    assert choice_points([5, 5, 7, 2, 4, 9], 2, trie) == [(3, (1, 2)), (4, (3, 4))]
    assert choice_points([5, 5, 7, 8, 4, 9], 2, trie) == []  # the reply left the admissible actions


def test_encode_cuts_prompts_from_the_left_and_marks_the_reply(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    (ids, start), = encode([("x " * 500, "turn left")], tok, max_len=64)
    reply = tok("Action: turn left", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert len(ids) == 64 and ids[start:] == reply


def test_merge_prefixes_joins_a_growing_chat_and_keeps_every_replys_context():
    # step = (prompt + reply, reply start); the third step's prompt dropped a turn: a new sequence
    steps = [([1, 2, 9, 0], 2), ([1, 2, 9, 0, 3, 4, 8, 0], 6), ([1, 3, 4, 8, 0, 5, 7, 0], 6), ([1, 3, 4, 8, 0, 5, 7, 0, 6, 9, 0], 9)]
    merged = merge_prefixes(steps)
    assert merged == [([1, 2, 9, 0, 3, 4, 8, 0], ((2, 4), (6, 8))), ([1, 3, 4, 8, 0, 5, 7, 0, 6, 9, 0], ((6, 8), (9, 11)))]
    # every step's whole sequence (its reply's context and the reply) is the merged sequence up to its span's end
    spans = [(seq, span) for seq, spanned in merged for span in spanned]
    assert [(seq[:end], start) for seq, (start, end) in spans] == steps
    # a reply that is not followed by the next prompt (e.g. the prompt was cut from the left) is never merged
    assert len(merge_prefixes([([1, 9, 0], 1), ([2, 9, 0, 3, 0], 3)])) == 2


def test_an_episode_sequence_gives_the_loss_of_its_steps(tiny_model_dir):
    """Reference equivalence: the summed reply-token cross-entropy of one merged, right-padded,
    unmasked sequence equals the sum over the steps' own sequences."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    steps = [([5, 6, 7, 2, 3], 3), ([5, 6, 7, 2, 3, 8, 9, 4, 1], 7), ([5, 6, 7, 2, 3, 8, 9, 4, 1, 10, 11, 12], 10)]
    rows = [(seq, whole_reply(seq, start), []) for seq, start in steps]

    def summed(examples, masked):
        total = 0.0
        for ids, attn, labels, _ in batches(examples, 8, 0, 300, random.Random(0)):
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=attn if masked else None).logits
            total += bc_loss(logits, labels).item() * int((labels[:, 1:] != -100).sum())
        return total

    merged = [(seq, spans, []) for seq, spans in merge_prefixes(steps)] + [rows[0]]  # a shorter row pads the batch
    one_by_one = sum(summed([row], True) for row in rows)
    assert summed(merged, False) == pytest.approx(one_by_one + summed([rows[0]], True), rel=1e-5)


def test_babyai_default_prompts_only_grow_so_each_episode_is_one_sequence():
    """With BabyAI-v1's default prompt budget no turn is dropped: every step's prompt + reply is a
    prefix of the next step's (the hf policy's prompt cache reads only the new turn)."""
    from agentprm_bench.agents.rollout import collect_in_memory

    cfg = default_config("babyai")
    assert cfg.examples == "episodes"
    demos = collect_in_memory("agentprm/BabyAI-v1", make_policy("noisy-oracle", p=0.5), [0, 1, 2], 1, 0,
                              env_kwargs={"split": "train"})
    plain = [pair for d in demos for pair in step_prompts(d, cfg, None)]
    tok = train_tokenizer([p for p, _ in plain] + ["Action: " + a for _, a in plain], 400)
    for d in demos:
        steps = encode(step_prompts(d, cfg, tok), tok, cfg.max_len)
        assert len(steps) == len(d.steps) >= 1 and all(len(seq) < cfg.max_len for seq, _ in steps)
        (seq, spans), = merge_prefixes(steps)
        assert len(spans) == len(d.steps) and seq == steps[-1][0]


def test_train_policy_on_episode_sequences(tmp_path):
    cfg = TrainPolicyConfig(env="babyai", oracle_episodes=3, noisy_episodes=3, epochs=1, vocab_size=400,
                            hidden_size=32, layers=1, heads=2, max_len=6144, max_prompt_chars=24_000,
                            examples="episodes", batch_size=2)
    meta = train_policy(cfg, tmp_path / "p", progress=False)["metrics"]
    assert meta["examples"] == meta["demonstrations"] == 6 < meta["demonstration_steps"]
    assert meta["optimizer_steps"] == 3 and meta["train_tokens"] == meta["example_tokens"]
    with pytest.raises(UserError, match="examples"):
        train_policy(replace(cfg, loss="decisions"), tmp_path / "q", progress=False)


def test_train_policy_end_to_end_saves_a_loadable_hf_policy(tmp_path):
    cfg = TrainPolicyConfig(env="babyai", oracle_episodes=6, noisy_episodes=6, epochs=1, vocab_size=400,
                            hidden_size=32, layers=1, heads=2, max_len=256, batch_size=8)
    meta = train_policy(cfg, tmp_path / "p", progress=False)
    assert (tmp_path / "p" / "model.safetensors").is_file() and (tmp_path / "p" / "tokenizer.json").is_file()
    stored = json.loads((tmp_path / "p" / POLICY_META).read_text())
    assert stored["config"]["hidden_size"] == 32 and stored["prompt"]["max_prompt_chars"] == cfg.max_prompt_chars
    assert meta["metrics"]["optimizer_steps"] == meta["metrics"]["planned_steps"] > 0
    policy = make_policy("hf", model=str(tmp_path / "p"), max_new_tokens=6)
    assert policy.max_prompt_chars == cfg.max_prompt_chars  # trained prompt budget is reused
    assert len(policy.act(histories(2), 2, [0, 1])[1]) == 2


def test_decisions_loss_trains_only_on_states_with_a_choice(tmp_path):
    # WebShop's search page offers one admissible action, so its steps leave the training set
    cfg = TrainPolicyConfig(env="webshop", oracle_episodes=3, noisy_episodes=0, epochs=1, vocab_size=400,
                            hidden_size=32, layers=1, heads=2, max_len=256, batch_size=4, loss="decisions")
    meta = train_policy(cfg, tmp_path / "p", progress=False)
    assert meta["metrics"]["demonstrations"] == 3
    assert meta["metrics"]["examples"] == meta["metrics"]["demonstration_steps"] - 3
    # results pages are longer than 256 tokens: their prompts are cut, and counted
    assert 0 < meta["metrics"]["prompts_cut"] < meta["metrics"]["demonstration_steps"]
    with_lm = train_policy(replace(cfg, lm_weight=1.0), tmp_path / "lm", progress=False)
    assert with_lm["config"]["lm_weight"] == 1.0
    assert with_lm["metrics"]["final_loss"] > meta["metrics"]["final_loss"] + 1.0  # the prompt's tokens add their loss
    with pytest.raises(UserError, match="loss must be"):
        train_policy(TrainPolicyConfig(env="webshop", loss="actions"), tmp_path / "q", progress=False)


def test_oracle_relabelling_of_noisy_demonstrations():
    from agentprm_bench.agents.bc import default_config, replay
    from agentprm_bench.agents.rollout import collect_in_memory

    def oracle_labels(traj):
        return [oracle for _, oracle in replay(traj)]

    oracle = collect_in_memory("agentprm/TextCraft-v1", make_policy("oracle"), [0, 5, 9], 1, 0)
    assert all(oracle_labels(t) == t.actions for t in oracle)  # on the oracle's own path: its actions
    assert all(t.actions[i] in adm for t in oracle for i, (adm, _) in enumerate(replay(t)))
    noisy = collect_in_memory("agentprm/TextCraft-v1", make_policy("noisy-oracle", p=0.3), [0, 5, 9], 1, 0)
    relabelled = [oracle_labels(t) for t in noisy]
    assert any(lab != t.actions for lab, t in zip(relabelled, noisy))
    assert all(len(lab) == len(t.actions) for lab, t in zip(relabelled, noisy))
    assert default_config("textcraft").noisy_labels == "oracle" and default_config("babyai").noisy_labels == "taken"
    assert default_config("textcraft", noisy_labels="taken").noisy_labels == "taken"


def test_words_pre_tokenizer_spells_a_word_the_same_after_a_space_or_a_bracket():
    from agentprm_bench.agents.bc import train_tokenizer

    text = "Instruction: find a dress with color: light blue, and size: xx-large\ncolor: [black] [light blue]"
    words = train_tokenizer([text] * 20, vocab_size=400, pre_tokenizer="words")
    byte = train_tokenizer([text] * 20, vocab_size=400, pre_tokenizer="byte")

    def pieces(tok, s):
        return tok.convert_ids_to_tokens(tok(s, add_special_tokens=False)["input_ids"])

    assert pieces(words, "color: light blue,")[-3:-1] == pieces(words, "[light blue]")[1:3]
    assert pieces(byte, "color: blue,")[-2] != pieces(byte, "[blue]")[1]  # "Ġblue" vs "blue"
    for tok in (words, byte):
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    with pytest.raises(UserError, match="pre_tokenizer must be one of"):
        train_tokenizer([text], vocab_size=400, pre_tokenizer="chars")


def test_curriculum_warm_up_trains_each_view_then_the_whole_prompts(tmp_path):
    cfg = TrainPolicyConfig(env="webshop", oracle_episodes=4, noisy_episodes=0, epochs=1, vocab_size=400,
                            hidden_size=32, layers=1, heads=2, max_len=256, batch_size=4, loss="decisions",
                            pre_tokenizer="words", curriculum_steps=3)
    meta = train_policy(cfg, tmp_path / "p", progress=False)
    m = meta["metrics"]
    assert len(m["curriculum_examples"]) == 2 and all(n > 0 for n in m["curriculum_examples"])
    assert m["optimizer_steps"] == m["planned_steps"] == 2 * 3 + math.ceil(m["examples"] / 4)
    assert meta["config"]["curriculum_steps"] == 3 and meta["config"]["pre_tokenizer"] == "words"
    # the saved tokenizer loads as trained: AutoTokenizer would swap in Qwen2's pre-tokenizer for a Qwen2 config
    from tokenizers import Tokenizer

    from agentprm_bench.agents.hf import load_tokenizer

    text = "Action: click[B08ZRR3DZT]\ncolor: [light blue] price 12.99"
    trained = Tokenizer.from_file(str(tmp_path / "p" / "tokenizer.json")).encode(text, add_special_tokens=False).ids
    assert load_tokenizer(tmp_path / "p")(text, add_special_tokens=False)["input_ids"] == trained
    with pytest.raises(UserError, match="needs --loss decisions"):
        train_policy(replace(cfg, loss="tokens"), tmp_path / "q", progress=False)


def test_a_wall_clock_cap_aborts_without_saving_a_policy(tmp_path):
    cfg = TrainPolicyConfig(env="textcraft", oracle_episodes=4, noisy_episodes=0, epochs=1, vocab_size=300,
                            hidden_size=32, layers=1, heads=2, max_len=128, batch_size=8, max_minutes=1e-6)
    with pytest.raises(UserError, match="no model was saved"):
        train_policy(cfg, tmp_path / "p", progress=False)
    assert not (tmp_path / "p" / "model.safetensors").exists()
    assert TrainPolicyConfig(env="babyai").max_minutes is None  # defaults never stop on the clock


def test_a_tiny_default_build_is_bit_identical_twice(tmp_path):
    """Same seed, same machine: the same weights, whatever the machine's load (no clock decides)."""
    from agentprm_bench.schema import file_digest

    from agentprm_bench.agents.bc import TINY_BUILD as cfg

    a = train_policy(cfg, tmp_path / "a", progress=False)
    b = train_policy(cfg, tmp_path / "b", progress=False)
    assert a["weights_sha256"] == b["weights_sha256"] == file_digest(tmp_path / "b" / "model.safetensors")
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
