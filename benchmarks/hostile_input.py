"""Hostile actions: the time one ``step`` takes on 100 KB inputs, per env.

    python benchmarks/hostile_input.py [--size 100000] [--repeats 5]

Each env gets actions built to hurt a regex or parser (long runs of spaces, repeated
separators, brackets, digits, nested brackets, non-ASCII), at the given size, from a reset
state; prints the slowest step per env in milliseconds (target: under 50 ms). Every one must
be refused as invalid (the 512-character action limit) without changing the episode.
"""

from __future__ import annotations

import argparse
import time

import agentprm_bench  # noqa: F401  (registers the envs)
from agentprm_bench.envs import ENVS, make_env


def shapes(n: int) -> dict[str, str]:
    return {
        "spaces": "craft" + " " * n + "x",
        "repeated clause": ("craft 1 x using " * (n // 16 + 1))[:n],
        "digits": "get " + "9" * n,
        "brackets": "click[" * (n // 6) + "]",
        "search": "search[" + "a " * (n // 2) + "]",
        "non-ASCII": "\u00e9\u4e2d\U0001f600" * (n // 3),
        "go to": "go to " + "red ball " * (n // 9),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"| env | slowest step (ms), {args.size:,}-character actions | refused |")
    print("|---|---|---|")
    for env_id in ENVS:
        env = make_env(env_id)
        env.reset(seed=0, options={"task_id": env.splits()["test"][0]})
        worst, refused = 0.0, True
        for _ in range(args.repeats):
            for action in shapes(args.size).values():
                before = env.turn
                t0 = time.perf_counter()
                _, reward, terminated, _, info = env.step(action)
                worst = max(worst, time.perf_counter() - t0)
                refused &= (not info["valid_action"]) and reward == 0.0 and not terminated and env.turn == before + 1
                if env._done:  # the turn limit reached: start again
                    env.reset(seed=0, options={"task_id": env.splits()["test"][0]})
        print(f"| {env_id} | {1000 * worst:.2f} | {refused} |")


if __name__ == "__main__":
    main()
