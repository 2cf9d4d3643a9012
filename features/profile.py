"""The skills profile of a holder (purpose 9): what the holder knows, built from what they declared.

Inputs are the ``experience`` rows (jobs, diplomas, certifications, trainings, volunteering, skills the holder
names) and the trainings the holder completed in our own files (``interactions`` with ``event = 'complete'``).
Each declaration becomes *evidence* rows (``holder_skills``): a skill URI, a weight in (0, 1], a source
(verified / declared) and its provenance (the experience row or training, the ESCO concept it was mapped to,
and how sure that mapping was).

Weights (documented in docs/esco.md, "Skills profile"):

- a job or volunteering brings the skills of its occupation (derived table, link weight in (0, 1]) times a
  duration factor ``1 - exp(-years / 2.5)`` (6 years → 0.91, 1 year → 0.33) and a recency factor
  ``0.6 + 0.4 · exp(-years since it ended / 8)``;
- a diploma brings the skills of its field's occupation at 0.5, a certification its skill at 0.8, a training
  its skills at 0.7, a skill the holder names at 0.6 (all times the recency factor);
- free text without an ESCO URI is mapped through ``features.esco_matcher``; the weight is multiplied by the
  mapping's confidence, and by 0.5 more when the mapping is flagged low-confidence;
- verified evidence (``experience.source = 'verified'`` or a completed training of our files) counts fully,
  declared evidence at 0.8 (``DECLARED_FACTOR``).

A skill's weight in the profile is the noisy-or ``1 - Π(1 - wᵢ)`` of its evidence: more independent evidence,
more weight, never above 1. A skill is *verified* when any of its evidence is. Skills the holder removed
(``holder_skill_exclusions``) are left out unless verified (verified skills cannot be silently dropped).

The profile is recomputed when a declaration changes (``recompute_profile``), not per recommendation, and
stored with an embedding of its top skills (``holder_profiles``), ready for candidate generation.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from features.esco import OCCUPATION_PREFIX, SKILL_PREFIX, load_occupation_skills, load_taxonomy
from parcours.errors import NotFound, ValidationFailed
from parcours.store.bulk import is_in, write_rows
from parcours.store.models import (
    Experience,
    Holder,
    HolderProfile,
    HolderSkill,
    HolderSkillExclusion,
    Interaction,
    Training,
)

if TYPE_CHECKING:
    from features.esco_matcher import EscoIndex

PROFILE_VERSION = 1
DECLARED_FACTOR = 0.8
LOW_CONFIDENCE_FACTOR = 0.5
KIND_FACTOR = {"diploma": 0.5, "certification": 0.8, "training": 0.7, "skill": 0.6}
DURATION_SCALE_YEARS = 2.5
RECENCY_SCALE_YEARS = 8.0
MIN_WEIGHT = 0.01
EMBEDDING_TOP_SKILLS = 15  # docs/esco.md: 15 of 5, 10, 15, 20, 30 ranked best on two seeds
SKILL_MATCHES_PER_TEXT = 3


@dataclass(frozen=True)
class Evidence:
    """Why a skill is in the profile: one declaration (or completed training) and what it contributed."""

    skill_uri: str
    weight: float
    source: str  # verified | declared
    experience_id: int | None
    training_id: str | None
    via_uri: str | None
    confidence: float
    low_confidence: bool


@dataclass(frozen=True)
class ProfileSkill:
    skill_uri: str
    label: str
    weight: float
    source: str  # verified if any evidence is verified
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Mapping:
    """How one declaration was read: the ESCO concept, how sure, and whether that is low."""

    experience_id: int
    kind: str
    label: str
    uri: str | None
    uri_label: str | None
    confidence: float
    low_confidence: bool
    method: str  # given (esco_uri) | semantic | lexical | none


@dataclass
class Profile:
    holder_id: str
    skills: list[ProfileSkill]
    mappings: list[Mapping] = field(default_factory=list)
    embedding: np.ndarray | None = None
    model_id: str | None = None

    def weights(self) -> dict[str, float]:
        return {s.skill_uri: s.weight for s in self.skills}

    def top(self, k: int) -> list[ProfileSkill]:
        return self.skills[:k]

    @property
    def is_empty(self) -> bool:
        return not self.skills


@dataclass(frozen=True)
class Declaration:
    """An experience row detached from the database (so the same code serves rows, benchmarks and tests)."""

    experience_id: int
    kind: str
    label: str
    esco_uri: str | None
    start_date: dt.date
    end_date: dt.date | None
    source: str = "declared"


# --- Weights ----------------------------------------------------------------------------------------------


def duration_factor(start: dt.date, end: dt.date | None, today: dt.date) -> float:
    years = max(0.0, ((end or today) - start).days / 365.25)
    return 1.0 - math.exp(-years / DURATION_SCALE_YEARS)


def recency_factor(end: dt.date | None, today: dt.date) -> float:
    since = 0.0 if end is None else max(0.0, (today - end).days / 365.25)
    return 0.6 + 0.4 * math.exp(-since / RECENCY_SCALE_YEARS)


def noisy_or(weights: Iterable[float]) -> float:
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - min(max(weight, 0.0), 1.0)
    return 1.0 - remaining


@lru_cache(maxsize=1)
def occupation_skill_map() -> dict[str, list[tuple[str, float]]]:
    """occupation URI → [(skill URI, link weight)] from the derived table, best first."""
    table = load_occupation_skills().sort_values(["occupation_uri", "rank"])
    grouped: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for occupation, skill, weight in zip(
        table["occupation_uri"], table["skill_uri"], table["weight"], strict=True
    ):
        grouped[str(occupation)].append((str(skill), float(weight)))
    return dict(grouped)


@lru_cache(maxsize=1)
def skill_labels() -> dict[str, str]:
    """skill URI → preferred label (a dict: profiles of many holders look labels up millions of times)."""
    skills = load_taxonomy().skills
    return {str(uri): str(label) for uri, label in zip(skills.index, skills["label"], strict=True)}


# --- Reading a declaration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    occupation: str | None
    skills: tuple[tuple[str, float], ...]  # (skill URI, relative weight) when the declaration names skills
    uri: str | None
    uri_label: str | None
    confidence: float
    low_confidence: bool
    method: str


def _resolve(declaration: Declaration, matcher: Matcher) -> _Resolved:
    taxonomy = load_taxonomy()
    uri = (declaration.esco_uri or "").strip()
    if uri and taxonomy.is_occupation(uri):
        return _Resolved(uri, (), uri, taxonomy.occupation_label(uri), 1.0, False, "given")
    if uri and taxonomy.is_skill(uri):
        return _Resolved(None, ((uri, 1.0),), uri, taxonomy.skill_label(uri), 1.0, False, "given")
    text = _declaration_text(declaration)
    if declaration.kind in ("job", "volunteering", "diploma"):
        occupation = matcher.best(text, "occupation")
        if declaration.kind == "job" or occupation is None or not occupation.low_confidence:
            if occupation is None:
                return _Resolved(None, (), None, None, 0.0, True, "none")
            return _Resolved(
                occupation.uri,
                (),
                occupation.uri,
                occupation.label,
                occupation.confidence,
                occupation.low_confidence,
                occupation.method,
            )
    skills = matcher.top(text, "skill", SKILL_MATCHES_PER_TEXT)
    if declaration.kind in ("certification", "training"):
        occupation = matcher.best(text, "occupation")
        if occupation is not None and skills and occupation.score > skills[0].score + 0.05:
            return _Resolved(
                occupation.uri,
                (),
                occupation.uri,
                occupation.label,
                occupation.confidence,
                occupation.low_confidence,
                occupation.method,
            )
    if not skills:
        return _Resolved(None, (), None, None, 0.0, True, "none")
    best = skills[0]
    kept = tuple((m.uri, m.score / best.score) for m in skills if m.score >= best.score - 0.05)
    if declaration.kind == "skill":
        kept = kept[:1]
    return _Resolved(None, kept, best.uri, best.label, best.confidence, best.low_confidence, best.method)


class Matcher:
    """Text → ESCO with a per-text cache (bulk recomputes see the same job titles many times)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int], list] = {}

    def top(self, text: str, kind: str, k: int) -> list:
        from features.esco_matcher import match

        key = (text.strip().lower(), kind, k)
        if key not in self._cache:
            self._cache[key] = match(text, kind, k)  # type: ignore[arg-type]
        return self._cache[key]

    def best(self, text: str, kind: str):  # type: ignore[no-untyped-def]
        found = self.top(text, kind, 1)
        return found[0] if found else None

    def prefetch(self, declarations: Iterable[Declaration]) -> None:
        """Match, in batches, every free text these declarations will need (same results as one by one)."""
        from features.esco_matcher import match_many

        wanted: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        for d in declarations:
            if (d.esco_uri or "").strip():
                continue
            text = _declaration_text(d)
            if d.kind in ("job", "volunteering", "diploma", "certification", "training"):
                wanted[("occupation", 1)][text.strip().lower()] = text
            if d.kind != "job":
                wanted[("skill", SKILL_MATCHES_PER_TEXT)][text.strip().lower()] = text
        for (kind, k), texts in wanted.items():
            todo = [(key, t) for key, t in texts.items() if (key, kind, k) not in self._cache]
            for start in range(0, len(todo), 1024):
                chunk = todo[start : start + 1024]
                for (key, _), found in zip(chunk, match_many([t for _, t in chunk], kind, k), strict=True):  # type: ignore[arg-type]
                    self._cache[(key, kind, k)] = found


