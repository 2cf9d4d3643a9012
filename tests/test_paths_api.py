"""Career paths over HTTP (issue 14) on the tiny world: who may ask, the answer's shape and money, every path
valid by the planner's own checker (prerequisites, session dates in order, budget), unknown targets with
suggestions, a budget of 0, bad bodies refused with 422 (never 500), and the planner built once per process."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import AuditLog, Holder, Training
from recommender.path_planner import CareerPath, PathRequest, PlannedStep, path_violations
from serving.app import create_app
from serving.services import paths as paths_service
from serving.services.holders import today
from serving.services.paths import planning_context, waiting_topups
from serving.services.users import UserSpec, upsert_users

pytestmark = pytest.mark.xdist_group("tiny_world")

PASSWORD = "paths-api-password"
HOLDERS = ("H000001", "H000002", "H000003")
OCCUPATION = "http://data.europa.eu/esco/occupation/"


@pytest.fixture(scope="module")
def world(tiny_world: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A private copy of the tiny world's database (consents and users are added to it) and a data folder."""
    _folder, url = tiny_world
    where = tmp_path_factory.mktemp("paths-api")
    copy = where / "tiny.db"
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    url = f"sqlite:///{copy}"
    upsert_users(url, [
        *[UserSpec(f"holder-{h}", PASSWORD, "holder", holder_id=h) for h in HOLDERS],
        UserSpec("path-adviser", PASSWORD, "adviser"),
        UserSpec("path-admin", PASSWORD, "admin"),
        UserSpec("path-analyst", PASSWORD, "analyst"),
    ], source="test")
    return url, where / "data"


@pytest.fixture(scope="module")
def client(world: tuple[str, Path]) -> Iterator[TestClient]:
    url, data_dir = world
    settings = Settings(db_url=url, data_dir=data_dir, cache_dir=get_settings().resolved_cache_dir())
    # Exact answers, whatever the load on the machine (the served limit is 1 s, then the greedy fallback).
    with pytest.MonkeyPatch.context() as patch, TestClient(create_app(settings)) as test_client:
        patch.setattr(paths_service, "TIME_LIMIT_S", 20.0)
        yield test_client


TOKENS: dict[tuple[int, str], dict[str, str]] = {}


def auth(client: TestClient, username: str) -> dict[str, str]:
    """The bearer header of ``username`` (one login per user and client: the login is rate limited)."""
    key = (id(client), username)
    if key not in TOKENS:
        response = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        TOKENS[key] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return TOKENS[key]


def target_of(url: str, holder_id: str) -> str:
    with session_scope(url) as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None and holder.target_occupation
        return holder.target_occupation


def paths(client: TestClient, holder_id: str, by: str, **body: Any):  # type: ignore[no-untyped-def]
    return client.post(f"/v1/holders/{holder_id}/paths", json=body, headers=auth(client, by))


def as_career_path(path: dict[str, Any]) -> CareerPath:
    """The answer's path as the planner's type, for ``path_violations``."""
    steps = tuple(PlannedStep(
        training_id=s["training_id"], title=s["title"], session_start=dt.date.fromisoformat(s["session_start"]),
        session_end=dt.date.fromisoformat(s["session_end"]), hours=s["hours"], price_cents=s["price_cents"],
        topups_cents=s["cost"]["topups_cents"], cpf_cents=s["cost"]["cpf_cents"], cec_cents=s["cost"]["cec_cents"],
        participation_cents=s["cost"]["participation_cents"], out_of_pocket_cents=s["cost"]["out_of_pocket_cents"],
        skills_gained=tuple(k["uri"] for k in s["skills_gained"]), reasons=tuple(s["reasons"]),
    ) for s in path["steps"])
    return CareerPath(
        kinds=tuple(path["kinds"]), steps=steps, solver=path["solver"], price_cents=path["price_cents"],
        topups_cents=path["topups_cents"], cpf_cents=path["cpf_cents"], cec_cents=path["cec_cents"],
        participation_cents=path["participation_cents"], out_of_pocket_cents=path["out_of_pocket_cents"],
        hours=path["hours"], skills_gained=tuple(k["uri"] for k in path["skills_gained"]),
        remaining_gap=tuple(k["uri"] for k in path["remaining_gap"]), gap_coverage=path["gap_coverage"],
    )


