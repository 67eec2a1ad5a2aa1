"""Rollout throughput of the default small policy: "cached" (the prompt's KV cache kept across
turns, forced tokens of admissible replies appended without a decoding step: the defaults) vs
"re-encode" (every prompt read whole, one decoding step per token, every admissible action
tokenized again at every turn: the earlier sampler), at
batch size 1 and in the batched lock-step path.

    python benchmarks/rollout_speed.py [--env babyai] [--episodes 64] [--batch-sizes 1,32]
                                       [--repeats 2] [--model DIR] [--device cpu|cuda] [--dtype fp32|bf16]
                                       [--threads N]

For each batch size the two modes run alternately (``--repeats`` rounds, same tasks and seeds),
so a busy machine slows both alike; the table prints each mode's median over rounds:
trajectories/s, tokens generated per second, prompt tokens computed per turn and per second,
and env steps per second. It checks that both modes chose the same actions. The last line is
the speed-up of the cache in generated tokens per second at the largest batch size.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.envs import resolve_env
from agentprm_bench.paths import default_policy_dir


class _Forgetful(dict):
    """An action-tokenization memo that remembers nothing."""

    def __setitem__(self, key: str, value: list[int]) -> None:
        pass


def ceiling(trajs: list, policy: object) -> float:
    """What no prompt cache can beat: the prompt tokens re-encoding reads, over the tokens each
    turn adds (the first prompt whole, then the chat-template tokens of the action and the new
    observation). A cache also keeping every earlier turn could at best compute only the latter."""
    from agentprm_bench.agents.base import History
    from agentprm_bench.agents.prompt import ACTION_PREFIX, render_prompt

    tok = policy.tokenizer  # type: ignore[attr-defined]
    full = new = 0
    for t in trajs:
        for i in range(len(t.actions)):
            h = History(t.env_id, t.task_id, list(t.observations[: i + 1]), list(t.actions[:i]))
            n = len(tok(policy.prompts([h])[0], add_special_tokens=False)["input_ids"])  # type: ignore[attr-defined]
            full += n
            if i == 0:
                new += n
            else:
                turn = [{"role": "assistant", "content": ACTION_PREFIX + t.actions[i - 1]},
                        {"role": "user", "content": t.observations[i]}]
                new += len(tok(render_prompt(turn, tok), add_special_tokens=False)["input_ids"])
    return full / max(1, new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="babyai")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    entry = resolve_env(args.env)
    model = args.model or str(default_policy_dir(entry.short_name))
    policies = {mode: make_policy("hf", model=model, device=args.device, dtype=args.dtype, prompt_cache=mode == "cached",
                                  fast_forward=mode == "cached")
                for mode in ("re-encode", "cached")}
    policies["re-encode"]._action_ids = _Forgetful()  # the earlier sampler tokenized every action at every turn
    tasks = list(entry.load_class().splits()["test"])[: args.episodes]
    some = policies["cached"]
    print(f"env {entry.env_id}  model {model}  device {some.device}  threads {torch.get_num_threads()}  "
          f"parameters {sum(p.numel() for p in some.model.parameters()):,}  episodes {len(tasks)}  "
          f"max_prompt_chars {some.max_prompt_chars}")
    header = (f"{'batch':>5s} {'mode':>9s} {'traj/s':>7s} {'gen tok/s':>10s} {'prompt tok/turn':>16s} "
              f"{'prompt tok/s':>13s} {'env steps/s':>12s} {'wall s':>7s}")
    print(header)
    print("-" * len(header))
    speedup = 0.0
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        walls: dict[str, list[float]] = {mode: [] for mode in policies}
        runs = {}
        for _ in range(args.repeats):
            for mode, policy in policies.items():
                t0 = time.perf_counter()
                runs[mode] = collect_in_memory(entry.env_id, policy, tasks, 1, 0, batch_size=bs)
                walls[mode].append(time.perf_counter() - t0)
        same = sum(s.raw == o.raw for a, b in zip(runs["re-encode"], runs["cached"]) for s, o in zip(a.steps, b.steps))
        total = sum(len(t.steps) for t in runs["re-encode"])
        rates = {}
        for mode, trajs in runs.items():
            wall = statistics.median(walls[mode])
            out = sum(t.compute.policy_tokens_out for t in trajs)
            inp = sum(t.compute.policy_tokens_in for t in trajs)
            steps = sum(t.compute.env_steps for t in trajs)
            rates[mode] = out / wall
            print(f"{bs:5d} {mode:>9s} {len(trajs) / wall:7.2f} {out / wall:10.0f} {inp / steps:16.1f} "
                  f"{inp / wall:13.0f} {steps / wall:12.1f} {wall:7.1f}")
        print(f"      same actions in both modes: {same}/{total} steps")
        speedup = rates["cached"] / rates["re-encode"]
    print(f"prompt-cache ceiling (prompt tokens per turn re-encoded / tokens new in that turn): "
          f"{ceiling(runs['re-encode'], some):.2f}")
    print(f"prompt-cache speed-up (generated tokens/s, cached / re-encode) at batch {bs}: {speedup:.2f}")


if __name__ == "__main__":
    main()
