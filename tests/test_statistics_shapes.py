"""The statistics' faster statement shapes (issue 18) give the numbers of the plain ones: the total computed in
the grouped statement equals the separate total, and the impressions counted per (training, holder) before the
certification lookup equal a count over every impression, on the tiny world with the bench's drawn facts; the
PostgreSQL planner settings of the statements last their transaction only. (The PostgreSQL shapes publish the
SQLite tables: tests/test_bench_stats.py.)"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from ingest.world_import import import_folder
from parcours.store.engine import get_engine, migrate, session_scope
from parcours.store.models import Interaction, Training
from parcours.store.supporting_models import Enrolment, Impression
from serving.services.statistics import (
    BY,
    INDICATORS,
    MANY_GROUPS_WORK_MEM,
    POSTGRESQL_SETTINGS,
    aggregate,
    aggregate_with_total,
    statistics_table,
)
from training.bench import bench_stats
from training.datasets.world import generate_world


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("stats-shapes") / "world"
    generate_world(folder, scale="tiny", seed=1)
    url = f"sqlite:///{folder.parent / 'stats.db'}"
    migrate(url)
    import_folder(folder, url, progress=False)
    bench_stats.populate(url)
    yield url
    get_engine(url).dispose()


def test_total_in_the_grouped_statement_is_the_separate_total(url: str) -> None:
    with session_scope(url) as session:
        for name, spec in INDICATORS.items():
            (alone,) = aggregate(session, spec, ())
            for by in BY:
                parts, total = aggregate_with_total(session, spec, (by,))
                assert total == alone, (name, by)
                assert parts == aggregate(session, spec, (by,)), (name, by)


@pytest.mark.parametrize("name", ["impressions", "impressions_followed", "impressions_enrolled"])
def test_impressions_by_certification_count_every_impression(url: str, name: str) -> None:
    events = {"impressions": (), "impressions_followed": ("view", "enrol"), "impressions_enrolled": ("enrol",)}[name]
    with session_scope(url) as session:
        certification = dict(session.execute(select(Training.training_id, Training.certification_code)).all())
        later: dict[tuple[str, str], list[object]] = defaultdict(list)
        for holder, training, event, moment in session.execute(
                select(Interaction.holder_id, Interaction.training_id, Interaction.event, Interaction.occurred_at)):
            if event in events:
                later[(holder, training)].append(moment)
        if events:
            for holder, training, moment in session.execute(
                    select(Enrolment.holder_id, Enrolment.training_id, Enrolment.created_at)):
                later[(holder, training)].append(moment)
        holders: dict[str, set[str]] = defaultdict(set)
        shown: dict[str, int] = defaultdict(int)
        for holder, training, moment in session.execute(
                select(Impression.holder_id, Impression.training_id, Impression.shown_at)):
            if events and not any(when > moment for when in later[(holder, training)]):  # type: ignore[operator]
                continue
            holders[certification[training]].add(holder)
            shown[certification[training]] += 1
        got = {row.key[0]: row for row in aggregate(session, INDICATORS[name], ("certification",))}
    assert shown, "the drawn impressions make the comparison meaningful"
    assert {key: (row.holders, row.amount, row.rows) for key, row in got.items()} == {
        key: (len(holders[key]), shown[key], shown[key]) for key in shown
    }


def test_postgresql_settings_last_one_transaction(pg_url: str) -> None:
    """The planner settings of the statistics statements (``POSTGRESQL_SETTINGS``, ``work_mem``) hold in their
    transaction only: the pooled connection goes back with the server's own."""
    engine = get_engine(pg_url)
    names = [*POSTGRESQL_SETTINGS, "work_mem"]

    def current(connection: Any) -> dict[str, str]:
        return {name: connection.execute(text(f"SELECT current_setting('{name}')")).scalar_one() for name in names}

    with engine.connect() as conn:
        before = current(conn)
    with session_scope(pg_url) as session:
        statistics_table(session, "impressions", "month")  # many groups: work_mem raised
        inside = current(session.connection())
        statistics_table(session, "impressions", "region")  # by holder: work_mem back to the default
        by_holder = current(session.connection())
    with engine.connect() as conn:
        after = current(conn)
    assert inside == {**before, **POSTGRESQL_SETTINGS, "work_mem": MANY_GROUPS_WORK_MEM} != before
    assert by_holder == {**before, **POSTGRESQL_SETTINGS}
    assert after == before