def violations(client: TestClient, url: str, holder_id: str, answer: dict[str, Any], *, max_steps: int = 4,
               max_hours: float = 600.0, budget_cents: int | None = None) -> list[str]:
    planner = client.app.state.path_planner.get(None, client.app.state.recommender, today()).planner  # type: ignore[attr-defined]
    with session_scope(url) as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        context = planning_context(session, holder)
        topups = waiting_topups(session, holder_id)
    request = PathRequest(target_occupation=answer["target"]["uri"], budget_cents=budget_cents, max_steps=max_steps,
                          max_hours=max_hours, today=today(), topups=topups)
    return [f"path {i + 1}: {problem}" for i, path in enumerate(answer["paths"])
            for problem in path_violations(planner, context, request, as_career_path(path))]


def grant(client: TestClient, holder_id: str) -> int:
    response = client.post(f"/v1/holders/{holder_id}/consents", json={"adviser": "path-adviser"},
                           headers=auth(client, f"holder-{holder_id}"))
    assert response.status_code == 201, response.text
    return int(response.json()["consent_id"])


def revoke(client: TestClient, holder_id: str, consent_id: int) -> None:
    response = client.post(f"/v1/holders/{holder_id}/consents/{consent_id}/revoke",
                           headers=auth(client, f"holder-{holder_id}"))
    assert response.status_code == 200, response.text


# --- The answer -------------------------------------------------------------------------------------------


def test_the_holder_gets_valid_priced_explained_paths(client: TestClient, world: tuple[str, Path]) -> None:
    url, _ = world
    target = target_of(url, "H000001")
    response = paths(client, "H000001", "holder-H000001", target_occupation=target)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["holder_id"] == "H000001"
    assert body["target"]["uri"] == target and body["target"]["score"] == 1.0 and body["target"]["label"]
    account = client.get("/v1/holders/H000001/account", headers=auth(client, "holder-H000001")).json()
    balances = account["balances_cents"]
    assert body["budget_cents"] == balances["cpf"] + balances["cec"]  # default: the rights, CPF + CEC
    assert body["topups_cents"] == 0
    assert body["gap"] and all(g["uri"].startswith("http://data.europa.eu/esco/skill/") and g["label"]
                               for g in body["gap"])
    weights = [g["weight"] for g in body["gap"]]
    assert weights == sorted(weights, reverse=True)
    assert body["solver_status"] == "optimal" and body["message"] == f"{len(body['paths'])} parcours proposé" + (
        "s." if len(body["paths"]) > 1 else ".")
    assert body["paths"] and "best" in body["paths"][0]["kinds"]
    with session_scope(url) as session:
        home = session.get(Holder, "H000001").region_code  # type: ignore[union-attr]
    for path in body["paths"]:
        assert path["training_ids"] == [s["training_id"] for s in path["steps"]]
        assert 1 <= len(path["steps"]) <= 4
        assert 0.0 < path["gap_coverage"] <= 1.0
        assert path["total_cost_cents"] == path["price_cents"] + path["participation_cents"]
        assert path["cpf_cents"] + path["cec_cents"] + path["out_of_pocket_cents"] <= body["budget_cents"]
        for step in path["steps"]:
            cost = step["cost"]
            assert (cost["topups_cents"] + cost["cpf_cents"] + cost["cec_cents"] + cost["out_of_pocket_cents"]
                    - cost["participation_cents"]) == step["price_cents"]
            assert step["title"] and step["reasons"]
            assert step["session_start"] < step["session_end"]
            with session_scope(url) as session:  # where and how it is given, as the catalogue says
                training = session.get(Training, step["training_id"])
                assert training is not None
                assert (step["modality"], step["region_code"]) == (training.modality, training.region_code)
            if step["modality"] != "remote" and step["region_code"] == home:
                assert "Dans votre région" in step["reasons"]
        assert path["start"] == path["steps"][0]["session_start"] and path["end"] == path["steps"][-1]["session_end"]
        gained = {k["uri"] for k in path["skills_gained"]}
        assert gained.isdisjoint(k["uri"] for k in path["remaining_gap"])
        assert gained | {k["uri"] for k in path["remaining_gap"]} == {g["uri"] for g in body["gap"]}
    assert violations(client, url, "H000001", body) == []


