"""Okapi BM25 over weighted term bags, stored as compressed postings in numpy arrays.

Per-term contributions are precomputed at build time, so a query is a handful of array
slices and additions even at tens of thousands of articles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class BM25:
    """Postings for one field of one language's articles."""

    def __init__(self, docs: Sequence[Mapping[str, float]], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.size = len(docs)
        self.vocab: dict[str, int] = {}
        term_ids: list[int] = []
        doc_ids: list[int] = []
        freqs: list[float] = []
        lengths = np.zeros(self.size, dtype=np.float64)
        vocab = self.vocab
        for doc_id, bag in enumerate(docs):
            values = list(bag.values())
            lengths[doc_id] = sum(values)
            # setdefault gives a new term the next free id: one dictionary operation per term.
            term_ids.extend([vocab.setdefault(term, len(vocab)) for term in bag])
            doc_ids.extend([doc_id] * len(values))
            freqs.extend(values)
        tids = np.asarray(term_ids, dtype=np.int64)
        order = np.argsort(tids, kind="stable")
        self._docs: IntArray = np.asarray(doc_ids, dtype=np.int64)[order]
        tf_arr = np.asarray(freqs, dtype=np.float64)[order]
        counts = np.bincount(tids, minlength=len(vocab)) if len(vocab) else np.zeros(0, dtype=np.int64)
        self._indptr: IntArray = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        n = max(self.size, 1)
        self.df = counts
        self.idf: FloatArray = np.log(1.0 + (n - counts + 0.5) / (counts + 0.5))
        # The weight a term would have if no article contained it (used for unknown words).
        self.max_idf = math.log(1.0 + (n + 0.5) / 0.5)
        avgdl = float(lengths.mean()) if self.size else 1.0
        norm = k1 * (1.0 - b + b * lengths / (avgdl or 1.0))
        per_entry_norm = norm[self._docs]
        term_of_entry = np.repeat(np.arange(len(vocab)), counts)
        self._weights: FloatArray = self.idf[term_of_entry] * tf_arr * (k1 + 1.0) / (tf_arr + per_entry_norm)
        self._k1 = k1

    def postings(self, term: str) -> tuple[IntArray, FloatArray] | None:
        """(article indices, BM25 contributions) for a term, None when no article has it."""
        tid = self.vocab.get(term)
        if tid is None:
            return None
        start, end = self._indptr[tid], self._indptr[tid + 1]
        return self._docs[start:end], self._weights[start:end]

    def term_idf(self, term: str) -> float | None:
        tid = self.vocab.get(term)
        return None if tid is None else float(self.idf[tid])

    def score_terms(self, terms: Sequence[str]) -> FloatArray:
        """Plain BM25 of a bag of query terms (the baseline)."""
        scores = np.zeros(self.size, dtype=np.float64)
        for term in terms:
            hit = self.postings(term)
            if hit is not None:
                scores[hit[0]] += hit[1]
        return scores
