"""Loading validated chunks, one loader per file, inside the file's transaction: upserts per table in batches
(``parcours.store.bulk``), the trainings' sessions, the holders' balances as dated opening ledger entries."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pandas as pd
from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.orm import Session

from features.catalogue import content_hash
from ingest.csv_reader import split_list
from ingest.run import ImportContext
from ingest.world_format import EXPERIENCE, HOLDERS, INTERACTIONS, TRAININGS
from parcours.domain.ledger import CEC, CPF
from parcours.domain.opening_balances import OpeningBalance, set_opening_balances
from parcours.store.bulk import BATCH, batched, is_in, write_rows
from parcours.store.models import Experience, Holder, Interaction, Provider, Training, TrainingSession

TRAININGS_TABLE, PROVIDERS_TABLE = cast(Table, Training.__table__), cast(Table, Provider.__table__)
SESSIONS_TABLE, HOLDERS_TABLE = cast(Table, TrainingSession.__table__), cast(Table, Holder.__table__)
EXPERIENCE_TABLE, INTERACTIONS_TABLE = cast(Table, Experience.__table__), cast(Table, Interaction.__table__)
ACTOR = "import"


def _count(session: Session, table: Table) -> int:
    return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _optional(values: list[str]) -> list[str | None]:
    return [value or None for value in values]


def _optional_int(values: list[str]) -> list[int | None]:
    return [int(value) if value else None for value in values]


def _int(values: list[str]) -> list[int]:
    return [int(value) for value in values]


def _column(frame: pd.DataFrame, name: str) -> list[str]:
    return cast(list[str], frame[name].tolist())


class Loader:
    """Writes validated chunks of one file inside its transaction; ``finish`` returns what was done."""

    def __init__(self, session: Session, context: ImportContext) -> None:
        self.session, self.context = session, context
        self.now = dt.datetime.now(dt.UTC)

    def load(self, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def finish(self) -> dict[str, int]:
        raise NotImplementedError


class TrainingLoader(Loader):
    """Providers from (provider_id, provider_name); trainings upserted with their content hash.

    The sessions of a re-imported training are replaced by the start dates of the file.
    """

    columns = (
        "training_id",
        "title",
        "description",
        "certification_code",
        "provider_id",
        "price_cents",
        "hours",
        "modality",
        "region_code",
        "level",
        "skills",
        "prerequisites",
        "target_occupations",
        "content_hash",
        "updated_at",
    )

    def __init__(self, session: Session, context: ImportContext) -> None:
        super().__init__(session, context)
        self.before = _count(session, TRAININGS_TABLE)
        self.sessions = self.sessions_dropped = 0

    def load(self, frame: pd.DataFrame) -> None:
        providers = frame.drop_duplicates("provider_id")
        write_rows(
            self.session,
            PROVIDERS_TABLE,
            ("provider_id", "name", "updated_at"),
            [
                (pid, name, self.now)
                for pid, name in zip(
                    _column(providers, "provider_id"), _column(providers, "provider_name"), strict=True
                )
            ],
            key=("provider_id",),
            on_conflict="update",
        )
        ids, titles = _column(frame, "training_id"), _column(frame, "title")
        descriptions, codes = _column(frame, "description"), _column(frame, "certification_code")
        skills = [split_list(value) for value in _column(frame, "skills")]
        hashes = [content_hash(*fields) for fields in zip(titles, descriptions, codes, skills, strict=True)]
        rows = list(
            zip(
                ids,
                titles,
                descriptions,
                codes,
                _column(frame, "provider_id"),
                _int(_column(frame, "price_cents")),
                _int(_column(frame, "hours")),
                _column(frame, "modality"),
                _column(frame, "region_code"),
                _optional_int(_column(frame, "level")),
                skills,
                [split_list(value) for value in _column(frame, "prerequisites")],
                [split_list(value) for value in _column(frame, "target_occupations")],
                hashes,
                [self.now] * len(ids),
                strict=True,
            )
        )
        write_rows(self.session, TRAININGS_TABLE, self.columns, rows, key=("training_id",), on_conflict="update")
        sessions = [
            (training_id, dt.date.fromisoformat(day))
            for training_id, days in zip(ids, _column(frame, "start_dates"), strict=True)
            for day in split_list(days)
        ]
        if self.before:  # into an empty table, no training of the file has sessions yet
            self._drop_sessions_not_in(ids, set(sessions))
        write_rows(
            self.session,
            SESSIONS_TABLE,
            ("training_id", "start_date"),
            sessions,
            key=("training_id", "start_date"),
            on_conflict="nothing",
        )
        self.sessions += len(sessions)

    def _drop_sessions_not_in(self, ids: list[str], sessions: set[tuple[str, dt.date]]) -> None:
        """Delete the sessions of these trainings that the file no longer lists (and only those, so that
        rows referring to a kept session are not disturbed)."""
        table = SESSIONS_TABLE
        for batch in batched(ids, BATCH):
            existing = self.session.execute(
                select(table.c.training_id, table.c.start_date).where(is_in(self.session, table.c.training_id, batch))
            ).all()
            gone = [{"t": t, "d": d} for t, d in existing if (t, d) not in sessions]
            if gone:
                self.session.execute(
                    delete(table).where(table.c.training_id == bindparam("t"), table.c.start_date == bindparam("d")),
                    gone,
                )
                self.sessions_dropped += len(gone)

    def finish(self) -> dict[str, int]:
        after = _count(self.session, TRAININGS_TABLE)
        return {
            "new trainings": after - self.before,
            "sessions": self.sessions,
            "sessions dropped": self.sessions_dropped,
        }


class HolderLoader(Loader):
    """Holders upserted (their personalisation choice kept); balances become dated opening ledger entries."""

    columns = (
        "holder_id",
        "birth_year",
        "region_code",
        "employment_status",
        "qualification_level",
        "preferred_modality",
        "target_occupation",
        "personalisation_enabled",
        "updated_at",
    )

    def __init__(self, session: Session, context: ImportContext) -> None:
        super().__init__(session, context)
        self.before = _count(session, HOLDERS_TABLE)
        self.postings = 0
        self.net_cents = 0

    def load(self, frame: pd.DataFrame) -> None:
        ids = _column(frame, "holder_id")
        rows = list(
            zip(
                ids,
                _int(_column(frame, "birth_year")),
                _column(frame, "region_code"),
                _column(frame, "employment_status"),
                _optional_int(_column(frame, "qualification_level")),
                _optional(_column(frame, "preferred_modality")),
                _optional(_column(frame, "target_occupation")),
                [True] * len(ids),
                [self.now] * len(ids),
                strict=True,
            )
        )
        # personalisation_enabled is set for new holders only: the upsert leaves it out of the update.
        write_rows(
            self.session,
            HOLDERS_TABLE,
            self.columns,
            rows,
            key=("holder_id",),
            on_conflict="update",
            update=[c for c in self.columns if c not in ("holder_id", "personalisation_enabled")],
        )
        targets = [
            OpeningBalance(holder_id, kind, cents)
            for holder_id, cpf, cec in zip(
                ids,
                _int(_column(frame, "cpf_balance_cents")),
                _int(_column(frame, "cec_balance_cents")),
                strict=True,
            )
            for kind, cents in ((CPF, cpf), (CEC, cec))
        ]
        posted, net = set_opening_balances(self.session, targets, as_of=self.context.as_of, actor=ACTOR)
        self.postings += posted
        self.net_cents += net

    def finish(self) -> dict[str, int]:
        after = _count(self.session, HOLDERS_TABLE)
        return {
            "new holders": after - self.before,
            "balance postings": self.postings,
            "net cents posted": self.net_cents,
        }


class ExperienceLoader(Loader):
    """Rows of source 'import' of every holder in this import are replaced; declared/verified rows are kept.

    "Holders in this import" are those listed in experience.csv and, when it was imported in the same run,
    holders.csv: a holder whose experience rows were all removed from the file loses its imported rows.
    """

    columns = ("holder_id", "kind", "label", "esco_uri", "start_date", "end_date", "source", "created_at")

    def __init__(self, session: Session, context: ImportContext) -> None:
        super().__init__(session, context)
        self.cleared: set[str] = set()
        self.removed = 0
        self.inserted = 0
        if context.status.get(HOLDERS) == "imported":
            self._clear(list(context.keys[HOLDERS]))

    def _clear(self, holder_ids: list[str]) -> None:
        table = EXPERIENCE_TABLE
        for batch in batched([h for h in holder_ids if h not in self.cleared], BATCH):
            result = self.session.execute(
                delete(table).where(is_in(self.session, table.c.holder_id, batch), table.c.source == "import")
            )
            self.removed += int(getattr(result, "rowcount", 0) or 0)
            self.cleared.update(batch)

    def load(self, frame: pd.DataFrame) -> None:
        ids = _column(frame, "holder_id")
        self._clear(list(dict.fromkeys(ids)))
        rows = list(
            zip(
                ids,
                _column(frame, "kind"),
                _column(frame, "label"),
                _optional(_column(frame, "esco_uri")),
                [dt.date.fromisoformat(day) for day in _column(frame, "start_date")],
                [dt.date.fromisoformat(day) if day else None for day in _column(frame, "end_date")],
                ["import"] * len(ids),
                [self.now] * len(ids),
                strict=True,
            )
        )
        write_rows(self.session, EXPERIENCE_TABLE, self.columns, rows)
        self.inserted += len(rows)

    def finish(self) -> dict[str, int]:
        return {"experience rows": self.inserted, "previous imported rows replaced": self.removed}


class InteractionLoader(Loader):
    """Interactions inserted; an exact duplicate (holder, training, event, time) is skipped."""

    columns = ("holder_id", "training_id", "event", "occurred_at")

    def __init__(self, session: Session, context: ImportContext) -> None:
        super().__init__(session, context)
        self.before = _count(session, INTERACTIONS_TABLE)
        self.rows = 0

    def load(self, frame: pd.DataFrame) -> None:
        occurred = pd.to_datetime(frame["timestamp"], format="ISO8601", utc=True).dt.floor("us")
        rows = list(
            zip(
                _column(frame, "holder_id"),
                _column(frame, "training_id"),
                _column(frame, "event"),
                occurred.dt.to_pydatetime().tolist(),
                strict=True,
            )
        )
        write_rows(self.session, INTERACTIONS_TABLE, self.columns, rows, key=self.columns, on_conflict="nothing")
        self.rows += len(rows)

    def finish(self) -> dict[str, int]:
        new = _count(self.session, INTERACTIONS_TABLE) - self.before
        return {"new interactions": new, "duplicates skipped": self.rows - new}


LOADERS: dict[str, type[Loader]] = {
    TRAININGS: TrainingLoader,
    HOLDERS: HolderLoader,
    EXPERIENCE: ExperienceLoader,
    INTERACTIONS: InteractionLoader,
}
