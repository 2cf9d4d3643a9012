"""Field types of request bodies whose JSON Schema says exactly what the server accepts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict


def _whole(value: Any) -> Any:
    # JSON Schema's "integer" includes 224.0; Python's strict int does not. A whole float is that integer, and
    # nothing else is (no "224" string, no true).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeInt = Annotated[int, BeforeValidator(_whole), Strict()]
"""An integer, also when written 224.0 (as JSON Schema's ``integer`` allows); strings and booleans refused."""

NonBlank = r"\S"
"""Pattern of a text that must say something (not only spaces)."""


def decimal_as_number(minimum: int, maximum: int, places: int) -> Any:
    """``json_schema_extra`` of a Decimal field read from a JSON number: pydantic would document a number or a
    string; the API takes a number with at most ``places`` decimals."""

    def fix(schema: dict[str, Any]) -> None:
        description = schema.get("description")
        schema.clear()
        schema.update(type="number", minimum=minimum, maximum=maximum, multipleOf=10**-places)
        if description:
            schema["description"] = description

    return fix


def _text(value: Any) -> Any:
    # Request bodies reach pydantic as Python objects, where a strict date refuses the ISO text too; lax takes
    # 0 for 1970-01-01. Only a text (or a date already) is a date here.
    if isinstance(value, int | float):
        raise ValueError("a date is written as text (ISO 8601), not a number")
    return value


Day = Annotated[dt.date, BeforeValidator(_text)]
"""A date written YYYY-MM-DD (never a number of seconds)."""


def not_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of an optional field that may be left out but not sent as null."""
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
