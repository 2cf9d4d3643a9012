"""Statistics aggregates on the large world (issue 18): every published table in at most 2 s, on SQLite and on
PostgreSQL.

The database is the large world (``PARCOURS_BENCH_LARGE_WORLD``, default ``<data_dir>/worlds/large``) imported
into the SQLite file ``<work_dir>/stats-large.db`` and, when ``PARCOURS_BENCH_STATS_DB`` names one, into that
database too (PostgreSQL; ``database_urls``), each imported here unless its import is recorded. The import format
has no enrolment files nor impressions, so their facts are drawn once from the world's own interactions
(``populate``, recorded in the work folder; the same draw on every database):

- one file per ``enrol`` interaction, opened at it, for a session three weeks later at the catalogue price:
  ``closed`` (completion 50-100 %) when the holder completed the training, ``cancelled_by_holder`` when they
  cancelled, ``in_training`` otherwise; the ledger as confirmation and payment post it (reservation from the
  holder's CPF, a fifth of the files partly from the CEC; flat participation; payment to the provider and
  return of the unspent part; full refund of a cancellation), the counterparts of money leaving the scheme on
  two bench accounts;
- ``IMPRESSIONS_PER_HOLDER`` trainings shown to each holder in one answer: up to ``FOLLOWED_PER_HOLDER`` of them
  trainings the holder viewed or enrolled in later (shown the day before), the others drawn from the catalogue.

On PostgreSQL the draw is followed by ``VACUUM ANALYZE`` (``analyze``), as a nightly maintenance job or
autovacuum would run it. Then ``statistics_table`` (the API's ``GET /v1/statistics/{indicator}?by=``: the
grouped statement and its total) is timed for every indicator and dimension, plus the report's cross table, each
``REPEATS`` times (the best kept: the 2 cores are shared), on each database, and the published cells of the
databases compared (``differing``). ``measure`` and ``render`` work on any database (the tests use a tiny one).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TARGET_SECONDS = 2.0
REPEATS = 2  # best of two: the 2 cores are shared with other jobs (and the first run of a table warms its pages)
IMPRESSIONS_PER_HOLDER = 10
FOLLOWED_PER_HOLDER = 3
PARTICIPATION_CENTS = 10_000
CHUNK = 20_000
SEED = 18


def database_urls(work_dir: Path) -> list[str]:
    """SQLite (``<work_dir>/stats-large.db``) and, when ``PARCOURS_BENCH_STATS_DB`` names another database
    (PostgreSQL), that one too: one run of the section reports both."""
    sqlite = f"sqlite:///{(Path(work_dir) / 'stats-large.db').resolve()}"
    given = os.environ.get("PARCOURS_BENCH_STATS_DB")
    return [sqlite] if not given or given == sqlite else [sqlite, given]


def _marker(url: str, work_dir: Path) -> Path:
    name = url.rsplit("/", 1)[-1].replace("?", "_")
    return Path(work_dir) / f"{name}.stats.json"


def ensure_database(work_dir: Path, url: str) -> tuple[str, dict[str, Any]]:
    """The bench database: the large world imported and the files and impressions drawn (each step once)."""
    from sqlalchemy.engine import make_url

    from ingest.world_import import import_folder
    from parcours.store.engine import migrate
    from training.bench.bench_train_large import world_folder

    marker = _marker(url, work_dir)
    info: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    migrate(url)
    world = world_folder()
    if not info.get("imported") and _count(url, "trainings") == 0:
        if not (world / "trainings.csv").exists():
            raise FileNotFoundError(f"{world}: generate the large world first (docs/benchmarks.md, world section)")
        started = time.perf_counter()
        import_folder(world, url, progress=False)
        info["import_seconds"] = round(time.perf_counter() - started, 1)
    info["imported"] = str(world)
    if not info.get("populated"):
        started = time.perf_counter()
        info["populated"] = populate(url)
        info["populate_seconds"] = round(time.perf_counter() - started, 1)
    if not info.get("vacuum_seconds") and make_url(url).get_dialect().name == "postgresql":
        started = time.perf_counter()
        analyze(url)
        info["vacuum_seconds"] = round(time.perf_counter() - started, 1)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(info, indent=2), encoding="utf-8")
    return url, info


def analyze(url: str) -> None:
    """After the bulk draw, what a nightly maintenance job does on PostgreSQL: ``VACUUM ANALYZE`` (statistics for
    the planner, and the visibility map that lets the impressions be read from their covering index alone).
    SQLite is left as imported (its plans follow the indexes, not ``ANALYZE``'s statistics)."""
    from sqlalchemy import text

    from parcours.store.engine import get_engine

    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # VACUUM: no transaction
            conn.execute(text("VACUUM ANALYZE"))


def _server_version(url: str) -> str:
    from sqlalchemy import text

    from parcours.store.engine import get_engine

    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        return ""
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]


