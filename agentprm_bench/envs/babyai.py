"""BabyAI as AgentGym serves it: the 40 minigrid BabyAI levels behind a text menu of actions."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import io
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Sequence

import gymnasium as gym
import minigrid  # noqa: F401  (registers the BabyAI-* ids)
import numpy as np
from minigrid.envs.babyai.core.levelgen import LevelGen
from minigrid.utils.baby_ai_bot import BabyAIBot

from agentprm_bench.envs.babyai_obs import install
from agentprm_bench.envs.babyai_text import CHECK, DIR_TO_VEC, View, menu_text, read_view
from agentprm_bench.envs.base import Step, TextEnv

# AgentGym's level table, in its order: task i plays LEVELS[i % 40] with minigrid seed i // 40.
LEVELS = (
    "BabyAI-GoToRedBallGrey-v0", "BabyAI-GoToRedBall-v0", "BabyAI-GoToRedBallNoDists-v0", "BabyAI-GoToObjS6-v0",
    "BabyAI-GoToLocalS8N7-v0", "BabyAI-GoToObjMazeS7-v0", "BabyAI-GoToImpUnlock-v0", "BabyAI-GoToSeqS5R2-v0",
    "BabyAI-GoToRedBlueBall-v0", "BabyAI-GoToDoor-v0", "BabyAI-GoToObjDoor-v0", "BabyAI-Open-v0",
    "BabyAI-OpenRedDoor-v0", "BabyAI-OpenDoorLoc-v0", "BabyAI-OpenRedBlueDoorsDebug-v0",
    "BabyAI-OpenDoorsOrderN4Debug-v0", "BabyAI-Pickup-v0", "BabyAI-UnblockPickup-v0", "BabyAI-PickupLoc-v0",
    "BabyAI-PickupDistDebug-v0", "BabyAI-PickupAbove-v0", "BabyAI-PutNextLocalS6N4-v0",
    "BabyAI-PutNextS7N4Carrying-v0", "BabyAI-Unlock-v0", "BabyAI-UnlockLocalDist-v0", "BabyAI-KeyInBox-v0",
    "BabyAI-UnlockPickupDist-v0", "BabyAI-BlockedUnlockPickup-v0", "BabyAI-UnlockToUnlock-v0",
    "BabyAI-ActionObjDoor-v0", "BabyAI-FindObjS7-v0", "BabyAI-KeyCorridorS6R3-v0", "BabyAI-OneRoomS20-v0",
    "BabyAI-MoveTwoAcrossS8N9-v0", "BabyAI-SynthS5R2-v0", "BabyAI-SynthLoc-v0", "BabyAI-SynthSeq-v0",
    "BabyAI-MiniBossLevel-v0", "BabyAI-BossLevel-v0", "BabyAI-BossLevelNoUnlock-v0",
)
SEEDS_PER_LEVEL = 100
NUM_TASKS = len(LEVELS) * SEEDS_PER_LEVEL
TEST_SIZE = 90  # the paper's BabyAI test size; test = task ids 0..89 (every level at seeds 0 and 1, ten at seed 2)
BOT_SLACK = 20  # bot primitives simulated beyond the longest menu action (its path may detour)
VIEW_CACHE = 8192  # views remembered per process (_read_view), a few KB each
_VIEWS: OrderedDict[tuple, View] = OrderedDict()
PRIMITIVE_TEXT = {0: "turn left", 1: "turn right", 2: "move forward", 4: "drop", 5: "toggle"}


def _quiet(fn, *args, **kwargs):
    """Run ``fn`` with stdout captured: minigrid prints 'Sampling rejected' while it generates levels."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


class BotLoop(RuntimeError):
    """minigrid's BabyAIBot kept pushing subgoals within one replan (it can cycle forever)."""


class _CountedStack(list):
    """The bot's subgoal stack, counting pushes so a replan that cycles can be stopped."""

    limit = 500

    def __init__(self, items: Any = ()):
        super().__init__(items)
        self.pushes = 0

    def append(self, item: Any) -> None:
        self.pushes += 1
        if self.pushes > self.limit:
            raise BotLoop(f"BabyAIBot pushed over {self.limit} subgoals in one replan")
        super().append(item)


