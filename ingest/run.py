"""The state of one import run: what the files share (``ImportContext``), what each file did (``FileReport``)
and the run's outcome (``ImportReport``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ingest.problems import Problem, problem
from ingest.rules import EscoSets

MAX_PROBLEMS_PER_FILE = 100_000  # detailed problems kept per file; the rest are counted


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
                    problem(
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
