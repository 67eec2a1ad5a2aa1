"""Conformance: replay transcripts recorded from the original environments (tests/data/conformance).

Each recorded episode is replayed action by action in our env; observations, rewards and done
flags must equal the original's. Where the original itself is not reproducible across
processes (TextCraft's choice among distractor candidates and its line order depend on
Python's per-process string hashing), the test compares what is determined: the goal's
recipe lines, the distractor candidate set, how many lines are shown, and the goal line.
See tests/data/conformance/PROVENANCE.md for how the recordings were made.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from agentprm_bench.envs.babyai import BabyAIEnv
from agentprm_bench.envs.textcraft import TextCraftEnv, task_items

DATA = Path(__file__).resolve().parents[1] / "data" / "conformance"


def _records(name: str) -> list[dict]:
    with gzip.open(DATA / name, "rt") as fh:
        return [json.loads(line) for line in fh]


def test_babyai_replays_agentgym_transcripts():
    recs = _records("babyai_agentgym.jsonl.gz")
    assert len(recs) >= 300 and len({r["task_id"] % 40 for r in recs}) == 40
    env = BabyAIEnv(max_turns=100)
    mismatches, steps = [], 0
    for rec in recs:
        obs, info = env.reset(options={"task_id": rec["task_id"]})
        assert info["level"] == rec["level"] and info["minigrid_seed"] == rec["seed"]
        if obs != rec["observation"]:
            mismatches.append((rec["task_id"], "reset"))
        total = 0.0
        for k, step in enumerate(rec["steps"]):
            obs, reward, terminated, truncated, info = env.step(step["action"])
            total += reward
            steps += 1
            if obs != step["observation"]:
                mismatches.append((rec["task_id"], k))
            # the server reports its running reward; our rewards are its increments
            assert abs(total - step["reward"]) < 1e-12 and info["agentgym_reward"] == step["reward"], (rec["task_id"], k)
            assert terminated == step["done"], (rec["task_id"], k)
    assert steps >= 5000
    assert not mismatches, f"{len(mismatches)} observations differ from AgentGym's, first: {mismatches[:5]}"


def test_textcraft_replays_agentgym_transcripts():
    recs = _records("textcraft_agentgym.jsonl.gz")
    assert len(recs) >= 300
    ids = {goal: i for i, goal in enumerate(task_items())}
    env = TextCraftEnv(max_turns=100)
    mismatches, steps = [], 0
    for rec in recs:
        obs, _ = env.reset(options={"task_id": ids[rec["goal"]]})
        lines = [line for line in obs.split("\n") if line.startswith("craft ")]
        recorded = [line for line in rec["observation"].split("\n") if line.startswith("craft ")]
        tree = set(rec["tree_lines"])
        assert {line for line in lines if line in tree} == tree, rec["goal"]
        assert env.distractor_candidates == rec["distractor_candidates"], rec["goal"]
        assert set(lines) - tree <= set(rec["distractor_candidates"]) and len(lines) == len(recorded), rec["goal"]
        assert obs.split("\n\n")[-1] == rec["observation"].split("\n\n")[-1]
        for k, step in enumerate(rec["steps"]):
            obs, reward, terminated, _, _ = env.step(step["action"])
            steps += 1
            if obs != step["observation"]:
                mismatches.append((rec["goal"], k, step["action"]))
            assert reward == step["reward"] and terminated == step["done"], (rec["goal"], k)
    assert steps >= 5000
    assert not mismatches, f"{len(mismatches)} observations differ from the original's, first: {mismatches[:5]}"


@pytest.mark.parametrize("name", ["babyai_agentgym.jsonl.gz", "textcraft_agentgym.jsonl.gz"])
def test_recordings_cover_wins_and_invalid_actions(name):
    recs = _records(name)
    done = sum(1 for r in recs if r["steps"] and r["steps"][-1]["done"])
    assert done >= 50 and len(recs) - done >= 50
    texts = [s["observation"] for r in recs for s in r["steps"]]
    marker = "The action is not recognized" if name.startswith("babyai") else "Could not"
    assert sum(marker in t for t in texts) >= 50
