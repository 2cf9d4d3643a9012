"""Issue 16, inputs, idempotency, import and export, headers: regression tests of what probing found.

- a 20 MB JSON string was answered by a 20 MB 422 echoing it; there was no cap on bodies;
- ids >= 2^63 gave 500 on SQLite, >= 2^31 on PostgreSQL;
- refusals named other parties ("enrolment 2 is not addressed to provider P00008");
- replaying with ``{}`` after an empty body was "a different request"; the key was ignored on experience writes
  and the model reload took none;
- import ignored unknown columns silently, failed on a 1 MB field without naming it, and stored formula cells,
  so CSV exports must neutralise them;
- HTML pages had no CSP, frame-ancestors or nosniff.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ingest.csv_reader import _oversized_column
from ingest.world_import import import_folder
from parcours.errors import ValidationFailed
from parcours.settings import Settings
from parcours.store.csv_safety import neutralise_cell, safe_csv
from parcours.store.engine import session_scope
from parcours.store.models import Experience, Training
from serving.app import create_app
from serving.middleware import SecurityHeaders
from serving.routers.idempotent import business_date
from serving.services.payments import remittance_csv
from tests.ledger_world import START, TODAY
from tests.security_world import Objects, build
from tests.test_enrolments_db import World
from tests.tokens import token_for
from tests.world_files import TRAINING_COLUMNS, write_csv, write_world


class Api:
    def __init__(self, db_url: str, tmp_path: Path, **settings: object) -> None:
        self.db_url = db_url
        self.world = World(db_url)
        self.objects: Objects = build(self.world)
        self.settings = Settings(db_url=db_url, data_dir=tmp_path, **settings)  # type: ignore[arg-type]
        self.app = create_app(self.settings)
        self.app.dependency_overrides[business_date] = lambda: TODAY
        self.client = TestClient(self.app)

    def headers(self, username: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token_for(self.db_url, username, self.settings)}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Api:
    return Api(db_url, tmp_path)


# --- body cap and short 422s ------------------------------------------------------------------------------------


def test_a_body_over_the_cap_is_413(api: Api) -> None:
    huge = json.dumps({"label": "x" * (20 * 1024 * 1024)})
    answer = api.client.post("/v1/holders/H1/experience", content=huge, headers={
        **api.headers("h1"), "Content-Type": "application/json"})
    assert answer.status_code == 413 and len(answer.content) < 200

    def streamed():  # no Content-Length: counted as it arrives
        for _ in range(3):
            yield b"x" * (512 * 1024)

    answer = api.client.post("/v1/holders/H1/experience", content=streamed(), headers={
        **api.headers("h1"), "Content-Type": "application/json"})
    assert answer.status_code == 413


def test_the_cap_is_configurable(db_url: str, tmp_path: Path) -> None:
    api = Api(db_url, tmp_path, max_body_bytes=100)
    answer = api.client.post("/v1/auth/token", data={"username": "h1", "password": "p" * 200})
    assert answer.status_code == 413


def test_validation_errors_never_echo_large_inputs(api: Api) -> None:
    body = {"kind": "job", "label": "y" * 900_000, "start_date": "2020-01-01"}  # under the 1 MB cap
    answer = api.client.post("/v1/holders/H1/experience", json=body, headers=api.headers("h1"))
    assert answer.status_code == 422
    assert len(answer.content) < 2_000, len(answer.content)
    assert "900000 characters" in answer.text


# --- ids in range -------------------------------------------------------------------------------------------------


ID_PATHS = [
    ("GET", "/v1/enrolments/{id}"),
    ("GET", "/v1/enrolments/{id}/messages"),
    ("POST", "/v1/enrolments/{id}/accept"),
    ("POST", "/v1/enrolments/{id}/cancel"),
    ("POST", "/v1/topups/{id}/revoke"),
    ("POST", "/v1/cec/declarations/{id}/validate"),
    ("GET", "/v1/payments/batches/{id}"),
    ("PATCH", "/v1/holders/H1/experience/{id}"),
    ("DELETE", "/v1/holders/H1/experience/{id}"),
    ("POST", "/v1/holders/H1/consents/{id}/revoke"),
]


@pytest.mark.parametrize("value", [0, -1, 2**31, 2**63, 2**64, 10**30])
def test_ids_out_of_their_range_are_never_a_500(api: Api, value: int) -> None:
    for method, path in ID_PATHS:
        for user in ("admin", "h1"):
            answer = api.client.request(method, path.format(id=value), json={} if method == "PATCH" else None,
                                        headers=api.headers(user, str(uuid.uuid4())))
            # 404/422, or 403 where the role may never call the route; never a 500
            assert answer.status_code in (403, 404, 422), (method, path, user, answer.status_code, answer.text)
    for body in ({"enrolment_id": value, "amount_cents": 1}, {"enrolment_id": 2**63, "amount_cents": 1}):
        answer = api.client.post("/v1/topups", json=body, headers=api.headers("f1", str(uuid.uuid4())))
        assert answer.status_code in (404, 422), answer.text
    answer = api.client.get(f"/v1/enrolments?offset={value}", headers=api.headers("admin"))
    assert answer.status_code in (200, 422), answer.text


# --- refusals name nobody -----------------------------------------------------------------------------------------


def test_refusals_name_no_other_party(api: Api) -> None:
    e1, d1 = api.objects["E1"], api.objects["D1"]
    topup = api.objects["TPA1"]
    for user, path in (("p2", f"/v1/enrolments/{e1}/accept"), ("h2", f"/v1/enrolments/{e1}/cancel"),
                       ("f2", f"/v1/cec/declarations/{d1}/validate"), ("f2", f"/v1/topups/{topup}/revoke")):
        answer = api.client.post(path, headers=api.headers(user, str(uuid.uuid4())))
        assert answer.status_code == 404, answer.text
        for party in ("H1", "P1", "P2", "EMP1", "EMP2", "h1", "p1", "f1"):
            assert party not in answer.json()["detail"], (path, answer.text)


# --- idempotency --------------------------------------------------------------------------------------------------


def test_no_body_and_an_empty_body_are_the_same_request(db_url: str, tmp_path: Path) -> None:
    api = Api(db_url, tmp_path)
    created = api.client.post("/v1/enrolments", json={"holder_id": "H2", "training_id": "T1",
                                                       "session_start": START.isoformat()},
                              headers=api.headers("h2", str(uuid.uuid4())))
    assert created.status_code == 201, created.text
    path, key = f"/v1/enrolments/{created.json()['enrolment_id']}/accept", str(uuid.uuid4())
    first = api.client.post(path, headers=api.headers("p1", key))
    assert first.status_code == 200, first.text
    for body in ({}, {"session_start": None}):  # the same request: replayed, not "a different request"
        replay = api.client.post(path, json=body, headers=api.headers("p1", key))
        assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (200, "true"), replay.text
    other = api.client.post(path, json={"session_start": "2025-04-29"}, headers=api.headers("p1", key))
    assert other.status_code == 422 and "different request" in other.text


def _experience_count(db_url: str) -> int:
    with session_scope(db_url) as session:
        return int(session.scalar(select(func.count()).select_from(Experience)) or 0)


def test_the_key_is_honoured_on_experience_writes(api: Api) -> None:
    body, key = {"kind": "skill", "label": "bookkeeping", "start_date": "2020-01-01"}, str(uuid.uuid4())
    before = _experience_count(api.db_url)
    first = api.client.post("/v1/holders/H1/experience", json=body, headers=api.headers("h1", key))
    replay = api.client.post("/v1/holders/H1/experience", json=body, headers=api.headers("h1", key))
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert _experience_count(api.db_url) == before + 1
    other = api.client.post("/v1/holders/H1/experience", json={**body, "label": "payroll"},
                            headers=api.headers("h1", key))
    assert other.status_code == 422
    experience = first.json()["experience_id"]
    key = str(uuid.uuid4())
    path = f"/v1/holders/H1/experience/{experience}"
    assert api.client.patch(path, json={"end_date": None}, headers=api.headers("h1", key)).status_code == 200
    assert api.client.patch(path, json={"end_date": None}, headers=api.headers("h1", key)).headers[
        "Idempotent-Replayed"] == "true"
    key = str(uuid.uuid4())
    assert api.client.delete(path, headers=api.headers("h1", key)).status_code == 204
    replayed = api.client.delete(path, headers=api.headers("h1", key))  # not a 404: the first answer again
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (204, "true")
    assert _experience_count(api.db_url) == before


def test_the_model_reload_takes_a_key(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.routers import admin
    from serving.services.recommendations import RecommenderState

    loads = []
    monkeypatch.setattr(admin, "load_recommender", lambda *a: loads.append(1) or RecommenderState(None, "test"))
    key = str(uuid.uuid4())
    first = api.client.post("/v1/admin/model/reload", headers=api.headers("admin", key))
    replay = api.client.post("/v1/admin/model/reload", headers=api.headers("admin", key))
    assert (first.status_code, replay.status_code, len(loads)) == (200, 200, 1)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert api.client.post("/v1/admin/model/reload", headers=api.headers("admin")).status_code == 200  # no key
    assert len(loads) == 2


# --- import and export --------------------------------------------------------------------------------------------


def _problems(folder: Path, db_url: str, **kwargs: object) -> list[dict[str, object]]:
    with pytest.raises(ValidationFailed) as caught:
        import_folder(folder, db_url, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_unknown_columns_are_refused_naming_file_row_and_field(sqlite_url: str, tmp_path: Path) -> None:
    rows = write_world(tmp_path / "world")
    columns = [*TRAINING_COLUMNS, "price_euros"]
    write_csv(tmp_path / "world" / "trainings.csv", columns,
              [{**r, "price_euros": "1000"} for r in rows["trainings.csv"]])
    problems = _problems(tmp_path / "world", sqlite_url)
    found = [p for p in problems if p["file"] == "trainings.csv" and p["field"] == "price_euros"]
    assert found and found[0]["row"] == 1 and "unknown column" in str(found[0]["message"])
    # an explicit choice lets them through (ignored)
    assert "trainings.csv" in import_folder(tmp_path / "world", sqlite_url, allow_unknown_columns=True)


def test_a_1mb_field_is_refused_naming_file_row_and_field(sqlite_url: str, tmp_path: Path) -> None:
    rows = write_world(tmp_path / "world")
    rows["trainings.csv"][1]["description"] = "d" * (1024 * 1024)
    write_csv(tmp_path / "world" / "trainings.csv", TRAINING_COLUMNS, rows["trainings.csv"])
    problems = _problems(tmp_path / "world", sqlite_url)
    assert [(p["file"], p["row"], p["field"]) for p in problems if p["file"] == "trainings.csv"] == [
        ("trainings.csv", 3, "description")
    ]


def test_a_field_past_the_reader_limit_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('a,b,c\n1,"x,""y""",ok\n2,"' + "z" * 50 + '",3\n', encoding="utf-8")
    assert _oversized_column(path, 2, ["a", "b", "c"], 4) == "b"  # x,"y" is 5 characters
    assert _oversized_column(path, 2, ["a", "b", "c"], 5) is None
    assert _oversized_column(path, 3, ["a", "b", "c"], 20) == "b"
    assert _oversized_column(path, 2, ["a", "b", "c"], 100) is None


