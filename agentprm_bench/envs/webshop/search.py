"""WebShop's product search: Lucene's BM25 over the fields the original indexes.

The original serves search from a pyserini 0.17 (Lucene) index of one document per product:
lower-cased ``title + description + first bullet point + option text`` (option text:
``"<name>: <v1>, <v2>, and <name2>: ..."``), analysed by Anserini's default English analyser,
ranked by BM25 (k1 = 0.9, b = 0.4), top 50, ties by document id. Reproduced here with kept
libraries, checked against the original's own analyser output and rankings
(``tests/data/conformance``, ``results/env_fidelity.md``):

* Analysis (``analyze``): Lucene's standard tokenizer (Unicode word-break rules: letters
  join across ``' . :`` and the like, digits across ``, . ;``, ``_`` joins anything; emoji
  and pictographic symbols are tokens of their own, with the symbol set of Unicode 11 that
  Lucene's grammar was generated from), possessive ``'s`` removed, lower-cased, Lucene's 33
  English stop words removed, Porter stemming as Lucene's ``PorterStemmer`` does it: Martin
  Porter's own version with his two departures and words of one or two letters left alone,
  which is NLTK's ``PorterStemmer`` in ``MARTIN_EXTENSIONS`` mode (Snowball's "porter", as in
  PyStemmer, differs on e.g. technology, assembly, us).
* Scoring: ``bm25s`` (its ``lucene`` variant) with one change in the index it builds:
  Lucene stores each document's length in one byte (``SmallFloat.intToByte4``), so BM25 sees
  lengths rounded down to 4 significant bits, computed in 32-bit floats; the average length is
  exact. With exact lengths, top-1 agreed on 98% of recorded queries but whole first pages on
  only 54%; with the stored lengths every recorded ranking is identical.
"""

from __future__ import annotations

import logging
from collections import Counter
from functools import lru_cache
from typing import Iterable

import bm25s
import numpy as np
import regex
from nltk.stem.porter import PorterStemmer

logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its logger to DEBUG: keep output clean

K1, B = 0.9, 0.4
# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split()
)

# ----- Lucene's standard tokenizer, the rules this text needs ------------------------------
_AL = r"\p{WB=ALetter}\p{WB=Hebrew_Letter}"
_NU = r"\p{WB=Numeric}"
_KA = r"\p{WB=Katakana}"
_EX = r"\p{WB=ExtendNumLet}"
_XT = r"\p{WB=Extend}\p{WB=Format}\p{WB=ZWJ}"
_MID_LETTER = r"\p{WB=MidLetter}\p{WB=MidNumLet}\p{WB=Single_Quote}"
_MID_NUM = r"\p{WB=MidNum}\p{WB=MidNumLet}\p{WB=Single_Quote}"
_UNIT = f"[{_AL}{_NU}{_KA}{_EX}][{_XT}]*"
_WORD = (f"(?:{_UNIT})+(?:(?:(?<=[{_AL}][{_XT}]*)[{_MID_LETTER}](?=[{_AL}])"
         f"|(?<=[{_NU}][{_XT}]*)[{_MID_NUM}](?=[{_NU}]))(?:{_UNIT})+)*")
# Extended_Pictographic as of Unicode 11 in the symbol blocks where later versions dropped code points
_PICTO_U11 = (r"\u2600-\u2605\u2607-\u2612\u2614-\u2685\u2690-\u2705\u2708-\u2712\u2714\u2716\u271D\u2721"
              r"\u2728\u2733\u2734\u2744\u2747\u274C\u274E\u2753-\u2755\u2757\u2763-\u2767\u2795-\u2797"
              r"\u27A1\u27B0\u27BF")
_PICTO = rf"[\p{{Extended_Pictographic}}{_PICTO_U11}]"
_EMOJI = rf"{_PICTO}[\p{{Emoji_Modifier}}\uFE0F]*(?:\u200D{_PICTO}[\p{{Emoji_Modifier}}\uFE0F]*)*"
_IDEOGRAPH = r"[\p{Ideographic}\p{Script=Hiragana}]"
_TOKEN = regex.compile(f"{_WORD}|{_EMOJI}|{_IDEOGRAPH}", regex.V1)
_HAS_CORE = regex.compile(f"[{_AL}{_NU}{_KA}]|{_PICTO}|{_IDEOGRAPH}", regex.V1)  # "_" alone is no token
_STEMMER = PorterStemmer(mode=PorterStemmer.MARTIN_EXTENSIONS)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stem(word, to_lowercase=False)


