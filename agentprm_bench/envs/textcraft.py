"""TextCraft as ADaPT wrote it and AgentGym serves it: craft a Minecraft item by text commands."""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any, Sequence

from agentprm_bench.envs.base import Step, TextEnv, reset_options
from agentprm_bench.envs.textcraft_recipes import (CraftingRules, Ingredient, Recipe, adapt_test_goals,
                                                   load_rules, readable)
from agentprm_bench.errors import UserError

MAX_DISTRACTORS = 10
AGENTGYM_RESET_SEED = 42  # AgentGym's reset seeds Python's random with 42 before drawing distractors


def _best_recipe(rules: CraftingRules, item: str, memo: dict[str, tuple[float, Recipe | None]]) -> tuple[float, Recipe | None]:
    """Cheapest recipe for ``item`` by a command-count estimate (1 per craft, 1 per base get)."""
    if item in memo:
        return memo[item]
    memo[item] = (math.inf, None)
    if item not in rules.recipes:
        memo[item] = (1.0, None) if rules.is_base(item) else (math.inf, None)
        return memo[item]
    best: tuple[float, Recipe | None] = (math.inf, None)
    for recipe in rules.recipes[item]:
        cost = 1.0 + sum(_ingredient_cost(rules, ing, memo)[0] for ing in recipe.inputs)
        if cost < best[0]:
            best = (cost, recipe)
    memo[item] = best
    return best


def _ingredient_cost(rules: CraftingRules, ing: Ingredient, memo: dict) -> tuple[float, str]:
    if not ing.is_tag:
        return _best_recipe(rules, ing.name, memo)[0], ing.name
    costs = [(_best_recipe(rules, m, memo)[0], m) for m in rules.members(ing.name)]
    return min(costs) if costs else (math.inf, ing.name)


def plan_commands(rules: CraftingRules, goal: str, inventory: dict[str, int]) -> list[str]:
    """A short command list (by a command-count estimate) that crafts ``goal`` from ``inventory``.

    All ``get`` commands come first (one per base item, with the total amount needed), then
    the ``craft`` commands in dependency order; tag ingredients are named by a member item.
    """
    memo: dict[str, tuple[float, Recipe | None]] = {}
    inv = {k: v for k, v in inventory.items() if v > 0}
    gets: dict[str, int] = {}
    crafts: list[str] = []

    def pick(ing: Ingredient, amount: int) -> str:
        """A tag ingredient is filled by a member already held in quantity, else the cheapest."""
        if ing.is_tag:
            held = [m for m in inv if inv[m] >= amount and rules.fills(m, ing)]
            if held:
                return held[0]
        return _ingredient_cost(rules, ing, memo)[1]

    def acquire(item: str, n: int) -> None:
        have = inv.get(item, 0)
        if have >= n:
            return
        need = n - have
        recipe = _best_recipe(rules, item, memo)[1]
        if recipe is None:
            gets[item] = gets.get(item, 0) + need
            inv[item] = inv.get(item, 0) + need
            return
        times = math.ceil(need / recipe.count)
        chosen = [(pick(ing, ing.count * times), ing.count) for ing in recipe.inputs]
        for name, count in chosen:
            acquire(name, count * times)
        for _ in range(times):
            for name, count in chosen:
                inv[name] -= count
            inv[item] = inv.get(item, 0) + recipe.count
            used = ", ".join(f"{count} {readable(name)}" for name, count in chosen)
            crafts.append(f"craft {recipe.count} {readable(item)} using {used}")

    acquire(goal, inventory.get(goal, 0) + 1)
    return [f"get {n} {readable(b)}" for b, n in gets.items()] + crafts


@lru_cache(maxsize=1)
def task_items() -> tuple[str, ...]:
    """Goal items by task id: ADaPT's 200 test goals in episode order, then every other
    craftable item ordered by (crafting depth, id)."""
    rules = load_rules()
    test = adapt_test_goals()
    held_out = set(test)
    rest = sorted((i for i in rules.recipes if i not in held_out), key=lambda i: (rules.depth(i), i))
    return tuple(test) + tuple(rest)


