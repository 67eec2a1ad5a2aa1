"""The probe-set subcommands of ``agentprm-bench``: ``probe`` (build one) and ``eval-rm --probe``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, TextIO

from agentprm_bench.cli_types import nonneg_int, positive_int
from agentprm_bench.errors import UserError

PROBE_EVAL = "probe_eval.jsonl"


def cmd_probe(args: argparse.Namespace, out: TextIO) -> int:
    """Build (or resume) a probe set: states, candidate actions, Monte-Carlo Q, first errors."""
    from agentprm_bench.prm.probe import ProbeConfig, build_probes, ship

    given = {k: getattr(args, k) for k in ("tasks", "screen", "states_per_trajectory", "samples", "k", "threshold",
                                            "max_error_steps", "policy", "seed") if getattr(args, k) is not None}
    cfg = ProbeConfig(env=args.env, **given)
    start = time.perf_counter()
    path = build_probes(cfg, args.out, progress=not args.no_progress)
    meta = json.loads((Path(args.out) / "probe_config.json").read_text())
    out.write(f"{path}: {meta['counts']} in {time.perf_counter() - start:.0f} s; compute {meta['compute']}\n")
    if args.ship:
        out.write(f"shipped as {ship(args.out, args.ship)}\n")
    return 0


def _model_label(meta: dict[str, Any]) -> str:
    beta = meta.get("train_config", {}).get("beta")
    return f"{meta.get('kind', '?')}" + (f" beta={beta}" if meta.get("kind") == "agentprm" and beta is not None else "")


def cmd_eval_probe(args: argparse.Namespace, out: TextIO) -> int:
    """Every reward model's probe metrics with CIs, then the paired differences of every two."""
    from agentprm_bench.jsonl import append_records
    from agentprm_bench.prm.model import RewardModel
    from agentprm_bench.prm.probe import load_probes
    from agentprm_bench.prm.probe_eval import METRICS, compare, evaluate, score_probes
    from agentprm_bench.provenance import stamp

    records, meta = load_probes(args.probe)
    n_states = sum(r["kind"] == "state" for r in records)
    out.write(f"probe set {args.probe}: {n_states} states, "
              f"{sum(r['kind'] == 'trajectory' for r in records)} trajectories (k = {meta.get('config', {}).get('k')})\n")
    scored, rows = [], []
    head = f"{'reward model':44s} " + " ".join(f"{m:>20s}" for m in METRICS) + f" {'RM tokens':>10s}\n"
    out.write(head + "-" * (len(head) - 1) + "\n")
    for path in args.rm:
        rm = RewardModel.load(path)
        s = score_probes(rm, records)
        metrics = evaluate(s)
        scored.append(s)
        rows.append({"path": str(path), "kind": rm.meta.get("kind"), "label": _model_label(rm.meta),
                     "metrics": {m: list(v) for m, v in metrics.items()}, "rm_tokens": s.tokens})
        name = str(path) if len(str(path)) <= 44 else "..." + str(path)[-41:]
        out.write(f"{name:44s} " + " ".join(f"{v:6.3f} [{lo:5.2f},{hi:5.2f}]" for v, lo, hi in metrics.values())
                  + f" {s.tokens:10d}\n")
    pairs = []
    if len(scored) > 1:
        out.write("\npaired differences (row a - row b; 95% bootstrap CI over tasks; ranking: sign-flip p over "
                  "per-task accuracy)\n")
        for i in range(len(scored)):
            for j in range(i + 1, len(scored)):
                c = compare(scored[i], scored[j])
                pairs.append({"a": rows[i]["path"], "b": rows[j]["path"], "ranking_p": c["ranking_p"],
                              "diff": {m: list(v) for m, v in c["diff"].items()}})
                r = c["diff"]["ranking"]
                out.write(f"  {rows[i]['label']} ({i + 1}) - {rows[j]['label']} ({j + 1}): ranking {r[0]:+.3f} "
                          f"[{r[1]:+.3f}, {r[2]:+.3f}] p = {c['ranking_p']:.3f}; spearman "
                          f"{c['diff']['spearman'][0]:+.3f} [{c['diff']['spearman'][1]:+.3f}, "
                          f"{c['diff']['spearman'][2]:+.3f}]\n")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        append_records(Path(args.out) / PROBE_EVAL, [{
            "probe": args.probe, "probe_sha256": meta.get("sha256"), "probe_config": meta.get("config"),
            "models": rows, "paired": pairs, **stamp()}])
        out.write(f"\nappended to {Path(args.out) / PROBE_EVAL}\n")
    return 0


def add_probe_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="build a probe set: states, candidate actions and their Monte-Carlo Q")
    p.add_argument("--env", required=True)
    p.add_argument("--out", required=True, help="build directory (resumable)")
    p.add_argument("--tasks", type=positive_int, help="first N (screened) test tasks seeding states (default 16)")
    p.add_argument("--screen", type=nonneg_int, help="policy samples per test task; only tasks where one succeeds "
                                                      "seed states (default 4; 0: the first --tasks tasks)")
    p.add_argument("--states-per-trajectory", type=positive_int, help="states per seed trajectory (default 2)")
    p.add_argument("--samples", type=positive_int, help="policy samples per state (default 4)")
    p.add_argument("--k", type=positive_int, help="Monte-Carlo rollouts per (state, action) (default 16)")
    p.add_argument("--threshold", type=float, help="first error: Q below this (default 0.5)")
    p.add_argument("--max-error-steps", type=positive_int, help="steps searched for a first error (default 10)")
    p.add_argument("--policy", help="reference policy model dir (default: the embedded one)")
    p.add_argument("--seed", type=int)
    p.add_argument("--ship", metavar="NAME", help="also copy the set into the package data as NAME")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_probe)


def check_eval_args(args: argparse.Namespace) -> None:
    if (args.probe is None) == (args.trajectories is None):
        raise UserError("eval-rm needs exactly one of --probe ENV|DIR (step ranking) and --trajectories DIR "
                        "(final-step AUC)")
