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
- free text without an ESCO URI is mapped through ``recommender.esco_index``; the weight is multiplied by the
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
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from features.esco import OCCUPATION_PREFIX, SKILL_PREFIX, load_occupation_skills, load_taxonomy
from parcours.errors import NotFound, ValidationFailed
from serving.db.models import (
    Experience,
    Holder,
    HolderProfile,
    HolderSkill,
    HolderSkillExclusion,
    Interaction,
    Training,
)

PROFILE_VERSION = 1
DECLARED_FACTOR = 0.8
LOW_CONFIDENCE_FACTOR = 0.5
KIND_FACTOR = {"diploma": 0.5, "certification": 0.8, "training": 0.7, "skill": 0.6}
DURATION_SCALE_YEARS = 2.5
RECENCY_SCALE_YEARS = 8.0
MIN_WEIGHT = 0.01
EMBEDDING_TOP_SKILLS = 30
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
        from recommender.esco_index import match

        key = (text.strip().lower(), kind, k)
        if key not in self._cache:
            self._cache[key] = match(text, kind, k)  # type: ignore[arg-type]
        return self._cache[key]

    def best(self, text: str, kind: str):  # type: ignore[no-untyped-def]
        found = self.top(text, kind, 1)
        return found[0] if found else None

    def prefetch(self, declarations: Iterable[Declaration]) -> None:
        """Match, in batches, every free text these declarations will need (same results as one by one)."""
        from recommender.esco_index import match_many

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
            for start in range(0, len(todo), 256):
                chunk = todo[start : start + 256]
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
    taxonomy = load_taxonomy()
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
                taxonomy.skill_label(uri),
                round(noisy_or(e.weight for e in items), 4),
                "verified" if verified else "declared",
                ordered,
            )
        )
    skills.sort(key=lambda s: (-s.weight, s.skill_uri))
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


def _declarations(session: Session, holder_id: str) -> list[Declaration]:
    rows = session.scalars(
        select(Experience)
        .where(Experience.holder_id == holder_id)
        .order_by(Experience.start_date, Experience.experience_id)
    )
    return [
        Declaration(r.experience_id, r.kind, r.label, r.esco_uri, r.start_date, r.end_date, r.source)
        for r in rows
    ]


# An enrolment file counts as a completed training from this completion rate on (a no-show is 0 %).
MIN_COMPLETION_BASIS_POINTS = 5_000
DONE_ENROLMENT_STATES = ("service_done", "paid", "closed")


def _completed_trainings(session: Session, holder_id: str) -> list[tuple[str, list[str], dt.date]]:
    """Trainings the holder completed in our own files: ``complete`` interactions (imported worlds) and
    enrolment files past service done with at least 50 % completion (when the enrolment model is present)."""
    rows = session.execute(
        select(Interaction.training_id, Interaction.occurred_at, Training.skills)
        .join(Training, Training.training_id == Interaction.training_id)
        .where(Interaction.holder_id == holder_id, Interaction.event == "complete")
        .order_by(Interaction.occurred_at)
    ).all()
    latest: dict[str, tuple[str, list[str], dt.date]] = {}
    for training_id, occurred_at, skills in rows:
        latest[training_id] = (training_id, list(skills or []), occurred_at.date())
    try:
        from serving.db.supporting_models import Enrolment  # type: ignore[import-not-found]
    except ImportError:  # the enrolment files are not in this build
        return list(latest.values())
    files = session.execute(
        select(Enrolment.training_id, Enrolment.exit_date, Enrolment.updated_at, Training.skills)
        .join(Training, Training.training_id == Enrolment.training_id)
        .where(
            Enrolment.holder_id == holder_id,
            Enrolment.state.in_(DONE_ENROLMENT_STATES),
            Enrolment.completion_basis_points >= MIN_COMPLETION_BASIS_POINTS,
        )
    ).all()
    for training_id, exit_date, updated_at, skills in files:
        done_on = exit_date or updated_at.date()
        if training_id not in latest or latest[training_id][2] < done_on:
            latest[training_id] = (training_id, list(skills or []), done_on)
    return list(latest.values())


