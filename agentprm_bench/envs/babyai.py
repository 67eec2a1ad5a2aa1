"""BabyAI as text: real minigrid BabyAI levels, the egocentric view described in words."""

from __future__ import annotations

import contextlib
import copy
import io
import re
from collections import deque
from functools import lru_cache
from typing import Any, Sequence

import gymnasium as gym
import minigrid  # noqa: F401  (registers the BabyAI-* ids)
import numpy as np
from minigrid.utils.baby_ai_bot import BabyAIBot

from agentprm_bench.envs.base import Step, TextEnv, split_ids

# The level mixture; task i plays LEVELS[i % len(LEVELS)] with minigrid seed SEED_OFFSET + i.
LEVELS = (
    "BabyAI-GoToRedBallGrey-v0",
    "BabyAI-GoToLocalS8N7-v0",
    "BabyAI-GoToObjDoor-v0",
    "BabyAI-PickupLoc-v0",
    "BabyAI-PickupDist-v0",
    "BabyAI-PutNextLocal-v0",
    "BabyAI-PutNextS4N1-v0",
    "BabyAI-PutNextS5N2-v0",
    "BabyAI-OpenDoor-v0",
    "BabyAI-OpenRedBlueDoors-v0",
    "BabyAI-UnlockLocal-v0",
    "BabyAI-ActionObjDoor-v0",
)
NUM_TASKS = 4000
TEST_SIZE = 400
SPLIT_SALT = 7
SEED_OFFSET = 100_000
BOT_PLAN_CAP = 256

PRIMITIVES = {"turn left": 0, "turn right": 1, "move forward": 2, "pick up": 3, "drop": 4, "toggle": 5}
PRIMITIVE_TEXT = {v: k for k, v in PRIMITIVES.items()}
_TARGETED = re.compile(r"^(go to|pick up|open)\s+(?:the\s+)?([a-z]+)\s+([a-z]+)\s+(\d+)$")
_PICKABLE = ("ball", "box", "key")


