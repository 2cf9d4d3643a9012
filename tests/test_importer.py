"""``parcours import DIR``: validation (file, row, field of each problem), all-or-nothing per file, re-import.

World folders are written by ``tests/world_files.py`` from rows of strings, with real ESCO URIs, so each case
breaks exactly one field of one row and knows which file, row and field the importer must name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from ingest.csv_reader import split_list
from ingest.world_import import import_folder
from parcours.cli import app
from parcours.domain.ledger import holder_balances_cents
from parcours.errors import ParcoursError, ValidationFailed
from parcours.settings import Settings
from parcours.store.engine import get_engine, session_scope
from parcours.store.models import Experience, ImportRun, Training
from tests.world_files import (
    AS_OF,
    TRAINING_COLUMNS,
    esco_sample,
    world_rows,
    write_csv,
    write_world,
)

Rows = dict[str, list[dict[str, str]]]

# What each file writes, and which files are not imported when it fails.
FILE_TABLES = {
    "trainings.csv": ("providers", "trainings", "training_sessions"),
    "holders.csv": ("holders", "ledger"),
    "experience.csv": ("experience",),
    "interactions.csv": ("interactions",),
}
DEPENDENTS = {
    "trainings.csv": ("interactions.csv",),
    "holders.csv": ("experience.csv", "interactions.csv"),
    "experience.csv": (),
    "interactions.csv": (),
}
VOLATILE = {"updated_at", "created_at", "imported_at", "experience_id", "interaction_id"}


def snapshot(url: str, table: str) -> list[tuple[Any, ...]]:
    """A table's content without generated ids and timestamps, sorted; "ledger" joins the ledger tables."""
    rows: list[tuple[Any, ...]]
    with get_engine(url).connect() as connection:
        if table == "ledger":
            query = text(
                "SELECT t.kind, t.reference, t.actor, t.effective_date, a.code, a.kind, e.amount_cents "
                "FROM ledger_entries e JOIN ledger_transactions t ON t.transaction_id = e.transaction_id "
                "JOIN ledger_accounts a ON a.account_id = e.account_id"
            )
            rows = [tuple(row) for row in connection.execute(query)]
            rows += [
                tuple(row)
                for row in connection.execute(text("SELECT code, kind, holder_id FROM ledger_accounts"))
            ]
        else:
            result = connection.execute(text(f"SELECT * FROM {table}"))
            columns = list(result.keys())
            keep = [i for i, c in enumerate(columns) if c not in VOLATILE]
            rows = [tuple(row[i] for i in keep) for row in result.all()]
    return sorted(tuple(str(v) for v in row) for row in rows)


