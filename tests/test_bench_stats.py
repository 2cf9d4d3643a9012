"""The statistics benchmark on the tiny world: the files, ledger and impressions it draws are consistent (one
file per enrolment, a balanced ledger, participation as the rule of the bench says, ten impressions per holder
with interactions), every published table is timed, and the section renders with the target."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ingest.world_import import import_folder
from parcours.store.engine import get_engine, migrate, session_scope
from parcours.store.models import Interaction, LedgerEntry
from parcours.store.supporting_models import Enrolment, Impression
from serving.services.statistics import BY, INDICATORS, statistics_table
from training.bench import bench_stats
from training.datasets.world import generate_world


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    folder = tmp_path_factory.mktemp("bench-stats") / "world"
    generate_world(folder, scale="tiny", seed=0)
    url = f"sqlite:///{folder.parent / 'stats.db'}"
    migrate(url)
    import_folder(folder, url, progress=False)
    counts = bench_stats.populate(url)
    yield url, counts
    get_engine(url).dispose()


def test_drawn_facts_are_consistent(drawn: tuple[str, dict[str, int]]) -> None:
    url, counts = drawn
    with session_scope(url) as session:
        enrols = session.scalar(select(func.count()).where(Interaction.event == "enrol"))
        assert counts["files"] == session.scalar(select(func.count()).select_from(Enrolment)) == enrols
        assert session.scalar(select(func.sum(LedgerEntry.amount_cents))) == 0  # double entry
        assert session.scalar(select(func.count()).select_from(Impression)) == counts["impressions"]
        holders = session.scalar(select(func.count(func.distinct(Interaction.holder_id))))
        assert counts["impressions"] == bench_stats.IMPRESSIONS_PER_HOLDER * (holders or 0)
        not_cancelled = session.scalar(select(func.count()).where(Enrolment.state != "cancelled_by_holder"))
        participation = statistics_table(session, "participation", "region").total
    assert participation.value == bench_stats.PARTICIPATION_CENTS * (not_cancelled or 0)
    with pytest.raises(RuntimeError, match="already holds enrolment files"):
        bench_stats.populate(url)


def test_every_table_timed_and_rendered(drawn: tuple[str, dict[str, int]]) -> None:
    url, counts = drawn
    rows = bench_stats.measure(url, repeats=1)
    assert len(rows) == len(INDICATORS) * len(BY) + 1
    assert all(row["seconds"] >= 0 and row["cpu"] >= 0 and row["load"] >= 0 for row in rows)
    with session_scope(url) as session:
        assert rows[0]["published"] == statistics_table(session, rows[0]["indicator"], rows[0]["by"]).as_dict()
    info = {"populated": counts, "imported": "tiny"}
    text = bench_stats.render({"sqlite": rows}, {"sqlite": info}, None)
    assert text.startswith("## Statistics aggregates on the large world")
    assert "Target ≤ 2 s each" in text and f"{counts['impressions']:,} impressions" in text
    assert "one database measured" in text and "| SQLite | CPU |" in text and "| PostgreSQL |" not in text
    # a second database: its column is rendered, and a changed cell is named
    other = copy.deepcopy(rows)
    assert bench_stats.differing({"sqlite": rows, "postgresql": other}) == []
    other[-1]["published"]["total"]["holders"] += 1
    assert bench_stats.differing({"sqlite": rows, "postgresql": other}) == [f"{rows[-1]['indicator']} {rows[-1]['by']}"]
    both = bench_stats.render({"sqlite": rows, "postgresql": other}, {"sqlite": info, "postgresql": info},
                              bench_stats.differing({"sqlite": rows, "postgresql": other}))
    assert "| PostgreSQL | wall |" in both and "**1 tables differ**" in both
    assert "Slowest tables on PostgreSQL (wall)" in both


def test_postgresql_publishes_the_sqlite_tables(drawn: tuple[str, dict[str, int]], pg_url: str) -> None:
    """The same world drawn into PostgreSQL publishes every table as SQLite does (its own statement shapes and
    session settings change no cell)."""
    url, counts = drawn
    folder = Path(make_url(url).database or "").parent / "world"
    import_folder(folder, pg_url, progress=False)
    assert bench_stats.populate(pg_url) == counts
    bench_stats.analyze(pg_url)
    runs = {"sqlite": bench_stats.measure(url), "postgresql": bench_stats.measure(pg_url)}
    assert bench_stats.differing(runs) == []
    assert any(row["published"]["total"]["holders"] for row in runs["postgresql"])  # not all suppressed
    info = {"populated": counts, "imported": "tiny"}
    text = bench_stats.render(runs, {"sqlite": info, "postgresql": info}, bench_stats.differing(runs))
    assert "every published cell equal on SQLite and PostgreSQL" in text
    if all(row["server_cpu"] is not None for row in runs["postgresql"]):  # the server runs on this machine
        assert "| PostgreSQL | server CPU |" in text and "| server CPU (s) |" in text
