"""AgentGym's text rendering of a BabyAI grid: the description, the action menu and its primitives.

Pure functions of one minigrid state (the unwrapped env and its last ``obs``). They reproduce
AgentGym's ``agentenv-babyai`` server rule for rule, quirks included, because its text is
what the AgentPRM paper's BabyAI numbers were measured on:

* Objects are read from the 7x7 partial view image, far row first, left to right, then
  stably sorted by Manhattan distance; walls are described only as "facing a wall".
* Numbers in "pickup X n" / "go to X n" count only the objects of that name that a path
  reaches; the description numbers all of them.
* Paths are found by a breadth-first search over (cell, direction) inside the view's
  bounding ranges, forward first, then left, then right. A node is marked visited when
  it is popped, not when pushed, and a later push overwrites its parent, exactly as the
  server does; this decides which of several shortest paths (and sometimes a longer one)
  a high-level action walks.
* Closed and locked doors are not obstacles for that search (walking into one just stops).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

# minigrid's encoding tables (minigrid.core.constants); fixed by the observation format.
IDX_TO_OBJECT = {0: "unseen", 1: "empty", 2: "wall", 3: "floor", 4: "door", 5: "key", 6: "ball", 7: "box",
                 8: "goal", 9: "lava", 10: "agent"}
IDX_TO_COLOR = {0: "red", 1: "green", 2: "blue", 3: "purple", 4: "yellow", 5: "grey"}
IDX_TO_STATE = {0: "open", 1: "closed", 2: "locked"}
DIR_TO_VEC = ((1, 0), (0, 1), (-1, 0), (0, -1))
TURN_LEFT, TURN_RIGHT, FORWARD, PICKUP, DROP, TOGGLE = 0, 1, 2, 3, 4, 5

_DESCRIBED = ("door", "key", "ball", "box", "goal", "lava", "wall")
_BLOCKING = ("wall", "box", "lava", "ball", "key")  # name substrings a path may not enter
CHECK = "check available actions"
_S = 1 << 12  # cell code stride in find_paths (BabyAI grids are at most 25 cells wide)
_STEP = tuple(dx * _S + dy for dx, dy in DIR_TO_VEC)  # a forward move's change of cell code, by direction


class View:
    """What the agent sees now: the description text, the action menu, and error texts."""

    __slots__ = ("description", "actions", "errors")

    def __init__(self, description: str, actions: dict[str, list[int]], errors: dict[str, str]):
        self.description = description
        self.actions = actions  # action text -> minigrid primitives, in menu order
        self.errors = errors  # action text -> why it is not on the menu


def _pos_words(front: int, right: int) -> str:
    if right == 0:
        return f"right in front of you {front} steps away. "
    side = "right" if right > 0 else "left"
    return f"{front} steps in front of you and {abs(right)} steps to your {side}. "


def _ranges(top_left: np.ndarray, fwd: np.ndarray, right: np.ndarray, size: int) -> tuple[range, range]:
    """The view's coordinate ranges as the server computes them (one end exclusive, one inclusive)."""
    border = top_left + size * (-fwd + right)
    out = []
    for k in (0, 1):
        if border[k] < top_left[k]:
            out.append(range(int(border[k]), int(top_left[k]) + 1))
        else:
            out.append(range(int(top_left[k]), int(border[k])))
    return out[0], out[1]


