"""The foundation API: token flow, who may read which holder, health and first recommendations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import Consent
from serving.app import create_app
from serving.services.users import UserSpec, upsert_users
from tests.factories import add_holder, add_provider, add_training

PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with session_scope(db_url) as session:
        add_provider(session)
        add_training(session, "T-ACC", "Accounting and payroll certificate",
                     description="Bookkeeping, tax returns, payroll and financial statements.", price_cents=120_000)
        add_training(session, "T-MAS", "Hot stone massage", description="Massage therapy with heated stones.")
        add_training(session, "T-OLD", "Expired accounting course", description="accounting",
                     sessions=[dt.date(2020, 1, 6)])
        add_holder(session, "H1", cpf_balance_cents=100_000, jobs=["accountant assistant"])
        add_holder(session, "H2", cpf_balance_cents=500_000, jobs=["massage therapist"])
        session.add(Consent(holder_id="H2", adviser_username="adviser"))
    upsert_users(db_url, [
        UserSpec("h1", PASSWORD, "holder", holder_id="H1"),
        UserSpec("h2", PASSWORD, "holder", holder_id="H2"),
        UserSpec("adviser", PASSWORD, "adviser"),
        UserSpec("admin", PASSWORD, "admin"),
        UserSpec("analyst", PASSWORD, "analyst"),
    ], source="test")
    # A private data folder: no MLflow store, no index (the developer's demo ones must not leak in).
    app = create_app(Settings(db_url=db_url, data_dir=tmp_path, cache_dir=get_settings().resolved_cache_dir()))
    with TestClient(app) as test_client:
        yield test_client


def token(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_health_says_degraded_while_no_model_is_trained(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["database"] == "ok"
    # No champion registered: content similarity answers, and health says so.
    assert body["status"] == "degraded"
    assert body["model_version"] == "content-tfidf"
    assert body["recommender"]["degraded"] is True


def test_wrong_password_is_401(client: TestClient) -> None:
    response = client.post("/v1/auth/token", data={"username": "h1", "password": "nope-nope"})
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong username or password"


@pytest.mark.parametrize("header", [None, "Bearer not-a-jwt", "Bearer "])
def test_missing_or_forged_token_is_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    assert client.get("/v1/holders/H1/account", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("username", "holder_id", "status"),
    [
        ("h1", "H1", 200),
        ("h1", "H2", 403),  # another holder's data
        ("h1", "NOPE", 403),  # a holder cannot probe which ids exist
        ("adviser", "H2", 200),  # consent active
        ("adviser", "H1", 403),  # no consent
        ("admin", "H1", 200),
        ("admin", "NOPE", 404),
        ("analyst", "H1", 403),  # pseudonymised data only
    ],
)
def test_who_may_read_a_holder(client: TestClient, username: str, holder_id: str, status: int) -> None:
    response = client.get(f"/v1/holders/{holder_id}/account", headers=token(client, username))
    assert response.status_code == status, response.text
    assert "detail" in response.json() or status == 200


def test_account_shows_imported_balance(client: TestClient) -> None:
    body = client.get("/v1/holders/H1/account", headers=token(client, "h1")).json()
    assert body["cpf_balance_cents"] == 100_000
    assert body["cec_balance_cents"] == 0
    assert [e["amount_cents"] for e in body["history"]] == [100_000]


def test_recommendations_are_relevant_open_and_priced(client: TestClient) -> None:
    response = client.get("/v1/holders/H1/recommendations?k=5", headers=token(client, "h1"))
    assert response.status_code == 200, response.text
    body = response.json()
    ids = [item["training_id"] for item in body["items"]]
    assert ids[0] == "T-ACC"
    assert "T-OLD" not in ids  # no future session: never proposed
    first = body["items"][0]
    assert first["price_cents"] == 120_000
    # 1,200 € price, 1,000 € of rights: 200 € plus the flat participation in force today.
    assert first["out_of_pocket_cents"] == 20_000 + 10_223


@pytest.mark.parametrize("k", [0, -1, 101, "ten"])
def test_bad_k_is_422(client: TestClient, k: object) -> None:
    response = client.get(f"/v1/holders/H1/recommendations?k={k}", headers=token(client, "h1"))
    assert response.status_code == 422
