"""The WebShop environment: find and buy the product an instruction describes."""

from __future__ import annotations

import re
from dataclasses import asdict
from functools import lru_cache
from typing import Any, Sequence

from agentprm_bench.envs.base import ASCII_CHARSET, Step, TextEnv
from agentprm_bench.envs.webshop import pages
from agentprm_bench.envs.webshop.catalog import Catalog, Goal, Product, load_catalog
from agentprm_bench.envs.webshop.pages import BACK, BUY, ITEM_BUTTONS, NEXT, PREV, SEARCH, SUB_PAGES
from agentprm_bench.envs.webshop.reward import RewardBreakdown, webshop_reward
from agentprm_bench.envs.webshop.search import SearchEngine, document_text

RESULTS_PER_PAGE = 10
TOP_K = 50
PRICE_CLAUSE = ", and price lower than"
_ACTION = re.compile(r"(.+)\[(.+)\]")  # the original's parse: re.match, greedy, no newlines


@lru_cache(maxsize=1)
def load_search() -> SearchEngine:
    return SearchEngine((p.asin, document_text(p)) for p in load_catalog().products.values())


@lru_cache(maxsize=1)
def webshop_charset() -> str:
    """Every character the pages can show: the catalogue's texts plus printable ASCII."""
    cat = load_catalog()
    chars = set(ASCII_CHARSET)
    for p in cat.products.values():
        for text in (p.title, p.description, p.price_tag, *p.bullet_points, *p.options,
                     *(v for vs in p.options.values() for v in vs)):
            chars.update(text.strip())
    for g in cat.goals:
        chars.update(g.instruction.strip())
    return "".join(sorted(chars))


def search_query_for(goal: Goal) -> str:
    """The instruction without its price clause: the search offered among the admissible actions."""
    return goal.instruction.split(PRICE_CLAUSE)[0]


def parse_action(action: str) -> tuple[str, str | None]:
    m = _ACTION.match(action)
    return (m.group(1), m.group(2)) if m else (action, None)


