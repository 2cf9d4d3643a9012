"""Ranking candidates with the learned model, and the business rules that stay outside the model.

Rules: a training the holder cannot enrol in (no session ahead, already taken) is never a candidate; the top of
the list is diversified (one item per certification, at most two per provider) so ten sessions of the same
certification never fill it; which of a certification's offerings stands in its place is the offering choice
model's (``recommender.offering``); every item carries its out-of-pocket cost and reasons a person understands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.pairs import FEATURE_NAMES, CatalogueArrays, HolderArrays, pair_features
from recommender.exposure import priced_order
from recommender.offering import choose_offerings

MAX_PER_PROVIDER = 2


@dataclass(frozen=True)
class RankedItem:
    row: int
    score: float
    completion_probability: float | None
    features: dict[str, float]


@dataclass(frozen=True)
class Ranking:
    """Candidates in ranked order with their features; items (completion model, feature names) are built only
    for the rows asked for, as a request shows ten of a few hundred candidates."""

    bundle: Any
    rows: np.ndarray  # catalogue rows, best first
    probability: np.ndarray  # calibrated enrolment probability, in ``rows`` order
    features: np.ndarray  # one row of FEATURE_NAMES per candidate, in ``rows`` order
    margin: np.ndarray  # the ranker's raw margin (unpriced), in ``rows`` order

    def items(self, rows: Sequence[int]) -> list[RankedItem]:
        """``RankedItem``s of ``rows`` (catalogue rows among the candidates), in the order given."""
        order = np.argsort(self.rows, kind="stable")  # ``rows`` holds each catalogue row once
        wanted = np.asarray(rows, dtype=np.int64)
        at = order[np.searchsorted(self.rows, wanted, sorter=order)] if len(wanted) else wanted
        if len(at) and not np.array_equal(self.rows[at], wanted):
            raise KeyError("rows asked for that are not among the candidates")
        X = self.features[at]  # noqa: N806
        completion = (
            self.bundle.completion.probability_and_margin(X)[0]
            if self.bundle.completion is not None and len(at)
            else None
        )
        return [
            RankedItem(
                int(self.rows[i]),
                float(self.probability[i]),
                None if completion is None else float(completion[j]),
                dict(zip(FEATURE_NAMES, X[j].tolist(), strict=True)),
            )
            for j, i in enumerate(at.tolist())
        ]


def rank_candidates(bundle, catalogue: CatalogueArrays, holders: HolderArrays, holder_row: int,  # type: ignore[no-untyped-def]
                    candidates: np.ndarray, *, on: dt.date | None = None,
                    prices: np.ndarray | None = None) -> Ranking:
    """Candidates ordered by the calibrated enrolment probability (ties broken by the raw margin, then id); with
    ``prices`` (one per catalogue row, ``recommender.exposure``), by the margin minus the candidate's price. With
    the bundle's ``offering_choice``, the offerings of each certification then swap places so that its best
    offering by that choice model stands first among them (``recommender.offering``)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0:
        return Ranking(bundle, candidates, np.zeros(0), np.zeros((0, len(FEATURE_NAMES))), np.zeros(0))
    X = pair_features(catalogue, holders, np.full(len(candidates), holder_row), candidates, on=on)  # noqa: N806
    probability, margin = bundle.ranker.probability_and_margin(X)
    ids = catalogue.id_ranks()[candidates]  # ties by training id, compared as integers
    order = (np.lexsort((ids, -margin, -probability)) if prices is None
             else priced_order(margin, prices[candidates], ids))
    choice = getattr(bundle, "offering_choice", None)  # bundles pickled before the field lack it
    if choice is not None:  # which offering of each certification stands where the ranker put it
        ranked = candidates[order]
        order = order[choose_offerings(choice, catalogue, ranked, X[order], margin[order],
                                       None if prices is None else prices[ranked])]
    return Ranking(bundle, candidates[order], probability[order], X[order], margin[order])


def score_candidates(bundle, catalogue: CatalogueArrays, holders: HolderArrays, holder_row: int,  # type: ignore[no-untyped-def]
                     candidates: np.ndarray, *, on: dt.date | None = None) -> list[RankedItem]:
    """Every candidate as a ``RankedItem``, best first (``rank_candidates`` then its items)."""
    ranking = rank_candidates(bundle, catalogue, holders, holder_row, candidates, on=on)
    return ranking.items(ranking.rows.tolist())


def diversify(rows: list[int], catalogue: CatalogueArrays, k: int) -> list[int]:
    """The first ``k`` rows keeping one per certification code and at most ``MAX_PER_PROVIDER`` per provider;
    if that leaves fewer than ``k``, the skipped rows fill the end in their order."""
    picked: list[int] = []
    skipped: list[int] = []
    certifications: set[str] = set()
    providers: dict[str, int] = {}
    for row in rows:
        code, provider = catalogue.certification_code[row], catalogue.provider_id[row]
        if code in certifications or providers.get(provider, 0) >= MAX_PER_PROVIDER:
            skipped.append(row)
            continue
        picked.append(row)
        certifications.add(code)
        providers[provider] = providers.get(provider, 0) + 1
        if len(picked) == k:
            return picked
    return (picked + skipped)[:k]