def _new_bot(env: Any) -> BabyAIBot:
    bot = BabyAIBot(env)
    bot.stack = _CountedStack(bot.stack)
    return bot


def _replan(bot: BabyAIBot, last: int | None) -> int:
    """The bot's next primitive (quietly); raises BotLoop instead of cycling forever."""
    bot.stack.pushes = 0
    return int(_quiet(bot.replan, last))


def level_and_seed(task_id: int) -> tuple[str, int]:
    return LEVELS[task_id % len(LEVELS)], task_id // len(LEVELS)


def _stale_room_class(cls: type) -> type:
    """``cls`` with minigrid 2.x's ``locked_room``: only ``add_locked_room`` replaces it.

    minigrid >= 3 clears ``locked_room`` at the start of every ``gen_mission``; minigrid 2.x
    (AgentGym pins < 2.5) kept the room of an earlier rejected attempt, or of an earlier
    reset, which changes some SynthLoc/SynthSeq/Boss missions. Setting None is ignored here.
    """

    def get(self: Any) -> Any:
        return self.__dict__.get("_agentgym_locked_room")

    def set_(self: Any, room: Any) -> None:
        if room is not None:
            self.__dict__["_agentgym_locked_room"] = room

    return type(f"{cls.__name__}MinigridV2", (cls,), {"locked_room": property(get, set_)})


def make_level(name: str) -> Any:
    """The unwrapped minigrid level as AgentGym's pinned minigrid (< 2.5) builds it.

    minigrid 2.x registered ``BabyAI-GoToObjS6-v0`` with ``room_size=4`` (newer minigrid
    retired the id for that bug and offers ``-v1`` with 6); AgentGym asks for ``-v0``, so the
    room is 4. Level generators keep minigrid 2.x's stale locked room (``_stale_room_class``).
    """
    if name == "BabyAI-GoToObjS6-v0":
        from minigrid.envs.babyai import GoToObj

        return GoToObj(room_size=4)
    spec = gym.spec(name)
    module, attr = str(spec.entry_point).split(":")
    cls = getattr(importlib.import_module(module), attr)
    if issubclass(cls, LevelGen):
        return _stale_room_class(cls)(**spec.kwargs)
    return gym.make(name).unwrapped


def reset_level(env: Any, seed: int) -> dict[str, Any]:
    """Reset as the server does: a new level object reset twice with the same seed (the
    second reset can differ from the first through the stale locked room)."""
    if isinstance(env, LevelGen):
        env.__dict__.pop("_agentgym_locked_room", None)
        _quiet(env.reset, seed=seed)
    obs, _ = _quiet(env.reset, seed=seed)
    return obs


def _pose(env: Any, touched: tuple) -> tuple:
    """A state signature: pose, what is carried, and the grid changes so far.

    The grid changes only through pick-up, drop and toggle, so from one start state two
    primitive sequences with the same interactions at the same cells leave the same grid.
    """
    carrying = (env.carrying.type, env.carrying.color) if env.carrying is not None else None
    return (tuple(int(c) for c in env.agent_pos), int(env.agent_dir), carrying, touched)


def _start_signature(env: Any) -> bytes:
    """A digest of a level's state: every cell's encoding, the agent's pose and what it carries."""
    carrying = (env.carrying.type, env.carrying.color) if env.carrying is not None else None
    pose = repr((env.grid.width, env.grid.height, tuple(int(c) for c in env.agent_pos), int(env.agent_dir), carrying))
    return hashlib.blake2b(env.grid.encode().tobytes() + pose.encode(), digest_size=16).digest()


def _interaction(env: Any, action: int) -> tuple:
    return (action, tuple(int(c) for c in env.front_pos)) if action in (3, 4, 5) else ()


