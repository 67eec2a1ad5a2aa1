"""The WebShop catalogue: the 1,000 real products, their prices and the synthetic goals.

Processing follows WebShop's product loading: title, description, bullet points, price
tag from the listed price(s), options with values lower-cased and "/" written " | ",
attributes from ``items_ins_v2`` (``DUMMY_ATTR`` when absent). Where WebShop draws with
Python's global ``random`` (a price inside a listed range, a goal's price ceiling), we draw
from a generator seeded by the product's ASIN, so every machine builds the same tasks.

Synthetic goals, as in WebShop: for each product with an instruction, one goal per
combination of its option values: "<instruction> with <name>: <value>, and ... , and price
lower than <X> dollars". Goal order = product order, then option combinations.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_CEILING = 1_000_000.0


@dataclass(frozen=True)
class Product:
    asin: str
    name: str
    title: str
    description: str
    bullet_points: tuple[str, ...]
    price: float  # the price paid, a single value
    price_tag: str  # as shown, e.g. "$10.99" or "$10.99 to $15.0"
    options: dict[str, tuple[str, ...]]
    attributes: tuple[str, ...]
    category: str
    product_category: str
    query: str
    instruction: str | None = None
    instruction_attributes: tuple[str, ...] = ()
    rating: str = "N.A."


@dataclass(frozen=True)
class Goal:
    asin: str
    instruction: str
    attributes: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)
    price_upper: float = NO_PRICE_CEILING
    name: str = ""
    query: str = ""
    product_category: str = ""


def _load_json(name: str):
    path = resources.files("agentprm_bench.envs") / "data" / "webshop" / name
    with path.open("rb") as fh:
        return json.loads(gzip.decompress(fh.read()))


def _rng(asin: str, purpose: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([zlib.crc32(asin.encode()), purpose]))


def parse_pricing(pricing: str | None) -> tuple[list[float], str]:
    """WebShop's price parsing: '$12.99' -> ([12.99], '$12.99'); '$5$9' -> ([5.0, 9.0], '$5.0 to $9.0')."""
    if not pricing:
        return [100.0], "$100.0"
    values = [float(re.sub(r"[^\d.]", "", p)) for p in pricing.split("$")[1:]]
    if len(values) == 1:
        return values, f"${values[0]}"
    return values[:2], f"${values[0]} to ${values[1]}"


def _process(raw: dict, ins: dict) -> Product:
    asin = raw["asin"]
    bullets = raw["small_description"]
    bullets = tuple(bullets) if isinstance(bullets, list) else (bullets,)
    pricing, tag = parse_pricing(raw.get("pricing"))
    lo, hi = pricing[0], pricing[-1]  # like random.uniform, also for a descending range
    price = lo if len(pricing) == 1 else lo + (hi - lo) * float(_rng(asin, 0).random())
    options: dict[str, tuple[str, ...]] = {}
    for opt_name, contents in (raw.get("customization_options") or {}).items():
        if contents is None:
            continue
        options[opt_name.lower()] = tuple(c["value"].strip().replace("/", " | ").lower() for c in contents)
    meta = ins.get(asin, {})
    return Product(
        asin=asin, name=raw["name"], title=raw["name"], description=raw["full_description"],
        bullet_points=bullets, price=price, price_tag=tag, options=options,
        attributes=tuple(meta.get("attributes") or ["DUMMY_ATTR"]), category=raw["category"],
        product_category=raw["product_category"], query=raw["query"].lower().strip(),
        instruction=meta.get("instruction"), instruction_attributes=tuple(meta.get("instruction_attributes") or ()),
    )


def price_ceiling(product: Product) -> tuple[float, str]:
    """WebShop's goal price: the larger of two of the next four $10 steps above the price."""
    steps = [p for p in PRICE_RANGE if p > product.price][:4]
    if len(steps) < 2:
        return NO_PRICE_CEILING, ""
    pick = sorted(_rng(product.asin, 1).choice(steps, size=2, replace=False).tolist())[1]
    return float(pick), f", and price lower than {pick:.2f} dollars"


class Catalog:
    """Products by ASIN (in file order) and the synthetic goals."""

    def __init__(self, raw_products: list[dict], ins: dict):
        self.products: dict[str, Product] = {}
        for raw in raw_products:
            asin = raw["asin"]
            if asin == "nan" or len(asin) > 10 or asin in self.products:
                continue
            self.products[asin] = _process(raw, ins)
        self.goals: list[Goal] = []
        for p in self.products.values():
            if not p.instruction:
                continue
            upper, price_text = price_ceiling(p)
            names = sorted(p.options)
            for combo in itertools.product(*(p.options[n] for n in names)):
                opts = dict(zip(names, combo))
                opt_text = ", and ".join(f"{k}: {v}" for k, v in opts.items())
                opt_text = f" with {opt_text}" if opt_text else ""
                self.goals.append(Goal(
                    asin=p.asin, instruction=f"{p.instruction}{opt_text}{price_text}",
                    attributes=p.instruction_attributes, options=opts, price_upper=upper,
                    name=p.title, query=p.query, product_category=p.product_category,
                ))


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    return Catalog(_load_json("items_shuffle_1000.json.gz"), _load_json("items_ins_v2_1000.json.gz"))
