"""The funder feed (L6353-10, issue 18): entry, exit and completion events of the files a funder co-finances,
pseudonymised per funder (HMAC under a key kept out of the database), incremental by a signed cursor, JSON and
CSV. Walked over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import stat

import pytest

from parcours.domain.pseudonyms import BadCursor, holder_pseudonym, make_cursor, read_cursor
from parcours.store.models import User
from serving.services.funder_feed import pseudonym_key
from tests.ledger_world import START, add_funder, add_holder, add_training
from tests.test_api_supporting import Api

USERS = [
    ("h1", "holder", "H1", None, None),
    ("h2", "holder", "H2", None, None),
    ("h3", "holder", "H3", None, None),
    ("h4", "holder", "H4", None, None),
    ("p1", "provider", None, "P1", None),
    ("opco", "funder", None, None, "OPCO1"),
    ("emp", "funder", None, None, "EMP1"),
    ("analyst", "analyst", None, None, None),
    ("root", "admin", None, None, None),
]


def topup_body(file_id: int) -> dict[str, object]:
    """A top-up spent before the holder's rights, so that it is reserved on the file (it co-finances it)."""
    return {"amount_cents": 10_000, "enrolment_id": file_id, "spend_before_rights": True}


@pytest.fixture
def api(db_url, tmp_path) -> Api:
    api = Api(db_url, tmp_path)

    def seed(session):
        add_training(session, "T1", provider_id="P1", price_cents=150_000)
        for holder_id in ("H1", "H2", "H3", "H4"):
            add_holder(session, holder_id, cpf_cents=200_000)
        add_funder(session, "OPCO1", "opco")
        add_funder(session, "EMP1", "employer")
        for username, role, holder_id, provider_id, funder_id in USERS:
            session.add(User(username=username, password_hash="x", role=role, holder_id=holder_id,
                             provider_id=provider_id, funder_id=funder_id))

    api.world.seed(seed)
    return api


def _walk(api: Api, holder_user: str, holder_id: str, funders: tuple[str, ...], completion: int) -> int:
    """A file of ``holder_id`` topped up by ``funders``, walked from request to service done."""
    api.today = START - dt.timedelta(days=35)
    created = api.post(holder_user, "/v1/enrolments",
                       {"holder_id": holder_id, "training_id": "T1", "session_start": START.isoformat()})
    assert created.status_code == 201, created.text
    file_id = created.json()["enrolment_id"]
    path = f"/v1/enrolments/{file_id}"
    assert api.post("p1", f"{path}/accept").status_code == 200
    for funder_user in funders:
        topup = api.post(funder_user, "/v1/topups", topup_body(file_id))
        assert topup.status_code == 201, topup.text
    assert api.post(holder_user, f"{path}/confirm", {"max_out_of_pocket_cents": 0}).status_code == 200
    api.today = START
    assert api.post("p1", f"{path}/entry").status_code == 200
    api.today = START + dt.timedelta(days=2)
    assert api.post("p1", f"{path}/exit", {"exit_date": api.today.isoformat()}).status_code == 200
    done = api.post("p1", f"{path}/service-done", {"completion_rate": completion})
    assert done.status_code == 200, done.text
    return file_id


@pytest.fixture
def walked(api):
    """H1's file co-financed by OPCO1 and EMP1, H2's by OPCO1 only, H3's by nobody."""
    return {
        "H1": _walk(api, "h1", "H1", ("opco", "emp"), 90),
        "H2": _walk(api, "h2", "H2", ("opco",), 40),
        "H3": _walk(api, "h3", "H3", (), 100),
    }


