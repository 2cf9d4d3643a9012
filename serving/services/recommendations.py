"""Recommendations for a holder: which recommender answers, and the priced, explained list it gives.

Which recommender: the MLflow champion (``recommender.bundle.load_champion``) over the open catalogue
(``recommender.loading.build_learned_recommender``), loaded at start and on the admin reload call. With no
usable champion (none registered, the registry unreachable, a catalogue too small to build on) the
content-similarity recommender answers instead and says it is degraded; ``/health`` reports it. Every item is
priced with the holder's real funding plan (the rule and balances a confirmation would use today, top-ups
included), so the cost in the reasons is the cost the holder would pay. Building the recommender lives in
``recommender.loading``; this module keeps what faces HTTP: which one answers, pricing and the reasons said.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from features.catalogue import load_catalogue
from parcours.domain import rules
from parcours.domain.ledger import available_balances_cents
from parcours.settings import Settings
from parcours.store.models import Holder, Training
from recommender.base import Recommendation, Recommender
from recommender.content import ContentRecommender
from recommender.learned import ceiling_notice, compose_reasons
from recommender.loading import build_learned_recommender
from serving.services.enrolment_funding import estimate_funding_many
from serving.services.holders import holder_context, today

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecommenderState:
    """What answers recommendations, and why (shown by ``/health`` and the reload call)."""

    recommender: Recommender | None
    detail: str

    @property
    def model_version(self) -> str | None:
        return None if self.recommender is None else self.recommender.model_version

    @property
    def degraded(self) -> bool:
        return self.recommender is None or self.recommender.degraded

    def as_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "degraded": self.degraded, "detail": self.detail}


def load_recommender(factory: sessionmaker[Session], settings: Settings,
                     catalogue_search: Any = None) -> RecommenderState:
    """The champion over the open catalogue, or content similarity (degraded) when there is no usable champion.
    ``catalogue_search``: the loaded ``CatalogueSearch``, whose index gives vectors and the ANN source."""
    from parcours.store.identity import database_identity
    from recommender.bundle import load_champion
    from recommender.provenance import OtherDatabase, RefusedRecommender

    with factory() as session:
        catalogue = load_catalogue(session)
        if catalogue.empty:
            log.warning("empty catalogue: recommendations unavailable until a world is imported")
            return RecommenderState(None, "empty catalogue: run `parcours import`")
        try:  # a champion of another database is refused: recommendations answer 503 with the reason
            bundle = load_champion(settings, database_id=database_identity(session))
        except OtherDatabase as exc:
            log.error("champion refused: %s", exc)
            return RecommenderState(RefusedRecommender(str(exc)), str(exc))
        if bundle is None:
            detail = "no champion model registered (run `parcours train`): content similarity answers"
            return RecommenderState(ContentRecommender(degraded=True).fit(catalogue), detail)
        try:
            index = None if catalogue_search is None else catalogue_search.index
            learned = build_learned_recommender(session, bundle, settings, index, today=today)
        except Exception as exc:  # noqa: BLE001 - any failure to build on the champion falls back, and says why
            log.exception("champion %s unusable", bundle.model_version)
            detail = (f"champion {bundle.model_version} unusable ({type(exc).__name__}: {exc}): "
                      "content similarity answers")
            return RecommenderState(ContentRecommender(degraded=True).fit(catalogue), detail)
    return RecommenderState(learned, f"champion {learned.model_version} over {len(learned.catalogue.training_ids)} "
                                     "open trainings")


# The items' current title and price (built once: building it per request cost about as much as running it).
_CURRENT_TITLE_AND_PRICE = select(Training.training_id, Training.title, Training.price_cents).where(
    Training.training_id.in_(bindparam("training_ids", expanding=True)))


@dataclass(frozen=True)
class PricedRecommendation:
    training_id: str
    title: str
    score: float
    price_cents: int
    out_of_pocket_cents: int
    reasons: list[str]
    skills_closed: list[str]
    completion_probability: float | None
    risk: str | None
    # Using rights (with the flat participation) against paying directly: ``out_of_pocket_cents`` is the cheaper.
    with_rights_cents: int
    direct_cents: int
    cheaper: str
    participation_exceeds_rights: bool
    rights_used_cents: int
    participation_cents: int  # the flat participation a file for it would carry (0: exempt)


@dataclass(frozen=True)
class PricedList:
    """What ``recommendations_for`` answers: personalised or neutral, the items, the holder's out-of-pocket
    ceiling when it shaped the list (``None``: no ceiling applied), and, when the ceiling left the list shorter
    than asked, why, in French (``recommender.learned.ceiling_notice``)."""

    personalised: bool
    items: list[PricedRecommendation]
    max_out_of_pocket_cents: int | None
    notice: str | None = None


# How many times a list is asked again without the items dearer than the holder's ceiling, asking twice as many
# each time: the items the ceiling rules out go back through candidate generation and diversification as excluded
# trainings, so a cheaper offering of the same certification can take their place.
CEILING_ROUNDS = 4
MOST_ASKED = 100


def recommendations_for(session: Session, recommender: Recommender, holder: Holder, k: int, *,
                        personalised: bool | None = None) -> PricedList:
    """The ``k`` items priced with the holder's funding plan today and explained.

    A personalised holder who set a most out of pocket (``max_out_of_pocket_cents``, their preferences) gets only
    items whose cheaper way to pay (rights with the participation, or directly) stays within it: the recommender
    is asked again without the dearer ones (``CEILING_ROUNDS``), and the list can come back shorter than ``k``
    when too few are within it. The neutral list ignores the ceiling, as it ignores everything personal."""
    # Read once for the context and the pricing (the same transaction: the same balances).
    balances = available_balances_cents(session, holder.holder_id)
    context = holder_context(session, holder, personalised=personalised, balances=balances)
    on = today()
    ceiling = context.max_out_of_pocket_cents if context.personalised else None
    known: dict[str, tuple[Any, rules.FileFunding]] = {}  # title, price and funding plan per training, read once
    items = _priced(session, holder, recommender.recommend(context, k=k), on, balances, known)
    if ceiling is None:
        return PricedList(context.personalised, items, None)
    set_aside: dict[str, PricedRecommendation] = {}
    asked = k
    for _ in range(CEILING_ROUNDS):
        dearer = {item.training_id: item for item in items if item.out_of_pocket_cents > ceiling}
        if not dearer:
            break
        set_aside |= dearer
        asked = min(2 * asked, max(MOST_ASKED, k))
        without = replace(context, excluded_training_ids=context.excluded_training_ids | set_aside.keys())
        items = _priced(session, holder, recommender.recommend(without, k=asked), on, balances, known)
    within = [item for item in items if item.out_of_pocket_cents <= ceiling][:k]
    set_aside |= {item.training_id: item for item in items if item.out_of_pocket_cents > ceiling}
    return PricedList(context.personalised, within, ceiling, _ceiling_notice(ceiling, within, k, set_aside))


def _ceiling_notice(ceiling: int, within: list[PricedRecommendation], k: int,
                    set_aside: dict[str, PricedRecommendation]) -> str | None:
    """Why the list is shorter than ``k``, from the cheapest item the ceiling set aside (``ceiling_notice``)."""
    cheapest = min(set_aside.values(), key=lambda item: (item.out_of_pocket_cents, item.training_id), default=None)
    return ceiling_notice(
        ceiling, shown=len(within), asked=k,
        cheapest_set_aside_cents=None if cheapest is None else cheapest.out_of_pocket_cents,
        participation_cents=cheapest.participation_cents if cheapest and cheapest.cheaper == "rights" else 0)


def _priced(session: Session, holder: Holder, recommended: list[Recommendation], on: dt.date,
            balances: dict[str, int], known: dict[str, tuple[Any, rules.FileFunding]]) -> list[PricedRecommendation]:
    """``recommended`` priced with the holder's funding plan on ``on`` and explained, in the same order.
    ``known``: the title, price and plan of trainings priced earlier in this request, reused (and added to)."""
    # One query for the new items' current title and price, one funding estimate for them all (balances and top-ups
    # read once): per item, these were about 40 queries per answer of 10.
    new = [rec.training_id for rec in recommended if rec.training_id not in known]
    if new:
        current = {row.training_id: row for row in session.execute(_CURRENT_TITLE_AND_PRICE, {"training_ids": new})}
        plans = estimate_funding_many(session, holder, {t: row.price_cents for t, row in current.items()}, on,
                                      balances=balances)
        known.update({t: (row, plans[t]) for t, row in current.items()})
    items: list[PricedRecommendation] = []
    for rec in recommended:
        if rec.training_id not in known:  # removed since the recommender was loaded
            continue
        training, plan = known[rec.training_id]
        cost = rules.compare_with_direct_payment(training.price_cents, plan)
        said = compose_reasons(rec.skills_closed, cost.cheaper_cents, rec.reasons, rec.completion_probability,
                               rec.risk, pay_directly=cost.cheaper == "direct",
                               with_rights_cents=cost.with_rights_cents, rights_used_cents=cost.rights_used_cents,
                               participation_exceeds_rights=cost.participation_exceeds_rights)
        items.append(PricedRecommendation(
            training_id=rec.training_id, title=training.title, score=rec.score, price_cents=training.price_cents,
            out_of_pocket_cents=cost.cheaper_cents, reasons=said, skills_closed=list(rec.skills_closed),
            completion_probability=rec.completion_probability, risk=rec.risk,
            with_rights_cents=cost.with_rights_cents, direct_cents=cost.direct_cents, cheaper=cost.cheaper,
            participation_exceeds_rights=cost.participation_exceeds_rights, rights_used_cents=cost.rights_used_cents,
            participation_cents=cost.participation_cents,
        ))
    return items