def _count(url: str, table: str) -> int:
    from sqlalchemy import text

    from parcours.store.engine import get_engine

    with get_engine(url).connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608 - fixed names


def _next_id(conn: Any, table: str, column: str) -> int:
    from sqlalchemy import text

    return int(conn.execute(text(f"SELECT coalesce(max({column}), 0) FROM {table}")).scalar_one()) + 1  # noqa: S608


def _insert(conn: Any, table: Any, frame: pd.DataFrame) -> None:
    from sqlalchemy import insert

    records = frame.astype(object).where(frame.notna(), None).to_dict("records")  # NaN is no NULL to PostgreSQL
    for start in range(0, len(records), CHUNK):
        conn.execute(insert(table), records[start : start + CHUNK])


def populate(url: str) -> dict[str, int]:
    """Draw the files, their ledger and the impressions from the interactions (see the module docstring)."""
    from sqlalchemy import select, text

    from parcours.domain.ledger import CEC, CPF, RESERVED, SYSTEM, holder_account_code
    from parcours.store.engine import get_engine
    from parcours.store.models import LedgerAccount, LedgerEntry, LedgerTransaction
    from parcours.store.supporting_models import Enrolment, Impression

    rng = np.random.default_rng(SEED)
    engine = get_engine(url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        if int(conn.execute(text("SELECT count(*) FROM enrolments")).scalar_one()):
            raise RuntimeError(f"{url} already holds enrolment files: the bench draws its own on a fresh import")
        events = pd.DataFrame(conn.execute(text(
            "SELECT i.holder_id, i.training_id, i.event, i.occurred_at, t.provider_id, t.price_cents "
            "FROM interactions i JOIN trainings t ON t.training_id = i.training_id"
        )).all(), columns=["holder_id", "training_id", "event", "occurred_at", "provider_id", "price_cents"])
        events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True, format="mixed")
        # in one order on both dialects (pandas compares code points, a PostgreSQL collation may not), so SQLite
        # and PostgreSQL draw the same files and impressions from the same world and publish the same tables
        events = events.sort_values(["holder_id", "training_id", "event", "occurred_at"], kind="stable",
                                    ignore_index=True)
        # -- files
        files = events[events["event"] == "enrol"].sort_values("occurred_at", kind="stable").copy()
        pairs = {e: set(zip(events.loc[events["event"] == e, "holder_id"], events.loc[events["event"] == e,
                                                                                   "training_id"], strict=True))
                 for e in ("complete", "cancel")}
        key = list(zip(files["holder_id"], files["training_id"], strict=True))
        completed = np.array([k in pairs["complete"] for k in key])
        cancelled = np.array([k in pairs["cancel"] for k in key]) & ~completed
        opened = files["occurred_at"].dt.date
        files["session_start"] = opened + dt.timedelta(days=21)
        files["state"] = np.where(completed, "closed", np.where(cancelled, "cancelled_by_holder", "in_training"))
        points = (rng.integers(50, 101, len(files)) * 100).astype(object)
        files["completion_basis_points"] = np.where(completed, points, np.full(len(files), None, dtype=object))
        files["confirmed_on"] = opened
        files["entry_date"] = np.where(cancelled, None, files["session_start"])
        files["exit_date"] = np.where(completed, files["session_start"] + dt.timedelta(days=30), None)
        files = files.drop_duplicates(["holder_id", "training_id", "session_start"])
        first = _next_id(conn, "enrolments", "enrolment_id")
        files["enrolment_id"] = np.arange(first, first + len(files))
        files["created_at"] = files["updated_at"] = files["occurred_at"].dt.to_pydatetime()
        columns = ["enrolment_id", "holder_id", "training_id", "provider_id", "session_start", "price_cents",
                   "state", "completion_basis_points", "confirmed_on", "entry_date", "exit_date", "created_at",
                   "updated_at"]
        _insert(conn, Enrolment.__table__, files[columns])
        # -- ledger: accounts
        codes = dict(conn.execute(select(LedgerAccount.code, LedgerAccount.account_id)).all())
        next_account = _next_id(conn, "ledger_accounts", "account_id")
        new_accounts: list[dict[str, Any]] = []

        def account(code: str, kind: str, holder_id: str | None = None, negative: bool = False) -> int:
            nonlocal next_account
            if code not in codes:
                codes[code] = next_account
                new_accounts.append({"account_id": next_account, "code": code, "kind": kind, "holder_id": holder_id,
                                     "may_go_negative": negative, "created_at": now})
                next_account += 1
            return codes[code]

        participation = account("system:participation", SYSTEM, negative=True)
        outside = account("system:bench-outside", SYSTEM, negative=True)  # holders' own money, providers
        cec_share = np.where(np.arange(len(files)) % 5 == 0, 0.2, 0.0)
        transactions: list[dict[str, Any]] = []
        entries: list[tuple[int, int, int]] = []
        next_tx = _next_id(conn, "ledger_transactions", "transaction_id")

        def post(kind: str, reference: str, day: dt.date, moves: list[tuple[int, int, int]]) -> None:
            nonlocal next_tx
            if not any(cents for _source, _target, cents in moves):
                return  # the ledger refuses a transaction without entries
            transactions.append({"transaction_id": next_tx, "kind": kind, "reference": reference,
                                 "actor": "bench", "effective_date": day, "created_at": now})
            for source, target, cents in moves:
                if cents:
                    entries.extend([(next_tx, source, -cents), (next_tx, target, cents)])
            next_tx += 1

        balance: dict[int, int] = dict(conn.execute(text(
            "SELECT account_id, sum(amount_cents) FROM ledger_entries GROUP BY account_id")).all())
        for row, share in zip(files.itertuples(index=False), cec_share, strict=True):
            file_id, holder, price = int(row.enrolment_id), str(row.holder_id), int(row.price_cents)
            rights = {s: account(holder_account_code(holder, s), s, holder) for s in (CPF, CEC)}
            # Rights as far as the balance goes (the CEC for a share of the files), the rest the holder's own.
            cec = min(int(price * share), int(balance.get(rights[CEC], 0)))
            cpf = min(price - cec, int(balance.get(rights[CPF], 0)))
            parts = [(CPF, cpf), (CEC, cec), ("holder", price - cpf - cec)]
            sources = {**rights, "holder": account(f"external:holder:{holder}", SYSTEM, negative=True)}
            for s, cents in parts[:2]:
                balance[rights[s]] = int(balance.get(rights[s], 0)) - cents
            held = {s: account(f"file:{file_id}:{s}", RESERVED, holder) for s, cents in parts if cents}
            day = row.confirmed_on
            post("reservation", f"reserve:{file_id}", day, [(sources[s], held[s], c) for s, c in parts if c])
            post("participation", f"participation:{file_id}", day, [(outside, participation, PARTICIPATION_CENTS)])
            if row.state == "cancelled_by_holder":
                for s, cents in parts[:2]:
                    balance[rights[s]] += cents
                post("cancellation_refund", f"cancel-refund:{file_id}", day,
                     [(held[s], sources[s], c) for s, c in parts if c])
                post("participation_refund", f"participation-refund:{file_id}", day,
                     [(participation, outside, PARTICIPATION_CENTS)])
            elif row.state == "closed":
                rate = int(row.completion_basis_points)
                paid = [(s, c * rate // 10_000) for s, c in parts if c]
                post("provider_payment", f"payment:{file_id}", row.exit_date,
                     [(held[s], outside, c) for s, c in paid])
                back = [(s, c - p) for (s, c), (_s, p) in zip([(s, c) for s, c in parts if c], paid, strict=True)]
                post("unspent_return", f"release:{file_id}", row.exit_date, [(held[s], sources[s], c) for s, c in back])
                for s, cents in back:
                    if s in rights:
                        balance[rights[s]] += cents
        _insert(conn, LedgerAccount.__table__, pd.DataFrame(new_accounts))
        _insert(conn, LedgerTransaction.__table__, pd.DataFrame(transactions))
        first_entry = _next_id(conn, "ledger_entries", "entry_id")
        ledger = pd.DataFrame(entries, columns=["transaction_id", "account_id", "amount_cents"])
        ledger.insert(0, "entry_id", np.arange(first_entry, first_entry + len(ledger)))
        _insert(conn, LedgerEntry.__table__, ledger)
        # -- impressions
        holders = np.array(sorted(set(events["holder_id"])), dtype=object)
        trainings = np.array(sorted(r[0] for r in conn.execute(text("SELECT training_id FROM trainings")).all()),
                             dtype=object)
        later = events[events["event"].isin(["view", "enrol"])].sample(frac=1.0, random_state=SEED)
        later = later.groupby("holder_id", sort=False).head(FOLLOWED_PER_HOLDER)
        followed = pd.DataFrame({"holder_id": later["holder_id"], "training_id": later["training_id"],
                                 "shown_at": later["occurred_at"] - pd.Timedelta(days=1)})
        start, end = events["occurred_at"].min(), events["occurred_at"].max()
        span = (end - start).total_seconds()
        times = start + pd.to_timedelta(rng.uniform(0, span, len(holders)), unit="s")
        drawn = pd.DataFrame({
            "holder_id": np.repeat(holders, IMPRESSIONS_PER_HOLDER),
            "training_id": trainings[rng.integers(0, len(trainings), len(holders) * IMPRESSIONS_PER_HOLDER)],
            "shown_at": np.repeat(times.to_numpy(), IMPRESSIONS_PER_HOLDER),
        })
        keep = IMPRESSIONS_PER_HOLDER - followed.groupby("holder_id").size().reindex(holders, fill_value=0)
        drawn = drawn[drawn.groupby("holder_id").cumcount() < drawn["holder_id"].map(keep)]
        shown = pd.concat([followed, drawn], ignore_index=True).sort_values(["holder_id", "shown_at"], kind="stable")
        shown["rank"] = shown.groupby("holder_id").cumcount() + 1
        shown["model_version"] = "bench"
        shown["shown_at"] = shown["shown_at"].dt.to_pydatetime()
        _insert(conn, Impression.__table__, shown)
        if engine.dialect.name == "postgresql":  # explicit ids were written: move the sequences past them
            for table, column in (("enrolments", "enrolment_id"), ("ledger_accounts", "account_id"),
                                  ("ledger_transactions", "transaction_id"), ("ledger_entries", "entry_id")):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                  f"(SELECT max({column}) FROM {table}))"))
    return {"files": len(files), "ledger_transactions": len(transactions), "ledger_entries": len(ledger),
            "impressions": len(shown), "interactions": len(events)}


