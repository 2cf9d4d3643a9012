"""Catalogue search in French: the lexical analysis (accents, elision, stop words, light stemming) and, on a
French tiny world served over HTTP, the demo's French queries answered first by a relevant training and
known-item search by exact French title."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from features.french_text import search_tokens
from ingest.world_format import LIST_SEPARATOR
from ingest.world_import import import_folder
from parcours.settings import Settings
from parcours.store.engine import get_engine
from recommender.indexing import build_index
from recommender.lexical import BM25Index
from serving.app import create_app
from serving.services.users import UserSpec, upsert_users
from tests.search_catalogue import cache_folder
from training.bench.bench_french import DEMO_QUERIES, expected_occupations, relevant
from training.datasets.world import generate_world
from training.datasets.world_esco import load_esco_context

PASSWORD = "french-search-password"
SEED = 7
AS_OF = dt.date(2026, 11, 1)


# --- The analysis ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("comptabilité", "Comptabilite"),  # accents folded, case too
        ("comptabilité", "comptables"),  # one stem for the family
        ("soudeuse", "soudeur"),  # feminine to masculine
        ("conductrice d’autobus", "conducteur autobus"),  # typographic elision, stop word
        ("soudure", "techniques de soudage"),  # nouns of action meet their verb
        ("aide-soignante", "aide soignant"),
        ("infirmières", "infirmier"),
        ("maçonne", "macon"),
    ],
)
def test_french_forms_meet(first: str, second: str) -> None:
    assert set(search_tokens(first)) <= set(search_tokens(second)) or set(search_tokens(second)) <= set(
        search_tokens(first)
    )
    assert search_tokens(first)


def test_elisions_and_stop_words_go_codes_stay() -> None:
    assert search_tokens("l'accueil d'un client et de la clientèle") == ["accueil", "client", "clientel"]
    assert search_tokens("RNCP34567") == ["rncp34567"]
    assert search_tokens("the stone cutter") == search_tokens("stone cutter")
    assert search_tokens("") == []


def test_words_that_differ_stay_apart() -> None:
    assert set(search_tokens("chauffeur")).isdisjoint(search_tokens("chauffage"))  # driver is not heating
    assert set(search_tokens("boulanger")).isdisjoint(search_tokens("soudure"))


def test_bm25_finds_the_french_text_for_an_unaccented_query() -> None:
    texts = ["Comptabilité et paie — certificat", "Soudure à l'arc", "Massage aux pierres chaudes", "Stone cutting"]
    index = BM25Index.from_texts(texts)
    for query, expected in (("comptabilite", 0), ("soudage", 1), ("pierre chaude", 2), ("stone cutter", 3)):
        scores, ceiling = index.scores(query)
        assert ceiling > 0 and int(np.argmax(scores)) == expected, query


# --- A French world over HTTP --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Settings]]:
    folder = tmp_path_factory.mktemp("search-fr")
    world = folder / "world"
    generate_world(world, scale="tiny", seed=SEED, as_of=AS_OF, lang="fr")
    shutil.copyfile(sqlite_template, folder / "parcours.db")
    url = f"sqlite:///{folder / 'parcours.db'}"
    import_folder(world, url)
    upsert_users(url, [UserSpec(username="ana", password=PASSWORD, role="analyst")], source="test")
    settings = Settings(
        data_dir=folder, cache_dir=cache_folder(tmp_path_factory), db_url=url,
        search_rate_per_user="1000000/minute",  # one user sends every known-item query
    )
    build_index(url, settings)
    yield world, settings
    get_engine(url).dispose()


@pytest.fixture(scope="module")
def client(served: tuple[Path, Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(served[1])) as test_client:
        answer = test_client.post("/v1/auth/token", data={"username": "ana", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        test_client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield test_client


def search(client: TestClient, query: str) -> list[str]:
    answer = client.get("/v1/trainings/search", params={"q": query, "k": 10})
    assert answer.status_code == 200, answer.text
    return [item["training_id"] for item in answer.json()["items"]]


@pytest.fixture(scope="module")
def trainings(served: tuple[Path, Settings]) -> pd.DataFrame:
    return pd.read_csv(served[0] / "trainings.csv", dtype=str, keep_default_na=False).set_index("training_id")


def _relevant(trainings: pd.DataFrame, training_id: str, query: str) -> bool:
    esco = load_esco_context()
    row = trainings.loc[training_id]
    return relevant(
        esco,
        [u for u in row["target_occupations"].split(LIST_SEPARATOR) if u],
        [u for u in row["skills"].split(LIST_SEPARATOR) if u],
        expected_occupations(esco, DEMO_QUERIES[query]),
    )


@pytest.mark.parametrize("query", list(DEMO_QUERIES))
def test_demo_query_answers_a_relevant_training_first(
    client: TestClient, trainings: pd.DataFrame, query: str
) -> None:
    """Each query expects the ESCO occupations of ``bench_french.DEMO_QUERIES`` (e.g. "cariste": forklift
    operator or warehouse worker; "secrétaire médicale": medical administrative assistant); the first item must
    lead to one of them or teach mostly their skills."""
    ids = search(client, query)
    assert ids, query
    assert _relevant(trainings, ids[0], query), (query, trainings.at[ids[0], "title"])


def test_the_relevance_check_can_fail(client: TestClient, trainings: pd.DataFrame) -> None:
    baker = search(client, "boulanger")[0]
    assert _relevant(trainings, baker, "boulanger")
    assert not _relevant(trainings, baker, "soudure")
    assert not _relevant(trainings, baker, "conducteur de bus")


def test_known_item_search_by_french_title(client: TestClient, trainings: pd.DataFrame) -> None:
    today = dt.date.today().isoformat()
    ahead = [t for t, dates in trainings["start_dates"].items() if dates and dates.split(LIST_SEPARATOR)[-1] > today]
    sample = sorted(np.random.default_rng(0).choice(ahead, size=min(120, len(ahead)), replace=False).tolist())
    found = sum(t in search(client, trainings.at[t, "title"]) for t in sample)
    assert found / len(sample) >= 0.9
