"""Statistics of the use of the scheme (R6323-33 purpose 5), pseudonymised and protected by small-cell suppression.

Each indicator is aggregated in SQL by one statement (plus one for its total; ``aggregate``) over equality joins
on indexed columns, and published through ``parcours.domain.disclosure``: a cell counts the *distinct holders*
behind it; a cell of 1 to 10 holders is suppressed, and so is every cell that would let a reader recover one by
subtracting published cells from the published total. No holder id ever leaves this module: the queries return
only group keys and aggregates.

Indicators (``INDICATORS``), each by ``month``, ``region``, ``certification``, ``age_band``,
``employment_status`` or ``qualification_level`` (``BY``):

- files (``enrolments`` table), dated by the month the file was opened: ``enrolments`` (number of files),
  ``completion_rate`` (mean completion rate declared at service done, in %), ``cancellation_rate`` (share of the
  files cancelled by the holder or the provider, in %);
- money (the ledger), in integer cents, by the file it funds: ``spent_cpf`` (CPF rights, corrective top-ups
  included), ``spent_cec``, ``spent_topup_<funder kind>``, ``participation`` (flat participation). An amount
  *spent* is what was reserved for the file minus what went back (cancellation refund, unspent part after
  payment): the amount paid to the provider once the file is paid, the amount held while it runs;
- the recommender's own use (``impressions`` table, written by ``log_impressions`` where the recommendations
  route answers), dated by the month shown: ``impressions`` (trainings shown), ``impressions_followed`` (shown,
  then viewed or enrolled in by the holder), ``impressions_enrolled`` (shown, then enrolled in).

Region, employment status and qualification level are the holder's as stored today; the age band is the age in
the year of the file or impression.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    cast,
    extract,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.orm import Session

from parcours.domain.disclosure import THRESHOLD, OneWay, is_small, suppress_one_way, suppress_two_way
from parcours.errors import ValidationFailed
from parcours.store.csv_safety import neutralise_cell
from parcours.store.models import Holder, Interaction, LedgerAccount, LedgerEntry, LedgerTransaction, Training
from parcours.store.supporting_models import FUNDER_KINDS, Enrolment, Impression, TopUp
from serving.services.at_commit import at_commit

BY = ("month", "region", "certification", "age_band", "employment_status", "qualification_level")
# (label, first age not in the band); the last band is open.
AGE_BANDS: tuple[tuple[str, int | None], ...] = (
    ("<25", 25), ("25-34", 35), ("35-44", 45), ("45-54", 55), ("55+", None)
)
CANCELLED_STATES = ("cancelled_by_holder", "cancelled_by_provider")
TOTAL_KEY = "total"

Kind = Literal["count", "cents", "rate"]
Source = Literal["files", "money", "impressions"]


@dataclass(frozen=True)
class Indicator:
    name: str
    title: str  # French, as published
    unit: str  # French unit of ``value``
    kind: Kind
    source: Source
    description: str


def _indicators() -> dict[str, Indicator]:
    funder_titles = {
        "employer": "employeurs", "opco": "OPCO", "france_travail": "France Travail", "region": "régions",
        "holder": "titulaires (fonds propres)",
    }
    rows = [
        Indicator("enrolments", "Dossiers de formation ouverts", "dossiers", "count", "files",
                  "Training files opened in the cell."),
        Indicator("spent_cpf", "Montants mobilisés sur les droits CPF", "centimes", "cents", "money",
                  "CPF rights (corrective top-ups included) reserved for the files, minus what went back."),
        Indicator("spent_cec", "Montants mobilisés sur le compte d'engagement citoyen", "centimes", "cents", "money",
                  "CEC rights reserved for the files, minus what went back."),
    ]
    rows += [
        Indicator(f"spent_topup_{kind}", f"Abondements des {funder_titles[kind]}", "centimes", "cents", "money",
                  f"Top-ups of funders of kind {kind} reserved for the files, minus what went back.")
        for kind in FUNDER_KINDS
    ]
    rows += [
        Indicator("participation", "Participation forfaitaire des titulaires", "centimes", "cents", "money",
                  "Flat participation paid by holders on their files, net of refunds."),
        Indicator("completion_rate", "Taux de réalisation moyen", "%", "rate", "files",
                  "Mean completion rate declared at service done, over the files with service done (%)."),
        Indicator("cancellation_rate", "Taux d'annulation", "%", "rate", "files",
                  "Share of the files cancelled by the holder or the provider (%)."),
        Indicator("impressions", "Formations suggérées (affichages)", "affichages", "count", "impressions",
                  "Trainings shown in recommendation answers."),
        Indicator("impressions_followed", "Suggestions suivies d'une consultation ou d'une inscription",
                  "affichages", "count", "impressions",
                  "Trainings shown, then viewed or enrolled in by the holder."),
        Indicator("impressions_enrolled", "Suggestions suivies d'une inscription", "affichages", "count",
                  "impressions", "Trainings shown, then enrolled in by the holder (enrol event or file)."),
    ]
    return {row.name: row for row in rows}


INDICATORS: dict[str, Indicator] = _indicators()


# --- published tables -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    key: str
    holders: int | None  # None when suppressed
    value: int | float | None  # None when suppressed (or a rate over no file)
    suppressed: bool


@dataclass(frozen=True)
class Table:
    indicator: Indicator
    by: str
    cells: list[Cell]
    total: Cell
    threshold: int = THRESHOLD

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator.name,
            "by": self.by,
            "unit": self.indicator.unit,
            "cells": [vars(cell) for cell in self.cells],
            "total": vars(self.total),
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class CrossTable:
    """A two-way table with its margins, suppressed as a whole (``suppress_two_way``)."""

    indicator: Indicator
    rows_by: str
    columns_by: str
    cells: dict[tuple[str, str], Cell]
    rows: dict[str, Cell]
    columns: dict[str, Cell]
    total: Cell
    threshold: int = THRESHOLD


def check_request(indicator: str, by: str) -> Indicator:
    """The indicator, or ``ValidationFailed`` (422) naming the allowed values."""
    problems: list[dict[str, object]] = []
    if indicator not in INDICATORS:
        problems.append({"field": "indicator", "message": f"unknown indicator {indicator!r}",
                         "allowed": list(INDICATORS)})
    if by not in BY:
        problems.append({"field": "by", "message": f"unknown dimension {by!r}", "allowed": list(BY)})
    if problems:
        raise ValidationFailed(problems, "unknown indicator or dimension")
    return INDICATORS[indicator]


def statistics_table(session: Session, indicator: str, by: str) -> Table:
    """One indicator by one dimension, with its total, small cells suppressed (primary and complementary)."""
    spec = check_request(indicator, by)
    parts, total, hidden = _one_way(session, spec, by)
    cells = [_cell(key, parts[key], spec, key in hidden.parts) for key in sorted(parts, key=_sort_key)]
    return Table(spec, by, cells, _cell(TOTAL_KEY, total, spec, hidden.total))


def _one_way(session: Session, spec: Indicator, by: str) -> tuple[dict[str, Aggregate], Aggregate, OneWay[str]]:
    grouped, total = aggregate_with_total(session, spec, (by,))
    parts = {row.key[0]: row for row in grouped}
    hidden = suppress_one_way(
        {key: row.holders for key, row in parts.items()},
        total.holders,
        also=[key for key, row in parts.items() if row.sensitive],
        total_sensitive=total.sensitive,
    )
    return parts, total, hidden


def cross_table(session: Session, indicator: str, rows_by: str, columns_by: str) -> CrossTable:
    """One indicator by two dimensions, with row, column and grand totals. Its margins are suppressed at least
    as the one-way tables by ``rows_by`` and ``columns_by`` are (and kept published where they are published),
    so the one-way tables and the two-way table can be published together."""
    spec = check_request(indicator, rows_by)
    check_request(indicator, columns_by)
    inner = {(row.key[0], row.key[1]): row for row in aggregate(session, spec, (rows_by, columns_by))}
    rows, total, rows_hidden = _one_way(session, spec, rows_by)
    columns, _total, columns_hidden = _one_way(session, spec, columns_by)
    hidden = suppress_two_way(
        {key: row.holders for key, row in inner.items()},
        {key: row.holders for key, row in rows.items()},
        {key: row.holders for key, row in columns.items()},
        total.holders,
        also=[key for key, row in inner.items() if row.sensitive],
        published_rows=rows_hidden,
        published_columns=columns_hidden,
    )
    return CrossTable(
        spec, rows_by, columns_by,
        cells={key: _cell(f"{key[0]}|{key[1]}", row, spec, key in hidden.cells) for key, row in inner.items()},
        rows={key: _cell(key, row, spec, key in hidden.rows) for key, row in rows.items()},
        columns={key: _cell(key, row, spec, key in hidden.columns) for key, row in columns.items()},
        total=_cell(TOTAL_KEY, total, spec, hidden.total),
    )


def _cell(key: str, row: Aggregate, spec: Indicator, suppressed: bool) -> Cell:
    if suppressed:
        return Cell(key, None, None, True)
    return Cell(key, row.holders, row.value(spec), False)


def _sort_key(key: str) -> tuple[int, str]:
    bands = [label for label, _end in AGE_BANDS]
    return (bands.index(key), "") if key in bands else (len(bands), key)


# --- CSV ------------------------------------------------------------------------------------------------------

def table_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["indicator", "by", "key", "holders", "value", "suppressed"])
    for cell in [*table.cells, table.total]:
        row = (table.indicator.name, table.by, cell.key, cell.holders, cell.value,
               "true" if cell.suppressed else "false")
        writer.writerow([neutralise_cell(x) for x in row])
    return buffer.getvalue()


# --- impressions ----------------------------------------------------------------------------------------------


def log_impressions(
    session: Session, holder_id: str, training_ids: Sequence[str], model_version: str,
    shown_at: dt.datetime | None = None,
) -> None:
    """Record the trainings of one recommendations answer, in rank order: one bulk insert when the session
    commits (``serving.services.at_commit``), nothing for an empty answer."""
    if not training_ids:
        return
    when = shown_at or dt.datetime.now(dt.UTC)
    rows = [
        {"holder_id": holder_id, "training_id": training_id, "rank": rank, "model_version": model_version[:200],
         "shown_at": when}
        for rank, training_id in enumerate(training_ids, start=1)
    ]
    # No write lock held while answering; a plain executemany on the transaction's connection (the ORM's bulk
    # insert path cost several times the insert).
    at_commit(session, lambda s: s.connection().execute(_INSERT_IMPRESSIONS, rows))


_INSERT_IMPRESSIONS = insert(Impression)


# --- the aggregates in SQL ------------------------------------------------------------------------------------

HOLDER_DIMENSIONS = {
    "region": Holder.region_code, "employment_status": Holder.employment_status,
    "qualification_level": Holder.qualification_level,
}
SPENT_TRANSACTION_KINDS = ("reservation", "cancellation_refund", "unspent_return")
# PostgreSQL settings for the statistics statements, local to their transaction (``set_config(…, true)``, as
# ``SET LOCAL``; docs/statistics.md, "Speed"): no JIT (compiling costs more than it saves on these scans), and
# no sort-based plan nor nested loop: the planner cannot estimate a join on two columns (holder, training) and,
# underestimating the rows of the impressions' follow-up about tenfold, sorted a million rows for a merge join
# or a group aggregate, or probed the trainings' primary key per row, where hashing took half the time.
POSTGRESQL_SETTINGS = {"jit": "off", "enable_sort": "off", "enable_nestloop": "off"}
# When the middle level groups a key of the fact with the holder (month, certification, age band: up to a million
# groups on the large world), its hash aggregate in memory; at the default 4 MB it spilled to disk in batches.
# Grouped by holder alone the default stays: the planner then reads the impressions in the order of their
# (holder, …) index and aggregates them as they come, cheaper than a hash table.
MANY_GROUPS_WORK_MEM = "256MB"


@dataclass(frozen=True)
class Aggregate:
    """One group of an indicator's query: its key, distinct holders, the sum behind the value, the facts
    (files, entries, impressions), the holders in a rate's numerator, and whether those count 1-10."""

    key: tuple[str, ...]
    holders: int
    amount: int
    rows: int
    numerator_holders: int = 0
    sensitive: bool = field(default=False)

    def value(self, spec: Indicator) -> int | float | None:
        if spec.kind != "rate":
            return self.amount
        if self.rows == 0:
            return None
        if spec.name == "completion_rate":  # basis points → %
            return round(self.amount / self.rows / 100, 1)
        return round(100 * self.amount / self.rows, 1)


