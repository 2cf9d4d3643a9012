"""Collaborative signal: item-to-item co-occurrence of holders' interactions ("holders who looked at what you
looked at took this"), learnt from behaviour rather than from the catalogue's text or skills.

Two trainings co-occur when one holder interacted with both (viewed, enrolled or completed) before the as-of
date. The similarity of trainings ``j`` and ``t`` is the cosine of their holder sets, ``C[j, t] / √(n_j n_t)``
(Sarwar et al. 2001, "Item-based collaborative filtering recommendation algorithms", WWW; Deshpande & Karypis
2004, "Item-based top-N recommendation algorithms", ACM TOIS 22(1)), with ``C`` the number of holders who
interacted with both and ``n`` the number who interacted with each. A holder's affinity for ``t`` is the mean
similarity of ``t`` to the trainings in the holder's history.

The holder is always left out of the counts behind their own score: ``C`` and ``n`` without the holder's own
interactions. A model fitted on a holder's pairs would otherwise read the label (the holder's own enrolment
co-occurs with their own views), and the server computes the same quantity for the same reason, so training and
serving agree by construction. Co-occurrences of a single holder are not kept (``min_count``): once that holder
is left out they are zero anyway, and they are most of the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

# Interactions that say a holder was interested in a training (views are most of them).
INTEREST_EVENTS = ("view", "enrol", "complete", "cancel")


def interest_matrix(interactions: pd.DataFrame, holder_position: dict[str, int], training_position: dict[str, int],
                    n_holders: int, n_trainings: int) -> sp.csr_matrix:
    """Binary holders × trainings matrix of who interacted with what (known holders and trainings only)."""
    events = interactions[interactions["event"].isin(INTEREST_EVENTS)]
    rows = events["holder_id"].map(holder_position).fillna(-1).to_numpy(np.int64)
    cols = events["training_id"].map(training_position).fillna(-1).to_numpy(np.int64)
    known = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32), (rows[known], cols[known])),
                           shape=(n_holders, n_trainings))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


@dataclass
class CoOccurrence:
    """Co-occurrence counts between trainings (zero diagonal, counts below ``min_count`` dropped) and the number
    of holders who interacted with each training."""

    counts: sp.csr_matrix  # n × n, symmetric
    holders_per_training: np.ndarray  # n

    @classmethod
    def build(cls, interest: sp.csr_matrix, *, min_count: int = 2) -> CoOccurrence:
        interest = interest.tocsr().astype(np.float32)
        counts = (interest.T @ interest).tocsr()
        counts.setdiag(0)
        counts.data[counts.data < min_count] = 0
        counts.eliminate_zeros()
        return cls(counts=counts, holders_per_training=np.asarray(interest.sum(axis=0)).ravel().astype(np.float32))

    @classmethod
    def empty(cls, n_trainings: int) -> CoOccurrence:
        return cls(sp.csr_matrix((n_trainings, n_trainings), dtype=np.float32), np.zeros(n_trainings, np.float32))

    def _history_weights(self) -> np.ndarray:
        """1 / √(n_j − 1): a history item's count without the holder whose history it is."""
        others = self.holders_per_training - 1.0
        return np.divide(1.0, np.sqrt(np.maximum(others, 0.0)), out=np.zeros_like(others), where=others > 0)

    def _per_matrix(self) -> tuple[np.ndarray, sp.csr_matrix]:
        """(history weights, 0/1 pattern of the counts), derived once per matrix rather than per request (the
        pattern is a pass over the whole n × n matrix); derived again if either field is replaced."""
        cached = self.__dict__.get("_derived")
        if cached is None or cached[0] is not self.counts or cached[1] is not self.holders_per_training:
            cached = (self.counts, self.holders_per_training, self._history_weights(),
                      (self.counts > 0).astype(np.float32))
            self.__dict__["_derived"] = cached
        return cached[2], cached[3]

    def affinity(self, history: sp.csr_matrix, holder_rows: np.ndarray, training_rows: np.ndarray, *,
                 counted: np.ndarray | None = None) -> np.ndarray:
        """Mean cosine similarity of ``training_rows[i]`` to holder ``holder_rows[i]``'s history, the holder left
        out of every count (``history``: the binary interest matrix the holders' rows come from). ``counted``:
        per pair, whether the holder's interactions the counts were built from hold ``training_rows[i]``, when the
        history is only part of them (a training pair's history before its day); default: ``t`` in the history."""
        holder_rows = np.asarray(holder_rows, dtype=np.int64)
        training_rows = np.asarray(training_rows, dtype=np.int64)
        if len(holder_rows) == 0:
            return np.zeros(0, dtype=np.float32)
        weights = self._history_weights()
        mine = history[holder_rows]  # pairs × n
        own = np.asarray(mine[np.arange(len(training_rows)), training_rows]).ravel() > 0  # t in the history
        in_counts = own if counted is None else np.asarray(counted, dtype=bool)
        column = self.counts[training_rows]  # pairs × n: C[t, ·] = C[·, t]
        weighted = mine.multiply(weights[np.newaxis, :]).tocsr()
        numerator = np.asarray(weighted.multiply(column).sum(axis=1)).ravel()
        # Where the holder's counted interactions hold t, the holder added one to every kept C[j, t] of their
        # history (a history item is always among the counted ones).
        present = weighted.multiply(column > 0)
        numerator -= np.where(in_counts, np.asarray(present.sum(axis=1)).ravel(), 0.0)
        others_t = self.holders_per_training[training_rows] - in_counts
        size = np.asarray(mine.sum(axis=1)).ravel() - own
        denominator = np.sqrt(np.maximum(others_t, 0.0)) * np.maximum(size, 1.0)
        return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=others_t > 0).astype(np.float32)

    def scores_for(self, history_row: sp.csr_matrix) -> np.ndarray:
        """Every training's affinity for one holder (a 1 × n history row): what ``affinity`` gives for each
        training, in two sparse vector-matrix products (a request scores the whole catalogue this way)."""
        n = self.counts.shape[0]
        row = history_row.tocsr()
        if row.nnz == 0:
            return np.zeros(n, dtype=np.float32)
        own = np.zeros(n, dtype=bool)
        own[row.indices] = True
        weights, kept = self._per_matrix()
        weighted = row.multiply(weights[np.newaxis, :]).tocsr()
        numerator = np.asarray((weighted @ self.counts).todense()).ravel()
        present = np.asarray((weighted @ kept).todense()).ravel()
        numerator -= np.where(own, present, 0.0)
        others = self.holders_per_training - own
        size = np.maximum(row.nnz - own, 1.0)
        return np.divide(numerator, np.sqrt(np.maximum(others, 0.0)) * size, out=np.zeros(n),
                         where=others > 0).astype(np.float32)


# Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008, "Collaborative filtering for implicit feedback
# datasets", ICDM): the ``implicit`` library's alternating least squares fits the item factors; a holder's factor is
# the exact ALS user step over their history (``fold_in``), so a holder unseen at fit time (a new account, or the
# held-out period's holders) is scored the same way as one seen. Parameters chosen on the world zoo
# (docs/guidance.md).
ALS_FACTORS = 32
ALS_REGULARIZATION = 0.05
ALS_ALPHA = 8.0
ALS_ITERATIONS = 12


@dataclass(frozen=True)
class UserStep:
    """One holder's ALS user step: the history's rows (sorted), the system ``A u = b`` and its solution."""

    items: np.ndarray
    a: np.ndarray
    b: np.ndarray
    user: np.ndarray


@dataclass
class ItemFactors:
    """ALS item factors (rows aligned with the catalogue) and what folding a holder in needs."""

    factors: np.ndarray  # n × f
    gram: np.ndarray  # f × f: YᵀY + λI
    alpha: float

    @classmethod
    def build(cls, interest: sp.csr_matrix, *, item_order: np.ndarray | None = None, seed: int = 0,
              factors: int = ALS_FACTORS, regularization: float = ALS_REGULARIZATION, alpha: float = ALS_ALPHA,
              iterations: int = ALS_ITERATIONS) -> ItemFactors:
        """Fit on a binary holders × trainings ``interest`` matrix. ``item_order`` (a permutation of the columns,
        e.g. by training id) fixes the order the factors are drawn in, so the same interactions give the same
        factors whatever the catalogue's row order (the server's arrays and the fitted ones); exact solves on one
        thread, so the same input gives the same factors."""
        from threadpoolctl import threadpool_limits

        n = interest.shape[1]
        order = np.arange(n) if item_order is None else np.asarray(item_order, dtype=np.int64)
        matrix = interest.tocsr()[:, order].astype(np.float32)
        matrix = matrix[np.flatnonzero(np.diff(matrix.indptr) > 0)]  # holders with an interaction
        fitted = np.zeros((n, factors), dtype=np.float32)
        if matrix.nnz:
            from implicit.cpu.als import AlternatingLeastSquares

            with threadpool_limits(limits=1, user_api="blas"):  # implicit warns about (and slows with) BLAS threads
                model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                                iterations=iterations, use_cg=False, random_state=seed,
                                                num_threads=1)
                model.fit(matrix, show_progress=False)
            fitted[order] = np.asarray(model.item_factors, dtype=np.float32)
        return cls.of(fitted, regularization=regularization, alpha=alpha)

    @classmethod
    def of(cls, factors: np.ndarray, *, regularization: float = ALS_REGULARIZATION,
           alpha: float = ALS_ALPHA) -> ItemFactors:
        y = np.asarray(factors, dtype=np.float64)
        return cls(np.asarray(factors, dtype=np.float32), y.T @ y + regularization * np.eye(y.shape[1]), alpha)

    def _system(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A, b) of the ALS user step for a history of ``items`` (confidence ``alpha`` on each, 1 elsewhere)."""
        y = self.factors[items].astype(np.float64)
        return self.gram + (self.alpha - 1.0) * (y.T @ y), self.alpha * y.sum(axis=0)

    def user_step(self, history_row: sp.csr_matrix) -> UserStep | None:
        """The ALS user step of one holder (a 1 × n history row), solved once, which ``scores_for`` and
        ``scores_at`` take instead of solving it again (a request's candidate source and its candidates' features
        both read it); ``None`` without history."""
        items = np.unique(history_row.tocsr().indices)
        if len(items) == 0:
            return None
        a, b = self._system(items)
        return UserStep(items, a, b, np.linalg.solve(a, b))

    def scores_for(self, history_row: sp.csr_matrix, step: UserStep | None = None) -> np.ndarray:
        """Every training's score ``u · y_t`` for one holder (a 1 × n history row), where ``u`` is folded in from
        the history without ``t`` itself when ``t`` is in it: a training's score never reads its own interaction,
        as ``affinity`` leaves the holder out of the co-occurrence counts. ``step``: ``user_step(history_row)``
        when already solved."""
        step = step if step is not None else self.user_step(history_row)
        n = self.factors.shape[0]
        if step is None:
            return np.zeros(n, dtype=np.float32)
        # float32 product: a request scores the whole catalogue (a float64 copy of the factors costs more).
        scores = self.factors @ step.user.astype(np.float32)
        scores[step.items] = self._leave_one_out(step.a, step.b, step.items)
        return scores

    def scores_at(self, history_row: sp.csr_matrix, rows: np.ndarray, step: UserStep | None = None) -> np.ndarray:
        """``scores_for(history_row)[rows]`` without scoring the whole catalogue (a request's candidates)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        step = step if step is not None else self.user_step(history_row)
        if step is None:
            return np.zeros(len(rows), dtype=np.float32)
        items = step.items
        scores = (self.factors[rows].astype(np.float64) @ step.user).astype(np.float32)
        # ``np.isin(rows, items)`` by binary search in the sorted ``items`` (isin's set-up dominated here)
        own = items[np.minimum(np.searchsorted(items, rows), len(items) - 1)] == rows
        if own.any():
            scores[own] = self._leave_one_out(step.a, step.b, rows[own])
        return scores

    def _leave_one_out(self, a: np.ndarray, b: np.ndarray, items: np.ndarray) -> np.ndarray:
        """For each of ``items`` (the history), its score with the user step solved without it."""
        y = self.factors[items].astype(np.float64)
        systems = a[np.newaxis] - (self.alpha - 1.0) * y[:, :, np.newaxis] * y[:, np.newaxis, :]
        users = np.linalg.solve(systems, (b[np.newaxis] - self.alpha * y)[:, :, np.newaxis])[:, :, 0]
        return np.einsum("ij,ij->i", users, y).astype(np.float32)

    def affinity(self, history: sp.csr_matrix, holder_rows: np.ndarray, training_rows: np.ndarray) -> np.ndarray:
        """``scores_for`` of pair ``i``'s holder at ``training_rows[i]``, for many pairs (training pairs)."""
        holder_rows = np.asarray(holder_rows, dtype=np.int64)
        training_rows = np.asarray(training_rows, dtype=np.int64)
        out = np.zeros(len(holder_rows), dtype=np.float32)
        history = history.tocsr()
        order = np.argsort(holder_rows, kind="stable")
        bounds = np.flatnonzero(np.diff(holder_rows[order])) + 1
        y_all = self.factors.astype(np.float64)
        for group in np.split(order, bounds):
            if len(group) == 0:
                continue
            h = int(holder_rows[group[0]])
            items = np.unique(history.indices[history.indptr[h]:history.indptr[h + 1]])
            if len(items) == 0:
                continue
            a, b = self._system(items)
            t = training_rows[group]
            out[group] = y_all[t] @ np.linalg.solve(a, b)
            own = np.isin(t, items)
            if own.any():
                out[group[own]] = self._leave_one_out(a, b, t[own])
        return out