def measure(url: str, repeats: int = REPEATS) -> list[dict[str, Any]]:
    """Seconds of each published table (best of ``repeats``), with its number of cells, the load average (1 min)
    after it, and the table as published (``published``: JSON-ready, compared across databases by ``run``)."""
    from parcours.store.engine import get_engine, session_factory
    from serving.services.statistics import BY, INDICATORS, cross_table, statistics_table
    from serving.services.stats_report import CROSS

    factory = session_factory(url)
    rows: list[dict[str, Any]] = []
    jobs: list[tuple[str, str, Any]] = [
        (name, by, lambda s, n=name, b=by: statistics_table(s, n, b)) for name in INDICATORS for by in BY
    ]
    jobs.append((CROSS[0], f"{CROSS[1]} × {CROSS[2]}", lambda s: cross_table(s, *CROSS)))
    for name, by, job in jobs:
        times, cpu, server = [], [], []
        for _ in range(repeats):
            with factory() as session:
                clock = _server_clock(session)
                server_started = clock() if clock else 0.0
                started, cpu_started = time.perf_counter(), time.process_time()
                table = job(session)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
                if clock:
                    server.append(clock() - server_started)
        rows.append({"indicator": name, "by": by, "seconds": min(times), "cpu": min(cpu),
                     "server_cpu": min(server) if server else None, "cells": len(table.cells),
                     "load": os.getloadavg()[0], "published": _published(table)})
    get_engine(url).dispose()
    return rows


