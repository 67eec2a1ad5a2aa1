"""The hf policy's prompt KV cache across turns and its fast-forward over forced tokens: the same
samples as re-reading every prompt and decoding token by token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agentprm_bench.agents.base import History, make_policy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.kvcache import common_prefix, crop, left_padded, row_kv, with_cache
from tests.cached_steps import prefill_then_steps


def _play(model_dir, cache: bool, env: str, **options):
    """Cached: the prompt's KV kept across turns and forced tokens fast-forwarded; else neither."""
    policy = make_policy("hf", model=str(model_dir), prompt_cache=cache, fast_forward=cache, **options)
    # 4 turns keep the growing chat inside the model's window (this tokenizer reads ~1 token per character)
    return collect_in_memory(env, policy, [0, 1, 2], 2, seed=7, batch_size=5, env_kwargs={"max_turns": 4})


@pytest.mark.parametrize("options", [
    {"decoding": "admissible", "max_prompt_chars": 100_000},   # the chat only grows: every turn reuses it all
    {"decoding": "admissible", "max_prompt_chars": 700},       # the window moves: only the shared head is reused
    {"decoding": "free", "max_new_tokens": 6, "temperature": 0.0},
])
@pytest.mark.parametrize("env", ["agentprm/BabyAI-v1", "agentprm/TextCraft-v1"])
def test_cached_prompts_give_the_samples_of_reencoding(long_model_dir, env, options):
    plain, cached = _play(long_model_dir, False, env, **options), _play(long_model_dir, True, env, **options)
    assert [[s.raw for s in t.steps] for t in cached] == [[s.raw for s in t.steps] for t in plain]
    assert [t.compute.policy_tokens_out for t in cached] == [t.compute.policy_tokens_out for t in plain]
    read_plain = sum(t.compute.policy_tokens_in for t in plain)
    read_cached = sum(t.compute.policy_tokens_in for t in cached)
    assert 0 < read_cached < read_plain  # first turns read everything; later turns only what is new
    if options.get("max_prompt_chars") == 100_000:
        assert read_cached * 2 < read_plain


def test_cached_logits_equal_reencoded_logits(long_model_dir):
    """One prompt scored whole vs its prefix cached then the rest: the next-token logits agree."""
    policy = make_policy("hf", model=str(long_model_dir), temperature=0.0)
    history = History("agentprm/BabyAI-v1", 0, ["Mission: go to the red ball", "You see: a wall"], ["turn left"])
    text = policy.prompts([history])[0]
    ids = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        whole = policy.model(torch.tensor([ids])).logits[0, -1]
        _, head = with_cache(policy.model, None, input_ids=torch.tensor([ids[:-5]]))
        state = (ids[:-5], [(layer.keys, layer.values) for layer in head.layers])
    (_, n_in, _), = policy.generate([text], [torch.Generator().manual_seed(0)], states=[state], max_new_tokens=1)[0]
    assert n_in == 5
    with torch.no_grad():
        cache = left_padded([crop(state[1], len(ids) - 5)], len(ids) - 5)
        attn = torch.ones(1, len(ids), dtype=torch.long)
        pos = torch.arange(len(ids) - 5, len(ids))[None]
        part = with_cache(policy.model, cache, input_ids=torch.tensor([ids[-5:]]), attention_mask=attn,
                          position_ids=pos)[0].logits[0, -1]
    assert torch.allclose(part, whole, atol=1e-5)


def test_kv_helpers():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2 and common_prefix([1], [1, 2]) == 1 and common_prefix([], [1]) == 0
    k = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)
    row = [(k, k + 1)]
    cache = left_padded([row, crop(row, 1), []], 3)
    keys = cache.layers[0].keys
    assert keys.shape == (3, 2, 3, 4)
    assert torch.equal(keys[1, :, 2:], k[:, :, :1][0]) and not keys[1, :, :2].any() and not keys[2].any()
    assert torch.equal(row_kv(cache, 0, slice(1, 3))[0][1], (k + 1)[:, :, 1:3])
    for where in (slice(1, 3), torch.tensor([1, 2])):  # a row owns its KV: it keeps no batch alive
        row_k, row_v = row_kv(cache, 1, where)[0]
        assert torch.equal(row_k, cache.layers[0].keys[1:2, :, 1:3])
        assert row_k.untyped_storage().nbytes() == row_k.numel() * row_k.element_size()
        assert row_v.untyped_storage().data_ptr() != cache.layers[0].values.untyped_storage().data_ptr()


