"""The occupation explorer over HTTP (issue 14) on the tiny world: occupations close to the profile, ranked by the
share of their skills the profile holds (the ``/skill-gap`` coverage), the gap to each, a typical path's cost
(the planner's cheapest path), the holder's own jobs left out, and the access rules of holder data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import AuditLog, Experience
from serving.app import create_app
from serving.services import paths as paths_service
from serving.services.users import UserSpec, upsert_users

pytestmark = pytest.mark.xdist_group("tiny_world")

PASSWORD = "occupations-api-password"
HOLDERS = ("H000001", "H000002", "H000003")


@pytest.fixture(scope="module")
def world(tiny_world: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    _folder, url = tiny_world
    where = tmp_path_factory.mktemp("occupations-api")
    copy = where / "tiny.db"
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    url = f"sqlite:///{copy}"
    upsert_users(url, [
        *[UserSpec(f"holder-{h}", PASSWORD, "holder", holder_id=h) for h in HOLDERS],
        UserSpec("occ-adviser", PASSWORD, "adviser"),
        UserSpec("occ-admin", PASSWORD, "admin"),
        UserSpec("occ-analyst", PASSWORD, "analyst"),
    ], source="test")
    return url, where / "data"


@pytest.fixture(scope="module")
def client(world: tuple[str, Path]) -> Iterator[TestClient]:
    url, data_dir = world
    settings = Settings(db_url=url, data_dir=data_dir, cache_dir=get_settings().resolved_cache_dir())
    with TestClient(create_app(settings)) as test_client:
        yield test_client


TOKENS: dict[tuple[int, str], dict[str, str]] = {}


def auth(client: TestClient, username: str) -> dict[str, str]:
    key = (id(client), username)
    if key not in TOKENS:
        response = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        TOKENS[key] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return TOKENS[key]


def occupations(client: TestClient, holder_id: str, by: str, **params: Any):  # type: ignore[no-untyped-def]
    return client.get(f"/v1/holders/{holder_id}/occupations", params=params, headers=auth(client, by))


def test_close_occupations_ranked_by_coverage_with_gap_and_typical_path(client: TestClient,
                                                                        world: tuple[str, Path]) -> None:
    url, _ = world
    response = occupations(client, "H000001", "holder-H000001", k=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["holder_id"] == "H000001" and body["n_profile_skills"] > 0 and body["method"]
    items = body["items"]
    assert len(items) == 5
    coverage = [item["coverage"] for item in items]
    assert coverage == sorted(coverage, reverse=True) and coverage[0] > 0
    with session_scope(url) as session:
        jobs = set(session.scalars(select(Experience.esco_uri).where(
            Experience.holder_id == "H000001", Experience.kind == "job")))
    for item in items:
        assert item["uri"].startswith("http://data.europa.eu/esco/occupation/") and item["label"]
        assert item["uri"] not in jobs  # where the holder already is is not "where to go"
        assert item["skills_held"] + item["missing_skills"] == 25  # the derived table links 25 skills
        assert 0 <= item["gap_share"] <= 1 - item["coverage"] + 1e-4
    for item in items:
        assert (item["typical_path"] is not None) == (item["typical_path_status"] == "found")
    typical = [item["typical_path"] for item in items if item["typical_path"] is not None]
    assert typical
    for path in typical:
        assert path["kind"] in ("cheapest", "most_complete") and 1 <= path["steps"] <= 4
        assert 0 <= path["out_of_pocket_cents"] <= path["total_cost_cents"] and 0 < path["gap_coverage"] <= 1
    # The coverage is the one /skill-gap gives for the same occupation.
    first = items[0]
    gap = client.get("/v1/holders/H000001/skill-gap", params={"target": first["uri"]},
                     headers=auth(client, "holder-H000001"))
    assert gap.status_code == 200, gap.text
    assert gap.json()["coverage"] == pytest.approx(first["coverage"], abs=2e-3)


def test_the_typical_cost_is_the_planners_cheapest_path(client: TestClient) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(paths_service, "TIME_LIMIT_S", 20.0)
        from serving.services import occupations as occupations_service

        patch.setattr(occupations_service, "TYPICAL_TIME_LIMIT_S", 20.0)
        item = occupations(client, "H000002", "occ-admin", k=1).json()["items"][0]
        planned = client.post("/v1/holders/H000002/paths", json={"target_occupation": item["uri"]},
                              headers=auth(client, "occ-admin"))
    assert planned.status_code == 200, planned.text
    answer = planned.json()
    cheapest = next((p for p in answer["paths"] if "cheapest" in p["kinds"]), None)
    typical = item["typical_path"]
    if cheapest is None:
        assert typical is None or typical["kind"] == "most_complete"
    else:
        assert typical is not None and typical["kind"] == "cheapest"
        assert typical["out_of_pocket_cents"] == cheapest["out_of_pocket_cents"]
        assert typical["total_cost_cents"] == cheapest["total_cost_cents"]


def test_k_bounds_the_answer(client: TestClient) -> None:
    assert len(occupations(client, "H000003", "holder-H000003", k=2).json()["items"]) == 2
    default = occupations(client, "H000003", "holder-H000003")
    assert default.status_code == 200 and len(default.json()["items"]) == 10


@pytest.mark.parametrize("k", ["0", "51", "-1", "dix", "2.5"])
def test_bad_k_is_422(client: TestClient, k: str) -> None:
    response = occupations(client, "H000001", "holder-H000001", k=k)
    assert response.status_code == 422, response.text


def test_an_adviser_needs_an_active_consent(client: TestClient, world: tuple[str, Path]) -> None:
    url, _ = world
    assert occupations(client, "H000002", "occ-adviser", k=2).status_code == 403
    granted = client.post("/v1/holders/H000002/consents", json={"adviser": "occ-adviser"},
                          headers=auth(client, "holder-H000002"))
    assert granted.status_code == 201, granted.text
    consent = granted.json()["consent_id"]
    allowed = occupations(client, "H000002", "occ-adviser", k=2)
    assert allowed.status_code == 200, allowed.text
    revoked = client.post(f"/v1/holders/H000002/consents/{consent}/revoke", headers=auth(client, "holder-H000002"))
    assert revoked.status_code == 200
    assert occupations(client, "H000002", "occ-adviser", k=2).status_code == 403
    with session_scope(url) as session:
        rows = session.execute(select(AuditLog.action, AuditLog.resource).where(
            AuditLog.holder_id == "H000002", AuditLog.actor == "occ-adviser")).all()
    assert [(a, r) for a, r in rows] == [("explore-occupations", f"/holders/H000002/occupations (consent {consent})")]


@pytest.mark.parametrize(("username", "holder_id", "status"), [
    ("holder-H000002", "H000001", 403),
    ("occ-analyst", "H000001", 403),
    ("occ-adviser", "H000001", 403),
    ("occ-admin", "H000001", 200),
    ("occ-admin", "NOPE", 404),
])
def test_who_may_explore(client: TestClient, username: str, holder_id: str, status: int) -> None:
    assert occupations(client, holder_id, username, k=1).status_code == status