class BabyAIEnv(TextEnv):
    """Follow a BabyAI instruction through AgentGym's text interface.

    ## Description
    The 40 minigrid BabyAI levels of AgentGym's ``agentenv-babyai`` server, in its order:
    task ``i`` plays level ``LEVELS[i % 40]`` generated with seed ``i // 40`` (as the
    server's ``reset(data_idx=i)``). 4,000 tasks (seeds 0-99 per level); the test split is
    task ids 0-89 (the paper tests on 90 BabyAI tasks; AgentGym's exact ids are not
    published, so the first 90 ids are used: every level at seeds 0 and 1, ten at seed 2).

    ## Observation
    At reset ``Your goal: <mission>`` ("then" and "after you" read "and"), then the
    server's description of the 7x7 view ("In front of you in this room, you can see
    several objects: There is a red ball 1 2 steps in front of you and 1 steps to your
    left.  ... The room has walls around you. You are facing a wall 3 steps away. You are
    not carrying anything."), then ``Available actions: ["turn left", ...]``. After an
    action the same without the goal line, or the server's error text for an action that
    is not on the menu, followed by the menu.

    ## Actions
    The menu: ``turn left``, ``turn right``, ``move forward``, ``pickup <obj> <n>``,
    ``drop``, ``go to <obj> <n>``, ``go through <open door> <n>``, ``toggle and go through
    <door> <n>``, ``toggle``, ``go to goal``, ``check available actions``. A high-level
    action runs its minigrid primitives until one leaves the view unchanged. Actions are
    lower-cased and stripped; anything containing "check" lists the menu.
    ``info["admissible_actions"]`` is the menu.

    ## Rewards
    The server reports minigrid's reward of the last primitive (1 - 0.9 * steps / max
    steps on success) as a running value; ``step`` returns its change, so an episode's
    return equals the server's final reward, and ``info["agentgym_reward"]`` carries the
    value itself. The paper's metric is the mean final reward.

    ## Episode end
    Terminated when a primitive succeeds with reward > 0.5 (a later, cheaper success
    leaves the episode running, as on the server); truncated after ``max_turns`` text
    actions (default 20, the paper's limit).

    ## Arguments
    ``max_turns`` (int, default 20), ``split`` ("train" | "test"), ``render_mode`` ("ansi").
    """

    default_max_turns = 20
    observation_max_length = 8192
    # the level at reset (the oracle's start), the current view (read-only) and the start signature
    snapshot_shared = frozenset({"_initial", "_view", "_image", "_start"})

    def __init__(self, *, max_turns: int | None = None, split: str = "test", render_mode: str | None = None):
        super().__init__(max_turns=max_turns, split=split, render_mode=render_mode)
        self._envs: dict[str, Any] = {}
        self.level = ""
        self.minigrid_seed = 0
        self.goal = ""
        self._won = False
        self._reward = 0.0
        self._view: View | None = None
        self._image: np.ndarray | None = None
        self._touched: tuple = ()

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
        self.level, self.minigrid_seed = level_and_seed(task_id)
        if self.level not in self._envs:
            self._envs[self.level] = install(make_level(self.level))  # minigrid's view, computed faster
        obs = reset_level(self.grid_env, self.minigrid_seed)
        self.goal = self.grid_env.mission
        if "then" in self.goal:
            self.goal = self.goal.replace("then", "and")
        if "after you" in self.goal:
            self.goal = self.goal.replace("after you", "and")
        self._won = False
        self._reward = 0.0
        self._image = obs["image"]
        self._touched = ()
        self._start = _start_signature(self.grid_env)
        self._view = read_view(self.grid_env, obs)  # not remembered: reset's obs can predate the state (see _read_view)
        self._initial: Any = None  # a copy of the level at reset, made when the oracle first needs it
        self._prims: list[int] = []
        self._tracker: list[Any] | None = None
        return f"Your goal: {self.goal}\n{self._view.description}\n{menu_text(self._view.actions)}"

    @property
    def won(self) -> bool:
        return self._won

    def extra_info(self) -> dict[str, Any]:
        return {"level": self.level, "minigrid_seed": self.minigrid_seed, "mission": self.goal,
                "agentgym_reward": self._reward}

    # ----- dynamics ----------------------------------------------------------------------
    def _act(self, action: str) -> Step:
        assert self._view is not None
        text = action.lower().strip()
        menu = self._view.actions
        if "check" in text:
            return Step("You can take the following actions: " + ", ".join(menu) + "\n" + menu_text(menu))
        if text == "" or text not in menu:
            why = "No change in state." if text == "" else self._view.errors.get(
                text, "The action is not recognized. Please check valid actions.")
            return Step(f"{why}\n{menu_text(menu)}", valid=False)
        primitives = menu[text]
        if not primitives:
            return Step(f"No change in state.\n{menu_text(menu)}")
        env = self.grid_env
        for a in primitives:
            self._prims.append(a)
            self._touched += _interaction(env, a)
            obs, reward, terminated, _, _ = env.step(a)
            changed = bool((obs["image"] != self._image).any())
            if not changed:
                break
            self._image = obs["image"]
        self._view = self._read_view(obs)
        text_out = self._view.description
        done = bool(terminated)
        if done:
            text_out += "\n The task is completed."
        before, self._reward = self._reward, float(reward)
        if done and self._reward <= 0.5:
            done = False
        if self._reward == 1 and not done:
            done = True
            text_out += "\n The task is completed."
        self._won = done
        return Step(f"{text_out}\n{menu_text(self._view.actions)}", reward=self._reward - before, terminated=done)

    def _read_view(self, obs: dict[str, Any]) -> View:
        """``read_view``, remembered per state. A level's state is its start state plus the
        agent's pose, what it carries and the interactions so far (``_pose``), and the view is a
        function of the state. The start is the grid's encoding itself, not (level, seed): a level
        object reset with one seed can start differently after other seeds (the stale locked
        room). Only views after a step are remembered: the observation a Carrying level's reset
        returns can differ from the one its start state gives later (the server shows that too;
        recorded). Rollouts of one task revisit states (every sample's start, turns back and
        forth), and a copied env (pickling replays its actions: beam search) revisits every state
        of its parent; the menu's path searches are most of a text step's cost. The cache is
        shared by the process's envs (the key is the state's content); views are read-only; the
        ``VIEW_CACHE`` most recently used are kept."""
        key = (self._start, _pose(self.grid_env, self._touched))
        view = _VIEWS.get(key)
        if view is None:
            view = _VIEWS[key] = read_view(self.grid_env, obs)
            if len(_VIEWS) > VIEW_CACHE:
                _VIEWS.popitem(last=False)
        else:
            _VIEWS.move_to_end(key)
        return view

    def _snapshot_state(self) -> dict[str, Any]:
        """A copy needs only the level being played (the others are level objects kept for later
        resets), and not the oracle's bot, which follows the episode again from ``_initial`` when
        asked, as in a pickled (replayed) copy. Copying the level costs ~4 ms against ~14 ms for
        a replayed copy after up to 20 primitive steps (``benchmarks/babyai_step.py``, results/performance.md)."""
        state = dict(self.__dict__)
        state["_envs"] = {self.level: self._envs[self.level]} if self.level in self._envs else {}
        state["_tracker"] = None
        return state

    def admissible_actions(self) -> list[str]:
        assert self._view is not None
        return list(self._view.actions)

    # ----- oracle ------------------------------------------------------------------------
    def _initial_level(self) -> Any:
        if self._initial is None:
            fresh = install(make_level(self.level))
            reset_level(fresh, self.minigrid_seed)
            self._initial = fresh
        return self._initial

    def _synced_bot(self) -> tuple[Any, BabyAIBot, int | None]:
        """A BabyAIBot that has followed every primitive since reset (built lazily, advanced
        incrementally), on its own copy of the level: (level copy, bot, last action)."""
        if self._tracker is None:
            sim = copy.deepcopy(self._initial_level())
            self._tracker = [sim, _new_bot(sim), 0, None]
        sim, bot, synced, last = self._tracker
        for a in self._prims[synced:]:
            _replan(bot, last)
            sim.step(a)
            # Moves are reported so the bot replans its path; a pick-up/drop/toggle is not, or the
            # bot would plan to undo one done earlier than its own plan. Its subgoals re-check the world.
            last = a if a in (0, 1, 2) else None
        self._tracker[2:] = [len(self._prims), last]
        return sim, bot, last

    def _bot_plan(self, horizon: int = 40) -> tuple[list[int], list[tuple]]:
        """The bot's next ``horizon`` primitives, simulated on a copy, and the state after each."""
        try:
            sim, bot, last = copy.deepcopy(self._synced_bot())
        except Exception:  # the bot asserts in states it cannot explain; start one afresh
            self._tracker = None
            sim = copy.deepcopy(self.grid_env)
            bot, last = _new_bot(sim), None
        actions: list[int] = []
        states: list[tuple] = []
        touched: tuple = ()
        for _ in range(horizon):
            try:
                a = _replan(bot, last)
            except BotLoop:
                break
            last = None
            if a == int(sim.actions.done):
                break
            actions.append(a)
            touched += _interaction(sim, a)
            _, _, terminated, truncated, _ = sim.step(a)
            states.append(_pose(sim, touched))
            if terminated or truncated:
                break
        return actions, states

    def _outcome(self, primitives: list[int]) -> tuple:
        """The state a menu action leads to, predicted from the grid without stepping a copy.

        minigrid's rules for the six primitives, on the cells the action touches; a primitive
        that changes nothing stops the action, as the server's unchanged-view rule does (a turn
        or a move always changes the view). Only the oracle uses this; the env itself steps minigrid.
        """
        env = self.grid_env
        x, y = (int(c) for c in env.agent_pos)
        d = int(env.agent_dir)
        carrying = env.carrying
        cells: dict[tuple[int, int], Any] = {}  # cells changed so far: position -> object (None = emptied)
        doors: dict[int, tuple[bool, bool]] = {}  # id(door) -> (is_open, is_locked) after toggles
        touched: tuple = ()

        def cell(p: tuple[int, int]) -> Any:
            return cells[p] if p in cells else env.grid.get(*p)

        for a in primitives:
            front = (x + DIR_TO_VEC[d][0], y + DIR_TO_VEC[d][1])
            if a in (3, 4, 5):
                touched += (a, front)
            obj = cell(front)
            if a in (0, 1):
                d = (d - 1) % 4 if a == 0 else (d + 1) % 4
            elif a == 2:
                passable = obj is None or (doors[id(obj)][0] if id(obj) in doors else obj.can_overlap())
                if not passable:
                    break
                x, y = front
            elif a == 3:
                if carrying is not None or obj is None or not obj.can_pickup():
                    break
                carrying, cells[front] = obj, None
            elif a == 4:
                if carrying is None or obj is not None:
                    break
                cells[front], carrying = carrying, None
            elif a == 5:
                if obj is None or obj.type != "door":
                    break  # a box would open (the menu never toggles one); anything else does nothing
                is_open, locked = doors.get(id(obj), (obj.is_open, obj.is_locked))
                if locked:
                    if carrying is None or carrying.type != "key" or carrying.color != obj.color:
                        break
                    doors[id(obj)] = (True, False)
                else:
                    doors[id(obj)] = (not is_open, False)
        held = (carrying.type, carrying.color) if carrying is not None else None
        return ((x, y), d, held, touched)

    def oracle_action(self) -> str:
        """The menu action that gets furthest along minigrid's BabyAIBot plan.

        Every menu action is run on a copy of the level; the one whose resulting state lies
        furthest along the bot's simulated plan wins (earlier menu entries on ties). A state
        on the plan's cells but facing another way counts 1.5 primitives less. If none lies
        on the plan, the bot's next primitive is used where the menu offers it.
        """
        assert self._view is not None
        longest = max(len(p) for p in self._view.actions.values())
        try:
            actions, states = self._bot_plan(longest + BOT_SLACK)
        except Exception:  # no plan from this state (e.g. the bot's own assertion): explore
            return "turn left"
        if not actions:
            return "toggle" if "toggle" in self._view.actions else "turn left"
        exact = {key: k for k, key in enumerate(states)}
        by_cell = {(key[0], key[2], key[3]): k for k, key in enumerate(states)}  # pose without direction
        best, best_score = None, -1.0
        for text, primitives in self._view.actions.items():
            if not primitives or text == CHECK:
                continue
            key = self._outcome(primitives)
            score = float(exact.get(key, -1))
            if score < 0 and (key[0], key[2], key[3]) in by_cell:
                score = by_cell[(key[0], key[2], key[3])] - 1.5  # on the path, facing elsewhere: a turn or two to fix
            if score > best_score:
                best, best_score = text, score
        if best is not None:
            return best
        first = PRIMITIVE_TEXT.get(actions[0], "turn left")
        return first if first in self._view.actions else "turn left"


@lru_cache(maxsize=1)
def _splits() -> dict[str, list[int]]:
    return {"test": list(range(TEST_SIZE)), "train": list(range(TEST_SIZE, NUM_TASKS))}
