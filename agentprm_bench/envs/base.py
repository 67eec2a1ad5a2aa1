"""Shared plumbing for the text environments: turn limit, task selection, splits, info, pickling.

Every environment in this package is a ``gymnasium.Env[str, str]``. Subclasses implement
the game itself (``_reset_task``, ``_act``, ``admissible_actions``, ``oracle_action``,
``won``); this base class owns the episode bookkeeping so that all envs agree on it:

* ``reset(seed=, options={"task_id": i})`` loads task ``i`` (a global task id); without a
  task id, one is drawn from the env's ``split`` with ``self.np_random`` (the only source
  of randomness, seeded by ``reset(seed=)``).
* ``info`` always carries ``task_id``, ``admissible_actions``, ``won``, ``turn`` and
  ``valid_action`` (False when the last action was malformed or impossible).
* After ``max_turns`` steps the episode is truncated.
* Pickling stores the constructor arguments, the task, the actions taken and the RNG
  state, and rebuilds the episode by replay (the games are deterministic given the task).
"""

from __future__ import annotations

import copy
import pickle
import string
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle

from agentprm_bench.errors import UserError

ASCII_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"
ACTION_MAX_LENGTH = 512


class Step:
    """What one action did: the new observation, its reward, and whether the game ended."""

    __slots__ = ("observation", "reward", "terminated", "valid")

    def __init__(self, observation: str, reward: float = 0.0, terminated: bool = False, valid: bool = True):
        self.observation = observation
        self.reward = float(reward)
        self.terminated = terminated
        self.valid = valid


def sanitize(text: str, charset: frozenset[str]) -> str:
    """Replace characters outside ``charset`` (e.g. from a typed action echoed back) by '?'."""
    if charset.issuperset(text):  # the usual case, checked at C speed
        return text
    return "".join(c if c in charset else "?" for c in text)


