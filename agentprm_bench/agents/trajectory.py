"""The trajectory record: one JSON line per sampled episode (schema below, typed in code).

Trajectory (schema_version 1)
  env_id            str    gymnasium id, e.g. "agentprm/BabyAI-v1"
  env_version       int    the id's version suffix (v0 -> 0)
  task_id           int    global task id
  sample_index      int    which of the N samples of this task (0..N-1)
  seed              int    the run's base seed; step seeds derive from (seed, task, sample, turn)
  policy            dict   the policy's ``describe()`` (name and settings)
  steps             list   one Step per action, in order
  final_observation str    the observation after the last action
  final_reward      float  total reward of the episode (WebShop/TextCraft: the end reward)
  won               bool   the env's success flag
  truncated         bool   ended by the turn limit
  compute           dict   policy_tokens_in, policy_tokens_out, env_steps, wall_time_s
  package_version   str

Step
  observation  str    o_t, the observation the action was taken on
  action       str    the action sent to the env
  raw          str    the policy's generated text (== action for scripted policies)
  parsed       bool   False if no action could be parsed from ``raw``
  valid        bool   the env's ``info["valid_action"]`` for this step
  reward       float  r_t
  done         bool   the episode ended after this action
  tokens_in    int    policy prompt tokens computed for this step (hf: after its prompt cache)
  tokens_out   int    policy tokens generated for this step
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

from agentprm_bench.jsonl import read_records
from agentprm_bench.schema import check_fields

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Step:
    observation: str
    action: str
    raw: str
    parsed: bool
    valid: bool
    reward: float
    done: bool
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True)
class Compute:
    policy_tokens_in: int = 0
    policy_tokens_out: int = 0
    env_steps: int = 0
    wall_time_s: float = 0.0


@dataclass(frozen=True)
class Trajectory:
    env_id: str
    task_id: int
    sample_index: int
    seed: int
    policy: dict[str, Any]
    steps: tuple[Step, ...]
    final_observation: str
    final_reward: float
    won: bool
    truncated: bool
    compute: Compute = field(default_factory=Compute)
    env_version: int = 0
    package_version: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> tuple[int, int]:
        return (self.task_id, self.sample_index)

    @property
    def observations(self) -> list[str]:
        return [s.observation for s in self.steps] + [self.final_observation]

    @property
    def actions(self) -> list[str]:
        return [s.action for s in self.steps]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Trajectory":
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {d.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        _check_keys(cls, d)
        steps = []
        for s in d["steps"]:
            _check_keys(Step, s)
            steps.append(Step(**s))
        _check_keys(Compute, d["compute"])
        traj = cls(**{**d, "steps": tuple(steps), "compute": Compute(**d["compute"])})
        check_fields(traj)
        if not traj.steps:
            raise ValueError("a trajectory has at least one step")
        return traj


def _check_keys(cls: type, d: dict[str, Any]) -> None:
    if not isinstance(d, dict):
        raise TypeError(f"{cls.__name__} must be an object")
    known = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
    missing, unknown = required - set(d), set(d) - known
    if missing or unknown:
        raise KeyError(f"{cls.__name__}: missing {sorted(missing)}, unknown {sorted(unknown)}")


def read_trajectories(path: Path) -> Iterator[Trajectory]:
    return read_records(Path(path), Trajectory.from_json, what="trajectory record")