@pytest.mark.parametrize("holder_id", HOLDERS)
def test_every_path_respects_prerequisites_dates_and_limits(client: TestClient, world: tuple[str, Path],
                                                             holder_id: str) -> None:
    url, _ = world
    body = {"target_occupation": target_of(url, holder_id), "max_steps": 3, "max_hours": 250}
    response = paths(client, holder_id, "path-admin", **body)
    assert response.status_code == 200, response.text
    answer = response.json()
    for path in answer["paths"]:
        assert len(path["steps"]) <= 3 and path["hours"] <= 250
        starts = [s["session_start"] for s in path["steps"]]
        ends = [s["session_end"] for s in path["steps"]]
        assert all(end < start for end, start in zip(ends, starts[1:], strict=False))  # one after the other
    assert violations(client, url, holder_id, answer, max_steps=3, max_hours=250) == []


def test_free_text_in_french_is_matched(client: TestClient, world: tuple[str, Path]) -> None:
    response = paths(client, "H000001", "holder-H000001", target_occupation="comptable")
    assert response.status_code == 200, response.text
    target = response.json()["target"]
    assert target["uri"].startswith(OCCUPATION) and 0 < target["score"] <= 1
    assert target["label"] == "comptable"  # French label (features.esco_fr)


def test_a_budget_of_zero_spends_no_right_and_no_money(client: TestClient, world: tuple[str, Path]) -> None:
    url, _ = world
    for holder_id in HOLDERS:
        response = paths(client, holder_id, "path-admin", target_occupation=target_of(url, holder_id),
                         budget_cents=0)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["budget_cents"] == 0
        for path in body["paths"]:
            assert path["cpf_cents"] == path["cec_cents"] == path["out_of_pocket_cents"] == 0
        if not body["paths"]:
            assert body["message"].startswith("Aucun parcours gratuit")  # explained, in French
        assert violations(client, url, holder_id, body, budget_cents=0) == []


def test_the_holders_most_out_of_pocket_bounds_their_own_money(client: TestClient, world: tuple[str, Path]) -> None:
    url, _ = world
    holder_id = "H000002"
    target = target_of(url, holder_id)
    free = paths(client, holder_id, "path-admin", target_occupation=target).json()
    assert free["max_out_of_pocket_cents"] is None
    with session_scope(url) as session:
        holder = session.get(Holder, holder_id)
        assert holder is not None
        context = planning_context(session, holder)
        rights = int(context.cpf_balance_cents) + int(context.cec_balance_cents)
        holder.max_out_of_pocket_cents = 0
    try:
        capped = paths(client, holder_id, "path-admin", target_occupation=target).json()
        assert capped["max_out_of_pocket_cents"] == 0 and capped["budget_cents"] == rights
        for path in capped["paths"]:  # no participation either: only what rights or top-ups pay in full
            assert path["out_of_pocket_cents"] == 0
        if not capped["paths"]:
            assert capped["message"].startswith("Aucun parcours dans un reste à charge d'au plus 0,00 €")
        # Room for two flat participations: paths again, none costing the holder more.
        one = max(step["cost"]["participation_cents"] for path in free["paths"] for step in path["steps"])
        participations = 2 * one
        with session_scope(url) as session:
            session.get(Holder, holder_id).max_out_of_pocket_cents = participations  # type: ignore[union-attr]
        two = paths(client, holder_id, "path-admin", target_occupation=target).json()
        assert two["max_out_of_pocket_cents"] == participations and two["budget_cents"] == rights + participations
        assert two["paths"] and all(path["out_of_pocket_cents"] <= participations for path in two["paths"])
        # A budget sent replaces the ceiling: an adviser may show what more own money would open.
        explored = paths(client, holder_id, "path-admin", target_occupation=target, budget_cents=rights + 50_000)
        assert explored.json()["max_out_of_pocket_cents"] is None
        assert explored.json()["budget_cents"] == rights + 50_000
    finally:
        with session_scope(url) as session:
            session.get(Holder, holder_id).max_out_of_pocket_cents = None  # type: ignore[union-attr]


