"""Result records: one JSON line per (method, reward model, policy, env, split, search, budget) run.

ResultRecord (schema_version 1)
  method          str    registered method (agentprm, pvm, orm, mc-prm, inverse-prm, none, greedy, ...)
  reward_model    dict|None  id of the reward model: path, kind, label method (None without one)
  policy          dict   the policy's ``describe()``
  env_id, env_version, split
  search          str    "bon" | "beam" | "sample" (none, greedy)
  budget          int    N for Best-of-N, N*M for beam search, 1 for greedy
  width, expand   int    beam N and M (BoN: N and 1)
  aggregate       str    how step scores become a path score (BoN)
  metric          str    "success" or "reward" (the env's paper metric)
  value           float  the metric's mean over tasks
  ci_low, ci_high float  95% percentile-bootstrap interval over tasks (2000 resamples, seeded)
  success_rate, mean_reward  float
  tasks           list   per task: task_id, reward, success, chosen (sample index or -1), score, and for
                         BoN with a reward model plain_reward / plain_success (the mean over the same
                         N samples: plain sampling, for paired comparisons)
  compute         dict   policy_tokens_out, policy_tokens_in, rm_tokens, env_steps, trajectories, wall_time_s
  config          dict   the RunConfig that produced it
  seed, git_commit, packages, timestamp, schema_version
  machine         dict   the machine kind (``provenance.machine``; {} in records written before it)
Records are appended whole and fsynced (``jsonl.append_records``); a run's ``key`` identifies
it, so an interrupted sweep skips what it already wrote and never writes a record twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import read_records
from agentprm_bench.schema import check_fields

SCHEMA_VERSION = 1
RESULTS = "results.jsonl"


@dataclass(frozen=True)
class TaskResult:
    task_id: int
    reward: float
    success: float  # 0/1 for one chosen path; a fraction for ``none`` (mean over the samples)
    chosen: int = -1
    score: float | None = None
    plain_reward: float | None = None  # BoN: the mean over the N samples it chose among (plain sampling, paired)
    plain_success: float | None = None


@dataclass(frozen=True)
class ResultRecord:
    method: str
    reward_model: dict[str, Any] | None
    policy: dict[str, Any]
    env_id: str
    env_version: int
    split: str
    search: str
    budget: int
    width: int
    expand: int
    aggregate: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    success_rate: float
    mean_reward: float
    tasks: tuple[TaskResult, ...]
    compute: dict[str, float]
    config: dict[str, Any]
    seed: int
    git_commit: str
    packages: dict[str, str]
    timestamp: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return run_key(self.config)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ResultRecord":
        if not isinstance(d, dict) or d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {d.get('schema_version') if isinstance(d, dict) else d!r}, "
                             f"expected {SCHEMA_VERSION}")
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        if required - set(d) or set(d) - known:
            raise KeyError(f"missing {sorted(required - set(d))}, unknown {sorted(set(d) - known)}")
        if not isinstance(d["tasks"], list) or not all(isinstance(t, dict) for t in d["tasks"]):
            raise TypeError("tasks must be a list of objects")
        rec = cls(**{**d, "tasks": tuple(TaskResult(**t) for t in d["tasks"])})
        check_fields(rec)
        if not rec.tasks:
            raise ValueError("a result record has at least one task")
        return rec


def run_key(config: dict[str, Any]) -> tuple:
    """What makes two runs the same run: the fields of the run's config, ``out`` aside; unset
    (None) fields are left out, so a field added later keeps older records' keys."""
    return tuple(sorted((k, repr(v)) for k, v in config.items() if k not in ("out", "progress") and v is not None))


def read_results(path: str | Path) -> Iterator[ResultRecord]:
    return read_records(Path(path), ResultRecord.from_json, what="result record")


def result_files(paths: Iterable[str | Path]) -> list[Path]:
    """The result files that ``paths`` name: a file itself; a directory its results.jsonl, or when it
    has none every results.jsonl below it (sorted), e.g. one per (env, seed) of a reproduction."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not (p / RESULTS).is_file():
            files += sorted(p.rglob(RESULTS))
        else:
            files.append(p / RESULTS if p.is_dir() else p)
    return files


def latest_results(paths: Iterable[str | Path]) -> list[ResultRecord]:
    """Every run's latest record (a rerun supersedes its earlier record) from ``result_files(paths)``;
    none at all is an error."""
    latest: dict[tuple, ResultRecord] = {}
    for path in result_files(paths):
        for r in read_results(path):
            latest[r.key] = r
    if not latest:
        raise UserError("no result records found; run `agentprm-bench run` or `agentprm-bench sweep` first")
    return list(latest.values())


def bootstrap_ci(values: Sequence[float], seed: int = 0, resamples: int = 2000,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over tasks."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