def _parse_count(text: str) -> tuple[int, str] | None:
    """``([0-9]+) (.*)`` matched at the start of one line: (count, rest of the line)."""
    line = text.split("\n", 1)[0]
    k = 0
    while k < len(line) and line[k] in "0123456789":
        k += 1
    if k == 0 or k >= len(line) or line[k] != " ":
        return None
    return int(line[:k]), line[k + 1:]


class TextCraftEnv(TextEnv):
    """Craft a target Minecraft item from base materials using text commands.

    ## Description
    ADaPT's TextCraft (Prasad et al., 2023), the code AgentGym's ``agentenv-textcraft``
    serves: the Minecraft 1.16 crafting recipes under its rules (``textcraft_recipes``).
    Task ``i < 200`` is ADaPT's test goal ``env_i`` (the split "test"); tasks 200 and up
    are every other craftable item, ordered by minimum crafting depth then id ("train").

    ## Observation
    At reset ``Crafting commands:`` with every recipe of the goal's crafting tree plus up to
    10 distractor recipes that share an ingredient with it, shuffled, then ``Goal: craft
    X.``. The candidate distractors are drawn as the original draws them (Python's
    ``random`` seeded 42, up to 10 uses per ingredient listing of the tree walk), so the
    candidate set and the number shown match it; which 10 candidates and which line order
    the original then shows depends on Python's per-process string hashing (it samples and
    shuffles a ``set``), so here the same generator runs over the sorted lines instead. After an action, the
    original's text, verbatim: ``Got 2 oak logs``, ``Crafted 4 minecraft:oak_planks``,
    ``Inventory: [stick] (4) ``, ``Could not find X``, ``Could not find enough items to
    craft minecraft:X``, ``Could not find a valid recipe for ItemTagWithCount(...)``,
    ``Wrong item format: ...``, ``Could not execute ...``.

    ## Actions
    As the original parses them, case-sensitive, no trimming: ``get N <item>`` (items
    without a recipe that are not tags; N may be 0), ``craft <N> <item> using n1 a, n2 b``
    (the recipe's exact counts, a concrete item for a tag ingredient; N itself is not
    checked), and anything starting with ``inventory``. ``info["admissible_actions"]`` (an
    extension: the original lists none) holds the ``get`` commands of the oracle's plan from
    the current inventory, a ``get`` per base item of the tree with its recipe count, a
    ``craft`` per shown recipe (a tag named by the member held, else its first member) and
    ``inventory``.

    ## Rewards
    1.0 when the goal item is crafted, else 0.

    ## Episode end
    Terminated when the goal is crafted; truncated after ``max_turns`` actions (default 20,
    the paper's limit).

    ## Arguments
    ``max_turns`` (int, default 20), ``split`` ("train" | "test", for tasks drawn when no
    ``task_id`` is given), ``depths`` (optional tuple restricting drawn tasks by depth),
    ``render_mode`` ("ansi").
    """

    observation_max_length = 8192
    snapshot_shared = frozenset({"rules", "_plans"})  # the recipe data; plans cached by (goal, inventory)
    default_max_turns = 20

    def __init__(self, *, max_turns: int | None = None, split: str = "test", render_mode: str | None = None,
                 depths: Sequence[int] | None = None):
        super().__init__(max_turns=max_turns, split=split, render_mode=render_mode, depths=depths)
        self.rules = load_rules()
        self.depths = tuple(depths) if depths is not None else None
        self.goal = ""
        self.inventory: dict[str, int] = {}
        self._won = False
        self._tree_bases: list[tuple[int, str]] = []
        self._shown: list[Recipe] = []
        self._plans: dict[tuple, list[str]] = {}
        self.distractor_candidates: list[str] = []

    # ----- tasks -------------------------------------------------------------------------
    @classmethod
    def num_tasks(cls) -> int:
        return len(task_items())

    @classmethod
    def splits(cls) -> dict[str, Sequence[int]]:
        return _splits()

    def _draw_pool(self) -> Sequence[int]:
        ids = self.splits()[self.split]
        if self.depths is None:
            return ids
        items = task_items()
        pool = [i for i in ids if self.rules.depth(items[i]) in self.depths]
        if not pool:
            raise UserError(f"no {self.split} task has crafting depth in {self.depths} (train goals have depth 1-2: "
                            "ADaPT's 200 test goals include every deeper item); pick other depths or split='test'")
        return pool

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        options = reset_options(options)
        if options.get("task_id") is None and self.depths is not None:
            super(TextEnv, self).reset(seed=seed)
            pool = self._draw_pool()
            options["task_id"] = int(pool[int(self.np_random.integers(len(pool)))])
            seed = None
        return super().reset(seed=seed, options=options)

    def _reset_task(self, task_id: int) -> str:
        self.goal = task_items()[task_id]
        self.inventory = {}
        self._won = False
        self._plans: dict[tuple, list[str]] = {}
        shown, candidates, bases = _layout(task_id)
        self._shown, self.distractor_candidates, self._tree_bases = list(shown), list(candidates), list(bases)
        listing = "\n".join(r.text for r in self._shown)
        return f"Crafting commands:\n{listing}\n\nGoal: craft {readable(self.goal)}."

    @property
    def depth(self) -> int:
        return self.rules.depth(self.goal)

    def extra_info(self) -> dict[str, Any]:
        return {"goal": self.goal, "depth": self.depth if self.goal else 0}

    # ----- dynamics: the original's parser and messages ------------------------------------
    def _act(self, action: str) -> Step:
        line = action.split("\n", 1)[0]
        if line.startswith("craft "):
            cut = line.rfind(" using ")
            if cut >= len("craft "):
                return self._craft(line[len("craft "):cut], line[cut + len(" using "):])
        if line.startswith("get "):
            parsed = _parse_count(line[len("get "):])
            if parsed is not None:
                return self._get(*parsed)
        if action.startswith("inventory"):
            return Step(self._inventory_text())
        return Step(f"Could not execute {action}", valid=False)

    def _item(self, text: str) -> tuple[str, bool]:
        """The original's reading of an item name: (id, is a tag)."""
        name = "minecraft:" + text.replace(" ", "_")
        return name, name in self.rules.tags

    def _inventory_text(self) -> str:
        if not self.inventory:
            return "Inventory: You are not carrying anything."
        return "Inventory: " + "".join(f"[{readable(i)}] ({n}) " for i, n in self.inventory.items())

    def _get(self, n: int, text: str) -> Step:
        name, is_tag = self._item(text)
        if is_tag or not self.rules.is_base(name):
            return Step(f"Could not find {text}", valid=False)
        self.inventory[name] = self.inventory.get(name, 0) + n
        if name == self.goal:
            self._won = True
            return Step(f"Got {n} {text}", reward=1.0, terminated=True)
        return Step(f"Got {n} {text}")

    def _craft(self, output_text: str, inputs_text: str) -> Step:
        parsed = _parse_count(output_text)
        out_name, out_tag = self._item(parsed[1] if parsed else output_text)
        out_count = parsed[0] if parsed else 1
        given: list[tuple[str, bool, int]] = []
        for part in inputs_text.split(","):
            m = _parse_count(part.strip())
            if m is None:
                return Step(f"Wrong item format: {part.strip()}", valid=False)
            given.append((*self._item(m[1]), m[0]))
        out_id = None if out_tag else out_name
        if any(is_tag or self.inventory.get(name, -1) < n for name, is_tag, n in given):
            return Step(f"Could not find enough items to craft {out_id}", valid=False)
        made = self._match(out_id, given)
        if made is None:
            tag, item = (out_name, None) if out_tag else (None, out_name)
            return Step(f"Could not find a valid recipe for ItemTagWithCount(item_tag=ItemTag(tag={tag!r}, "
                        f"item_id={item!r}), count={out_count!r})", valid=False)
        for name, _, n in given:
            self.inventory[name] -= n
            if self.inventory[name] == 0:
                del self.inventory[name]
        self.inventory[made.output] = self.inventory.get(made.output, 0) + made.count
        if made.output == self.goal:
            self._won = True
            return Step(f"Crafted {made.count} {made.output}", reward=1.0, terminated=True)
        return Step(f"Crafted {made.count} {made.output}")

    def _match(self, out_id: str | None, given: list[tuple[str, bool, int]]) -> Recipe | None:
        """The first recipe of the output (load order) whose ingredients the given list fills exactly."""
        if out_id is None or out_id not in self.rules.recipes:
            return None
        for recipe in self.rules.recipes[out_id]:
            left = list(given)
            for ing in recipe.inputs:
                # typed tags never get here (they fail the has-items check), as in the original
                hit = next((g for g in left if self.rules.fills(g[0], ing)), None)
                if hit is None or hit[2] != ing.count:
                    break
                left.remove(hit)
            else:
                if not left:
                    return recipe
        return None

    # ----- helpers -----------------------------------------------------------------------
    @property
    def won(self) -> bool:
        return self._won

    def _concrete(self, ing: Ingredient) -> str:
        """The item to name for an ingredient: itself, or for a tag the member held (else the first)."""
        if not ing.is_tag:
            return ing.name
        held = [i for i in self.inventory if self.rules.fills(i, ing)]
        members = self.rules.members(ing.name)
        return held[0] if held else (members[0] if members else ing.name)

    def _plan(self) -> list[str]:
        """The oracle's plan from the current inventory (cached per inventory within the episode)."""
        key = tuple(self.inventory.items())
        if key not in self._plans:
            self._plans[key] = plan_commands(self.rules, self.goal, self.inventory)
        return self._plans[key]

    def oracle_action(self) -> str:
        plan = self._plan()
        return plan[0] if plan else "inventory"

    def admissible_actions(self) -> list[str]:
        planned = [a for a in self._plan() if a.startswith("get ")]
        actions = planned + [f"get {n} {readable(b)}" for n, b in self._tree_bases]
        for recipe in self._shown:
            used = ", ".join(f"{ing.count} {readable(self._concrete(ing))}" for ing in recipe.inputs)
            actions.append(f"craft {recipe.count} {readable(recipe.output)} using {used}")
        actions.append("inventory")
        return list(dict.fromkeys(actions))


