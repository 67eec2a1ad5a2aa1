"""The search and reporting subcommands of ``agentprm-bench``: run, sweep, leaderboard, plot."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TextIO

from agentprm_bench.cli_types import nonneg_float, nonneg_int, nonneg_ints, positive_int, positive_ints
from agentprm_bench.errors import UserError


def _summary(records: list, out: TextIO) -> None:
    head = (f"{'env':14s} {'method':14s} {'search':7s} {'budget':>6s} {'metric':8s} {'value':>6s} {'95% CI':>14s} "
            f"{'tasks':>5s} {'policy tok':>10s} {'RM tok':>9s} {'env steps':>9s} {'wall s':>7s}\n")
    out.write(head + "-" * (len(head) - 1) + "\n")
    for r in records:
        c = r.compute
        shape = f"{r.width}x{r.expand}" if r.search == "beam" else str(r.budget)
        out.write(f"{r.env_id.split('/')[-1]:14s} {r.method:14s} {r.search:7s} {shape:>6s} {r.metric:8s} "
                  f"{r.value:6.3f} {f'[{r.ci_low:.2f}, {r.ci_high:.2f}]':>14s} {len(r.tasks):5d} "
                  f"{c['policy_tokens_out']:10d} {c['rm_tokens']:9d} {c['env_steps']:9d} {c['wall_time_s']:7.1f}\n")


def _ranking_note(record, out: TextIO) -> None:
    """Whether this run can rank anything: the paired comparison with plain sampling on the same
    samples (BoN with a reward model), and a plain note below 30 tasks."""
    from agentprm_bench.report.stats import MIN_TASKS_TO_RANK, paired

    field = "success" if record.metric == "success" else "reward"
    plain = [getattr(t, f"plain_{field}") for t in record.tasks]
    if record.search == "bon" and all(v is not None for v in plain):
        p = paired([getattr(t, field) for t in record.tasks], plain, seed=record.seed)
        out.write(f"\n{record.method} vs plain sampling on the same {record.budget} samples per task ({p.n} tasks, "
                  f"paired): {p.diff:+.3f} {field}, 95% CI [{p.ci_low:+.3f}, {p.ci_high:+.3f}], sign-flip p = "
                  f"{p.p_value:.3f}\n")
    if len(record.tasks) < MIN_TASKS_TO_RANK:
        out.write(f"note: {len(record.tasks)} tasks cannot rank methods (the 95% CI above spans "
                  f"{record.ci_high - record.ci_low:.2f}); compare methods paired on {MIN_TASKS_TO_RANK}+ tasks "
                  f"(--tasks)\n")


def _verbose_stages() -> None:
    """Say which default models are being built (the CLI's own output, on stderr)."""
    for name in ("agentprm_bench.defaults", "agentprm_bench.search.sweep"):
        logging.getLogger(name).setLevel(logging.INFO)


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    """One search run; appends its record to OUT/results.jsonl and prints a summary table."""
    from agentprm_bench.search.results import RESULTS
    from agentprm_bench.search.run import RunConfig, run

    _verbose_stages()
    from agentprm_bench.cli import confirm_large
    from agentprm_bench.envs import first_tasks, resolve_env

    given = {k: getattr(args, k) for k in ("method", "budget", "env", "search", "policy", "reward_model", "tasks",
                                            "split", "seed", "temperature", "aggregate", "expand", "out", "backend",
                                            "base_url")
             if getattr(args, k) is not None}
    cfg = RunConfig(**given)
    samples = len(first_tasks(resolve_env(cfg.env), cfg.split, cfg.tasks)) * cfg.budget
    confirm_large(samples, "this run", args)
    _first_run_estimate(cfg, samples, out)
    record = run(cfg, progress=not args.no_progress)
    _summary([record], out)
    _ranking_note(record, out)
    _phase_times(out)
    out.write(f"\nappended to {Path(record.config['out']) / RESULTS}\n")
    return 0


def _first_run_estimate(cfg, samples: int, out: TextIO) -> None:
    """Before building defaults: the phases to come and their estimated minutes on this machine."""
    import torch

    from agentprm_bench.defaults import PHASE_TIMES, first_run_plan, minutes
    from agentprm_bench.search.methods import METHODS

    PHASE_TIMES.clear()  # what this run builds is timed from here
    if cfg.policy is not None or cfg.base_url:
        return
    method = METHODS.get(cfg.method) if cfg.reward_model is None else None
    plan = first_run_plan(cfg.env, method, samples, torch.get_num_threads())
    if plan:
        steps = ", ".join(f"{name} (~{minutes(sec)})" for name, sec in plan)
        out.write(f"first run: builds the embedded default, then searches: {steps}; about "
                  f"{minutes(sum(sec for _, sec in plan))} in all with {torch.get_num_threads()} torch threads "
                  f"(estimated from an idle 2-core machine; a busy one takes longer)\n")
        out.flush()


def _phase_times(out: TextIO) -> None:
    """After a run that built defaults: how long each phase took."""
    from agentprm_bench.defaults import PHASE_TIMES, minutes

    built = [(name, sec) for name, sec in PHASE_TIMES if sec >= 0.5]
    if built:
        out.write("\nphase times: " + ", ".join(f"{name} {minutes(sec)}" for name, sec in built)
                  + f"; {minutes(sum(sec for _, sec in built))} in all\n")


def _csv(text: str | None, cast: type = str) -> tuple | None:
    return None if text is None else tuple(cast(x.strip()) for x in text.split(",") if x.strip())


def cmd_sweep(args: argparse.Namespace, out: TextIO) -> int:
    """The grid envs x methods x searches x budgets; skips cells already in OUT/results.jsonl."""
    from agentprm_bench.search.sweep import SweepConfig, cells, sweep

    _verbose_stages()
    pairs = []
    for item in args.reward_model or []:
        method, sep, path = item.partition("=")
        if not sep:
            raise UserError(f"--reward-model takes METHOD=DIR, got {item!r}")
        pairs.append((method, path))
    given = {"envs": _csv(args.envs), "methods": _csv(args.methods), "searches": _csv(args.searches),
             "budgets": args.budgets, "tasks": args.tasks, "seed": args.seed, "seeds": args.seeds,
             "expand": args.expand,
             "temperature": args.temperature, "policy": args.policy, "out": args.out,
             "backend": args.backend, "base_url": args.base_url,
             "reward_models": tuple(pairs) or None}
    cfg = SweepConfig(**{k: v for k, v in given.items() if v is not None})
    from agentprm_bench.cli import confirm_large
    from agentprm_bench.envs import first_tasks, resolve_env

    grid = list(cells(cfg))
    total = len(grid)
    confirm_large(sum(len(first_tasks(resolve_env(c.env), c.split, c.tasks)) * c.budget for c in grid), "this sweep",
                  args)
    out.write(f"sweep: {total} cells -> {Path(cfg.out) / 'results.jsonl'}\n")
    new = sweep(cfg, progress=not args.no_progress, on_record=lambda r: _summary([r], out))
    out.write(f"{len(new)} new records, {total - len(new)} already there\n")
    return 0


def cmd_build_defaults(args: argparse.Namespace, out: TextIO) -> int:
    """Build (or find, when cached) the embedded default policy and reward models; say where, and how long."""
    from agentprm_bench.defaults import ensure_default_policy, ensure_default_reward_model, install_default_policy
    from agentprm_bench.envs import resolve_env
    from agentprm_bench.search.methods import METHODS

    _verbose_stages()
    envs = [resolve_env(e) for e in _csv(args.envs) or ("textcraft", "babyai", "webshop")]
    methods = [METHODS.get(m) for m in _csv(args.methods) or ("agentprm",)]
    without = [m.name for m in methods if m.rm is None]
    if without:
        raise UserError(f"{', '.join(without)} use no reward model; pass methods that do, e.g. agentprm,pvm,orm")
    out.write(f"{'env':14s} {'model':16s} {'seconds':>8s}  directory\n")
    for entry in envs:
        name = entry.env_id.split("/")[-1]
        start = time.perf_counter()
        if args.policy_from and (Path(args.policy_from) / entry.short_name).is_dir():
            install_default_policy(entry.env_id, Path(args.policy_from) / entry.short_name)
        path = ensure_default_policy(entry.env_id, progress=not args.no_progress)
        out.write(f"{name:14s} {'policy':16s} {time.perf_counter() - start:8.1f}  {path}\n")
        for method in methods:
            start = time.perf_counter()
            path = ensure_default_reward_model(entry.env_id, method, progress=not args.no_progress)
            out.write(f"{name:14s} {'rm ' + method.name:16s} {time.perf_counter() - start:8.1f}  {path}\n")
    return 0


def cmd_leaderboard(args: argparse.Namespace, out: TextIO) -> int:
    """Results as a table (markdown on stdout; --out DIR also writes leaderboard.md and .csv)."""
    from agentprm_bench.report.leaderboard import leaderboard, mixed_policies, records_frame, to_markdown
    from agentprm_bench.report.paired import paired_table
    from agentprm_bench.search.results import latest_results

    records = latest_results(args.results)
    df = records_frame(records)
    table = leaderboard(df)
    text = "".join(f"**Warning**: {line}\n\n" for line in mixed_policies(records)) + to_markdown(table)
    out.write(text)
    if args.out:
        d = Path(args.out)
        d.mkdir(parents=True, exist_ok=True)
        (d / "leaderboard.md").write_text(text)
        df.to_csv(d / "leaderboard.csv", index=False)
        pairs = paired_table(records)
        (d / "paired.md").write_text(
            "Paired comparisons (same tasks and samples): diff = a - b, paired bootstrap 95% CI, sign-flip p, "
            "Holm-adjusted p within env x search x budget x seed. Seed `all`: pooled over the `seeds` seeds "
            "measured on the same tasks (difference averaged over seeds and tasks; CI from a bootstrap resampling "
            "seeds and tasks independently, one task draw shared by the drawn seeds; sign-flip p over the "
            "seed-averaged per-task differences; its own Holm family). "
            "`privileged` rows involve oracle-select, an upper bound.\n\n" + to_markdown(pairs))
        pairs.to_csv(d / "paired.csv", index=False)
        out.write(f"\nwrote {d / 'leaderboard.md'} and {d / 'leaderboard.csv'} (every run, one row each), "
                  f"{d / 'paired.md'} and {d / 'paired.csv'} ({len(pairs)} paired comparisons)\n")
    return 0


def cmd_plot(args: argparse.Namespace, out: TextIO) -> int:
    """Scaling curves per env and the compute-efficiency table."""
    from agentprm_bench.report.leaderboard import efficiency, load, to_markdown
    from agentprm_bench.report.plots import scaling_figures

    from agentprm_bench.improve import report as improve_report

    d = Path(args.out)
    runs = improve_report.find_runs(args.results)
    if runs:  # improve runs: success vs iteration and vs total compute, and the paired final policies
        _improve_outputs(improve_report.load(runs), d, out)
        rest = [p for p in args.results if not improve_report.find_runs([p])]
        if not rest:
            return 0
        args.results = rest
    df = load(args.results)
    for path in scaling_figures(df, d):
        out.write(f"wrote {path}\n")
    eff = efficiency(df, baselines=_csv(args.baselines) or ("orm", "pvm", "none"))
    text = to_markdown(eff, floatfmt=".2f") if not eff.empty else "(no baseline runs to compare with)\n"
    (d / "efficiency.md").write_text(text)
    eff.to_csv(d / "efficiency.csv", index=False)
    out.write(f"wrote {d / 'efficiency.md'} and {d / 'efficiency.csv'}\n\n{text}")
    return 0


def _improve_outputs(df, d: Path, out: TextIO) -> None:
    from agentprm_bench.improve import report as improve_report
    from agentprm_bench.report.leaderboard import to_markdown

    for path in improve_report.figures(df, d):
        out.write(f"wrote {path}\n")
    table, pairs = improve_report.success_table(df), improve_report.final_pairs(df)
    text = to_markdown(table, floatfmt=".3f") + "\n" + (to_markdown(pairs, floatfmt=".3f") if not pairs.empty
                                                        else "(one reward only: no paired comparison)\n")
    (d / "improve.md").write_text(text)
    table.to_csv(d / "improve.csv", index=False)
    pairs.to_csv(d / "improve_paired.csv", index=False)
    out.write(f"wrote {d / 'improve.md'}, improve.csv and improve_paired.csv\n\n{text}")


def _backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None, choices=["hf", "vllm"],
                   help="sample the policy model with transformers (default) or vLLM's offline engine")
    p.add_argument("--base-url", default=None,
                   help="sample from a running OpenAI-compatible server (vllm serve) instead; --policy (or the "
                        "default) is then the local directory giving the prompt format")


