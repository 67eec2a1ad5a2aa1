"""The label stage: TD-GAE files and Monte-Carlo targets on a scripted env with known odds."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from agentprm_bench.agents.collect import CollectConfig, collect
from agentprm_bench.envs.base import Step, TextEnv
from agentprm_bench.errors import UserError
from agentprm_bench.prm.labelling import LABEL_CONFIG, LabelConfig, make_labels, read_labels

COIN = "agentprm-test/TwoDoors-v0"


class TwoDoorsEnv(TextEnv):
    """Two turns; each turn one of two doors is right. Random play wins with probability 1/4;
    after a right first door, with probability 1/2; after a wrong one, never."""

    default_max_turns = 2

    @classmethod
    def num_tasks(cls) -> int:
        return 4

    @classmethod
    def splits(cls):
        return {"train": [0, 1, 2, 3], "test": [0, 1, 2, 3]}

    def _reset_task(self, task_id: int) -> str:
        self.right = [("left", "right")[task_id % 2], ("left", "right")[task_id // 2]]
        self.ok = True
        self._won = False
        return "Pick a door."

    def _act(self, action: str) -> Step:
        if action not in ("left", "right"):
            return Step("Nothing happens.", valid=False)
        self.ok = self.ok and action == self.right[self.turn - 1]
        if self.turn == 2 and self.ok:
            self._won = True
            return Step("You win.", 1.0, True)
        return Step("Next door." if self.turn < 2 else "You lose.")

    def admissible_actions(self):
        return ["left", "right"]

    def oracle_action(self) -> str:
        return self.right[min(self.turn, 1)]

    @property
    def won(self) -> bool:
        return self._won


if COIN not in gym.registry:
    gym.register(COIN, entry_point=TwoDoorsEnv)


def seed_trajectories(tmp_path, first_right: bool):
    # sample 0 of each task: the oracle's first door (right) or a wrong one, then the oracle again
    from agentprm_bench.agents.rollout import rollout
    from agentprm_bench.agents.base import make_policy
    from agentprm_bench.agents.trajectory import Trajectory
    from agentprm_bench.jsonl import append_records

    out = tmp_path / "seeds"
    out.mkdir()
    trajs: list[Trajectory] = []
    env = TwoDoorsEnv()
    jobs = []
    for task in range(4):
        env.reset(options={"task_id": task})
        first = env.right[0] if first_right else ({"left", "right"} - {env.right[0]}).pop()
        jobs.append((task, 0, (first,)))
    rollout(COIN, make_policy("oracle"), jobs, 0, trajs.append)
    append_records(out / "trajectories.jsonl", [t.to_json() for t in sorted(trajs, key=lambda t: t.key)])
    return out / "trajectories.jsonl"


def test_mc_targets_match_known_success_probabilities(tmp_path):
    path = seed_trajectories(tmp_path, first_right=True)
    cfg = LabelConfig(method="mc", n_mc=400, policy="random", batch_size=64)
    labels = read_labels(make_labels(path, tmp_path / "mc", cfg, progress=False))
    assert len(labels) == 4
    for rec in labels:
        # after the right first door a random second door wins half the time; the last step is the outcome
        assert rec["q_soft"][0] == pytest.approx(0.5, abs=0.08) and rec["q_hard"][0] == 1.0
        assert rec["q_soft"][1] == rec["q_hard"][1] == 1.0 and rec["q"] == rec["q_soft"]
    meta = json.loads((tmp_path / "mc" / LABEL_CONFIG).read_text())
    assert meta["compute"]["rollouts"] == 4 * 400 and meta["compute"]["env_steps"] == 4 * 2 + 4 * 400 * 2


def test_mc_targets_after_a_wrong_first_door_are_zero(tmp_path):
    path = seed_trajectories(tmp_path, first_right=False)
    labels = read_labels(make_labels(path, tmp_path / "mc", LabelConfig(method="mc", n_mc=50, policy="random",
                                                                        mc_target="hard"), progress=False))
    for rec in labels:
        assert rec["q_soft"][0] == 0.0 and rec["q_hard"][0] == 0.0 and rec["q"] == rec["q_hard"]


def test_mc_rollouts_resume_without_redoing_work(tmp_path):
    path = seed_trajectories(tmp_path, first_right=True)
    cfg = LabelConfig(method="mc", n_mc=10, policy="random")
    make_labels(path, tmp_path / "mc", cfg, progress=False)
    rollouts = tmp_path / "mc" / "mc_rollouts.jsonl"
    lines = rollouts.read_text().splitlines()
    rollouts.write_text("\n".join(lines[:25]) + "\n" + lines[25][:10])  # killed mid-write
    first = read_labels(tmp_path / "mc" / "labels.jsonl")
    make_labels(path, tmp_path / "mc", cfg, progress=False)
    assert len(rollouts.read_text().splitlines()) == 40
    assert read_labels(tmp_path / "mc" / "labels.jsonl") == first  # same seeds, same outcomes


def test_mc_rollouts_do_not_replay_the_seed_trajectory(tmp_path, monkeypatch):
    """Rollout j = 0 after step 0 has sample index 0, like the seed trajectory: its seeds must differ."""
    import agentprm_bench.prm.labelling as labelling
    from agentprm_bench.agents.rollout import step_seed
    from agentprm_bench.agents.trajectory import read_trajectories

    path = seed_trajectories(tmp_path, first_right=True)
    seen = []
    real = labelling.rollout
    monkeypatch.setattr(labelling, "rollout", lambda env_id, policy, jobs, seed, *a, **k: (
        seen.append((seed, list(jobs))), real(env_id, policy, jobs, seed, *a, **k))[1])
    make_labels(path, tmp_path / "mc", LabelConfig(method="mc", n_mc=4, policy="random", seed=0), progress=False)
    (mc_seed, jobs), = seen
    seed_traj = next(t for t in read_trajectories(path) if t.sample_index == 0)
    assert (seed_traj.task_id, 0, tuple(seed_traj.actions[:1])) in jobs  # the rollout that shares sample index 0
    for turn in range(1, 4):
        assert step_seed(mc_seed, seed_traj.task_id, 0, turn) != step_seed(seed_traj.seed, seed_traj.task_id, 0, turn)


def test_td_gae_labels_keep_n_td_samples_and_count_their_tokens(tmp_path):
    collect(CollectConfig(env="textcraft", policy="noisy-oracle", samples=4, tasks=5, policy_options={"p": 0.5}),
            tmp_path / "c", progress=False)
    path = make_labels(tmp_path / "c" / "trajectories.jsonl", tmp_path / "td",
                       LabelConfig(method="td-gae", n_td=3, gamma=1.0, lam=0.95), progress=False)
    labels = read_labels(path)
    assert len(labels) == 15 and {r["sample_index"] for r in labels} == {0, 1, 2}
    for r in labels:
        T = len(r["actions"])
        assert r["q"][-1] == r["final_reward"]
        assert r["q"] == pytest.approx([0.95 ** (T - 1 - t) * r["final_reward"] for t in range(T)])
    meta = json.loads((tmp_path / "td" / LABEL_CONFIG).read_text())
    assert meta["compute"]["trajectories"] == 15 and meta["compute"]["rollouts"] == 0
    assert meta["compute"]["env_steps"] == sum(len(r["actions"]) for r in labels)


def test_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="unknown label method"):
        make_labels(tmp_path / "x.jsonl", tmp_path / "o", LabelConfig(method="gae"))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UserError, match="no trajectories"):
        make_labels(tmp_path / "empty.jsonl", tmp_path / "o", LabelConfig(method="td-gae"))
    (tmp_path / "labels.jsonl").write_text('{"env_id": "x"}\n')
    with pytest.raises(UserError, match=r"labels.jsonl:1: malformed label record"):
        read_labels(tmp_path / "labels.jsonl")
