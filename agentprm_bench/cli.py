"""The ``agentprm-bench`` command line. Subcommands print their own output; the library logs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence, TextIO

import gymnasium as gym

from agentprm_bench.cli_types import nonneg_float, nonneg_int, positive_float, positive_int, probability, top_p
from agentprm_bench.envs import ENVS, resolve_env
from agentprm_bench.errors import UserError


def _make(name: str, **kwargs):
    entry = resolve_env(name)
    return entry, gym.make(entry.env_id, **kwargs).unwrapped


def cmd_envs(args: argparse.Namespace, out: TextIO) -> int:
    """List the registered environments with their task counts and splits."""
    rows = [("id", "tasks", "train", "test", "max turns", "metric", "--env")]
    for entry in ENVS.values():
        cls = entry.load_class()
        splits = cls.splits()
        rows.append((entry.env_id, str(cls.num_tasks()), str(len(splits["train"])), str(len(splits["test"])),
                     str(cls.default_max_turns), entry.metric, entry.short_name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
        if k == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
    return 0


def cmd_play(args: argparse.Namespace, out: TextIO, read: Callable[[str], str] | None = None) -> int:
    """Play one episode in the terminal: type an action, or the number of an admissible one."""
    read = read or input
    kwargs = {"max_turns": args.max_turns} if args.max_turns else {}
    entry, env = _make(args.env, **kwargs)
    obs, info = env.reset(seed=args.seed, options={"task_id": args.task_id})
    out.write(f"{entry.env_id}, task {info['task_id']} (type 'quit' to stop)\n\n{obs}\n")
    total = 0.0
    while True:
        actions = info["admissible_actions"]
        out.write("\nAdmissible actions:\n" + "".join(f"  {i}. {a}\n" for i, a in enumerate(actions, 1)))
        try:
            typed = read(f"[turn {env.turn + 1}/{env.max_turns}] > ").strip()
        except EOFError:
            typed = "quit"
        if typed.lower() in ("quit", "exit", "q"):
            out.write("Stopped.\n")
            return 0
        if typed.isdigit() and not 1 <= int(typed) <= len(actions):  # a slip, not an action: no turn spent
            out.write(f"{typed} is not one of the numbers above (1-{len(actions)}); type a number or an action.\n")
            continue
        action = actions[int(typed) - 1] if typed.isdigit() else typed
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        out.write(f"\n> {action}\n{obs}\n")
        if reward:
            out.write(f"(reward {reward:.3f})\n")
        if terminated or truncated:
            end = "won" if info["won"] else ("out of turns" if truncated else "episode over")
            out.write(f"\nEpisode ended ({end}) after {env.turn} turns; total reward {total:.3f}.\n")
            return 0


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Oracle and random-admissible play on the first N tasks of a split, per env."""
    from agentprm_bench.envs.check import check_env_players

    names = args.env or list(ENVS)
    out.write(f"{'env':24s} {'player':8s} {'episodes':>8s} {'success':>8s} {'reward':>8s} {'turns':>6s} {'max':>4s}\n")
    for name in names:
        entry, env = _make(name, split=args.split)
        ids = list(env.splits()[args.split])[: args.tasks]
        for s in check_env_players(env, ids, seed=args.seed, progress=not args.no_progress):
            out.write(f"{entry.env_id:24s} {s.player:8s} {s.episodes:8d} {s.success_rate:8.3f} "
                      f"{s.mean_reward:8.3f} {s.mean_turns:6.2f} {s.max_turns:4d}\n")
    return 0


