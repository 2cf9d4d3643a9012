"""Training pairs see each holder's skills profile as it stood on the day of the pair's interaction.

The profile "before the cut" (``training.dataset.profiles_before``) still holds what every training completed
before the cut taught. A training pair made from an enrolment on day τ, whose training the holder then completed,
would read that training's own skills as already held (``skill_novelty`` 0.22 on completed rows against 0.69 on
the others, on the default small world): the completion model learnt "already known ⇒ completed", and every
held-out enrolment, not completed yet, looked like a dropout (docs/guidance.md). The ranker learnt the same about
its completed positives.

``PointInTime`` adds *virtual* holder rows to the holder arrays: a holder's profile without the evidence of their
completions on or after a day, its embedding recomputed from what remains (``profiles_before``'s recipe). Since
a holder's completions are ordered in time, the profile for day τ only depends on how many of the holder's
completion days fall before τ, so a holder has at most one virtual row per completion day before the cut (the
base row is the one with every such completion). Virtual rows carry their holder's id, balances, preferences and
interaction history; only the skills, the gap and the embedding differ. The served path is unchanged: a served
holder's profile is today's, and the held-out holders of an evaluation read the profile before the cut.

The collaborative features (``cf_affinity``, ``mf_score``) are stacked features: a model's score used as a feature
of another. Scored as the server scores a holder, a training pair read its holder's whole history before the cut,
interactions after the pair's day included (its positives had 95 % non-zero ``cf_affinity`` against 71 % for the
held-out enrolments, docs/guidance.md). With ``windows_of``, each pair gets a *window row*: its profile row with a
history that stops before the pair's day, which the random negatives drawn for it share, and
``collaborative_features`` fills both columns from it:

- ``window_days`` 0 (chosen, ``COLLABORATIVE_WINDOW_DAYS``): out of fold. The history is the holder's interactions
  on days before the pair's day; the co-occurrence counts are every interaction before the cut with the holder left
  out of them, the ALS item factors are fitted on the holders of the other fold (``MF_FOLDS``). Neither the
  pair's own interaction nor any later one of its holder reaches its features.
- ``window_days`` > 0: by time. The days before the cut are cut into windows of that many days (the last one ends
  at the cut); a pair made on day τ reads the history, co-occurrence counts and ALS factors of the interactions
  before the start of τ's window, as the server scores a holder at a cut: nothing on or after that start.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.collaborative import INTEREST_EVENTS, CoOccurrence, ItemFactors, interest_matrix
from features.pairs import FEATURE_NAMES, CatalogueArrays, HolderArrays, SkillSpace, row_positions
from features.profile.weights import noisy_or_by_key
from training.dataset import POSITIVE_EVENTS, SkillEvidence, WorldFrames

_DAY_SPAN = 1 << 20  # more days than any timestamp holds (composite keys holder × day)
# Windows of the collaborative features of training pairs (module docstring): 0, out of fold, each pair's history
# before its own day. Chosen on the zoo (docs/guidance.md): windows of 120 or 30 days (a history that stops up to a
# window before the pair) starved weak_content of its only signal.
COLLABORATIVE_WINDOW_DAYS = 0


@dataclass
class WindowModel:
    """The collaborative state at the start of one window: the interest matrix of the interactions before it
    (base holder rows × catalogue rows), and the co-occurrence counts and ALS item factors fitted on it."""

    interest: sp.csr_matrix
    cooccurrence: CoOccurrence
    factors: ItemFactors


def _days(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC days since the epoch of timestamps (floor), whatever their unit."""
    values = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).tz_convert("UTC").tz_localize(None)
    return values.to_numpy().astype("datetime64[D]").astype(np.int64)