def test_a_smaller_budget_never_costs_more(client: TestClient, world: tuple[str, Path]) -> None:
    url, _ = world
    response = paths(client, "H000002", "path-admin", target_occupation=target_of(url, "H000002"),
                     budget_cents=15_000)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["budget_cents"] == 15_000
    for path in body["paths"]:
        assert path["cpf_cents"] + path["cec_cents"] + path["out_of_pocket_cents"] <= 15_000
    assert violations(client, url, "H000002", body, budget_cents=15_000) == []


# --- Unknown targets ---------------------------------------------------------------------------------------


def test_unknown_free_text_is_404_with_suggestions(client: TestClient) -> None:
    response = paths(client, "H000001", "holder-H000001", target_occupation="xqzv plorb")
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert "xqzv plorb" in detail["message"]
    assert detail["suggestions"]
    for suggestion in detail["suggestions"]:
        assert suggestion["uri"].startswith(OCCUPATION) and suggestion["label"] and 0 <= suggestion["score"] <= 1
    # A suggestion's URI is a valid target.
    chosen = paths(client, "H000001", "holder-H000001", target_occupation=detail["suggestions"][0]["uri"])
    assert chosen.status_code == 200, chosen.text


def test_unknown_uri_is_404_with_close_uris(client: TestClient) -> None:
    known = "eda0d957-3c3c-4139-b89a-a18bc9e18897"
    response = paths(client, "H000001", "holder-H000001", target_occupation=OCCUPATION + known[:-1] + "0")
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert detail["message"] and detail["suggestions"][0]["uri"] == OCCUPATION + known


# --- Who may ask -------------------------------------------------------------------------------------------


def test_an_adviser_needs_an_active_consent(client: TestClient, world: tuple[str, Path]) -> None:
    url, _ = world
    body = {"target_occupation": target_of(url, "H000003"), "max_steps": 2}
    assert paths(client, "H000003", "path-adviser", **body).status_code == 403  # no consent yet
    consent = grant(client, "H000003")
    allowed = paths(client, "H000003", "path-adviser", **body)
    assert allowed.status_code == 200, allowed.text
    revoke(client, "H000003", consent)
    refused = paths(client, "H000003", "path-adviser", **body)
    assert refused.status_code == 403
    assert "consent" in refused.json()["detail"]
    with session_scope(url) as session:
        rows = session.execute(select(AuditLog.action, AuditLog.resource).where(
            AuditLog.holder_id == "H000003", AuditLog.actor == "path-adviser")).all()
    assert [(a, r) for a, r in rows] == [("plan-paths", f"/holders/H000003/paths (consent {consent})")]


@pytest.mark.parametrize(("username", "holder_id", "status"), [
    ("holder-H000002", "H000001", 403),  # another holder
    ("holder-H000002", "NOPE", 403),  # nor probe which ids exist
    ("path-analyst", "H000001", 403),
    ("path-adviser", "H000002", 403),  # no consent
    ("path-admin", "NOPE", 404),
])
def test_who_may_ask(client: TestClient, username: str, holder_id: str, status: int) -> None:
    response = paths(client, holder_id, username, target_occupation="comptable")
    assert response.status_code == status, response.text


def test_without_a_token_is_401(client: TestClient) -> None:
    assert client.post("/v1/holders/H000001/paths", json={"target_occupation": "comptable"}).status_code == 401


