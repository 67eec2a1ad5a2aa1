"""TextCraft's crafting rules over the vendored Minecraft 1.16 recipe files.

Rules (as in the TextCraft environment of ADaPT, Prasad et al. 2023):

* Only ``minecraft:crafting_shaped`` and ``minecraft:crafting_shapeless`` recipes count.
  A shaped recipe needs each key as often as it appears in the pattern; a shapeless one
  needs each listed ingredient once per listing. Where an ingredient lists alternatives,
  the first is used.
* A recipe whose single ingredient is a ``*_block`` is dropped (no un-crafting of blocks).
* A recipe's ``group`` names a tag (e.g. ``planks``) that its output satisfies.
* Files are read in sorted order; a recipe whose ingredient already (transitively) needs
  its output is dropped, which breaks cycles deterministically.
* A tag ingredient none of whose members can be crafted becomes a plain base item.
* Base items are the valid items without recipes; they are fetched with ``get``.

Minimum crafting depth: 0 for base items; for a craftable item the minimum over its recipes
of (1 + the deepest ingredient).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Ingredient:
    name: str  # item or tag id without the "minecraft:" prefix, e.g. "oak_planks" / "planks"
    count: int
    is_tag: bool


@dataclass(frozen=True)
class Recipe:
    output: str
    count: int
    inputs: tuple[Ingredient, ...]

    @property
    def text(self) -> str:
        ins = ", ".join(f"{i.count} {readable(i.name)}" for i in self.inputs)
        return f"craft {self.count} {readable(self.output)} using {ins}"


def readable(item: str) -> str:
    return item.replace("minecraft:", "").replace("_", " ")


def item_id(text: str) -> str:
    return text.strip().lower().replace("minecraft:", "").replace(" ", "_")


def _strip(name: str) -> str:
    return name.replace("minecraft:", "")


class CraftingRules:
    """Recipes, tags, base items and depths built from the raw recipe files (see module doc)."""

    def __init__(self, raw: dict[str, dict]):
        self.recipes: dict[str, list[Recipe]] = {}  # item -> recipes producing it
        self.tag_recipes: dict[str, list[Recipe]] = {}  # tag -> recipes producing a member
        self.item_tag: dict[str, str] = {}  # item -> tag (group) it satisfies
        self.tags: set[str] = set()
        self.items: set[str] = set()
        deps: dict[str, set[str]] = {}
        for fname in sorted(raw):
            rec = raw[fname]
            inputs = self._parse_inputs(rec)
            if inputs is None:
                continue
            result = rec["result"]
            out = _strip(result if isinstance(result, str) else result["item"])
            count = 1 if isinstance(result, str) else int(result.get("count") or 1)
            self.items.add(out)
            if len(inputs) == 1 and inputs[0].name.endswith("_block"):
                continue
            group = rec.get("group")
            if group is not None and group != out:
                self.tags.add(group)
                self.item_tag[out] = group
            deps.setdefault(out, set())
            if any(out in deps.get(i.name, ()) for i in inputs):
                continue
            recipe = Recipe(out, count, tuple(inputs))
            self.recipes.setdefault(out, []).append(recipe)
            for i in inputs:
                deps[out].add(i.name)
                deps[out].update(deps.get(i.name, ()))
            if group is not None:
                self.tag_recipes.setdefault(group, []).append(recipe)
        self._demote_uncraftable_tags()
        self.base_items = sorted(i for i in self.items if i not in self.recipes and i not in self.tag_recipes
                                 and i not in self.tags)
        self._depth: dict[str, int] = {}

    def _parse_inputs(self, rec: dict) -> list[Ingredient] | None:
        kind = rec.get("type")
        counts: dict[tuple[str, bool], int] = {}
        if kind == "minecraft:crafting_shaped":
            for key, ing in rec["key"].items():
                ing = ing[0] if isinstance(ing, list) else ing
                n = sum(line.count(key) for line in rec["pattern"])
                counts[self._ingredient_key(ing)] = counts.get(self._ingredient_key(ing), 0) + n
        elif kind == "minecraft:crafting_shapeless":
            for ing in rec["ingredients"]:
                ing = ing[0] if isinstance(ing, list) else ing
                k = self._ingredient_key(ing)
                counts[k] = counts.get(k, 0) + 1
        else:
            return None
        return [Ingredient(name, n, is_tag) for (name, is_tag), n in counts.items()]

    def _ingredient_key(self, ing: dict) -> tuple[str, bool]:
        if "item" in ing:
            self.items.add(_strip(ing["item"]))
            return _strip(ing["item"]), False
        self.tags.add(_strip(ing["tag"]))
        return _strip(ing["tag"]), True

    def _demote_uncraftable_tags(self) -> None:
        demoted = set()
        for item, recipes in self.recipes.items():
            for r_idx, recipe in enumerate(recipes):
                new_inputs = []
                for ing in recipe.inputs:
                    if ing.is_tag and not any(self.item_tag.get(m) == ing.name and m in self.recipes
                                              for m in self.item_tag):
                        demoted.add(ing.name)
                        ing = Ingredient(ing.name, ing.count, False)
                    new_inputs.append(ing)
                if tuple(new_inputs) != recipe.inputs:
                    new = Recipe(recipe.output, recipe.count, tuple(new_inputs))
                    recipes[r_idx] = new
                    for tag_list in self.tag_recipes.values():
                        tag_list[:] = [new if r is recipe else r for r in tag_list]
        self.items |= demoted
        self.tags -= demoted

    # ----- queries -----------------------------------------------------------------------
    def is_craftable(self, name: str) -> bool:
        return name in self.recipes or name in self.tag_recipes

    def tag_members(self, tag: str) -> list[str]:
        return sorted(m for m, t in self.item_tag.items() if t == tag and m in self.recipes)

    def satisfies(self, item: str, ing: Ingredient) -> bool:
        return self.item_tag.get(item) == ing.name if ing.is_tag else item == ing.name

    def depth(self, name: str) -> int:
        if name not in self._depth:
            self._depth[name] = 0  # guard against re-entry; recipes are acyclic after loading
            recipes = self.recipes.get(name) or self.tag_recipes.get(name) or []
            if recipes:
                self._depth[name] = min(max(self.depth(i.name) + 1 for i in r.inputs) for r in recipes)
        return self._depth[name]

    def recipe_tree(self, goal: str) -> list[Recipe]:
        """Every recipe reachable from ``goal`` (its recipes, then its ingredients'), in visit order."""
        seen: dict[Recipe, None] = {}
        stack = [goal]
        visited = set()
        while stack:
            name = stack.pop(0)
            if name in visited:
                continue
            visited.add(name)
            for recipe in self.recipes.get(name) or self.tag_recipes.get(name) or []:
                seen.setdefault(recipe, None)
                stack.extend(i.name for i in recipe.inputs)
        return list(seen)

    def uses(self, name: str) -> list[Recipe]:
        """Recipes with ``name`` among their ingredients (in load order)."""
        if not hasattr(self, "_uses"):
            self._uses: dict[str, list[Recipe]] = {}
            for rs in self.recipes.values():
                for r in rs:
                    for i in r.inputs:
                        self._uses.setdefault(i.name, []).append(r)
        return self._uses.get(name, [])

    def match(self, output: str, given: list[tuple[str, int]]) -> Recipe | None:
        """The recipe for ``output`` that the (item, count) list fills exactly, if any."""
        for recipe in self.recipes.get(output, []):
            remaining = list(given)
            ok = True
            for ing in recipe.inputs:
                hit = next((g for g in remaining if self.satisfies(g[0], ing)), None)
                if hit is None or hit[1] != ing.count:
                    ok = False
                    break
                remaining.remove(hit)
            if ok and not remaining:
                return recipe
        return None


@lru_cache(maxsize=1)
def load_rules() -> CraftingRules:
    path = resources.files("agentprm_bench.envs") / "data" / "textcraft" / "recipes.json.gz"
    with path.open("rb") as fh:
        raw = json.loads(gzip.decompress(fh.read()))
    return CraftingRules(raw)
