"""The README's demo walk, run as written: the ``sh`` block after ``<!-- walk -->`` is read line by line (curl
calls, captured fields, the restart on a later business date) and sent to the app over the demo world of
``make demo`` (its seed and as_of read from the Makefile), with its files replayed as ``make demo`` does. A README
step that no longer works fails here, as does a demo file that is not in the state the README says.

Also: ``PARCOURS_BUSINESS_DATE`` drives the business date (the ``business_date`` dependency, ``holders.today``
and /health), and the calendar's today applies without it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ingest.world_import import import_folder
from parcours.domain.calendar import business_today
from parcours.settings import REPO_ROOT, Settings, get_settings
from parcours.store.engine import get_engine, migrate, session_factory
from parcours.store.models import LedgerEntry
from parcours.store.supporting_models import Enrolment
from serving.app import create_app
from serving.routers.idempotent import business_date
from serving.services.demo_files import replay_demo_files
from serving.services.holders import today
from serving.services.users import read_users_csv, upsert_users
from training.datasets.world import generate_world

pytestmark = pytest.mark.xdist_group("demo_walk")

README = REPO_ROOT / "README.md"
MAKEFILE = REPO_ROOT / "Makefile"


def makefile_value(name: str) -> str:
    found = re.search(rf"^{name} := (\S+)$", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert found, f"{name} not in the Makefile"
    return found.group(1)


def walk_lines() -> list[str]:
    """The walk block's logical lines (continuations joined), comments and blank lines left out."""
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- walk -->")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert block, "no sh block after <!-- walk --> in the README"
    joined = block.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("PARCOURS_BUSINESS_DATE", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_business_date_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert business_today() == dt.date.today() == today() == business_date()
    monkeypatch.setenv("PARCOURS_BUSINESS_DATE", "2027-02-09")
    get_settings.cache_clear()
    assert business_today() == today() == business_date() == dt.date(2027, 2, 9)
    assert business_today(Settings(business_date=dt.date(2030, 1, 2))) == dt.date(2030, 1, 2)
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path))
    migrate(f"sqlite:///{tmp_path / 'h.db'}")
    with TestClient(app) as client:
        health = client.get("/health").json()
    assert (health["business_date"], health["business_date_fixed"]) == ("2027-02-09", True)
    monkeypatch.setenv("PARCOURS_BUSINESS_DATE", "09/02/2027")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="business_date"):
        get_settings()


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, object]]]:
    """The demo world of ``make demo``: generated, imported, users loaded, files replayed."""
    folder = tmp_path_factory.mktemp("demo") / "world"
    generate_world(folder, scale="small", seed=int(makefile_value("DEMO_SEED")),
                   as_of=dt.date.fromisoformat(makefile_value("DEMO_AS_OF")), lang=makefile_value("DEMO_LANG"))
    url = f"sqlite:///{folder.parent / 'demo.db'}"
    migrate(url)
    import_folder(folder, url, progress=False)
    upsert_users(url, read_users_csv(folder / "demo_users.csv"), source="demo")
    replayed = replay_demo_files(session_factory(url), folder, remittance_dir=folder.parent / "remittances")
    plan = json.loads((folder / "demo_files.json").read_text(encoding="utf-8"))
    assert replayed.business_date.isoformat() == plan["business_date"]
    yield url, folder.parent, plan
    get_engine(url).dispose()


def test_demo_files_in_every_state(demo_world: tuple[str, Path, dict[str, object]]) -> None:
    url, work, plan = demo_world
    with session_factory(url)() as session:
        states = dict(session.execute(select(Enrolment.state, func.count()).group_by(Enrolment.state)).all())
        # Every cent moved by the replayed transitions balances (double entry).
        assert session.scalar(select(func.sum(LedgerEntry.amount_cents))) == 0
    # The batch closes what it paid.
    assert states == {"closed": 1, "service_done": 1, "exited": 1, "in_training": 1, "confirmed": 1}
    planned: list[dict[str, object]] = plan["files"]  # type: ignore[assignment]
    assert [f["state"] for f in planned] == ["paid", "service_done", "exited", "in_training", "confirmed"]
    assert f"business date {plan['business_date']}" in README.read_text(encoding="utf-8")
    again = replay_demo_files(session_factory(url), work / "world", remittance_dir=work / "remittances")
    assert (again.files, again.skipped, again.consents) == ({}, 5, [])


