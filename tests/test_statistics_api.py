"""Statistics over HTTP (issue 18, purpose 5): ``GET /v1/statistics/{indicator}?by=…`` on a small hand-built
world of files (made by the enrolment services, so the ledger is the real one), top-ups, payments and
impressions. Checks small-cell suppression (primary, complementary, rate numerators), the amounts of the ledger,
the roles, that no holder id leaves, the CSV's formula neutralisation, the 422s, and that the recommendations
route logs its impressions."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from parcours.settings import Settings
from parcours.store.csv_safety import neutralise_cell
from parcours.store.models import Holder, Interaction, Training, User
from parcours.store.supporting_models import Impression
from recommender.base import HolderContext, Recommendation, Recommender
from serving.app import create_app
from serving.services import enrolment_files as files
from serving.services import topups
from serving.services.recommendations import RecommenderState
from serving.services.statistics import BY, INDICATORS, log_impressions
from tests.ledger_world import START, TODAY, add_funder, add_holder, add_training, funder, holder, provider
from tests.test_enrolments_db import World
from tests.tokens import token_for

FORMULA = "=HYPERLINK(\"http://x\")"
REGION_A = [f"HOLDER-{i:02d}" for i in range(1, 16)]  # 15 holders, region 11, T1
REGION_B = [f"HOLDER-{i:02d}" for i in range(16, 19)]  # 3 holders, region 24, T1
REGION_C = [f"HOLDER-{i:02d}" for i in range(19, 31)]  # 12 holders, region 84, T2 (4 of them cancel)
OPCO_FUNDED = REGION_A[:12]
PAID_AT_HALF = REGION_A[:4]
CANCELLING = REGION_C[:4]
USERS = [("ana", "analyst"), ("root", "admin"), ("h1", "holder"), ("p1", "provider")]


class Api:
    def __init__(self, db_url: str, tmp_path) -> None:
        self.settings = Settings(db_url=db_url, data_dir=tmp_path, remittance_dir=tmp_path / "remittances")
        self.app = create_app(self.settings)
        self.client = TestClient(self.app)  # no lifespan: the database is migrated by the fixture
        self.world = World(db_url)

    def get(self, username: str, path: str, **params):
        token = token_for(self.world.url, username, self.settings)
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


def _seed(world: World) -> None:
    this_year = dt.date.today().year

    def seed(session):
        add_training(session, "T1", provider_id="P1", price_cents=150_000)
        add_training(session, "T2", provider_id="P2", price_cents=80_000)
        session.get(Training, "T2").certification_code = FORMULA
        add_funder(session, "OPCO1", "opco")
        for holder_id in REGION_A + REGION_B + REGION_C:
            add_holder(session, holder_id, cpf_cents=200_000)
            row = session.get(Holder, holder_id)
            row.region_code = "11" if holder_id in REGION_A else "24" if holder_id in REGION_B else "84"
            row.birth_year = this_year - (30 if holder_id in REGION_C else 40)
        for username, role in USERS:
            session.add(User(username=username, password_hash="x", role=role,
                             holder_id="HOLDER-01" if role == "holder" else None,
                             provider_id="P1" if role == "provider" else None))

    world.seed(seed)
    shown = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    world.run(lambda s: [log_impressions(s, h, ["T1", "T2"], "model-7", shown_at=shown) for h in REGION_A])
    world.run(lambda s: [log_impressions(s, h, ["T1"], "model-7", shown_at=shown) for h in REGION_C])
    world.run(lambda s: s.add_all([
        Interaction(holder_id=h, training_id="T1", event="view", occurred_at=shown + dt.timedelta(hours=2))
        for h in REGION_C
    ]))
    for holder_id in REGION_A + REGION_B + REGION_C:
        training_id, provider_id = ("T2", "P2") if holder_id in REGION_C else ("T1", "P1")
        file_id = world.create(holder_id, training_id)
        if holder_id in OPCO_FUNDED:
            world.run(lambda s, f=file_id: topups.grant_topup(
                s, actor=funder("OPCO1"), amount_cents=20_000, on=TODAY, enrolment_id=f, spend_before_rights=True))
        world.run(lambda s, f=file_id, p=provider_id: files.accept(s, f, actor=provider(p), on=TODAY))
        if holder_id in CANCELLING:
            world.run(lambda s, f=file_id, h=holder_id: files.cancel(s, f, actor=holder(h), on=TODAY))
            continue
        world.run(lambda s, f=file_id, h=holder_id: files.confirm(s, f, actor=holder(h), on=TODAY))
        if holder_id in PAID_AT_HALF:
            world.run(lambda s, f=file_id: files.declare_entry(s, f, actor=provider("P1"), on=START))
            end = START + dt.timedelta(days=4)
            world.run(lambda s, f=file_id, e=end: files.declare_exit(s, f, actor=provider("P1"), on=e))
            world.run(lambda s, f=file_id, e=end: files.declare_service_done(
                s, f, actor=provider("P1"), on=e, completion_rate=50))
    world.pay()


@pytest.fixture
def api(db_url, tmp_path) -> Api:
    api = Api(db_url, tmp_path)
    _seed(api.world)
    return api


def _cells(body) -> dict[str, dict]:
    return {cell["key"]: cell for cell in body["cells"]}


def test_small_cells_are_suppressed_with_their_complement(api):
    answer = api.get("ana", "/v1/statistics/enrolments", by="region")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["indicator"], body["by"], body["threshold"]) == ("enrolments", "region", 11)
    cells = _cells(body)
    assert cells["11"] == {"key": "11", "holders": 15, "value": 15, "suppressed": False}
    # region 24 counts 3 holders (primary); region 84 (12) goes too, or 30 - 15 would give region 24
    assert cells["24"] == {"key": "24", "holders": None, "value": None, "suppressed": True}
    assert cells["84"]["suppressed"] is True and cells["84"]["value"] is None
    assert body["total"] == {"key": "total", "holders": 30, "value": 30, "suppressed": False}
    published = [c["holders"] for c in body["cells"] if not c["suppressed"]] + [body["total"]["holders"]]
    assert all(n == 0 or n >= 11 for n in published)


def test_amounts_come_from_the_ledger_and_are_suppressed_with_the_cell(api):
    cpf = _cells(api.get("ana", "/v1/statistics/spent_cpf", by="region").json())
    opco = api.get("ana", "/v1/statistics/spent_topup_opco", by="region").json()
    # The OPCO's 20,000 is drawn first (spend before rights): fully spent on the 12 files it co-finances, the
    # four paid at 50 % included (75,000 = 20,000 top-up + 55,000 CPF, the rest of the CPF returned).
    assert _cells(opco)["11"] == {"key": "11", "holders": 12, "value": 12 * 20_000, "suppressed": False}
    assert cpf["11"] == {"key": "11", "holders": 15, "value": 4 * 55_000 + 8 * 130_000 + 3 * 150_000,
                         "suppressed": False}
    # region 24 has 3 holders: the amount is hidden with the count, and region 84 as its complement
    assert (cpf["24"]["value"], cpf["84"]["value"]) == (None, None)
    # cancelled files spend nothing: region 84 has 8 confirmed files of 80,000
    total = api.get("ana", "/v1/statistics/spent_cpf", by="employment_status").json()["total"]
    assert total["value"] == 4 * 55_000 + 8 * 130_000 + 3 * 150_000 + 3 * 150_000 + 8 * 80_000
    # the flat participation (102.23 € in 2025) is paid on the 14 files without an OPCO top-up: 3 + 3 + 8
    # holders by region, every cell small, the total published
    part = api.get("ana", "/v1/statistics/participation", by="region").json()
    assert all(cell["suppressed"] for cell in part["cells"])
    assert part["total"] == {"key": "total", "holders": 14, "value": 14 * 10_223, "suppressed": False}


def test_rates_and_their_numerators(api):
    body = api.get("ana", "/v1/statistics/cancellation_rate", by="region").json()
    cells = _cells(body)
    assert cells["11"]["value"] == 0.0 and cells["11"]["suppressed"] is False
    # region 84: 12 holders but only 4 cancelled: the rate would tell about 4 holders, so it is suppressed
    assert cells["84"]["suppressed"] is True
    assert body["total"]["suppressed"] is True  # 4 cancelling holders in all
    done = api.get("ana", "/v1/statistics/completion_rate", by="region").json()
    assert done["total"]["suppressed"] is True  # 4 files with service done


def test_impressions_followed_and_enrolled(api):
    shown = api.get("ana", "/v1/statistics/impressions", by="region").json()
    assert _cells(shown)["11"] == {"key": "11", "holders": 15, "value": 30, "suppressed": False}
    assert shown["total"] == {"key": "total", "holders": 27, "value": 42, "suppressed": False}
    followed = api.get("ana", "/v1/statistics/impressions_followed", by="certification").json()
    assert followed["total"] == {"key": "total", "holders": 27, "value": 27, "suppressed": False}
    enrolled = api.get("ana", "/v1/statistics/impressions_enrolled", by="month").json()
    assert enrolled["total"] == {"key": "total", "holders": 15, "value": 15, "suppressed": False}
    shown_month = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m")  # as _seed shows them
    assert [c["key"] for c in enrolled["cells"]] == [shown_month]


def test_every_indicator_by_every_dimension_publishes_no_small_cell_and_no_id(api):
    for by in BY:
        for name in INDICATORS:
            answer = api.get("ana", f"/v1/statistics/{name}", by=by)
            assert answer.status_code == 200, (name, by, answer.text)
            assert "HOLDER-" not in answer.text
            body = answer.json()
            for cell in [*body["cells"], body["total"]]:
                assert cell["suppressed"] or cell["holders"] == 0 or cell["holders"] >= 11, (name, by, cell)
                assert not cell["suppressed"] or (cell["holders"], cell["value"]) == (None, None)
    ages = _cells(api.get("ana", "/v1/statistics/enrolments", by="age_band").json())
    assert set(ages) == {"35-44", "25-34"} and ages["35-44"]["holders"] == 18


def test_roles(api):
    assert api.get("h1", "/v1/statistics/enrolments", by="region").status_code == 403
    assert api.get("p1", "/v1/statistics/enrolments", by="region").status_code == 403
    assert api.client.get("/v1/statistics/enrolments").status_code == 401
    assert api.get("root", "/v1/statistics/enrolments", by="region").status_code == 200


def test_unknown_indicator_or_dimension_is_422_with_the_allowed_values(api):
    bad = api.get("ana", "/v1/statistics/nope", by="region")
    assert bad.status_code == 422
    (problem,) = bad.json()["detail"]
    assert problem["loc"] == ["indicator"] and "enrolments" in problem["ctx"]["allowed"]
    bad = api.get("ana", "/v1/statistics/enrolments", by="holder_id")
    assert bad.status_code == 422
    (problem,) = bad.json()["detail"]
    assert problem["loc"] == ["by"] and problem["ctx"]["allowed"] == ["month", "region", "certification", "age_band",
                                                              "employment_status", "qualification_level"]
    assert api.get("ana", "/v1/statistics/enrolments", by="region", format="xml").status_code == 422


def test_csv_neutralises_formulas(api):
    answer = api.get("ana", "/v1/statistics/enrolments", by="certification", format="csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    keys = {row["key"]: row for row in rows}
    assert keys["'" + FORMULA] == {"indicator": "enrolments", "by": "certification", "key": "'" + FORMULA,
                                   "holders": "12", "value": "12", "suppressed": "false"}
    assert keys["total"]["holders"] == "30"
    assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for value in row.values())
    cells = [neutralise_cell(x) for x in ("=1", "+1", "-1", "@a", "\tx", "\rx", "a=1", None, 5)]
    assert ["" if x is None else str(x) for x in cells] == [  # as the csv module writes them
        "'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "a=1", "", "5"]


class _Fixed(Recommender):
    model_version = "fixed-1"

    def recommend(self, holder: HolderContext, k: int = 10) -> list[Recommendation]:
        return [Recommendation("T2", 0.9), Recommendation("T1", 0.5)][:k]


def test_the_recommendations_route_logs_its_impressions(api):
    api.app.state.recommender = RecommenderState(_Fixed(), "test")
    with api.world.factory() as session:
        before = session.scalar(select(Impression.impression_id).order_by(Impression.impression_id.desc()).limit(1))
    answer = api.get("h1", "/v1/holders/HOLDER-01/recommendations", k=2)
    assert answer.status_code == 200, answer.text
    with api.world.factory() as session:
        rows = session.execute(
            select(Impression.holder_id, Impression.training_id, Impression.rank, Impression.model_version)
            .where(Impression.impression_id > before).order_by(Impression.rank)
        ).all()
    assert [tuple(row) for row in rows] == [("HOLDER-01", "T2", 1, "fixed-1"), ("HOLDER-01", "T1", 2, "fixed-1")]
