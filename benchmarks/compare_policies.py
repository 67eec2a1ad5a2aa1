"""Two policies on the same test tasks and seeds: success, mean reward, turns and their paired
difference (bootstrap 95% CI over tasks, sign-flip p).

    python benchmarks/compare_policies.py MODEL_A MODEL_B --env babyai --samples 4 --threads 1

Each task's value is the mean over its ``--samples`` episodes (sample j of task t gets the same
seed for both models), so the comparison is paired by task. The env's metric decides which
difference is the headline (BabyAI-v1: mean reward; TextCraft and WebShop: success).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.envs import resolve_env
from agentprm_bench.report.stats import paired


def per_task(trajs: list, tasks: list[int], field: str) -> list[float]:
    values: dict[int, list[float]] = {t: [] for t in tasks}
    for t in trajs:
        values[t.task_id].append(float(getattr(t, field)) if field != "turns" else float(len(t.steps)))
    return [float(np.mean(values[t])) for t in tasks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_a")
    parser.add_argument("model_b")
    parser.add_argument("--env", default="babyai")
    parser.add_argument("--tasks", type=int, default=None, help="first N test tasks (default: the whole split)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    entry = resolve_env(args.env)
    tasks = list(entry.load_class().splits()["test"])[: args.tasks]
    fields = {"success": "won", "mean reward": "final_reward", "turns": "turns"}
    values: dict[str, dict[str, list[float]]] = {}
    print(f"env {entry.env_id}  tasks {len(tasks)}  samples {args.samples}  temperature {args.temperature}  "
          f"seed {args.seed}  threads {torch.get_num_threads()}")
    for name, model in (("A", args.model_a), ("B", args.model_b)):
        policy = make_policy("hf", model=model, temperature=args.temperature)
        t0 = time.perf_counter()
        trajs = collect_in_memory(entry.env_id, policy, tasks, args.samples, args.seed, batch_size=args.batch_size)
        wall = time.perf_counter() - t0
        values[name] = {k: per_task(trajs, tasks, f) for k, f in fields.items()}
        steps = sum(len(t.steps) for t in trajs)
        print(f"{name}: {model}  {len(trajs)} episodes, {steps} steps, {wall:.0f} s")
    header = f"{'metric':>12s} {'A':>7s} {'B':>7s} {'A - B':>7s} {'95% CI':>17s} {'p':>7s}"
    print(header)
    print("-" * len(header))
    for k in fields:
        r = paired(values["A"][k], values["B"][k])
        print(f"{k:>12s} {r.mean_a:7.3f} {r.mean_b:7.3f} {r.diff:+7.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] {r.p_value:7.4f}")


if __name__ == "__main__":
    main()
