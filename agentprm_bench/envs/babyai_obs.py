"""minigrid's partial observation, read straight from the level's grid.

minigrid builds the agent's view by slicing a sub-grid (a new ``Wall`` object per cell outside
the level), rotating it once per direction step (a new grid each time), propagating visibility
over it and encoding it cell by cell through numpy scalar writes; in a BabyAI text step that is
most of the raw minigrid step, and the text env pays it on every primitive. ``observation``
computes the same dict (``image``, ``direction``, ``mission``) from per-(view size, direction)
tables of each view cell's offset from the agent: one grid lookup and one ``encode`` per cell,
the visibility sweep on a flat list, one array built at the end. ``install`` makes a level
object's ``step`` and ``reset`` use it; the original is kept as ``minigrid_gen_obs`` for
comparison. The tests hold the two equal on random walks of every level (pick-ups, drops and
door toggles included), and the AgentGym recordings still pass.

Visibility, as minigrid defines it: the agent's cell is seen; rows are swept from the agent's
row outwards; within a row a seen cell that does not block sight (empty, or an object whose
``see_behind()`` is true) makes its neighbour seen, first left to right, then right to left,
and also the cell beyond it and the cell diagonally beyond the neighbour. Unseen cells encode as
``(0, 0, 0)``; the agent's own cell shows what it carries, else empty.
"""

from __future__ import annotations

from functools import lru_cache
from types import MethodType
from typing import Any

import numpy as np
from minigrid.core.constants import DIR_TO_VEC, OBJECT_TO_IDX
from minigrid.core.world_object import Wall

_OUTSIDE = Wall()  # what minigrid shows beyond the level's edge (a grey wall; it blocks sight)
_EMPTY = (OBJECT_TO_IDX["empty"], 0, 0)
_UNSEEN = (0, 0, 0)


@lru_cache(maxsize=None)
def _offsets(size: int, d: int) -> tuple[tuple[int, int], ...]:
    """(dx, dy) from the agent of view cell ``(i, j)``, at index ``i * size + j`` (the image's
    memory order): the agent stands at ``(size // 2, size - 1)`` facing ``-j``."""
    fx, fy = (int(v) for v in DIR_TO_VEC[d])
    rx, ry = (int(v) for v in DIR_TO_VEC[(d + 1) % 4])
    out = []
    for i in range(size):
        for j in range(size):
            ahead, side = size - 1 - j, i - size // 2
            out.append((fx * ahead + rx * side, fy * ahead + ry * side))
    return tuple(out)


def _agent_index(size: int) -> int:
    """The agent's own view cell ``(size // 2, size - 1)`` at index ``i * size + j``."""
    return (size // 2) * size + size - 1


def _visible(clear: list[bool], size: int) -> list[bool]:
    """Seen view cells (index ``i * size + j``), given which cells let sight through."""
    seen = [False] * (size * size)
    seen[_agent_index(size)] = True
    for j in range(size - 1, -1, -1):
        for i in range(size - 1):  # left to right
            k = i * size + j
            if seen[k] and clear[k]:
                seen[k + size] = True
                if j > 0:
                    seen[k + size - 1] = True
                    seen[k - 1] = True
        for i in range(size - 1, 0, -1):  # right to left
            k = i * size + j
            if seen[k] and clear[k]:
                seen[k - size] = True
                if j > 0:
                    seen[k - size - 1] = True
                    seen[k - 1] = True
    return seen


def observation(level: Any) -> dict[str, Any]:
    """What ``level.gen_obs()`` returns, for a minigrid level with ``see_through_walls`` off."""
    size = level.agent_view_size
    px, py = int(level.agent_pos[0]), int(level.agent_pos[1])
    grid = level.grid
    width, height, cells = grid.width, grid.height, grid.grid
    objs = []
    for dx, dy in _offsets(size, int(level.agent_dir)):
        x, y = px + dx, py + dy
        objs.append(cells[y * width + x] if 0 <= x < width and 0 <= y < height else _OUTSIDE)
    seen = _visible([o is None or o.see_behind() for o in objs], size)
    codes = [(o.encode() if o is not None else _EMPTY) if s else _UNSEEN for o, s in zip(objs, seen)]
    carried = level.carrying
    codes[_agent_index(size)] = carried.encode() if carried is not None else _EMPTY
    image = np.array(codes, dtype=np.uint8).reshape(size, size, 3)
    return {"image": image, "direction": level.agent_dir, "mission": level.mission}


def install(level: Any) -> Any:
    """Make ``level`` (a minigrid env object) observe through ``observation``; returns it."""
    if level.see_through_walls:  # not a BabyAI setting; keep minigrid's own then
        return level
    level.minigrid_gen_obs = level.gen_obs
    level.gen_obs = MethodType(observation, level)
    return level