def _declaration_text(declaration: Declaration) -> str:
    """The text to map: for "Diploma — field" labels, the field after the dash."""
    label = declaration.label
    if declaration.kind == "diploma" and " — " in label:
        return label.split(" — ")[-1]
    return label


def evidence_for(
    declaration: Declaration, today: dt.date, matcher: Matcher
) -> tuple[list[Evidence], Mapping]:
    """The evidence one declaration gives, and how it was read."""
    resolved = _resolve(declaration, matcher)
    mapping = Mapping(
        declaration.experience_id,
        declaration.kind,
        declaration.label,
        resolved.uri,
        resolved.uri_label,
        round(resolved.confidence, 4),
        resolved.low_confidence,
        resolved.method,
    )
    source = "verified" if declaration.source == "verified" else "declared"
    base = 1.0 if source == "verified" else DECLARED_FACTOR
    base *= recency_factor(declaration.end_date, today)
    if resolved.method != "given":
        base *= resolved.confidence * (LOW_CONFIDENCE_FACTOR if resolved.low_confidence else 1.0)
    if resolved.occupation is not None:
        if declaration.kind in ("job", "volunteering"):
            base *= duration_factor(declaration.start_date, declaration.end_date, today)
        else:
            base *= KIND_FACTOR.get(declaration.kind, 0.5)
        links = occupation_skill_map().get(resolved.occupation, [])
    else:
        base *= KIND_FACTOR.get(declaration.kind, 0.5)
        links = list(resolved.skills)
    evidence = [
        Evidence(
            skill_uri=skill,
            weight=round(min(1.0, base * link), 4),
            source=source,
            experience_id=declaration.experience_id,
            training_id=None,
            via_uri=resolved.uri,
            confidence=round(resolved.confidence, 4),
            low_confidence=resolved.low_confidence,
        )
        for skill, link in links
        if base * link >= MIN_WEIGHT
    ]
    return evidence, mapping


