"""``parcours import DIR``: validate a world folder and load it into the database, all-or-nothing per file.

The folder holds ``trainings.csv``, ``holders.csv``, ``experience.csv`` and ``interactions.csv`` (formats in
CONTRACT.md) and optionally ``manifest.json`` whose ``as_of`` dates the opening balances. Files are handled in
dependency order, each in its own transaction:

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
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Container, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import pandas as pd
import pandera.pandas as pa
from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session
from tqdm import tqdm

from features.catalogue import content_hash
from features.esco import Taxonomy, load_taxonomy
from ingest.world_format import COLUMNS, EXPERIENCE, FILE_ORDER, HOLDERS, INTERACTIONS, MANIFEST, TRAININGS
from parcours.domain.ledger import CEC, CPF
from parcours.domain.opening_balances import BATCH, OpeningBalance, batched, set_opening_balances
from parcours.errors import ParcoursError, ValidationFailed
from parcours.settings import Settings, get_settings
from parcours.store.bulk import is_in, write_rows
from parcours.store.engine import get_engine, migrate, session_factory
from parcours.store.models import (
    EMPLOYMENT_STATUSES,
    EXPERIENCE_KINDS,
    INTERACTION_EVENTS,
    MODALITIES,
    Experience,
    Holder,
    ImportRun,
    Interaction,
    Provider,
    Training,
    TrainingSession,
)

Problem = dict[str, object]

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

TRAININGS_TABLE, PROVIDERS_TABLE = cast(Table, Training.__table__), cast(Table, Provider.__table__)
SESSIONS_TABLE, HOLDERS_TABLE = cast(Table, TrainingSession.__table__), cast(Table, Holder.__table__)
EXPERIENCE_TABLE, INTERACTIONS_TABLE = cast(Table, Experience.__table__), cast(Table, Interaction.__table__)
ACTOR = "import"


def _length(column: InstrumentedAttribute[Any]) -> int:
    """Column width in the database: the limit a field of the file may not exceed."""
    return int(column.property.columns[0].type.length)


ID_MAX = _length(Training.training_id)
DESCRIPTION_MAX = 20_000  # a Text column; longer texts are a mistake (and only the start is embedded)
MAX_CENTS = 10**11  # one billion euros: far above any price or balance, far below BIGINT
MAX_HOURS = 100_000
SQLITE_IMPORT_CACHE_KIB = 128 * 1024
MAX_PROBLEMS_PER_FILE = 100_000  # detailed problems kept per file; the rest are counted

DATE_RE = r"\d{4}-\d{2}-\d{2}"
TIMESTAMP_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)"
    r"(?P<offset>Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
UTC_OFFSETS = frozenset({"Z", "z", "+00:00", "+0000", "+00", "-00:00", "-0000", "-00"})
LEVELS = frozenset(str(level) for level in range(3, 9))
CERTIFICATION_RE = r"(?:RNCP|RS)\d{1,8}"


def _problem(file: str, row: int | None, field_name: str | None, message: str) -> Problem:
    return {"file": file, "row": row, "field": field_name, "message": message}


class FileRefused(ParcoursError):
    """The file as a whole cannot be read (missing, too big, not UTF-8, bad header, broken CSV)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p["message"]) for p in problems))


def _refused(file: str, row: int | None, message: str) -> FileRefused:
    return FileRefused([_problem(file, row, None, message)])


# --- Scanning and reading -----------------------------------------------------------------------------------


def scan_file(path: Path, name: str, max_bytes: int) -> tuple[str, int]:
    """sha256 and size of the file, after checking it exists, is not too big and is UTF-8 throughout."""
    if not path.is_file():
        raise _refused(name, None, f"missing required file {name} in {path.parent}")
    size = path.stat().st_size
    if size > max_bytes:
        raise _refused(
            name,
            None,
            f"file is {size:,} bytes, over the import limit of {max_bytes:,} bytes "
            "(raise PARCOURS_IMPORT_MAX_FILE_BYTES to accept it)",
        )
    if size == 0:
        raise _refused(name, None, "empty file: a header row is required")
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    lines_before = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                # exc.start indexes pending bytes + block; a character split across blocks starts before.
                offset = max(0, exc.start - (len(exc.object) - len(block)))
                line = lines_before + block[:offset].count(b"\n") + 1
                bad = exc.object[exc.start : exc.start + 1].hex()
                message = f"not UTF-8: invalid byte 0x{bad} on line {line}; save the file as UTF-8"
                raise _refused(name, line, message) from exc
            lines_before += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            message = "not UTF-8: the file ends in the middle of a character"
            raise _refused(name, lines_before + 1, message) from exc
    return digest.hexdigest(), size


