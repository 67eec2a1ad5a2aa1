"""The rollout stage: sample N trajectories per task into DIR/trajectories.jsonl, resumably.

A run writes ``config.json`` (its ``CollectConfig`` plus provenance) and appends one line per
finished trajectory, fsynced. Re-running with the same config skips finished (task, sample)
pairs and drops a half-written last line, so a killed run continues where it stopped with
no loss and no duplicates. More ``--tasks`` or ``--samples`` extend a collection (search
keeps its sample pools this way); any other difference in the same directory is refused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.rollout import rollout
from agentprm_bench.agents.trajectory import Trajectory, read_trajectories
from agentprm_bench.envs import first_tasks, resolve_env
from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import append_records, repair_tail, write_text_atomic
from agentprm_bench.locks import exclusive
from agentprm_bench.schema import check_fields, read_json
from agentprm_bench.provenance import stamp

log = logging.getLogger(__name__)
TRAJECTORIES = "trajectories.jsonl"
CONFIG = "config.json"


@dataclass(frozen=True)
class CollectConfig:
    env: str
    policy: str
    split: str = "train"
    samples: int = 16
    tasks: int | None = None  # first N task ids of the split (None: all)
    seed: int = 0
    batch_size: int = 32
    max_turns: int | None = None
    policy_options: dict[str, Any] = field(default_factory=dict)

    def task_ids(self) -> list[int]:
        return first_tasks(resolve_env(self.env), self.split, self.tasks)


EXTENDABLE = ("tasks", "samples", "batch_size")  # more tasks or samples extend a collection


def _check_config(out: Path, config: CollectConfig) -> None:
    path = out / CONFIG
    stored = {"config": asdict(config), **stamp()}
    if path.exists():
        previous = read_json(path, f"delete {out} or choose another --out").get("config")
        try:
            check_fields(CollectConfig(**previous))
        except TypeError as exc:
            raise UserError(f"{path} is damaged ({exc}); delete {out} or choose another --out") from None
        now = json.loads(json.dumps(asdict(config)))
        changed = sorted(k for k in set(previous) | set(now) if k not in EXTENDABLE and previous.get(k) != now.get(k))
        if changed:
            raise UserError(f"{out} holds a collection with other settings ({', '.join(changed)}); "
                            f"use the same options to resume or extend it, or another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(stored, indent=2) + "\n")


def collect(config: CollectConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Run (or resume) a collection; returns the trajectories file."""
    out = Path(out_dir)
    entry = resolve_env(config.env)
    config = CollectConfig(**{**asdict(config), "env": entry.env_id})
    task_ids = config.task_ids()  # bad sizes fail before anything is written
    if config.samples < 1:
        raise UserError(f"--samples must be at least 1, got {config.samples}")
    with exclusive(out):  # a second writer waits, then resumes from what this one wrote
        return _collect_locked(config, out, task_ids, progress)


def finished_pairs(path: Path, walls: list[float] | None = None) -> set[tuple[int, int]]:
    """The (task, sample) pairs of a trajectories file (their wall times appended to ``walls``);
    a pair written twice is refused."""
    done: set[tuple[int, int]] = set()
    for lineno, t in enumerate(read_trajectories(path), 1):
        if t.key in done:
            raise UserError(f"{path} holds (task {t.key[0]}, sample {t.key[1]}) twice (again in record {lineno}); "
                            f"delete the repeated lines, or the file, and collect again")
        done.add(t.key)
        if walls is not None:
            walls.append(t.compute.wall_time_s)
    return done


LARGE_TRAJECTORIES = 5_000  # from here on the cost line is a warning
LARGE_MINUTES = 30.0


def cost_line(config: CollectConfig, out: Path, jobs: int, walls: list[float]) -> tuple[str, bool]:
    """What a collection is about to cost (trajectories, env steps at most, minutes at the rate
    measured in this collection so far), and whether that is large."""
    entry = resolve_env(config.env)
    turns = config.max_turns or entry.load_class().default_max_turns
    text = (f"{entry.env_id} {config.policy}: {jobs:,} trajectories to sample into {out} "
            f"(at most {jobs * turns:,} env steps)")
    minutes = None
    if walls:  # each trajectory records its share of the batch's time: they add up to the elapsed time
        minutes = jobs * float(sum(walls) / len(walls)) / 60
        text += f", about {minutes:.1f} min at the rate measured here ({len(walls):,} trajectories so far" + (
            ")" if len(walls) >= config.batch_size else  # a cut batch leaves its shortest episodes: too few, too fast
            ", fewer than a batch: the first to finish, so the estimate may be low)")
    else:
        text += "; the progress bar gives the rate after the first batch"
    return text, jobs >= LARGE_TRAJECTORIES or (minutes is not None and minutes >= LARGE_MINUTES)


def _collect_locked(config: CollectConfig, out: Path, task_ids: list[int], progress: bool) -> Path:
    entry = resolve_env(config.env)
    _check_config(out, config)
    path = out / TRAJECTORIES
    dropped = repair_tail(path)
    if dropped:
        log.warning("dropped an unfinished last line (%d bytes) of %s", dropped, path)
    walls: list[float] = []
    done = finished_pairs(path, walls) if path.exists() else set()
    jobs = [(t, s) for t in task_ids for s in range(config.samples) if (t, s) not in done]
    if not jobs:
        log.info("%s is complete (%d trajectories)", path, len(done))
        return path
    line, large = cost_line(config, out, len(jobs), walls)
    log.log(logging.WARNING if large else logging.INFO, "%s", line)
    policy = make_policy(config.policy, **config.policy_options)

    def write(traj: Trajectory) -> None:
        if traj.key in done:  # never write a pair twice
            return
        done.add(traj.key)
        append_records(path, [traj.to_json()])

    env_kwargs = {"split": config.split} | ({"max_turns": config.max_turns} if config.max_turns else {})
    rollout(entry.env_id, policy, jobs, config.seed, write, env_kwargs=env_kwargs,
            batch_size=config.batch_size, progress=progress, total=len(jobs))
    return path
