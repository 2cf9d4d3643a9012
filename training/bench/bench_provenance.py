"""Cost of checking that the index and the champion belong to the configured database (issue 17).

At every start and reload the server reads the database identity and the catalogue fingerprint
(``recommender.provenance``). Measured on a synthetic catalogue of the large world's size (200,000 trainings,
600,000 sessions, SQLite), against the alternative the fingerprint replaced: hashing every training's text hash,
filter columns and last session date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, insert, select

TRAININGS = 200_000
SESSIONS_PER_TRAINING = 3


def _seed(url: str) -> None:
    from parcours.store.engine import migrate, session_scope
    from parcours.store.models import Provider, Training, TrainingSession

    migrate(url)
    now = dt.datetime.now(dt.UTC)
    with session_scope(url) as session:
        session.execute(insert(Provider), [{"provider_id": f"P{i}", "name": f"p{i}", "updated_at": now}
                                           for i in range(1000)])
        for start in range(0, TRAININGS, 20_000):
            session.execute(insert(Training), [
                {"training_id": f"T{i:07d}", "title": f"Training {i}", "description": "words " * 80,
                 "certification_code": "RS1", "provider_id": f"P{i % 1000}", "price_cents": 100_000 + i,
                 "hours": 35, "modality": "remote", "region_code": "11", "level": 5, "skills": [],
                 "prerequisites": [], "target_occupations": [],
                 "content_hash": hashlib.sha256(str(i).encode()).hexdigest(), "updated_at": now}
                for i in range(start, min(start + 20_000, TRAININGS))])
        first = dt.date(2027, 1, 1)
        for start in range(0, TRAININGS, 20_000):
            session.execute(insert(TrainingSession), [
                {"training_id": f"T{i:07d}", "start_date": first + dt.timedelta(days=i % 300 + 60 * k)}
                for i in range(start, min(start + 20_000, TRAININGS)) for k in range(SESSIONS_PER_TRAINING)])


def _content_fingerprint(session) -> str:  # type: ignore[no-untyped-def]
    """The alternative: every training's id, text hash, filter columns and last session, hashed in id order."""
    from parcours.store.models import Training, TrainingSession

    last = (select(TrainingSession.training_id, func.max(TrainingSession.start_date).label("last"))
            .group_by(TrainingSession.training_id).subquery())
    query = (select(Training.training_id, Training.content_hash, Training.price_cents, Training.modality,
                    Training.region_code, Training.level, last.c.last)
             .outerjoin(last, last.c.training_id == Training.training_id).order_by(Training.training_id))
    digest = hashlib.sha256()
    for row in session.execute(query):
        digest.update("\x1f".join(str(v) for v in row).encode())
    return digest.hexdigest()


def _median_ms(url: str, function: Callable, repeats: int) -> float:  # type: ignore[type-arg]
    from parcours.store.engine import session_scope

    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        with session_scope(url) as session:
            function(session)
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def run(work_dir: Path) -> str:
    from parcours.store.engine import get_engine
    from parcours.store.identity import database_identity
    from recommender.provenance import catalogue_fingerprint, current_provenance

    path = Path(work_dir) / f"provenance-{TRAININGS}.db"
    url = f"sqlite:///{path.resolve()}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _seed(url)
    stamps = _median_ms(url, catalogue_fingerprint, 7)
    identity = _median_ms(url, database_identity, 7)
    whole = _median_ms(url, current_provenance, 7)
    content = _median_ms(url, _content_fingerprint, 3)
    get_engine(url).dispose()
    return f"""## Database identity and catalogue fingerprint (issue 17)

Checked at every start and reload (`recommender.provenance`), here on a synthetic catalogue of
{TRAININGS:,} trainings and {TRAININGS * SESSIONS_PER_TRAINING:,} sessions (SQLite, median of 7 runs; the
machine's 2 cores shared with other jobs; measured {dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M}Z).

| step | median ms |
|---|---:|
| database identity (one row) | {identity:.1f} |
| catalogue fingerprint: counts, latest `updated_at`, first and last session (indexes of 0009) | {stamps:.1f} |
| both, as the server runs them | {whole:.1f} |
| not taken: hash of every training's text hash, filters and last session (median of 3) | {content:.1f} |

The fingerprint from update stamps costs {stamps / content:.1%} of hashing the rows' contents.

Reproduce: `python -m training.bench --only provenance` (the catalogue is cached under `data/bench`).
"""