class _ProgressReader(io.RawIOBase):
    """A binary stream that reports the bytes read to a tqdm bar."""

    def __init__(self, raw: BinaryIO, bar: tqdm[Any]) -> None:
        self.raw, self.bar = raw, bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.bar.update(count or 0)
        return count or 0


@dataclass
class Chunk:
    """Records of one chunk as a frame of stripped strings indexed by line number, and the unreadable ones."""

    frame: pd.DataFrame
    problems: list[Problem]
    records: int


def read_chunks(
    path: Path, name: str, chunk_rows: int, *, size: int, progress: bool | None
) -> Iterator[Chunk]:
    """Read the file in chunks; raise ``FileRefused`` on a bad header or CSV that cannot be parsed."""
    columns = COLUMNS[name]
    with (
        path.open("rb") as raw,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=name,
            leave=False,
            disable=(not progress) if progress is not None else None,
        ) as bar,
    ):
        text = io.TextIOWrapper(
            io.BufferedReader(_ProgressReader(raw, bar), 1 << 20), encoding="utf-8-sig", newline=""
        )
        reader = csv.reader(text, skipinitialspace=True)
        header: list[str] | None = None
        try:
            for record in reader:
                if any(value.strip() for value in record):
                    header = [value.strip().lower() for value in record]
                    break
        except csv.Error as exc:
            raise _refused(name, reader.line_num, f"unreadable CSV header: {exc}") from exc
        if header is None:
            raise _refused(name, None, "empty file: a header row is required")
        header_line = reader.line_num
        duplicated = sorted({c for c in header if c and header.count(c) > 1})
        missing = [c for c in columns if c not in header]
        if missing or duplicated:
            raise FileRefused(
                [
                    _problem(
                        name, header_line, c, f"missing column {c!r} (the header has: {', '.join(header)})"
                    )
                    for c in missing
                ]
                + [_problem(name, header_line, c, f"column {c!r} appears more than once") for c in duplicated]
            )
        positions = [header.index(c) for c in columns]
        width = len(header)
        lines: list[int] = []
        records: list[list[str]] = []
        problems: list[Problem] = []
        count = 0
        last = reader.line_num
        try:
            for record in reader:
                start, last = last + 1, reader.line_num
                if not any(value.strip() for value in record):
                    continue  # blank line
                count += 1
                while len(record) > width and not record[-1].strip():
                    record.pop()  # trailing empty fields (a trailing comma) are harmless
                if len(record) != width:
                    problems.append(
                        _problem(name, start, None, f"has {len(record)} fields where the header has {width}")
                    )
                else:
                    records.append(record)
                    lines.append(start)
                if len(records) >= chunk_rows:
                    yield Chunk(_frame(records, lines, columns, positions), problems, count)
                    lines, records, problems, count = [], [], [], 0
        except csv.Error as exc:
            raise _refused(name, last + 1, f"unreadable CSV from this line on: {exc}") from exc
        yield Chunk(_frame(records, lines, columns, positions), problems, count)


def _frame(
    records: list[list[str]], lines: list[int], columns: tuple[str, ...], positions: list[int]
) -> pd.DataFrame:
    data = {
        column: pd.array([record[position] for record in records], dtype="str")
        for column, position in zip(columns, positions, strict=True)
    }
    frame = pd.DataFrame(data, index=pd.Index(lines, dtype="int64", name="row"))
    for column in columns:
        frame[column] = frame[column].str.strip()
    return frame


# --- Validation rules ---------------------------------------------------------------------------------------


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


def _blank(s: pd.Series) -> pd.Series:
    return s == ""


def member(s: pd.Series, allowed: Container[str]) -> pd.Series:
    """``s.isin(allowed)`` by hashing each value into a set built once (isin rebuilds its table per call,
    which costs more than the test itself for the 14,000 ESCO skills and small chunks)."""
    return pd.Series([value in allowed for value in s.tolist()], index=s.index, dtype=bool)


def required() -> Rule:
    return Rule("required", lambda s: ~_blank(s), lambda v: "is required")


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
        return _blank(s) | (ok & (number >= lo) & (number <= hi))

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
        lambda s: _blank(s) | member(s, allowed_set),
        lambda v: f"must be one of {', '.join(allowed)}, not {v!r}",
    )


def level() -> Rule:
    return Rule(
        "level",
        lambda s: _blank(s) | member(s, LEVELS),
        lambda v: f"must be a level from 3 to 8 or empty, not {v!r}",
    )


