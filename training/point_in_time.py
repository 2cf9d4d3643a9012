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
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.pairs import HolderArrays, SkillSpace
from features.profile.weights import noisy_or_by_key
from training.dataset import SkillEvidence, WorldFrames

_DAY_SPAN = 1 << 20  # more days than any timestamp holds (composite keys holder × day)


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

    def rows(self, holder_rows: np.ndarray, days: np.ndarray) -> np.ndarray:
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