def test_the_demo_adviser_finds_consenting_holders(demo_world: tuple[str, Path, dict[str, object]]) -> None:
    """holder1 and holder2 consent to the demo adviser (an empty adviser page otherwise); holder3 does not."""
    url, work, _plan = demo_world
    client = TestClient(create_app(Settings(db_url=url, data_dir=work, remittance_dir=work / "remittances")))
    token = client.post("/v1/auth/token", data={"username": "adviser", "password": "demo-adviser"}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    listed = client.get("/v1/advisers/me/holders", headers=headers)
    assert listed.status_code == 200, listed.text
    assert sorted(h["holder_id"] for h in listed.json()) == ["H000001", "H000002"]
    assert client.get("/v1/holders/H000001/preferences", headers=headers).status_code == 200
    assert client.get("/v1/holders/H000003/preferences", headers=headers).status_code == 403


def test_readme_walk(demo_world: tuple[str, Path, dict[str, object]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, work, plan = demo_world
    monkeypatch.setenv("PARCOURS_BUSINESS_DATE", str(plan["business_date"]))
    get_settings.cache_clear()
    app = create_app(Settings(db_url=url, data_dir=work, remittance_dir=work / "remittances"))
    client = TestClient(app)  # no lifespan: no recommender is needed to walk a file
    variables: dict[str, str] = {}
    ran: list[tuple[str, str]] = []

    def expand(text: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), text)

    def curl(command: str) -> dict[str, object]:
        words = shlex.split(expand(command))
        assert words[0] == "curl", command
        method, headers, data, url_ = None, {}, None, None
        i = 1
        while i < len(words):
            word = words[i]
            if word in ("-X", "-H", "-d"):
                value = words[i + 1]
                i += 2
                if word == "-X":
                    method = value
                elif word == "-H":
                    name, _, content = value.partition(":")
                    headers[name.strip()] = content.strip()
                else:
                    data = value
                continue
            if word.startswith("http"):
                url_ = word
            i += 1
        assert url_ and url_.startswith(variables["API"]), command
        path = url_[len(variables["API"]):]
        method = method or ("POST" if data is not None else "GET")
        if data is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")  # curl -d's default
        answer = client.request(method, path, content=data, headers=headers)
        assert answer.status_code < 400, f"{method} {path}: {answer.status_code} {answer.text}"
        ran.append((method, re.sub(r"/\d+", "/{id}", path)))
        return answer.json()  # type: ignore[no-any-return]

    for line in walk_lines():
        captured = re.fullmatch(r"(\w+)=\$\((curl .*?)\s*\|\s*jq -r \.(\w+)\)", line)
        if captured:
            variables[captured.group(1)] = str(curl(captured.group(2))[captured.group(3)])
        elif "parcours serve" in line:  # the restart on a later business date
            moved = re.match(r"PARCOURS_BUSINESS_DATE=(\S+) ", line)
            assert moved, line
            monkeypatch.setenv("PARCOURS_BUSINESS_DATE", moved.group(1))
            get_settings.cache_clear()
        elif line.startswith("curl "):
            last = curl(line.split(" | jq")[0])
        else:
            name, _, value = line.partition("=")
            assert re.fullmatch(r"\w+", name) and "$(" not in value, f"a README line the walk cannot read: {line}"
            variables[name] = value
    assert [step for step in ran if step[0] == "POST" and "auth" not in step[1]] == [
        ("POST", "/v1/enrolments"),
        ("POST", "/v1/enrolments/{id}/accept"),
        ("POST", "/v1/enrolments/{id}/confirm"),
        ("POST", "/v1/enrolments/{id}/entry"),
        ("POST", "/v1/enrolments/{id}/exit"),
        ("POST", "/v1/enrolments/{id}/service-done"),
        ("POST", "/v1/payments/batches"),
    ]
    assert last["state"] == "closed"
    assert last["payment"]["amount_cents"] == last["price_cents"]  # type: ignore[index]
    with session_factory(url)() as session:
        assert session.scalar(select(func.sum(LedgerEntry.amount_cents))) == 0
