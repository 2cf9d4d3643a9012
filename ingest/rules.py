"""Vectorised checks on the columns of a chunk: each ``Rule`` tests a whole column at once (True where a value
is valid) and explains a bad value; a ``RowRule`` checks across the columns of a row. Formats in docs/import.md."""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.orm import InstrumentedAttribute

from features.esco import Taxonomy
from ingest.csv_reader import split_list
from ingest.world_format import LIST_SEPARATOR
from parcours.store.models import Training


def column_length(column: InstrumentedAttribute[Any]) -> int:
    """Column width in the database: the limit a field of the file may not exceed."""
    return int(column.property.columns[0].type.length)


ID_MAX = column_length(Training.training_id)

DATE_RE = r"\d{4}-\d{2}-\d{2}"
TIMESTAMP_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)"
    r"(?P<offset>Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
UTC_OFFSETS = frozenset({"Z", "z", "+00:00", "+0000", "+00", "-00:00", "-0000", "-00"})
LEVELS = frozenset(str(level) for level in range(3, 9))
CERTIFICATION_RE = r"(?:RNCP|RS)\d{1,8}"


@dataclass(frozen=True)
class Rule:
    """A check on one column: ``test`` is True where a value is valid; ``message`` explains a bad value."""

    name: str
    test: Callable[[pd.Series], pd.Series]
    message: Callable[[str], str]


@dataclass(frozen=True)
class RowRule:
    """A check across columns of a row; failures are reported on ``field``."""

    name: str
    field: str
    test: Callable[[pd.DataFrame], pd.Series]
    message: Callable[[pd.Series], str]


def blank(s: pd.Series) -> pd.Series:
    return s == ""


def member(s: pd.Series, allowed: Container[str]) -> pd.Series:
    """``s.isin(allowed)`` by hashing each value into a set built once (isin rebuilds its table per call,
    which costs more than the test itself for the 14,000 ESCO skills and small chunks)."""
    return pd.Series([value in allowed for value in s.tolist()], index=s.index, dtype=bool)


def required() -> Rule:
    return Rule("required", lambda s: ~blank(s), lambda v: "is required")


def max_length(limit: int) -> Rule:
    return Rule(
        f"max_length_{limit}",
        lambda s: s.str.len() <= limit,
        lambda v: f"is {len(v):,} characters long, over the limit of {limit:,}",
    )


def identifier() -> Rule:
    return Rule(
        "identifier",
        lambda s: ~s.str.contains(r"[\s\x00-\x1f\x7f]", regex=True),
        lambda v: f"{v!r} is not an identifier: no spaces or control characters",
    )


def whole(lo: int, hi: int, *, cents: bool = False) -> Rule:
    """A whole number written with digits only, in [lo, hi]; cents reject "12.5" and "-3" with a reason."""
    digits = len(str(hi))

    def test(s: pd.Series) -> pd.Series:
        ok = s.str.fullmatch(rf"\d{{1,{digits}}}")
        number = pd.to_numeric(s.where(ok, "0")).astype("int64")
        return blank(s) | (ok & (number >= lo) & (number <= hi))

    def message(v: str) -> str:
        if re.fullmatch(r"[+-]?\d*[.,]\d+|[+-]?\d+[.,]\d*", v):
            return (
                f"must be whole cents (e.g. 1250 for 12.50 €), not {v!r}"
                if cents
                else f"must be a whole number, not {v!r}"
            )
        if re.fullmatch(r"-\s*\d+", v):
            return f"must not be negative ({v})" if lo == 0 else f"must be between {lo} and {hi}, not {v}"
        if re.fullmatch(r"\d+", v):
            return f"must be between {lo:,} and {hi:,}, not {int(v):,}"
        return f"must be a whole number{' of cents' if cents else ''}, not {v!r}"

    return Rule("cents" if cents else f"whole_{lo}_{hi}", test, message)


def one_of(values: Iterable[str]) -> Rule:
    allowed = tuple(values)
    allowed_set = frozenset(allowed)
    return Rule(
        "one_of",
        lambda s: blank(s) | member(s, allowed_set),
        lambda v: f"must be one of {', '.join(allowed)}, not {v!r}",
    )


def level() -> Rule:
    return Rule(
        "level",
        lambda s: blank(s) | member(s, LEVELS),
        lambda v: f"must be a level from 3 to 8 or empty, not {v!r}",
    )


def _valid_dates(s: pd.Series) -> pd.Series:
    shaped = s.str.fullmatch(DATE_RE)
    parsed = pd.to_datetime(s.where(shaped, None), format="%Y-%m-%d", errors="coerce")
    return shaped & parsed.notna()


def iso_date() -> Rule:
    return Rule(
        "iso_date",
        lambda s: blank(s) | _valid_dates(s),
        lambda v: f"must be an ISO date YYYY-MM-DD, not {v!r}",
    )