def aggregate(session: Session, spec: Indicator, dims: Sequence[str]) -> list[Aggregate]:
    """The indicator grouped by ``dims`` (none: one row, the total), in one statement.

    Three levels, one statement: the facts (one row per file, ledger entry or impression, with the keys that
    belong to the fact: month, certification, age band); a ``GROUP BY`` fact keys and holder; a ``GROUP BY`` the
    keys, joining the holders for the keys that belong to the holder (region, status, level). Counting the rows
    of the middle level gives the distinct holders with hash aggregates, where ``COUNT(DISTINCT …)`` would sort,
    and the holders are joined after the facts are reduced to one row per holder."""
    return _aggregate(session, spec, dims, with_total=False)[0]


def aggregate_with_total(session: Session, spec: Indicator, dims: Sequence[str]) -> tuple[list[Aggregate], Aggregate]:
    """``aggregate`` by ``dims`` and the total, in one statement: the per-holder level is computed once (a CTE)
    and the total regroups it by holder, where a second statement read every fact again (for the impressions
    followed, a probe of the events and files per impression)."""
    if not dims or spec.name == "impressions":
        # every impression counts: its total is a scan of the (holder, training) index, cheaper than regrouping
        # the per-holder level by holder
        (total,) = aggregate(session, spec, ())
        return aggregate(session, spec, dims) if dims else [], total
    parts, grand = _aggregate(session, spec, dims, with_total=True)
    if grand is None:  # the total leg has no GROUP BY: always one row
        raise RuntimeError("statistics: the total row is missing")
    return parts, grand


