"""The WebShop environment: find and buy the product an instruction describes."""

from __future__ import annotations

import re
from dataclasses import asdict
from functools import lru_cache
from typing import Any, Sequence

from agentprm_bench.envs.base import ASCII_CHARSET, Step, TextEnv, split_ids
from agentprm_bench.envs.webshop.catalog import Catalog, Goal, Product, load_catalog
from agentprm_bench.envs.webshop.reward import RewardBreakdown, webshop_reward
from agentprm_bench.envs.webshop.search import BM25Index, document_text

RESULTS_PER_PAGE = 10
TOP_K = 50
TEST_SIZE = 500
SPLIT_SALT = 233
_ACTION = re.compile(r"^(search|click)\[(.*)\]$", re.IGNORECASE | re.DOTALL)
BACK, PREV, NEXT, BUY = "Back to Search", "< Prev", "Next >", "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")


@lru_cache(maxsize=1)
def load_index() -> BM25Index:
    return BM25Index((p.asin, document_text(p)) for p in load_catalog().products.values())


@lru_cache(maxsize=1)
def webshop_charset() -> str:
    """Every character the pages can show: the catalogue's texts plus printable ASCII."""
    cat = load_catalog()
    chars = set(ASCII_CHARSET)
    for p in cat.products.values():
        for text in (p.title, p.description, p.price_tag, *p.bullet_points, *p.options,
                     *(v for vs in p.options.values() for v in vs)):
            chars.update(text)
    for g in cat.goals:
        chars.update(g.instruction)
    chars.discard("\r")
    return "".join(sorted(chars))


@lru_cache(maxsize=1)
def _splits() -> dict[str, list[int]]:
    return split_ids(len(load_catalog().goals), TEST_SIZE, SPLIT_SALT)


def search_query_for(goal: Goal) -> str:
    """The instruction without its price clause: the query offered among the admissible actions."""
    return goal.instruction.split(", and price lower than")[0]