@lru_cache(maxsize=1024)
def _layout(task_id: int) -> tuple[list[Recipe], list[str], list[tuple[int, str]]]:
    """A task's reset layout: the recipes shown (in order), the distractor candidates, and the
    tree's base items with their largest recipe count. A pure function of the task.

    The candidates are drawn as AgentGym draws them: Python's ``random`` seeded 42, up to 10
    uses of every ingredient listing along the tree walk; then 10 are picked and the lines
    shuffled by the same generator (over sorted lines: the original's set order is hash-seeded).
    """
    rules = load_rules()
    goal = task_items()[task_id]
    walk = rules.walk(goal)
    tree_text = sorted({r.text for r in walk})
    rng = random.Random(AGENTGYM_RESET_SEED)
    candidates: set[str] = set()
    for recipe in walk:
        for ing in recipe.inputs:
            uses = rules.uses(ing.name)
            if uses:
                candidates.update(r.text for r in rng.sample(uses, min(len(uses), MAX_DISTRACTORS)))
    pool = sorted(candidates - set(tree_text))
    lines = tree_text + rng.sample(pool, min(len(pool), MAX_DISTRACTORS))
    rng.shuffle(lines)
    by_text: dict[str, Recipe] = {}
    for recipe in walk + [r for rs in rules.recipes.values() for r in rs]:
        by_text.setdefault(recipe.text, recipe)
    bases: dict[str, int] = {}
    for recipe in walk:
        for ing in recipe.inputs:
            if rules.is_base(ing.name):
                bases[ing.name] = max(bases.get(ing.name, 0), ing.count)
    return [by_text[line] for line in lines], pool, sorted((n, b) for b, n in bases.items())


@lru_cache(maxsize=1)
def _splits() -> dict[str, list[int]]:
    n_test = len(adapt_test_goals())
    return {"test": list(range(n_test)), "train": list(range(n_test, len(task_items())))}