def _aggregate(
    session: Session, spec: Indicator, dims: Sequence[str], with_total: bool
) -> tuple[list[Aggregate], Aggregate | None]:
    dialect = session.get_bind().dialect.name
    facts = _facts(spec, dims, dialect).subquery("facts")
    fact_keys = [column for column in facts.c if column.name.startswith("k")]

    def per_holder_sum(column: Any, small: bool) -> Any:
        # PostgreSQL sums a bigint into a numeric: cast a holder's count back to integer so the next level adds up
        # integers (a holder's cents stay bigint)
        return cast(func.sum(column), Integer) if small and dialect == "postgresql" else func.sum(column)

    per_holder_query = (
        select(*fact_keys, facts.c.holder, per_holder_sum(facts.c.amount, spec.kind != "cents").label("amount"),
               per_holder_sum(facts.c.n, True).label("facts"), func.max(facts.c.flagged).label("flagged"))
        .group_by(*fact_keys, facts.c.holder)
    )
    per_holder = per_holder_query.cte("per_holder") if with_total else per_holder_query.subquery("per_holder")
    keys: list[Any] = []
    for i, dim in enumerate(dims):
        if dim in HOLDER_DIMENSIONS:
            keys.append(HOLDER_DIMENSIONS[dim])
        elif dim == "month":
            keys += [per_holder.c[f"k{i}y"], per_holder.c[f"k{i}m"]]
        else:
            keys.append(per_holder.c[f"k{i}"])

    def sums(source: Any) -> list[Any]:
        return [func.count(), func.coalesce(func.sum(source.c.amount), 0),
                func.coalesce(func.sum(source.c.facts), 0), func.coalesce(func.sum(source.c.flagged), 0)]

    query: Any = select(literal_column("0").label("level"), *keys, *sums(per_holder)).select_from(per_holder)
    if any(dim in HOLDER_DIMENSIONS for dim in dims):
        query = query.join(Holder, Holder.holder_id == per_holder.c.holder)
    if keys:
        query = query.group_by(*keys)
    if with_total:
        holders = (
            select(per_holder.c.holder, func.sum(per_holder.c.amount).label("amount"),
                   func.sum(per_holder.c.facts).label("facts"), func.max(per_holder.c.flagged).label("flagged"))
            .group_by(per_holder.c.holder)
            .subquery("holders_total")
        )
        query = union_all(
            query, select(literal_column("1"), *[null() for _ in keys], *sums(holders)).select_from(holders)
        )
    if dialect == "postgresql":
        _postgresql_settings(session, many_groups=bool(fact_keys))
    out, total = [], None
    for row in session.execute(query).all():
        (holders_count, amount, count, flagged) = (int(value) for value in row[len(keys) + 1:])
        sensitive = spec.name == "cancellation_rate" and is_small(flagged)
        if int(row[0]) == 1:
            total = Aggregate((), holders_count, amount, count, flagged, sensitive)
        else:
            key = _format_key(dims, row[1: len(keys) + 1])
            out.append(Aggregate(key, holders_count, amount, count, flagged, sensitive))
    return out, total