def _valid_dates(s: pd.Series) -> pd.Series:
    shaped = s.str.fullmatch(DATE_RE)
    parsed = pd.to_datetime(s.where(shaped, None), format="%Y-%m-%d", errors="coerce")
    return shaped & parsed.notna()


def iso_date() -> Rule:
    return Rule(
        "iso_date",
        lambda s: _blank(s) | _valid_dates(s),
        lambda v: f"must be an ISO date YYYY-MM-DD, not {v!r}",
    )


def _items(s: pd.Series) -> pd.Series:
    """The non-empty ``|``-separated items of each value, one per line, indexed by the row they come from."""
    items = s.str.split("|").explode().str.strip()
    return items[items.notna() & (items != "")]


def _all_items(s: pd.Series, test: Callable[[pd.Series], pd.Series]) -> pd.Series:
    items = _items(s)
    if items.empty:
        return pd.Series(True, index=s.index)
    ok = test(items).groupby(level=0).all()
    return ok.reindex(s.index, fill_value=True).astype(bool)


def split_list(value: str) -> list[str]:
    """Items of a ``|``-separated list, stripped, empty ones dropped, duplicates dropped (first kept)."""
    items = [stripped for item in value.split("|") if (stripped := item.strip())]
    return items if len(set(items)) == len(items) else list(dict.fromkeys(items))


def iso_date_list() -> Rule:
    def message(v: str) -> str:
        bad = [item for item in split_list(v) if not _valid_dates(pd.Series([item], dtype="str")).iloc[0]]
        return f"must be ISO dates YYYY-MM-DD separated by '|'; not dates: {', '.join(map(repr, bad))}"

    return Rule("iso_dates", lambda s: _all_items(s, _valid_dates), message)


def timestamp() -> Rule:
    def test(s: pd.Series) -> pd.Series:
        shaped = s.str.fullmatch(TIMESTAMP_RE.pattern)
        parsed = pd.to_datetime(s.where(shaped, None), format="ISO8601", utc=True, errors="coerce")
        return _blank(s) | (shaped & parsed.notna())

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
        lambda s: _blank(s) | s.str.fullmatch(CERTIFICATION_RE),
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
    return Rule("esco", lambda s: _blank(s) | member(s, allowed), lambda v: sets.why_not(v, kinds))


def esco_list(sets: EscoSets, *kinds: str) -> Rule:
    allowed = sets.allowed(kinds)

    def message(v: str) -> str:
        return "; ".join(sets.why_not(item, kinds) for item in split_list(v) if item not in allowed)

    return Rule("esco_list", lambda s: _all_items(s, lambda items: member(items, allowed)), message)


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
            return _blank(s) | ~(repeated | member(s, self.first_row))

        def message(v: str) -> str:
            first = self.first_row.get(v, self.first_in_chunk.get(v))
            return f"duplicate {v!r}: first given on row {first}"

        return Rule("unique", test, message)

    def register(self, s: pd.Series) -> None:
        """Remember the chunk's keys; call after validating it (messages look first rows up here)."""
        firsts = s[~s.duplicated(keep="first") & ~_blank(s)]
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
            return _blank(s) | member(s, self.known_in_chunk)

        return Rule(
            "reference", test, lambda v: f"unknown {self.what} {v!r}: not in {self.file} nor in the database"
        )


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


@dataclass
class FileRules:
    """The rules of one file: per column, across columns, and the state that spans chunks."""

    columns: dict[str, list[Rule]]
    rows: list[RowRule] = field(default_factory=list)
    keys: UniqueKeys | None = None
    references: dict[str, References] = field(default_factory=dict)
    providers: ProviderNames | None = None

    def schema(self) -> pa.DataFrameSchema:
        return pa.DataFrameSchema(
            {
                name: pa.Column(checks=[pa.Check(rule.test, name=rule.name) for rule in rules])
                for name, rules in self.columns.items()
            },
            checks=[pa.Check(rule.test, name=rule.name) for rule in self.rows],
            strict=False,
        )


