"""Lexical search over short labels: character n-gram TF-IDF of normalised labels, best label per owner.

Each owner (an ESCO concept, a training…) has one or more labels; they are normalised by
``features.french_text.normalise`` (accents, gender forms, elisions, plurals, stop words), turned into TF-IDF
vectors of character 3–5-grams within words (``char_wb``, L2-normalised), and a query scores each owner by
the cosine of its best label. Character n-grams absorb inflections and compounds that word matching misses
("aide-soignant" / "aide soignante", "électromécanicien" / "mécanicien"); the measured choice of the n-gram
range is in docs/esco.md (whole words, ``analyzer="word"``, were measured too and rank worse).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from features.french_text import normalise

NGRAM_RANGE = (3, 5)


class LabelTfidf:
    """Character n-gram TF-IDF over the labels of ``n_owners`` owners; ``scores`` gives the best label's cosine."""

    def __init__(
        self,
        labels: Sequence[Sequence[str]],
        *,
        ngram_range: tuple[int, int] = NGRAM_RANGE,
        normaliser: Callable[[str], str] = normalise,
        analyzer: Literal["char_wb", "char", "word"] = "char_wb",
    ) -> None:
        self.normaliser = normaliser
        texts: list[str] = []
        owners: list[int] = []
        self.n_owners = len(labels)
        for owner, names in enumerate(labels):
            for text in dict.fromkeys(normaliser(name) for name in names):
                if text:
                    texts.append(text)
                    owners.append(owner)
        self.texts = texts
        self.owners = np.asarray(owners, dtype=np.int64)
        self.vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range, dtype=np.float32)
        if analyzer == "word":  # words are what ``normaliser`` leaves between spaces ("c++" and "c#" included)
            self.vectorizer.set_params(token_pattern=r"\S+")
        matrix = self.vectorizer.fit_transform(texts) if texts else sparse.csr_matrix((0, 0), dtype=np.float32)
        # Labels sorted by owner, so the best label of each owner is one ``np.maximum.reduceat``.
        order = np.argsort(self.owners, kind="stable")
        self._matrix_t = sparse.csr_matrix(matrix[order].T)
        sorted_owners = self.owners[order]
        self._starts = np.r_[0, np.flatnonzero(np.diff(sorted_owners)) + 1] if len(order) else np.zeros(0, int)
        self._start_owner = sorted_owners[self._starts] if len(order) else np.zeros(0, int)

    def __len__(self) -> int:
        return len(self.texts)

    def scores(self, queries: Sequence[str], block: int = 64) -> np.ndarray:
        """(len(queries), n_owners) cosines of each owner's best label, 0 for an owner without a matching one.

        Each row depends on its query alone (one sparse product per row), so a batch gives the rows that the
        queries would give one by one.
        """
        out = np.zeros((len(queries), self.n_owners), dtype=np.float32)
        if not self.texts or not queries:
            return out
        for start in range(0, len(queries), block):
            rows = [self.normaliser(q) for q in queries[start : start + block]]
            sims = (self.vectorizer.transform(rows) @ self._matrix_t).toarray()
            out[start : start + len(rows), self._start_owner] = np.maximum.reduceat(sims, self._starts, axis=1)
        return out
