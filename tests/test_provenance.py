"""State that belongs together stays together (issue 17): the index and the champion record the database they were
built on, and a server pointed at another database with the same data folder refuses them (503 with the reason and
how to rebuild, /ready not ready), while the same database whose catalogue changed since is served and said stale.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text, update
from typer.testing import CliRunner

from parcours.settings import Settings, get_settings
from parcours.store.engine import get_engine, migrate, session_scope
from parcours.store.identity import database_identity
from parcours.store.models import DatabaseIdentity, Training, TrainingSession
from recommender.index import IndexMetadata
from recommender.indexing import build_index, index_info
from recommender.provenance import OtherDatabase, Provenance, check_index_provenance, current_provenance
from serving.app import create_app
from serving.services.users import UserSpec, upsert_users
from tests.search_catalogue import cache_folder, seed_catalogue

PASSWORD = "provenance-tests-password"


def _identity(url: str) -> str:
    with session_scope(url) as session:
        return database_identity(session)


def _copy_sqlite(url: str, path: Path) -> str:
    """A consistent copy of a SQLite database (WAL included), as a restored backup is; its URL."""
    import sqlite3

    source, target = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(path)
    with target:
        source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{path}"


def _users(url: str) -> None:
    upsert_users(url, [UserSpec(username="ana", password=PASSWORD, role="analyst")], source="test")


def token(client: TestClient, username: str = "ana") -> dict[str, str]:
    answer = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="module")
def two_databases(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    """Database A (index built in its data folder) and database B: the same catalogue, created apart."""
    folder = tmp_path_factory.mktemp("provenance")
    shutil.copyfile(sqlite_template, folder / "a.db")
    url_a = f"sqlite:///{folder / 'a.db'}"
    url_b = f"sqlite:///{folder / 'b.db'}"
    migrate(url_b)  # a database of its own, as `parcours import` into a new URL makes one
    for url in (url_a, url_b):
        seed_catalogue(url, today=dt.date.today())
        _users(url)
    settings = Settings(data_dir=folder / "data", cache_dir=cache_folder(tmp_path_factory), db_url=url_a)
    build_index(url_a, settings)
    yield settings, url_b
    for url in (url_a, url_b):
        get_engine(url).dispose()


def test_each_database_has_its_own_identity_written_by_the_migration(two_databases) -> None:  # type: ignore[no-untyped-def]
    settings, url_b = two_databases
    a, b = _identity(settings.resolved_db_url()), _identity(url_b)
    assert a != b and str(uuid.UUID(a)) == a and str(uuid.UUID(b)) == b
    assert _identity(url_b) == b  # stable


def test_a_missing_identity_row_is_written_at_first_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate(url)
    with session_scope(url) as session:
        session.execute(delete(DatabaseIdentity))
    first = _identity(url)
    assert first and _identity(url) == first
    get_engine(url).dispose()


def test_the_index_records_the_database_and_catalogue(two_databases) -> None:  # type: ignore[no-untyped-def]
    settings, _url_b = two_databases
    meta = IndexMetadata.read(settings.resolved_index_dir())
    with session_scope(settings.resolved_db_url()) as session:
        current = current_provenance(session)
    assert meta.database_id == current.database_id
    assert meta.catalogue_fingerprint == current.catalogue_fingerprint
    assert meta.catalogue_trainings == current.trainings == 17  # every training, the closed one too


def test_another_database_with_the_same_data_folder_is_refused(two_databases) -> None:  # type: ignore[no-untyped-def]
    settings, url_b = two_databases
    other = settings.model_copy(update={"db_url": url_b})
    with TestClient(create_app(other)) as client:
        answer = client.get("/v1/trainings/search", params={"q": "accounting"}, headers=token(client))
        assert answer.status_code == 503, answer.text
        detail = answer.json()["detail"]
        assert _identity(settings.resolved_db_url()) in detail and _identity(url_b) in detail
        assert "parcours index build --full" in detail and "parcours train" in detail
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert any(r.startswith("catalogue index refused") and "another catalogue" in r
                   for r in ready.json()["reasons"])
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["catalogue_index"]["state"] == "mismatch"


def test_the_same_database_is_served(two_databases) -> None:  # type: ignore[no-untyped-def]
    settings, _url_b = two_databases
    with TestClient(create_app(settings)) as client:
        answer = client.get("/v1/trainings/search", params={"q": "accounting"}, headers=token(client))
        assert answer.status_code == 200 and answer.json()["items"]
        ready = client.get("/ready")
        assert ready.status_code == 200 and "notes" not in ready.json()
        assert client.get("/health").json()["catalogue_index"]["freshness"]["state"] == "ok"


def test_cli_index_info_refuses_another_database_and_says_how_to_rebuild(two_databases) -> None:  # type: ignore[no-untyped-def]
    from parcours.cli import app

    settings, url_b = two_databases
    index_dir = str(settings.resolved_index_dir())
    result = CliRunner().invoke(app, ["index", "info", "--index-dir", index_dir, "--db", url_b])
    assert result.exit_code == 3
    assert "another catalogue" in result.stderr and "parcours index build --full" in result.stderr
    same = CliRunner().invoke(app, ["index", "info", "--index-dir", index_dir, "--db", settings.resolved_db_url()])
    assert same.exit_code == 0, same.stderr


def test_a_changed_catalogue_is_stale_not_another_database(two_databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, _url_b = two_databases
    # A copy of A (the same database, as a restored backup is) whose catalogue then changes, as an import does.
    url = _copy_sqlite(settings.resolved_db_url(), tmp_path / "a-later.db")
    index_dir = tmp_path / "index"
    shutil.copytree(settings.resolved_index_dir(), index_dir)
    later = settings.model_copy(update={"db_url": url, "index_dir": index_dir})
    with session_scope(url) as session:
        training = session.scalars(select(Training).where(Training.training_id == "ACC-01")).one()
        training.price_cents += 100
    with TestClient(create_app(later)) as client:
        answer = client.get("/v1/trainings/search", params={"q": "accounting"}, headers=token(client))
        assert answer.status_code == 200 and answer.json()["items"]
        ready = client.get("/ready")
        assert ready.status_code == 200
        assert len(ready.json()["notes"]) == 1 and "run `parcours index build`" in ready.json()["notes"][0]
        assert client.get("/health").json()["catalogue_index"]["freshness"]["state"] == "stale"
    report = build_index(url, later)  # incremental: the same database's index is updated, not rebuilt
    assert report.mode == "incremental" and report.encoded == 0 and not report.replaced_other_database
    assert index_info(later, db_url=url)["freshness"]["state"] == "ok"
    get_engine(url).dispose()


def test_building_on_another_database_replaces_the_index_in_full(two_databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, url_b = two_databases
    index_dir = tmp_path / "index"
    shutil.copytree(settings.resolved_index_dir(), index_dir)
    other = settings.model_copy(update={"db_url": url_b, "index_dir": index_dir})
    report = build_index(url_b, other)
    assert report.mode == "full" and report.replaced_other_database
    assert "another database's index" in str(report)
    assert IndexMetadata.read(index_dir).database_id == _identity(url_b)
    with TestClient(create_app(other)) as client:
        answer = client.get("/v1/trainings/search", params={"q": "accounting"}, headers=token(client))
        assert answer.status_code == 200 and answer.json()["items"]


def test_the_fingerprint_moves_with_the_catalogue_not_with_the_day(tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "f.db")
    url = f"sqlite:///{tmp_path / 'f.db'}"
    seed_catalogue(url, today=dt.date.today())

    def fingerprint() -> Provenance:
        with session_scope(url) as session:
            return current_provenance(session)

    first = fingerprint()
    assert fingerprint() == first  # nothing changed, another day or not: open-or-not is not part of it
    with session_scope(url) as session:
        session.add(TrainingSession(training_id="ACC-01", start_date=dt.date.today() + dt.timedelta(days=900)))
    moved = fingerprint()
    assert moved.catalogue_fingerprint != first.catalogue_fingerprint and moved.database_id == first.database_id
    with session_scope(url) as session:
        session.execute(update(Training).where(Training.training_id == "ACC-01").values(title="Comptabilité"))
    assert fingerprint().catalogue_fingerprint != moved.catalogue_fingerprint
    get_engine(url).dispose()


def test_an_index_without_provenance_is_served_and_said_unknown() -> None:
    current = Provenance("db-1", "f" * 64, 3)
    assert check_index_provenance(None, None, None, current).state == "unknown"
    assert check_index_provenance("db-1", "f" * 64, 3, current).state == "ok"
    assert check_index_provenance("db-1", "e" * 64, 2, current).state == "stale"
    with pytest.raises(OtherDatabase, match="db-2.*db-1"):
        check_index_provenance("db-2", "f" * 64, 3, current)


# --- the champion ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_elsewhere(tiny_world, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A champion trained on the tiny world's database, and a copy of that database given another identity (the
    same rows, another database: what pointing PARCOURS_DB_URL elsewhere with the same data folder looks like)."""
    from training.registry import train_and_register

    folder, url = tiny_world
    data_dir = tmp_path_factory.mktemp("provenance-model")
    settings = Settings(db_url=url, data_dir=data_dir, cache_dir=get_settings().resolved_cache_dir())
    summary = train_and_register(url, truth_dir=folder, settings=settings)
    assert "version 1 promoted to champion" in summary and f"on database {_identity(url)}" in summary
    other_url = _copy_sqlite(url, data_dir / "other.db")
    with session_scope(other_url) as session:
        session.execute(text("UPDATE database_identity SET database_id = :id"), {"id": str(uuid.uuid4())})
    holder = _holder_with_user(other_url)
    yield settings, other_url, holder, folder
    get_engine(other_url).dispose()