def evidence_for_training(
    training_id: str, skills: Sequence[str], completed_on: dt.date, today: dt.date
) -> list[Evidence]:
    """A training completed in our own files: verified evidence for each skill it teaches."""
    weight = KIND_FACTOR["training"] * recency_factor(completed_on, today)
    return [
        Evidence(
            skill_uri=s,
            weight=round(weight, 4),
            source="verified",
            experience_id=None,
            training_id=training_id,
            via_uri=None,
            confidence=1.0,
            low_confidence=False,
        )
        for s in skills
        if s.startswith(SKILL_PREFIX)
    ]


def aggregate(
    holder_id: str,
    evidence: Iterable[Evidence],
    excluded: set[str] | None = None,
    mappings: list[Mapping] | None = None,
) -> Profile:
    """Group evidence by skill (noisy-or of weights), drop excluded declared skills, sort by weight."""
    labels = skill_labels()
    by_skill: dict[str, list[Evidence]] = defaultdict(list)
    for item in evidence:
        by_skill[item.skill_uri].append(item)
    excluded = excluded or set()
    skills = []
    for uri, items in by_skill.items():
        verified = any(e.source == "verified" for e in items)
        if uri in excluded and not verified:
            continue
        ordered = tuple(sorted(items, key=lambda e: -e.weight))
        skills.append(
            ProfileSkill(
                uri,
                labels.get(uri, uri),
                round(noisy_or(e.weight for e in items), 4),
                "verified" if verified else "declared",
                ordered,
            )
        )
    skills.sort(key=lambda s: skill_order(s.weight, s.skill_uri))
    return Profile(holder_id=holder_id, skills=skills, mappings=mappings or [])


