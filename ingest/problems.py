"""Problems found in a world folder, ``{"file", "row", "field", "message"}``, and the refusal of a whole file."""

from __future__ import annotations

from parcours.errors import ParcoursError

Problem = dict[str, object]


def problem(file: str, row: int | None, field_name: str | None, message: str) -> Problem:
    return {"file": file, "row": row, "field": field_name, "message": message}


class FileRefused(ParcoursError):
    """The file as a whole cannot be read (missing, too big, not UTF-8, bad header, broken CSV)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p["message"]) for p in problems))


def refused(file: str, row: int | None, message: str) -> FileRefused:
    return FileRefused([problem(file, row, None, message)])
