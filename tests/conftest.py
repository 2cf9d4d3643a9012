"""Shared fixtures. ``db_url`` runs a test on SQLite and, when ``PARCOURS_TEST_PG_URL`` is set, on PostgreSQL.

Each test gets a fresh, migrated database: a copy of a template migrated once per session (a file copy on
SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so isolation costs milliseconds, not a migration.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Two xdist workers on two cores: OpenMP teams in each worker only fight (an HGB fit took 15 s instead of 0.8 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Cheap password hashing in tests (hashes carry their parameters, so verification is unaffected).
os.environ.setdefault("PARCOURS_ARGON2_TIME_COST", "1")
os.environ.setdefault("PARCOURS_ARGON2_MEMORY_KIB", "1024")

from parcours.store.engine import get_engine, migrate  # noqa: E402

PG_URL = os.environ.get("PARCOURS_TEST_PG_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    url = f"sqlite:///{path}"
    migrate(url)
    get_engine(url).dispose()
    return path


def _pg_admin_url() -> str:
    return make_url(PG_URL).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("PARCOURS_TEST_PG_URL not set")
    name = f"parcours_tpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    get_engine(url).dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fresh_pg(template: str) -> tuple[str, str]:
    name = f"parcours_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return name, make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg(name: str, url: str) -> None:
    get_engine(url).dispose()
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database URL, once per backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "parcours.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
        yield url
        get_engine(url).dispose()
    else:
        name, url = _fresh_pg(request.getfixturevalue("pg_template"))
        yield url
        _drop_pg(name, url)


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated SQLite database, for tests whose subject is not the database engine."""
    path = tmp_path / "parcours.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    yield url
    get_engine(url).dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh migrated PostgreSQL database (skipped without PARCOURS_TEST_PG_URL)."""
    name, url = _fresh_pg(pg_template)
    yield url
    _drop_pg(name, url)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny world (seed 3) imported into SQLite with its skills profiles: (world folder, database URL).

    Shared by the ranker and serving tests; mark a module ``pytest.mark.xdist_group("tiny_world")`` so xdist
    runs it on the worker that built it. Tests must not change what other tests read (holders, interactions).
    """
    from features.profile.recompute import recompute_profiles
    from ingest.world_import import import_folder
    from parcours.store.engine import session_scope
    from parcours.store.models import Holder
    from training.datasets.world import generate_world

    folder = tmp_path_factory.mktemp("tiny-world") / "world"
    generate_world(folder, scale="tiny", seed=3)
    url = f"sqlite:///{folder.parent / 'tiny.db'}"
    import_folder(folder, url)
    with session_scope(url) as session:
        holder_ids = list(session.scalars(Holder.__table__.select().with_only_columns(Holder.holder_id)))
        recompute_profiles(session, holder_ids, show_progress=False)
    return folder, url


@pytest.fixture(scope="session")
def tiny_unpriced_fit(tiny_world) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The default ``fit_bundle`` on the tiny world without exposure prices, its prepared split and the contexts of
    the holders of its training data as of the cut: ``{"prepared", "bundle", "contexts"}``. Shared: copy the bundle
    before changing it."""
    from training.exposure import contexts_for
    from training.fit import fit_bundle
    from training.pipeline import prepare

    _folder, url = tiny_world
    prepared = prepare(url, show_progress=False)
    bundle = fit_bundle(prepared.catalogue, prepared.holders, prepared.split, seed=0, frames=prepared.frames,
                        exposure_cap=None)
    contexts = contexts_for(prepared.catalogue, prepared.holders, prepared.split, prepared.frames)
    return {"prepared": prepared, "bundle": bundle, "contexts": contexts}
