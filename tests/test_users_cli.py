"""`parcours user add` and `parcours user import`: creation, update, and all-or-nothing refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from parcours.cli import app
from parcours.store.engine import session_scope
from parcours.store.models import User
from serving.security import verify_password
from tests.factories import add_holder

runner = CliRunner()


def count_users(url: str) -> int:
    with session_scope(url) as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


@pytest.fixture
def url(sqlite_url: str) -> str:
    with session_scope(sqlite_url) as session:
        add_holder(session, "H1")
    return sqlite_url


def test_add_then_update(url: str) -> None:
    result = runner.invoke(app, ["user", "add", "alice", "--role", "holder", "--holder-id", "H1",
                                 "--password-stdin", "--db", url], input="first-password\n")
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    result = runner.invoke(app, ["user", "add", "alice", "--role", "holder", "--holder-id", "H1",
                                 "--password-stdin", "--db", url], input="second-password\n")
    assert result.exit_code == 0 and "updated" in result.output
    with session_scope(url) as session:
        user = session.scalars(select(User).where(User.username == "alice")).one()
        assert verify_password("second-password", user.password_hash)
        assert not verify_password("first-password", user.password_hash)


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["bob", "--role", "boss"], "long-enough", "role"),
        (["bob", "--role", "holder"], "long-enough", "holder_id"),
        (["bob", "--role", "holder", "--holder-id", "NOPE"], "long-enough", "unknown holder"),
        (["bob", "--role", "provider"], "long-enough", "provider_id"),
        (["bob", "--role", "admin"], "short", "password"),
    ],
)
def test_add_refuses_bad_input(url: str, args: list[str], password: str, message: str) -> None:
    result = runner.invoke(app, ["user", "add", *args, "--password-stdin", "--db", url], input=password + "\n")
    assert result.exit_code == 1
    assert message in result.output
    assert count_users(url) == 0


def test_add_requires_password_stdin(url: str) -> None:
    result = runner.invoke(app, ["user", "add", "bob", "--role", "admin", "--db", url])
    assert result.exit_code == 2
    assert "--password-stdin" in result.output


def test_import_csv_all_or_nothing(url: str, tmp_path: Path) -> None:
    good = tmp_path / "users.csv"
    good.write_text("\ufeffusername,password,role,holder_id,provider_id,funder_id\r\n"
                    "alice,alice-password,holder,H1,,\r\nboss,boss-password,admin,,,\r\n", encoding="utf-8")
    result = runner.invoke(app, ["user", "import", str(good), "--db", url])
    assert result.exit_code == 0, result.output
    assert count_users(url) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("username,password,role,holder_id,provider_id,funder_id\n"
                   "carol,carol-password,adviser,,,\n"
                   "dave,dave-password,funder,,,\n", encoding="utf-8")
    result = runner.invoke(app, ["user", "import", str(bad), "--db", url])
    assert result.exit_code == 1
    assert "row=3" in result.output and "field=funder_id" in result.output
    assert count_users(url) == 2  # carol was not created either


def test_import_csv_missing_column(url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("username,password\nx,y\n", encoding="utf-8")
    result = runner.invoke(app, ["user", "import", str(bad), "--db", url])
    assert result.exit_code == 1
    assert "field=role" in result.output
