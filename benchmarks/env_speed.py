"""Environment throughput and memory: reset and step speed per env, oracle cost, memory.

    python benchmarks/env_speed.py [--episodes 100] [--seed 0]

Steps are random admissible actions on the test split (the env's own cost, no policy);
the oracle column is the cost of one ``oracle_action()`` call. Each env runs in a fresh
process. Memory: that process's peak resident set after building the env (its data and indexes loaded), the peak Python
allocation while stepping (tracemalloc), and the size of a pickled mid-episode env.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import pickle
import resource
import time
import tracemalloc

import gymnasium as gym
import numpy as np

import agentprm_bench  # noqa: F401  (registers the envs)
from agentprm_bench.envs import ENVS


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench(env_id: str, episodes: int, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    env = gym.make(env_id).unwrapped
    env.reset(options={"task_id": env.splits()["test"][0]})  # load data, indexes, first level
    load_s = time.perf_counter() - t0
    rss = rss_mb()
    ids = list(env.splits()["test"])[:episodes]
    rng = np.random.default_rng(seed)
    reset_s = step_s = oracle_s = 0.0
    steps = oracle_calls = 0
    tracemalloc.start()
    for task_id in ids:
        t = time.perf_counter()
        _, info = env.reset(seed=seed, options={"task_id": task_id})
        reset_s += time.perf_counter() - t
        done = False
        while not done:
            t = time.perf_counter()
            env.oracle_action()
            oracle_s += time.perf_counter() - t
            oracle_calls += 1
            action = info["admissible_actions"][int(rng.integers(len(info["admissible_actions"])))]
            t = time.perf_counter()
            _, _, terminated, truncated, info = env.step(action)
            step_s += time.perf_counter() - t
            steps += 1
            done = terminated or truncated
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    env.reset(options={"task_id": ids[0]})
    env.step(env.oracle_action())
    return {
        "load_s": load_s, "resets_per_s": len(ids) / reset_s, "us_per_reset": 1e6 * reset_s / len(ids),
        "steps_per_s": steps / step_s, "us_per_step": 1e6 * step_s / steps,
        "us_per_oracle": 1e6 * oracle_s / oracle_calls, "rss_mb": rss, "peak_step_mb": peak / 2**20,
        "pickle_kb": len(pickle.dumps(env)) / 1024.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    header = (f"{'env':24s} {'load s':>7s} {'resets/s':>9s} {'us/reset':>9s} {'steps/s':>9s} {'us/step':>9s} "
              f"{'us/oracle':>10s} {'RSS MB':>7s} {'peak MB':>8s} {'pickle KB':>9s}")
    print(header)
    print("-" * len(header))
    ctx = mp.get_context("spawn")  # one fresh process per env, so memory figures are its own
    for env_id in ENVS:
        with ctx.Pool(1) as pool:
            r = pool.apply(bench, (env_id, args.episodes, args.seed))
        print(f"{env_id:24s} {r['load_s']:7.2f} {r['resets_per_s']:9.0f} {r['us_per_reset']:9.0f} "
              f"{r['steps_per_s']:9.0f} {r['us_per_step']:9.0f} {r['us_per_oracle']:10.0f} {r['rss_mb']:7.0f} "
              f"{r['peak_step_mb']:8.1f} {r['pickle_kb']:9.1f}")


if __name__ == "__main__":
    main()
