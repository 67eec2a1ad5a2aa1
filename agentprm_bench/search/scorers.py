"""The reward-model side of search: anything that scores steps of paths.

A ``StepScorer`` has ``score_each`` (per-step scores and tokens read for whole paths; Best-of-N)
and ``score_expansions`` (the score of each candidate next action of a node; beam search).
``prm.model.RewardModel`` is one, reusing each node's encoded prefix. ``PathScorer`` gives
``score_expansions`` to scorers that only know whole paths (scripted ones, in tests).
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

Path_ = tuple[str, Sequence[str], Sequence[str]]  # (env_id, observations o_0..o_T, actions a_0..a_{T-1})


class StepScorer(Protocol):
    def score_each(self, trajectories: Sequence[Path_]) -> list[tuple[np.ndarray, int]]: ...

    def score_expansions(self, env_id: str, nodes: Sequence[tuple[Sequence[str], Sequence[str]]],
                         candidates: Sequence[Sequence[str]]) -> tuple[list[list[float]], int]: ...


class PathScorer:
    """Base for scorers of whole paths: expansions are scored as the full candidate paths."""

    def score_each(self, trajectories: Sequence[Path_]) -> list[tuple[np.ndarray, int]]:
        raise NotImplementedError

    def score_expansions(self, env_id: str, nodes: Sequence[tuple[Sequence[str], Sequence[str]]],
                         candidates: Sequence[Sequence[str]]) -> tuple[list[list[float]], int]:
        flat = [(env_id, obs, list(acts) + [a]) for (obs, acts), cands in zip(nodes, candidates) for a in cands]
        each = iter(self.score_each(flat))
        out, tokens = [], 0
        for cands in candidates:
            row = []
            for _ in cands:
                values, n = next(each)
                row.append(float(values[-1]))
                tokens += n
            out.append(row)
        return out, tokens
