"""A beam-search run's finished task groups on disk, so that a killed run resumes where it stopped.

A beam run searches its tasks in groups (``run._beam``); a BabyAI run at @8x8 over 90 levels takes
hours on a CPU. After each group its per-task results and compute are appended (fsynced) to
``OUT/partial/beam-<digest>.jsonl``, the digest naming everything those results depend on: the run's
config, the policy's and reward model's identities (weights digests), the group size, the package's
commit and versions and the machine kind. Re-running the same run reads the groups found there and
searches only the others, in the groups an uninterrupted run forms, so the record is the one an
uninterrupted run writes (its wall time sums each group's measured time). The file is removed once
the record is appended. Only runs whose policy and reward model the run loads itself resume: an
object handed in by a caller has no identity to check.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentprm_bench.jsonl import append_records, read_records, repair_tail
from agentprm_bench.search.compute import SearchCompute
from agentprm_bench.search.results import TaskResult

PARTIAL_DIR = "partial"


@dataclass(frozen=True)
class Group:
    """One finished group: its first index in the run's task list, task ids, results and compute."""

    start: int
    task_ids: tuple[int, ...]
    results: tuple[TaskResult, ...]
    compute: SearchCompute

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Group":
        group = cls(int(d["start"]), tuple(int(t) for t in d["task_ids"]),
                    tuple(TaskResult(**r) for r in d["results"]), SearchCompute(**d["compute"]))
        if [r.task_id for r in group.results] != list(group.task_ids):
            raise ValueError("results do not match task_ids")
        return group


def partial_file(out: str | Path, identity: dict[str, Any]) -> Path:
    """Where the run named by ``identity`` keeps its finished groups."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(out) / PARTIAL_DIR / f"beam-{digest}.jsonl"


def finished_groups(path: Path) -> dict[int, Group]:
    """The groups saved in ``path`` by start index ({} if none); a line cut by a kill is dropped."""
    if not path.is_file():
        return {}
    repair_tail(path)
    return {g.start: g for g in read_records(path, Group.from_json, "partial beam group")}


def save_group(path: Path, group: Group) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    append_records(path, [asdict(group)])
