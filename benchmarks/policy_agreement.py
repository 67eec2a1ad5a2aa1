"""How often a policy's greedy choice equals the oracle's, on the oracle's own path.

    python benchmarks/policy_agreement.py [--env webshop] [--tasks 60] [--model DIR] [--split test]

Runs the oracle on the first test tasks; in every state it passes, the policy (temperature 0)
picks an action for the same history. Prints agreement per kind of state (WebShop: the page,
with item pages split into option and buy decisions; other envs: the oracle action's verb),
which tells which decision a behaviour-cloned policy has not learned. Agreement is not success:
one disagreement in an episode is usually enough to fail it.
"""

from __future__ import annotations

import argparse
from collections import Counter

import gymnasium as gym

from agentprm_bench.agents.base import History, make_policy
from agentprm_bench.envs import resolve_env
from agentprm_bench.paths import default_policy_dir


def state_kind(env: object, oracle_action: str) -> str:
    page = getattr(env, "page", None)
    if page == "item":
        return "item: buy" if oracle_action == "click[Buy Now]" else "item: option"
    return str(page) if page else oracle_action.split(" ")[0].split("[")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="webshop")
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--model", default=None)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    entry = resolve_env(args.env)
    model = args.model or str(default_policy_dir(entry.short_name))
    policy = make_policy("hf", model=model, temperature=0.0)
    live = []
    for task in list(entry.load_class().splits()[args.split])[: args.tasks]:
        env = gym.make(entry.env_id, split=args.split).unwrapped
        obs, info = env.reset(options={"task_id": task})
        live.append((env, History(entry.env_id, task, [obs], [], info["admissible_actions"])))
    agree, total = Counter(), Counter()
    while live:
        picks = policy.act([h for _, h in live], 1, [0] * len(live))
        still = []
        for (env, hist), (pick,) in zip(live, picks):
            want = env.oracle_action()
            kind = state_kind(env, want)
            total[kind] += 1
            agree[kind] += pick.action == want
            obs, _, terminated, truncated, info = env.step(want)
            hist.observations.append(obs)
            hist.actions.append(want)
            hist.admissible_actions = info.get("admissible_actions", [])
            if not (terminated or truncated):
                still.append((env, hist))
        live = still
    print(f"env {entry.env_id}  model {model}  tasks {args.tasks} ({args.split})")
    print("| state | agreement | states |\n|---|---|---|")
    for kind in sorted(total):
        print(f"| {kind} | {agree[kind] / total[kind]:.2f} | {total[kind]} |")
    print(f"| all | {sum(agree.values()) / sum(total.values()):.2f} | {sum(total.values())} |")


if __name__ == "__main__":
    main()