# --- Bad bodies ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {},
    {"target_occupation": ""},
    {"target_occupation": "   "},
    {"target_occupation": "x" * 201},
    {"target_occupation": 12},
    {"target_occupation": "comptable", "max_steps": 0},
    {"target_occupation": "comptable", "max_steps": 7},
    {"target_occupation": "comptable", "max_steps": "4"},
    {"target_occupation": "comptable", "max_steps": 2.5},
    {"target_occupation": "comptable", "max_hours": 0},
    {"target_occupation": "comptable", "max_hours": -10},
    {"target_occupation": "comptable", "max_hours": "beaucoup"},
    {"target_occupation": "comptable", "budget_cents": -1},
    {"target_occupation": "comptable", "budget_cents": 12.5},
    {"target_occupation": "comptable", "budget_cents": "100"},
    {"target_occupation": "comptable", "budget_cents": 10**20},
    {"target_occupation": "comptable", "horizon_days": 30},  # unknown field
    {"target_occupation": "http://example.org/job/1"},  # a URI, but no ESCO occupation
])
def test_bad_bodies_are_422(client: TestClient, body: dict[str, Any]) -> None:
    response = paths(client, "H000001", "holder-H000001", **body)
    assert response.status_code in (404, 422), response.text
    if body.get("target_occupation") == "http://example.org/job/1":
        return  # an unknown URI: 404 with suggestions, like any unknown target
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_a_body_that_is_not_json_is_422(client: TestClient) -> None:
    response = client.post("/v1/holders/H000001/paths", content=b"target=comptable",
                           headers={**auth(client, "holder-H000001"), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text


# --- The served planner ------------------------------------------------------------------------------------


def test_the_planner_is_built_once_and_rebuilt_on_model_reload(client: TestClient, world: tuple[str, Path]) -> None:
    url, _ = world
    body = {"target_occupation": target_of(url, "H000001"), "max_steps": 1}
    assert paths(client, "H000001", "holder-H000001", **body).status_code == 200
    slot = client.app.state.path_planner  # type: ignore[attr-defined]
    first = slot.get(None, client.app.state.recommender, today())  # type: ignore[attr-defined]
    assert paths(client, "H000001", "holder-H000001", **body).status_code == 200
    assert slot.get(None, client.app.state.recommender, today()) is first  # type: ignore[attr-defined]
    reload = client.post("/v1/admin/model/reload", headers=auth(client, "path-admin"))
    assert reload.status_code == 200, reload.text
    assert paths(client, "H000001", "holder-H000001", **body).status_code == 200
    second = slot.get(None, client.app.state.recommender, today())  # type: ignore[attr-defined]
    assert second is not first and second.planner is not first.planner
    assert len(second.planner.catalogue) == len(first.planner.catalogue)


def test_the_openapi_schema_has_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/holders/{holder_id}/paths"]["post"]
    assert set(operation["responses"]) >= {"200", "403", "404", "422"}
    components = schema["components"]["schemas"]
    assert components["PathCreate"]["examples"] and components["PathsPublic"]["examples"]


# --- Top-ups (last: it leaves money waiting for H000002) ------------------------------------------------------


def test_a_waiting_top_up_opens_a_free_path(client: TestClient, world: tuple[str, Path]) -> None:
    """Top-up money waiting for a training comes on top of the budget: with a budget of 0, the training it fully
    covers becomes a step that costs the holder nothing."""
    url, _ = world
    target = target_of(url, "H000002")
    first = paths(client, "H000002", "path-admin", target_occupation=target).json()
    step = first["paths"][0]["steps"][0]
    granted = client.post("/v1/topups", json={"amount_cents": step["price_cents"], "holder_id": "H000002",
                                              "training_id": step["training_id"], "spend_before_rights": True},
                          headers={**auth(client, "holder-H000002"), "Idempotency-Key": "paths-api-topup-1"})
    assert granted.status_code == 201, granted.text
    response = paths(client, "H000002", "path-admin", target_occupation=target, budget_cents=0)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["budget_cents"] == 0 and body["topups_cents"] == step["price_cents"]
    covered = [s for p in body["paths"] for s in p["steps"] if s["training_id"] == step["training_id"]]
    assert covered, body["message"]
    for s in covered:
        assert s["cost"] == {"topups_cents": step["price_cents"], "cpf_cents": 0, "cec_cents": 0,
                             "participation_cents": 0, "out_of_pocket_cents": 0}
    for path in body["paths"]:
        assert path["cpf_cents"] == path["cec_cents"] == path["out_of_pocket_cents"] == 0
    assert violations(client, url, "H000002", body, budget_cents=0) == []