def find_path(start: tuple[int, int], start_dir: int, goal: tuple[int, int], blocked: set[tuple[int, int]],
              xrange: range, yrange: range, any_objects: bool, arrive: bool) -> list[int] | None:
    """Primitives that bring the agent onto ``goal`` (arrive) or facing it, or None.

    The server's search, reproduced exactly (see the module docstring): FIFO queue, visited
    on pop, parents overwritten by later pushes, moves tried forward, left, right. With no
    object in view at all it checks neither bounds nor visits. ``read_view`` runs ``find_paths``
    (every goal in one search); this per-goal search is the reference the tests hold it to.
    """
    init = (start, start_dir)
    queue: list[tuple[tuple[int, int], int]] = [init]
    popped: set[tuple[tuple[int, int], int]] = set()
    parent: dict[tuple[tuple[int, int], int], tuple[tuple[tuple[int, int], int], int]] = {}
    head = 0
    while head < len(queue):
        node = queue[head]
        head += 1
        popped.add(node)
        (x, y), d = node
        if arrive:
            done = x == goal[0] and y == goal[1]
        else:
            done = goal[0] - x == DIR_TO_VEC[d][0] and goal[1] - y == DIR_TO_VEC[d][1]
        if done:
            path = []
            while node != init:
                node, action = parent[node]
                path.append(action)
            return path[::-1]
        for action in (FORWARD, TURN_LEFT, TURN_RIGHT):
            if action == FORWARD:
                nxt = ((x + DIR_TO_VEC[d][0], y + DIR_TO_VEC[d][1]), d)
            else:
                nxt = ((x, y), (d - 1) % 4 if action == TURN_LEFT else (d + 1) % 4)
            if any_objects and (nxt[0][0] not in xrange or nxt[0][1] not in yrange or nxt in popped
                                or nxt[0] in blocked):
                continue
            queue.append(nxt)
            parent[nxt] = (node, action)
    return None


def find_paths(start: tuple[int, int], start_dir: int, goals: set[tuple[tuple[int, int], bool]],
               blocked: set[tuple[int, int]], xrange: range, yrange: range) -> dict[tuple[tuple[int, int], bool], list[int]]:
    """``find_path`` for many (goal, arrive) pairs in one search, with objects in view: the search
    does not depend on its goal until it stops, so each goal gets the path its own search returns
    (taken at the pop that would have stopped it). Goals no path reaches are absent.

    Cells are coded ``x * _S + y``; ``read_view`` runs the same search (``_search``) on cells coded
    relative to the agent."""
    allowed = {x * _S + y for x in xrange for y in yrange} - {x * _S + y for x, y in blocked}
    arrive = {g[0] * _S + g[1]: (g, a) for g, a in goals if a}
    face = {g[0] * _S + g[1]: (g, a) for g, a in goals if not a}
    return _search(start[0] * _S + start[1], start_dir, arrive, face, allowed, _STEP)


def _search(start: int, start_dir: int, arrive: dict[int, Any], face: dict[int, Any], allowed: set[int],
            step: tuple[int, ...]) -> dict[Any, list[int]]:
    """The server's breadth-first search for every goal at once: ``arrive`` maps a goal cell to be
    stood on, ``face`` one to be faced, to the key its path is returned under. Cells are integer
    codes, ``step[d]`` a forward move's change of code in direction d; nodes are ``cell * 4 + d``.
    A move is allowed where ``find_path`` allows it (target cell in ``allowed``; a turn stays on its
    cell, so it is allowed where that cell is). Both dicts are consumed."""
    init = start * 4 + start_dir
    found: dict[Any, list[int]] = {}
    queue = [init]
    popped: set[int] = set()
    parent: dict[int, tuple[int, int]] = {}
    head = 0
    while head < len(queue) and (arrive or face):
        node = queue[head]
        head += 1
        popped.add(node)
        cell, d = node >> 2, node & 3
        ahead = cell + step[d]
        if cell in arrive or ahead in face:
            keys = ([arrive.pop(cell)] if cell in arrive else []) + ([face.pop(ahead)] if ahead in face else [])
            path, n = [], node
            while n != init:
                n, action = parent[n]
                path.append(action)
            path.reverse()
            for key in keys:
                found[key] = path
        if ahead in allowed:
            nxt = ahead * 4 + d
            if nxt not in popped:
                queue.append(nxt)
                parent[nxt] = (node, FORWARD)
        if cell in allowed:
            for action, turned in ((TURN_LEFT, (d - 1) & 3), (TURN_RIGHT, (d + 1) & 3)):
                nxt = cell * 4 + turned
                if nxt not in popped:
                    queue.append(nxt)
                    parent[nxt] = (node, action)
    return found