def _holder_with_user(url: str) -> str:
    with session_scope(url) as session:
        holder = str(session.scalar(text("SELECT holder_id FROM holder_profiles WHERE n_skills > 3 "
                                         "ORDER BY holder_id LIMIT 1")))
    upsert_users(url, [UserSpec(f"prov-{holder}", PASSWORD, "holder", holder_id=holder),
                       UserSpec("prov-admin", PASSWORD, "admin")], source="test")
    return holder


def test_a_champion_of_another_database_is_refused_then_replaced_by_training_here(trained_elsewhere) -> None:  # type: ignore[no-untyped-def]
    from training.registry import train_and_register

    settings, other_url, holder, folder = trained_elsewhere
    other = settings.model_copy(update={"db_url": other_url})
    with TestClient(create_app(other)) as client:
        answer = client.get(f"/v1/holders/{holder}/recommendations", headers=token(client, f"prov-{holder}"))
        assert answer.status_code == 503, answer.text
        detail = answer.json()["detail"]
        assert "champion parcours-ranker/1 was trained on database" in detail and "`parcours train`" in detail
        ready = client.get("/ready")
        assert ready.status_code == 503 and any(r.startswith("champion refused") for r in ready.json()["reasons"])
        assert client.get("/health").json()["recommender"]["degraded"] is True

        with pytest.raises(Exception, match="--incremental continues the champion"):
            train_and_register(other_url, truth_dir=folder, settings=other, incremental=True)
        summary = train_and_register(other_url, truth_dir=folder, settings=other)
        assert "version 2 promoted to champion" in summary and "replaced without comparison" in summary
        reloaded = client.post("/v1/admin/model/reload", headers=token(client, "prov-admin"))
        assert reloaded.status_code == 200 and reloaded.json()["model_version"] == "parcours-ranker/2"
        answer = client.get(f"/v1/holders/{holder}/recommendations", headers=token(client, f"prov-{holder}"))
        assert answer.status_code == 200 and answer.json()["items"]
        assert client.get("/ready").status_code == 200


