"""BM25 over the training texts as sparse matrices (scikit-learn tokenisation, SciPy scoring).

Why a lexical score next to the embeddings: a small sentence encoder is weak on exact tokens (certification
codes such as RNCP34567, acronyms, rare trade words) that a lexical score gets right, and strong on paraphrase
where a lexical score fails. The search adds both (``recommender/search.py``).

Tokens are hashed (``HashingVectorizer``, 2**20 features): no vocabulary to refit, so rows for new or changed
trainings are appended without touching the others, which keeps incremental re-indexing cheap. Document
frequencies are recomputed from the stored counts over the live rows only when the scorer is (re)built.

Tokens come from ``features.french_text.search_tokens``, one analysis for French and English texts and queries:
elisions cut, stop words of both languages out, feminine endings to the masculine, Snowball's French stemmer,
accents folded ("Comptabilité" and "comptables" meet as "comptabl", "soudeuse" and "soudeur" as "soudeur").
English words go through the same steps ("accountant" → "account"), so an English query still meets an English
catalogue. Changing the analysis changes the stored counts' meaning: bump ``recommender.index.FORMAT_VERSION``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from features.french_text import search_tokens

N_FEATURES = 2**20


def make_vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        n_features=N_FEATURES,
        alternate_sign=False,
        norm=None,
        analyzer=search_tokens,
        dtype=np.float32,
    )


class BM25Index:
    """Term counts per row (CSR) and the BM25 weights derived from them for the live rows (CSC)."""

    def __init__(self, counts: sp.csr_matrix, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.counts = sp.csr_matrix(counts, dtype=np.float32)
        self.vectorizer = make_vectorizer()
        self.weights: sp.csc_matrix | None = None
        self.live: np.ndarray | None = None
        self.idf: np.ndarray | None = None

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> BM25Index:
        return cls(make_vectorizer().transform(list(texts)))

    def append(self, texts: Sequence[str]) -> None:
        """Add rows for ``texts`` (call ``prepare`` before scoring again)."""
        if texts:
            self.counts = sp.vstack([self.counts, self.vectorizer.transform(list(texts))], format="csr")
        self.weights = None

    def take(self, rows: np.ndarray) -> BM25Index:
        """A new index made of ``rows`` only (used when the vector index is compacted)."""
        return BM25Index(self.counts[rows], k1=self.k1, b=self.b)

    def set_live(self, live: np.ndarray) -> None:
        """Which rows count; the weights are (re)computed on the next ``scores`` or ``prepare`` call."""
        self.live = np.asarray(live, dtype=bool).copy()
        self.weights = None

    def prepare(self, live: np.ndarray | None = None) -> None:
        """Compute document frequencies, lengths and BM25 weights over the rows where ``live`` is true."""
        counts = self.counts
        if live is None:
            live = self.live if self.live is not None else np.ones(counts.shape[0], dtype=bool)
        live = np.asarray(live, dtype=bool)
        self.live = live
        n_live = max(int(live.sum()), 1)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        average = float(lengths[live].mean()) if live.any() else 1.0
        live_counts = counts[np.flatnonzero(live)]
        df = np.bincount(live_counts.indices, minlength=N_FEATURES).astype(np.float64)
        self.idf = np.log1p((n_live - df + 0.5) / (df + 0.5)).astype(np.float32)
        coo = counts.tocoo()
        tf = coo.data
        norm = self.k1 * (1.0 - self.b + self.b * lengths[coo.row] / max(average, 1e-9))
        data = self.idf[coo.col] * tf * (self.k1 + 1.0) / (tf + norm)
        weights = sp.csc_matrix((data.astype(np.float32), (coo.row, coo.col)), shape=counts.shape)
        self.weights = weights

    def query_terms(self, query: str) -> np.ndarray:
        return np.unique(self.vectorizer.transform([query]).indices)

    def scores(self, query: str) -> tuple[np.ndarray, float]:
        """BM25 of every row for ``query``, and the score of an average-length row holding each query term
        once (the search divides by it and caps at 1)."""
        if self.weights is None or self.idf is None:
            self.prepare()
        assert self.weights is not None and self.idf is not None
        terms = self.query_terms(query)
        n = self.weights.shape[0]
        if terms.size == 0:
            return np.zeros(n, dtype=np.float32), 0.0
        scores = np.asarray(self.weights[:, terms].sum(axis=1), dtype=np.float32).ravel()
        # Reference: a training of average length that contains every query term once scores sum(idf).
        ceiling = float(self.idf[terms].sum())
        return scores, ceiling

    def save(self, path: Path) -> None:
        sp.save_npz(path, self.counts, compressed=False)

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        return cls(sp.load_npz(path).tocsr())
