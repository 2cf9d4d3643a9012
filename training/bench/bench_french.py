"""The French world (issue 15): catalogue search by French title over HTTP, the demo's French queries, and the
ranker on the French world against the English one.

- Known-item search: on the French small world (seed 42, the demo's), the exact French titles of 300 trainings
  with a session ahead, drawn with a fixed seed, sent to ``GET /v1/trainings/search`` (k = 10) through the whole
  app in-process (TestClient); hit@10 = share whose training is among the 10 items (target ≥ 0.9).
- Demo queries: the ten queries of ``DEMO_QUERIES``, each with the ESCO occupations it expects; the first item
  is relevant when it leads to one of them (a target occupation of the training) or at least half of the skills
  it teaches belong to them (``relevant``). ``tests/test_search_french.py`` checks the same on a tiny world.
- Ranker: ``prepare`` + ``fit_and_evaluate`` as ``bench_ranker`` does, on the French and on the English small
  world (seed 42); NDCG@10 of the model over the best baseline on each, and whether the French ratio is within
  10 % of the English one.

The French world holds the common trades (``world_params.COMMON_TRADES``) the English one is drawn without, so
the two are different worlds, not translations: the ratio to the best baseline is what compares them.
Everything is cached under the work folder (the French world, its database with profiles); the index is rebuilt
on every run. Profiles read declared experiences through the occupation matcher, which the world files do not
fingerprint: the French database and the English one (shared with ``bench_ranker``) are reused only when the
matcher's fingerprint (``matcher_fingerprint``) is the one recorded beside them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from training.bench.bench_ranker import FIT_SEED, HOLDOUT_DAYS, measure, model_ratio
from training.bench.worlds import AS_OF, SCALE, database_for, matcher_fingerprint, world_folder

SEED = 42
KNOWN_ITEMS = 300
KNOWN_ITEM_TARGET = 0.9
RANKER_TOLERANCE = 0.10
LANG = "fr"

# Query → text prefixes of the ESCO occupations (English labels, as world_reference.Anchor) a relevant first
# answer leads to: the occupation named and its close variants.
DEMO_QUERIES: dict[str, tuple[str, ...]] = {
    "comptabilité": (
        "accountant ", "accounting assistant", "accounting manager", "accounting analyst", "bookkeeper ",
        "payroll clerk", "tax clerk", "financial auditor", "public finance accountant",
    ),
    "soudure": (
        "welder ", "pipe welder", "spot welder", "laser beam welder", "electron beam welder", "welding engineer",
        "welding coordinator", "welding inspector",
    ),
    "cariste": ("forklift operator", "warehouse worker"),
    "aide-soignant": ("nurse assistant", "healthcare assistant", "home care aide", "community care case worker"),
    "infirmier": (
        "nurse responsible for general care", "specialist nurse", "advanced nurse practitioner", "nurse assistant",
    ),
    "boulanger": ("baker ", "baking operator", "bakery shop manager", "bakery specialised seller", "pastry maker"),
    "développeur web": ("web developer", "software developer", "user interface developer"),
    "maçon": ("bricklayer", "bricklaying supervisor", "stonemason ", "concrete finisher"),
    "secrétaire médicale": ("medical administrative assistant", "medical secretary"),
    "conducteur de bus": ("bus driver", "trolley bus driver", "tram driver"),
}


def expected_occupations(esco: Any, prefixes: tuple[str, ...]) -> set[str]:
    """URIs of the occupations the prefixes name (a prefix that names none is skipped)."""
    uris: set[str] = set()
    for prefix in prefixes:
        try:
            uris.add(str(esco.occ_uris[esco.occupation(prefix)]))
        except RuntimeError:
            continue
    return uris


def relevant(esco: Any, targets: list[str], skills: list[str], occupations: set[str]) -> bool:
    """Whether a training leads to one of ``occupations`` (a target occupation) or teaches mostly their skills
    (at least half of its skills are among theirs)."""
    if set(targets) & occupations:
        return True
    if not skills:
        return False
    theirs: set[str] = set()
    for uri in occupations:
        row = int(esco.occ_index.get_loc(uri))
        theirs |= {str(esco.skill_uris[s]) for s in esco.occ_skill_ranked[row]}
    return sum(s in theirs for s in skills) >= len(skills) / 2


def french_world(work_dir: Path, seed: int = SEED, scale: str = SCALE, as_of: dt.date = AS_OF) -> Path:
    """The French world of ``seed`` under ``work_dir``, generated unless its manifest says it is there."""
    import shutil

    from training.datasets.world import generate_world

    folder = Path(work_dir) / f"world-{scale}-{seed}-{as_of.isoformat()}-{LANG}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        info = json.loads(manifest.read_text(encoding="utf-8"))
        wanted = (scale, seed, as_of.isoformat(), LANG, "default")
        if (info.get("scale"), info.get("seed"), info.get("as_of"), info.get("language"),
                info.get("variant", {}).get("name")) == wanted:
            return folder
    if folder.exists():
        shutil.rmtree(folder)
    print(f"generating the French {scale} world, seed {seed}", flush=True)
    generate_world(folder, scale=scale, seed=seed, as_of=as_of, lang=LANG)
    return folder


def matched_database(world: Path, work_dir: Path, seed: int, scale: str = SCALE,
                     as_of: dt.date = AS_OF) -> tuple[str, dict[str, float]]:
    """``worlds.database_for``, rebuilt when the matcher changed since the profiles were computed: the database's
    marker is dropped unless the fingerprint recorded beside the database is the current one."""
    stem = Path(work_dir) / f"ranker-{scale}-{seed}-{as_of.isoformat()}"
    recorded = stem.with_suffix(".matcher.json")
    fingerprint = matcher_fingerprint()
    if not recorded.exists() or json.loads(recorded.read_text(encoding="utf-8")).get("matcher") != fingerprint:
        recorded.unlink(missing_ok=True)  # written again only once the profiles are committed
        stem.with_suffix(".ready.json").unlink(missing_ok=True)
    url, timings = database_for(world, work_dir, seed, scale, as_of=as_of)
    recorded.write_text(json.dumps({"matcher": fingerprint}), encoding="utf-8")
    return url, timings


def _settings(url: str, data_dir: Path) -> Any:
    from parcours.settings import Settings, get_settings

    base = get_settings()
    # One user sends every query, faster than the per-user search limit allows a person.
    return Settings(**{**base.model_dump(), "db_url": url, "data_dir": data_dir,
                       "index_dir": data_dir / "index", "search_rate_per_user": "1000000/minute"})


def search_checks(world: Path, url: str, data_dir: Path, *, known_items: int = KNOWN_ITEMS,
                  seed: int = 0) -> dict[str, Any]:
    """Build the index of the world's database in full, then over HTTP: known-item hit@10 by exact title, and the first
    item of every demo query with its relevance."""
    import numpy as np
    import pandas as pd
    from fastapi.testclient import TestClient

    from ingest.world_format import LIST_SEPARATOR
    from recommender.indexing import build_index
    from serving.app import create_app
    from serving.services.users import UserSpec, upsert_users
    from training.datasets.world_esco import load_esco_context

    settings = _settings(url, data_dir)
    started = time.perf_counter()
    built = build_index(url, settings, full=True)  # never an index left by an earlier run
    index_seconds = time.perf_counter() - started
    upsert_users(url, [UserSpec(username="bench-fr", password="bench-password-fr", role="analyst")],
                 source="bench")
    trainings = pd.read_csv(world / "trainings.csv", dtype=str, keep_default_na=False).set_index("training_id")
    today = dt.date.today().isoformat()
    ahead = [
        tid for tid, dates in trainings["start_dates"].items() if dates and max(dates.split(LIST_SEPARATOR)) > today
    ]
    rng = np.random.default_rng(seed)
    sample = sorted(rng.choice(ahead, size=min(known_items, len(ahead)), replace=False).tolist())
    esco = load_esco_context()
    found = 0
    ranks: list[int] = []
    demo: list[dict[str, Any]] = []
    with TestClient(create_app(settings)) as client:
        token = client.post("/v1/auth/token", data={"username": "bench-fr", "password": "bench-password-fr"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

        def items(query: str) -> list[dict[str, Any]]:
            answer = client.get("/v1/trainings/search", params={"q": query, "k": 10}, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"search answered {answer.status_code}: {answer.text[:300]}")
            return list(answer.json()["items"])

        for tid in sample:
            ids = [item["training_id"] for item in items(trainings.at[tid, "title"])]
            if tid in ids:
                found += 1
                ranks.append(ids.index(tid) + 1)
        for query, prefixes in DEMO_QUERIES.items():
            first = items(query)[:1]
            row = trainings.loc[first[0]["training_id"]] if first else None
            ok = row is not None and relevant(
                esco,
                [u for u in row["target_occupations"].split(LIST_SEPARATOR) if u],
                [u for u in row["skills"].split(LIST_SEPARATOR) if u],
                expected_occupations(esco, prefixes),
            )
            demo.append({"query": query, "title": row["title"] if row is not None else "", "relevant": ok,
                         "training_id": first[0]["training_id"] if first else ""})
    return {
        "known_items": len(sample),
        "hit@10": found / max(len(sample), 1),
        "hit@1": sum(r == 1 for r in ranks) / max(len(sample), 1),
        "index_seconds": index_seconds,
        "index_encoded": built.encoded,  # text vectors computed; the rest came from the work folder's cache
        "index_cached": built.cached,
        "demo": demo,
    }


def french_ranker(work_dir: Path, world: Path, url: str, seed: int = SEED) -> dict[str, Any]:
    """``prepare`` + ``fit_and_evaluate`` on the French world, as ``bench_ranker.measure`` does on an English one."""
    from training.pipeline import fit_and_evaluate, prepare

    prepared = prepare(url, holdout_days=HOLDOUT_DAYS, show_progress=False)
    _bundle, report = fit_and_evaluate(prepared, seed=FIT_SEED, truth_dir=world)
    return {"seed": seed, "report": report}


def measure_all(work_dir: Path, seed: int = SEED, scale: str = SCALE) -> dict[str, Any]:
    work_dir = Path(work_dir)
    fr_dir = work_dir / LANG  # its own databases: the English ones keep their names
    fr_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    world = french_world(fr_dir, seed, scale)
    generate_seconds = time.perf_counter() - started
    url, timings = matched_database(world, fr_dir, seed, scale)
    search = search_checks(world, url, fr_dir / f"serve-{scale}-{seed}")
    french = french_ranker(fr_dir, world, url, seed)
    matched_database(world_folder(work_dir, seed, scale), work_dir, seed, scale)  # then reused by ``measure``
    english = measure(work_dir, seed, scale)
    result = {"seed": seed, "scale": scale, "generate_seconds": generate_seconds, **timings, "search": search,
              "french": french, "english": {"seed": seed, "report": english["report"]}}
    (fr_dir / f"french-{scale}-{seed}.json").write_text(json.dumps(result, indent=2, default=str),
                                                        encoding="utf-8")
    return result


def render(result: dict[str, Any]) -> str:
    search = result["search"]
    hit = search["hit@10"]
    lines = [
        "## French world and French search (issue 15)",
        "",
        f"French `{result['scale']}` world (`parcours world generate --lang fr`), seed {result['seed']} (the "
        f"demo's), as of {AS_OF.isoformat()}: imported into its own SQLite database with its profiles, index "
        f"built in full from its French texts ({search['index_seconds']:.0f} s; "
        f"{search.get('index_encoded', 0):,} texts encoded, {search.get('index_cached', 0):,} read from the "
        "embedding cache of an earlier run), searches through the whole app in-process (TestClient, "
        "`GET /v1/trainings/search`, k = 10).",
        "",
        "| check | value | target |",
        "|---|---:|:---:|",
        f"| known-item search by exact French title, hit@10 ({search['known_items']} trainings with a session "
        f"ahead) | {hit:.3f} | ≥ {KNOWN_ITEM_TARGET} {'✅' if hit >= KNOWN_ITEM_TARGET else '❌'} |",
        f"| same, hit@1 | {search['hit@1']:.3f} | |",
        "",
        "The demo's queries, first item (relevant: it leads to one of the expected ESCO occupations, or at least "
        "half of its skills are theirs; the expected occupations are in `training/bench/bench_french.py`):",
        "",
        "| query | first item | relevant |",
        "|---|---|:---:|",
    ]
    for d in search["demo"]:
        lines.append(f"| {d['query']} | {d['title']} ({d['training_id']}) | {'✅' if d['relevant'] else '❌'} |")
    fr_ratio, fr_best = model_ratio(result["french"]["report"]["metrics"])
    en_ratio, en_best = model_ratio(result["english"]["report"]["metrics"])
    within = fr_ratio >= (1 - RANKER_TOLERANCE) * en_ratio
    fr_m, en_m = result["french"]["report"]["metrics"]["ndcg@10"], result["english"]["report"]["metrics"]["ndcg@10"]
    lines += [
        "",
        f"Ranker (`prepare` + `fit_and_evaluate` as in the ranker section, seed {result['seed']}): NDCG@10 of the "
        "model over the best baseline on each world.",
        "",
        "| world | NDCG@10 model | best baseline | ratio |",
        "|---|---:|---:|---:|",
        f"| English | {en_m['model']:.4f} | {en_m[en_best]:.4f} ({en_best}) | {en_ratio:.2f}× |",
        f"| French | {fr_m['model']:.4f} | {fr_m[fr_best]:.4f} ({fr_best}) | {fr_ratio:.2f}× |",
        "",
        f"French within {RANKER_TOLERANCE:.0%} of English (ratio ≥ {1 - RANKER_TOLERANCE:.2f} × the English one): "
        f"{'✅ yes' if within else '❌ no'} ({fr_ratio / en_ratio:.3f}). The French world holds the common trades "
        "the English one is drawn without (`world_params.COMMON_TRADES`): two worlds, not a translation.",
        "",
        "Reproduce: `python -m training.bench --only french` (world and database cached under the work folder's "
        "`fr/`, each world's database rebuilt when the occupation matcher changed; the index built in full every run).",
    ]
    return "\n".join(lines) + "\n"


def run(work_dir: Path) -> str:
    return render(measure_all(Path(work_dir)))


if __name__ == "__main__":
    import sys

    print(run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/bench")))