def build_rules(name: str, sets: EscoSets, references: dict[str, References]) -> FileRules:
    """The validation rules of each file of the world folder (formats in CONTRACT.md)."""
    ident = [required(), max_length(ID_MAX), identifier()]
    if name == TRAININGS:
        keys, providers = UniqueKeys(), ProviderNames()
        return FileRules(
            columns={
                "training_id": [*ident, keys.rule()],
                "title": [required(), max_length(_length(Training.title))],
                "description": [max_length(DESCRIPTION_MAX)],
                "certification_code": [
                    required(),
                    max_length(_length(Training.certification_code)),
                    certification(),
                ],
                "provider_id": ident,
                "provider_name": [required(), max_length(_length(Provider.name))],
                "price_cents": [required(), whole(0, MAX_CENTS, cents=True)],
                "hours": [required(), whole(1, MAX_HOURS)],
                "modality": [required(), one_of(MODALITIES)],
                "region_code": [required(), max_length(_length(Training.region_code)), identifier()],
                "skills": [esco_list(sets, "skills")],
                "prerequisites": [esco_list(sets, "skills")],
                "target_occupations": [esco_list(sets, "occupations")],
                "level": [level()],
                "start_dates": [iso_date_list()],
            },
            rows=[providers.rule()],
            keys=keys,
            providers=providers,
        )
    if name == HOLDERS:
        keys = UniqueKeys()
        return FileRules(
            columns={
                "holder_id": [*ident, keys.rule()],
                "birth_year": [required(), whole(1900, 2100)],
                "region_code": [required(), max_length(_length(Holder.region_code)), identifier()],
                "employment_status": [required(), one_of(EMPLOYMENT_STATUSES)],
                "qualification_level": [level()],
                "cpf_balance_cents": [required(), whole(0, MAX_CENTS, cents=True)],
                "cec_balance_cents": [required(), whole(0, MAX_CENTS, cents=True)],
                "preferred_modality": [one_of(MODALITIES)],
                "target_occupation": [
                    max_length(_length(Holder.target_occupation)),
                    esco(sets, "occupations"),
                ],
            },
            keys=keys,
        )
    if name == EXPERIENCE:
        return FileRules(
            columns={
                "holder_id": [*ident, references["holder_id"].rule()],
                "kind": [required(), one_of(EXPERIENCE_KINDS)],
                "label": [required(), max_length(_length(Experience.label))],
                "esco_uri": [max_length(_length(Experience.esco_uri)), esco(sets, "skills", "occupations")],
                "start_date": [required(), iso_date()],
                "end_date": [iso_date()],
            },
            rows=[dates_ordered()],
            references=references,
        )
    if name == INTERACTIONS:
        return FileRules(
            columns={
                "holder_id": [*ident, references["holder_id"].rule()],
                "training_id": [*ident, references["training_id"].rule()],
                "event": [required(), one_of(INTERACTION_EVENTS)],
                "timestamp": [required(), timestamp(), utc()],
            },
            references=references,
        )
    raise ValueError(f"no rules for {name}")


