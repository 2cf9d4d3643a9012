"""Scanning and reading a world file: size limit, sha256 and UTF-8 (``scan_file``), then the csv module in
numbered chunks (``read_chunks``), each record numbered by the line it starts on (header = 1)."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
from tqdm import tqdm

from ingest.problems import FileRefused, Problem, problem, refused
from ingest.world_format import COLUMNS, LIST_SEPARATOR

DEFAULT_MAX_FIELD_CHARS = 16 * 1024 * 1024  # Settings.import_max_field_chars


def scan_file(path: Path, name: str, max_bytes: int) -> tuple[str, int]:
    """sha256 and size of the file, after checking it exists, is not too big and is UTF-8 throughout."""
    if not path.is_file():
        raise refused(name, None, f"missing required file {name} in {path.parent}")
    size = path.stat().st_size
    if size > max_bytes:
        raise refused(
            name,
            None,
            f"file is {size:,} bytes, over the import limit of {max_bytes:,} bytes "
            "(raise PARCOURS_IMPORT_MAX_FILE_BYTES to accept it)",
        )
    if size == 0:
        raise refused(name, None, "empty file: a header row is required")
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
                raise refused(name, line, message) from exc
            lines_before += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            message = "not UTF-8: the file ends in the middle of a character"
            raise refused(name, lines_before + 1, message) from exc
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
    path: Path,
    name: str,
    chunk_rows: int,
    *,
    size: int,
    progress: bool | None,
    allow_unknown_columns: bool = False,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
) -> Iterator[Chunk]:
    """Read the file in chunks; raise ``FileRefused`` on a bad header, a column the format does not have (unless
    ``allow_unknown_columns``), a field over ``max_field_chars`` (naming its row and column) or CSV that cannot be
    parsed."""
    columns = COLUMNS[name]
    _allow_fields_up_to(max_field_chars)
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
        text = io.TextIOWrapper(io.BufferedReader(_ProgressReader(raw, bar), 1 << 20), encoding="utf-8-sig", newline="")
        reader = csv.reader(text, skipinitialspace=True)
        header: list[str] | None = None
        try:
            for record in reader:
                if any(value.strip() for value in record):
                    header = [value.strip().lower() for value in record]
                    break
        except csv.Error as exc:
            raise refused(name, reader.line_num, f"unreadable CSV header: {exc}") from exc
        if header is None:
            raise refused(name, None, "empty file: a header row is required")
        header_line = reader.line_num
        duplicated = sorted({c for c in header if c and header.count(c) > 1})
        missing = [c for c in columns if c not in header]
        unknown = [] if allow_unknown_columns else [c for c in dict.fromkeys(header) if c and c not in columns]
        if missing or duplicated or unknown:
            raise FileRefused(
                [
                    problem(name, header_line, c, f"missing column {c!r} (the header has: {', '.join(header)})")
                    for c in missing
                ]
                + [problem(name, header_line, c, f"column {c!r} appears more than once") for c in duplicated]
                + [
                    problem(
                        name,
                        header_line,
                        c[:100],
                        f"unknown column {c[:100]!r}: the format has {', '.join(columns)} "
                        "(parcours import --allow-unknown-columns ignores extra columns)",
                    )
                    for c in unknown
                ]
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
                        problem(name, start, None, f"has {len(record)} fields where the header has {width}")
                    )
                else:
                    records.append(record)
                    lines.append(start)
                if len(records) >= chunk_rows:
                    yield Chunk(_frame(records, lines, columns, positions), problems, count)
                    lines, records, problems, count = [], [], [], 0
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                column = _oversized_column(path, last + 1, header, max_field_chars)
                raise FileRefused(
                    [
                        problem(
                            name,
                            last + 1,
                            column,
                            f"is longer than {max_field_chars:,} characters, the longest field an import reads",
                        )
                    ]
                ) from exc
            raise refused(name, last + 1, f"unreadable CSV from this line on: {exc}") from exc
        yield Chunk(_frame(records, lines, columns, positions), problems, count)


def _allow_fields_up_to(max_field_chars: int) -> None:
    """The csv module's field limit is one per process: raise it to ``max_field_chars`` (never lower it), so a
    long field reaches the column's own length rule, which names file, row and field."""
    if csv.field_size_limit() < max_field_chars:
        csv.field_size_limit(max_field_chars)


def _oversized_column(path: Path, line: int, header: list[str], limit: int) -> str | None:
    """The column of the first field longer than ``limit`` in the record starting on physical ``line``, found by
    scanning the characters (quotes understood) without holding the field."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for _ in range(line - 1):
            handle.readline()
        index, length, quoted, previous = 0, 0, False, ""
        while block := handle.read(1 << 16):
            for char in block:
                if quoted:
                    if char == '"':
                        quoted = False
                    else:
                        length += 1
                elif char == '"':
                    length += previous == '"'  # a doubled quote inside a quoted field is one character
                    quoted = True
                elif char == ",":
                    index, length = index + 1, 0
                elif char == "\n":
                    return None
                else:
                    length += 1
                if length > limit:
                    return header[index] if index < len(header) else None
                previous = char
    return None


def _frame(records: list[list[str]], lines: list[int], columns: tuple[str, ...], positions: list[int]) -> pd.DataFrame:
    data = {
        column: pd.array([record[position] for record in records], dtype="str")
        for column, position in zip(columns, positions, strict=True)
    }
    frame = pd.DataFrame(data, index=pd.Index(lines, dtype="int64", name="row"))
    for column in columns:
        frame[column] = frame[column].str.strip()
    return frame


def split_list(value: str) -> list[str]:
    """Items of a ``|``-separated list, stripped, empty ones dropped, duplicates dropped (first kept)."""
    items = [stripped for item in value.split(LIST_SEPARATOR) if (stripped := item.strip())]
    return items if len(set(items)) == len(items) else list(dict.fromkeys(items))
