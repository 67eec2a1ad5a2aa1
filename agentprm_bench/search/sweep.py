"""``agentprm-bench sweep``: the grid envs x methods x searches x budgets, resumable.

Each cell is one ``run`` appended to OUT/results.jsonl. Cells whose key is already there are
skipped, so a killed sweep re-run with the same options finishes the grid with no duplicates
(a Best-of-N cell cut mid-way is re-run whole; a beam cell resumes from its finished task groups,
``search.partial``). ``none`` and ``greedy`` run once per env with BoN-style
sampling (``none`` at every budget, ``greedy`` at budget 1); beam cells need a reward model
and a budget of at least the expansion M.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from agentprm_bench.jsonl import repair_tail
from agentprm_bench.locks import exclusive
from agentprm_bench.search.methods import METHODS
from agentprm_bench.search.results import RESULTS, ResultRecord, read_results, run_key
from agentprm_bench.search.run import RunConfig, run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepConfig:
    envs: tuple[str, ...] = ("textcraft", "babyai", "webshop")
    methods: tuple[str, ...] = ("agentprm", "pvm", "orm", "none")
    searches: tuple[str, ...] = ("bon", "beam")
    budgets: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    tasks: int = 10
    seed: int = 0
    seeds: tuple[int, ...] | None = None  # several seeds: each varies the sample pool and the default RM's training
    temperature: float = 0.7
    expand: int = 4
    policy: str | None = None  # as in ``run``: a model dir or scripted policy (None: the default per env)
    backend: str | None = None  # as in ``run``
    base_url: str | None = None  # as in ``run``
    reward_models: tuple[tuple[str, str], ...] = ()  # (method, checkpoint dir) pairs; others use the default
    out: str = "runs"


def cells(cfg: SweepConfig) -> Iterator[RunConfig]:
    """Every run of the grid, cheap ones first within an env (BoN reuses one sample pool)."""
    base = RunConfig(tasks=cfg.tasks, seed=cfg.seed, temperature=cfg.temperature, expand=cfg.expand, out=cfg.out,
                     policy=cfg.policy, backend=cfg.backend, base_url=cfg.base_url)
    chosen = dict(cfg.reward_models)
    for seed in cfg.seeds or (cfg.seed,):
        yield from (replace(c, seed=seed) for c in _grid(cfg, base, chosen))


def _grid(cfg: SweepConfig, base: RunConfig, chosen: dict[str, str]) -> Iterator[RunConfig]:
    for env in cfg.envs:
        for search in cfg.searches:
            for name in cfg.methods:
                method = METHODS.get(name)
                if search == "beam" and method.rm is None:
                    continue
                budgets = (1,) if name == "greedy" else cfg.budgets
                for budget in budgets:
                    if search == "beam" and budget < cfg.expand:
                        continue
                    yield replace(base, env=env, method=name, search=search, budget=budget,
                                  reward_model=chosen.get(name))


def sweep(cfg: SweepConfig, progress: bool = True,
          on_record: Callable[[ResultRecord], None] | None = None) -> list[ResultRecord]:
    path = Path(cfg.out) / RESULTS
    with exclusive(cfg.out):  # a second sweep on OUT waits, then skips the cells this one wrote
        repair_tail(path)  # a record cut by a kill is dropped and its cell re-run
        done = {r.key for r in read_results(path)} if path.is_file() else set()
        new = []
        for cell in cells(cfg):
            if run_key(asdict(cell)) in done:
                continue
            record = run(cell, progress=progress)
            done.add(record.key)
            new.append(record)
            if on_record:
                on_record(record)
    return new
