"""BabyAI: what AgentGym's text interface costs over the raw minigrid step.

    python benchmarks/babyai_step.py [--tasks 90] [--steps 20] [--rounds 3]

Seeded random walks of primitive text actions ("turn left", "turn right", "move forward", as the
menu offers them) on the test tasks; the raw side replays the same primitives on minigrid's own
level object (``env.step(int)``: its observation image, no text). Three ways, run task by task in
turn so machine load hits them alike: ``raw`` minigrid; ``text, cold`` with the view cache emptied
before the walk (every view read afresh: description, menu and its path searches); ``text, warm``
the same walk again (every view remembered, as a copied env replaying its parent's actions, or a
second sample revisiting the first's states); and ``raw, our obs``: the raw replay on a level
whose observation is ``babyai_obs.observation`` (what the text env installs: minigrid's image,
computed faster), which isolates what the text interface itself adds. Prints microseconds per step and the ratio to raw,
medians over rounds; then what one copy of the env at the walk's end costs (beam search copies
every node): ``snapshot`` (the level deep-copied) against a pickled copy (rebuilt and replayed).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time

import numpy as np

from agentprm_bench.envs import babyai
from agentprm_bench.envs.babyai import BabyAIEnv, make_level, reset_level
from agentprm_bench.envs.babyai_obs import install

PRIMITIVES = {"turn left": 0, "turn right": 1, "move forward": 2}


def walk(env: BabyAIEnv, task: int, steps: int) -> list[str]:
    rng = np.random.default_rng(task)
    _, info = env.reset(options={"task_id": task})
    actions = []
    for _ in range(steps):
        menu = [a for a in PRIMITIVES if a in info["admissible_actions"]]
        actions.append(menu[int(rng.integers(len(menu)))])
        _, _, terminated, truncated, info = env.step(actions[-1])
        if terminated or truncated:
            break
    return actions


def text_seconds(env: BabyAIEnv, task: int, actions: list[str]) -> float:
    env.reset(options={"task_id": task})
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    return time.perf_counter() - t


def copy_seconds(env: BabyAIEnv) -> tuple[float, float]:
    """(snapshot, pickled copy) seconds for one copy of the env in its current state."""
    t = time.perf_counter()
    env.snapshot()
    mid = time.perf_counter()
    pickle.loads(pickle.dumps(env))
    return mid - t, time.perf_counter() - mid


def raw_seconds(level: object, seed: int, actions: list[str]) -> float:
    reset_level(level, seed)
    t = time.perf_counter()
    for a in actions:
        level.step(PRIMITIVES[a])  # type: ignore[attr-defined]
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=90)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = BabyAIEnv(max_turns=args.steps)
    tasks = list(env.splits()["test"])[: args.tasks]
    walks = {t: walk(env, t, args.steps) for t in tasks}
    levels: dict[str, object] = {}
    fast_levels: dict[str, object] = {}
    n = sum(len(w) for w in walks.values())
    rows: dict[str, list[float]] = {"raw": [], "raw, our obs": [], "text, cold": [], "text, warm": []}
    copies: dict[str, list[float]] = {"snapshot": [], "pickled (replay)": []}
    for _ in range(args.rounds):
        total = dict.fromkeys(rows, 0.0)
        copy_total = dict.fromkeys(copies, 0.0)
        for t in tasks:
            name, seed = babyai.level_and_seed(t)
            level = levels.setdefault(name, make_level(name))
            total["raw"] += raw_seconds(level, seed, walks[t])
            fast = fast_levels.setdefault(name, install(make_level(name)))
            total["raw, our obs"] += raw_seconds(fast, seed, walks[t])
            getattr(babyai, "_VIEWS", {}).clear()  # (absent before the cache: then cold = warm)
            total["text, cold"] += text_seconds(env, t, walks[t])
            total["text, warm"] += text_seconds(env, t, walks[t])  # leaves env at the walk's end
            for k, v in zip(copies, copy_seconds(env)):
                copy_total[k] += v
        for k in rows:
            rows[k].append(1e6 * total[k] / n)
        for k in copies:
            copies[k].append(1e3 * copy_total[k] / len(tasks))
    raw = statistics.median(rows["raw"])
    ours = statistics.median(rows["raw, our obs"])
    print(f"{'way':13s} {'us/step':>8s} {'x raw':>6s} {'x raw,ours':>10s}   "
          f"({len(tasks)} tasks, {n} primitive steps, median of {args.rounds})")
    for k, v in rows.items():
        m = statistics.median(v)
        print(f"{k:13s} {m:8.0f} {m / raw:6.2f} {m / ours:10.2f}")
    replay = statistics.median(copies["pickled (replay)"])
    print(f"\n{'copy':16s} {'ms/copy':>8s} {'x replay':>8s}   (one copy per task at the walk's end)")
    for k, v in copies.items():
        print(f"{k:16s} {statistics.median(v):8.2f} {statistics.median(v) / replay:8.2f}")


if __name__ == "__main__":
    main()