def test_evaluate_refuses_another_databases_champion_with_the_servers_message(  # type: ignore[no-untyped-def]
        trained_elsewhere, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from parcours.cli import app

    settings, other_url, _holder, _folder = trained_elsewhere
    # A database of its own identity: whichever champion the registry holds by now was trained on another one.
    # (That the check lets a database's own champion through: the train-then-evaluate test of test_ranker.py.)
    mine = _copy_sqlite(other_url, tmp_path / "mine.db")
    with session_scope(mine) as session:
        session.execute(text("UPDATE database_identity SET database_id = :id"), {"id": str(uuid.uuid4())})
    monkeypatch.setenv("PARCOURS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PARCOURS_CACHE_DIR", str(settings.resolved_cache_dir()))
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["evaluate", "--json", "--db", mine])
        assert refused.exit_code == 1
        assert "was trained on database" in refused.stderr and f"configured database is {_identity(mine)}" in \
            refused.stderr and "`parcours train`" in refused.stderr
    finally:
        get_settings.cache_clear()
        get_engine(mine).dispose()


def test_cli_train_on_a_database_never_imported_into_says_import_first(tmp_path: Path) -> None:
    from parcours.cli import app

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(app, ["train", "--db", url], env={"PARCOURS_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 1, result.output
    assert "parcours import" in result.output
    assert "Traceback" not in result.output and "no such table" not in result.output
