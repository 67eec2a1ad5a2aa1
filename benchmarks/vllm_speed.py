"""hf vs vLLM on the default policies: greedy agreement and rollout throughput.

    python benchmarks/vllm_speed.py [--envs textcraft,babyai] [--agree-episodes 50]
                                    [--episodes 64] [--batch 32] [--repeats 2] [--base-url URL]

Run it in the vLLM venv (``tests/vllm/run.sh`` makes ``.venv-vllm``). For each env, with the
default policy of ``$AGENTPRM_BENCH_HOME`` (built on first use):
1. greedy agreement: ``hf`` (temperature 0) plays ``--agree-episodes`` test episodes; at every
   state it visits, vLLM's offline engine (and the server at ``--base-url``, if given) is asked
   the same question; the table gives the share of steps with the same action;
2. throughput: ``--episodes`` test episodes sampled at temperature 1.0 in lock-step batches of
   ``--batch``, hf and vLLM alternately for ``--repeats`` rounds (medians): trajectories/s,
   generated tokens/s, env steps/s.
The server must be started with the project's logits processor, e.g.
``vllm serve DIR --dtype float32 --logits-processors agentprm_bench.agents.vllm_admissible:AdmissibleTokens``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from agentprm_bench.agents.agreement import agreement
from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.defaults import ensure_default_policy
from agentprm_bench.envs import resolve_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="textcraft,babyai")
    parser.add_argument("--agree-episodes", type=int, default=50)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--base-url", default=None, help="also a running `vllm serve` of the same policy")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads of hf (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    agree_rows, speed_rows = [], []
    for name in args.envs.split(","):
        entry = resolve_env(name)
        model = str(ensure_default_policy(entry.short_name))
        tasks = list(entry.load_class().splits()["test"])
        policies = {"hf": make_policy("hf", model=model, temperature=0.0),
                    "vllm offline": make_policy("vllm", model=model, temperature=0.0)}
        if args.base_url:
            policies["vllm serve"] = make_policy("vllm", model=model, base_url=args.base_url, temperature=0.0)
        for backend in [b for b in policies if b != "hf"]:
            tally, _ = agreement(entry.env_id, policies["hf"], policies[backend], tasks[: args.agree_episodes],
                                 batch_size=args.batch)
            agree_rows.append((entry.env_id, backend, min(args.agree_episodes, len(tasks)), tally.steps,
                               tally.same, tally.other_admissible))
        for policy in policies.values():
            policy.temperature = 1.0
        walls: dict[str, list[float]] = {b: [] for b in policies}
        runs = {}
        for _ in range(args.repeats):
            for backend, policy in policies.items():
                t0 = time.perf_counter()
                runs[backend] = collect_in_memory(entry.env_id, policy, tasks[: args.episodes], 1, 0,
                                                  batch_size=args.batch)
                walls[backend].append(time.perf_counter() - t0)
        for backend, trajs in runs.items():
            wall = statistics.median(walls[backend])
            out = sum(t.compute.policy_tokens_out for t in trajs)
            steps = sum(t.compute.env_steps for t in trajs)
            won = sum(t.won for t in trajs)
            speed_rows.append((entry.env_id, backend, len(trajs), len(trajs) / wall, out / wall, steps / wall, wall,
                               won))
    print(f"torch threads (hf) {torch.get_num_threads()}; vLLM dtype float32 on CPU\n")
    print("| env | vLLM backend | episodes | steps | same action as hf greedy | admissible |")
    print("|---|---|---|---|---|---|")
    for env, backend, eps, steps, same, adm in agree_rows:
        print(f"| {env} | {backend} | {eps} | {steps} | {same}/{steps} = {same / steps:.3f} | {adm}/{steps} |")
    print(f"\n| env | backend | episodes | traj/s | gen tok/s | env steps/s | wall s (median of {args.repeats}) "
          f"| successes |")
    print("|---|---|---|---|---|---|---|---|")
    for env, backend, eps, tps, gps, sps, wall, won in speed_rows:
        print(f"| {env} | {backend} | {eps} | {tps:.2f} | {gps:.0f} | {sps:.1f} | {wall:.1f} | {won} |")


if __name__ == "__main__":
    main()
