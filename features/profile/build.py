"""Computing (not storing) the profiles of holders from the database: a few queries read a batch of holders'
declarations, completed trainings and exclusions, their free texts are matched to ESCO in batches, and each
profile is built as ``aggregate.profile_from_declarations`` builds detached ones."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from features.profile.aggregate import profile_from_declarations
from features.profile.matching import Matcher
from features.profile.model import Declaration, Profile
from parcours.errors import NotFound
from parcours.store.bulk import is_in
from parcours.store.models import Experience, Holder, HolderSkillExclusion, Interaction, Training

# An enrolment file counts as a completed training from this completion rate on (a no-show is 0 %).
MIN_COMPLETION_BASIS_POINTS = 5_000
DONE_ENROLMENT_STATES = ("service_done", "paid", "closed")


def default_today() -> dt.date:
    """The business date when a caller gives none: the calendar date."""
    return dt.date.today()


class PhaseClock:
    """Adds the seconds since the last lap to ``timings[name]`` (nothing when ``timings`` is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[name] = self.timings.get(name, 0.0) + now - self.last
            self.last = now


def declarations_of(session: Session, holder_ids: Sequence[str]) -> dict[str, list[Declaration]]:
    """The declarations of these holders (one query), each holder's in start date then id order."""
    rows = session.execute(
        select(
            Experience.holder_id,
            Experience.experience_id,
            Experience.kind,
            Experience.label,
            Experience.esco_uri,
            Experience.start_date,
            Experience.end_date,
            Experience.source,
        )
        .where(is_in(session, Experience.holder_id, holder_ids))
        .order_by(Experience.holder_id, Experience.start_date, Experience.experience_id)
    )
    found: dict[str, list[Declaration]] = defaultdict(list)
    for holder_id, experience_id, kind, label, esco_uri, start_date, end_date, source in rows:
        found[holder_id].append(Declaration(experience_id, kind, label, esco_uri, start_date, end_date, source))
    return found


def completed_trainings_of(
    session: Session, holder_ids: Sequence[str]
) -> dict[str, list[tuple[str, list[str], dt.date]]]:
    """Trainings these holders completed in our own files (two queries): ``complete`` interactions (imported
    worlds) and enrolment files past service done with at least 50 % completion (when the enrolment model is
    present). Per holder and training, the latest completion counts."""
    rows = session.execute(
        select(Interaction.holder_id, Interaction.training_id, Interaction.occurred_at, Training.skills)
        .join(Training, Training.training_id == Interaction.training_id)
        .where(is_in(session, Interaction.holder_id, holder_ids), Interaction.event == "complete")
        .order_by(Interaction.holder_id, Interaction.occurred_at, Interaction.interaction_id)
    ).all()
    latest: dict[str, dict[str, tuple[str, list[str], dt.date]]] = defaultdict(dict)
    for holder_id, training_id, occurred_at, skills in rows:
        latest[holder_id][training_id] = (training_id, list(skills or []), occurred_at.date())
    try:
        from parcours.store.supporting_models import Enrolment  # type: ignore[import-not-found]
    except ImportError:  # the enrolment files are not in this build
        return {h: list(v.values()) for h, v in latest.items()}
    files = session.execute(
        select(Enrolment.holder_id, Enrolment.training_id, Enrolment.exit_date, Enrolment.updated_at, Training.skills)
        .join(Training, Training.training_id == Enrolment.training_id)
        .where(
            is_in(session, Enrolment.holder_id, holder_ids),
            Enrolment.state.in_(DONE_ENROLMENT_STATES),
            Enrolment.completion_basis_points >= MIN_COMPLETION_BASIS_POINTS,
        )
        .order_by(Enrolment.holder_id, Enrolment.enrolment_id)
    ).all()
    for holder_id, training_id, exit_date, updated_at, skills in files:
        done_on = exit_date or updated_at.date()
        mine = latest[holder_id]
        if training_id not in mine or mine[training_id][2] < done_on:
            mine[training_id] = (training_id, list(skills or []), done_on)
    return {h: list(v.values()) for h, v in latest.items()}


def excluded_of(session: Session, holder_ids: Sequence[str]) -> dict[str, set[str]]:
    """The skills each of these holders removed from their profile (one query)."""
    found: dict[str, set[str]] = defaultdict(set)
    for holder_id, skill_uri in session.execute(
        select(HolderSkillExclusion.holder_id, HolderSkillExclusion.skill_uri).where(
            is_in(session, HolderSkillExclusion.holder_id, holder_ids)
        )
    ):
        found[holder_id].add(skill_uri)
    return found


def build_profiles(
    session: Session,
    holder_ids: Sequence[str],
    *,
    today: dt.date | None = None,
    matcher: Matcher | None = None,
    timings: dict[str, float] | None = None,
) -> list[Profile]:
    """Compute (not store) the profiles of these holders, in order: a few queries for all of them, and their
    free texts matched to ESCO in batches. Raises ``NotFound`` for an unknown holder. ``timings``, when given,
    receives the seconds spent reading (``read``), matching free text (``match``) and weighing (``build``)."""
    ids = list(holder_ids)
    if not ids:
        return []
    clock = PhaseClock(timings)
    known = set(session.scalars(select(Holder.holder_id).where(is_in(session, Holder.holder_id, ids))))
    missing = [h for h in ids if h not in known]
    if missing:
        raise NotFound(f"holder {missing[0]} not found")
    declarations = declarations_of(session, ids)
    completed = completed_trainings_of(session, ids)
    excluded = excluded_of(session, ids)
    clock.lap("read")
    matcher = matcher or Matcher()
    matcher.prefetch(d for h in ids for d in declarations.get(h, ()))
    clock.lap("match")
    today = today or default_today()
    profiles = [
        profile_from_declarations(
            h,
            declarations.get(h, []),
            today,
            completed=completed.get(h, []),
            excluded=excluded.get(h, set()),
            matcher=matcher,
        )
        for h in ids
    ]
    clock.lap("build")
    return profiles


def build_profile(
    session: Session, holder_id: str, *, today: dt.date | None = None, matcher: Matcher | None = None
) -> Profile:
    """Compute (not store) the profile of a holder from their declarations and completed trainings."""
    return build_profiles(session, [holder_id], today=today, matcher=matcher)[0]
