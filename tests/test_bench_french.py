"""The French bench reuses its database (profiles matched to ESCO) only while the occupation matcher is the one
that computed them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from parcours.store.engine import get_engine
from training.bench.bench_french import matched_database, matcher_fingerprint
from training.datasets.world import generate_world

AS_OF = dt.date(2026, 11, 1)


def test_the_matcher_fingerprint_is_stable() -> None:
    first = matcher_fingerprint()
    assert first == matcher_fingerprint()
    assert len(first) == 16 and int(first, 16) >= 0


def test_the_database_is_rebuilt_when_the_matcher_changed(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(world, scale="tiny", seed=3, as_of=AS_OF, lang="fr")
    work = tmp_path / "fr"
    url, built = matched_database(world, work, seed=3, scale="tiny", as_of=AS_OF)
    database = work / f"ranker-tiny-3-{AS_OF.isoformat()}.db"
    recorded = work / f"ranker-tiny-3-{AS_OF.isoformat()}.matcher.json"
    assert json.loads(recorded.read_text(encoding="utf-8")) == {"matcher": matcher_fingerprint()}
    get_engine(url).dispose()
    first_written = database.stat().st_mtime_ns

    # Same matcher: the database and its timings are read back.
    assert matched_database(world, work, seed=3, scale="tiny", as_of=AS_OF) == (url, built)
    assert database.stat().st_mtime_ns == first_written

    # Profiles computed by another matcher: imported and profiled again.
    recorded.write_text(json.dumps({"matcher": "0" * 16}), encoding="utf-8")
    get_engine(url).dispose()
    again_url, _timings = matched_database(world, work, seed=3, scale="tiny", as_of=AS_OF)
    assert again_url == url
    assert database.stat().st_mtime_ns > first_written
    assert json.loads(recorded.read_text(encoding="utf-8")) == {"matcher": matcher_fingerprint()}
    get_engine(url).dispose()
