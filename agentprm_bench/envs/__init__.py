"""All environment registration lives here: Gymnasium ids ``agentprm/<Name>-v<N>``.

The version is bumped whenever an env's behaviour changes (all three went to v1 when they
were made to match AgentGym's servers); records keep the id they were made with.

``import agentprm_bench`` (or this module) registers them; ``gymnasium.make`` then builds
them. Entry points are lazy strings, so registering loads no data.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass

import gymnasium as gym

from agentprm_bench.errors import UserError


@dataclass(frozen=True)
class EnvEntry:
    env_id: str
    short_name: str
    entry_point: str  # "module:Class"
    metric: str  # the paper's metric: "success" or "reward"

    def load_class(self) -> type:
        module, attr = self.entry_point.split(":")
        return getattr(importlib.import_module(module), attr)


ENVS: dict[str, EnvEntry] = {
    e.env_id: e
    for e in (
        EnvEntry("agentprm/WebShop-v1", "webshop", "agentprm_bench.envs.webshop.env:WebShopEnv", "success"),
        EnvEntry("agentprm/BabyAI-v1", "babyai", "agentprm_bench.envs.babyai:BabyAIEnv", "reward"),
        EnvEntry("agentprm/TextCraft-v1", "textcraft", "agentprm_bench.envs.textcraft:TextCraftEnv", "success"),
    )
}


def register_all() -> None:
    for entry in ENVS.values():
        if entry.env_id not in gym.registry:
            gym.register(id=entry.env_id, entry_point=entry.entry_point)


def resolve_env(name: str) -> EnvEntry:
    """An env by id ("agentprm/WebShop-v1") or short name ("webshop"), case-insensitively."""
    key = name.strip().lower()
    for entry in ENVS.values():
        if key in (entry.env_id.lower(), entry.short_name, entry.env_id.split("/")[-1].lower()):
            return entry
    names = [e.env_id for e in ENVS.values()] + [e.short_name for e in ENVS.values()]
    close = difflib.get_close_matches(name, names, n=2, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UserError(f"unknown environment {name!r}.{hint} Known: {', '.join(ENVS)} (see `agentprm-bench envs`).")


def make_env(env_id: str, **kwargs: object) -> gym.Env:
    """The unwrapped env for one of ours (id or short name) or an id already in gymnasium's
    registry. Nothing else reaches ``gym.make``, which would import a module an id such as
    ``module:Env`` names (ids come from files)."""
    try:
        name = resolve_env(env_id).env_id
    except UserError:
        if env_id not in gym.registry:
            raise
        name = env_id
    return gym.make(name, **kwargs).unwrapped


def first_tasks(entry: EnvEntry, split: str, n: int | None) -> list[int]:
    """The first ``n`` task ids of a split (all for None); more than the split holds is an error."""
    splits = entry.load_class().splits()
    if split not in splits:
        raise UserError(f"unknown split {split!r} for {entry.env_id}; choose one of {sorted(splits)}")
    ids = list(splits[split])
    if n is None:
        return ids
    if n < 1:
        raise UserError(f"--tasks must be at least 1, got {n}")
    if n > len(ids):
        raise UserError(f"--tasks {n} is more than the {len(ids)} tasks of {entry.env_id}'s {split} split; "
                        f"use --tasks {len(ids)} or fewer")
    return ids[:n]


register_all()

__all__ = ["ENVS", "EnvEntry", "first_tasks", "make_env", "register_all", "resolve_env"]
