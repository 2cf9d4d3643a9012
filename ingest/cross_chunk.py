"""Checks that span the chunks of a file, over state kept from chunk to chunk: a key given twice, a provider
named twice differently, a reference to a row of another file of the import or of the database."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ingest.rules import ID_MAX, RowRule, Rule, blank, member
from parcours.store.bulk import BATCH, batched, is_in


class UniqueKeys:
    """Key values seen so far in a file (value → first row), to refuse a key used twice across chunks."""

    def __init__(self) -> None:
        self.first_row: dict[str, int] = {}
        self.first_in_chunk: dict[str, int] = {}

    def rule(self) -> Rule:
        def test(s: pd.Series) -> pd.Series:
            repeated = s.duplicated(keep="first")
            firsts = s[repeated.groupby(s).transform("any") & ~repeated]
            self.first_in_chunk = dict(zip(firsts.tolist(), firsts.index.tolist(), strict=True))
            return blank(s) | ~(repeated | member(s, self.first_row))

        def message(v: str) -> str:
            first = self.first_row.get(v, self.first_in_chunk.get(v))
            return f"duplicate {v!r}: first given on row {first}"

        return Rule("unique", test, message)

    def register(self, s: pd.Series) -> None:
        """Remember the chunk's keys; call after validating it (messages look first rows up here)."""
        firsts = s[~s.duplicated(keep="first") & ~blank(s)]
        for value, row in zip(firsts.tolist(), firsts.index.tolist(), strict=True):
            self.first_row.setdefault(value, row)


class References:
    """Ids a column may point to: the keys of a file of this import, or rows already in the database.

    ``in_import`` is None when that file could not be read: references to it are then not checked (the file
    is refused anyway because it depends on a file that failed), so as not to bury the real error.
    """

    def __init__(
        self,
        session: Session,
        column: InstrumentedAttribute[str],
        in_import: dict[str, int] | None,
        what: str,
        file: str,
    ) -> None:
        self.session, self.column, self.in_import = session, column, in_import
        self.what, self.file = what, file
        self.in_database: set[str] = set()
        self.known_in_chunk: set[str] = set()

    def prepare(self, s: pd.Series) -> None:
        """Look up in the database (in batches) the chunk's ids not found in the import file."""
        values = set(s.unique().tolist()) - {""}
        in_import = self.in_import if self.in_import is not None else {}
        unknown = [v for v in values if v not in in_import and v not in self.in_database and len(v) <= ID_MAX]
        for batch in batched(unknown, BATCH):
            self.in_database.update(
                self.session.scalars(select(self.column).where(is_in(self.session, self.column, batch)))
            )
        self.known_in_chunk = {v for v in values if v in in_import or v in self.in_database}

    def rule(self) -> Rule:
        def test(s: pd.Series) -> pd.Series:
            if self.in_import is None:
                return pd.Series(True, index=s.index)
            return blank(s) | member(s, self.known_in_chunk)

        return Rule("reference", test, lambda v: f"unknown {self.what} {v!r}: not in {self.file} nor in the database")


class ProviderNames:
    """One name per provider within trainings.csv: a provider named twice differently is refused."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def first_names(self, frame: pd.DataFrame) -> pd.Series:
        in_chunk = frame.groupby("provider_id", sort=False)["provider_name"].first().to_dict()
        return frame["provider_id"].map({**in_chunk, **self.names}).astype("str")  # earlier chunks win

    def rule(self) -> RowRule:
        def test(frame: pd.DataFrame) -> pd.Series:
            return (frame["provider_id"] == "") | (frame["provider_name"] == self.first_names(frame))

        def message(row: pd.Series) -> str:
            return f"provider {row['provider_id']!r} is named {row['first_name']!r} on an earlier row"

        return RowRule("provider_name", "provider_name", test, message)

    def register(self, frame: pd.DataFrame) -> None:
        names = zip(frame["provider_id"].tolist(), frame["provider_name"].tolist(), strict=True)
        for provider_id, name in names:
            self.names.setdefault(provider_id, name)