def snapshot_all(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {table: snapshot(url, table) for tables in FILE_TABLES.values() for table in tables}


def count(url: str, table: str) -> int:
    with get_engine(url).connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def problem_at(exc: ValidationFailed, file: str, row: int | None, field: str | None) -> dict[str, object]:
    matches = [p for p in exc.problems if (p["file"], p["row"], p["field"]) == (file, row, field)]
    assert matches, f"no problem at {file} row {row} field {field}; got {exc.problems}"
    return matches[0]


def import_expecting_failure(folder: Path, url: str, settings: Settings | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        import_folder(folder, url, settings=settings, progress=False)
    return caught.value


def test_valid_world_loads_everything(db_url: str, tmp_path: Path) -> None:
    rows = write_world(tmp_path / "world")
    summary = import_folder(tmp_path / "world", db_url, progress=False)

    assert "trainings.csv: imported" in summary and "interactions.csv: imported" in summary
    assert count(db_url, "trainings") == len(rows["trainings.csv"])
    assert count(db_url, "providers") == len({r["provider_id"] for r in rows["trainings.csv"]})
    assert count(db_url, "training_sessions") == sum(
        len(split_list(r["start_dates"])) for r in rows["trainings.csv"]
    )
    assert count(db_url, "holders") == len(rows["holders.csv"])
    assert count(db_url, "experience") == len(rows["experience.csv"])
    assert count(db_url, "interactions") == len(rows["interactions.csv"])
    assert count(db_url, "import_runs") == 4
    with session_scope(db_url) as session:
        for holder in rows["holders.csv"]:
            balances = holder_balances_cents(session, holder["holder_id"])
            assert balances["cpf"] == int(holder["cpf_balance_cents"])
            assert balances["cec"] == int(holder["cec_balance_cents"])
        dates = set(session.scalars(text("SELECT DISTINCT effective_date FROM ledger_transactions")))
        assert {str(d)[:10] for d in dates} == {AS_OF.isoformat()}  # the manifest's as_of
        training = session.get(Training, "T000001")
        assert training is not None
        first = rows["trainings.csv"][1]
        assert training.skills == split_list(first["skills"])
        assert training.price_cents == int(first["price_cents"]) and training.level == int(first["level"])
        assert [s.start_date for s in training.sessions] == [dt.date(2025, 3, 1), dt.date(2025, 9, 1)]
        assert {e.source for e in session.scalars(select(Experience))} == {"import"}
        runs = session.scalars(select(ImportRun)).all()
        assert {r.file_name: r.rows for r in runs} == {
            name: len(file_rows) for name, file_rows in rows.items()
        }
        assert all(len(r.sha256) == 64 for r in runs)


# --- One bad field in one row: the file and the files depending on it are not written at all ----------------

ESCO = esco_sample()
UNKNOWN_SKILL = "http://data.europa.eu/esco/skill/00000000-0000-0000-0000-000000000000"

# (case, file, data row index (0: first after the header), field, bad value, reported field, message part)
BAD_ROWS = [
    ("bad type", "holders.csv", 1, "birth_year", "nineteen", None, "whole number"),
    ("bad enum modality", "trainings.csv", 1, "modality", "online", None, "one of"),
    ("bad enum status", "holders.csv", 2, "employment_status", "retired", None, "one of"),
    ("bad enum kind", "experience.csv", 1, "kind", "hobby", None, "one of"),
    ("bad enum event", "interactions.csv", 1, "event", "click", None, "one of"),
    ("negative cents", "holders.csv", 1, "cpf_balance_cents", "-100", None, "negative"),
    ("float cents", "trainings.csv", 2, "price_cents", "12.5", None, "whole cents"),
    ("float cents balance", "holders.csv", 2, "cec_balance_cents", "100.00", None, "whole cents"),
    ("bad date", "experience.csv", 1, "start_date", "2020-02-30", None, "ISO date"),
    ("end before start", "experience.csv", 2, "end_date", "2014-12-31", None, "before start_date"),
    ("unknown ESCO skill", "trainings.csv", 1, "skills", UNKNOWN_SKILL, None, "not an ESCO skill"),
    (
        "occupation as skill",
        "trainings.csv",
        1,
        "prerequisites",
        ESCO.occupations[0],
        None,
        "is an ESCO occupation, not an ESCO skill",
    ),
    (
        "ISCO group as occupation",
        "trainings.csv",
        2,
        "target_occupations",
        ESCO.isco_group,
        None,
        "ISCO group",
    ),
    ("ISCO group as target", "holders.csv", 1, "target_occupation", ESCO.isco_group, None, "ISCO group"),
    ("ISCO group as experience", "experience.csv", 1, "esco_uri", ESCO.isco_group, None, "ISCO group"),
    ("unknown holder", "interactions.csv", 1, "holder_id", "H999999", None, "unknown holder"),
    ("unknown holder of experience", "experience.csv", 3, "holder_id", "H999999", None, "unknown holder"),
    ("unknown training", "interactions.csv", 2, "training_id", "T999999", None, "unknown training"),
    ("duplicate id", "trainings.csv", 2, "training_id", "T000001", None, "first given on row 3"),
    ("empty required field", "trainings.csv", 1, "title", "", None, "required"),
    ("empty required id", "interactions.csv", 1, "training_id", "", None, "required"),
    ("over-long field", "trainings.csv", 1, "title", "x" * 501, None, "over the limit of 500"),
    ("over-long id", "holders.csv", 1, "holder_id", "H" * 65, None, "over the limit of 64"),
    ("id with a space", "trainings.csv", 1, "training_id", "T 1", None, "no spaces"),
    (
        "non-UTC timestamp",
        "interactions.csv",
        1,
        "timestamp",
        "2024-03-01T10:00:00+01:00",
        None,
        "must be UTC",
    ),
    ("naive timestamp", "interactions.csv", 2, "timestamp", "2024-03-01T10:00:00", None, "no time zone"),
    ("not a timestamp", "interactions.csv", 1, "timestamp", "yesterday", None, "ISO 8601"),
    ("bad certification code", "trainings.csv", 1, "certification_code", "RNCPX12", None, "RNCP or RS"),
    ("bad level", "trainings.csv", 2, "level", "9", None, "level from 3 to 8"),
    ("zero hours", "trainings.csv", 1, "hours", "0", None, "between 1"),
    ("bad date in list", "trainings.csv", 1, "start_dates", "2025-03-01|March 2025", None, "'March 2025'"),
    ("provider named twice", "trainings.csv", 2, "provider_id", "P1", "provider_name", "named 'Provider 1'"),
]


def with_visible_changes(rows: Rows) -> Rows:
    """A valid change in every file, so that a file written even in part would show in the database."""
    changed = {name: [dict(row) for row in file_rows] for name, file_rows in rows.items()}
    changed["trainings.csv"][0]["title"] = "Training 0, new edition"
    changed["holders.csv"][0]["cpf_balance_cents"] = str(
        int(rows["holders.csv"][0]["cpf_balance_cents"]) + 1000
    )
    changed["experience.csv"][0]["label"] = "Job 0, updated"
    changed["interactions.csv"].append(
        {
            "holder_id": "H000000",
            "training_id": "T000001",
            "event": "view",
            "timestamp": "2024-12-31T23:59:59Z",
        }
    )
    return changed


@pytest.mark.parametrize(
    ("file", "index", "field", "value", "reported", "message"),
    [case[1:] for case in BAD_ROWS],
    ids=[case[0] for case in BAD_ROWS],
)
def test_bad_row_is_reported_and_nothing_of_its_file_is_written(
    db_url: str,
    tmp_path: Path,
    file: str,
    index: int,
    field: str,
    value: str,
    reported: str | None,
    message: str,
) -> None:
    rows = write_world(tmp_path / "first")
    import_folder(tmp_path / "first", db_url, progress=False)
    before = snapshot_all(db_url)

    broken = with_visible_changes(rows)
    broken[file][index][field] = value
    write_world(tmp_path / "broken", broken)
    exc = import_expecting_failure(tmp_path / "broken", db_url)

    problem = problem_at(exc, file, index + 2, reported or field)
    assert message in str(problem["message"])
    after = snapshot_all(db_url)
    untouched = {file, *DEPENDENTS[file]}
    for name, tables in FILE_TABLES.items():
        if name in untouched:
            for table in tables:
                assert after[table] == before[table], f"{table} changed although {name} was not imported"
        else:
            assert any(after[t] != before[t] for t in tables), f"{name} was not imported although it could be"
    for dependent in DEPENDENTS[file]:
        problem_at(exc, dependent, None, None)  # "not imported: depends on …"


def test_bad_row_on_a_fresh_database_writes_nothing_of_the_file(db_url: str, tmp_path: Path) -> None:
    rows = world_rows()
    rows["holders.csv"][2]["cpf_balance_cents"] = "-1"
    write_world(tmp_path / "world", rows)

    exc = import_expecting_failure(tmp_path / "world", db_url)

    problem_at(exc, "holders.csv", 4, "cpf_balance_cents")
    for table in (
        "holders",
        "ledger_accounts",
        "ledger_transactions",
        "ledger_entries",
        "experience",
        "interactions",
    ):
        assert count(db_url, table) == 0, table
    assert count(db_url, "trainings") == len(rows["trainings.csv"])  # independent of holders: imported
    with session_scope(db_url) as session:
        assert set(session.scalars(select(ImportRun.file_name))) == {"trainings.csv"}
    assert "imported: trainings.csv" in str(exc)


def test_one_bad_row_among_ten_thousand_commits_nothing_of_that_file(db_url: str, tmp_path: Path) -> None:
    rows = world_rows(trainings=5, holders=10, interactions_per_holder=0)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows["interactions.csv"] = [
        {
            "holder_id": f"H{k % 10:06d}",
            "training_id": f"T{k % 5:06d}",
            "event": "view",
            "timestamp": (start + dt.timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for k in range(10_000)
    ]
    rows["interactions.csv"][6_000]["event"] = "clicked"  # in the 7th chunk of 1,000 rows
    rows["interactions.csv"][9_998]["timestamp"] = "2024-01-01T00:00:00+05:30"  # and one in the last chunk
    write_world(tmp_path / "world", rows)

    exc = import_expecting_failure(tmp_path / "world", db_url, Settings(import_chunk_rows=1_000))

    assert [(p["row"], p["field"]) for p in exc.problems] == [(6_002, "event"), (10_000, "timestamp")]
    assert count(db_url, "interactions") == 0
    assert count(db_url, "holders") == 10  # its own transaction, committed before


def test_bom_crlf_and_quoted_newlines_keep_row_numbers_and_values(db_url: str, tmp_path: Path) -> None:
    rows = world_rows(trainings=4)
    trainings = rows["trainings.csv"]
    trainings[0]["description"] = "First line,\r\nsecond line | with a pipe\r\nthird line"
    trainings[1]["title"] = '  A title, with "quotes" and a comma  '
    write_world(tmp_path / "world", rows)
    write_csv(tmp_path / "world" / "trainings.csv", TRAINING_COLUMNS, trainings, bom=True, line_end="\r\n")
    trainings[3]["price_cents"] = "-5"
    write_world(tmp_path / "broken", rows)
    write_csv(tmp_path / "broken" / "trainings.csv", TRAINING_COLUMNS, trainings, bom=True, line_end="\r\n")

    # Record 1 spans lines 2-4, so the 4th record (price -5) starts on line 7, as an editor shows it.
    exc = import_expecting_failure(tmp_path / "broken", db_url)
    problem_at(exc, "trainings.csv", 7, "price_cents")

    import_folder(tmp_path / "world", db_url, progress=False)
    with session_scope(db_url) as session:
        first, second = session.get(Training, "T000000"), session.get(Training, "T000001")
        assert first is not None and second is not None
        assert first.description == "First line,\r\nsecond line | with a pipe\r\nthird line"
        assert second.title == 'A title, with "quotes" and a comma'  # outer whitespace stripped


def test_missing_column(db_url: str, tmp_path: Path) -> None:
    rows = write_world(tmp_path / "world")
    columns = [c for c in TRAINING_COLUMNS if c != "hours"]
    write_csv(
        tmp_path / "world" / "trainings.csv",
        columns,
        [{c: r[c] for c in columns} for r in rows["trainings.csv"]],
    )

    exc = import_expecting_failure(tmp_path / "world", db_url)

    assert "missing column 'hours'" in str(problem_at(exc, "trainings.csv", 1, "hours")["message"])
    assert count(db_url, "trainings") == 0 and count(db_url, "interactions") == 0


def test_non_utf8_file_is_refused_naming_the_line(db_url: str, tmp_path: Path) -> None:
    write_world(tmp_path / "world")
    path = tmp_path / "world" / "holders.csv"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b",84,", b",8\xe9,")  # latin-1 "é" on line 3
    path.write_bytes(b"\n".join(lines))

    exc = import_expecting_failure(tmp_path / "world", db_url)

    assert "not UTF-8" in str(problem_at(exc, "holders.csv", 3, None)["message"])
    assert count(db_url, "holders") == 0 and count(db_url, "ledger_transactions") == 0


def test_missing_file_blocks_only_the_files_depending_on_it(db_url: str, tmp_path: Path) -> None:
    rows = write_world(tmp_path / "world")
    (tmp_path / "world" / "holders.csv").unlink()

    exc = import_expecting_failure(tmp_path / "world", db_url)

    assert "missing required file" in str(problem_at(exc, "holders.csv", None, None)["message"])
    problem_at(exc, "experience.csv", None, None)
    problem_at(exc, "interactions.csv", None, None)
    assert count(db_url, "trainings") == len(rows["trainings.csv"])
    assert count(db_url, "experience") == 0 and count(db_url, "interactions") == 0


def test_oversized_file_is_refused(db_url: str, tmp_path: Path) -> None:
    write_world(tmp_path / "world")
    size = (tmp_path / "world" / "trainings.csv").stat().st_size

    exc = import_expecting_failure(tmp_path / "world", db_url, Settings(import_max_file_bytes=size - 1))

    assert "over the import limit" in str(problem_at(exc, "trainings.csv", None, None)["message"])
    assert count(db_url, "trainings") == 0


def test_record_with_wrong_number_of_fields(db_url: str, tmp_path: Path) -> None:
    write_world(tmp_path / "world")
    path = tmp_path / "world" / "interactions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] += ",surplus"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    exc = import_expecting_failure(tmp_path / "world", db_url)

    assert "5 fields where the header has 4" in str(problem_at(exc, "interactions.csv", 4, None)["message"])
    assert count(db_url, "interactions") == 0


def test_bad_manifest_date_stops_before_anything_is_written(db_url: str, tmp_path: Path) -> None:
    write_world(tmp_path / "world")
    (tmp_path / "world" / "manifest.json").write_text('{"as_of": "first of May"}', encoding="utf-8")

    exc = import_expecting_failure(tmp_path / "world", db_url)

    problem_at(exc, "manifest.json", None, "as_of")
    assert count(db_url, "trainings") == 0


def test_database_error_rolls_back_the_whole_file(db_url: str, tmp_path: Path) -> None:
    """A refusal by the database itself (here a trigger) in the 3rd chunk leaves nothing of the file."""
    with get_engine(db_url).begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON interactions WHEN NEW.holder_id = 'H000002' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the database'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.holder_id = 'H000002' THEN "
                    "RAISE EXCEPTION 'refused by the database'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON interactions "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
    write_world(tmp_path / "world", world_rows(holders=3, interactions_per_holder=4))

    exc = import_expecting_failure(tmp_path / "world", db_url, Settings(import_chunk_rows=4))

    assert "refused by the database" in str(problem_at(exc, "interactions.csv", None, None)["message"])
    assert count(db_url, "interactions") == 0
    assert count(db_url, "experience") == 6  # the files before it stay imported
    with session_scope(db_url) as session:
        assert "interactions.csv" not in set(session.scalars(select(ImportRun.file_name)))


def test_database_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    write_world(tmp_path / "world")
    (tmp_path / "a_file").write_text("not a folder")

    with pytest.raises(ParcoursError, match="cannot open the database"):
        import_folder(tmp_path / "world", f"sqlite:///{tmp_path}/a_file/parcours.db", progress=False)


def test_sqlite_folder_is_created(tmp_path: Path) -> None:
    write_world(tmp_path / "world")

    url = f"sqlite:///{tmp_path}/new/folder/parcours.db"
    import_folder(tmp_path / "world", url, progress=False)

    assert count(url, "trainings") == 3
    get_engine(url).dispose()


# --- Re-import ----------------------------------------------------------------------------------------------


def ledger_totals(url: str) -> tuple[int, int, int]:
    with get_engine(url).connect() as connection:
        transactions = connection.execute(text("SELECT count(*) FROM ledger_transactions")).scalar_one()
        entries = connection.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one()
        held = connection.execute(
            text(
                "SELECT coalesce(sum(e.amount_cents), 0) FROM ledger_entries e "
                "JOIN ledger_accounts a ON a.account_id = e.account_id WHERE a.holder_id IS NOT NULL"
            )
        ).scalar_one()
    return int(transactions), int(entries), int(held)


def test_reimport_of_the_same_folder_is_idempotent(db_url: str, tmp_path: Path) -> None:
    write_world(tmp_path / "world")
    import_folder(tmp_path / "world", db_url, progress=False)
    first, totals = snapshot_all(db_url), ledger_totals(db_url)

    summary = import_folder(tmp_path / "world", db_url, progress=False)

    assert snapshot_all(db_url) == first
    assert ledger_totals(db_url) == totals
    assert "0 balance postings" in summary and "0 new interactions" in summary


def test_reimport_with_changed_values_updates(db_url: str, tmp_path: Path) -> None:
    rows = write_world(tmp_path / "first")
    import_folder(tmp_path / "first", db_url, progress=False)
    with session_scope(db_url) as session:
        old_hash = session.scalars(
            select(Training.content_hash).where(Training.training_id == "T000000")
        ).one()
        session.add(
            Experience(
                holder_id="H000000",
                kind="diploma",
                label="Declared later through the API",
                start_date=dt.date(2010, 6, 30),
                source="declared",
            )
        )
        session.execute(
            text("UPDATE holders SET personalisation_enabled = false WHERE holder_id = 'H000001'")
        )

    changed = {name: [dict(r) for r in file_rows] for name, file_rows in rows.items()}
    training = changed["trainings.csv"][0]
    training.update(
        title="Renamed training", price_cents="123456", start_dates="2026-01-05", skills=ESCO.skills[5]
    )
    changed["holders.csv"][0].update(cpf_balance_cents="7000", employment_status="job_seeker")
    changed["experience.csv"] = [r for r in changed["experience.csv"] if r["holder_id"] != "H000001"]
    changed["experience.csv"][0]["label"] = "Job 0, renamed"
    changed["interactions.csv"].append(
        {
            "holder_id": "H000002",
            "training_id": "T000000",
            "event": "enrol",
            "timestamp": "2024-12-01T08:00:00Z",
        }
    )
    write_world(tmp_path / "second", changed)
    import_folder(tmp_path / "second", db_url, progress=False)

    with session_scope(db_url) as session:
        renamed = session.get(Training, "T000000")
        assert renamed is not None
        assert (renamed.title, renamed.price_cents, renamed.skills) == (
            "Renamed training",
            123456,
            [ESCO.skills[5]],
        )
        assert renamed.content_hash != old_hash
        assert [s.start_date for s in renamed.sessions] == [dt.date(2026, 1, 5)]
        assert holder_balances_cents(session, "H000000")["cpf"] == 7000
        personalised: dict[str, bool] = dict(
            session.execute(text("SELECT holder_id, personalisation_enabled FROM holders")).all()
        )
        assert not personalised["H000001"] and personalised["H000000"]  # the holder's choice is kept
        assert (
            session.scalar(text("SELECT employment_status FROM holders WHERE holder_id = 'H000000'"))
            == "job_seeker"
        )
        openings = session.scalars(
            text(
                "SELECT kind FROM ledger_transactions "
                "WHERE reference LIKE 'opening:H000000:cpf:%' ORDER BY reference"
            )
        ).all()
        assert openings == ["opening_balance", "opening_adjustment"]
        labels = {(e.holder_id, e.label, e.source) for e in session.scalars(select(Experience))}
        assert ("H000000", "Job 0, renamed", "import") in labels
        assert ("H000000", "Declared later through the API", "declared") in labels  # kept
        assert not any(holder == "H000001" and source == "import" for holder, _label, source in labels)
        assert (
            session.scalar(select(func.count()).select_from(text("interactions")))
            == len(rows["interactions.csv"]) + 1
        )


# --- Command line -------------------------------------------------------------------------------------------


def test_cli_reports_file_row_field_and_exits_1(db_url: str, tmp_path: Path) -> None:
    rows = world_rows()
    rows["trainings.csv"][1]["price_cents"] = "12.5"
    write_world(tmp_path / "world", rows)

    result = CliRunner().invoke(app, ["import", str(tmp_path / "world"), "--db", db_url])

    assert result.exit_code == 1
    output = result.output + (result.stderr or "")
    assert "file=trainings.csv, row=3, field=price_cents: must be whole cents" in output
    assert count(db_url, "trainings") == 0


def test_cli_prints_the_summary_on_success(db_url: str, tmp_path: Path) -> None:
    write_world(tmp_path / "world")

    result = CliRunner().invoke(app, ["import", str(tmp_path / "world"), "--db", db_url])

    assert result.exit_code == 0, result.output
    assert "interactions.csv: imported" in result.output