def _postgresql_settings(session: Session, many_groups: bool) -> None:
    """``POSTGRESQL_SETTINGS`` and ``work_mem`` for the statement, set each time since a transaction may run
    several statistics statements (the report): ``is_local``, gone when the transaction ends."""
    default_work_mem = select(literal_column("reset_val")).select_from(table("pg_settings")).where(
        literal_column("name") == "work_mem").scalar_subquery()
    work_mem = literal(MANY_GROUPS_WORK_MEM) if many_groups else default_work_mem
    session.execute(select(*(func.set_config(name, value, True) for name, value in POSTGRESQL_SETTINGS.items()),
                           func.set_config("work_mem", work_mem, True)))


def _format_key(dims: Sequence[str], values: Sequence[Any]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    for dim in dims:
        if dim == "month":
            out.append(f"{int(values[i]):04d}-{int(values[i + 1]):02d}")
            i += 2
        else:
            value = values[i]
            out.append("unknown" if value is None else str(int(value) if dim == "qualification_level" else value))
            i += 1
    return tuple(out)


def _utc(column: Any, dialect: str) -> Any:
    """The timestamp in UTC: PostgreSQL's EXTRACT reads a timestamptz in the session's time zone."""
    return func.timezone("UTC", column) if dialect == "postgresql" else column


# SQLite keeps a timestamp as the text 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (SQLAlchemy's format, no offset), so
# its year and month are slices of it: half the CPU of EXTRACT's strftime over a million impressions.
# PostgreSQL's EXTRACT gives a numeric, slower to hash and subtract than date_part's double cast to an integer.
def _year(moment: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return cast(func.substr(moment, 1, 4), Integer)
    return cast(func.date_part("year", moment), Integer) if dialect == "postgresql" else extract("year", moment)


def _month(moment: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return cast(func.substr(moment, 6, 2), Integer)
    return cast(func.date_part("month", moment), Integer) if dialect == "postgresql" else extract("month", moment)


def _fact_keys(dims: Sequence[str], when: Any, dialect: str) -> list[ColumnElement[Any]]:
    """The key columns that belong to the fact (holder keys are joined later): ``k<i>y``/``k<i>m`` for a month,
    ``k<i>`` for a certification or an age band."""
    columns: list[ColumnElement[Any]] = []
    for i, dim in enumerate(dims):
        moment = _utc(when, dialect)
        if dim == "month":
            columns += [_year(moment, dialect).label(f"k{i}y"), _month(moment, dialect).label(f"k{i}m")]
        elif dim == "certification":
            columns.append(Training.certification_code.label(f"k{i}"))
        elif dim == "age_band":
            age = _year(moment, dialect) - Holder.birth_year
            bands = [(age < end, label) for label, end in AGE_BANDS if end is not None]
            columns.append(case(*bands, else_=AGE_BANDS[-1][0]).label(f"k{i}"))
    return columns


def _facts(spec: Indicator, dims: Sequence[str], dialect: str) -> Any:
    """One row per fact (a file, a ledger entry of a file, an impression): the fact's keys ``k…``, the holder,
    the amount it adds to the value and, for the cancellation rate, 1 when it counts in the numerator. A
    ``UNION ALL`` when the facts come from several equality joins (CPF and corrective rights; participation and
    its refund)."""
    if (spec.source == "impressions" and "certification" in dims and not {"month", "age_band"} & set(dims)
            and dialect == "sqlite"):
        return _impressions_by_training(spec, dims, dialect)
    if spec.source == "impressions":
        legs = [_impression_facts(spec, dialect)]
        holder, training, when = Impression.holder_id, Impression.training_id, Impression.shown_at
    else:
        legs = _money_facts(spec) if spec.source == "money" else [_file_facts(spec)]
        holder, training, when = Enrolment.holder_id, Enrolment.training_id, Enrolment.created_at
    queries = []
    for leg in legs:
        query = leg.add_columns(literal(1).label("n"), *_fact_keys(dims, when, dialect), holder.label("holder"))
        if "certification" in dims:
            query = query.join(Training, Training.training_id == training)
        if "age_band" in dims:
            query = query.join(Holder, Holder.holder_id == holder)
        queries.append(query)
    return queries[0] if len(queries) == 1 else union_all(*queries)


def _impressions_by_training(spec: Indicator, dims: Sequence[str], dialect: str) -> Any:
    """SQLite: the impressions counted per (training, holder) before the certification is looked up, one lookup
    per pair in training order: in the holders' order SQLite read the wide training rows at random (3.8 s of CPU
    on the large world, docs/benchmarks.md). ``n`` carries the impressions of the pair (amount and facts).
    PostgreSQL hash-joins the trainings to the impressions directly: nearly every pair occurs once, and grouping
    them first cost a hash aggregate of 900,000 rows for nothing."""
    pairs = (
        _impression_facts(spec, dialect)
        .with_only_columns(Impression.training_id.label("training"), Impression.holder_id.label("holder"),
                           func.count().label("n"))
        .group_by(Impression.training_id, Impression.holder_id)
        .order_by(Impression.training_id)  # the grouping would follow the (holder, training) index otherwise
        .subquery("shown")
    )
    keys = [Training.certification_code.label(f"k{i}") for i, dim in enumerate(dims) if dim == "certification"]
    return (
        select(pairs.c.n.label("amount"), literal(0).label("flagged"), pairs.c.n.label("n"), *keys,
               pairs.c.holder.label("holder"))
        .select_from(pairs)
        .join(Training, Training.training_id == pairs.c.training)
    )


def _file_facts(spec: Indicator) -> Any:
    if spec.name == "completion_rate":
        return (select(Enrolment.completion_basis_points.label("amount"), literal(0).label("flagged"))
                .select_from(Enrolment).where(Enrolment.completion_basis_points.is_not(None)))
    cancelled = case((Enrolment.state.in_(CANCELLED_STATES), 1), else_=0)
    if spec.name == "cancellation_rate":
        return select(cancelled.label("amount"), cancelled.label("flagged")).select_from(Enrolment)
    return select(literal(1).label("amount"), literal(0).label("flagged")).select_from(Enrolment)


def _impression_facts(spec: Indicator, dialect: str) -> Any:
    """Impressions; followed (enrolled): a view or enrol event (an enrol event) or a file of the holder for the
    training came after the impression.

    PostgreSQL: one semi-join of the impressions with the later events and files together (``EXISTS`` over their
    ``UNION ALL``), hashed on (holder, training) with the time compared in the join: grouping the last event of
    every (holder, training) first, then joining it, cost a hash aggregate of 880,000 pairs on the large world
    for nothing (nearly every pair occurs once), and two ``EXISTS`` under an ``OR`` are not turned into joins.
    SQLite has no hash join (it built a temporary index over the events for every query, 1.6-2.8 s of CPU on the
    large world): there each impression probes the covering index of its (holder, training) events and of its
    files instead (about a third of it)."""
    query = select(literal(1).label("amount"), literal(0).label("flagged")).select_from(Impression)
    if spec.name == "impressions":
        return query
    events = ("view", "enrol") if spec.name == "impressions_followed" else ("enrol",)
    if dialect == "sqlite":
        later_event = select(literal(1)).where(
            Interaction.holder_id == Impression.holder_id, Interaction.training_id == Impression.training_id,
            Interaction.event.in_(events), Interaction.occurred_at > Impression.shown_at)
        later_file = select(literal(1)).where(
            Enrolment.holder_id == Impression.holder_id, Enrolment.training_id == Impression.training_id,
            Enrolment.created_at > Impression.shown_at)
        return query.where(or_(later_event.exists(), later_file.exists()))
    later = union_all(
        select(Interaction.holder_id.label("holder_id"), Interaction.training_id.label("training_id"),
               Interaction.occurred_at.label("at")).where(Interaction.event.in_(events)),
        select(Enrolment.holder_id, Enrolment.training_id, Enrolment.created_at),
    ).subquery("later")
    return query.where(
        select(literal(1)).select_from(later).where(
            later.c.holder_id == Impression.holder_id, later.c.training_id == Impression.training_id,
            later.c.at > Impression.shown_at).exists())


def _file_ref(prefix: str) -> Any:
    return literal(prefix, String) + cast(Enrolment.enrolment_id, String)


def _money_facts(spec: Indicator) -> list[Any]:
    """The ledger entries that make the indicator, each with its file, joined by equalities the planner can
    estimate: a file's accounts are ``file:<file>:<source>`` and its participation transactions
    ``participation:<file>`` and ``participation-refund:<file>`` (both columns unique and indexed).

    Spent: the entries on the file's account for the source, of the reservation, the cancellation refund and the
    return of the unspent part after payment: what was reserved minus what went back. Participation: the entries
    on ``system:participation``."""
    entries = select(LedgerEntry.amount_cents.label("amount"), literal(0).label("flagged")).select_from(Enrolment)
    if spec.name == "participation":
        # The file is found from the transaction (its id read from the reference, a primary-key lookup), not
        # the transaction from the file: SQLite started from the one participation account and then scanned
        # every file for each of its entries (minutes on the large world).
        return [
            entries.join(LedgerTransaction, and_(
                LedgerTransaction.kind == kind,
                Enrolment.enrolment_id == cast(func.substr(LedgerTransaction.reference, len(prefix) + 1), Integer)))
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.transaction_id)
            .join(LedgerAccount, and_(LedgerAccount.account_id == LedgerEntry.account_id,
                                      LedgerAccount.code == "system:participation"))
            for kind, prefix in (("participation", "participation:"), ("participation_refund", "participation-refund:"))
        ]

    def spent(base: Any, code: Any) -> Any:
        return (
            base.join(LedgerAccount, LedgerAccount.code == code)
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.account_id)
            .join(LedgerTransaction, and_(LedgerTransaction.transaction_id == LedgerEntry.transaction_id,
                                          LedgerTransaction.kind.in_(SPENT_TRANSACTION_KINDS)))
        )

    account = _file_ref("file:") + literal(":", String)
    if spec.name == "spent_cpf":
        return [spent(entries, account + literal(source, String)) for source in ("cpf", "cpf_corrective")]
    if spec.name == "spent_cec":
        return [spent(entries, account + literal("cec", String))]
    kind = spec.name.removeprefix("spent_topup_")
    tied = entries.join(TopUp, and_(TopUp.enrolment_id == Enrolment.enrolment_id, TopUp.funder_kind == kind))
    return [spent(tied, account + literal("topup:", String) + cast(TopUp.topup_id, String))]
