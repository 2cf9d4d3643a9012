"""The production recipe (deploy/) stays true to the code: the env example's names are settings and parse, the
systemd units call existing commands and options, and nginx accepts its configuration (``nginx -t``, when nginx
is installed)."""

from __future__ import annotations

import re
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from parcours.settings import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"
SECRETS = ("PARCOURS_JWT_SECRET", "PARCOURS_PSEUDONYM_KEY")


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments and blank lines skipped), as systemd's EnvironmentFile reads them."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", line)
        assert match, f"{path.name}:{number}: not KEY=VALUE: {line!r}"
        values[match[1]] = match[2]
    return values


def test_env_example_names_only_settings_and_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    values = read_env(DEPLOY / "parcours.env.example")
    fields = {f"PARCOURS_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(k for k in values if k.startswith("PARCOURS_") and k not in fields)
    assert not unknown, f"not settings: {unknown}"
    for required in ("PARCOURS_DB_URL", *SECRETS, "PARCOURS_DATA_DIR", "PARCOURS_MLFLOW_TRACKING_URI"):
        assert required in values, required
    for name in SECRETS:  # a secret is never written in the repository, not even an example one
        assert values[name] == "", name
    for name, value in values.items():
        monkeypatch.setenv(name, value or secrets.token_urlsafe(48))
    settings = Settings()
    assert settings.resolved_db_url().startswith("postgresql+psycopg://")
    assert settings.resolved_mlflow_uri().startswith("http://") and settings.log_format == "json"
    assert settings.resolved_jwt_secret() == settings.jwt_secret  # taken from the environment, no file written


def _exec_starts(unit: Path) -> list[list[str]]:
    text = unit.read_text(encoding="utf-8").replace("\\\n", " ")
    return [shlex.split(line.split("=", 1)[1]) for line in text.splitlines() if line.startswith("ExecStart=")]


@pytest.mark.parametrize("unit", ["parcours.service", "parcours-batch.service"])
def test_units_call_existing_commands_and_options(unit: str) -> None:
    from parcours.cli import app

    root = typer.main.get_command(app)
    starts = _exec_starts(DEPLOY / "systemd" / unit)
    assert starts
    for argv in starts:
        assert argv[0].endswith("/parcours"), argv
        command: Any = root
        words = argv[1:]
        while hasattr(command, "commands"):  # a group (typer ships its own copy of click's classes)
            command = command.commands[words.pop(0)]
        options = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        used = [w for w in words if w.startswith("--")]
        assert set(used) <= options, f"{unit}: {sorted(set(used) - options)} not options of {argv[1:3]}"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parcours.example.fr")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed (apt-get install nginx-light)")
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    conf = (DEPLOY / "nginx" / "parcours.conf").read_text(encoding="utf-8")
    conf = (conf.replace("/etc/ssl/parcours/fullchain.pem", str(cert))
            .replace("/etc/ssl/parcours/privkey.pem", str(key))
            .replace("/var/log/nginx/", f"{tmp_path}/"))
    (tmp_path / "parcours.conf").write_text(conf, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    include {tmp_path}/parcours.conf;\n}}\n",
        encoding="utf-8")
    result = subprocess.run([shutil.which("nginx") or "nginx", "-t", "-p", str(tmp_path), "-c",
                             str(tmp_path / "nginx.conf")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_nginx_check_would_catch_a_broken_configuration(tmp_path: Path) -> None:
    """The check above can fail: a directive nginx does not know is refused."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed")
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
                                         "events {}\nhttp { server { proxy_pass_everything on; } }\n")
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "unknown directive" in result.stderr
