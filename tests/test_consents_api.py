"""Consent over HTTP (issue 14): a holder grants an adviser access, lists and revokes it; the adviser's access
follows at the next request; every grant, use and revocation is in the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import AuditLog, Consent
from serving.app import create_app
from serving.services.users import UserSpec, upsert_users
from tests.factories import add_holder, add_provider, add_training

PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with session_scope(db_url) as session:
        add_provider(session)
        add_training(session, "T-ACC", "Accounting and payroll certificate", description="Bookkeeping and payroll.")
        add_holder(session, "H1", cpf_balance_cents=100_000, jobs=["accountant assistant"])
        add_holder(session, "H2", cpf_balance_cents=50_000)
    upsert_users(db_url, [
        UserSpec("h1", PASSWORD, "holder", holder_id="H1"),
        UserSpec("h2", PASSWORD, "holder", holder_id="H2"),
        UserSpec("adviser", PASSWORD, "adviser"),
        UserSpec("adviser2", PASSWORD, "adviser"),
        UserSpec("admin", PASSWORD, "admin"),
        UserSpec("analyst", PASSWORD, "analyst"),
    ], source="test")
    app = create_app(Settings(db_url=db_url, data_dir=tmp_path, cache_dir=get_settings().resolved_cache_dir()))
    with TestClient(app) as test_client:
        DB_URLS[id(test_client)] = db_url
        yield test_client
        del DB_URLS[id(test_client)]


DB_URLS: dict[int, str] = {}  # the database behind each live test client


def auth(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def grant(client: TestClient, holder: str = "H1", by: str = "h1", **body: object):  # type: ignore[no-untyped-def]
    return client.post(f"/v1/holders/{holder}/consents", json={"adviser": "adviser", **body}, headers=auth(client, by))


def audit_rows(client: TestClient, holder_id: str) -> list[tuple[str, str, str]]:
    with session_scope(DB_URLS[id(client)]) as session:
        rows = session.execute(
            select(AuditLog.actor, AuditLog.action, AuditLog.resource)
            .where(AuditLog.holder_id == holder_id).order_by(AuditLog.audit_id)
        ).all()
    return [(actor, action, resource) for actor, action, resource in rows]


def soon(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).isoformat()


def test_grant_read_revoke_then_403_and_every_step_audited(client: TestClient) -> None:
    adviser = auth(client, "adviser")
    assert client.get("/v1/holders/H1/account", headers=adviser).status_code == 403  # no consent yet

    response = grant(client)
    assert response.status_code == 201, response.text
    consent = response.json()
    assert consent["holder_id"] == "H1" and consent["adviser"] == "adviser"
    assert consent["active"] is True and consent["revoked_at"] is None and consent["expires_at"] is None
    cid = consent["consent_id"]

    # Effective at the next request, on every holder resource.
    assert client.get("/v1/holders/H1/account", headers=adviser).status_code == 200
    assert client.get("/v1/holders/H1/preferences", headers=adviser).status_code == 200
    listed = client.get("/v1/advisers/me/holders", headers=adviser).json()
    assert listed == [{"holder_id": "H1", "consent_id": cid, "granted_at": consent["granted_at"], "expires_at": None}]

    revoked = client.post(f"/v1/holders/H1/consents/{cid}/revoke", headers=auth(client, "h1"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["active"] is False and revoked.json()["revoked_at"] is not None

    response = client.get("/v1/holders/H1/account", headers=adviser)
    assert response.status_code == 403
    assert "consent" in response.json()["detail"]
    assert client.get("/v1/advisers/me/holders", headers=adviser).json() == []

    rows = audit_rows(client, "H1")
    actions = [(actor, action) for actor, action, _ in rows]
    assert ("h1", "consent-grant") in actions and ("h1", "consent-revoke") in actions
    grant_row = next(r for r in rows if r[1] == "consent-grant")
    assert grant_row[2] == f"/holders/H1/consents/{cid} to adviser"
    uses = [r for r in rows if r[0] == "adviser" and r[1] == "read"]
    # The adviser's reads (account, preferences) name the consent that allowed them; the refused read is no use.
    assert [r[2] for r in uses] == [f"/holders/H1/account (consent {cid})", f"/holders/H1/preferences (consent {cid})"]
    assert actions.index(("h1", "consent-grant")) < actions.index(("adviser", "read")) < actions.index(
        ("h1", "consent-revoke"))


def test_revoking_twice_changes_nothing(client: TestClient) -> None:
    cid = grant(client).json()["consent_id"]
    first = client.post(f"/v1/holders/H1/consents/{cid}/revoke", headers=auth(client, "h1")).json()
    second = client.post(f"/v1/holders/H1/consents/{cid}/revoke", headers=auth(client, "h1"))
    assert second.status_code == 200
    assert second.json()["revoked_at"] == first["revoked_at"]
    assert [a for _, a, _ in audit_rows(client, "H1")].count("consent-revoke") == 1


def test_expired_consent_is_403_at_the_next_request(client: TestClient) -> None:
    response = grant(client, expires_at=soon(hours=1))
    assert response.status_code == 201, response.text
    assert response.json()["active"] is True
    cid = response.json()["consent_id"]
    adviser = auth(client, "adviser")
    assert client.get("/v1/holders/H1/account", headers=adviser).status_code == 200
    assert client.get("/v1/advisers/me/holders", headers=adviser).json()[0]["expires_at"] is not None
    # Two hours pass: the consent expired an hour ago.
    with session_scope(DB_URLS[id(client)]) as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        session.execute(update(Consent).where(Consent.consent_id == cid)
                        .values(granted_at=past, expires_at=past + dt.timedelta(hours=1)))
    assert client.get("/v1/holders/H1/account", headers=adviser).status_code == 403
    assert client.get("/v1/advisers/me/holders", headers=adviser).json() == []
    listed = client.get("/v1/holders/H1/consents", headers=auth(client, "h1")).json()
    assert [(c["consent_id"], c["active"], c["revoked_at"]) for c in listed] == [(cid, False, None)]
    # Once expired, a new consent may be granted.
    assert grant(client).status_code == 201


def test_consents_are_listed_newest_first_and_only_for_their_holder(client: TestClient) -> None:
    first = grant(client).json()["consent_id"]
    second = grant(client, adviser="adviser2").json()["consent_id"]
    grant(client, holder="H2", by="h2")
    listed = client.get("/v1/holders/H1/consents", headers=auth(client, "h1"))
    assert listed.status_code == 200
    assert [c["consent_id"] for c in listed.json()] == [second, first]
    assert all(c["holder_id"] == "H1" for c in listed.json())
    admin_view = client.get("/v1/holders/H1/consents", headers=auth(client, "admin")).json()
    assert [c["consent_id"] for c in admin_view] == [second, first]


def test_one_active_consent_per_adviser(client: TestClient) -> None:
    cid = grant(client).json()["consent_id"]
    again = grant(client)
    assert again.status_code == 409
    assert str(cid) in again.json()["detail"]


@pytest.mark.parametrize(
    ("username", "holder_id", "status"),
    [
        ("h2", "H1", 403),  # another holder cannot grant for H1
        ("h2", "NOPE", 403),  # nor probe which holder ids exist
        ("adviser", "H1", 403),  # an adviser cannot grant themself access
        ("analyst", "H1", 403),
        ("admin", "H1", 201),
        ("admin", "NOPE", 404),
    ],
)
def test_who_may_grant(client: TestClient, username: str, holder_id: str, status: int) -> None:
    response = grant(client, holder=holder_id, by=username)
    assert response.status_code == status, response.text


@pytest.mark.parametrize("username", ["h2", "adviser", "analyst"])
def test_only_the_holder_or_an_admin_lists_and_revokes(client: TestClient, username: str) -> None:
    cid = grant(client).json()["consent_id"]
    headers = auth(client, username)
    assert client.get("/v1/holders/H1/consents", headers=headers).status_code == 403
    assert client.post(f"/v1/holders/H1/consents/{cid}/revoke", headers=headers).status_code == 403
    assert client.get("/v1/holders/H1/account", headers=auth(client, "adviser")).status_code == 200  # still active


def test_a_consent_of_another_holder_is_not_found(client: TestClient) -> None:
    cid = grant(client, holder="H2", by="h2").json()["consent_id"]
    assert client.post(f"/v1/holders/H1/consents/{cid}/revoke", headers=auth(client, "h1")).status_code == 404
    assert client.post("/v1/holders/H1/consents/999999/revoke", headers=auth(client, "h1")).status_code == 404
    assert client.get("/v1/holders/H2/account", headers=auth(client, "adviser")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"adviser": "nobody"}, "adviser"),  # no such user
        ({"adviser": "h2"}, "adviser"),  # a user, not an adviser
        ({"adviser": "admin"}, "adviser"),
        ({"adviser": "adviser", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),  # in the past
        ({"adviser": "adviser", "expires_at": "2020-01-01T00:00:00"}, "expires_at"),  # naive: read as UTC
    ],
)
def test_bad_grants_are_422_with_a_reason(client: TestClient, body: dict[str, object], field: str) -> None:
    response = client.post("/v1/holders/H1/consents", json=body, headers=auth(client, "h1"))
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == [field] and problem["msg"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"adviser": ""},
        {"adviser": 12},
        {"adviser": "adviser", "expires_at": "next tuesday"},
        {"adviser": "adviser", "scope": "all"},  # unknown field
    ],
)
def test_malformed_grants_are_422(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/v1/holders/H1/consents", json=body, headers=auth(client, "h1"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_only_advisers_have_consenting_holders(client: TestClient) -> None:
    grant(client)
    for username in ("h1", "admin", "analyst"):
        assert client.get("/v1/advisers/me/holders", headers=auth(client, username)).status_code == 403
    assert client.get("/v1/advisers/me/holders", headers=auth(client, "adviser2")).json() == []
    assert client.get("/v1/advisers/me/holders").status_code == 401


def test_grant_revoke_and_preferences_honour_an_idempotency_key(client: TestClient) -> None:
    """A replayed grant answers the first consent instead of a 409 or a second row; a replayed revocation or
    preferences change answers the first answer; the same key with another body is refused."""
    holder = {**auth(client, "h1"), "Idempotency-Key": "grant-1"}
    first = client.post("/v1/holders/H1/consents", json={"adviser": "adviser"}, headers=holder)
    again = client.post("/v1/holders/H1/consents", json={"adviser": "adviser"}, headers=holder)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = client.post("/v1/holders/H1/consents", json={"adviser": "h2"}, headers=holder)
    assert other.status_code == 422
    consent_id = first.json()["consent_id"]
    revoke = {**auth(client, "h1"), "Idempotency-Key": "revoke-1"}
    revoked = [client.post(f"/v1/holders/H1/consents/{consent_id}/revoke", headers=revoke) for _ in range(2)]
    assert revoked[0].status_code == revoked[1].status_code == 200 and revoked[0].json() == revoked[1].json()
    assert [row[1] for row in audit_rows(client, "H1")].count("consent-grant") == 1
    preferences = {**auth(client, "h1"), "Idempotency-Key": "prefs-1"}
    body = {"preferred_modality": "remote"}
    answers = [client.put("/v1/holders/H1/preferences", json=body, headers=preferences) for _ in range(2)]
    assert answers[0].status_code == answers[1].status_code == 200 and answers[0].json() == answers[1].json()
    assert client.post("/v1/holders/H1/consents/99999999999/revoke", headers=auth(client, "h1")).status_code in (
        404, 422)  # an id beyond the column's range is never a 500