def profile_from_declarations(
    holder_id: str,
    declarations: Sequence[Declaration],
    today: dt.date,
    *,
    completed: Sequence[tuple[str, Sequence[str], dt.date]] = (),
    excluded: set[str] | None = None,
    matcher: Matcher | None = None,
) -> Profile:
    """The profile of detached declarations (no database): used by ``build_profile`` and the benchmark."""
    matcher = matcher or Matcher()
    evidence: list[Evidence] = []
    mappings: list[Mapping] = []
    for declaration in declarations:
        items, mapping = evidence_for(declaration, today, matcher)
        evidence += items
        mappings.append(mapping)
    for training_id, skills, completed_on in completed:
        evidence += evidence_for_training(training_id, skills, completed_on, today)
    return aggregate(holder_id, evidence, excluded, mappings)


# --- Database side ------------------------------------------------------------------------------------------


def _today() -> dt.date:
    return dt.date.today()


EVIDENCE_COLUMNS = (
    "holder_id",
    "skill_uri",
    "weight",
    "source",
    "experience_id",
    "training_id",
    "via_uri",
    "confidence",
    "low_confidence",
    "computed_at",
)
PROFILE_COLUMNS = ("holder_id", "model_id", "dim", "embedding", "n_skills", "version", "computed_at")
# Holders per chunk of a bulk recompute: a few queries, one batched ESCO matching of free texts and one bulk
# write per chunk (1,000 ids stay well under SQLite's bound-parameter limit of an ``IN``).
RECOMPUTE_CHUNK_HOLDERS = 1_000


