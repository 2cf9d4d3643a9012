"""The access-control matrix (tests/access_matrix.csv): every route × role × own / foreign / missing object → the
status it must answer, walked over HTTP on SQLite and PostgreSQL in the world of tests/security_world.py.

Each row names a route (method, path and body, where ``{holder}``, ``{enrolment}``, ``{topup}``, ``{declaration}``,
``{experience}``, ``{consent}`` and ``{batch}`` stand for ids), the placeholder that is the object under test
(``subject``), a role and whether the object is the role's own, someone else's or missing. A role's own holder is
H1 (the holder ``h1`` itself, the holder who consents to the advisers, the employee of funder EMP1, the holder of
provider P1's file); the other placeholders take the role's own object.

Beyond the statuses, the walk checks the rule of docs/security.md that a foreign object is answered exactly like
a missing one: for every route and role, the foreign answer equals the missing one (status and body, ids
aside). To see what the code answers now, run with ``PARCOURS_MATRIX_DUMP=file.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from parcours.settings import Settings
from serving.app import create_app
from serving.routers.idempotent import business_date
from tests.conftest import BACKENDS, _drop_pg, _fresh_pg
from tests.security_world import APP_TODAY, MISSING_HOLDER, MISSING_ID, ROLES, Objects, build
from tests.test_enrolments_db import World
from tests.tokens import token_for

MATRIX = Path(__file__).with_name("access_matrix.csv")
FIELDS = ["method", "path", "body", "subject", "role", "object", "status"]


def read_matrix() -> list[dict[str, str]]:
    with MATRIX.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert rows and set(rows[0]) == set(FIELDS)
    return rows


def object_id(objects: Objects, kind: str, role: str, relation: str) -> int | str:
    """The id of the ``kind`` object that is ``relation`` (own, foreign, missing) to ``role``."""
    if relation == "missing":
        return MISSING_HOLDER if kind == "holder" else MISSING_ID
    suffix = "1" if relation == "own" else "2"
    by_kind = {
        "holder": f"H{suffix}",
        "enrolment": objects[f"E{suffix}"],
        "topup": objects[f"{'TPH' if role == 'holder' else 'TPF'}{suffix}"],
        "declaration": objects[f"D{suffix}"],
        "experience": objects[f"X{suffix}"],
        "consent": objects[f"C{suffix}_revoked"],
        "batch": objects["B1"],
    }
    return by_kind[kind]


def fill(template: str, objects: Objects, subject: str, role: str, relation: str) -> str:
    def value(match: re.Match[str]) -> str:
        kind = match.group(1)
        return str(object_id(objects, kind, role, relation if kind == subject else "own"))

    return re.sub(r"\{(\w+)\}", value, template)


class Walk:
    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.world = World(db_url)
        self.objects = build(self.world)
        settings = Settings(db_url=db_url, data_dir=tmp_path, remittance_dir=tmp_path / "remittances")
        app = create_app(settings)
        app.dependency_overrides[business_date] = lambda: APP_TODAY
        self.client = TestClient(app)
        self.tokens = {role: token_for(db_url, user, settings) for role, user in ROLES.items() if user}

    def call(self, row: dict[str, str], relation: str) -> tuple[int, Any]:
        role = row["role"]
        path = fill(row["path"], self.objects, row["subject"], role, relation)
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if role in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        body = json.loads(fill(row["body"], self.objects, row["subject"], role, relation)) if row["body"] else None
        answer = self.client.request(row["method"], path, json=body, headers=headers)
        try:
            content = answer.json()
        except ValueError:
            content = answer.text
        return answer.status_code, content


@pytest.fixture(scope="module", params=BACKENDS)
def walk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    tmp_path = tmp_path_factory.mktemp("matrix")
    if request.param == "sqlite":
        import shutil

        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "parcours.db")
        yield Walk(f"sqlite:///{tmp_path / 'parcours.db'}", tmp_path)
    else:
        name, url = _fresh_pg(request.getfixturevalue("pg_template"))
        yield Walk(url, tmp_path)
        _drop_pg(name, url)


def _without_ids(content: Any, walk: Walk) -> str:
    """The answer with the objects' ids blanked, to compare a foreign answer with a missing one."""
    text = json.dumps(content, sort_keys=True)
    for value in [*walk.objects.ids.values(), MISSING_ID, MISSING_HOLDER, "H1", "H2"]:
        text = re.sub(rf"\b{re.escape(str(value))}\b", "<id>", text)
    return text


def test_the_access_matrix(walk: Walk) -> None:
    rows = read_matrix()
    dump = os.environ.get("PARCOURS_MATRIX_DUMP")
    wrong, seen, answers = [], [], {}
    for row in rows:
        status, content = walk.call(row, row["object"])
        answers[(row["method"], row["path"], row["body"], row["role"], row["object"])] = (status, content)
        seen.append({**row, "status": str(status)})
        if str(status) != row["status"]:
            wrong.append(f"{row['method']} {row['path']} {row['role']} {row['object']}: expected {row['status']}, "
                         f"got {status} {str(content)[:200]}")
    if dump:
        with open(dump, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(seen)
    assert not wrong, f"{len(wrong)} of {len(rows)} cases differ:\n" + "\n".join(wrong)
    # a foreign object is answered exactly like a missing one (to all but the admin, who sees every object)
    leaks = []
    for (method, path, body, role, relation), (status, content) in answers.items():
        missing = answers.get((method, path, body, role, "missing"))
        if relation != "foreign" or missing is None or role == "admin":
            continue
        if (status, _without_ids(content, walk)) != (missing[0], _without_ids(missing[1], walk)):
            leaks.append(f"{method} {path} {role}: foreign {status} {content} / missing {missing[0]} {missing[1]}")
    assert not leaks, "\n".join(leaks)


def test_the_matrix_covers_every_role_and_relation() -> None:
    rows = read_matrix()
    routes = {(r["method"], r["path"], r["body"]) for r in rows}
    for route in routes:
        cases = {(r["role"], r["object"]) for r in rows if (r["method"], r["path"], r["body"]) == route}
        relations = {r["object"] for r in rows if (r["method"], r["path"], r["body"]) == route}
        assert cases == {(role, relation) for role in ROLES for relation in relations}, route
        assert "own" in relations and "missing" in relations, route
