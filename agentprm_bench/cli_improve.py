"""``agentprm-bench improve``: policy improvement with process rewards (``improve.loop``)."""

from __future__ import annotations

import argparse
from typing import TextIO

from agentprm_bench.cli_types import nonneg_int, positive_float, positive_int


def add_improve_command(sub: argparse._SubParsersAction) -> None:
    from agentprm_bench.improve.loop import REWARDS

    p = sub.add_parser("improve", help="improve a policy: rollouts -> reward model -> step-level DPO, per iteration "
                                       "(or rejection fine-tuning with --reward outcome)")
    p.add_argument("--env", required=True)
    p.add_argument("--reward", default=None, help=f"one of {', '.join(REWARDS)} (default agentprm)")
    p.add_argument("--iterations", type=positive_int, default=None, help="K (default 3)")
    p.add_argument("--out", default=None, help="run directory, resumable (default runs/improve)")
    p.add_argument("--policy", default=None, help="starting policy dir (default: the env's embedded default)")
    p.add_argument("--tasks", type=positive_int, default=None, help="train tasks rolled out per iteration (64)")
    p.add_argument("--samples", type=positive_int, default=None, help="rollouts per task per iteration (4)")
    p.add_argument("--states", type=positive_int, default=None, help="DPO: visited states paired (256)")
    p.add_argument("--m", type=positive_int, default=None, help="DPO: actions sampled per state (4)")
    p.add_argument("--beta", type=positive_float, default=None, help="DPO: beta (0.1)")
    p.add_argument("--lr", type=positive_float, default=None, help="policy update learning rate (1e-4)")
    p.add_argument("--epochs", type=positive_int, default=None, help="policy update epochs (2)")
    p.add_argument("--test-tasks", type=positive_int, default=None, help="first N test tasks (default: all)")
    p.add_argument("--seed", type=nonneg_int, default=None)
    p.add_argument("--dpo-procs", type=positive_int, default=1,
                   help="train each DPO step in N processes under torchrun (one per GPU; default 1: in this process)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_improve)


def cmd_improve(args: argparse.Namespace, out: TextIO) -> int:
    from agentprm_bench.improve.loop import RECORDS, ImproveConfig, improve

    given = {k: getattr(args, k) for k in ("env", "reward", "iterations", "out", "policy", "tasks", "samples",
                                            "states", "m", "beta", "lr", "epochs", "test_tasks", "seed")
             if getattr(args, k) is not None}
    cfg = ImproveConfig(**given)
    records = improve(cfg, progress=not args.no_progress, dpo_procs=args.dpo_procs)
    out.write(f"{'iteration':>9s} {'test success':>12s} {'tasks':>5s} {'env steps':>9s} {'policy tok':>10s} "
              f"{'rm tok':>8s}\n")
    for r in records:
        c = r["compute"]
        out.write(f"{r['iteration']:9d} {r['test']['success']:12.3f} {len(r['test']['won']):5d} "
                  f"{c.get('env_steps', 0):9d} {c.get('policy_tokens_in', 0) + c.get('policy_tokens_out', 0):10d} "
                  f"{c.get('rm_tokens', 0):8d}\n")
    out.write(f"records in {cfg.out}/{RECORDS}\n")
    return 0