class WebShopEnv(TextEnv):
    """Shop for the product described by an instruction in a 1,000-product web store.

    ## Description
    WebShop (Yao et al., 2022) in its text mode, as AgentGym serves it and the AgentPRM paper
    ran it: the 1,000-product setup, its 6,910 synthetic goals in the original's order (task
    ``i`` is the original's session ``i``), its search (BM25 over the same fields, see
    ``search.py``), pages, action handling and reward, checked step by step against
    recordings of the original (``tests/data/conformance``). Splits are the original's
    ranges: test 0-499, eval 500-1499, train 1500-6909.

    ## Observation
    The page's visible text items joined by `` [SEP] ``, exactly as the original's
    ``observation_mode="text"``: the search page (``WebShop [SEP] Instruction: [SEP] ... [SEP]
    Search``); a results page (``Page 1 (Total results: 50)``, then ASIN, title and price of
    up to 10 products); an item page (option names and values first, then title, price,
    rating and the Description / Features / Reviews / Buy Now buttons); a sub page; and the
    done page after a purchase. Selected options are not shown (as in the original).

    ## Actions
    ``search[keywords]`` (accepted on any page, as the original accepts it) and
    ``click[label]`` for a clickable of the page, case-insensitive (the original lower-cases
    the argument). Anything else, including a click on something the page lacks, changes
    nothing and returns the same page (``info["valid_action"]`` is False).
    ``info["admissible_actions"]`` is the original's ``get_available_actions`` written as
    actions: on the search page one search (the instruction without its price clause; any
    other query is allowed too), elsewhere ``click[...]`` for every clickable, with the
    label as the page shows it.

    ## Rewards
    On Buy Now, WebShop's reward in [0, 1] (``reward.webshop_reward``), 0 otherwise.
    ``info["purchase"]`` holds its components. Success (``won``) is reward 1.

    ## Episode end
    Terminated by Buy Now; truncated after ``max_turns`` actions (default 6).

    ## Arguments
    ``max_turns`` (int, default 6), ``split`` ("test" | "eval" | "train"), ``render_mode`` ("ansi").
    """

    observation_max_length = 16384
    snapshot_shared = frozenset({"catalog", "engine", "goal"})  # products, search index, the task's goal
    default_max_turns = 6

    def __init__(self, *, max_turns: int | None = None, split: str = "test", render_mode: str | None = None):
        self.charset = webshop_charset()
        super().__init__(max_turns=max_turns, split=split, render_mode=render_mode)
        self.catalog: Catalog = load_catalog()
        self.engine = load_search()
        self.goal: Goal | None = None
        self._clear("search")
        self.purchase: RewardBreakdown | None = None

    def _clear(self, page: str) -> None:
        self.page, self.keywords, self.page_num = page, "", 1
        self.results: list[str] = []
        self.item: str | None = None
        self.sub_page = ""
        self.selected: dict[str, str] = {}

    @classmethod
    def num_tasks(cls) -> int:
        return len(load_catalog().goals)

    @classmethod
    def splits(cls) -> dict[str, Sequence[int]]:
        return load_catalog().splits()

    def _reset_task(self, task_id: int) -> str:
        self.goal = self.catalog.goals[task_id]
        self._clear("search")
        self.purchase = None
        return self._render()

    @property
    def won(self) -> bool:
        return self.purchase is not None and self.purchase.reward == 1.0

    def extra_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"page": self.page}
        if self.goal is not None:
            info["goal_asin"] = self.goal.asin
        if self.purchase is not None:
            info["purchase"] = asdict(self.purchase)
        return info

    @property
    def product(self) -> Product:
        assert self.item is not None
        return self.catalog.products[self.item]

    # ----- pages -------------------------------------------------------------------------
    def _page_products(self) -> list[Product]:
        start = (self.page_num - 1) * RESULTS_PER_PAGE
        return [self.catalog.products[a] for a in self.results[start:start + RESULTS_PER_PAGE]]

    def clickables(self) -> dict[str, tuple[str, str, str]]:
        """The original's ``text_to_clickable``: lower-cased label -> (label as shown, kind, option name);
        kind is "button", "product" or "option"; a later clickable with the same label replaces an earlier."""
        out: dict[str, tuple[str, str, str]] = {}
        if self.page == "search":
            buttons = [SEARCH]
        elif self.page == "results":
            buttons = [BACK, PREV, NEXT] if self.page_num > 1 else [BACK, NEXT]
        elif self.page == "item":
            buttons = list(ITEM_BUTTONS)
        elif self.page == "sub":
            buttons = [BACK, PREV]
        else:
            buttons = []
        for b in buttons:
            out[b.lower()] = (b, "button", "")
        if self.page == "results":
            for p in self._page_products():
                out[p.asin.lower()] = (p.asin, "product", "")
        if self.page == "item":
            for name, values in self.product.options.items():
                for v in values:
                    out[v] = (v, "option", name)
        return out

    def _render(self) -> str:
        assert self.goal is not None
        text = self.goal.instruction
        if self.page == "search":
            return pages.search_page(text)
        if self.page == "results":
            return pages.results_page(text, self._page_products(), self.page_num, len(self.results))
        if self.page == "item":
            return pages.item_page(text, self.product)
        return pages.sub_page(text, self.product, self.sub_page)

    # ----- actions -----------------------------------------------------------------------
    def _act(self, action: str) -> Step:
        name, arg = parse_action(action)
        if arg is not None:
            arg = arg.lower()
        clickables = self.clickables()
        if name == "search" and arg:
            if not self._search(arg):
                return Step(self._render(), valid=False)
        elif name == "click" and arg in clickables and arg != "search":
            if arg == BUY.lower():
                return self._buy()
            self._click(arg, *clickables[arg][1:])
        else:
            return Step(self._render(), valid=False)
        return Step(self._render())

    def _search(self, query: str) -> bool:
        """Run a search (the original's special prefixes included); False where the original crashes."""
        words = query.split(" ")
        if words[0] == "<r>":
            order = self.np_random.permutation(len(self.catalog.products))[:TOP_K]
            results = [list(self.catalog.products)[int(i)] for i in order]
        elif words[0] == "<c>" and len(words) > 1:
            results = [a for a, p in self.catalog.products.items() if p.category == words[1].strip()]
        elif words[0] == "<q>":
            q = " ".join(words[1:]).strip()
            results = [a for a, p in self.catalog.products.items() if p.query == q]
        elif words[0] in ("<a>", "<c>"):
            return False
        else:
            results = self.engine.search(query, TOP_K)
        self._clear("results")
        self.keywords, self.results = query, results
        return True

    def _click(self, label: str, kind: str, option: str) -> None:
        if label == BACK.lower():
            self._clear("search")
        elif label == NEXT.lower() and self.page == "results":
            self.page_num += 1
        elif label == PREV.lower() and self.page == "results":
            self.page_num -= 1
        elif label == PREV.lower() and self.page == "sub":
            self.page = "item"
        elif label == PREV.lower() and self.page == "item":
            self.page, self.item, self.selected = "results", None, {}
        elif label in (s.lower() for s in (*SUB_PAGES, "Attributes")):
            self.page, self.sub_page = "sub", label.capitalize()
        elif kind == "product":
            self.page, self.item = "item", label.upper()
        elif kind == "option":
            self.page, self.selected[option] = "item", label

    def _buy(self) -> Step:
        assert self.goal is not None and self.item is not None
        self.purchase = webshop_reward(self.product, self.goal, self.catalog.prices[self.item], self.selected)
        self.page = "done"
        return Step(pages.done_page(self.item, self.selected, self.purchase.reward),
                    reward=self.purchase.reward, terminated=True)

    # ----- helpers -----------------------------------------------------------------------
    def admissible_actions(self) -> list[str]:
        if self.page == "search":
            assert self.goal is not None
            return [f"search[{search_query_for(self.goal)}]"]
        return [f"click[{shown}]" for shown, _, _ in self.clickables().values()]

    def oracle_action(self) -> str:
        """Search the instruction (the target's title where that misses the first page), page
        to the target, open it, select the goal's option values, buy."""
        goal = self.goal
        assert goal is not None
        target = goal.asin
        if self.page == "search":
            queries = [search_query_for(goal), self.catalog.products[target].title]
            hits = [self.engine.search(q.lower(), TOP_K) for q in queries]
            first_page = [q for q, h in zip(queries, hits) if target in h[:RESULTS_PER_PAGE]]
            anywhere = [q for q, h in zip(queries, hits) if target in h]
            return f"search[{(first_page or anywhere or queries[1:])[0]}]"
        if self.page == "results":
            if target in self.results[(self.page_num - 1) * RESULTS_PER_PAGE:self.page_num * RESULTS_PER_PAGE]:
                return f"click[{target}]"
            if target in self.results:
                later = self.results.index(target) // RESULTS_PER_PAGE + 1 > self.page_num
                return f"click[{NEXT if later else PREV}]"
            return f"click[{BACK}]"
        if self.page == "item" and self.item == target:
            for name, value in goal.options:
                if self.selected.get(name) != value and value not in self.selected.values():
                    return f"click[{value}]"
            return f"click[{BUY}]"
        return f"click[{PREV}]" if self.page in ("item", "sub") else f"click[{BACK}]"
