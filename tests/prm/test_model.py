"""Value-head reward model: one-pass scoring, long trajectories, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.agents.base import make_policy
from agentprm_bench.errors import UserError
from agentprm_bench.prm.model import RewardModel, serialize


@pytest.fixture(scope="module")
def trajectories():
    trajs = collect_in_memory("agentprm/TextCraft-v1", make_policy("noisy-oracle", p=0.5), list(range(6)), 1, 0)
    return [(t.env_id, t.observations, t.actions) for t in trajs]


@pytest.fixture()
def rm(tiny_model_dir):
    torch.manual_seed(0)
    model = RewardModel.from_backbone(tiny_model_dir, {"kind": "agentprm", "max_obs_chars": 300, "max_len": 4096},
                                      device="cpu")
    torch.nn.init.normal_(model.model.head.weight, std=0.5)  # a non-trivial head
    return model


def test_serialize_marks_the_last_token_of_each_action(rm, trajectories):
    env_id, obs, actions = trajectories[0]
    s = serialize(env_id, obs, actions, rm.tokenizer, 300)
    assert len(s.ends) == len(actions) and s.ends == sorted(s.ends) and s.ends[-1] < len(s.ids)
    for end, action in zip(s.ends, actions):
        decoded = rm.tokenizer.decode(s.ids[: end + 1])
        assert decoded.endswith(action[-3:])
        assert not rm.tokenizer.decode(s.ids[: end]).endswith(action)


def test_one_pass_scores_equal_scoring_each_prefix(rm, trajectories):
    scores, tokens = rm.score(trajectories)
    prefix_tokens = 0
    for (env_id, obs, actions), one_pass in zip(trajectories, scores):
        assert one_pass.shape == (len(actions),)
        for t in range(len(actions)):
            alone, n = rm.score([(env_id, obs[: t + 1], actions[: t + 1])])
            prefix_tokens += n
            assert alone[0][-1] == pytest.approx(one_pass[t], abs=1e-5)
    assert tokens < prefix_tokens  # O(T) vs O(T^2) tokens read


def test_trajectories_longer_than_the_context_are_split(rm, trajectories):
    env_id, obs, actions = max(trajectories, key=lambda t: len(t[2]))
    full, _ = rm.score([(env_id, obs, actions)])
    first = rm.encode(env_id, obs[:1], actions[:1])
    whole = rm.encode(env_id, obs, actions)
    rm.max_len = len(first.ids) + 5
    assert len(whole.ids) > rm.max_len and len(actions) >= 3
    split, tokens = rm.score([(env_id, obs, actions)])
    assert split[0].shape == full[0].shape
    # the first step still sees its whole prefix: exact; later ones see a cut context
    assert split[0][0] == pytest.approx(full[0][0], abs=1e-5)
    assert np.isfinite(split[0]).all() and tokens >= len(whole.ids) - len(first.ids)


def test_batched_scoring_equals_one_trajectory_at_a_time(rm, trajectories):
    """score_each batches trajectories of unequal lengths (right-padded, no attention mask) and the
    windows of trajectories longer than the context across trajectories; each trajectory's scores
    and tokens equal scoring it alone."""
    for max_len in (4096, 60):  # all fit; most need windows
        rm.max_len = max_len
        together = rm.score_each(trajectories, batch_size=4)
        for t, (scores, tokens) in zip(trajectories, together):
            alone, n = rm.score_each([t])[0]
            assert tokens == n and scores.shape == alone.shape
            np.testing.assert_allclose(scores, alone, atol=1e-5)
    assert any(len(rm.encode(*t).ids) > 60 for t in trajectories)


def test_save_load_roundtrip_and_corruption_errors(rm, trajectories, tmp_path):
    rm.save(tmp_path / "rm", {"label_method": "td-gae"})
    loaded = RewardModel.load(tmp_path / "rm", device="cpu")
    assert loaded.meta["label_method"] == "td-gae" and loaded.meta["kind"] == "agentprm"
    a, _ = rm.score(trajectories[:2])
    b, _ = loaded.score(trajectories[:2])
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-6)
    weights = tmp_path / "rm" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(UserError, match="does not match the digest recorded in .*reward_model.json"):
        RewardModel.load(tmp_path / "rm")
    meta = json.loads((tmp_path / "rm" / "reward_model.json").read_text())
    del meta["weights_sha256"]  # a checkpoint saved before digests: the loader itself finds the damage
    (tmp_path / "rm" / "reward_model.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="corrupt or mismatched"):
        RewardModel.load(tmp_path / "rm")
    with pytest.raises(UserError, match="not a reward-model checkpoint .*missing"):
        RewardModel.load(tmp_path / "nothing")
    (tmp_path / "rm2").mkdir()
    rm.save(tmp_path / "rm2")
    cfg = json.loads((tmp_path / "rm2" / "config.json").read_text())
    cfg["hidden_size"] = cfg["hidden_size"] * 2
    (tmp_path / "rm2" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="corrupt or mismatched"):
        RewardModel.load(tmp_path / "rm2")


def test_logit_output_is_squashed_to_a_probability(rm, trajectories):
    rm.output = "logit"
    scores, _ = rm.score(trajectories[:2])
    assert all(((s > 0) & (s < 1)).all() for s in scores)


def test_expansions_with_a_shared_prefix_equal_scoring_each_full_path(rm, trajectories):
    """Beam search scores M candidates per node on one cached prefix; the scores must be those
    of each candidate path scored from scratch, for nodes of different depths in one batch."""
    nodes, candidates = [], []
    for k, (env_id, obs, actions) in enumerate(trajectories[:4]):
        t = min(k + 1, len(actions) - 1)  # depths 1, 2, 3, ... in one batch (incl. the first step t=0 below)
        t = 0 if k == 0 else t
        nodes.append((obs[: t + 1], actions[:t]))
        candidates.append([actions[t], "craft 1 stick using 2 planks", actions[t], "inventory"][: 1 + k])
    env_id = trajectories[0][0]
    got, tokens = rm.score_expansions(env_id, nodes, candidates)
    full_tokens = 0
    for (obs, acts), cands, row in zip(nodes, candidates, got):
        assert len(row) == len(cands)
        for a, value in zip(cands, row):
            alone, n = rm.score([(env_id, obs, list(acts) + [a])])
            full_tokens += n
            assert value == pytest.approx(float(alone[0][-1]), abs=1e-5)
    assert tokens < full_tokens  # the shared prefixes are read once per node


def test_expansions_of_long_paths_read_only_the_last_window(rm, trajectories):
    """A path longer than max_len: the candidate's score is the one ``_score_long`` gives its last
    step (bit for bit: the same forward pass), reading only the window that holds that step."""
    env_id, obs, actions = max(trajectories, key=lambda t: len(t[2]))
    rm.max_len = 600
    t = len(actions) - 1
    got, tokens = rm.score_expansions(env_id, [(obs[: t + 1], actions[:t])], [[actions[t], "inventory"]])
    read_all = 0
    for a, value in zip([actions[t], "inventory"], got[0]):
        s = rm.encode(env_id, obs[: t + 1], list(actions[:t]) + [a])
        assert len(rm.windows(s)) >= 3
        with torch.no_grad():
            scores, n = rm._score_long(s)
        assert value == float(scores[-1])
        read_all += n
    last = [rm.windows(rm.encode(env_id, obs[: t + 1], list(actions[:t]) + [a]))[-1] for a in (actions[t], "inventory")]
    assert tokens == sum(stop - start for start, stop, _ in last) < read_all / 2


@pytest.mark.parametrize("max_len", [4096, 600])  # every path fits; windows move on several times
def test_score_extensions_carry_each_paths_cache_and_equal_full_scoring(rm, trajectories, max_len):
    """Walk each trajectory step by step, carrying the state: every step's score equals the score of
    the full path re-encoded (to 1e-5; in windows where it exceeds max_len), and only the new tokens
    are read (and a window's head again when the window moves on)."""
    env_id = trajectories[0][0]
    rm.max_len = max_len
    paths = [(obs, acts) for _, obs, acts in trajectories[:4]]
    states: list = [None] * len(paths)
    read = 0
    for t in range(max(len(a) for _, a in paths)):
        live = [k for k, (_, acts) in enumerate(paths) if t < len(acts)]
        nodes = [(paths[k][0][: t + 1], paths[k][1][:t], states[k]) for k in live]
        cands = [[paths[k][1][t], "inventory"] for k in live]  # the real action and one alternative
        got, tokens, new_states = rm.score_extensions(env_id, nodes, cands)
        read += tokens
        want, _ = rm.score_expansions(env_id, [n[:2] for n in nodes], cands)
        for row_got, row_want in zip(got, want):
            np.testing.assert_allclose(row_got, row_want, atol=1e-5)
        if t % 5 == 4:  # and the scores of whole trajectories, windows and all
            full = rm.score([(env_id, n[0], list(n[1]) + [c[0]]) for n, c in zip(nodes, cands)])[0]
            np.testing.assert_allclose([row[0] for row in got], [f[-1] for f in full], atol=1e-5)
        for k, row in zip(live, new_states):
            states[k] = row[0]  # follow the real action
    full = sum(len(rm.encode(env_id, obs, acts).ids) for obs, acts in paths)
    quadratic = sum(len(rm.encode(env_id, obs[: t + 1], acts[: t + 1]).ids) for obs, acts in paths
                    for t in range(len(acts)))
    assert read < 2.5 * full < quadratic  # linear in the path length (each candidate reads its own tail)
    if max_len == 600:
        assert max(len(rm.windows(rm.encode(env_id, obs, acts))) for obs, acts in paths) >= 4