@lru_cache(maxsize=None)
def _layout(size: int, d: int) -> tuple[list[tuple[int, int, int, int, int]], frozenset[int], int, int, tuple[int, ...]]:
    """What a ``size`` x ``size`` view facing direction ``d`` looks like relative to the agent.

    Cells are scanned as the server scans the view image (far row first, left to right); for
    image cell ``(vi, vj)``, entry ``vj * size + vi`` is (x, y offset from the agent, Manhattan
    distance, cells ahead, cells to the right). Also: the relative cell codes (``x * width + y``,
    offsets shifted to be positive) inside the server's search ranges (``_ranges``, which
    translate with the agent), the shift and the width of that code, and a forward move's change of
    code by direction."""
    fwd, right = np.asarray(DIR_TO_VEC[d]), np.asarray(DIR_TO_VEC[(d + 1) % 4])
    cells = []
    for vj in range(size):
        for vi in range(size):
            ahead, side = size - 1 - vj, vi - size // 2
            rel = fwd * ahead + right * side
            cells.append((int(rel[0]), int(rel[1]), ahead + abs(side), ahead, side))
    off, width = size + 2, 2 * size + 5
    xrange, yrange = _ranges(fwd * (size - 1) - right * (size // 2), fwd, right, size)
    allowed = frozenset((x + off) * width + y + off for x in xrange for y in yrange)
    return cells, allowed, off, width, tuple(dx * width + dy for dx, dy in DIR_TO_VEC)


_SCANNED = np.zeros(256, dtype=bool)  # image object codes read_view looks at: the described kinds
_SCANNED[[k for k, v in IDX_TO_OBJECT.items() if v in _DESCRIBED]] = True


def read_view(env: Any, obs: dict[str, Any]) -> View:
    """The server's description and action menu for the unwrapped minigrid ``env`` after ``obs``."""
    size = env.agent_view_size
    px, py = int(env.agent_pos[0]), int(env.agent_pos[1])
    d = int(obs["direction"])
    layout, allowed, off, width, step = _layout(size, d)
    image = obs["image"].transpose(1, 0, 2).reshape(-1, 3)  # server scan order
    hits = np.flatnonzero(_SCANNED[image[:, 0]]).tolist()
    codes = image[hits].tolist()

    objs: list[tuple[str, tuple[int, int], int]] = []  # (name, cell, distance) of what is described, walls aside
    rel_words: dict[tuple[int, int], str] = {}  # cell -> its position words
    walls: list[tuple[int, int]] = []  # relative offsets of the walls in view
    blocking: list[tuple[int, int]] = []  # relative offsets of objects a path may not enter
    barriers: list[tuple[int, str]] = []  # (steps ahead, type) of boxes and walls on the facing line
    for k, (kind_code, color_code, state_code) in zip(hits, codes):
        rx, ry, dist, ahead, side = layout[k]
        ax, ay = px + rx, py + ry
        if ax < 0 or ay < 0 or dist == 0:
            continue
        kind = IDX_TO_OBJECT[kind_code]
        if kind == "wall":
            walls.append((rx, ry))
        else:
            color = IDX_TO_COLOR[color_code]
            name = f"{color} {IDX_TO_STATE[state_code]} door" if kind == "door" else f"{color} {kind}"
            objs.append((name, (ax, ay), dist))
            rel_words[(ax, ay)] = _pos_words(ahead, side)
            if kind in _BLOCKING:
                blocking.append((rx, ry))
        if side == 0 and kind in ("box", "wall"):
            barriers.append((ahead, kind))
    objs.sort(key=lambda o: o[2])

    if objs or walls:
        text = "In front of you in this room, you can see several objects: "
        seen: dict[str, int] = {}
        for name, cell, _ in objs:
            seen[name] = seen.get(name, 0) + 1
            text += f"There is a {name} {seen[name]} {rel_words[cell]} "
    else:
        text = "You cannot see any objects within sight."
    text += "The room has walls around you. "
    nearest = min(barriers) if barriers else None
    if nearest is not None:
        text += f"You are facing a {nearest[1]} {nearest[0]} steps away. "
    carrying = env.carrying
    text += f"You are carrying a {carrying.color} {carrying.type}." if carrying is not None \
        else "You are not carrying anything."
    face = DIR_TO_VEC[d]

    # every path the menu below asks for, in one search on cells coded relative to the agent
    wanted_arrive = {(cell[0] - px + off) * width + cell[1] - py + off: (cell, True)
                     for name, cell, _ in objs if "goal" in name or "open door" in name}
    wanted_face = {(cell[0] - px + off) * width + cell[1] - py + off: (cell, False)
                   for name, cell, _ in objs if "goal" not in name}
    if wanted_arrive or wanted_face:
        free = allowed.difference([(x + off) * width + y + off for x, y in walls + blocking])
        found = _search(off * width + off, d, wanted_arrive, wanted_face, free, step)
    else:
        found = {}

    def path(goal: tuple[int, int], arrive: bool) -> list[int] | None:
        steps = found.get((goal, arrive))
        return None if steps is None else list(steps)

    actions: dict[str, list[int]] = {"turn left": [TURN_LEFT], "turn right": [TURN_RIGHT]}
    errors: dict[str, str] = {}
    if nearest is None or nearest[0] > 1:
        actions["move forward"] = [FORWARD]
    else:
        errors["move forward"] = "There is a barrier in front of you, you can't move forward."

    if carrying is None:
        counted: dict[str, int] = {}
        for name, cell, _ in objs:
            if "wall" in name or "door" in name or "goal" in name:
                continue
            steps = path(cell, arrive=False)
            if steps is not None:
                counted[name] = 1 if f"pickup {name} 1" not in actions else counted[name] + 1
                actions[f"pickup {name} {counted[name]}"] = steps + [PICKUP]
            else:
                n = 1 if f"pickup {name} 1" not in actions else counted[name] + 1
                errors[f"pickup {name} {n}"] = f"You cannot pickup {name} {n}, as there is no path leading to it."

    if carrying is not None:
        if face in walls or face in blocking:  # a wall or an object a path may not enter
            errors["drop"] = "You cannot drop the object, as there is already an object in front of you."
        else:
            actions["drop"] = [DROP]
    else:
        errors["drop"] = "You cannot drop the object, as you are not carrying anything."

    doors: dict[str, int] = {}
    for name, cell, _ in objs:
        if "door" in name:
            doors[name] = doors.get(name, 0) + 1
        label = f"{name} {doors.get(name, 0)}"
        if "open door" in name:
            steps = path(cell, arrive=True)
            if steps is not None:
                actions[f"go through {label}"] = steps
            else:
                errors[f"go through {label}"] = f"You cannot go through {label}, as there is no path leading to it."
        if "closed door" in name:
            steps = path(cell, arrive=False)
            key = f"toggle and go through {label}"
            if steps is not None:
                actions[key] = steps + [TOGGLE, FORWARD]
            else:  # the server prints the whole door-count dict here
                errors[key] = f"You cannot toggle and go through {name} {doors}, as there is no path leading to it."
            if steps == []:
                actions["toggle"] = [TOGGLE]
            errors[f"go through {label}"] = f"You cannot go through {label}, as it is closed. You should toggle it first."
        if "locked door" in name:
            key = f"toggle and go through {label}"
            if carrying is None or carrying.type != "key":
                errors[key] = f"You cannot toggle and go through {label}, as you are not carrying a key."
                continue
            if carrying.color != name.split(" ")[0]:
                errors[key] = (f"You cannot toggle and go through {label}, as the color of the key you are "
                               "carrying does not match the color of door.")
                continue
            steps = path(cell, arrive=False)
            if steps is not None:
                actions[key] = steps + [TOGGLE, FORWARD]
            else:
                errors[key] = f"You cannot toggle and go through {name} {doors}, as there is no path leading to it."
            if steps == []:
                actions["toggle"] = [TOGGLE]

    for name, cell, _ in objs:
        if "goal" in name:
            steps = path(cell, arrive=True)
            if steps is not None:
                actions["go to goal"] = steps
            else:
                errors["go to goal"] = "You cannot go to the goal, as there is no path leading to it."

    reached: dict[str, int] = {}
    for name, cell, _ in objs:
        if "wall" in name or "goal" in name:
            continue
        steps = path(cell, arrive=False)
        if steps is not None:
            reached[name] = 1 if f"go to {name} 1" not in actions else reached[name] + 1
            actions[f"go to {name} {reached[name]}"] = steps
        else:
            n = 1 if f"go to {name} 1" not in actions else reached[name] + 1
            errors[f"go to {name} {n}"] = f"You cannot go to {name} {n}, as there is no path leading to it."

    actions[CHECK] = []
    return View(text, actions, errors)


def menu_text(actions: dict[str, list[int]]) -> str:
    """The server's action list line: ``Available actions: ["turn left", ...]``."""
    return "Available actions: [" + ", ".join(f'"{a}"' for a in actions) + "]"
