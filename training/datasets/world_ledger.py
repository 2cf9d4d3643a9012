"""The rights of a world's holders: time worked per civil year and the CPF credit it gives, the CEC credits of
volunteering, and the replay of every movement of rights (credits, trainings before the window, reservations,
payments and refunds) into balances and the truth ledger. The rules are the domain's (``parcours.domain.rules``,
DOMAIN.md).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from parcours.domain import rules
from training.datasets.world_time import DAY, to_days

CPF_FIRST_ACTIVITY_YEAR = 2015
CEC_FIRST_ACTIVITY_YEAR = 2017
CPF_CREDIT_MONTH_DAY = (3, 1)  # credits for year N are posted on 1 March N+1
CEC_CREDIT_MONTH_DAY = (9, 1)  # CEC: declared by 30 June N+1, validated, credited on 1 September N+1
LEDGER_ACCOUNTS = ("cpf", "cec", "cpf_reserved", "cec_reserved")

# The domain's credit tables start with work year 2019, the first credited in euros. Work years 2015–2018 were
# credited in hours, converted at 15 €/h: the generator keeps that history (24 h a year, 48 h for the
# majorated categories) and takes everything else from the domain's rules of 2019 (who is majorated, the
# ceilings, the prorating). CEC activity years 2017–2018 are credited with the CEC rule of 2019.
FIRST_EURO_YEAR = 2019
HOURS_ERA_CREDIT_HOURS = 24
HOURS_ERA_MAJORATED_HOURS = 48
HOURS_ERA_CENTS_PER_HOUR = 1_500


def legal_annual_hours(year: int) -> int:
    """The legal working time of ``year`` (the domain's table): time worked is declared in hours of it."""
    hours = rules.value_on(rules.LEGAL_ANNUAL_HOURS, dt.date(year, 1, 1))
    if hours is None:
        raise rules.RuleError(f"no legal working time for {year}")
    return hours


def cpf_credit_cents(
    year: int, *, status: str, worked_hours: int, low_qualification: bool, disability: bool
) -> tuple[int, int]:
    """The CPF credit for work done in ``year`` and the ceiling it is subject to, in integer cents.

    From 2019 the credit is the domain's ``annual_credit_cents`` (status, qualification, disability, prorated
    below half the legal working time for employees); before, 24 h or 48 h at 15 €/h, prorated the same way.
    The ceiling is applied when the credit is posted (:func:`replay_ledger`), to the balance of that day.
    """
    rate = rules.credit_rate(
        max(year, FIRST_EURO_YEAR), status=status, low_qualification=low_qualification, disability=disability
    )
    if year >= FIRST_EURO_YEAR:
        credit = rules.annual_credit_cents(
            year,
            status=status,
            worked_hours=worked_hours,
            low_qualification=low_qualification,
            disability=disability,
        )
        return credit, rate.ceiling_cents
    standard = rules.credit_rate(FIRST_EURO_YEAR, status=status, low_qualification=False, disability=False)
    majorated = rate.annual_cents > standard.annual_cents
    annual = (HOURS_ERA_MAJORATED_HOURS if majorated else HOURS_ERA_CREDIT_HOURS) * HOURS_ERA_CENTS_PER_HOUR
    if status == "self_employed":  # as from 2019: the self-employed are not prorated
        return annual, rate.ceiling_cents
    prorated = rules.prorated_credit_cents(
        annual, worked_hours=worked_hours, reference_hours=legal_annual_hours(year)
    )
    return prorated, rate.ceiling_cents


def cec_credit_cents(activity_year: int) -> tuple[int, int]:
    """The CEC credit of one eligible activity of ``activity_year`` and the CEC ceiling, in integer cents (the
    domain's rule; the ceiling is applied when the credit is posted)."""
    year = max(activity_year, FIRST_EURO_YEAR)
    credit = rules.cec_credit_cents(year, eligible_activities=1, cec_balance_cents=0)
    ceiling = rules.value_on(rules.CEC_CEILING_CENTS, dt.date(year, 1, 1))
    assert ceiling is not None  # cec_credit_cents raised otherwise
    return credit, ceiling


def activity_years(
    jobs: dict[str, np.ndarray], low_qualification: np.ndarray, disability: np.ndarray, *, as_of: dt.date
) -> dict[str, np.ndarray]:
    """Time worked per holder and civil year (from the dated jobs) and the CPF credit the rules give.

    ``jobs`` has one entry per job: holder position ``h``, days ``start`` and ``end``, time fraction ``frac`` and
    ``self`` (self-employed); ``low_qualification`` (no level-3 qualification) and ``disability`` (a recognised
    disability) are per holder position. Time worked is the share of the year (capped at full time) in hours of
    the legal working time; a holder is self-employed in a year with more self-employed than salaried time.
    """
    n_h = len(low_qualification)
    as_of_day = to_days(as_of)
    years = [
        y
        for y in range(CPF_FIRST_ACTIVITY_YEAR, as_of.year)
        if to_days(dt.date(y + 1, *CPF_CREDIT_MONTH_DAY)) < as_of_day
    ]
    rows: dict[str, list] = {
        k: [] for k in ("h", "year", "fraction", "hours", "status", "credit", "ceiling", "day")
    }
    for year in years:
        y0, y1 = to_days(dt.date(year, 1, 1)), to_days(dt.date(year + 1, 1, 1))
        overlap = np.clip(np.minimum(jobs["end"] + 1, y1) - np.maximum(jobs["start"], y0), 0, None)
        share = overlap / (y1 - y0) * jobs["frac"]
        employee = np.bincount(jobs["h"], weights=share * ~jobs["self"], minlength=n_h)
        self_employed = np.bincount(jobs["h"], weights=share * jobs["self"], minlength=n_h)
        fraction = np.round(np.minimum(employee + self_employed, 1.0), 4)
        legal = legal_annual_hours(year)
        posted = to_days(dt.date(year + 1, *CPF_CREDIT_MONTH_DAY))
        for h in np.flatnonzero(fraction > 0):
            status = "self_employed" if self_employed[h] > employee[h] else "employee"
            hours = round(float(fraction[h]) * legal)
            credit, ceiling = cpf_credit_cents(
                year,
                status=status,
                worked_hours=hours,
                low_qualification=bool(low_qualification[h]),
                disability=bool(disability[h]),
            )
            rows["h"].append(int(h))
            rows["year"].append(year)
            rows["fraction"].append(float(fraction[h]))
            rows["hours"].append(hours)
            rows["status"].append(status)
            rows["credit"].append(credit)
            rows["ceiling"].append(ceiling)
            rows["day"].append(posted)
    return {k: np.array(v) for k, v in rows.items()}


def rights_events(
    activity: dict[str, np.ndarray],
    cec_years: dict[str, list],
    pre_spends: dict[str, list],
    enrolments: dict[str, np.ndarray] | None,
    *,
    as_of_day: int,
    training_ids: list[str],
    training_prices: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every movement of rights: credits, trainings before the window, reservations and refunds.

    ``activity`` comes from :func:`activity_years`; ``cec_years`` lists each holder's CEC-eligible activity
    per civil year; ``pre_spends`` the trainings paid before the window; ``enrolments`` (``None`` before the
    simulation) the files of the window, indexing the trainings of ``training_ids`` and ``training_prices``.
    """
    ev: dict[str, list] = {
        k: [] for k in ("h", "day", "order", "kind", "amount", "ceiling", "ref", "link", "rate")
    }

    def add(
        h: int,
        day: int,
        order: int,
        kind: str,
        amount: int,
        ceiling: int,
        ref: str,
        link: int = -1,
        rate: int = 0,
    ) -> None:
        for key, value in zip(ev, (h, day, order, kind, amount, ceiling, ref, link, rate), strict=True):
            ev[key].append(value)

    act = activity
    for i in range(len(act["h"])):
        add(
            int(act["h"][i]),
            int(act["day"][i]),
            0,
            "cpf_credit",
            int(act["credit"][i]),
            int(act["ceiling"][i]),
            f"cpf-credit-{act['year'][i]}",
        )
    for h, year, label in zip(cec_years["h"], cec_years["year"], cec_years["activity"], strict=True):
        day = to_days(dt.date(year + 1, *CEC_CREDIT_MONTH_DAY))
        if day < as_of_day:
            credit, ceiling = cec_credit_cents(year)
            add(h, day, 0, "cec_credit", credit, ceiling, f"cec-credit-{year}-{label}")
    sp_ = pre_spends
    for h, day, price, ref in zip(sp_["h"], sp_["day"], sp_["price"], sp_["ref"], strict=True):
        add(h, day, 2, "training", price, 0, ref)
    if enrolments is not None:
        for i in range(len(enrolments["h"])):
            h, t = int(enrolments["h"][i]), int(enrolments["t"][i])
            ref = f"enrolment-{training_ids[t]}-{enrolments['session'][i]}"
            add(h, int(enrolments["day"][i]), 2, "reservation", int(training_prices[t]), 0, ref, i)
            if enrolments["cancel_day"][i] >= 0:
                add(h, int(enrolments["cancel_day"][i]), 3, "cancellation_refund", 0, 0, ref, i)
            elif enrolments["complete_ts"][i] >= 0:
                add(h, int(enrolments["complete_ts"][i] // DAY), 3, "payment", 0, 0, ref, i)
            elif enrolments["dropout_day"][i] >= 0:
                add(
                    h,
                    int(enrolments["dropout_day"][i]),
                    3,
                    "unpaid_refund",
                    0,
                    0,
                    ref,
                    i,
                    int(enrolments["completion_pct"][i]),
                )
    return {k: np.array(v, dtype=object if k in ("kind", "ref") else np.int64) for k, v in ev.items()}


def replay_ledger(
    events: dict[str, np.ndarray], *, n_h: int, before_day: int, record: bool
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
    """Apply the events dated before ``before_day`` in order; returns available CPF and CEC rights.

    Accounts per holder: ``cpf`` and ``cec`` (available), ``cpf_reserved`` and ``cec_reserved`` (held by
    a file not yet paid). A credit is capped so that available + reserved stays within its ceiling (the
    domain's ``cap_to_ceiling``, the cap of ``annual_credit_cents`` and ``cec_credit_cents``). A
    training or a reservation takes CPF rights, then CEC rights (the rest is out of pocket). A
    cancellation restores the reservation; a payment consumes it; a dropout pays the completion rate and
    restores the rest.
    """
    balance = {name: np.zeros(n_h, dtype=np.int64) for name in LEDGER_ACCOUNTS}
    order = np.lexsort((np.arange(len(events["h"])), events["order"], events["day"], events["h"]))
    used: dict[int, tuple[int, int]] = {}
    rows: list[tuple] = []
    for i in order:
        day = int(events["day"][i])
        if day >= before_day:
            continue
        h, kind, amount = int(events["h"][i]), str(events["kind"][i]), int(events["amount"][i])
        ceiling = int(events["ceiling"][i])
        moves: list[tuple[str, int]] = []
        if kind in ("cpf_credit", "cec_credit"):
            account = kind[:3]
            held = int(balance[account][h]) + int(balance[f"{account}_reserved"][h])
            moves.append((account, rules.cap_to_ceiling(amount, balance_cents=held, ceiling_cents=ceiling)))
        elif kind in ("training", "reservation"):
            from_cpf = min(int(balance["cpf"][h]), amount)
            from_cec = min(int(balance["cec"][h]), amount - from_cpf)
            moves += [("cpf", -from_cpf), ("cec", -from_cec)]
            if kind == "reservation":
                used[int(events["link"][i])] = (from_cpf, from_cec)
                moves += [("cpf_reserved", from_cpf), ("cec_reserved", from_cec)]
        else:
            from_cpf, from_cec = used[int(events["link"][i])]
            moves += [("cpf_reserved", -from_cpf), ("cec_reserved", -from_cec)]
            if kind == "cancellation_refund":
                moves += [("cpf", from_cpf), ("cec", from_cec)]
            elif kind == "unpaid_refund":
                rate = int(events["rate"][i])
                unpaid_cpf = from_cpf - from_cpf * rate // 100
                unpaid_cec = from_cec - from_cec * rate // 100
                moves += [("cpf", unpaid_cpf), ("cec", unpaid_cec)]
        for account, delta in moves:
            if delta == 0:
                continue
            balance[account][h] += delta
            if record:
                after = int(balance[account][h])
                rows.append((h, day, account, kind, delta, after, ceiling, str(events["ref"][i])))
    ledger = None
    if record:
        columns = ["h", "day", "account", "kind", "amount_cents", "balance_after_cents", "ceiling_cents",
                   "reference"]
        ledger = pd.DataFrame(rows, columns=columns)
    return balance["cpf"], balance["cec"], ledger
