"""A holder's preferences (purpose 7, proposals matched to preferences): read and change them.

Plain Python (no FastAPI): the router calls these. The preferences live on the ``holders`` row, where the
recommendations read them at every request (``serving.services.holders.holder_context``), so a change is taken
into account at the next request, without a profile recompute:

- ``target_occupation``: an ESCO occupation URI, or free text matched through ``features.esco_matcher.match``
  (the matcher the skills profile uses). The concept chosen is stored with, for free text, the text and the
  match score. An unknown URI, or free text whose best match is low-confidence, is refused (422) with the
  closest occupations as suggestions: the holder confirms by sending the URI of one;
- ``preferred_modality``: onsite, remote, hybrid or null;
- ``preferred_region_code``: an INSEE region code (2016 regions, as in ``holders.csv``) or null;
- ``max_out_of_pocket_cents``: the most the holder will pay themself, integer cents ≥ 0, or null;
- ``personalisation_enabled``: off → neutral suggestions everywhere.

The personalised recommendations read the preferred region as the region to train in (region match and
regional popularity: ``HolderContext.training_region_code``; regional top-ups stay with where the holder lives)
and keep only items within the most out of pocket (``serving.services.recommendations.recommendations_for``).

Who: the holder, an admin, or an adviser with the holder's active consent reads (``authorise_holder_read``,
audited); only the holder or an admin changes them (``authorise_holder_manage``), audited with the fields changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process
from sqlalchemy.orm import Session

from features.esco import OCCUPATION_PREFIX, SKILL_PREFIX, load_taxonomy
from features.esco_fr import display_label
from parcours.domain.regions import REGION_NAMES
from parcours.errors import ValidationFailed
from parcours.store.models import MODALITIES, Holder, User
from serving.services.access import audit, authorise_holder_manage, authorise_holder_read, aware

REGIONS = REGION_NAMES  # INSEE codes of the 2016 regions (parcours.domain.regions)
MAX_TARGET_LENGTH = 200  # holders.target_occupation / target_occupation_text
MAX_OUT_OF_POCKET_CENTS = 1_000_000_000  # 10 million euros: anything above is a typing error
SUGGESTIONS = 5
FIELDS = (
    "target_occupation",
    "preferred_modality",
    "preferred_region_code",
    "max_out_of_pocket_cents",
    "personalisation_enabled",
)


@dataclass(frozen=True)
class TargetOccupation:
    uri: str
    label: str
    score: float  # 1.0 for a URI; the matcher's score for free text
    low_confidence: bool
    matched_from: Literal["uri", "text"]
    text: str | None  # the free text the holder gave, when they gave text


@dataclass(frozen=True)
class Preferences:
    holder_id: str
    target_occupation: TargetOccupation | None
    preferred_modality: str | None
    preferred_region_code: str | None
    max_out_of_pocket_cents: int | None
    personalisation_enabled: bool
    updated_at: dt.datetime | None


def _problem(field: str, message: str, **extra: object) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message, **extra}])


def _suggestion(uri: str, label: str, score: float) -> dict[str, object]:
    return {"uri": uri, "label": label, "score": round(score, 4)}


def _close_uris(uri: str) -> list[dict[str, object]]:
    """The occupations whose URI is closest to an unknown one (a mistyped or truncated identifier)."""
    taxonomy = load_taxonomy()
    uris = taxonomy.occupations["uri"].tolist()
    tail = uri.removeprefix(OCCUPATION_PREFIX)
    tails = [u.removeprefix(OCCUPATION_PREFIX) for u in uris]
    found = process.extract(tail, tails, scorer=fuzz.ratio, limit=SUGGESTIONS)
    return [_suggestion(uris[pos], display_label(uris[pos], "occupation"), ratio / 100.0) for _t, ratio, pos in found]


def resolve_target_occupation(value: str) -> TargetOccupation:
    """An ESCO occupation URI or free text → the occupation chosen; ``ValidationFailed`` with suggestions else."""
    from features.esco_matcher import match  # loads the encoder on first use: only when text is given

    text = " ".join((value or "").split())
    if not text:
        raise _problem("target_occupation", "must not be empty (send null to clear it)")
    if len(text) > MAX_TARGET_LENGTH:
        raise _problem("target_occupation", f"at most {MAX_TARGET_LENGTH} characters")
    taxonomy = load_taxonomy()
    if text.startswith(("http://", "https://")):
        if taxonomy.is_occupation(text):
            return TargetOccupation(text, display_label(text, "occupation"), 1.0, False, "uri", None)
        if text.startswith(SKILL_PREFIX):
            message = "is an ESCO skill, not an occupation"
        elif text.startswith(OCCUPATION_PREFIX):
            message = "unknown ESCO occupation URI"
        else:
            message = f"a URI must be an ESCO occupation ({OCCUPATION_PREFIX}…)"
        raise _problem("target_occupation", message, suggestions=_close_uris(text))
    found = match(text, "occupation", SUGGESTIONS)
    if not found:
        raise _problem("target_occupation", f"no ESCO occupation matches {text!r}", suggestions=[])
    best = found[0]
    if best.low_confidence:
        raise _problem(
            "target_occupation",
            f"{text!r} matches no ESCO occupation surely (best: {display_label(best.uri, 'occupation', best.label)!r}, "
            f"score {best.score:.2f}); "
            "send the URI of one of the suggestions to confirm",
            suggestions=[_suggestion(m.uri, display_label(m.uri, "occupation", m.label), m.score) for m in found],
        )
    return TargetOccupation(best.uri, display_label(best.uri, "occupation", best.label), round(best.score, 4), False,
                            "text", text)


def _region(value: object) -> str | None:
    if value is None:
        return None
    code = str(value).strip()
    if code not in REGIONS:
        raise _problem("preferred_region_code",
                       f"{code!r} is not an INSEE region code; one of {', '.join(sorted(REGIONS))}")
    return code


def _modality(value: object) -> str | None:
    if value is not None and value not in MODALITIES:
        raise _problem("preferred_modality", f"must be one of {', '.join(MODALITIES)} or null")
    return None if value is None else str(value)


def _cents(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _problem("max_out_of_pocket_cents", "must be an integer number of cents or null")
    if not 0 <= value <= MAX_OUT_OF_POCKET_CENTS:
        raise _problem("max_out_of_pocket_cents", f"must be between 0 and {MAX_OUT_OF_POCKET_CENTS} cents")
    return value


def _personalisation(value: object) -> bool:
    if not isinstance(value, bool):
        raise _problem("personalisation_enabled", "must be true or false")
    return value


def _view(holder: Holder) -> Preferences:
    target: TargetOccupation | None = None
    if holder.target_occupation:
        label = display_label(holder.target_occupation, "occupation")
        if holder.target_occupation_text is not None:
            score = holder.target_occupation_score if holder.target_occupation_score is not None else 1.0
            target = TargetOccupation(holder.target_occupation, label, float(score), False, "text",
                                      holder.target_occupation_text)
        else:
            target = TargetOccupation(holder.target_occupation, label, 1.0, False, "uri", None)
    return Preferences(
        holder_id=holder.holder_id,
        target_occupation=target,
        preferred_modality=holder.preferred_modality,
        preferred_region_code=holder.preferred_region_code,
        max_out_of_pocket_cents=holder.max_out_of_pocket_cents,
        personalisation_enabled=bool(holder.personalisation_enabled),
        updated_at=aware(holder.updated_at),
    )


def read_preferences(session: Session, user: User, holder_id: str) -> Preferences:
    holder = authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/preferences")
    return _view(holder)


def update_preferences(
    session: Session, user: User, holder_id: str, changes: Mapping[str, object]
) -> Preferences:
    """Set the fields present in ``changes`` (None clears a field); the others keep their value."""
    holder = authorise_holder_manage(session, user, holder_id)
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise _problem(unknown[0], f"unknown preference; the preferences are {', '.join(FIELDS)}")
    # Validate everything before changing anything.
    updates: dict[str, object] = {}
    if "target_occupation" in changes:
        value = changes["target_occupation"]
        target = None if value is None else resolve_target_occupation(str(value))
        updates["target_occupation"] = target.uri if target else None
        updates["target_occupation_text"] = target.text if target else None
        updates["target_occupation_score"] = target.score if target and target.matched_from == "text" else None
    if "preferred_modality" in changes:
        updates["preferred_modality"] = _modality(changes["preferred_modality"])
    if "preferred_region_code" in changes:
        updates["preferred_region_code"] = _region(changes["preferred_region_code"])
    if "max_out_of_pocket_cents" in changes:
        updates["max_out_of_pocket_cents"] = _cents(changes["max_out_of_pocket_cents"])
    if "personalisation_enabled" in changes:
        updates["personalisation_enabled"] = _personalisation(changes["personalisation_enabled"])
    for name, value in updates.items():
        setattr(holder, name, value)
    session.flush()
    fields = ", ".join(f for f in FIELDS if f in changes) or "nothing"
    audit(session, user, "update-preferences", holder_id, f"/holders/{holder_id}/preferences: {fields}")
    return _view(holder)
