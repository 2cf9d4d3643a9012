"""Preferences over HTTP (issue 14): round trip, target occupation as a URI or free text, who reads and who
writes, bad input refused with a reason, and the recommendations following the preferences at the next request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import AuditLog, Consent, Holder, Training
from recommender.learned import euros
from serving.app import create_app
from serving.services.preferences import REGIONS
from serving.services.users import UserSpec, upsert_users
from tests.factories import add_holder, add_provider, add_training
from training.datasets.world_reference import REGION_CODES

PASSWORD = "correct horse battery"
ACCOUNTANT = "http://data.europa.eu/esco/occupation/eda0d957-3c3c-4139-b89a-a18bc9e18897"
BOOKKEEPER = "http://data.europa.eu/esco/occupation/c3aae59e-1441-4b3e-bdd1-6da50dc7cf42"
MASSAGE_THERAPIST = "http://data.europa.eu/esco/occupation/9487f835-b5a9-4742-8ecf-35520911e28c"
A_SKILL = "http://data.europa.eu/esco/skill/00735ea6-e9c3-4e8c-9b5b-f7d5b5e9c6a2"
DB_URLS: dict[int, str] = {}  # the database behind each live test client


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with session_scope(db_url) as session:
        add_provider(session)
        add_training(session, "T-ACC", "Accounting certificate", description="For the future accountant.")
        add_training(session, "T-MAS", "Hot stone massage", description="For the future massage therapist.")
        add_training(session, "T-WEL", "Welding basics", description="Arc welding.")
        add_holder(session, "H1", cpf_balance_cents=100_000)
        add_holder(session, "H2", cpf_balance_cents=100_000, jobs=["massage therapist"])
        session.add(Consent(holder_id="H1", adviser_username="adviser"))
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


def auth(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def put(client: TestClient, body: dict[str, object], holder: str = "H1", by: str = "h1"):  # type: ignore[no-untyped-def]
    return client.put(f"/v1/holders/{holder}/preferences", json=body, headers=auth(client, by))


def test_region_codes_agree_with_the_world_generator() -> None:
    assert set(REGIONS) == set(REGION_CODES)


def test_defaults_before_any_change(client: TestClient) -> None:
    response = client.get("/v1/holders/H1/preferences", headers=auth(client, "h1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["holder_id"] == "H1"
    assert {k: body[k] for k in ("target_occupation", "preferred_modality", "preferred_region_code",
                                 "max_out_of_pocket_cents", "personalisation_enabled")} == {
        "target_occupation": None, "preferred_modality": None, "preferred_region_code": None,
        "max_out_of_pocket_cents": None, "personalisation_enabled": True}


def test_round_trip(client: TestClient) -> None:
    body = {"target_occupation": ACCOUNTANT, "preferred_modality": "hybrid", "preferred_region_code": "84",
            "max_out_of_pocket_cents": 25_000, "personalisation_enabled": True}
    response = put(client, body)
    assert response.status_code == 200, response.text
    written = response.json()
    assert written["target_occupation"] == {"uri": ACCOUNTANT, "label": "comptable", "score": 1.0,
                                            "low_confidence": False, "matched_from": "uri", "text": None}
    assert {k: written[k] for k in body if k != "target_occupation"} == {k: v for k, v in body.items()
                                                                          if k != "target_occupation"}
    assert written["preferred_region_name"] == "Auvergne-Rhône-Alpes"  # for pages that show it to a person
    read = client.get("/v1/holders/H1/preferences", headers=auth(client, "h1")).json()
    assert read == written
    with session_scope(DB_URLS[id(client)]) as session:
        holder = session.get(Holder, "H1")
        assert holder is not None
        assert (holder.target_occupation, holder.preferred_region_code, holder.max_out_of_pocket_cents) == (
            ACCOUNTANT, "84", 25_000)

    # Fields left out keep their value; null clears one.
    partial = put(client, {"preferred_region_code": None, "max_out_of_pocket_cents": 0}).json()
    assert partial["preferred_region_code"] is None and partial["max_out_of_pocket_cents"] == 0
    assert partial["preferred_region_name"] is None
    assert partial["preferred_modality"] == "hybrid" and partial["target_occupation"]["uri"] == ACCOUNTANT
    cleared = put(client, {"target_occupation": None, "preferred_modality": None}).json()
    assert cleared["target_occupation"] is None and cleared["preferred_modality"] is None


@pytest.mark.parametrize(
    ("text", "uri", "label", "exact"),
    # Matched in English, answered with ESCO's French label (what holders and advisers read).
    [("accountant", ACCOUNTANT, "comptable", True),
     ("bookkeeping and payroll", BOOKKEEPER, "chargé de comptabilité/chargée de comptabilité", False)],
)
def test_free_text_target_is_matched_and_answered_with_its_score(
    client: TestClient, text: str, uri: str, label: str, exact: bool
) -> None:
    response = put(client, {"target_occupation": f"  {text} "})
    assert response.status_code == 200, response.text
    target = response.json()["target_occupation"]
    assert (target["uri"], target["label"], target["matched_from"], target["text"]) == (uri, label, "text", text)
    assert target["low_confidence"] is False
    assert (target["score"] == 1.0) if exact else (0.5 <= target["score"] < 1.0)
    # Stored with its score: a later read says the same.
    assert client.get("/v1/holders/H1/preferences", headers=auth(client, "h1")).json()["target_occupation"] == target


def test_unknown_uri_is_422_with_close_suggestions(client: TestClient) -> None:
    typo = ACCOUNTANT[:-3] + "896"  # one wrong character of the identifier
    response = put(client, {"target_occupation": typo})
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["target_occupation"] and "unknown" in problem["msg"]
    suggestions = problem["ctx"]["suggestions"]
    assert suggestions[0] == {"uri": ACCOUNTANT, "label": "comptable", "score": suggestions[0]["score"]}
    assert len(suggestions) == 5


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (A_SKILL, "skill"),
        ("https://example.org/jobs/accountant", "ESCO occupation"),
        ("xyzzy qwerty", "surely"),  # free text that is no job: refused, with the matcher's best guesses
        ("acountant", "surely"),  # a typo is low-confidence: the holder confirms by sending a URI
        ("   ", "empty"),
    ],
)
def test_unsure_or_wrong_target_is_422_with_a_reason(client: TestClient, value: str, words: str) -> None:
    response = put(client, {"target_occupation": value})
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["target_occupation"] and words in problem["msg"]
    if value == "acountant":
        assert ACCOUNTANT in [s["uri"] for s in problem["ctx"]["suggestions"]]
    with session_scope(DB_URLS[id(client)]) as session:
        holder = session.get(Holder, "H1")
        assert holder is not None and holder.target_occupation is None  # nothing changed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preferred_region_code": "99"}, "preferred_region_code"),
        ({"preferred_region_code": "11", "target_occupation": "xyzzy qwerty"}, "target_occupation"),
    ],
)
def test_service_rules_are_422_with_the_field_and_change_nothing(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    response = put(client, body)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == [field] and problem["msg"]
    assert client.get("/v1/holders/H1/preferences", headers=auth(client, "h1")).json()["preferred_region_code"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"preferred_modality": "car"},
        {"preferred_region_code": "123456789"},
        {"max_out_of_pocket_cents": -1},
        {"max_out_of_pocket_cents": 12.5},
        {"max_out_of_pocket_cents": "100"},
        {"max_out_of_pocket_cents": 10**20},  # would overflow a BIGINT
        {"personalisation_enabled": None},
        {"personalisation_enabled": "yes"},
        {"target_occupation": "x" * 201},
        {"colour": "blue"},
    ],
)
def test_malformed_preferences_are_422(client: TestClient, body: dict[str, object]) -> None:
    response = put(client, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail and all(p.get("msg") or p.get("message") for p in detail)


@pytest.mark.parametrize(
    ("username", "holder_id", "read", "write"),
    [
        ("h1", "H1", 200, 200),
        ("h2", "H1", 403, 403),  # another holder
        ("h1", "NOPE", 403, 403),  # cannot probe ids
        ("adviser", "H1", 200, 403),  # consent: reads, never writes
        ("adviser2", "H1", 403, 403),  # no consent
        ("analyst", "H1", 403, 403),
        ("admin", "H1", 200, 200),
        ("admin", "NOPE", 404, 404),
    ],
)
def test_who_reads_and_who_writes(client: TestClient, username: str, holder_id: str, read: int, write: int) -> None:
    headers = auth(client, username)
    assert client.get(f"/v1/holders/{holder_id}/preferences", headers=headers).status_code == read
    response = client.put(f"/v1/holders/{holder_id}/preferences", json={"preferred_modality": "remote"},
                          headers=headers)
    assert response.status_code == write, response.text


def test_reads_and_writes_are_audited(client: TestClient) -> None:
    client.get("/v1/holders/H1/preferences", headers=auth(client, "h1"))
    put(client, {"preferred_modality": "onsite", "max_out_of_pocket_cents": 100})
    client.get("/v1/holders/H1/preferences", headers=auth(client, "adviser"))
    with session_scope(DB_URLS[id(client)]) as session:
        consent_id = session.scalars(select(Consent.consent_id).where(Consent.holder_id == "H1")).one()
        rows = session.execute(select(AuditLog.actor, AuditLog.role, AuditLog.action, AuditLog.resource)
                               .where(AuditLog.holder_id == "H1").order_by(AuditLog.audit_id)).all()
    assert [tuple(r) for r in rows] == [
        ("h1", "holder", "read", "/holders/H1/preferences"),
        ("h1", "holder", "update-preferences",
         "/holders/H1/preferences: preferred_modality, max_out_of_pocket_cents"),
        ("adviser", "adviser", "read", f"/holders/H1/preferences (consent {consent_id})"),
    ]


def test_personalisation_off_gives_the_neutral_list(client: TestClient) -> None:
    h1 = auth(client, "h1")
    put(client, {"target_occupation": MASSAGE_THERAPIST})
    personal = client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json()
    assert personal["personalised"] is True
    assert personal["items"][0]["training_id"] == "T-MAS"

    assert put(client, {"personalisation_enabled": False}).json()["personalisation_enabled"] is False
    neutral = client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json()
    assert neutral["personalised"] is False
    # The neutral list is the same for every holder: what another holder gets when asking for neutral.
    other = client.get("/v1/holders/H2/recommendations?k=3&personalised=false", headers=auth(client, "h2")).json()
    assert [i["training_id"] for i in neutral["items"]] == [i["training_id"] for i in other["items"]]
    # A request cannot personalise a holder who opted out; switching back on takes effect at once.
    assert client.get("/v1/holders/H1/recommendations?k=3&personalised=true", headers=h1).json()[
        "personalised"] is False
    put(client, {"personalisation_enabled": True})
    assert client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json()["personalised"] is True


def test_a_new_target_is_used_at_the_next_request_without_a_profile_recompute(client: TestClient) -> None:
    h1 = auth(client, "h1")
    put(client, {"target_occupation": "accountant"})
    assert client.get("/v1/holders/H1/recommendations?k=1", headers=h1).json()["items"][0]["training_id"] == "T-ACC"
    put(client, {"target_occupation": MASSAGE_THERAPIST})
    assert client.get("/v1/holders/H1/recommendations?k=1", headers=h1).json()["items"][0]["training_id"] == "T-MAS"


def test_the_most_out_of_pocket_keeps_only_items_within_it(client: TestClient) -> None:
    h1 = auth(client, "h1")
    put(client, {"target_occupation": MASSAGE_THERAPIST})
    with session_scope(DB_URLS[id(client)]) as session:  # priced at request time: no reload needed
        session.get(Training, "T-MAS").price_cents = 900_000  # type: ignore[union-attr]
    uncapped = client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json()
    assert uncapped["max_out_of_pocket_cents"] is None and uncapped["notice"] is None
    cost = {item["training_id"]: item["out_of_pocket_cents"] for item in uncapped["items"]}
    assert uncapped["items"][0]["training_id"] == "T-MAS" and cost["T-MAS"] > cost["T-ACC"] == cost["T-WEL"]

    put(client, {"max_out_of_pocket_cents": cost["T-ACC"]})
    capped = client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json()
    assert capped["max_out_of_pocket_cents"] == cost["T-ACC"]
    assert {item["training_id"] for item in capped["items"]} == {"T-ACC", "T-WEL"}  # fewer than k: none else fits
    assert all(item["out_of_pocket_cents"] <= cost["T-ACC"] for item in capped["items"])
    # Why only two, in French: the ceiling, and what the training it set aside would cost.
    assert capped["notice"].startswith(f"Seules 2 formations suggérées tiennent dans votre reste à charge maximal de "
                                       f"{euros(cost['T-ACC'])} : la moins chère des suivantes vous coûterait "
                                       f"{euros(cost['T-MAS'])}")
    assert client.get("/v1/holders/H1/recommendations?k=2", headers=h1).json()["notice"] is None  # as many as asked

    put(client, {"max_out_of_pocket_cents": cost["T-ACC"] - 1})
    empty = client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json()
    assert empty["items"] == [] and empty["notice"].startswith(
        f"Aucune formation suggérée ne tient dans votre reste à charge maximal de {euros(cost['T-ACC'] - 1)} : la "
        f"moins chère vous coûterait {euros(cost['T-ACC'])}")
    # The neutral list is the same for everyone: no ceiling there.
    neutral = client.get("/v1/holders/H1/recommendations?k=3&personalised=false", headers=h1).json()
    assert neutral["max_out_of_pocket_cents"] is None and len(neutral["items"]) == 3 and neutral["notice"] is None

    put(client, {"max_out_of_pocket_cents": None})
    assert client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json() == uncapped


def test_a_training_is_priced_once_per_request_whatever_the_rounds(client: TestClient,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The ceiling asks the recommender again; the items it had already priced are not estimated again."""
    from serving.services import recommendations

    h1 = auth(client, "h1")
    put(client, {"target_occupation": MASSAGE_THERAPIST})
    with session_scope(DB_URLS[id(client)]) as session:
        session.get(Training, "T-MAS").price_cents = 900_000  # type: ignore[union-attr]
    priced: list[str] = []
    estimate = recommendations.estimate_funding_many

    def counted(session, holder, prices, on, **kwargs):  # type: ignore[no-untyped-def]
        priced.extend(prices)
        return estimate(session, holder, prices, on, **kwargs)

    monkeypatch.setattr(recommendations, "estimate_funding_many", counted)
    uncapped = client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json()
    cheap = min(item["out_of_pocket_cents"] for item in uncapped["items"])
    priced.clear()
    put(client, {"max_out_of_pocket_cents": cheap})
    capped = client.get("/v1/holders/H1/recommendations?k=3", headers=h1).json()
    assert capped["items"] and "T-MAS" not in {item["training_id"] for item in capped["items"]}
    assert "T-MAS" in priced and len(priced) == len(set(priced))  # asked again, each training estimated once
    put(client, {"max_out_of_pocket_cents": None})
