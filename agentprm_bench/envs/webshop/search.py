"""A pure-Python BM25 search engine over the WebShop catalogue (no Java, no pyserini).

Each product is one document: title, description, bullet points, attributes and option
values. Text is lower-cased, split into alphanumeric tokens, stripped of English stop
words and lightly stemmed (plural endings), for documents and queries alike. Scoring is
Okapi BM25 with Lucene's defaults as used by WebShop's pyserini index (k1 = 0.9, b = 0.4).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable

import numpy as np

from agentprm_bench.envs.webshop.catalog import Product

STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with i me my we our you your he she her his its them what which who whom am been "
    "being have has had do does did so than too very can just".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")


def stem(token: str) -> str:
    """Light plural stemming: 'batteries' -> 'battery', 'boxes' -> 'box', 'shoes' -> 'shoe'."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith(("ches", "shes", "sses", "xes", "zes")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]


def document_text(p: Product) -> str:
    options = " ".join(f"{k} {' '.join(v)}" for k, v in p.options.items())
    return " ".join([p.title, p.description, *p.bullet_points, *p.attributes, options])


class BM25Index:
    """Inverted index with BM25 scoring; ``search`` returns ASINs best first."""

    def __init__(self, docs: Iterable[tuple[str, str]], k1: float = 0.9, b: float = 0.4):
        self.ids: list[str] = []
        lengths: list[int] = []
        postings: dict[str, list[tuple[int, int]]] = {}
        for doc_id, text in docs:
            idx = len(self.ids)
            self.ids.append(doc_id)
            counts = Counter(tokenize(text))
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                postings.setdefault(term, []).append((idx, tf))
        self.k1, self.b = k1, b
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.avg_len = float(self.lengths.mean()) if lengths else 0.0
        n = len(self.ids)
        self.postings = {
            t: (np.fromiter((i for i, _ in p), dtype=np.int64, count=len(p)),
                np.fromiter((tf for _, tf in p), dtype=np.float64, count=len(p)),
                math.log(1.0 + (n - len(p) + 0.5) / (len(p) + 0.5)))
            for t, p in postings.items()
        }

    def scores(self, query: str) -> np.ndarray:
        scores = np.zeros(len(self.ids))
        norm = self.k1 * (1.0 - self.b + self.b * self.lengths / max(self.avg_len, 1e-9))
        for term in tokenize(query):
            if term not in self.postings:
                continue
            idx, tf, idf = self.postings[term]
            scores[idx] += idf * tf * (self.k1 + 1.0) / (tf + norm[idx])
        return scores

    def search(self, query: str, top_k: int = 50) -> list[str]:
        scores = self.scores(query)
        hits = np.flatnonzero(scores > 0)
        order = hits[np.lexsort((hits, -scores[hits]))][:top_k]  # ties broken by catalogue order
        return [self.ids[i] for i in order]