def reset_options(options: Any) -> dict[str, Any]:
    """``reset``'s options as a dict with ``task_id`` None or a plain int; UserError (a ValueError) otherwise."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise UserError(f"reset options must be a dict such as {{'task_id': 3}}, got {type(options).__name__}")
    options = dict(options)
    task_id = options.get("task_id")
    if task_id is not None:
        if isinstance(task_id, (bool, np.bool_)) or not isinstance(task_id, (int, np.integer)):
            raise UserError(f"task_id must be an integer, got {task_id!r} ({type(task_id).__name__})")
        options["task_id"] = int(task_id)
    return options


def split_ids(num_tasks: int, test_size: int, salt: int) -> dict[str, list[int]]:
    """Fixed train/test split of ``range(num_tasks)``: a seeded permutation, stable everywhere."""
    perm = np.random.Generator(np.random.PCG64(salt)).permutation(num_tasks)
    test = sorted(int(i) for i in perm[:test_size])
    train = sorted(int(i) for i in perm[test_size:])
    return {"train": train, "test": test}


class TextEnv(gym.Env[str, str], EzPickle):
    """Base class of the text environments (see the module docstring)."""

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}
    charset: str = ASCII_CHARSET
    observation_max_length: int = 8192
    default_max_turns: int = 20
    # ``snapshot``: attributes a copy shares with its original (read-only data, indexes, spaces,
    # pure caches); None = the env has no snapshot and is copied by pickling (replaying its actions)
    snapshot_shared: frozenset[str] | None = None
    _BASE_SHARED = frozenset({"_ezpickle_args", "_ezpickle_kwargs", "_charset", "observation_space", "action_space",
                              "spec", "_rng_state_at_reset", "_last_obs", "split", "render_mode"})

    def __init__(self, *, max_turns: int | None = None, split: str = "test", render_mode: str | None = None,
                 **ezpickle_kwargs: Any):
        EzPickle.__init__(self, max_turns=max_turns, split=split, render_mode=render_mode, **ezpickle_kwargs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if split not in self.splits():
            raise UserError(f"unknown split {split!r}; choose one of {sorted(self.splits())}")
        self.max_turns = int(max_turns if max_turns is not None else self.default_max_turns)
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {self.max_turns}")
        self.split = split
        self.render_mode = render_mode
        self._charset = frozenset(self.charset)
        self.observation_space = spaces.Text(max_length=self.observation_max_length, min_length=1,
                                             charset=self.charset)
        self.action_space = spaces.Text(max_length=ACTION_MAX_LENGTH, min_length=1, charset=ASCII_CHARSET)
        self.task_id: int | None = None
        self.turn = 0
        self.history: list[str] = []
        self._done = False
        self._last_obs = ""
        self._rng_state_at_reset: dict[str, Any] | None = None

    # ----- to be provided by each environment -------------------------------------------
    @classmethod
    def num_tasks(cls) -> int:
        raise NotImplementedError

    @classmethod
    def splits(cls) -> dict[str, Sequence[int]]:
        """Split name -> sorted global task ids."""
        raise NotImplementedError

    def _reset_task(self, task_id: int) -> str:
        raise NotImplementedError

    def _act(self, action: str) -> Step:
        raise NotImplementedError

    def admissible_actions(self) -> list[str]:
        raise NotImplementedError

    def oracle_action(self) -> str:
        """An action that makes progress towards solving the task, computed from env state."""
        raise NotImplementedError

    @property
    def won(self) -> bool:
        raise NotImplementedError

    # ----- gymnasium API -----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self._rng_state_at_reset = self.np_random.bit_generator.state
        options = reset_options(options)
        task_id = options.get("task_id")
        if task_id is None:
            ids = self.splits()[self.split]
            task_id = int(ids[int(self.np_random.integers(len(ids)))])
        if not 0 <= task_id < self.num_tasks():
            raise UserError(f"task_id {task_id} out of range: {type(self).__name__} has tasks 0..{self.num_tasks() - 1}")
        self.task_id = task_id
        self.turn = 0
        self.history = []
        self._done = False
        obs = self._clip(self._reset_task(task_id))
        self._last_obs = obs
        return obs, self._info(valid=True)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.task_id is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            obs = "The episode has ended. Call reset() to start a new one."
            return obs, 0.0, True, False, self._info(valid=False)
        action = action if isinstance(action, str) else str(action)
        self.history.append(action)
        self.turn += 1
        if len(action) > ACTION_MAX_LENGTH:
            result = Step(f"Your action has {len(action)} characters; the limit is {ACTION_MAX_LENGTH}. "
                          "Nothing happened.", valid=False)
        else:
            result = self._act(action)
        obs = self._clip(result.observation)
        truncated = (not result.terminated) and self.turn >= self.max_turns
        self._done = result.terminated or truncated
        self._last_obs = obs
        return obs, result.reward, result.terminated, truncated, self._info(valid=result.valid)

    def render(self) -> str | None:
        """With ``render_mode="ansi"``, the current observation text."""
        return self._last_obs if self.render_mode == "ansi" else None

    # ----- helpers -----------------------------------------------------------------------
    def extra_info(self) -> dict[str, Any]:
        """Env-specific info entries (e.g. the goal, the level); JSON-serialisable."""
        return {}

    def _info(self, valid: bool) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "admissible_actions": [] if self._done else self.admissible_actions(),
            "won": bool(self.won),
            "turn": self.turn,
            "valid_action": bool(valid),
            **self.extra_info(),
        }

    def _clip(self, text: str) -> str:
        text = sanitize(text, self._charset) or " "
        if len(text) > self.observation_max_length:
            marker = "\n[... truncated]"
            text = text[: self.observation_max_length - len(marker)] + marker
        return text

    def echo(self, text: str, limit: int = 80) -> str:
        """Quote user-typed text safely inside an observation."""
        text = sanitize(text, self._charset).replace("\n", " ")
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def snapshot(self) -> "TextEnv":
        """An independent copy in the current state (beam search steps one per candidate).

        Where the env names ``snapshot_shared``, every other attribute is deep-copied and those
        are shared: no replay, microseconds. Else a pickled copy, which rebuilds the env and
        replays the episode's actions. Both give the same future (tested for every env)."""
        if self.snapshot_shared is None:
            return pickle.loads(pickle.dumps(self))
        shared = self._BASE_SHARED | self.snapshot_shared
        new = object.__new__(type(self))
        memo: dict[int, Any] = {}
        new.__dict__.update({k: v if k in shared else copy.deepcopy(v, memo) for k, v in self._snapshot_state().items()})
        return new

    def _snapshot_state(self) -> dict[str, Any]:
        """The attributes ``snapshot`` copies (or shares): all of them, unless an env leaves out
        caches a copy can rebuild."""
        return self.__dict__

    # ----- pickling: constructor args + replay of the episode ------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = EzPickle.__getstate__(self)
        state["_episode"] = {
            "task_id": self.task_id,
            "history": list(self.history),
            "rng_reset": self._rng_state_at_reset,
            "rng_now": self._np_random.bit_generator.state if self._np_random is not None else None,
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        episode = state.pop("_episode", None)
        EzPickle.__setstate__(self, state)
        if not episode:
            return
        if episode["task_id"] is not None:
            self.task_id = episode["task_id"]
            self._last_obs = self._clip(self._reset_task(self.task_id))
            for action in episode["history"]:
                self.step(action)
        self._rng_state_at_reset = episode["rng_reset"]
        if episode["rng_now"] is not None:
            self._np_random = np.random.Generator(np.random.PCG64())
            self._np_random.bit_generator.state = episode["rng_now"]
