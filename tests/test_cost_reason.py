"""The cost a suggestion states, from the funding rule to the French sentence (issue 13, "honest cost")."""

from __future__ import annotations

import datetime as dt

import pytest

from parcours.domain import rules
from recommender.learned import ceiling_notice, cost_reason

ON = dt.date(2025, 6, 1)  # flat participation 102.23 €


def said(price: int, cpf: int, status: str = "employee", topup: int = 0) -> str:
    topups = (rules.TopUpSource("topup:region", "region", topup),) if topup else ()
    comparison = rules.compare_with_direct_payment(
        price, rules.file_funding(price, topups=topups, cpf_rights_cents=cpf, on=ON, employment_status=status))
    return cost_reason(comparison.cheaper_cents, pay_directly=comparison.cheaper == "direct",
                       with_rights_cents=comparison.with_rights_cents, rights_used_cents=comparison.rights_used_cents,
                       participation_exceeds_rights=comparison.participation_exceeds_rights)


@pytest.mark.parametrize(
    ("price", "cpf", "status", "sentence"),
    [
        (29_500, 30_000, "job_seeker", "entièrement financée par vos droits"),
        (29_500, 30_000, "employee", "vous coûte 102,23 € après vos droits"),
        (29_500, 8_772, "job_seeker", "vous coûte 207,28 € après vos droits"),
        # The participation exceeds the 87.72 € of rights the file would use.
        (29_500, 8_772, "employee", "payer directement (295,00 €) coûte moins cher que mobiliser vos droits "
                                    "(309,51 €) : la participation forfaitaire dépasse les droits utilisés"),
        # No rights: never "after your rights".
        (1_000_000, 0, "employee", "vous coûte 10\u202f000,00 € : aucun droit disponible ne la finance"),
        (1_000_000, 0, "job_seeker", "vous coûte 10\u202f000,00 € : aucun droit disponible ne la finance"),
        # Rights equal to the participation: the file costs as much and spends them.
        (20_000, 10_223, "employee", "payer directement coûte autant (200,00 €) que mobiliser vos droits, "
                                     "et les préserve"),
        (20_000, 10_224, "employee", "vous coûte 199,99 € après vos droits"),
    ],
)
def test_the_cost_said_is_the_cheaper_payment(price: int, cpf: int, status: str, sentence: str) -> None:
    assert said(price, cpf, status) == sentence


@pytest.mark.parametrize(
    ("price", "cpf", "topup", "sentence"),
    [
        # A regional top-up and no rights: the file spends none, so « vos droits » is never said.
        (29_500, 0, 10_000, "vous coûte 195,00 € après les abondements"),
        (29_500, 0, 30_000, "entièrement financée par des abondements"),
        (29_500, 20_000, 5_000, "vous coûte 147,23 € après vos droits"),  # rights first, then the top-up
    ],
)
def test_a_file_funded_by_top_ups_alone_says_so(price: int, cpf: int, topup: int, sentence: str) -> None:
    assert said(price, cpf, topup=topup) == sentence


@pytest.mark.parametrize(
    ("ceiling", "shown", "asked", "cheapest", "participation", "notice"),
    [
        (50_000, 10, 10, 61_200, 0, None),  # the list is full: nothing to explain
        (50_000, 4, 10, None, 0, None),  # nothing set aside: the catalogue ran short, not the ceiling
        (50_000, 0, 10, 61_200, 0, "Aucune formation suggérée ne tient dans votre reste à charge maximal de "
                                   "500,00 € : la moins chère vous coûterait 612,00 €. Vous pouvez relever ce "
                                   "montant dans vos préférences."),
        (50_000, 1, 10, 61_200, 10_223, "Une seule formation suggérée tient dans votre reste à charge maximal de "
                                        "500,00 € : la moins chère des suivantes vous coûterait 612,00 €. Vous "
                                        "pouvez relever ce montant dans vos préférences."),
        (150_000, 3, 5, 162_223, 10_223, "Seules 3 formations suggérées tiennent dans votre reste à charge maximal "
                                         "de 1\u202f500,00 € : la moins chère des suivantes vous coûterait "
                                         "1\u202f622,23 €. Vous pouvez relever ce montant dans vos préférences."),
        # The participation alone is over the ceiling: every file costs more, whatever the training.
        (0, 0, 10, 10_223, 10_223, "Aucune formation suggérée ne tient dans votre reste à charge maximal de "
                                   "0,00 € : la moins chère vous coûterait 102,23 €, dont 102,23 € de "
                                   "participation forfaitaire, due sur tout dossier financé par vos droits. Vous "
                                   "pouvez relever ce montant dans vos préférences."),
        (10_000, 0, 3, 10_223, 10_223, "Aucune formation suggérée ne tient dans votre reste à charge maximal de "
                                       "100,00 € : la moins chère vous coûterait 102,23 €, dont 102,23 € de "
                                       "participation forfaitaire, due sur tout dossier financé par vos droits. "
                                       "Vous pouvez relever ce montant dans vos préférences."),
        # One cent over the ceiling through the file: the participation is within it, so it is not blamed.
        (10_223, 0, 3, 10_224, 10_223, "Aucune formation suggérée ne tient dans votre reste à charge maximal de "
                                       "102,23 € : la moins chère vous coûterait 102,24 €. Vous pouvez relever ce "
                                       "montant dans vos préférences."),
    ],
)
def test_a_list_the_ceiling_shortened_says_why(ceiling, shown, asked, cheapest, participation, notice) -> None:
    assert ceiling_notice(ceiling, shown=shown, asked=asked, cheapest_set_aside_cents=cheapest,
                          participation_cents=participation) == notice