def _excluded(session: Session, holder_id: str) -> set[str]:
    return set(
        session.scalars(
            select(HolderSkillExclusion.skill_uri).where(HolderSkillExclusion.holder_id == holder_id)
        )
    )


def build_profile(
    session: Session, holder_id: str, *, today: dt.date | None = None, matcher: Matcher | None = None
) -> Profile:
    """Compute (not store) the profile of a holder from their declarations and completed trainings."""
    if session.get(Holder, holder_id) is None:
        raise NotFound(f"holder {holder_id} not found")
    return profile_from_declarations(
        holder_id,
        _declarations(session, holder_id),
        today or _today(),
        completed=_completed_trainings(session, holder_id),
        excluded=_excluded(session, holder_id),
        matcher=matcher,
    )


def profile_text(profile: Profile, k: int = EMBEDDING_TOP_SKILLS) -> str:
    """The text embedded for a profile: its top skill labels, strongest first."""
    return "; ".join(s.label for s in profile.top(k))


def store_profile(session: Session, profile: Profile, embedding: np.ndarray | None, model: str) -> None:
    """Replace the holder's stored evidence rows and profile embedding (one transaction, the caller's)."""
    holder_id = profile.holder_id
    session.execute(delete(HolderSkill).where(HolderSkill.holder_id == holder_id))
    now = dt.datetime.now(dt.UTC)
    for skill in profile.skills:
        for e in skill.evidence:
            session.add(
                HolderSkill(
                    holder_id=holder_id,
                    skill_uri=skill.skill_uri,
                    weight=max(e.weight, 1e-4),
                    source=e.source,
                    experience_id=e.experience_id,
                    training_id=e.training_id,
                    via_uri=e.via_uri,
                    confidence=e.confidence,
                    low_confidence=e.low_confidence,
                    computed_at=now,
                )
            )
    vector = np.zeros(0, dtype="<f4") if embedding is None else np.asarray(embedding, dtype="<f4")
    stored = session.get(HolderProfile, holder_id)
    if stored is None:
        stored = HolderProfile(holder_id=holder_id, version=0)
        session.add(stored)
    stored.model_id = model
    stored.dim = int(vector.shape[0])
    stored.embedding = vector.tobytes()
    stored.n_skills = len(profile.skills)
    stored.version = (stored.version or 0) + 1
    stored.computed_at = now
    session.flush()


def recompute_profiles(
    session: Session, holder_ids: Sequence[str], *, today: dt.date | None = None, show_progress: bool = True
) -> int:
    """Recompute and store the profiles of many holders (importer, bulk jobs); returns how many."""
    from recommender.encoder import encode, model_id

    matcher = Matcher()
    model = model_id()
    done = 0
    batch: list[Profile] = []

    def flush() -> None:
        texts = [profile_text(p) for p in batch]
        non_empty = [i for i, t in enumerate(texts) if t]
        vectors = encode([texts[i] for i in non_empty]) if non_empty else np.zeros((0, 0), dtype=np.float32)
        by_position = {i: vectors[j] for j, i in enumerate(non_empty)}
        for i, profile in enumerate(batch):
            profile.embedding = by_position.get(i)
            profile.model_id = model
            store_profile(session, profile, profile.embedding, model)
        batch.clear()

    ids = list(holder_ids)
    for position, holder_id in enumerate(
        tqdm(ids, desc="skills profiles", unit="holder", disable=not show_progress)
    ):
        if position % 256 == 0:  # match the free texts of the next 256 holders in one batch
            matcher.prefetch(d for h in ids[position : position + 256] for d in _declarations(session, h))
        batch.append(build_profile(session, holder_id, today=today, matcher=matcher))
        done += 1
        if len(batch) >= 64:
            flush()
    if batch:
        flush()
    return done


def recompute_profile(session: Session, holder_id: str, *, today: dt.date | None = None) -> Profile:
    """Recompute and store one holder's profile: called on every add/edit/delete of a declaration."""
    from recommender.encoder import encode, model_id

    profile = build_profile(session, holder_id, today=today)
    text = profile_text(profile)
    profile.embedding = encode([text])[0] if text else None
    profile.model_id = model_id()
    store_profile(session, profile, profile.embedding, profile.model_id)
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
    from recommender.esco_index import match

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