def _server_clock(session: Any) -> Any:
    """The CPU seconds the PostgreSQL server spent for this session so far, as a function, when the server runs
    on this machine (``/proc``); None otherwise (SQLite, a remote server). Its backend's time plus the time of
    the postmaster's ended children: the parallel workers a statement starts end with it (another session
    ending meanwhile would count too)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return None
    backend = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    try:
        postmaster = int(stat(backend)[1])
        if not all(b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in (backend, postmaster)):
            return None
    except OSError:
        return None

    def clock() -> float:
        own, children = stat(backend), stat(postmaster)
        return (int(own[11]) + int(own[12]) + int(children[13]) + int(children[14])) / tick

    return clock


def _published(table: Any) -> Any:
    """The table as published, JSON-ready (a cross table's cells keyed ``row|column``)."""
    if hasattr(table, "as_dict"):
        return table.as_dict()
    cells = {f"{key[0]}|{key[1]}": vars(cell) for key, cell in sorted(table.cells.items())}
    return {"cells": cells, "rows": {k: vars(c) for k, c in sorted(table.rows.items())},
            "columns": {k: vars(c) for k, c in sorted(table.columns.items())}, "total": vars(table.total)}


def differing(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The tables (``indicator by``) whose published cells differ between the databases measured."""
    first, *others = runs.values()
    out = []
    for other in others:
        for a, b in zip(first, other, strict=True):
            if json.dumps(a["published"], sort_keys=True) != json.dumps(b["published"], sort_keys=True):
                out.append(f"{a['indicator']} {a['by']}")
    return out


NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _views(frames: dict[str, pd.DataFrame]) -> list[tuple[str, str, pd.Series]]:
    """(database, figure, seconds per table): SQLite's CPU time (it runs in this process: the query's own, the
    figure read while other jobs share the cores); PostgreSQL's wall time and, when measured, its server's CPU."""
    views = []
    for dialect, frame in frames.items():
        name = NAMES.get(dialect, dialect)
        if dialect == "sqlite":
            views.append((name, "CPU", frame["cpu"]))
            continue
        views.append((name, "wall", frame["seconds"]))
        if frame["server_cpu"].notna().all():
            views.append((name, "server CPU", frame["server_cpu"].astype(float)))
    return views


def render(runs: dict[str, list[dict[str, Any]]], info: dict[str, dict[str, Any]], same: list[str] | None) -> str:
    """The section: one column per database measured (``runs`` and ``info`` keyed by dialect name)."""
    frames = {dialect: pd.DataFrame(rows) for dialect, rows in runs.items()}
    dialects = list(frames)
    views = _views(frames)
    any_info = next(iter(info.values()))
    counts = any_info.get("populated", {})
    if same is None:
        equal = "one database measured: no comparison"
    elif not same:
        equal = "every published cell equal on " + " and ".join(NAMES.get(d, d) for d in dialects)
    else:
        equal = f"**{len(same)} tables differ** between the databases: " + ", ".join(same)
    lines = [
        "## Statistics aggregates on the large world (issue 18)",
        "",
        f"The large world ({any_info.get('imported')}) with {counts.get('interactions', 0):,} interactions, and "
        f"drawn from them {counts.get('files', 0):,} files, {counts.get('ledger_entries', 0):,} ledger entries and "
        f"{counts.get('impressions', 0):,} impressions (module docstring; the same draw on every database). Each "
        f"table is `statistics_table` (the API's `GET /v1/statistics/{{indicator}}?by=`: grouped statement, total, "
        f"suppression), best of {REPEATS} runs; the report's cross table last. Target ≤ {TARGET_SECONDS:.0f} s "
        f"each. Published tables: {equal}.",
        "",
        "SQLite runs in the benchmark's process: its CPU time is the query's own, the figure read while other "
        "jobs share the 2 cores. PostgreSQL works in its server: wall time is the figure the API answers in, and "
        "it grows with the load average; *server CPU* is the time of the statement's backend and of the parallel "
        "workers it started (read from `/proc`, the server running on this machine), the figure comparable "
        "with SQLite's."
        + (" PostgreSQL's tables were read after `VACUUM ANALYZE` (the planner's statistics and the visibility map; "
           f"{info['postgresql'].get('vacuum_seconds', '?')} s), as autovacuum or a nightly job leaves them."
           if "postgresql" in info else ""),
        "",
        "| database | figure | load average (1 min) over the run | tables | median (s) | slowest (s) | over 2 s |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    loads = {NAMES.get(d, d): frame["load"] for d, frame in frames.items()}
    for name, figure, seconds in views:
        load = loads[name]
        lines.append(
            f"| {name}{' ' + info[_dialect(name)].get('server', '') if info[_dialect(name)].get('server') else ''} "
            f"| {figure} | {load.min():.1f}–{load.max():.1f} (mean {load.mean():.1f}) | {len(seconds)} | "
            f"{seconds.median():.2f} | {seconds.max():.2f} | {int((seconds > TARGET_SECONDS).sum())} |")
    indicators = frames[dialects[0]]["indicator"]
    per = [seconds.groupby(indicators.to_numpy(), sort=False).agg(["median", "max"]) for _n, _f, seconds in views]
    header = " | ".join(f"{name} {figure} median | {name} {figure} slowest" for name, figure, _s in views)
    lines += ["", "Per indicator, over its 6 dimensions (s):", "", f"| indicator | {header} |",
              "|---|" + "---:|---:|" * len(views)]
    for indicator in per[0].index:
        lines.append(f"| {indicator} | " + " | ".join(
            f"{table.loc[indicator, 'median']:.2f} | {table.loc[indicator, 'max']:.2f}" for table in per) + " |")
    for dialect, frame in frames.items():
        name = NAMES.get(dialect, dialect)
        figure, seconds = next((f, s) for n, f, s in views if n == name)
        worst = frame.assign(read=seconds).sort_values("read", ascending=False).head(8)
        server = dialect != "sqlite" and frame["server_cpu"].notna().all()
        lines += ["", f"Slowest tables on {name} ({figure}):", "",
                  "| indicator | by | CPU in the process (s) |" + (" server CPU (s) |" if server else "")
                  + " wall (s) | cells | load (1 min) |",
                  "|---|---|---:|" + ("---:|" if server else "") + "---:|---:|---:|",
                  *[f"| {r.indicator} | {r.by} | {r.cpu:.2f} |" + (f" {r.server_cpu:.2f} |" if server else "")
                    + f" {r.seconds:.2f} | {r.cells} | {r.load:.1f} |" for r in worst.itertuples()]]
    lines += [
        "",
        "At 40 million holders (400 times the files and impressions) one statement per table no longer fits a "
        "request: the per-holder level of each indicator would be materialised nightly (a table or materialized "
        "view keyed by holder and month, refreshed from the day's files, ledger postings and impressions), and "
        "the published tables grouped from it, or computed by DuckDB or Spark over Parquet exports of the same "
        "three facts; the suppression runs unchanged on the grouped counts (docs/statistics.md).",
        "",
        "Reproduce: `python -m training.bench --only stats` (SQLite, `<work dir>/stats-large.db`; with "
        "`PARCOURS_BENCH_STATS_DB=postgresql+psycopg://…` PostgreSQL too, in the same run).",
    ]
    return "\n".join(lines)


def _dialect(name: str) -> str:
    return next((d for d, n in NAMES.items() if n == name), name)


def run(work_dir: Path) -> str:
    from sqlalchemy.engine import make_url

    runs: dict[str, list[dict[str, Any]]] = {}
    info: dict[str, dict[str, Any]] = {}
    for url in database_urls(Path(work_dir)):
        url, facts = ensure_database(Path(work_dir), url)
        dialect = make_url(url).get_dialect().name
        facts["server"] = _server_version(url)
        runs[dialect] = measure(url)
        info[dialect] = facts
    return render(runs, info, differing(runs) if len(runs) > 1 else None)