def words(text: str) -> list[str]:
    """The analysis before stemming: tokens, possessives dropped, lower-cased, stop words out."""
    out = []
    for token in _TOKEN.findall(text):
        if not _HAS_CORE.search(token):
            continue
        token = token.lower()
        if token.endswith(("'s", "\u2019s", "\uff07s")):
            token = token[:-2]
        if token not in STOP_WORDS:
            out.append(token)
    return out


def analyze(text: str) -> list[str]:
    """Anserini's default English analysis of ``text`` (see the module docstring)."""
    return [_stem(w) for w in words(text)]


def document_text(p) -> str:
    """The text the original indexes for a product (``catalog.Product``)."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in p.options.items())
    return " ".join([p.title, p.description, p.bullet_points[0], option_text]).lower()


def lucene_length(n: int) -> int:
    """The document length Lucene's BM25 sees: ``SmallFloat.byte4ToInt(intToByte4(n))``."""
    if n < 24:
        return n
    m = n - 24
    shift = m.bit_length() - 4
    if shift <= 0:
        return n
    return 24 + ((m >> shift) << shift)


class LuceneBM25(bm25s.BM25):
    """bm25s's Lucene BM25, its index built with the document lengths Lucene stores (the
    override point bm25s documents for building the index differently)."""

    def build_index_from_ids(self, unique_token_ids, corpus_token_ids, show_progress=True, leave_progress=False):
        n_docs = len(corpus_token_ids)
        self.nonoccurrence_array = None  # the lucene variant has none
        f32 = np.float32
        avg_len = f32(sum(len(d) for d in corpus_token_ids) / n_docs)
        df = Counter(t for doc in corpus_token_ids for t in set(doc))
        idf = {t: f32(np.log(1.0 + (n_docs - n + 0.5) / (n + 0.5))) for t, n in df.items()}
        rows, cols, vals = [], [], []
        for i, doc in enumerate(corpus_token_ids):
            norm = f32(self.k1) * ((f32(1) - f32(self.b)) + f32(self.b) * f32(lucene_length(len(doc))) / avg_len)
            for t, tf in Counter(doc).items():
                rows.append(i)
                cols.append(t)
                vals.append(idf[t] * (f32(tf) / (f32(tf) + norm)))
        data, indices, indptr = self._np_csc(
            data=np.asarray(vals, dtype=self.dtype), rows=np.asarray(rows, dtype=self.int_dtype),
            cols=np.asarray(cols, dtype=self.int_dtype), shape=(n_docs, len(unique_token_ids)))
        return {"data": data.astype(self.dtype), "indices": indices, "indptr": indptr, "num_docs": n_docs}


class SearchEngine:
    """Search over ``(doc id, text)`` pairs; ``search`` returns up to ``k`` ids, best first, ties by id."""

    def __init__(self, docs: Iterable[tuple[str, str]]):
        self.ids: list[str] = []
        corpus: list[list[str]] = []
        for doc_id, text in docs:
            self.ids.append(doc_id)
            corpus.append(analyze(text))
        self.bm25 = LuceneBM25(method="lucene", k1=K1, b=B)
        self.bm25.index(corpus, show_progress=False)
        self._id_rank = np.argsort(np.argsort(np.array(self.ids, dtype=object), kind="stable"), kind="stable")

    def scores(self, query: str) -> np.ndarray:
        vocab = self.bm25.vocab_dict
        ids = [vocab[t] for t in analyze(query) if t in vocab]
        if not ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str, k: int = 50) -> list[str]:
        scores = self.scores(query)
        hits = np.flatnonzero(scores > 0)
        order = hits[np.lexsort((self._id_rank[hits], -scores[hits]))][:k]  # score, then id, as Lucene ties
        return [self.ids[i] for i in order]