def _quiet(fn, *args, **kwargs):
    """Run ``fn`` with stdout captured: minigrid prints 'Sampling rejected' while it generates levels."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _steps(n: int, word: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {word}"


class BabyAIEnv(TextEnv):
    """Follow a BabyAI instruction in a grid world described in text.

    ## Description
    Real minigrid BabyAI levels (Chevalier-Boisvert et al., 2019): task ``i`` is level
    ``LEVELS[i % 12]`` generated with seed ``100000 + i``; the mixture spans going to
    objects and doors, picking up, putting next to (also across rooms), opening doors in
    order, unlocking a door with its key, and acting on objects next to doors. Every level
    was kept only if minigrid's bot, lifted to text actions, solves it within 20 turns.
    4,000 tasks, 400 of them in the fixed test split.

    ## Observation
    The mission, then what the agent sees in its 7x7 egocentric view: each object with
    colour, type, a number (closest first among equals), steps forward and left/right,
    doors with their state (open, closed, locked), how far the wall ahead is, and what is
    carried. After an action, a line saying what happened comes first.

    ## Actions
    Primitives: ``turn left``, ``turn right``, ``move forward``, ``pick up``, ``drop``,
    ``toggle``. High-level, for an object in view: ``go to <colour> <type> <n>`` (walk a
    shortest path until facing it), ``pick up <colour> <type> <n>``, ``open <colour> door
    <n>``. Each high-level action runs several minigrid steps (computed on the full grid).

    ## Rewards
    As minigrid gives it: 1 - 0.9 * (steps used / max steps) on success, else 0, where
    steps are minigrid primitive steps. The paper's metric is the mean reward.

    ## Episode end
    Terminated on success (or minigrid failure); truncated after ``max_turns`` text actions
    (default 20) or when minigrid's own step limit runs out.

    ## Arguments
    ``max_turns`` (int, default 20), ``split`` ("train" | "test"), ``render_mode`` ("ansi").
    """

    default_max_turns = 20
    observation_max_length = 4096

    def __init__(self, *, max_turns: int | None = None, split: str = "test", render_mode: str | None = None):
        super().__init__(max_turns=max_turns, split=split, render_mode=render_mode)
        self._envs: dict[str, Any] = {}
        self.level = ""
        self._won = False
        self._visible: dict[str, tuple[int, int]] = {}

    @classmethod
    def num_tasks(cls) -> int:
        return NUM_TASKS

    @classmethod
    def splits(cls) -> dict[str, Sequence[int]]:
        return _splits()

    @property
    def grid_env(self) -> Any:
        return self._envs[self.level]

    def _reset_task(self, task_id: int) -> str:
        self.level = LEVELS[task_id % len(LEVELS)]
        if self.level not in self._envs:
            self._envs[self.level] = gym.make(self.level).unwrapped
        _quiet(self.grid_env.reset, seed=SEED_OFFSET + task_id)
        self._won = False
        self._initial = copy.deepcopy(self.grid_env)
        self._prims: list[int] = []
        self._tracker: list[Any] | None = None
        return self._describe("")

    @property
    def won(self) -> bool:
        return self._won

    def extra_info(self) -> dict[str, Any]:
        return {"level": self.level, "mission": self.grid_env.mission if self.level else ""}

    # ----- view --------------------------------------------------------------------------
    def _view(self) -> list[tuple[str, tuple[int, int], int, int, Any]]:
        """Visible objects as (name, world position, steps forward, steps right, object)."""
        env = self.grid_env
        grid, vis = env.gen_obs_grid()
        vs = env.agent_view_size
        ax, ay = (int(c) for c in env.agent_pos)
        fwd, right = env.dir_vec, env.right_vec
        found = []
        for j in range(vs):
            for i in range(vs):
                obj = grid.get(i, j)
                if not vis[i, j] or obj is None or obj.type in ("wall", "floor", "empty"):
                    continue
                f, r = vs - 1 - j, i - vs // 2
                if f == 0 and r == 0:
                    continue
                pos = (ax + f * int(fwd[0]) + r * int(right[0]), ay + f * int(fwd[1]) + r * int(right[1]))
                found.append((f, r, obj, pos))
        found.sort(key=lambda t: (abs(t[0]) + abs(t[1]), t[0], t[1]))
        counts: dict[str, int] = {}
        named = []
        for f, r, obj, pos in found:
            kind = f"{obj.color} {obj.type}"
            counts[kind] = counts.get(kind, 0) + 1
            named.append((f"{kind} {counts[kind]}", pos, f, r, obj))
        return named

    def _describe(self, event: str) -> str:
        env = self.grid_env
        view = self._view()
        self._visible = {name: pos for name, pos, *_ in view}
        lines = [event] if event else []
        lines.append(f"Mission: {env.mission}")
        if view:
            lines.append("You see:")
            for name, _, f, r, obj in view:
                where = [_steps(f, "forward")] if f else []
                if r:
                    where.append(_steps(abs(r), "right" if r > 0 else "left"))
                state = ""
                if obj.type == "door":
                    state = " (locked)" if obj.is_locked else " (open)" if obj.is_open else " (closed)"
                lines.append(f"- {name}{state}: {', '.join(where)}")
        else:
            lines.append("You see no objects.")
        lines.append(self._ahead())
        lines.append(f"You are carrying a {env.carrying.color} {env.carrying.type}." if env.carrying
                     else "You are carrying nothing.")
        return "\n".join(lines)

    def _ahead(self) -> str:
        env = self.grid_env
        pos = np.array(env.agent_pos)
        for dist in range(1, env.agent_view_size):
            pos = pos + env.dir_vec
            cell = env.grid.get(*pos)
            if cell is not None and cell.type == "wall":
                return f"A wall is {_steps(dist, 'ahead')}."
            if cell is not None and not cell.can_overlap():
                return f"The way ahead is blocked by a {cell.color} {cell.type} {_steps(dist, 'ahead')}."
        return "The way ahead is clear."

    # ----- dynamics ----------------------------------------------------------------------
    def _run(self, primitives: list[int]) -> tuple[float, bool]:
        env, total = self.grid_env, 0.0
        for a in primitives:
            self._prims.append(a)
            _, reward, terminated, truncated, _ = env.step(a)
            total += float(reward)
            if terminated or truncated:
                self._won = terminated and reward > 0
                return total, True
        return total, False

    def _act(self, action: str) -> Step:
        text = " ".join(action.lower().split())
        if text in PRIMITIVES:
            reward, ended = self._run([PRIMITIVES[text]])
            return Step(self._describe(f"You {text}."), reward, ended)
        m = _TARGETED.match(text)
        if not m:
            return Step(self._describe(f"Nothing happens: '{self.echo(action)}' is not a valid action."), valid=False)
        verb, name = m.group(1), f"{m.group(2)} {m.group(3)} {m.group(4)}"
        if name not in self._visible:
            return Step(self._describe(f"Nothing happens: you do not see a {name}."), valid=False)
        target = self._visible[name]
        obj = self.grid_env.grid.get(*target)
        if verb == "pick up" and (obj.type not in _PICKABLE or self.grid_env.carrying is not None):
            why = "you are already carrying something" if self.grid_env.carrying else f"a {obj.type} cannot be picked up"
            return Step(self._describe(f"Nothing happens: {why}."), valid=False)
        if verb == "open" and (obj.type != "door" or obj.is_open):
            why = "it is already open" if obj.type == "door" else f"a {obj.type} is not a door"
            return Step(self._describe(f"Nothing happens: {why}."), valid=False)
        path = self._path_to_face(target)
        if path is None:
            return Step(self._describe(f"Nothing happens: there is no free path to the {name}."), valid=False)
        extra = {"go to": [], "pick up": [PRIMITIVES["pick up"]], "open": [PRIMITIVES["toggle"]]}[verb]
        reward, ended = self._run(path + extra)
        done_text = {"go to": f"You go to the {name}.", "pick up": f"You pick up the {name}.",
                     "open": f"You try to open the {name}."}[verb]
        return Step(self._describe(done_text), reward, ended)

    def _path_to_face(self, target: tuple[int, int]) -> list[int] | None:
        """Shortest turn/forward sequence after which the agent faces ``target`` (BFS on the grid)."""
        env = self.grid_env
        start = (int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir))
        vecs = [(1, 0), (0, 1), (-1, 0), (0, -1)]
        prev: dict[tuple[int, int, int], tuple[tuple[int, int, int], int] | None] = {start: None}
        queue = deque([start])
        while queue:
            state = queue.popleft()
            x, y, d = state
            if (x + vecs[d][0], y + vecs[d][1]) == target:
                actions = []
                while prev[state] is not None:
                    state, a = prev[state]  # type: ignore[misc]
                    actions.append(a)
                return actions[::-1]
            nx, ny = x + vecs[d][0], y + vecs[d][1]
            cell = env.grid.get(nx, ny) if 0 <= nx < env.width and 0 <= ny < env.height else None
            moves = [((x, y, (d - 1) % 4), 0), ((x, y, (d + 1) % 4), 1)]
            if 0 <= nx < env.width and 0 <= ny < env.height and (cell is None or cell.can_overlap()):
                moves.append(((nx, ny, d), 2))
            for nxt, a in moves:
                if nxt not in prev:
                    prev[nxt] = (state, a)
                    queue.append(nxt)
        return None

    # ----- oracle ------------------------------------------------------------------------
    def _synced_bot(self) -> tuple[Any, BabyAIBot, int | None]:
        """A BabyAIBot that has followed every primitive since reset (built lazily, advanced
        incrementally), on its own copy of the level: (level copy, bot, last action)."""
        if self._tracker is None:
            sim = copy.deepcopy(self._initial)
            self._tracker = [sim, BabyAIBot(sim), 0, None]
        sim, bot, synced, last = self._tracker
        for a in self._prims[synced:]:
            _quiet(bot.replan, last)
            sim.step(a)
            # Moves are reported so the bot replans its path; a pick-up/drop/toggle is not, or the
            # bot would plan to undo one done earlier than its own plan (e.g. fetching a key
            # before exploring for the door). Its subgoals re-check the world state anyway.
            last = a if a in (0, 1, 2) else None
        self._tracker[2:] = [len(self._prims), last]
        return sim, bot, last

    def _bot_plan(self) -> tuple[list[int], list[tuple[int, int]], tuple[int, int]]:
        """The bot's remaining plan, simulated on a copy: its primitive actions, the cell in
        front before each, and the cell in front at the end."""
        try:
            sim, bot, last = copy.deepcopy(self._synced_bot())
        except Exception:  # the bot asserts in states it cannot explain; start one afresh
            self._tracker = None
            sim = copy.deepcopy(self.grid_env)
            bot, last = BabyAIBot(sim), None
        actions: list[int] = []
        fronts: list[tuple[int, int]] = []
        for _ in range(BOT_PLAN_CAP):
            a = int(_quiet(bot.replan, last))
            last = None
            if a == int(sim.actions.done):
                break
            actions.append(a)
            fronts.append(tuple(int(c) for c in sim.front_pos))
            _, _, terminated, truncated, _ = sim.step(a)
            if terminated or truncated:
                break
        return actions, fronts, tuple(int(c) for c in sim.front_pos)

    def oracle_action(self) -> str:
        """BabyAIBot's plan lifted to text: the high-level action that reaches the bot's next
        interaction (or final position) when its object is in view, else the bot's next primitive."""
        try:
            actions, fronts, end_front = self._bot_plan()
        except Exception:  # no plan from this state (e.g. the bot's own assertion): explore
            return "turn left"
        if not actions:
            return "toggle"
        interactions = [k for k, a in enumerate(actions) if a in (3, 4, 5)]
        k = interactions[0] if interactions else len(actions)
        if k >= 2:
            by_pos = {pos: name for name, pos in self._visible.items()}
            target = fronts[k] if k < len(actions) else end_front
            kind = actions[k] if k < len(actions) else None
            if kind == 4 and k > 4:  # far drop: walk to the object it goes next to; the bot then drops
                near = [(target[0] + dx, target[1] + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))]
                names = [by_pos[p] for p in near if p in by_pos and self._path_to_face(p)]
                m = re.search(r"next to (?:a|the) (?:(\w+) )?(\w+)$", self.grid_env.mission)
                named = [n for n in names if m and n.split()[1] == m.group(2)
                         and (m.group(1) is None or n.split()[0] == m.group(1))]
                if named or names:
                    return f"go to {(named or names)[0]}"
            elif target in by_pos:
                name = by_pos[target]
                obj = self.grid_env.grid.get(*target)
                if kind == 3:
                    return f"pick up {name}"
                if kind == 5 and obj.type == "door" and not obj.is_open:
                    return f"open {name}"
                if kind is None and self._path_to_face(target):
                    return f"go to {name}"
        return PRIMITIVE_TEXT[actions[0]]

    def admissible_actions(self) -> list[str]:
        actions = list(PRIMITIVES)
        carrying = self.grid_env.carrying is not None
        for name, pos in self._visible.items():
            obj = self.grid_env.grid.get(*pos)
            actions.append(f"go to {name}")
            if obj.type in _PICKABLE and not carrying:
                actions.append(f"pick up {name}")
            if obj.type == "door" and not obj.is_open:
                actions.append(f"open {name}")
        return actions


@lru_cache(maxsize=1)
def _splits() -> dict[str, list[int]]:
    return split_ids(NUM_TASKS, TEST_SIZE, SPLIT_SALT)
