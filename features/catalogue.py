"""The training catalogue as a table, and the text that represents a training for search and embeddings.

Training text = title + description + certification code + labels of the skills it teaches. The title and
skills carry what a training is about; the description adds context words people search with; the
certification code lets a search by RNCP/RS number match. Prerequisites are left out on purpose: a training
*requiring* accounting is not a training *about* accounting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from features.esco import Taxonomy, load_taxonomy
from parcours.store.bulk import read_rows
from parcours.store.models import Provider, Training, TrainingSession

# Hours of training a week by modality: the pace that dates the end of a session (world generator, path planner).
WEEKLY_HOURS = {"onsite": 30, "hybrid": 20, "remote": 12}

CATALOGUE_COLUMNS = [
    "training_id", "title", "description", "certification_code", "provider_id", "provider_name", "price_cents",
    "hours", "modality", "region_code", "level", "skills", "prerequisites", "target_occupations",
    "next_session", "content_hash",
]


def training_text(title: str, description: str, certification_code: str, skills: list[str],
                  taxonomy: Taxonomy | None = None) -> str:
    taxonomy = taxonomy or load_taxonomy()
    skill_labels = "; ".join(taxonomy.skill_label(uri) for uri in skills)
    return f"{title}. {description} ({certification_code}). Skills: {skill_labels}".strip()


def content_hash(title: str, description: str, certification_code: str, skills: list[str]) -> str:
    """sha256 of what feeds the training text: equal hashes mean the embedding need not be recomputed."""
    payload = "\x1f".join([title, description, certification_code, "|".join(skills)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def load_catalogue(session: Session, *, today: dt.date | None = None, only_open: bool = True) -> pd.DataFrame:
    """Trainings with their provider name and next session on or after ``today``.

    With ``only_open`` (the default) trainings without a future session are left out: they cannot be enrolled in.
    """
    today = today or dt.date.today()
    next_session = (
        select(TrainingSession.training_id, func.min(TrainingSession.start_date).label("next_session"))
        .where(TrainingSession.start_date >= today)
        .group_by(TrainingSession.training_id)
        .subquery()
    )
    query = (
        select(
            Training.training_id, Training.title, Training.description, Training.certification_code,
            Training.provider_id, Provider.name.label("provider_name"), Training.price_cents, Training.hours,
            Training.modality, Training.region_code, Training.level, Training.skills, Training.prerequisites,
            Training.target_occupations, next_session.c.next_session, Training.content_hash,
        )
        .join(Provider, Provider.provider_id == Training.provider_id)
        .join(next_session, next_session.c.training_id == Training.training_id, isouter=not only_open)
        .order_by(Training.training_id)
    )
    columns: list[list[object]] = [[] for _ in CATALOGUE_COLUMNS]
    for rows in read_rows(session, query):  # the driver's tuples: 200,000 rows in seconds
        for values, column in zip(zip(*rows, strict=True), columns, strict=True):
            column.extend(values)
    data = dict(zip(CATALOGUE_COLUMNS, columns, strict=True))
    for name in JSON_COLUMNS:
        data[name] = _json_values(data[name])
    # SQLite gives the date of the next session as ISO text; PostgreSQL as a date.
    data["next_session"] = [dt.date.fromisoformat(v) if isinstance(v, str) else v for v in data["next_session"]]
    return pd.DataFrame(data, columns=CATALOGUE_COLUMNS)


JSON_COLUMNS = ("skills", "prerequisites", "target_occupations")


def _json_values(values: list[object]) -> list[object]:
    """JSON column values as Python objects: texts (SQLite) parsed in one ``json.loads`` of them all."""
    if values and all(isinstance(v, str) for v in values):
        return list(json.loads("[" + ",".join(values) + "]"))  # type: ignore[arg-type]
    return [json.loads(v) if isinstance(v, str) else v for v in values]


def training_texts(catalogue: pd.DataFrame, taxonomy: Taxonomy | None = None) -> list[str]:
    """``training_text`` of every row of a catalogue frame, with one label lookup (fast on 200k rows)."""
    taxonomy = taxonomy or load_taxonomy()
    labels = dict(zip(taxonomy.skills.index, taxonomy.skills["label"].astype(str), strict=True))
    columns = ("title", "description", "certification_code", "skills")
    texts = []
    for title, description, code, skills in zip(*(catalogue[c] for c in columns), strict=True):
        skill_labels = "; ".join(labels.get(uri, uri) for uri in skills)
        texts.append(f"{title}. {description} ({code}). Skills: {skill_labels}".strip())
    return texts
