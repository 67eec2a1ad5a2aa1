"""Side-by-side fidelity tables for BabyAI and TextCraft against the recorded originals.

Replays tests/data/conformance (AgentGym's BabyAI server, AgentGym's TextCraft) through our envs
and counts identical observations, rewards and done flags; then plays the oracle on BabyAI (every
level at the given seeds) and on ADaPT's 200 TextCraft test goals. Prints markdown tables.

    python benchmarks/env_fidelity.py [--babyai-seeds 10]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import time
from pathlib import Path

from agentprm_bench.envs.babyai import LEVELS, BabyAIEnv
from agentprm_bench.envs.textcraft import TextCraftEnv, plan_commands, task_items
from agentprm_bench.envs.textcraft_recipes import adapt_test_goals, load_rules

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "conformance"


def records(name: str) -> list[dict]:
    with gzip.open(DATA / name, "rt") as fh:
        return [json.loads(line) for line in fh]


def babyai_replay() -> dict[str, int]:
    env, c = BabyAIEnv(max_turns=100), collections.Counter()
    for rec in records("babyai_agentgym.jsonl.gz"):
        obs, _ = env.reset(options={"task_id": rec["task_id"]})
        c["episodes"] += 1
        c["reset identical"] += obs == rec["observation"]
        total = 0.0
        for step in rec["steps"]:
            obs, reward, terminated, _, _ = env.step(step["action"])
            total += reward
            c["steps"] += 1
            c["step identical"] += obs == step["observation"]
            c["reward+done identical"] += abs(total - step["reward"]) < 1e-12 and terminated == step["done"]
    return dict(c)


def textcraft_replay() -> dict[str, int]:
    env, c = TextCraftEnv(max_turns=100), collections.Counter()
    ids = {goal: i for i, goal in enumerate(task_items())}
    for rec in records("textcraft_agentgym.jsonl.gz"):
        obs, _ = env.reset(options={"task_id": ids[rec["goal"]]})
        lines = [line for line in obs.split("\n") if line.startswith("craft ")]
        recorded = [line for line in rec["observation"].split("\n") if line.startswith("craft ")]
        tree = set(rec["tree_lines"])
        c["episodes"] += 1
        c["reset identical"] += obs == rec["observation"]
        c["reset: tree lines equal"] += {x for x in lines if x in tree} == tree
        c["reset: distractor candidates equal"] += env.distractor_candidates == rec["distractor_candidates"]
        c["reset: line count equal"] += len(lines) == len(recorded)
        c["reset: same line set"] += set(lines) == set(recorded)
        for step in rec["steps"]:
            obs, reward, terminated, _, _ = env.step(step["action"])
            c["steps"] += 1
            c["step identical"] += obs == step["observation"]
            c["reward+done identical"] += reward == step["reward"] and terminated == step["done"]
    return dict(c)


def babyai_oracle(seeds: int) -> list[tuple[str, int, int, float, float]]:
    env, rows = BabyAIEnv(), []
    for k, level in enumerate(LEVELS):
        won, reward, turns = 0, 0.0, 0
        for seed in range(seeds):
            env.reset(options={"task_id": seed * len(LEVELS) + k})
            done, total = False, 0.0
            while not done:
                _, r, terminated, truncated, info = env.step(env.oracle_action())
                total += r
                done = terminated or truncated
            won += info["won"]
            reward += total
            turns += info["turn"]
        rows.append((level, won, seeds, reward / seeds, turns / seeds))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--babyai-seeds", type=int, default=10, help="oracle episodes per BabyAI level (seeds 0..N-1)")
    args = ap.parse_args()
    t0 = time.time()
    print("## Replay of the recorded originals\n")
    for name, counts in (("BabyAI (AgentGym server)", babyai_replay()), ("TextCraft (AgentGym)", textcraft_replay())):
        print(f"### {name}\n\n| measure | count | of | share |\n|---|---|---|---|")
        for key, value in counts.items():
            if key in ("episodes", "steps"):
                continue
            of = counts["steps"] if "step" in key or "reward" in key else counts["episodes"]
            print(f"| {key} | {value} | {of} | {value / of:.4f} |")
        print()
    rows = babyai_oracle(args.babyai_seeds)
    print(f"## BabyAI oracle per level (seeds 0-{args.babyai_seeds - 1}, 20 turns)\n")
    print("| level | won | episodes | mean reward | mean turns |\n|---|---|---|---|---|")
    for level, won, n, reward, turns in rows:
        print(f"| {level} | {won} | {n} | {reward:.3f} | {turns:.1f} |")
    total_won, total_n = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"| all | {total_won} | {total_n} | {sum(r[3] for r in rows) / len(rows):.3f} | |\n")
    rules, env = load_rules(), TextCraftEnv()
    won, long_plans, depths = 0, [], collections.Counter()
    for t, goal in enumerate(adapt_test_goals()):
        depths[rules.depth(goal)] += 1
        if len(plan_commands(rules, goal, {})) > env.max_turns:
            long_plans.append(goal.replace("minecraft:", ""))
        env.reset(options={"task_id": t})
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.oracle_action())
            done = terminated or truncated
        won += info["won"]
    print("## TextCraft oracle on ADaPT's 200 test goals (20 turns)\n")
    print(f"won {won}/200; depths {dict(sorted(depths.items()))}; plans longer than 20 commands: "
          f"{len(long_plans)} ({', '.join(long_plans)})\n")
    print(f"(took {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
