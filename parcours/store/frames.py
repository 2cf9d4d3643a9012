"""Whole-table reads as pandas frames, for batch jobs and the server's per-process caches."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from parcours.store.bulk import read_rows
from parcours.store.models import Interaction


def read_frame(session: Session, statement: Select[*tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    """A SELECT's rows as a frame, read by the driver in chunks (no per-row SQLAlchemy objects)."""
    parts = [pd.DataFrame.from_records(rows, columns=columns) for rows in read_rows(session, statement)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def load_interactions(session: Session) -> pd.DataFrame:
    """All interactions as a frame (holder_id, training_id, event, occurred_at as UTC timestamps)."""
    frame = read_frame(
        session,
        select(Interaction.holder_id, Interaction.training_id, Interaction.event, Interaction.occurred_at)
        .order_by(Interaction.occurred_at, Interaction.interaction_id),
        ["holder_id", "training_id", "event", "occurred_at"],
    )
    # SQLite gives naive UTC timestamps as text, PostgreSQL aware datetimes: both parse to UTC.
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    return frame