def add_search_commands(sub: argparse._SubParsersAction) -> None:
    from agentprm_bench.search.methods import METHODS

    p = sub.add_parser("run", help="search with a reward model (BoN or beam) on one env; append a result record")
    p.add_argument("--method", default=None, help=f"one of {', '.join(METHODS.names())} (default agentprm)")
    p.add_argument("--budget", type=positive_int, default=None, help="N for Best-of-N, N x M for beam search (default 32)")
    p.add_argument("--env", default=None, help="env id or short name (default textcraft)")
    p.add_argument("--search", default=None, choices=["bon", "beam"])
    p.add_argument("--policy", default=None, help="local model dir or scripted policy name (default: the embedded one)")
    p.add_argument("--reward-model", default=None, help="checkpoint dir (default: the embedded one for --method)")
    _backend_args(p)
    p.add_argument("--tasks", type=positive_int, default=None, help="first N tasks of the split (default 10)")
    p.add_argument("--split", default=None, help="test (default), train, or another split the env has (WebShop: eval)")
    p.add_argument("--seed", type=nonneg_int, default=None)
    p.add_argument("--temperature", type=nonneg_float, default=None, help="sampling temperature (default 0.7)")
    p.add_argument("--aggregate", default=None, choices=["last", "min", "mean"], help="BoN path score (default last)")
    p.add_argument("--expand", type=positive_int, default=None, help="beam: actions per node M (default 4)")
    p.add_argument("--out", default=None, help="results directory (default ./runs)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--yes", action="store_true", help="do not ask before a large run")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run the grid methods x budgets x searches x envs (resumable)")
    p.add_argument("--envs", default=None, help="comma-separated (default textcraft,babyai,webshop)")
    p.add_argument("--methods", default=None, help="comma-separated (default agentprm,pvm,orm,none)")
    p.add_argument("--searches", default=None, help="comma-separated (default bon,beam)")
    p.add_argument("--budgets", type=positive_ints, default=None, help="comma-separated (default 1,2,4,8,16,32)")
    p.add_argument("--tasks", type=positive_int, default=None)
    p.add_argument("--seed", type=nonneg_int, default=None)
    p.add_argument("--seeds", type=nonneg_ints, default=None,
                   help="comma-separated seeds, e.g. 0,1,2: each its own sample pool and default reward models")
    p.add_argument("--temperature", type=nonneg_float, default=None)
    p.add_argument("--expand", type=positive_int, default=None)
    p.add_argument("--policy", default=None)
    p.add_argument("--reward-model", action="append", default=None, help="METHOD=DIR (repeatable)")
    _backend_args(p)
    p.add_argument("--out", default=None, help="results directory (default ./runs)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--yes", action="store_true", help="do not ask before a large sweep")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("build-defaults", help="build the embedded default policy and reward models (cached; resumable)")
    p.add_argument("--envs", default=None, help="comma-separated (default textcraft,babyai,webshop)")
    p.add_argument("--methods", default=None, help="comma-separated reward-model methods (default agentprm)")
    p.add_argument("--policy-from", default=None, metavar="DIR",
                   help="use DIR/ENV (where it exists; e.g. results/search/policies) as ENV's default policy "
                        "instead of training one: copied into the cache, an error if the cache holds another")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_build_defaults)

    p = sub.add_parser("leaderboard", help="result records as a table (markdown and CSV)")
    p.add_argument("results", nargs="+", help="results.jsonl files or directories holding one")
    p.add_argument("--out", default=None, help="also write leaderboard.md and leaderboard.csv here")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("plot", help="scaling curves and the compute-efficiency table; for improve runs, success "
                                    "vs iteration and vs total compute, and the paired final policies")
    p.add_argument("results", nargs="+", help="results.jsonl files or directories holding one; improve run "
                                              "directories (improve.jsonl, also one level down)")
    p.add_argument("--out", required=True, help="directory for the figures and efficiency.md/.csv")
    p.add_argument("--baselines", default=None, help="comma-separated (default orm,pvm,none)")
    p.set_defaults(func=cmd_plot)