class _Clock:
    """Adds the seconds since the last lap to ``timings[name]`` (nothing when ``timings`` is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[name] = self.timings.get(name, 0.0) + now - self.last
            self.last = now


def _declarations_of(session: Session, holder_ids: Sequence[str]) -> dict[str, list[Declaration]]:
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


def _declarations(session: Session, holder_id: str) -> list[Declaration]:
    return _declarations_of(session, [holder_id]).get(holder_id, [])


# An enrolment file counts as a completed training from this completion rate on (a no-show is 0 %).
MIN_COMPLETION_BASIS_POINTS = 5_000
DONE_ENROLMENT_STATES = ("service_done", "paid", "closed")


def _completed_trainings_of(
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


def _completed_trainings(session: Session, holder_id: str) -> list[tuple[str, list[str], dt.date]]:
    return _completed_trainings_of(session, [holder_id]).get(holder_id, [])


def _excluded_of(session: Session, holder_ids: Sequence[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for holder_id, skill_uri in session.execute(
        select(HolderSkillExclusion.holder_id, HolderSkillExclusion.skill_uri).where(
            is_in(session, HolderSkillExclusion.holder_id, holder_ids)
        )
    ):
        found[holder_id].add(skill_uri)
    return found


def _excluded(session: Session, holder_id: str) -> set[str]:
    return _excluded_of(session, [holder_id]).get(holder_id, set())


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
    clock = _Clock(timings)
    known = set(session.scalars(select(Holder.holder_id).where(is_in(session, Holder.holder_id, ids))))
    missing = [h for h in ids if h not in known]
    if missing:
        raise NotFound(f"holder {missing[0]} not found")
    declarations = _declarations_of(session, ids)
    completed = _completed_trainings_of(session, ids)
    excluded = _excluded_of(session, ids)
    clock.lap("read")
    matcher = matcher or Matcher()
    matcher.prefetch(d for h in ids for d in declarations.get(h, ()))
    clock.lap("match")
    today = today or _today()
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


def profile_embedding(profile: Profile, skills: EscoIndex, k: int = EMBEDDING_TOP_SKILLS) -> np.ndarray | None:
    """The profile's point in the catalogue's vector space, or None when it has no skill the index knows.

    The weighted mean of the ESCO vectors of its top ``k`` skills (each skill's *names* vector, the one the
    skill matching already uses, from the same encoder as the catalogue), weights the profile's, L2-normalised.
    It needs no encoder call, so a profile is recomputed at the cost of its database rows; encoding the
    ~200-token line of the top labels instead took 84 % of a bulk recompute (docs/esco.md).
    """
    top = profile.top(k)
    return weighted_skill_vector([s.skill_uri for s in top], [s.weight for s in top], skills)


def weighted_skill_vector(
    skill_uris: Sequence[str], weights: Sequence[float] | np.ndarray, skills: EscoIndex
) -> np.ndarray | None:
    """L2-normalised ``Σ weight · vector(skill)`` over the skills ``skills`` knows; None when it knows none."""
    rows = skills.rows_of(skill_uris)
    known = rows >= 0
    if not known.any():
        return None
    vector = np.asarray(weights, dtype=np.float32)[known] @ skills.vectors()[rows[known]]
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else None


def skill_order(weight: float, skill_uri: str) -> tuple[float, str]:
    """The profile's order of skills: weight (as stored, to 1e-4) down, then URI."""
    return -round(float(weight), 4), skill_uri


def top_skills(skill_uris: Sequence[str], weights: np.ndarray, k: int = EMBEDDING_TOP_SKILLS) -> np.ndarray:
    """Positions of the ``k`` strongest skills, in the profile's order (``skill_order``)."""
    order = sorted(range(len(skill_uris)), key=lambda i: skill_order(float(weights[i]), skill_uris[i]))
    return np.array(order[:k], dtype=np.int64)


def embed_profiles(profiles: Sequence[Profile]) -> None:
    """Set each profile's embedding (``profile_embedding``; None without a known skill) and its model."""
    from features.encoder import model_id
    from features.esco_matcher import get_index

    skills = get_index("skill", "names")
    model = model_id()
    for profile in profiles:
        profile.embedding = profile_embedding(profile, skills)
        profile.model_id = model


def store_profiles(session: Session, profiles: Sequence[Profile]) -> None:
    """Replace the stored evidence rows and profile embeddings of these holders, in the caller's transaction:
    one ``DELETE … IN`` of evidence, one bulk insert of evidence, one bulk upsert of profile rows."""
    if not profiles:
        return
    ids = [p.holder_id for p in profiles]
    if len(set(ids)) != len(ids):
        raise ValueError("one profile per holder")
    now = dt.datetime.now(dt.UTC)
    session.execute(delete(HolderSkill).where(is_in(session, HolderSkill.holder_id, ids)))
    write_rows(
        session,
        cast(Table, HolderSkill.__table__),
        EVIDENCE_COLUMNS,
        [
            (
                profile.holder_id,
                skill.skill_uri,
                max(e.weight, 1e-4),
                e.source,
                e.experience_id,
                e.training_id,
                e.via_uri,
                e.confidence,
                e.low_confidence,
                now,
            )
            for profile in profiles
            for skill in profile.skills
            for e in skill.evidence
        ],
    )
    versions = dict(
        session.execute(
            select(HolderProfile.holder_id, HolderProfile.version).where(
                is_in(session, HolderProfile.holder_id, ids)
            )
        ).all()
    )
    rows = []
    for profile in profiles:
        vector = np.zeros(0, dtype="<f4") if profile.embedding is None else np.asarray(profile.embedding, "<f4")
        rows.append(
            (
                profile.holder_id,
                profile.model_id or "",
                int(vector.shape[0]),
                vector.tobytes(),
                len(profile.skills),
                (versions.get(profile.holder_id) or 0) + 1,
                now,
            )
        )
    write_rows(
        session, cast(Table, HolderProfile.__table__), PROFILE_COLUMNS, rows, key=["holder_id"], on_conflict="update"
    )
    # Profile objects this session loaded earlier are stale now: the next access reloads them.
    written = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, HolderProfile) and obj.holder_id in written:
            session.expire(obj)