def _items(s: pd.Series) -> pd.Series:
    """The non-empty ``|``-separated items of each value, one per line, indexed by the row they come from."""
    items = s.str.split(LIST_SEPARATOR).explode().str.strip()
    return items[items.notna() & (items != "")]


def _all_items(s: pd.Series, test: Callable[[pd.Series], pd.Series]) -> pd.Series:
    items = _items(s)
    if items.empty:
        return pd.Series(True, index=s.index)
    ok = test(items).groupby(level=0).all()
    return ok.reindex(s.index, fill_value=True).astype(bool)


def iso_date_list() -> Rule:
    def message(v: str) -> str:
        bad = [item for item in split_list(v) if not _valid_dates(pd.Series([item], dtype="str")).iloc[0]]
        return f"must be ISO dates YYYY-MM-DD separated by {LIST_SEPARATOR!r}; not dates: {', '.join(map(repr, bad))}"

    return Rule("iso_dates", lambda s: _all_items(s, _valid_dates), message)


def timestamp() -> Rule:
    def test(s: pd.Series) -> pd.Series:
        shaped = s.str.fullmatch(TIMESTAMP_RE.pattern)
        parsed = pd.to_datetime(s.where(shaped, None), format="ISO8601", utc=True, errors="coerce")
        return blank(s) | (shaped & parsed.notna())

    return Rule(
        "timestamp",
        test,
        lambda v: f"must be an ISO 8601 timestamp in UTC such as 2024-03-01T09:30:00Z, not {v!r}",
    )


def utc() -> Rule:
    """A timestamp must say it is UTC (Z or +00:00); a missing or other offset is refused, not guessed."""

    def test(s: pd.Series) -> pd.Series:
        offset = s.str.extract("^" + TIMESTAMP_RE.pattern + "$")["offset"]
        shaped = s.str.fullmatch(TIMESTAMP_RE.pattern)
        return ~shaped | member(offset.fillna(""), UTC_OFFSETS)

    def message(v: str) -> str:
        match = TIMESTAMP_RE.fullmatch(v)
        offset = match["offset"] if match else None
        if not offset:
            return f"must be UTC: add Z or +00:00 to {v!r} (no time zone given)"
        return f"must be UTC (Z or +00:00), not offset {offset} in {v!r}"

    return Rule("utc", test, message)


def certification() -> Rule:
    return Rule(
        "certification",
        lambda s: blank(s) | s.str.fullmatch(CERTIFICATION_RE),
        lambda v: f"must be RNCP or RS followed by digits (e.g. RNCP34567, RS5678), not {v!r}",
    )


@dataclass(frozen=True)
class EscoSets:
    """URIs of ESCO as sets, for membership tests, and a reason when a URI is not of the expected kind."""

    skills: frozenset[str]
    occupations: frozenset[str]
    isco_groups: frozenset[str]

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> EscoSets:
        return cls(
            frozenset(taxonomy.skills.index),
            frozenset(taxonomy.occupations.index),
            frozenset(taxonomy.isco_groups.index),
        )

    def allowed(self, kinds: tuple[str, ...]) -> frozenset[str]:
        return frozenset().union(*(getattr(self, kind) for kind in kinds))

    def why_not(self, uri: str, kinds: tuple[str, ...]) -> str:
        wanted = " or ".join({"skills": "ESCO skill", "occupations": "ESCO occupation"}[k] for k in kinds)
        if uri in self.isco_groups:
            return f"{uri} is an ISCO group, not an {wanted}"
        if uri in self.skills:
            return f"{uri} is an ESCO skill, not an {wanted}"
        if uri in self.occupations:
            return f"{uri} is an ESCO occupation, not an {wanted}"
        return f"{uri} is not an {wanted} URI"


def esco(sets: EscoSets, *kinds: str) -> Rule:
    allowed = sets.allowed(kinds)
    return Rule("esco", lambda s: blank(s) | member(s, allowed), lambda v: sets.why_not(v, kinds))


def esco_list(sets: EscoSets, *kinds: str) -> Rule:
    allowed = sets.allowed(kinds)

    def message(v: str) -> str:
        return "; ".join(sets.why_not(item, kinds) for item in split_list(v) if item not in allowed)

    return Rule("esco_list", lambda s: _all_items(s, lambda items: member(items, allowed)), message)


def dates_ordered() -> RowRule:
    def test(frame: pd.DataFrame) -> pd.Series:
        both = _valid_dates(frame["start_date"]) & _valid_dates(frame["end_date"])
        return ~both | (frame["end_date"] >= frame["start_date"])  # ISO dates compare as text

    return RowRule(
        "dates_ordered",
        "end_date",
        test,
        lambda row: f"end_date {row['end_date']} is before start_date {row['start_date']}",
    )