# Reasons are said to holders, who are French (labels of the API stay English).
SIMILAR_PROFILE = 0.5  # cosine above which a training reads as close to what the holder does
SHARED_BEHAVIOUR = 0.05  # co-occurrence affinity above which holders like this one took it
JOB_SKILLS_SHARE = 0.1  # share of the current job's skill weight taught, above which it reads as "your job's skills"
# The ALS score fits 1 for a training the holder interacted with and 0 otherwise: above one half, their own history
# predicts they would take it.
HISTORY_TASTE = 0.5
# Enrolments from the holder's (or chosen) region at least ten times the mean training's: among the region's most taken.
REGION_FAVOURITE = float(np.log1p(10.0))
# Holders of the region who looked at it (viewed, enrolled …) at least ten times the mean training's: among the
# region's most looked at.
REGION_AUDIENCE = float(np.log1p(10.0))
# Abandonment is flagged only well below the catalogue's typical completion rate, never in absolute terms: a
# short remote course is not "risky" because the scheme's completion rate is below one half.
RISK_RATIO = 0.6


def fit_reasons(item: RankedItem, *, job_skill_share: float = 0.0, region_chosen: bool = False) -> list[str]:
    """Why it fits this holder, in plain French (the skills it closes and the cost are said apart, see
    ``compose_reasons``). Never empty: without a stronger reason it says how close it is to the profile.
    ``job_skill_share``: the share of the holder's current job's skill weight the training teaches
    (``current_job_share``); ``region_chosen``: the region matched is the one the holder chose to train in
    (``HolderContext.training_region_code``), not where they live."""
    f = item.features
    said: list[str] = []
    if f["target_match"] > 0:
        said.append("prépare à votre métier cible")
    if job_skill_share >= JOB_SKILLS_SHARE:
        said.append("porte sur des compétences de votre métier actuel")
    elif f["profile_similarity"] > SIMILAR_PROFILE:
        said.append("proche de ce que vous faites déjà")
    if f.get("cf_affinity", 0.0) > SHARED_BEHAVIOUR:
        said.append("suivie par des personnes au parcours proche du vôtre")
    elif f.get("mf_score", 0.0) >= HISTORY_TASTE:
        said.append("dans la lignée des formations que vous avez consultées ou suivies")
    if 0 < f["skill_novelty"] < 1:
        said.append("prolonge des compétences que vous avez déjà")
    if not said and f.get("log_relative_region_popularity", 0.0) >= REGION_FAVOURITE:
        said.append("parmi les plus suivies dans la région que vous avez choisie" if region_chosen
                    else "parmi les plus suivies dans votre région")
    elif not said and f.get("log_relative_region_audience", 0.0) >= REGION_AUDIENCE:
        said.append("parmi les plus consultées dans la région que vous avez choisie" if region_chosen
                    else "parmi les plus consultées dans votre région")
    if not said:
        said.append(f"proximité avec votre profil : {max(0, round(100 * f['profile_similarity']))} %")
    if f["modality_match"] == 1.0:
        said.append("dans la modalité que vous préférez")
    if f["region_match"] == 1.0:
        said.append("disponible dans la région que vous avez choisie ou à distance" if region_chosen
                    else "disponible dans votre région ou à distance")
    return said


def current_job_share(taught: Sequence[int], job_shares: Mapping[int, float]) -> float:
    """The share of the current job's skill weight (``SkillSpace.occupation_share_of``) the taught skill columns
    carry: 0 when they are none of the job's, 1 when they are all of them."""
    return float(sum(job_shares.get(c, 0.0) for c in set(taught)))


def typical_completion(bundle, catalogue: CatalogueArrays) -> float:  # type: ignore[no-untyped-def]
    """The catalogue's typical completion rate, to compare a completion estimate with: that of the enrolments the
    completion model was fitted on (settled ones, old enough for their outcome to be known; ``training.fit``'s
    ``settled_completion_rate``). ``CatalogueArrays.completion_overall`` counts sessions still running as not
    completed (0.50 where settled enrolments complete at 0.59 on the default world): the fallback for bundles
    fitted before the rate was recorded."""
    rate = getattr(bundle, "stats", {}).get("settled_completion_rate")
    return float(rate) if rate is not None else float(catalogue.completion_overall)