def store_profile(session: Session, profile: Profile, embedding: np.ndarray | None, model: str) -> None:
    """Replace the holder's stored evidence rows and profile embedding (one transaction, the caller's)."""
    profile.embedding, profile.model_id = embedding, model
    store_profiles(session, [profile])


def recompute_profiles(
    session: Session,
    holder_ids: Sequence[str],
    *,
    today: dt.date | None = None,
    show_progress: bool = True,
    chunk_size: int = RECOMPUTE_CHUNK_HOLDERS,
    commit_chunks: bool = False,
    timings: dict[str, float] | None = None,
    matcher: Matcher | None = None,
) -> int:
    """Recompute and store the profiles of many holders (importer, bulk jobs); returns how many.

    Holders go by chunks of ``chunk_size``: a few queries read a chunk's declarations, completed trainings and
    exclusions, its free texts are matched to ESCO in batches (the matches are kept for later chunks), its
    profile embeddings are taken from the ESCO skill vectors (``profile_embedding``), and its rows are written
    with one delete and bulk inserts. A holder never spans two chunks, so each holder is written whole or not
    at all.

    Transactions: by default everything runs in the caller's transaction (all or nothing). With
    ``commit_chunks`` each chunk is committed as it is done: a failure rolls back only the chunk in progress
    (its holders keep their previous profile), the finished chunks stay, and long runs do not hold one write
    transaction for many minutes (on SQLite that would block every other writer).

    ``timings``, when given, receives the seconds per phase: ``read``, ``match``, ``build``, ``embed``,
    ``write`` (benchmarks). A ``matcher`` passed in keeps its matches across calls (resumable bulk jobs).
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    ids = list(dict.fromkeys(holder_ids))
    today = today or _today()
    matcher = matcher or Matcher()
    with tqdm(total=len(ids), desc="skills profiles", unit="holder", disable=not show_progress) as bar:
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start : start + chunk_size]
            profiles = build_profiles(session, chunk, today=today, matcher=matcher, timings=timings)
            clock = _Clock(timings)
            embed_profiles(profiles)
            clock.lap("embed")
            store_profiles(session, profiles)
            if commit_chunks:
                session.commit()
            clock.lap("write")
            bar.update(len(chunk))
    return len(ids)


def recompute_profile(session: Session, holder_id: str, *, today: dt.date | None = None) -> Profile:
    """Recompute and store one holder's profile: called on every add/edit/delete of a declaration."""
    profile = build_profile(session, holder_id, today=today)
    embed_profiles([profile])
    store_profiles(session, [profile])
    return profile


# --- Reading the stored profile -----------------------------------------------------------------------------


def stored_profile(session: Session, holder_id: str) -> Profile:
    """The stored profile (evidence rows grouped by skill), as last recomputed; empty if never computed."""
    rows = session.scalars(select(HolderSkill).where(HolderSkill.holder_id == holder_id)).all()
    evidence = [
        Evidence(
            r.skill_uri,
            r.weight,
            r.source,
            r.experience_id,
            r.training_id,
            r.via_uri,
            r.confidence,
            r.low_confidence,
        )
        for r in rows
    ]
    profile = aggregate(holder_id, evidence)
    stored = session.get(HolderProfile, holder_id)
    if stored is not None and stored.dim:
        profile.embedding = np.frombuffer(stored.embedding, dtype="<f4").copy()
        profile.model_id = stored.model_id
    return profile


