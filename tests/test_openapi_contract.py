"""The OpenAPI document is the whole contract (issue 17): every operation documents its answer's model and every
status it can answer with a body; one 422 shape for request validation and for the domain's rules; the
Idempotency-Key required where the route refuses without it; ids bounded; a 405 names every method of the path.
tests/test_schemathesis.py holds the server to the document; these tests hold the document to those rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from parcours.settings import Settings
from parcours.store.engine import session_scope
from parcours.store.models import User
from serving.app import create_app
from tests.tokens import bearer

ERROR_MODELS = {"#/components/schemas/ErrorPublic", "#/components/schemas/ValidationErrorPublic",
                "#/components/schemas/UnknownTargetAnswer"}
PUBLIC_PATHS = {"/health", "/ready", "/v1/auth/token"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("openapi")
    return create_app(Settings(db_url=f"sqlite:///{folder / 'unused.db'}", data_dir=folder)).openapi()


@pytest.fixture
def client(sqlite_url: str, tmp_path) -> Iterator[tuple[TestClient, dict[str, str]]]:  # type: ignore[no-untyped-def]
    with session_scope(sqlite_url) as session:
        session.add(User(username="admin", password_hash="x", role="admin"))
    settings = Settings(db_url=sqlite_url, data_dir=tmp_path)
    with TestClient(create_app(settings)) as test_client:
        yield test_client, bearer(sqlite_url, "admin", settings)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method.upper(), operation


def test_every_answer_has_a_documented_body(document: dict[str, Any]) -> None:
    missing = []
    for path, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            content = answer.get("content", {})
            if status == "204":
                assert not content, f"{method} {path} 204 has a body"
                continue
            schemas = [media.get("schema") for media in content.values()]
            if not schemas or any(not schema for schema in schemas):  # {} documents nothing
                missing.append(f"{method} {path} {status}")
            elif status[0] in "45" and (path, status) != ("/ready", "503"):  # /ready says why it is not ready
                refs = {s.get("$ref") for s in schemas}
                assert refs <= ERROR_MODELS, f"{method} {path} {status}: {refs}"
    assert not missing, missing


def test_every_route_behind_a_token_documents_401_and_every_route_with_input_422(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        responses = operation["responses"]
        if path not in PUBLIC_PATHS:
            assert "401" in responses, f"{method} {path}"
        if operation.get("parameters") or operation.get("requestBody"):
            assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
                "/ValidationErrorPublic"), f"{method} {path}"


def test_the_idempotency_key_is_required_where_it_is_refused_without_one(document: dict[str, Any]) -> None:
    def key(path: str, method: str) -> dict[str, Any]:
        [header] = [p for p in document["paths"][path][method]["parameters"] if p["name"] == "Idempotency-Key"]
        return header

    for path in ("/v1/enrolments", "/v1/enrolments/{enrolment_id}/confirm", "/v1/topups", "/v1/payments/batches"):
        assert key(path, "post")["required"] is True
        assert key(path, "post")["schema"]["maxLength"] == 255
    assert key("/v1/holders/{holder_id}/preferences", "put").get("required", False) is False  # honoured if sent


def test_integer_path_ids_are_bounded(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                assert parameter["schema"]["minimum"] >= 1 and parameter["schema"]["maximum"] < 2**63, (
                    f"{method} {path} {parameter['name']}")


def test_post_answers_are_documented_with_their_model(document: dict[str, Any]) -> None:
    create = document["paths"]["/v1/enrolments"]["post"]["responses"]["201"]
    assert create["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/EnrolmentPublic"}
    # the file answered is the one the next transitions act on (schemathesis walks these links)
    assert {link["parameters"]["enrolment_id"] for link in create["links"].values()} == {
        "$response.body#/enrolment_id"}
    assert document["components"]["schemas"]["EnrolmentPublic"]["examples"]


def test_one_422_shape_for_validation_and_for_the_rules(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, auth = client
    by_validation = test_client.get("/v1/enrolments", params={"limit": 0}, headers=auth)
    by_rule = test_client.get("/v1/enrolments", params={"state": "nope"}, headers=auth)
    for answer in (by_validation, by_rule):
        assert answer.status_code == 422, answer.text
        [problem] = answer.json()["detail"]
        assert {"loc", "msg", "type"} <= set(problem)
    assert by_validation.json()["detail"][0]["loc"] == ["query", "limit"]
    assert by_rule.json()["detail"][0]["loc"] == ["state"] and "submitted" in by_rule.json()["detail"][0]["msg"]


def test_a_missing_idempotency_key_is_400_with_a_reason(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, auth = client
    for key in (None, "x" * 256, " spaced "):
        headers = auth if key is None else {**auth, "Idempotency-Key": key}
        answer = test_client.post("/v1/payments/batches", headers=headers)
        assert answer.status_code == 400, answer.text
        assert "Idempotency-Key" in answer.json()["detail"]


def test_ids_past_the_database_are_refused_not_a_500(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, auth = client
    for path in ("/v1/enrolments/9223372036854775808", "/v1/payments/batches/2147483648"):
        answer = test_client.get(path, headers=auth)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"][0] == "path"


def test_a_405_names_every_method_of_the_path(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, auth = client
    answer = test_client.request("DELETE", "/v1/enrolments", headers=auth)
    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["Allow"].split(",")} >= {"GET", "POST"}