def embeddings_from_weights(holder_codes: np.ndarray, skill_uris: np.ndarray, weights: np.ndarray) -> dict[
        int, np.ndarray]:
    """Per holder code: the profile embedding of its (skill, weight) rows (rows grouped by code), as
    ``features.profile.embedding.profile_embedding`` computes it (top skills, weighted mean of skill vectors);
    codes whose skills the index does not know are left out."""
    from features.esco_matcher import get_index
    from features.profile.embedding import top_skills, weighted_skill_vector

    skills = get_index("skill", "names")
    out: dict[int, np.ndarray] = {}
    if not len(holder_codes):
        return out
    bounds = np.flatnonzero(np.diff(holder_codes)) + 1
    for start, end in zip(np.r_[0, bounds], np.r_[bounds, len(holder_codes)], strict=True):
        uris = skill_uris[start:end].tolist()
        values = weights[start:end]
        top = top_skills(uris, values)
        vector = weighted_skill_vector([uris[i] for i in top], values[top], skills)
        if vector is not None:
            out[int(holder_codes[start])] = vector
    return out


@dataclass
class PointInTime:
    """Holder arrays with virtual rows appended after the base rows, and how to find a pair's row.

    ``holders``: the base rows (``base`` of them, unchanged) then the virtual ones; ``virtual_holder[i]`` is the
    base row of virtual row ``base + i``. ``completion_days``: sorted keys base row × ``_DAY_SPAN`` + day of the
    holder's completion days before the cut that taught a stored skill; ``virtual_keys``: sorted keys base row ×
    ``_DAY_SPAN`` + number of those days kept, aligned with the virtual rows."""

    holders: HolderArrays
    base: int
    virtual_holder: np.ndarray
    completion_days: np.ndarray
    virtual_keys: np.ndarray
    # Window rows (``windows_of``): after the profile rows, from ``window_start``; ``window_keys`` sorted keys
    # profile row × ``_DAY_SPAN`` + window, aligned with them; window ``w`` starts ``(w + 1) × max(window_days, 1)``
    # days before ``cut_day``. ``models``: per window its state (missing: no interaction before it), or with
    # ``window_days`` 0 per holder fold the models its pairs are scored with.
    window_days: int | None = None
    cut_day: int = 0
    window_start: int = 0
    window_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    models: dict[int, WindowModel] = field(default_factory=dict)

    def rows(self, holder_rows: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The row of pairs of ``holder_rows`` made on ``days`` (UTC days since the epoch): the profile row
        (``profile_rows``), or with windows its window row for the window of the day."""
        profile = self.profile_rows(holder_rows, days)
        if self.window_days is None:
            return profile
        wanted = profile * _DAY_SPAN + self.window_of(days)
        at = np.minimum(np.searchsorted(self.window_keys, wanted), max(len(self.window_keys) - 1, 0))
        if len(wanted) and (not len(self.window_keys) or (self.window_keys[at] != wanted).any()):
            raise ValueError("a pair's window row was not built")  # every pair before the cut has one
        return self.window_start + at

    def window_of(self, days: np.ndarray) -> np.ndarray:
        """The window of pairs made on ``days`` (0: the last one before the cut; one per day with 0 days)."""
        assert self.window_days is not None
        return np.maximum((self.cut_day - 1 - np.asarray(days, dtype=np.int64)) // max(self.window_days, 1), 0)

    def window_origin(self, window: int) -> int:
        """The UTC day (since the epoch) window ``window`` starts: its pairs read the interactions before it."""
        assert self.window_days is not None
        return self.cut_day - (window + 1) * max(self.window_days, 1)

    def base_rows(self, rows: np.ndarray) -> np.ndarray:
        """The base (real holder) row of any row of ``holders``."""
        profile = np.asarray(rows, dtype=np.int64).copy()
        windowed = profile >= self.base + len(self.virtual_holder)
        profile[windowed] = self.window_keys[profile[windowed] - self.window_start] // _DAY_SPAN
        virtual = profile >= self.base
        profile[virtual] = self.virtual_holder[profile[virtual] - self.base]
        return profile

    def profile_rows(self, holder_rows: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The row whose profile is the holder's without the completions on or after ``days`` (UTC days since the
        epoch): the base row when none of the holder's completion days falls on or after it."""
        holder_rows = np.asarray(holder_rows, dtype=np.int64)
        if not len(self.virtual_keys) or not len(holder_rows):
            return holder_rows.copy()
        base_key = holder_rows * _DAY_SPAN
        first = np.searchsorted(self.completion_days, base_key, side="left")
        end = np.searchsorted(self.completion_days, base_key + _DAY_SPAN, side="left")
        kept = np.searchsorted(self.completion_days, base_key + np.clip(days, 0, _DAY_SPAN - 1), side="left") - first
        wanted = base_key + kept
        reduced = kept < end - first
        at = np.minimum(np.searchsorted(self.virtual_keys, wanted), len(self.virtual_keys) - 1)
        found = self.virtual_keys[at] == wanted
        if (reduced & ~found).any():  # every reduced profile was built: a missing one is a bug, not data
            raise ValueError("a pair's point-in-time profile was not built")
        return np.where(reduced, self.base + at, holder_rows)

    @classmethod
    def build(cls, frames: WorldFrames, holders: HolderArrays, cut: pd.Timestamp,
              space: SkillSpace | None = None, *, windows_of: CatalogueArrays | None = None,
              window_days: int = COLLABORATIVE_WINDOW_DAYS, seed: int = 0) -> PointInTime:
        """The profile rows (``profiles``) and, with ``windows_of`` (the catalogue arrays the pairs are drawn
        over), a window row for every (profile row, window) a pair before ``cut`` falls in, with the window
        models (module docstring; ALS fitted with ``seed``)."""
        at_day = cls.profiles(frames, holders, cut, space)
        if windows_of is None:
            return at_day
        return at_day._with_windows(frames.interactions, cut, windows_of, window_days, seed)

    @classmethod
    def profiles(cls, frames: WorldFrames, holders: HolderArrays, cut: pd.Timestamp,
                 space: SkillSpace | None = None) -> PointInTime:
        """Virtual rows for every (holder, number of completion days kept) a day before ``cut`` can ask for.

        ``frames.evidence`` holds every stored evidence row with the training whose completion gave it;
        ``frames.interactions`` dates those completions. Evidence from a declaration, or from a completion with no
        dated completion event, is always held; evidence from a completion at or after ``cut`` never (as
        ``profiles_before`` drops it)."""
        base = len(holders.holder_ids)
        evidence = frames.evidence
        empty = cls(holders, base, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
        if not len(evidence.holder):
            return empty
        space = space or SkillSpace.load()
        cut_day = int(_days(pd.DatetimeIndex([cut]))[0])
        day = _evidence_days(evidence, frames.interactions)  # −1: always held
        row_of_code = np.array([holders.position.get(h, -1) for h in evidence.holder_ids] + [-1], np.int64)
        holder_row = row_of_code[evidence.holder]
        dated = (day >= 0) & (day < cut_day) & (holder_row >= 0)
        completion_days = np.unique(holder_row[dated] * _DAY_SPAN + day[dated])
        if not len(completion_days):
            return empty
        # Rank of each dated evidence row's day among its holder's completion days (−1 always held, big never).
        rank = np.full(len(day), -1, dtype=np.int64)
        rank[day >= cut_day] = np.iinfo(np.int64).max
        first_of_holder = np.searchsorted(completion_days, holder_row[dated] * _DAY_SPAN)
        rank[dated] = np.searchsorted(completion_days, holder_row[dated] * _DAY_SPAN + day[dated]) - first_of_holder
        # Virtual rows: (holder, kept) for kept = 0 … n_days − 1 (kept = n_days is the base row).
        owner = completion_days // _DAY_SPAN
        owners, first, counts = np.unique(owner, return_index=True, return_counts=True)
        virtual_holder = np.repeat(owners, counts)
        virtual_kept = np.arange(len(owner)) - np.repeat(first, counts)
        virtual_keys = virtual_holder * _DAY_SPAN + virtual_kept  # sorted: completion_days is
        # Each virtual row's evidence: its holder's rows whose rank is below the number kept. Evidence rows are
        # grouped by holder code in ``load_skill_evidence``; order them by row to expand per virtual row.
        order = np.argsort(holder_row, kind="stable")
        by_row = holder_row[order]
        starts = np.searchsorted(by_row, virtual_holder, side="left")
        ends = np.searchsorted(by_row, virtual_holder, side="right")
        sizes = ends - starts
        virtual = np.repeat(np.arange(len(virtual_holder)), sizes)
        picked = order[np.repeat(starts, sizes) + np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)]
        keep = rank[picked] < virtual_kept[virtual]
        virtual, picked = virtual[keep], picked[keep]
        n_skills = max(len(evidence.skill_uris), 1)
        keys, weights = noisy_or_by_key(virtual * n_skills + evidence.skill[picked], evidence.weight[picked])
        codes, skill_codes = keys // n_skills, keys % n_skills
        uris = np.asarray(evidence.skill_uris, dtype=object)[skill_codes]
        names = np.array([f"{holders.holder_ids[r]}@{k}" for r, k in zip(virtual_holder, virtual_kept, strict=True)],
                         dtype=object)
        embeddings = {str(names[code]): vector for code, vector in embeddings_from_weights(codes, uris,
                                                                                             weights).items()}
        rows = frames.holders.set_index(frames.holders["holder_id"].astype(str)).loc[
            holders.holder_ids[virtual_holder]].reset_index(drop=True)
        rows["holder_id"] = names
        real = holders.holder_ids[virtual_holder]
        occupation = {n: frames.current_occupation[r] for n, r in zip(names, real, strict=True)
                      if r in frames.current_occupation}
        balances = {n: frames.balances[r] for n, r in zip(names, real, strict=True) if r in frames.balances}
        weights_frame = pd.DataFrame({"holder_id": names[codes], "skill_uri": uris, "weight": weights})
        extra = HolderArrays.build(rows, weights_frame, embeddings, occupation, balances, space,
                                   holders.embeddings.shape[1])
        stacked = stack_holders(holders, extra, real, None if holders.history is None else holders.history[
            virtual_holder])
        return cls(stacked, base, virtual_holder, completion_days, virtual_keys)

    def _with_windows(self, interactions: pd.DataFrame, cut: pd.Timestamp, catalogue: CatalogueArrays,
                      window_days: int, seed: int) -> PointInTime:
        """This profile split with the window rows and models of every pair before ``cut`` (``window_days`` 0:
        a row per pair day, out-of-fold models)."""
        if window_days < 0:
            raise ValueError(f"window_days must be 0 or more, not {window_days}")
        cut_day = int(_days(pd.DatetimeIndex([cut]))[0])
        before = interactions[interactions["occurred_at"] < cut]
        h_all = row_positions(before["holder_id"], self.holders.position)
        t_all = row_positions(before["training_id"], catalogue.position)
        known = (h_all >= 0) & (t_all >= 0)
        n_trainings = len(catalogue.training_ids)
        unique, inverse = np.unique(h_all[known] * n_trainings + t_all[known], return_inverse=True)
        positive = before["event"].isin(POSITIVE_EVENTS).to_numpy()[known]
        days = pair_days(before, inverse, known, positive, len(unique))  # as ``training_pairs`` dates its pairs
        windowed = dataclasses.replace(self, window_days=window_days, cut_day=cut_day,
                                       window_start=len(self.holders.holder_ids))
        profile = self.profile_rows(unique // n_trainings, days)
        keys = np.unique(profile * _DAY_SPAN + windowed.window_of(days))
        profile, window = keys // _DAY_SPAN, keys % _DAY_SPAN
        owner = self.base_rows(profile)
        origin = cut_day - (window + 1) * max(window_days, 1)
        # Each row's history: its holder's interest events before the row's window start.
        interest_events = before["event"].isin(INTEREST_EVENTS).to_numpy() & (h_all >= 0) & (t_all >= 0)
        when = _days(before["occurred_at"])
        eh, et, ed = h_all[interest_events], t_all[interest_events], when[interest_events]
        order = np.argsort(eh, kind="stable")
        eh, et, ed = eh[order], et[order], ed[order]
        first, last = np.searchsorted(eh, owner, side="left"), np.searchsorted(eh, owner, side="right")
        sizes = last - first
        row_of = np.repeat(np.arange(len(keys)), sizes)
        picked = np.repeat(first, sizes) + np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        kept = ed[picked] < origin[row_of]
        history = sp.csr_matrix((np.ones(int(kept.sum()), np.float32), (row_of[kept], et[picked[kept]])),
                                shape=(len(keys), n_trainings))
        history.sum_duplicates()
        history.data[:] = 1.0
        item_order = np.argsort(catalogue.training_ids, kind="stable")
        models: dict[int, WindowModel] = {}
        if window_days > 0:
            for w in np.unique(window).tolist():
                earlier = before[when < windowed.window_origin(w)]
                if earlier.empty:  # nothing before the window: its pairs score 0, as a holder without history
                    continue
                interest = interest_matrix(earlier, self.holders.position, catalogue.position, self.base,
                                           n_trainings)
                models[w] = WindowModel(interest, CoOccurrence.build(interest),
                                        ItemFactors.build(interest, item_order=item_order, seed=seed))
        else:  # every interaction before the cut, the pair's holder left out (co-occurrence) or out of fold (ALS)
            interest = interest_matrix(before, self.holders.position, catalogue.position, self.base, n_trainings)
            counts = CoOccurrence.build(interest)  # every fold's: the holder is left out when scoring, not here
            fold = holder_folds(self.holders.holder_ids[:self.base])
            for f in range(MF_FOLDS):
                others = (sp.diags((fold != f).astype(np.float32)) @ interest).tocsr()
                models[f] = WindowModel(interest, counts, ItemFactors.build(others, item_order=item_order, seed=seed))
        rows = select_rows(self.holders, profile)
        windowed.holders = stack_holders(self.holders, rows, rows.holder_ids, history.tocsr())
        windowed.window_keys = keys
        windowed.models = models
        return windowed

    def collaborative_features(self, X: np.ndarray, holder_rows: np.ndarray,  # noqa: N803
                               training_rows: np.ndarray) -> np.ndarray:
        """``X`` with the ``cf_affinity`` and ``mf_score`` of the pairs on window rows, in place: from the row's
        history with the models of the holder's fold (``window_days`` 0), or as the server would compute them at
        the start of the pair's window (0 before any interaction)."""
        holder_rows = np.asarray(holder_rows, dtype=np.int64)
        training_rows = np.asarray(training_rows, dtype=np.int64)
        cf, mf = FEATURE_NAMES.index("cf_affinity"), FEATURE_NAMES.index("mf_score")
        on_window = holder_rows >= self.window_start if self.window_days is not None else np.zeros(
            len(holder_rows), bool)
        X[on_window, cf] = 0.0
        X[on_window, mf] = 0.0
        history = self.holders.history
        if not on_window.any() or history is None:
            return X
        owner = self.base_rows(holder_rows)
        if self.window_days == 0:
            fold = holder_folds(self.holders.holder_ids[:self.base])[owner]
            for f, model in self.models.items():
                mine = np.flatnonzero(on_window & (fold == f))
                counted = np.asarray(model.interest[owner[mine], training_rows[mine]]).ravel() > 0
                X[mine, cf] = model.cooccurrence.affinity(history, holder_rows[mine], training_rows[mine],
                                                          counted=counted)
                X[mine, mf] = model.factors.affinity(history, holder_rows[mine], training_rows[mine])
            return X
        window = np.full(len(holder_rows), -1, dtype=np.int64)
        window[on_window] = self.window_keys[holder_rows[on_window] - self.window_start] % _DAY_SPAN
        for w, model in self.models.items():
            mine = np.flatnonzero(window == w)
            if len(mine):
                X[mine, cf] = model.cooccurrence.affinity(model.interest, owner[mine], training_rows[mine])
                X[mine, mf] = model.factors.affinity(model.interest, owner[mine], training_rows[mine])
        return X


MF_FOLDS = 2  # holder folds of the out-of-fold ALS fits (here and ``training.fit.factors_out_of_fold``)


def holder_folds(holder_ids: np.ndarray) -> np.ndarray:
    """Fold of each row's holder: the rank of its id among the distinct ids, modulo ``MF_FOLDS`` (rows repeating
    an id, as point-in-time rows do, take their holder's fold)."""
    _ids, rank = np.unique(holder_ids, return_inverse=True)
    return (rank % MF_FOLDS).astype(np.int64)


def _evidence_days(evidence: SkillEvidence, interactions: pd.DataFrame) -> np.ndarray:
    """Per evidence row: the UTC day of its holder's first completion of its training, −1 for a declaration or
    a completion no interaction dates."""
    day = np.full(len(evidence.holder), -1, dtype=np.int64)
    from_training = evidence.training >= 0
    completions = interactions[interactions["event"] == "complete"]
    if not from_training.any() or completions.empty:
        return day
    first = completions.groupby([completions["holder_id"].astype(str), completions["training_id"].astype(str)],
                                observed=True)["occurred_at"].min()
    holder_ids = np.asarray(evidence.holder_ids, dtype=object)[evidence.holder[from_training]]
    training_ids = np.asarray(evidence.training_ids, dtype=object)[evidence.training[from_training]]
    when = first.reindex(pd.MultiIndex.from_arrays([holder_ids, training_ids]))
    known = when.notna().to_numpy()
    days = np.full(len(when), -1, dtype=np.int64)
    days[known] = _days(pd.DatetimeIndex(when[known].to_numpy()))
    day[from_training] = days
    return day


def select_rows(holders: HolderArrays, rows: np.ndarray) -> HolderArrays:
    """Rows ``rows`` of ``holders`` (positions and per-row caches are not carried: the rows are appended to
    other arrays by ``stack_holders``)."""
    rows = np.asarray(rows, dtype=np.int64)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(holders):
        value = getattr(holders, f.name)
        if f.name.startswith("_") or f.name == "position":
            continue
        values[f.name] = None if value is None else value[rows]
    return HolderArrays(position={}, **values)


def stack_holders(base: HolderArrays, extra: HolderArrays, extra_ids: np.ndarray,
                  extra_history: sp.csr_matrix | None) -> HolderArrays:
    """``base``'s rows then ``extra``'s, the extra rows carrying ``extra_ids`` (their real holders' ids) and
    ``extra_history``; positions stay the base rows'. Private fields (per-row caches) start empty."""
    caches: dict[str, Any] = {
        f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        for f in dataclasses.fields(base) if f.name.startswith("_") and f.init}
    return dataclasses.replace(
        base,
        **caches,
        holder_ids=np.concatenate([base.holder_ids, np.asarray(extra_ids, dtype=base.holder_ids.dtype)]),
        position=base.position,
        skills=sp.vstack([base.skills, extra.skills]).tocsr(),
        gap=sp.vstack([base.gap, extra.gap]).tocsr(),
        gap_total=np.concatenate([base.gap_total, extra.gap_total]),
        goal_occupation=np.concatenate([base.goal_occupation, extra.goal_occupation]),
        embeddings=np.vstack([base.embeddings, extra.embeddings]),
        cpf_balance_cents=np.concatenate([base.cpf_balance_cents, extra.cpf_balance_cents]),
        cec_balance_cents=np.concatenate([base.cec_balance_cents, extra.cec_balance_cents]),
        region=np.concatenate([base.region, extra.region]),
        preferred_modality=np.concatenate([base.preferred_modality, extra.preferred_modality]),
        qualification_level=np.concatenate([base.qualification_level, extra.qualification_level]),
        is_job_seeker=np.concatenate([base.is_job_seeker, extra.is_job_seeker]),
        history=None if base.history is None or extra_history is None else sp.vstack(
            [base.history, extra_history]).tocsr(),
    )


def pair_days(interactions: pd.DataFrame, inverse: np.ndarray, known: np.ndarray, positive: np.ndarray,
              n_pairs: int) -> np.ndarray:
    """Per pair (``inverse`` maps the known interactions to pairs): the UTC day of its first enrolment or
    completion, or of its first interaction when it has none."""
    day = _days(interactions["occurred_at"])[known]
    big = np.iinfo(np.int64).max
    first_positive = np.full(n_pairs, big, dtype=np.int64)
    np.minimum.at(first_positive, inverse[positive], day[positive])
    first_any = np.full(n_pairs, big, dtype=np.int64)
    np.minimum.at(first_any, inverse, day)
    return np.where(first_positive < big, first_positive, first_any)

