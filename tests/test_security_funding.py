"""Issue 16, who may fund what: regression tests of the two funding holes found by probing a running server.

- a funder made itself co-funder of any file with a 1-cent top-up (201, revealing the holder id, and the file
  stayed open to it after revoking);
- an employer credited any holder a corrective top-up, and again with another review date;
- funders could probe which holder ids exist.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from parcours.errors import NotFound, ValidationFailed
from parcours.settings import Settings
from serving.app import create_app
from serving.routers.idempotent import business_date
from serving.services import rights, topups
from serving.services.actors import Actor
from tests.ledger_world import TODAY, add_funder, add_holder, add_training, funder, holder
from tests.security_world import APP_TODAY, MISSING_ID, Objects, build
from tests.test_enrolments_db import World
from tests.tokens import token_for


class Api:
    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.world = World(db_url)
        self.objects: Objects = build(self.world)
        self.settings = Settings(db_url=db_url, data_dir=tmp_path, remittance_dir=tmp_path / "remittances")
        self.app = create_app(self.settings)
        self.app.dependency_overrides[business_date] = lambda: TODAY
        self.client = TestClient(self.app)
        self.db_url = db_url

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(self.db_url, username, self.settings)}",
                "Idempotency-Key": str(uuid.uuid4())}

    def post(self, username: str, path: str, body: dict | None = None):
        return self.client.post(path, json=body, headers=self.headers(username))

    def get(self, username: str, path: str):
        return self.client.get(path, headers=self.headers(username))


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    yield Api(db_url, tmp_path)


def _ids_blanked(answer, *ids: object) -> str:
    text = json.dumps(answer.json(), sort_keys=True)
    for value in ids:
        text = re.sub(rf"\b{re.escape(str(value))}\b", "<id>", text)
    return text


def test_a_funder_cannot_make_itself_cofunder_of_a_file_it_may_not_fund(api: Api) -> None:
    e1 = api.objects["E1"]  # H1's file; f2 is EMP2, which does not employ H1
    probe = api.post("f2", "/v1/topups", {"amount_cents": 1, "enrolment_id": e1})
    missing = api.post("f2", "/v1/topups", {"amount_cents": 1, "enrolment_id": MISSING_ID})
    assert probe.status_code == missing.status_code == 404, probe.text
    assert _ids_blanked(probe, e1) == _ids_blanked(missing, MISSING_ID)  # exactly as for a missing file
    assert "H1" not in probe.text  # the holder id is not revealed
    assert api.get("f2", f"/v1/enrolments/{e1}").status_code == 404  # and the file did not open to it
    assert e1 not in [i["enrolment_id"] for i in api.get("f2", "/v1/enrolments").json()["items"]]
    # the holder's employer may, and sees the file without the holder's id
    assert api.post("f1", "/v1/topups", {"amount_cents": 1, "enrolment_id": e1}).status_code == 201


def test_a_revoked_topup_opens_nothing(api: Api) -> None:
    e1, active = api.objects["E1"], api.objects["TPA1"]
    assert api.get("f1", f"/v1/enrolments/{e1}").status_code == 200
    assert api.post("f1", f"/v1/topups/{active}/revoke").status_code == 200
    # EMP1's top-ups on E1 are all revoked now: it co-finances nothing, so it sees nothing
    assert api.get("f1", f"/v1/enrolments/{e1}").status_code == 404
    assert api.get("f1", "/v1/enrolments").json()["items"] == []


def test_funders_cannot_probe_holder_ids(api: Api) -> None:
    body = {"training_id": "T1", "amount_cents": 1}
    known = api.post("f2", "/v1/topups", {**body, "holder_id": "H1"})
    unknown = api.post("f2", "/v1/topups", {**body, "holder_id": "NOPE"})
    assert known.status_code == unknown.status_code == 404
    assert _ids_blanked(known, "H1") == _ids_blanked(unknown, "NOPE")
    assert api.post("f1", "/v1/topups", {**body, "holder_id": "H1"}).status_code == 201  # its employee


def test_an_employer_credits_only_its_employees_once_per_review_period(api: Api) -> None:
    path = "/v1/rights/corrective-topups"
    body = {"holder_id": "H1", "staff_count": 60, "review_due_on": "2024-06-01"}
    # EMP2 does not employ H1: as if H1 did not exist
    foreign = api.post("f2", path, body)
    missing = api.post("f2", path, {**body, "holder_id": "NOPE"})
    assert foreign.status_code == missing.status_code == 404
    assert _ids_blanked(foreign, "H1") == _ids_blanked(missing, "NOPE")
    # EMP1 employs H1 (hired 2015): the review of 2021 was missed; once, whatever due date it names in the period
    first = api.post("f1", path, body)
    assert first.status_code == 201 and first.json()["credited_cents"] == 300_000, first.text
    again = api.post("f1", path, {**body, "review_due_on": "2024-09-01"})
    assert again.status_code == 201 and again.json()["credited_cents"] == 0
    cpa = api.get("h1", "/v1/holders/H1/cpa").json()
    assert cpa["cpf"]["corrective_topups_cents"] == 300_000
    # an operator recording it for an employer that does not employ the holder is told why
    refused = api.post("admin", path, {**body, "employer_id": "EMP2"})
    assert refused.status_code == 422 and "not an employee" in refused.text


@pytest.fixture
def world(db_url: str) -> World:
    w = World(db_url)

    def seed(session):
        add_funder(session, "REG11", "region", region_code="11")
        add_funder(session, "REG84", "region", region_code="84")
        add_funder(session, "FT", "france_travail")
        add_funder(session, "EMP2", "employer")
        add_holder(session, "EMPLOYEE")  # works for EMP1 (sector OPCO1), lives in region 11
        add_holder(session, "SEEKER", employment_status="job_seeker")
        add_holder(session, "FREELANCE", employment_status="self_employed")

    w.seed(lambda s: add_training(s, "T1"))
    w.seed(seed)
    return w


@pytest.mark.parametrize(
    ("funder_id", "holder_id", "allowed"),
    [
        ("EMP1", "EMPLOYEE", True),
        ("EMP2", "EMPLOYEE", False),
        ("OPCO1", "EMPLOYEE", True),
        ("OPCO1", "SEEKER", False),
        ("REG11", "SEEKER", True),
        ("REG84", "SEEKER", False),
        ("FT", "SEEKER", True),
        ("FT", "EMPLOYEE", False),
        ("FT", "FREELANCE", False),
        ("EMP1", "FREELANCE", False),
    ],
)
def test_each_kind_of_funder_tops_up_only_its_people(world: World, funder_id, holder_id, allowed) -> None:
    def grant(session):
        return topups.grant_topup(session, actor=funder(funder_id), amount_cents=100, on=TODAY,
                                  holder_id=holder_id, training_id="T1")

    if allowed:
        assert world.run(grant).funder_id == funder_id
    else:
        with pytest.raises(NotFound, match=f"^holder {holder_id} not found$"):
            world.run(grant)


def test_an_operator_is_told_why_a_funder_may_not(world: World) -> None:
    with pytest.raises(ValidationFailed, match="may not top up"):
        world.run(lambda s: topups.grant_topup(
            s, actor=Actor("root", "admin"), amount_cents=100, on=TODAY, holder_id="SEEKER", training_id="T1",
            funder_id="EMP1"))
    with pytest.raises(ValidationFailed) as refused:
        world.run(lambda s: rights.credit_corrective_topup(
            s, actor=Actor("root", "admin"), holder_id="SEEKER", staff_count=60, review_due_on=TODAY, on=TODAY,
            employer_id="EMP1"))
    assert "not an employee" in str(refused.value.problems)


def test_a_holder_tops_up_only_their_own_files(world: World) -> None:
    world.run(lambda s: topups.grant_topup(s, actor=holder("SEEKER"), amount_cents=100, on=TODAY,
                                           holder_id="SEEKER", training_id="T1"))
    with pytest.raises(NotFound):
        world.run(lambda s: topups.grant_topup(s, actor=holder("SEEKER"), amount_cents=100, on=TODAY,
                                               holder_id="EMPLOYEE", training_id="T1"))


def test_the_app_date_of_the_matrix_world_is_after_the_sessions() -> None:
    from tests.ledger_world import START

    assert APP_TODAY > START