def validate_chunk(
    name: str, rules: FileRules, schema: pa.DataFrameSchema, frame: pd.DataFrame
) -> list[Problem]:
    """Run the pandera schema over a chunk and turn each failure into a problem naming file, row and field."""
    if frame.empty:
        return []
    for column, reference in rules.references.items():
        reference.prepare(frame[column])
    try:
        schema.validate(frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    messages = {
        (column, rule.name): rule for column, column_rules in rules.columns.items() for rule in column_rules
    }
    row_rules = {rule.name: rule for rule in rules.rows}
    problems: dict[tuple[int, int, str], Problem] = {}
    order = {column: i for i, column in enumerate(COLUMNS[name])}
    first_names = rules.providers.first_names(frame) if rules.providers is not None and row_rules else None
    for column, check, row in zip(
        failures["column"].tolist(), failures["check"].tolist(), failures["index"].tolist(), strict=True
    ):
        if row is None or pd.isna(row):
            continue
        row = int(row)
        if check in row_rules:
            row_rule = row_rules[check]
            values = frame.loc[row].copy()
            if first_names is not None:
                values["first_name"] = first_names.loc[row]
            key = (row, order[row_rule.field], row_rule.name)
            problems.setdefault(key, _problem(name, row, row_rule.field, row_rule.message(values)))
            continue
        rule = messages.get((column, check))
        if rule is None:  # a failure pandera raised itself (it should not: no dtypes are declared)
            problems.setdefault((row, order.get(column, 99), check), _problem(name, row, column, str(check)))
            continue
        value = str(frame.at[row, column])
        problems.setdefault((row, order[column], check), _problem(name, row, column, rule.message(value)))
    return [problems[key] for key in sorted(problems)]


# --- Loading ------------------------------------------------------------------------------------------------


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
        write_rows(
            self.session, TRAININGS_TABLE, self.columns, rows, key=("training_id",), on_conflict="update"
        )
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
                select(table.c.training_id, table.c.start_date).where(
                    is_in(self.session, table.c.training_id, batch)
                )
            ).all()
            gone = [{"t": t, "d": d} for t, d in existing if (t, d) not in sessions]
            if gone:
                self.session.execute(
                    delete(table).where(
                        table.c.training_id == bindparam("t"), table.c.start_date == bindparam("d")
                    ),
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
        write_rows(
            self.session, INTERACTIONS_TABLE, self.columns, rows, key=self.columns, on_conflict="nothing"
        )
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


# --- Orchestration ------------------------------------------------------------------------------------------


@dataclass
class FileReport:
    name: str
    status: str = "pending"  # imported | failed | skipped
    rows: int = 0
    sha256: str = ""
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problems_not_listed: int = 0

    def add(self, problems: list[Problem]) -> None:
        room = MAX_PROBLEMS_PER_FILE - len(self.problems)
        self.problems.extend(problems[: max(room, 0)])
        self.problems_not_listed += max(len(problems) - max(room, 0), 0)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or self.problems_not_listed > 0


@dataclass
class ImportContext:
    folder: Path
    as_of: dt.date
    sets: EscoSets
    keys: dict[str, dict[str, int]] = field(default_factory=dict)  # file → its key values (→ first row)
    status: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    folder: Path
    as_of: dt.date
    files: list[FileReport]

    @property
    def problems(self) -> list[Problem]:
        listed: list[Problem] = []
        for report in self.files:
            listed.extend(report.problems)
            if report.problems_not_listed:
                listed.append(
                    _problem(
                        report.name,
                        None,
                        None,
                        f"… and {report.problems_not_listed:,} more problems in this file",
                    )
                )
        return listed

    def summary(self) -> str:
        lines = [f"import of {self.folder} (opening balances dated {self.as_of.isoformat()})"]
        for report in self.files:
            counts = ", ".join(f"{value:,} {key}" for key, value in report.counts.items())
            detail = f"{report.rows:,} rows" + (f": {counts}" if counts else "")
            lines.append(f"  {report.name}: {report.status}, {detail} ({report.seconds:.1f} s)")
        return "\n".join(lines)

    def failure_message(self) -> str:
        imported = [r.name for r in self.files if r.status == "imported"]
        failed = [r.name for r in self.files if r.status == "failed"]
        skipped = [r.name for r in self.files if r.status == "skipped"]
        parts = [f"{len(self.problems)} problem(s) in {self.folder}"]
        if failed:
            parts.append(f"not imported: {', '.join(failed)}")
        if skipped:
            parts.append(f"not imported because a file they depend on failed: {', '.join(skipped)}")
        parts.append(f"imported: {', '.join(imported)}" if imported else "nothing was imported")
        return "; ".join(parts)


def read_as_of(folder: Path) -> dt.date:
    """``as_of`` of the world's manifest.json (a date or timestamp), else today."""
    path = folder / MANIFEST
    if not path.is_file():
        return dt.date.today()
    try:
        manifest = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed([_problem(MANIFEST, None, None, f"unreadable JSON: {exc}")]) from exc
    value = manifest.get("as_of") if isinstance(manifest, dict) else None
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        problem = _problem(MANIFEST, None, "as_of", f"must be an ISO date, not {value!r}")
        raise ValidationFailed([problem]) from exc


def import_folder(
    folder: Path, db_url: str, *, settings: Settings | None = None, progress: bool | None = None
) -> str:
    """Validate and load a world folder; returns a summary, raises ``ValidationFailed`` listing every problem.

    Files are imported in the order trainings, holders, experience, interactions, each in its own
    transaction: a file with any problem is not written at all, and files depending on it are not written
    either. Files already imported in the same run stay imported (the error message says which).
    """
    report = run_import(Path(folder), db_url, settings=settings, progress=progress)
    if report.problems:
        raise ValidationFailed(report.problems, report.failure_message())
    return report.summary()


def run_import(
    folder: Path, db_url: str, *, settings: Settings | None = None, progress: bool | None = None
) -> ImportReport:
    settings = settings or get_settings()
    if not folder.is_dir():
        raise ValidationFailed([_problem(str(folder), None, None, "world folder not found")])
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


def _row_of(problem: Problem) -> int:
    row = problem["row"]
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
        for chunk in read_chunks(path, name, settings.import_chunk_rows, size=size, progress=progress):
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
        report.add([_problem(name, None, None, _database_error(exc))])
    if blocked:
        report.status = "skipped"
        report.problems.append(
            _problem(
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
        report.add([_problem(name, None, None, _database_error(exc))])
