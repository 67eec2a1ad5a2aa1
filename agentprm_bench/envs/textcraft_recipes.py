"""TextCraft's crafting graph over the vendored Minecraft 1.16 recipe files, as ADaPT builds it.

The rules of ADaPT's TextCraft (Prasad et al., 2023), which AgentGym serves unchanged:

* Files are read in a fixed order (``recipes.json.gz`` stores them in it, each file's keys
  in their own order). Only ``minecraft:crafting_shaped`` and ``minecraft:crafting_shapeless``
  count. A shaped recipe has one ingredient per pattern key (the key's count in the
  pattern), in key order; a shapeless one merges repeated ingredients, in order of first
  listing. An ingredient listing alternatives uses the first.
* A recipe whose single ingredient id ends in ``_block`` is dropped (after its output has
  been counted as a valid item).
* A recipe's ``group`` names a tag its output belongs to (unless the group is the output,
  in which case the recipe is still listed under that name among the tag recipes).
* A recipe is dropped when an ingredient already (transitively, as known at that point of
  the load) needs its output. This is where the file order matters: the graph has three
  such cycles, and ADaPT's published TextCraft run resolved all three with the nuggets and
  the honey bottle craftable and iron ingot, gold ingot and honey block as base items; the
  stored order (those three files first, then the rest sorted) reproduces that.
* After loading, a tag ingredient none of whose members has a recipe becomes an item.
* ``get`` works on valid items that have no recipe and are not tags.

ADaPT's own ``traverse_recipe_tree`` extended the graph's recipe lists in place on every
reset (so crafting an item could later match recipes below it); AgentGym's copy, which the
AgentPRM paper ran, collects into a new list. This module follows AgentGym.

Names are full ids (``minecraft:oak_planks``) as the original keeps them; ``readable``
gives the text form ("oak planks").
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Ingredient:
    name: str  # item id or tag id, e.g. "minecraft:oak_planks" / "minecraft:planks"
    count: int
    is_tag: bool


@dataclass(frozen=True)
class Recipe:
    output: str  # item id
    count: int
    inputs: tuple[Ingredient, ...]
    group: str | None = None  # the tag this recipe file puts its output in

    @property
    def text(self) -> str:
        ins = ", ".join(f"{i.count} {readable(i.name)}" for i in self.inputs)
        return f"craft {self.count} {readable(self.output)} using {ins}"


def readable(name: str) -> str:
    return name.replace("minecraft:", "").replace("_", " ")


def _parse(rec: dict[str, Any]) -> list[Ingredient] | None:
    """Ingredients of one recipe file as the original counts them, or None if not crafting."""
    out: list[Ingredient] = []
    if rec["type"] == "minecraft:crafting_shaped":
        for key, ing in rec["key"].items():
            ing = ing[0] if isinstance(ing, list) else ing
            n = sum(line.count(key) for line in rec["pattern"])
            out.append(Ingredient(ing["item"], n, False) if "item" in ing else Ingredient(ing["tag"], n, True))
        return out
    if rec["type"] == "minecraft:crafting_shapeless":
        where: dict[str, int] = {}
        for ing in rec["ingredients"]:
            ing = ing[0] if isinstance(ing, list) else ing
            new = Ingredient(ing["item"], 1, False) if "item" in ing else Ingredient(ing["tag"], 1, True)
            if new.name in where:
                old = out[where[new.name]]
                out[where[new.name]] = Ingredient(old.name, old.count + 1, old.is_tag)
            else:
                where[new.name] = len(out)
                out.append(new)
        return out
    return None


class CraftingRules:
    """Recipes, tags, valid items and depths built from the raw recipe files (module doc)."""

    def __init__(self, raw: dict[str, dict[str, Any]]):
        self.items: set[str] = set()  # valid item ids
        self.tags: set[str] = set()
        self.item_tag: dict[str, str] = {}  # item id -> the group tag it belongs to
        loaded: list[Recipe] = []
        deps: dict[str, set[str]] = {}
        for rec in raw.values():  # the stored order is the load order
            inputs = _parse(rec)
            if inputs is None:
                continue
            for ing in inputs:
                (self.tags if ing.is_tag else self.items).add(ing.name)
            result = rec["result"]
            out = result if isinstance(result, str) else result["item"]
            count = 1 if isinstance(result, str) else (result.get("count") or 1)
            self.items.add(out)
            if len(inputs) == 1 and inputs[0].name.endswith("_block"):
                continue
            group = "minecraft:" + rec["group"] if "group" in rec else None
            if group is not None and group != out:  # a group equal to the output still files the recipe under it
                self.tags.add(group)
                self.item_tag[out] = group
            deps.setdefault(out, set())
            if any(out in deps.get(ing.name, ()) for ing in inputs):
                continue
            loaded.append(Recipe(out, int(count), tuple(inputs), group))
            for ing in inputs:
                deps[out].add(ing.name)
                deps[out].update(deps.get(ing.name, ()))
        craftable = {r.output for r in loaded}
        demoted = {ing.name for r in loaded for ing in r.inputs
                   if ing.is_tag and not any(t == ing.name and m in craftable for m, t in self.item_tag.items())}
        self.items |= demoted
        self.tags -= demoted
        self.recipes: dict[str, list[Recipe]] = {}  # item id -> its recipes, in load order
        self.tag_recipes: dict[str, list[Recipe]] = {}  # tag -> recipes of its members
        for r in loaded:
            r = Recipe(r.output, r.count, tuple(Ingredient(i.name, i.count, i.is_tag and i.name not in demoted)
                                                for i in r.inputs), r.group)
            self.recipes.setdefault(r.output, []).append(r)
            if r.group is not None:
                self.tag_recipes.setdefault(r.group, []).append(r)
        self._depth: dict[str, int] = {}
        self._uses: dict[str, list[Recipe]] | None = None

    # ----- queries -----------------------------------------------------------------------
    def is_craftable(self, name: str) -> bool:
        return name in self.recipes or name in self.tag_recipes

    def is_base(self, name: str) -> bool:
        """``get`` accepts it: a valid item without a recipe that is not a tag."""
        return name in self.items and not self.is_craftable(name) and name not in self.tags

    def members(self, tag: str) -> list[str]:
        """Items of ``tag`` that have a recipe, in the order the tags were met."""
        return [m for m, t in self.item_tag.items() if t == tag and m in self.recipes]

    def fills(self, item: str, ing: Ingredient) -> bool:
        """Whether ``item`` can stand for the ingredient in a craft command."""
        return self.item_tag.get(item) == ing.name if ing.is_tag else item == ing.name

    def depth(self, name: str) -> int:
        """Minimum crafting depth: 0 for base items, else min over recipes of 1 + deepest input."""
        if name not in self._depth:
            recipes = self.recipes.get(name) or self.tag_recipes.get(name) or []
            self._depth[name] = min(max(self.depth(i.name) + 1 for i in r.inputs) for r in recipes) if recipes else 0
        return self._depth[name]

    def walk(self, name: str, path: frozenset[str] = frozenset()) -> list[Recipe]:
        """The original's recipe-tree walk: ``name``'s recipes, then each ingredient's walk in
        turn, repeats included (a name already on the path contributes nothing)."""
        if name in path:
            return []
        own = self.recipes.get(name) or self.tag_recipes.get(name) or []
        out = list(own)
        for recipe in own:
            for ing in recipe.inputs:
                out.extend(self.walk(ing.name, path | {name}))
        return out

    def uses(self, name: str) -> list[Recipe]:
        """Recipes with ``name`` among their ingredients: over the item lists in load order,
        then over the tag lists (so a recipe whose output has a tag appears twice)."""
        if self._uses is None:
            self._uses = {}
            for lists in (self.recipes, self.tag_recipes):
                for rs in lists.values():
                    for r in rs:
                        for i in r.inputs:
                            self._uses.setdefault(i.name, []).append(r)
        return self._uses.get(name, [])


@lru_cache(maxsize=1)
def load_rules() -> CraftingRules:
    path = resources.files("agentprm_bench.envs") / "data" / "textcraft" / "recipes.json.gz"
    with path.open("rb") as fh:
        raw = json.loads(gzip.decompress(fh.read()))
    return CraftingRules(raw)


@lru_cache(maxsize=1)
def adapt_test_goals() -> tuple[str, ...]:
    """ADaPT's 200 TextCraft test goals, in its episode order (env_0 .. env_199)."""
    path = resources.files("agentprm_bench.envs") / "data" / "textcraft" / "adapt_test_goals.txt"
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
