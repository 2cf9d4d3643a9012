"""The world's optional manifest.json: its ``as_of`` dates the opening balances."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ingest.problems import problem
from ingest.world_format import MANIFEST
from parcours.errors import ValidationFailed


def read_as_of(folder: Path) -> dt.date:
    """``as_of`` of the world's manifest.json (a date or timestamp), else today."""
    path = folder / MANIFEST
    if not path.is_file():
        return dt.date.today()
    try:
        manifest = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed([problem(MANIFEST, None, None, f"unreadable JSON: {exc}")]) from exc
    value = manifest.get("as_of") if isinstance(manifest, dict) else None
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        bad = problem(MANIFEST, None, "as_of", f"must be an ISO date, not {value!r}")
        raise ValidationFailed([bad]) from exc
