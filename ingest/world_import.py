"""``parcours import DIR``: validate a world folder and load it into the database, all-or-nothing per file.

The folder holds ``trainings.csv``, ``holders.csv``, ``experience.csv`` and ``interactions.csv`` (formats in
docs/import.md and ``ingest.world_format``) and optionally ``manifest.json`` whose ``as_of`` dates the opening
balances. Files are handled in dependency order, each in its own transaction:

1. scan: size limit (``Settings.import_max_file_bytes``), sha256, UTF-8 (naming the line of a bad byte);
2. read: the csv module in chunks of ``Settings.import_chunk_rows`` records, each record numbered by the line
   it starts on (header = 1), so quoted newlines do not shift the row numbers people see in an editor;
3. validate: one pandera schema per file with vectorised checks; each failure becomes a problem
   ``{"file", "row", "field", "message"}``. Rules that span chunks (duplicate keys, one name per provider,
   references to another file or to the database) are checks over state kept from chunk to chunk;
4. load: while the file has no problem, each validated chunk is written inside the file's transaction with
   dialect-specific upserts executed in batches; one problem anywhere rolls the whole file back, and the files
   that depend on it (experience and interactions on holders, interactions on trainings) are not loaded.

Memory is bounded by the chunk size plus the key sets of trainings and holders (needed to check references).

The jobs live beside this module: ``csv_reader`` (steps 1-2), ``rules``, ``cross_chunk`` and ``schemas`` (step 3),
``loaders`` (step 4), ``manifest`` (``as_of``), ``run`` (the run's state and reports), ``problems``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session

from features.esco import load_taxonomy
from ingest.cross_chunk import References
from ingest.csv_reader import read_chunks, scan_file
from ingest.loaders import LOADERS, Loader
from ingest.manifest import read_as_of
from ingest.problems import FileRefused, Problem, problem
from ingest.rules import EscoSets
from ingest.run import FileReport, ImportContext, ImportReport
from ingest.schemas import build_rules, validate_chunk
from ingest.world_format import EXPERIENCE, FILE_ORDER, HOLDERS, INTERACTIONS, TRAININGS
from parcours.errors import ParcoursError, ValidationFailed
from parcours.settings import Settings, get_settings
from parcours.store.engine import get_engine, migrate, session_factory
from parcours.store.models import Holder, ImportRun, Training

KEYS = {TRAININGS: "training_id", HOLDERS: "holder_id"}
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    TRAININGS: (),
    HOLDERS: (),
    EXPERIENCE: (HOLDERS,),
    INTERACTIONS: (HOLDERS, TRAININGS),
}
# Columns that point to another file of the import (or to rows already in the database).
REFERENCES: dict[str, dict[str, tuple[InstrumentedAttribute[str], str, str]]] = {
    EXPERIENCE: {"holder_id": (Holder.holder_id, HOLDERS, "holder")},
    INTERACTIONS: {
        "holder_id": (Holder.holder_id, HOLDERS, "holder"),
        "training_id": (Training.training_id, TRAININGS, "training"),
    },
}

SQLITE_IMPORT_CACHE_KIB = 128 * 1024


def import_folder(
    folder: Path,
    db_url: str,
    *,
    settings: Settings | None = None,
    progress: bool | None = None,
    allow_unknown_columns: bool | None = None,
) -> str:
    """Validate and load a world folder; returns a summary, raises ``ValidationFailed`` listing every problem.

    Files are imported in the order trainings, holders, experience, interactions, each in its own
    transaction: a file with any problem is not written at all, and files depending on it are not written
    either. Files already imported in the same run stay imported (the error message says which).
    """
    report = run_import(
        Path(folder), db_url, settings=settings, progress=progress, allow_unknown_columns=allow_unknown_columns
    )
    if report.problems:
        raise ValidationFailed(report.problems, report.failure_message())
    return report.summary()


def run_import(
    folder: Path,
    db_url: str,
    *,
    settings: Settings | None = None,
    progress: bool | None = None,
    allow_unknown_columns: bool | None = None,
) -> ImportReport:
    """Import every file of the folder; ``allow_unknown_columns`` (default: the setting) ignores columns the
    format does not have instead of refusing the file."""
    settings = settings or get_settings()
    if allow_unknown_columns is not None:
        settings = settings.model_copy(update={"import_allow_unknown_columns": allow_unknown_columns})
    if not folder.is_dir():
        raise ValidationFailed([problem(str(folder), None, None, "world folder not found")])
    as_of = read_as_of(folder)
    try:
        get_engine(db_url)  # creates the folder of a SQLite file, which migrate does not
        migrate(db_url)
    except (SQLAlchemyError, OSError) as exc:
        raise ParcoursError(f"cannot open the database: {getattr(exc, 'orig', None) or exc}") from exc
    context = ImportContext(folder=folder, as_of=as_of, sets=EscoSets.from_taxonomy(load_taxonomy()))
    factory = session_factory(db_url)
    reports: list[FileReport] = []
    for name in FILE_ORDER:
        report = FileReport(name)
        started = time.perf_counter()
        with factory() as session, _bigger_sqlite_cache(session):
            import_file(session, folder / name, report, context, settings, progress)
        report.seconds = time.perf_counter() - started
        context.status[name] = report.status
        reports.append(report)
    return ImportReport(folder, as_of, reports)


@contextmanager
def _bigger_sqlite_cache(session: Session) -> Iterator[None]:
    """On SQLite, a bigger page cache while indexes fill in random key order (2-3x faster), then back."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    session.connection().exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        with suppress(SQLAlchemyError):
            session.connection().exec_driver_sql("PRAGMA cache_size=-2000")