def _feed(api: Api, user: str, funder_id: str, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.get(user, f"/v1/funders/{funder_id}/events" + (f"?{query}" if query else ""))


def test_a_funder_receives_only_the_files_it_co_finances(api, walked):
    emp = _feed(api, "emp", "EMP1")
    assert emp.status_code == 200, emp.text
    assert {e["enrolment_id"] for e in emp.json()["events"]} == {walked["H1"]}
    assert [e["event"] for e in emp.json()["events"]] == ["entry", "exit", "completion"]
    completion = emp.json()["events"][-1]
    assert completion["completion_rate"] == 90.0 and completion["no_show"] is False
    assert emp.json()["events"][0]["entry_date"] == START.isoformat()
    opco = _feed(api, "opco", "OPCO1").json()
    assert {e["enrolment_id"] for e in opco["events"]} == {walked["H1"], walked["H2"]}
    # no holder id anywhere in what a funder receives
    for answer in (emp.text, _feed(api, "opco", "OPCO1", format="csv").text):
        assert "H1" not in answer and "H2" not in answer and "H3" not in answer
    admin = _feed(api, "root", "EMP1").json()
    assert [e["event_id"] for e in admin["events"]] == [e["event_id"] for e in emp.json()["events"]]


def test_another_funder_feed_is_missing_and_other_roles_refused(api, walked):
    assert _feed(api, "emp", "OPCO1").status_code == 404
    assert _feed(api, "emp", "OPCO1").json() == _feed(api, "emp", "NOPE").json() | {
        "detail": "funder OPCO1 not found"}
    assert _feed(api, "root", "NOPE").status_code == 404
    for user in ("h1", "p1", "analyst"):
        assert _feed(api, user, "EMP1").status_code == 403


def test_pseudonyms_differ_across_funders_and_are_stable_for_one(api, walked):
    def pseudonyms(user: str, funder_id: str) -> dict[int, set[str]]:
        by_file: dict[int, set[str]] = {}
        for event in _feed(api, user, funder_id).json()["events"]:
            by_file.setdefault(event["enrolment_id"], set()).add(event["holder_pseudonym"])
        return by_file

    emp, opco = pseudonyms("emp", "EMP1"), pseudonyms("opco", "OPCO1")
    assert len(emp[walked["H1"]]) == 1 and len(opco[walked["H1"]]) == 1  # stable within a feed
    assert emp[walked["H1"]] != opco[walked["H1"]]  # not linkable across funders
    assert opco[walked["H1"]] != opco[walked["H2"]]
    assert pseudonyms("emp", "EMP1") == emp  # stable across reads
    key = pseudonym_key(api.settings)
    assert emp[walked["H1"]] == {holder_pseudonym(key, "EMP1", "H1")}
    assert holder_pseudonym(b"another key", "EMP1", "H1") != holder_pseudonym(key, "EMP1", "H1")
    # the key lives in the data folder, 0600, and nowhere in the database
    key_file = api.settings.data_dir / "pseudonym_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    if api.db_url.startswith("sqlite:///"):
        with open(api.db_url.removeprefix("sqlite:///"), "rb") as database:
            assert key not in database.read()


def test_paging_by_cursor_returns_every_event_once(api, walked):
    everything = [e["event_id"] for e in _feed(api, "opco", "OPCO1", limit=1000).json()["events"]]
    assert len(everything) == 6
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = _feed(api, "opco", "OPCO1", **params).json()
        seen += [e["event_id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == everything
    # nothing new: an empty page that gives the same cursor back
    idle = _feed(api, "opco", "OPCO1", cursor=cursor).json()
    assert idle["events"] == [] and idle["next_cursor"] == cursor and idle["has_more"] is False
    # a new event arrives after the cursor
    newer = _walk(api, "h4", "H4", ("opco",), 50)
    after = _feed(api, "opco", "OPCO1", cursor=cursor).json()
    assert {e["enrolment_id"] for e in after["events"]} == {newer}
    assert [e["event"] for e in after["events"]] == ["entry", "exit", "completion"]


def test_a_bad_cursor_is_422(api, walked):
    good = _feed(api, "opco", "OPCO1", limit=1).json()["next_cursor"]
    emp_cursor = _feed(api, "emp", "EMP1", limit=1).json()["next_cursor"]
    number, _, signature = good.partition(".")
    forged = f"{int(number) + 1}.{signature}"
    for bad in ("garbage", "12", forged, emp_cursor, "-1.abc"):
        answer = _feed(api, "opco", "OPCO1", cursor=bad)
        assert answer.status_code == 422, (bad, answer.text)
    assert _feed(api, "opco", "OPCO1", cursor=good).status_code == 200


def test_csv_is_neutralised_and_carries_the_cursor(api, walked):
    key = pseudonym_key(api.settings)
    answer = _feed(api, "opco", "OPCO1", format="csv", limit=2)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 2 and rows[0]["event"] == "entry"
    assert rows[0]["holder_pseudonym"] == holder_pseudonym(key, "OPCO1", "H1")
    assert answer.headers["Has-More"] == "true"
    assert read_cursor(key, "OPCO1", answer.headers["Next-Cursor"]) == int(rows[-1]["event_id"])


def test_csv_cells_that_look_like_formulas_are_neutralised(api):
    """A provider id starting with ``=`` reaches the CSV as text, not as a formula."""
    api.world.seed(lambda s: add_training(s, "T2", provider_id="=HYPERLINK(1)", price_cents=150_000))
    api.today = START - dt.timedelta(days=35)
    created = api.post("h1", "/v1/enrolments",
                       {"holder_id": "H1", "training_id": "T2", "session_start": START.isoformat()})
    file_id = created.json()["enrolment_id"]
    with api.world.factory() as session:
        session.add(User(username="pevil", password_hash="x", role="provider", provider_id="=HYPERLINK(1)"))
        session.commit()
    path = f"/v1/enrolments/{file_id}"
    assert api.post("pevil", f"{path}/accept").status_code == 200
    assert api.post("opco", "/v1/topups", topup_body(file_id)).status_code == 201
    assert api.post("h1", f"{path}/confirm", {"max_out_of_pocket_cents": 0}).status_code == 200
    api.today = START
    assert api.post("pevil", f"{path}/entry").status_code == 200
    text = _feed(api, "opco", "OPCO1", format="csv").text
    assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text
    assert _feed(api, "opco", "OPCO1").json()["events"][0]["provider_id"] == "=HYPERLINK(1)"


def test_cursor_and_pseudonym_functions():
    key = b"k" * 32
    cursor = make_cursor(key, "F1", 41)
    assert read_cursor(key, "F1", cursor) == 41
    for bad in ("", "41", "41.", "x.y", cursor + "a", make_cursor(key, "F2", 41), make_cursor(b"j" * 32, "F1", 41)):
        with pytest.raises(BadCursor):
            read_cursor(key, "F1", bad)
    # the NUL separator: ("F1", "2H") and ("F12", "H") are different holders of different funders
    assert holder_pseudonym(key, "F1", "2H") != holder_pseudonym(key, "F12", "H")
    assert len(holder_pseudonym(key, "F1", "H1")) == 26


def test_a_configured_key_is_used_and_a_short_one_refused(tmp_path):
    from parcours.settings import InsecureSecret, Settings

    assert pseudonym_key(Settings(data_dir=tmp_path, pseudonym_key="s" * 40)) == b"s" * 40
    assert not (tmp_path / "pseudonym_key").exists()
    with pytest.raises(InsecureSecret):
        pseudonym_key(Settings(data_dir=tmp_path, pseudonym_key="short"))
