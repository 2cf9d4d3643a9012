"""The exception hierarchy of Parcours. Routers map these to HTTP answers; the CLI to exit codes."""

from __future__ import annotations


class ParcoursError(Exception):
    """Base class of every error Parcours raises on purpose."""


class ValidationFailed(ParcoursError):
    """Input rows or fields broke a rule; ``problems`` lists each one (file, row, field, message)."""

    def __init__(self, problems: list[dict[str, object]], message: str | None = None) -> None:
        self.problems = problems
        super().__init__(message or f"{len(problems)} problem(s) in the input")


class NotFound(ParcoursError):
    """A referenced object (holder, training, file, user) does not exist."""


class Forbidden(ParcoursError):
    """The caller is authenticated but may not see or change this object."""


class Conflict(ParcoursError):
    """The request is valid but clashes with the current state (illegal transition, concurrent use)."""


class IndexMismatch(ParcoursError):
    """A stored embedding index was built with another model or dimension than the one configured."""