def test_formula_cells_are_stored_as_given_and_neutralised_in_csv_exports(sqlite_url: str, tmp_path: Path) -> None:
    rows = write_world(tmp_path / "world")
    rows["trainings.csv"][0]["title"] = '=HYPERLINK("http://x","y")'
    write_csv(tmp_path / "world" / "trainings.csv", TRAINING_COLUMNS, rows["trainings.csv"])
    import_folder(tmp_path / "world", sqlite_url)
    with session_scope(sqlite_url) as session:
        assert session.scalars(select(Training.title).where(Training.title.startswith("="))).one().startswith("=H")
    csv_text = remittance_csv([{"batch_id": 1, "provider_id": "@P1", "enrolment_id": 2, "training_id": "=T1",
                                "session_start": "2025-04-07", "completion_rate": 100.0, "price_cents": 5,
                                "amount_cents": -5}])
    assert csv_text.splitlines()[1] == "1,'@P1,2,'=T1,2025-04-07,100.0,5,-5"


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+33 6 12", "'+33 6 12"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),  # numbers are not text
        (None, None),
    ],
)
def test_neutralise_cell(cell: object, safe: object) -> None:
    assert neutralise_cell(cell) == safe


def test_safe_csv_neutralises_the_header_too() -> None:
    assert safe_csv(["=a", "b"], [{"=a": "=x", "b": 1}]) == "'=a,b\n'=x,1\n"


# --- headers -------------------------------------------------------------------------------------------------------


def test_html_pages_carry_csp_frame_ancestors_and_nosniff(api: Api) -> None:
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Frame-Options"] == "DENY"
    assert docs.headers["X-Content-Type-Options"] == "nosniff"
    data = api.client.get("/health")
    assert data.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" not in data.headers
    assert "set-cookie" not in {k.lower() for k in docs.headers}


def test_cookies_get_httponly_secure_and_samesite() -> None:
    def page(_request):
        response = PlainTextResponse("<p>hi</p>", media_type="text/html")
        response.set_cookie("session", "abc")
        return response

    client = TestClient(SecurityHeaders(Starlette(routes=[Route("/", page)])))
    answer = client.get("/")
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=" in cookie
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