def _given(args: argparse.Namespace, *names: str) -> dict:
    """The options the user gave; the rest keep the config dataclass's defaults."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def _policy_options(args: argparse.Namespace) -> dict:
    options = {"model": args.model, "temperature": args.temperature, "top_p": args.top_p, "p": args.p,
               "base_url": args.base_url, "served_model": args.served_model, "max_new_tokens": args.max_new_tokens,
               "decoding": args.decoding}
    if args.model is None and (args.policy == "hf" or (args.policy == "vllm" and args.base_url is None)):
        from agentprm_bench.paths import default_policy_dir

        options["model"] = str(default_policy_dir(resolve_env(args.env).short_name))
    return {k: v for k, v in options.items() if v is not None}


def confirm_large(trajectories: int, what: str, args: argparse.Namespace) -> None:
    """In interactive use, ask before sampling a large number of trajectories (``--yes`` skips it)."""
    from agentprm_bench.agents.collect import LARGE_TRAJECTORIES

    if trajectories < LARGE_TRAJECTORIES or getattr(args, "yes", False) or not sys.stdin.isatty():
        return
    answer = input(f"{what} samples up to {trajectories:,} trajectories. Continue? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise UserError(f"stopped before sampling {trajectories:,} trajectories; pass --yes to skip this question "
                        f"or ask for fewer (--tasks, --samples, --budget)")


def cmd_collect(args: argparse.Namespace, out: TextIO) -> int:
    """Sample trajectories into DIR/trajectories.jsonl (resumable), then print a summary."""
    from agentprm_bench.agents.collect import CollectConfig, collect
    from agentprm_bench.agents.summary import summarize_trajectories
    from agentprm_bench.agents.trajectory import read_trajectories

    config = CollectConfig(env=args.env, policy=args.policy, split=args.split, samples=args.samples,
                           tasks=args.tasks, seed=args.seed, max_turns=args.max_turns,
                           policy_options=_policy_options(args), **_given(args, "batch_size"))
    confirm_large(len(config.task_ids()) * config.samples, "this collection", args)
    path = collect(config, args.out, progress=not args.no_progress)
    s = summarize_trajectories(list(read_trajectories(path)))
    out.write(f"{path}: {s.trajectories} trajectories over {s.tasks} tasks\n"
              f"success {s.success_rate:.3f}  mean reward {s.mean_reward:.3f}  mean turns {s.mean_turns:.2f}  "
              f"invalid actions {s.invalid_action_rate:.3f}  parse failures {s.parse_failure_rate:.3f}\n"
              f"policy tokens in {s.policy_tokens_in}  out {s.policy_tokens_out}  env steps {s.env_steps}  "
              f"wall {s.wall_time_s:.1f}s\n")
    return 0


def cmd_train_policy(args: argparse.Namespace, out: TextIO) -> int:
    """Train the default small policy by behaviour cloning; save it where `hf` finds it."""
    from agentprm_bench.agents.bc import default_config, train_policy
    from agentprm_bench.paths import default_policy_dir

    entry = resolve_env(args.env)
    cfg = default_config(entry.env_id, **_given(args, "oracle_episodes", "noisy_episodes", "noisy_p", "noisy_labels",
                                                "epochs", "max_minutes", "seed", "loss", "pre_tokenizer", "batch_size",
                                                "lr", "layers", "hidden_size", "lm_weight",
                                                "curriculum_steps", "max_len", "max_obs_chars", "max_prompt_chars",
                                                "examples"))
    target = args.out or default_policy_dir(entry.short_name)
    meta = train_policy(cfg, target, progress=not args.no_progress)
    m = meta["metrics"]
    out.write(f"saved {target}\n{m['parameters']:,} parameters, {m['examples']} examples from "
              f"{m['demonstrations']} demonstrations, {m['optimizer_steps']}/{m['planned_steps']} steps, "
              f"{m['train_tokens']:,} tokens, final loss {m['final_loss']:.3f}, {m['total_seconds']:.0f}s in all\n")
    return 0


def cmd_label(args: argparse.Namespace, out: TextIO) -> int:
    """Make TD-GAE or Monte-Carlo step labels from collected trajectories."""
    import json

    from agentprm_bench.prm.labelling import LABEL_CONFIG, LabelConfig, make_labels

    options = {}
    if args.method == "mc":
        args.env = args.env or _env_of(args.trajectories)
        options = _policy_options(args)
    cfg = LabelConfig(method=args.method, policy=args.policy, policy_options=options,
                      **_given(args, "gamma", "lam", "n_td", "n_mc", "mc_target", "seed", "batch_size"))
    path = make_labels(_trajectories_file(args.trajectories), args.out, cfg, progress=not args.no_progress)
    c = json.loads((path.parent / LABEL_CONFIG).read_text())["compute"]
    out.write(f"{path}: {c['trajectories']} labelled trajectories ({args.method}); cost: {c['sampled_tokens']} "
              f"sampled tokens, {c['prompt_tokens']} prompt tokens, {c['env_steps']} env steps, "
              f"{c['rollouts']} extra rollouts\n")
    return 0


def _trajectories_file(path: str):
    from pathlib import Path

    from agentprm_bench.agents.collect import TRAJECTORIES

    p = Path(path)
    return p / TRAJECTORIES if p.is_dir() else p


def _env_of(trajectories: str) -> str:
    from agentprm_bench.agents.trajectory import read_trajectories

    for t in read_trajectories(_trajectories_file(trajectories)):
        return t.env_id
    raise UserError(f"{trajectories} holds no trajectories")


def cmd_train(args: argparse.Namespace, out: TextIO) -> int:
    """Train a reward model on a labels file; the checkpoint directory resumes if re-run."""
    from pathlib import Path

    from agentprm_bench.paths import default_policy_dir
    from agentprm_bench.prm.labelling import LABELS
    from agentprm_bench.prm.train import TrainConfig, train_reward_model

    labels = Path(args.labels)
    labels = labels / LABELS if labels.is_dir() else labels
    backbone = args.backbone
    if backbone is None:
        from agentprm_bench.prm.labelling import read_labels

        first = read_labels(labels)[:1]
        if not first:
            raise UserError(f"{labels} holds no labels")
        backbone = str(default_policy_dir(resolve_env(first[0]["env_id"]).short_name))
    cfg = TrainConfig(rm=args.rm, labels=str(labels), backbone=backbone,
                      expert=args.expert and str(_trajectories_file(args.expert)),
                      **_given(args, "beta", "gamma", "lam", "iterations", "epochs", "batch_size", "grad_accum", "lr",
                               "max_minutes", "seed", "max_len", "max_obs_chars"))
    m = train_reward_model(cfg, args.out, progress=not args.no_progress)
    out.write(f"saved {args.out}: {args.rm}, {m['steps']} steps on {m['train_trajectories']} trajectories, "
              f"{m['seconds']:.0f}s; validation ({m.get('val_trajectories', 0)} trajectories): "
              f"step MSE {m.get('step_mse', float('nan')):.4f}, final-step AUC {m.get('final_auc', float('nan')):.3f}\n")
    return 0


def _add_length_options(p: argparse.ArgumentParser) -> None:
    """How much of a trajectory a trained model reads (train-policy and train)."""
    p.add_argument("--max-len", type=positive_int, default=None,
                   help="longest sequence in tokens (longer ones are cut or left out, with a warning)")
    p.add_argument("--max-obs-chars", type=positive_int, default=None,
                   help="each observation clipped in the middle to this many characters")


def _add_policy_options(p: argparse.ArgumentParser) -> None:
    """The options a policy may take (each passed only to policies that accept it)."""
    p.add_argument("--model", default=None, help="local model dir for hf/vllm (default: the trained default)")
    p.add_argument("--temperature", type=nonneg_float, default=None)
    p.add_argument("--top-p", type=top_p, default=None)
    p.add_argument("--max-new-tokens", type=positive_int, default=None)
    p.add_argument("--p", type=probability, default=None, help="noisy-oracle: probability of the oracle action")
    p.add_argument("--base-url", default=None, help="vllm: an OpenAI-compatible server, e.g. http://host:8000/v1")
    p.add_argument("--served-model", default=None, help="vllm server: the model name it serves (default: --model)")
    p.add_argument("--decoding", default=None, choices=["free", "admissible"],
                   help="hf: sample free text or only admissible actions (default: the model's own setting)")


def cmd_eval_rm(args: argparse.Namespace, out: TextIO) -> int:
    """Probe metrics (``--probe``), or final-step AUC (vs success) and MSE (vs reward) of reward models
    on held-out trajectories."""
    from agentprm_bench.cli_probe import check_eval_args, cmd_eval_probe
    from agentprm_bench.prm.evaluate import evaluate_reward_model
    from agentprm_bench.prm.model import RewardModel

    check_eval_args(args)
    if args.probe:
        return cmd_eval_probe(args, out)
    width = max([40, *(len(p) for p in args.rm)])
    out.write(f"{'reward model':{width}s} {'kind':12s} {'traj':>5s} {'success':>8s} {'AUC':>6s} {'MSE':>7s} "
              f"{'score|win':>9s} {'score|fail':>10s}\n")
    for path in args.rm:
        rm = RewardModel.load(path)
        e = evaluate_reward_model(rm, _trajectories_file(args.trajectories))
        out.write(f"{path:{width}s} {rm.meta.get('kind', '?'):12s} {e.trajectories:5d} {e.success_rate:8.3f} "
                  f"{e.final_auc:6.3f} {e.final_mse:7.4f} {e.mean_score_success:9.3f} {e.mean_score_failure:10.3f}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentprm-bench", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("envs", help="list registered environments with task counts and splits")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("play", help="play an episode in the terminal")
    p.add_argument("env", help="environment id or short name (webshop, babyai, textcraft)")
    p.add_argument("--task-id", type=nonneg_int, default=None, help="global task id (default: drawn from the split)")
    p.add_argument("--seed", type=nonneg_int, default=None)
    p.add_argument("--max-turns", type=positive_int, default=None)
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("check", help="oracle vs random-admissible play on a split")
    p.add_argument("--env", action="append", help="environment (repeatable; default: all)")
    p.add_argument("--split", default="test", help="train, test, or another split the env has (WebShop: eval)")
    p.add_argument("--tasks", type=positive_int, default=200, help="first N tasks of the split")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_check)

    from agentprm_bench.agents.base import POLICIES

    p = sub.add_parser("collect", help="sample trajectories with a policy (resumable)")
    p.add_argument("--env", required=True)
    p.add_argument("--policy", required=True, help=f"one of: {', '.join(POLICIES.names())}")
    p.add_argument("--out", required=True, help="output directory (resumes if it holds the same collection)")
    p.add_argument("--split", default="train", help="train, test, or another split the env has (WebShop: eval)")
    p.add_argument("--samples", type=positive_int, default=16, help="trajectories per task")
    p.add_argument("--yes", action="store_true", help="do not ask before a large collection")
    p.add_argument("--tasks", type=positive_int, default=None, help="first N tasks of the split (default: all)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=None, help="episodes stepped in lock-step")
    p.add_argument("--max-turns", type=positive_int, default=None)
    _add_policy_options(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("train-policy", help="train the default small policy by behaviour cloning")
    p.add_argument("--env", required=True)
    p.add_argument("--out", default=None, help="model directory (default: the cache used by `hf`)")
    p.add_argument("--oracle-episodes", type=nonneg_int, default=None)
    p.add_argument("--noisy-episodes", type=nonneg_int, default=None)
    p.add_argument("--noisy-p", type=probability, default=None)
    p.add_argument("--noisy-labels", default=None, choices=["taken", "oracle"],
                   help="label noisy-demo states with the action taken or the oracle's (default: per env)")
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--loss", default=None, choices=["tokens", "decisions"],
                   help="cross-entropy on every reply token, or only on choices among admissible actions")
    p.add_argument("--lm-weight", type=nonneg_float, default=None,
                   help="add this weight times a next-token loss on the whole prompt (pages included)")
    p.add_argument("--pre-tokenizer", default=None, choices=["byte", "spaces", "words"],
                   help="where the tokenizer's words start (default: per env; see README)")
    p.add_argument("--curriculum-steps", type=nonneg_int, default=None,
                   help="warm-up steps on each condensed view of the env's states before the whole prompts")
    p.add_argument("--examples", default=None, choices=["steps", "episodes"],
                   help="one training sequence per step, or an episode's steps as one sequence where its chat "
                        "only grows (tokens loss; default: per env)")
    p.add_argument("--max-prompt-chars", type=positive_int, default=None,
                   help="the prompt's character budget; older turns are dropped beyond it (default: per env)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="sequences per optimizer step (steps, or merged episodes with --examples episodes)")
    p.add_argument("--lr", type=positive_float, default=None)
    p.add_argument("--layers", type=positive_int, default=None)
    p.add_argument("--hidden-size", type=positive_int, default=None)
    p.add_argument("--max-minutes", type=positive_float, default=None)
    _add_length_options(p)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train_policy)

    p = sub.add_parser("label", help="TD-GAE or Monte-Carlo step labels from trajectories")
    p.add_argument("--method", required=True, choices=["td-gae", "mc"])
    p.add_argument("--trajectories", required=True, help="a collect output dir or its trajectories.jsonl")
    p.add_argument("--out", required=True)
    p.add_argument("--gamma", type=probability, default=None)
    p.add_argument("--lam", type=probability, default=None)
    p.add_argument("--n-td", type=positive_int, default=None, help="td-gae: trajectories per task")
    p.add_argument("--n-mc", type=positive_int, default=None, help="mc: rollouts after each step")
    p.add_argument("--mc-target", default=None, choices=["soft", "hard"])
    p.add_argument("--policy", default="hf", help="mc: the rollout policy")
    p.add_argument("--env", default=None, help=argparse.SUPPRESS)
    _add_policy_options(p)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_label)

    from agentprm_bench.prm.train import REWARD_MODELS

    p = sub.add_parser("train", help="train a reward model (ORM, PVM, AgentPRM, MC-PRM, InversePRM)")
    p.add_argument("--rm", required=True, choices=sorted(REWARD_MODELS))
    p.add_argument("--labels", required=True, help="a label output dir or its labels.jsonl")
    p.add_argument("--out", required=True, help="checkpoint directory (resumes when re-run)")
    p.add_argument("--backbone", default=None, help="local transformers dir (default: the env's default policy)")
    p.add_argument("--expert", default=None, help="inverse-prm: demonstration trajectories")
    p.add_argument("--beta", type=nonneg_float, default=None)
    p.add_argument("--gamma", type=probability, default=None)
    p.add_argument("--lam", type=probability, default=None)
    p.add_argument("--iterations", type=positive_int, default=None)
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--grad-accum", type=positive_int, default=None)
    p.add_argument("--lr", type=positive_float, default=None)
    p.add_argument("--max-minutes", type=positive_float, default=None)
    _add_length_options(p)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval-rm", help="reward models on a probe set (step ranking vs Monte-Carlo Q), or their "
                                       "final-step AUC and MSE on held-out trajectories")
    p.add_argument("--rm", required=True, action="append", help="checkpoint directory (repeatable)")
    p.add_argument("--probe", help="an env's shipped probe set (e.g. textcraft) or a `probe --out` directory")
    p.add_argument("--trajectories", help="a collect output dir or its trajectories.jsonl")
    p.add_argument("--out", help="with --probe: append the metrics to OUT/probe_eval.jsonl")
    p.set_defaults(func=cmd_eval_rm)
    from agentprm_bench.cli_improve import add_improve_command
    from agentprm_bench.cli_probe import add_probe_commands
    from agentprm_bench.cli_search import add_search_commands

    add_search_commands(sub)
    add_probe_commands(sub)
    add_improve_command(sub)
    for name in TORCH_COMMANDS:  # every command that runs torch
        sub.choices[name].add_argument(
            "--threads", type=positive_int, default=None,
            help="torch threads (default: the cores this process may use, or OMP_NUM_THREADS); on a busy "
                 "machine fewer threads than cores avoid oversubscription")
    return parser


TORCH_COMMANDS = ("collect", "train-policy", "label", "train", "eval-rm", "run", "sweep", "build-defaults", "probe",
                  "improve")


def default_threads() -> int:
    """The cores this process may use, or OMP_NUM_THREADS where it is set."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    from agentprm_bench.progress import TqdmLogHandler

    args = build_parser().parse_args(argv)
    if hasattr(args, "threads") and (args.threads is not None or "OMP_NUM_THREADS" in os.environ):
        import torch  # only for commands that run torch

        torch.set_num_threads(args.threads or default_threads())
    handler = TqdmLogHandler(sys.stderr)  # log lines never share a progress bar's line
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        return args.func(args, out or sys.stdout)
    except UserError as exc:
        sys.stderr.write(f"agentprm-bench: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("agentprm-bench: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