def risk_of(item: RankedItem, typical_completion: float) -> str | None:
    """Why abandonment is likely, or ``None``: unmet prerequisites, or a predicted completion well below the
    catalogue's typical rate (``RISK_RATIO`` of it, ``typical_completion``), said with both figures and where the
    typical rate comes from."""
    if item.features["prerequisites_met"] < 1.0:
        return "des prérequis que vous n'avez peut-être pas"
    p = item.completion_probability
    if p is not None and typical_completion > 0 and p < RISK_RATIO * typical_completion:
        return (f"achèvement estimé à {round(100 * p)} %, nettement sous les {round(100 * typical_completion)} % "
                "des inscriptions passées du catalogue dont l'issue est connue")
    return None


def euros(cents: int) -> str:
    """French amount: 1 234,56 €."""
    whole, part = divmod(int(cents), 100)
    return f"{whole:,}".replace(",", "\u202f") + f",{part:02d} €"


def cost_reason(out_of_pocket_cents: int, *, pay_directly: bool = False, with_rights_cents: int | None = None,
                rights_used_cents: int | None = None, participation_exceeds_rights: bool = False) -> str:
    """What the item costs the holder, in French (``rules.CostComparison``: ``pay_directly`` is its ``cheaper ==
    "direct"``, ``out_of_pocket_cents`` its ``cheaper_cents``). "After your rights" is said only where rights are
    spent; where using them costs as much as paying directly, it says that paying directly keeps them."""
    if pay_directly and with_rights_cents is not None:
        if rights_used_cents == 0:
            return f"vous coûte {euros(out_of_pocket_cents)} : aucun droit disponible ne la finance"
        if with_rights_cents == out_of_pocket_cents:
            return (f"payer directement coûte autant ({euros(out_of_pocket_cents)}) que mobiliser vos droits, "
                    "et les préserve")
        why = " : la participation forfaitaire dépasse les droits utilisés" if participation_exceeds_rights else ""
        return (f"payer directement ({euros(out_of_pocket_cents)}) coûte moins cher que mobiliser vos droits "
                f"({euros(with_rights_cents)}){why}")
    if rights_used_cents == 0:  # top-ups alone: no right spent
        funded_by, after = "des abondements", "les abondements"
    else:
        funded_by = after = "vos droits"
    if out_of_pocket_cents == 0:
        return f"entièrement financée par {funded_by}"
    return f"vous coûte {euros(out_of_pocket_cents)} après {after}"


def ceiling_notice(ceiling_cents: int, *, shown: int, asked: int, cheapest_set_aside_cents: int | None,
                   participation_cents: int = 0) -> str | None:
    """Why a list kept within the holder's most out of pocket (``ceiling_cents``) holds fewer items than asked, in
    French; ``None`` when it holds them all, or when the ceiling set nothing aside (the catalogue ran short, not
    the ceiling). ``cheapest_set_aside_cents``: what the cheapest item left out would cost the holder;
    ``participation_cents``: the flat participation in that cost (0 when paying directly is its cheaper way),
    said when it alone is over the ceiling, since no cheaper training would then fit through a file."""
    if shown >= asked or cheapest_set_aside_cents is None:
        return None
    limit = euros(ceiling_cents)
    if shown == 0:
        said = (f"Aucune formation suggérée ne tient dans votre reste à charge maximal de {limit} : "
                f"la moins chère vous coûterait {euros(cheapest_set_aside_cents)}")
    else:
        which = "Une seule formation suggérée tient" if shown == 1 else f"Seules {shown} formations suggérées tiennent"
        said = (f"{which} dans votre reste à charge maximal de {limit} : "
                f"la moins chère des suivantes vous coûterait {euros(cheapest_set_aside_cents)}")
    if participation_cents > ceiling_cents:
        said += (f", dont {euros(participation_cents)} de participation forfaitaire, due sur tout dossier financé "
                 "par vos droits")
    return said + ". Vous pouvez relever ce montant dans vos préférences."


def compose_reasons(skills_closed: Sequence[str], out_of_pocket_cents: int, fit: Sequence[str],
                    completion_probability: float | None, risk: str | None, **cost: Any) -> list[str]:
    """The reasons shown with an item: skills it closes, what it costs (``cost``: the comparison with paying
    directly, see ``cost_reason``), why it fits, and the completion estimate and risk."""
    said: list[str] = []
    if skills_closed:
        said.append("apporte des compétences de votre objectif : " + ", ".join(skills_closed[:3]))
    said.append(cost_reason(out_of_pocket_cents, **cost))
    said.extend(fit)
    if completion_probability is not None:
        said.append(f"achèvement estimé : {round(100 * completion_probability)} %")
    if risk is not None:
        said.append(f"risque d'abandon : {risk}")
    return said


def reasons(item: RankedItem, skill_labels: list[str], out_of_pocket_cents: int,
            typical_completion: float) -> list[str]:
    """Plain-language reasons: skills it closes, what it costs, why it fits, and the completion risk."""
    return compose_reasons(skill_labels, out_of_pocket_cents, fit_reasons(item), item.completion_probability,
                           risk_of(item, typical_completion))