def _row_of(found: Problem) -> int:
    row = found["row"]
    return row if isinstance(row, int) else 0


def _database_error(exc: SQLAlchemyError) -> str:
    cause = getattr(exc, "orig", None) or exc
    return f"database error, nothing of this file was written: {str(cause).strip()[:500]}"


def import_file(
    session: Session,
    path: Path,
    report: FileReport,
    context: ImportContext,
    settings: Settings,
    progress: bool | None,
) -> None:
    """Validate one file and, if no problem is found, commit it; otherwise roll back everything written."""
    name = report.name
    blocked = [d for d in DEPENDS_ON[name] if context.status.get(d) != "imported"]
    # Keys of the referenced file as read in this run (even if it failed on some rows, so that its rows are
    # not reported twice); None when it could not be read at all.
    references = {
        column: References(session, attribute, context.keys.get(file), what, file)
        for column, (attribute, file, what) in REFERENCES.get(name, {}).items()
    }
    rules = build_rules(name, context.sets, references)
    schema = rules.schema()
    loader: Loader | None = None
    try:
        report.sha256, size = scan_file(path, name, settings.import_max_file_bytes)
        if not blocked:
            loader = LOADERS[name](session, context)
        for chunk in read_chunks(
            path,
            name,
            settings.import_chunk_rows,
            size=size,
            progress=progress,
            allow_unknown_columns=settings.import_allow_unknown_columns,
            max_field_chars=settings.import_max_field_chars,
        ):
            report.rows += chunk.records
            problems = chunk.problems + validate_chunk(name, rules, schema, chunk.frame)
            report.add(sorted(problems, key=_row_of))
            if rules.keys is not None:
                rules.keys.register(chunk.frame[KEYS[name]])
            if rules.providers is not None:
                rules.providers.register(chunk.frame)
            if loader is not None and not report.failed:
                loader.load(chunk.frame)
        if rules.keys is not None:
            context.keys[name] = rules.keys.first_row
    except FileRefused as exc:
        report.add(exc.problems)
    except SQLAlchemyError as exc:
        session.rollback()
        report.add([problem(name, None, None, _database_error(exc))])
    if blocked:
        report.status = "skipped"
        report.problems.append(
            problem(
                name,
                None,
                None,
                f"not imported: depends on {' and '.join(blocked)}, which could not be imported",
            )
        )
        session.rollback()
        return
    if report.failed or loader is None:
        report.status = "failed"
        session.rollback()
        return
    try:
        report.counts = loader.finish()
        session.add(
            ImportRun(
                file_name=name,
                sha256=report.sha256,
                rows=report.rows,
                detail=json.dumps({"folder": str(context.folder), **report.counts}),
            )
        )
        session.commit()
        report.status = "imported"
    except SQLAlchemyError as exc:
        session.rollback()
        report.status = "failed"
        report.add([problem(name, None, None, _database_error(exc))])