def test_one_uniform_draw_per_choice_and_none_for_forced_tokens():
    from agentprm_bench.agents.hf import choose

    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]])
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    picks = choose(logits, [{1, 2}, None], 1.0, 1.0, [g1, torch.Generator().manual_seed(1)])
    assert picks[0] in (1, 2)
    torch.rand((), generator=g2, dtype=torch.float64)
    assert torch.equal(g1.get_state(), g2.get_state())  # exactly one draw consumed
    assert choose(logits, [{0, 3}, {1}], 0.0, 1.0, [g1, g1]) == [3, 1]  # greedy: argmax among allowed
    counts = np.bincount([choose(logits[:1], [None], 1.0, 1.0, [torch.Generator().manual_seed(s)])[0]
                          for s in range(4000)], minlength=4) / 4000
    assert np.allclose(counts, torch.softmax(logits[0], -1).numpy(), atol=0.03)  # the softmax distribution


@pytest.mark.parametrize("env", ["agentprm/BabyAI-v1", "agentprm/TextCraft-v1"])
def test_act_cached_extends_the_state_it_is_given(long_model_dir, env):
    """Search keeps a state per path: the state returned with a reply, handed back with the history
    that reply extends, gives act's samples while reading only the prompt's new tokens."""
    policy = make_policy("hf", model=str(long_model_dir), decoding="admissible", max_prompt_chars=100_000)
    root = History(env, 0, ["Mission: go to the red ball. Crafting commands: craft 4 oak planks using 1 oak logs"],
                   [], ["turn left", "move forward", "craft 4 oak planks using 1 oak logs"])
    samples, states = policy.act_cached([root], 3, [11], [None])
    assert [s.raw for s in samples[0]] == [s.raw for s in policy.act([root], 3, [11])[0]]
    assert len(states) == 1 and len(states[0]) == 3
    ids, kv = states[0][0]
    assert len(ids) == kv[0][0].shape[2] > samples[0][0].tokens_in  # the prompt and its reply
    child = History(env, 0, root.observations + ["You see: a wall"], [samples[0][0].action], root.admissible_actions)
    (again,), _ = policy.act_cached([child], 2, [5], [states[0][0]])
    (plain,), _ = policy.act_cached([child], 2, [5], [None])
    assert [s.raw for s in again] == [s.raw for s in plain] == [s.raw for s in policy.act([child], 2, [5])[0]]
    assert 0 < again[0].tokens_in < plain[0].tokens_in // 2  # only the reply's tail and the new observation
    off = make_policy("hf", model=str(long_model_dir), decoding="admissible", prompt_cache=False)
    assert off.act_cached([root], 2, [11], [None])[1] is None


def test_a_growing_cache_holds_what_concatenation_holds_without_copying_each_step(tiny_model_dir):
    """grow_in_place: a prefill, a batch selection (k samples of one prompt) and decoding steps of
    1 and of several tokens give the logits of a plain cache; the prefill's buffer has room for the
    reply, so after the selection new tokens go into one buffer (no copy of the whole KV per step)."""
    from transformers import AutoModelForCausalLM, DynamicCache

    from agentprm_bench.kvcache import grow_in_place

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    rows = torch.tensor([0, 0, 1, 2, 2])

    def decode(grow: bool) -> tuple[list[torch.Tensor], list[int]]:
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(5, 200, (3, 20), generator=g)
        attn = torch.ones_like(ids)
        attn[0, :4] = 0  # a left-padded row
        with torch.no_grad():
            past = grow_in_place(DynamicCache(config=model.config), 8) if grow else None
            forwards = prefill_then_steps(model, ids, attn, (1, 3, 1, 2), (5, 200), g, past, rows)
            out, _ = next(forwards)
            _, past = next(forwards)  # right after the selection
            logits, buffers = [out.logits[rows, -1]], [past.layers[0].keys.data_ptr()]
            for out, past in forwards:
                logits.append(out.logits[:, -1])
                buffers.append(past.layers[0].keys.data_ptr())
        assert past.layers[0].keys.shape[:3] == (5, model.config.num_key_value_heads, 20 + 7)
        return logits, buffers

    plain, _ = decode(False)
    grown, buffers = decode(True)
    for a, b in zip(plain, grown):
        assert torch.equal(a, b)
    assert len(set(buffers)) == 1  # the rows selected with the buffer's room take every decoding step