class WebShopEnv(TextEnv):
    """Shop for the product described by an instruction in a 1,000-product web store.

    ## Description
    The standard WebShop 1k setup (Yao et al., 2022): its real products and its 6,910
    synthetic goals (one per option combination of each product with an instruction),
    rendered as text pages. A pure-Python BM25 engine serves the search (top 50 results,
    10 per page). Task ``i`` is goal ``i``; 500 fixed goals form the test split.

    ## Observation
    The current page as text, always headed by the instruction: the search page; a page of
    results ("[ASIN] title | price"); an item page (title, price, option values to click,
    the options selected so far, and the Description / Features / Reviews / Buy Now
    buttons); or a Description / Features / Reviews page. Clickable things are in brackets.

    ## Actions
    ``search[query]`` on the search page; ``click[label]`` for any bracketed label on the
    page (case-insensitive): an ASIN, an option value, Back to Search, < Prev, Next >,
    Description, Features, Reviews, Buy Now. ``info["admissible_actions"]`` lists every
    click of the page, and on the search page one search (the instruction without its price
    clause); any other query is allowed too. Anything else is a no-op with an explanation.

    ## Rewards
    On Buy Now, WebShop's reward in [0, 1] (``reward.webshop_reward``): attribute, option
    and price matches, times the type score. ``info["purchase"]`` holds its components.
    Success (``won``) is reward 1.

    ## Episode end
    Terminated by Buy Now; truncated after ``max_turns`` actions (default 6, the paper's).

    ## Arguments
    ``max_turns`` (int, default 6), ``split`` ("train" | "test"), ``render_mode`` ("ansi").
    """

    observation_max_length = 16384
    default_max_turns = 6

    def __init__(self, *, max_turns: int | None = None, split: str = "test", render_mode: str | None = None):
        self.charset = webshop_charset()
        super().__init__(max_turns=max_turns, split=split, render_mode=render_mode)
        self.catalog: Catalog = load_catalog()
        self.index = load_index()
        self.goal: Goal | None = None
        self.page = "search"
        self.query = ""
        self.results: list[str] = []
        self.page_num = 1
        self.item: str | None = None
        self.sub_page = ""
        self.selected: dict[str, str] = {}
        self.purchase: RewardBreakdown | None = None

    @classmethod
    def num_tasks(cls) -> int:
        return len(load_catalog().goals)

    @classmethod
    def splits(cls) -> dict[str, Sequence[int]]:
        return _splits()

    def _reset_task(self, task_id: int) -> str:
        self.goal = self.catalog.goals[task_id]
        self.page, self.query, self.results, self.page_num = "search", "", [], 1
        self.item, self.sub_page, self.selected, self.purchase = None, "", {}, None
        return self._render_page()

    @property
    def won(self) -> bool:
        return self.purchase is not None and abs(self.purchase.reward - 1.0) < 1e-9

    def extra_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"page": self.page}
        if self.goal is not None:
            info["goal_asin"] = self.goal.asin
        if self.purchase is not None:
            info["purchase"] = asdict(self.purchase)
        return info

    # ----- pages -------------------------------------------------------------------------
    @property
    def product(self) -> Product:
        assert self.item is not None
        return self.catalog.products[self.item]

    def _num_pages(self) -> int:
        return max(1, -(-len(self.results) // RESULTS_PER_PAGE))

    def _page_results(self) -> list[str]:
        start = (self.page_num - 1) * RESULTS_PER_PAGE
        return self.results[start:start + RESULTS_PER_PAGE]

    def clickables(self) -> list[str]:
        if self.page == "results":
            labels = [BACK]
            if self.page_num > 1:
                labels.append(PREV)
            if self.page_num < self._num_pages():
                labels.append(NEXT)
            return labels + self._page_results()
        if self.page == "item":
            values = [v for vs in self.product.options.values() for v in vs]
            return [BACK, PREV, *SUB_PAGES, BUY, *dict.fromkeys(values)]
        if self.page == "sub":
            return [BACK, PREV]
        return []

    def _render_page(self) -> str:
        assert self.goal is not None
        head = f"Instruction: {self.goal.instruction}"
        if self.page == "search":
            return f"WebShop\n{head}\n[Search]"
        if self.page == "results":
            nav = " ".join(f"[{x}]" for x in self.clickables() if x in (BACK, PREV, NEXT))
            if not self.results:
                return f"{head}\nNo results for \"{self.echo(self.query)}\".\n{nav}"
            lines = [f"[{a}] {self.catalog.products[a].title} | {self.catalog.products[a].price_tag}"
                     for a in self._page_results()]
            return (f"{head}\nResults for \"{self.echo(self.query)}\": page {self.page_num} of "
                    f"{self._num_pages()} (total results: {len(self.results)})\n{nav}\n" + "\n".join(lines))
        p = self.product
        if self.page == "item":
            opts = "\n".join(f"{name}: " + " ".join(f"[{v}]" for v in values) for name, values in p.options.items())
            chosen = ", ".join(f"{k}: {v}" for k, v in self.selected.items()) or "none"
            return (f"{head}\n[{BACK}] [{PREV}]\n{p.title}\nPrice: {p.price_tag} | Rating: {p.rating}\n"
                    + (f"{opts}\nSelected options: {chosen}\n" if opts else "")
                    + " ".join(f"[{x}]" for x in (*SUB_PAGES, BUY)))
        body = {"Description": p.description or "(no description)",
                "Features": "\n".join(f"- {b}" for b in p.bullet_points if b.strip()) or "(no features)",
                "Reviews": "(no reviews)"}[self.sub_page]
        return f"{head}\n[{BACK}] [{PREV}]\n{self.sub_page}:\n{body}"

    # ----- actions -----------------------------------------------------------------------
    def _act(self, action: str) -> Step:
        m = _ACTION.match(action.strip())
        if not m:
            return self._noop(f"'{self.echo(action)}' is not an action. Use search[query] or click[label].")
        kind, arg = m.group(1).lower(), m.group(2).strip()
        if kind == "search":
            if self.page != "search":
                return self._noop(f"there is no search box on this page; click[{BACK}] first.")
            if not arg:
                return self._noop("the search query is empty.")
            self.query, self.results, self.page_num, self.page = arg, self.index.search(arg, TOP_K), 1, "results"
            return Step(self._render_page())
        labels = {c.lower(): c for c in self.clickables()}
        label = labels.get(arg.lower())
        if label is None:
            return self._noop(f"there is no [{self.echo(arg)}] to click on this page.")
        return self._click(label)

    def _noop(self, why: str) -> Step:
        return Step(f"Nothing happens: {why}\n\n{self._render_page()}", valid=False)

    def _click(self, label: str) -> Step:
        if label == BACK:
            self.page, self.query, self.results, self.item, self.selected = "search", "", [], None, {}
        elif label == NEXT:
            self.page_num += 1
        elif label == PREV:
            if self.page == "results":
                self.page_num -= 1
            elif self.page == "item":
                self.page, self.item, self.selected = "results", None, {}
            else:
                self.page = "item"
        elif self.page == "results":
            self.page, self.item, self.selected = "item", label, {}
        elif label in SUB_PAGES:
            self.page, self.sub_page = "sub", label
        elif label == BUY:
            assert self.goal is not None
            self.purchase = webshop_reward(self.product, self.goal, self.product.price, self.selected)
            return Step(f"Thank you for shopping with us! You bought {self.product.title} "
                        f"(reward {self.purchase.reward:.3f}).", reward=self.purchase.reward, terminated=True)
        else:  # an option value
            name = next(n for n, values in self.product.options.items() if label in values)
            self.selected[name] = label
        return Step(self._render_page())

    # ----- helpers -----------------------------------------------------------------------
    def admissible_actions(self) -> list[str]:
        if self.page == "search":
            assert self.goal is not None
            return [f"search[{search_query_for(self.goal)}]"]
        return [f"click[{c}]" for c in self.clickables()]

    def oracle_action(self) -> str:
        """Search the instruction (the target's title if that misses page one), open the
        target, select the goal's options, buy."""
        goal = self.goal
        assert goal is not None
        if self.page == "search":
            query = search_query_for(goal)
            if goal.asin not in self.index.search(query, RESULTS_PER_PAGE):
                query = self.catalog.products[goal.asin].title
            return f"search[{query}]"
        if self.page == "results":
            if goal.asin in self._page_results():
                return f"click[{goal.asin}]"
            if goal.asin in self.results:
                later = self.results.index(goal.asin) // RESULTS_PER_PAGE + 1 > self.page_num
                return f"click[{NEXT if later else PREV}]"
            return f"click[{BACK}]"
        if self.page == "item" and self.item == goal.asin:
            for name, value in goal.options.items():
                if self.selected.get(name) != value:
                    return f"click[{value}]"
            return f"click[{BUY}]"
        return f"click[{PREV}]"