def ensure_profile(session: Session, holder_id: str) -> Profile:
    """The stored profile, computed and stored first if it never was (e.g. holders loaded by an import)."""
    if session.get(HolderProfile, holder_id) is None:
        recompute_profile(session, holder_id)
    return stored_profile(session, holder_id)


def stored_embedding(session: Session, holder_id: str) -> tuple[np.ndarray | None, str | None]:
    """The stored profile embedding and the model that made it (None, None before the first compute)."""
    stored = session.get(HolderProfile, holder_id)
    if stored is None or not stored.dim:
        return None, None if stored is None else stored.model_id
    return np.frombuffer(stored.embedding, dtype="<f4").copy(), stored.model_id


# --- Skill gap ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapItem:
    skill_uri: str
    label: str
    importance: float  # link weight of the skill for the target occupation, in (0, 1]
    held: float  # the holder's weight for the skill, 0 when absent
    gap: float  # importance × (1 - held)


@dataclass(frozen=True)
class SkillGap:
    target_uri: str
    target_label: str
    confidence: float
    low_confidence: bool
    items: list[GapItem]
    coverage: float  # share of the target's importance the holder already has


def resolve_target(target: str) -> tuple[str, str, float, bool]:
    """A target occupation given as an ESCO occupation URI or free text → (uri, label, confidence, low)."""
    taxonomy = load_taxonomy()
    target = (target or "").strip()
    if not target:
        raise ValidationFailed(
            [{"field": "target", "message": "a target occupation (URI or text) is required"}]
        )
    if target.startswith(OCCUPATION_PREFIX):
        if not taxonomy.is_occupation(target):
            raise NotFound(f"unknown ESCO occupation {target}")
        return target, taxonomy.occupation_label(target), 1.0, False
    if target.startswith("http://") or target.startswith("https://"):
        raise ValidationFailed([{"field": "target", "message": "the target must be an ESCO occupation URI"}])
    from features.esco_matcher import match

    found = match(target, "occupation", 1)
    if not found:
        raise ValidationFailed([{"field": "target", "message": f"no occupation matches {target!r}"}])
    return found[0].uri, found[0].label, found[0].confidence, found[0].low_confidence


def gap_between(
    held: dict[str, float],
    target_uri: str,
    target_label: str,
    confidence: float = 1.0,
    low_confidence: bool = False,
) -> SkillGap:
    taxonomy = load_taxonomy()
    links = occupation_skill_map().get(target_uri, [])
    items = [
        GapItem(
            s,
            taxonomy.skill_label(s),
            round(w, 4),
            round(held.get(s, 0.0), 4),
            round(w * (1.0 - held.get(s, 0.0)), 4),
        )
        for s, w in links
    ]
    total = sum(i.importance for i in items)
    covered = sum(i.importance - i.gap for i in items)
    items = sorted((i for i in items if i.gap > 0), key=lambda i: (-i.gap, i.skill_uri))
    return SkillGap(
        target_uri,
        target_label,
        confidence,
        low_confidence,
        items,
        round(covered / total, 4) if total else 0.0,
    )


def skill_gap(session: Session, holder_id: str, target: str) -> SkillGap:
    """The skills of the target occupation the holder lacks, weighted by importance (stored profile)."""
    if session.get(Holder, holder_id) is None:
        raise NotFound(f"holder {holder_id} not found")
    uri, label, confidence, low = resolve_target(target)
    return gap_between(ensure_profile(session, holder_id).weights(), uri, label, confidence, low)


def profile_frame(profile: Profile) -> pd.DataFrame:
    """One row per skill (uri, label, weight, source, n_evidence), for reports and notebooks."""
    return pd.DataFrame(
        [
            {
                "skill_uri": s.skill_uri,
                "label": s.label,
                "weight": s.weight,
                "source": s.source,
                "n_evidence": len(s.evidence),
            }
            for s in profile.skills
        ]
    )
