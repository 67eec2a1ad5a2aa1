"""WebShop's pages as its ``text`` observation mode shows them.

The original renders an HTML page and keeps its visible text nodes, each stripped, joined
by `` [SEP] ``. A node that is only ASCII whitespace is dropped if it holds a newline and
kept as an empty item otherwise (how its HTML parser collapses such nodes); a template
value that renders empty makes no node. Each function below lists a page's text nodes in
document order and joins them the same way.
"""

from __future__ import annotations

import json
from typing import Iterable, Mapping, Sequence

from agentprm_bench.envs.webshop.catalog import Product

SEP = " [SEP] "
_ASCII_SPACE = frozenset(" \n\t\x0c\r")
BACK, PREV, NEXT, BUY, SEARCH = "Back to Search", "< Prev", "Next >", "Buy Now", "Search"
SUB_PAGES = ("Description", "Features", "Reviews")
ITEM_BUTTONS = (BACK, PREV, *SUB_PAGES, BUY)


def join(nodes: Iterable[str], pre: Sequence[bool] | None = None) -> str:
    """Visible text of a page from its raw text nodes (``pre``: nodes inside <pre>, not collapsed)."""
    out = []
    for i, node in enumerate(nodes):
        if node == "":
            continue
        if not (pre and pre[i]) and all(c in _ASCII_SPACE for c in node):
            node = "\n" if "\n" in node else " "
        if node != "\n":
            out.append(node.strip())
    return SEP.join(out)


def search_page(instruction: str) -> str:
    return join(["WebShop", "Instruction: ", instruction, SEARCH])


def _head(instruction: str) -> list[str]:
    return ["Instruction:", instruction, BACK]


def results_page(instruction: str, products: Sequence[Product], page: int, total: int) -> str:
    nodes = _head(instruction) + [f"Page {page} (Total results: {total})"]
    nodes += [PREV, NEXT] if page > 1 else [NEXT]
    for p in products:
        nodes += [p.asin, p.title, p.price_tag]
    return join(nodes)


def item_page(instruction: str, p: Product) -> str:
    nodes = _head(instruction) + [PREV]
    for name, values in p.options.items():
        nodes += [name, *values]
    nodes += [p.title, f"Price: {p.price_tag}", f"Rating: {p.rating}", *SUB_PAGES, BUY]
    return join(nodes)


def sub_page(instruction: str, p: Product, which: str) -> str:
    nodes = _head(instruction) + [PREV]
    if which == "Description":
        nodes.append(p.description)
    elif which == "Features":
        nodes += [f" {b}" for b in p.bullet_points]
    elif which == "Attributes":  # reached only through an option value "attributes", as in the original
        nodes += [f" {a}" for a in p.attributes] + [p.category, p.query, p.product_category]
    return join(nodes)  # Reviews: the 1k setup loads no reviews


def options_json(options: Mapping[str, str]) -> str:
    """Flask's ``tojson`` filter: sorted keys, ASCII escapes, HTML-sensitive characters escaped."""
    text = json.dumps(dict(options), ensure_ascii=True, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")


def done_page(asin: str, options: Mapping[str, str], reward: float) -> str:
    nodes = ["Thank you for shopping with us!", "Your code: ", "None", " (Paste it in your MTurk interface.)",
             "Purchased", "asin", asin, "options", options_json(options), "attrs", "None", "category", "None",
             "query", "None", "product category", "None", "Target", "asin", "options", "attrs", "price upper",
             "instuction text", "category", "product category", "query", "Goal ", "None", "Reward",
             "Your score (min 0.0, max 1.0)", str(reward), "Reward Details ", "None"]
    pre = [False] * len(nodes)
    for i in (2, 6, 8, 10, 12, 14, 16, 27, 30, 32):
        pre[i] = True
    return join(nodes, pre)
