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
from typing import NamedTuple

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


def spread(n: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sparse scores (``rows``, ``values``) as a dense float32 vector of ``n`` (0 elsewhere)."""
    out = np.zeros(n, dtype=np.float32)
    out[rows] = values
    return out


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

    def _history_weights_cached(self) -> np.ndarray:
        """``_history_weights``, derived once per matrix rather than per request; again if a field is replaced."""
        cached = self.__dict__.get("_derived")
        if cached is None or cached[0] is not self.counts or cached[1] is not self.holders_per_training:
            cached = (self.counts, self.holders_per_training, self._history_weights())
            self.__dict__["_derived"] = cached
        return cached[2]

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

    def sparse_scores_for(self, history_row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(catalogue rows, affinities) of the trainings whose affinity for one holder (a 1 × n history row) may
        be non-zero: those co-occurring with the history, rows ascending. Every other training's affinity is 0.
        Computed at those rows only (a request scores the whole catalogue this way, and the counts are sparse)."""
        row = history_row.tocsr()
        if row.nnz == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        weights = self._history_weights_cached()
        history = np.unique(row.indices)
        # The rows C[j, ·] of the history items, read straight from the CSR arrays (a sparse product allocates
        # work arrays of the catalogue's size on every call, which cost more than the few entries summed here).
        indptr, indices, data = self.counts.indptr, self.counts.indices, self.counts.data
        starts, ends = indptr[history], indptr[history + 1]
        lengths = ends - starts
        if lengths.sum() == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        weight = np.repeat(weights[history], lengths).astype(np.float64)
        cols, inverse = np.unique(indices[positions], return_inverse=True)
        cols = cols.astype(np.int64)
        numerator = np.bincount(inverse, weights=weight * data[positions], minlength=len(cols))
        own = np.isin(cols, history, assume_unique=True)
        # Where t is in the history, the holder added one to every kept C[j, t] of their history (``affinity``'s
        # correction): one weight per stored entry (counts below ``min_count`` are not stored).
        numerator -= np.where(own, np.bincount(inverse, weights=weight, minlength=len(cols)), 0.0)
        others = self.holders_per_training[cols] - own
        size = np.maximum(len(history) - own, 1.0)
        values = np.divide(numerator, np.sqrt(np.maximum(others, 0.0)) * size, out=np.zeros(len(cols)),
                           where=others > 0).astype(np.float32)
        return cols, values

    def scores_for(self, history_row: sp.csr_matrix) -> np.ndarray:
        """Every training's affinity for one holder (a 1 × n history row): what ``affinity`` gives for each
        training (``sparse_scores_for`` spread over the catalogue)."""
        return spread(self.counts.shape[0], *self.sparse_scores_for(history_row))


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


def sorted_contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(keys, sorted_keys)`` for sorted ``sorted_keys``, by binary search: ``np.isin`` hashes or sorts the
    whole key set on every call, 170 ms for one request's 330 candidates on the 200,000-training catalogue."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.asarray(sorted_keys[at] == keys)


class _ScanOrder(NamedTuple):
    """The trainings with a non-zero factor, as ``ItemFactors`` scans them."""

    rows: np.ndarray  # by decreasing factor norm
    norms: np.ndarray  # their factor norms
    factors: np.ndarray  # their factors, float64, in that order
    to_ascending: np.ndarray  # the permutation that puts ``rows`` in ascending order
    ascending: np.ndarray  # ``rows[to_ascending]``


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

    def _scan_order(self) -> _ScanOrder:
        """The trainings with a non-zero factor by decreasing norm. ALS solves a training nobody interacted with to
        the zero vector, whose score is 0 for every holder, so a request scores the others only. Scores are float64
        products rounded to float32: the same whichever part of the matrix a product reads (a float32 product's
        rounding depends on how BLAS blocks the matrix), so a partial scan and the whole agree to the last bit.
        Derived once per factor matrix."""
        cached = self.__dict__.get("_scan")
        if cached is None or cached[0] is not self.factors:
            rows = np.flatnonzero(np.any(self.factors != 0, axis=1))
            active = self.factors[rows].astype(np.float64)
            norms = np.linalg.norm(active, axis=1)
            order = np.argsort(-norms, kind="stable")
            cached = (self.factors, _ScanOrder(rows[order], norms[order], np.ascontiguousarray(active[order]),
                                               np.argsort(rows[order], kind="stable"), rows))
            self.__dict__["_scan"] = cached
        return cached[1]  # type: ignore[no-any-return]

    def top_pool(self, history_row: sp.csr_matrix, allowed: np.ndarray, k: int, step: UserStep | None = None,
                 *, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """(catalogue rows ascending, scores): the ``allowed`` trainings of positive score that may be among the
        ``k`` best (each of the ``k`` best and every one tied with the ``k``-th), with their ``sparse_scores_for``
        scores, found without scoring the whole catalogue.

        Trainings are scored by decreasing factor norm, and the scan stops once no training left can enter the
        top ``k``: ``u · y ≤ |u| |y|`` (Cauchy–Schwarz), so a training whose ``|u| |y|`` is below the ``k``-th best
        score found ranks below it. Most holders' top 100 is settled within the few thousand trainings of largest
        norm. The history's trainings are scored without themselves (``sparse_scores_for``) and always kept."""
        step = step if step is not None else self.user_step(history_row)
        if step is None or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scan = self._scan_order()
        reach = float(np.linalg.norm(step.user)) * (1.0 + 1e-6)  # loose by more than a float32 rounding
        history = step.items
        # Allowed and outside the history, in one mask: a block then costs one gather instead of a search of the
        # history and a gather (the history's own scores are the leave-one-out ones, added below).
        eligible = allowed.copy()
        eligible[history] = False
        seen_rows: list[np.ndarray] = []  # eligible, positive: their scores are final
        seen_scores: list[np.ndarray] = []
        best = np.zeros(0, dtype=np.float32)  # the k best eligible scores so far
        start = 0
        while start < len(scan.rows):
            stop = min(start + block, len(scan.rows))
            block_rows = scan.rows[start:stop]
            block_scores = (scan.factors[start:stop] @ step.user).astype(np.float32)
            keep = eligible[block_rows] & (block_scores > 0)
            block_rows, block_scores = block_rows[keep], block_scores[keep]
            seen_rows.append(block_rows)
            seen_scores.append(block_scores)
            # The k-th best outside the history is at most the k-th best overall: stopping on it never stops early.
            best = np.concatenate([best, block_scores])
            if len(best) > k:
                best = np.partition(best, len(best) - k)[len(best) - k:]
            start = stop
            if start < len(scan.rows) and len(best) >= k and reach * scan.norms[start] < best.min():
                break
        scanned = np.concatenate(seen_rows)
        scores = np.concatenate(seen_scores)
        own = history[sorted_contains(scan.ascending, history)]  # the history's trainings with a non-zero factor
        if len(own):
            own_scores = self._leave_one_out(step.a, step.b, own)
            keep = allowed[own] & (own_scores > 0)
            scanned = np.concatenate([scanned, own[keep]])
            scores = np.concatenate([scores, own_scores[keep]])
        if len(scores) > k:  # the k best and their ties only: what a top-k with ties by row reads
            keep = scores >= np.partition(scores, len(scores) - k)[len(scores) - k]
            scanned, scores = scanned[keep], scores[keep]
        order = np.argsort(scanned, kind="stable")
        return scanned[order], scores[order]

    def sparse_scores_for(self, history_row: sp.csr_matrix,
                          step: UserStep | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(catalogue rows, scores) of the trainings whose score may be non-zero (a non-zero factor), rows
        ascending; ``scores_for`` at those rows, every other training's score being 0."""
        step = step if step is not None else self.user_step(history_row)
        scan = self._scan_order()
        rows = scan.ascending
        if step is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = (scan.factors @ step.user).astype(np.float32)[scan.to_ascending]
        own = np.searchsorted(rows, step.items)
        inside = own < len(rows)
        inside[inside] = rows[own[inside]] == step.items[inside]
        if inside.any():
            scores[own[inside]] = self._leave_one_out(step.a, step.b, step.items[inside])
        return rows, scores

    def scores_for(self, history_row: sp.csr_matrix, step: UserStep | None = None) -> np.ndarray:
        """Every training's score ``u · y_t`` for one holder (a 1 × n history row), where ``u`` is folded in from
        the history without ``t`` itself when ``t`` is in it: a training's score never reads its own interaction,
        as ``affinity`` leaves the holder out of the co-occurrence counts. ``step``: ``user_step(history_row)``
        when already solved."""
        return spread(self.factors.shape[0], *self.sparse_scores_for(history_row, step))

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
        own = sorted_contains(items, rows)
        if own.any():
            scores[own] = self._leave_one_out(step.a, step.b, rows[own])
        return scores

    def _leave_one_out(self, a: np.ndarray, b: np.ndarray, items: np.ndarray) -> np.ndarray:
        """For each of ``items`` (the history), its score with the user step solved without it.

        Without item ``y`` the system is ``(A − c y yᵀ) u = b − α y`` (``c = α − 1``); by the Sherman–Morrison
        formula ``yᵀ (A − c y yᵀ)⁻¹ = yᵀ A⁻¹ / (1 − c q)`` with ``q = yᵀ A⁻¹ y``, so the score is
        ``(yᵀ A⁻¹ b − α q) / (1 − c q)``: one solve for every item instead of one per item (the denominator is
        positive: the system without ``y`` stays positive definite)."""
        y = self.factors[items].astype(np.float64)
        z = np.linalg.solve(a, y.T).T  # A⁻¹ y per item (A symmetric)
        q = np.einsum("ij,ij->i", z, y)
        return ((z @ b - self.alpha * q) / (1.0 - (self.alpha - 1.0) * q)).astype(np.float32)

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
