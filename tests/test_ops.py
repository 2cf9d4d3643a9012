"""Operations (issue 17): /ready apart from /health, Prometheus /metrics, request ids and JSON access logs, and
``parcours serve --workers N`` (a real two-worker server on a loopback port, stopped by SIGTERM)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from parcours.cli import app as cli_app
from parcours.settings import Settings, get_settings
from parcours.store.engine import session_factory, session_scope
from serving.app import create_app
from serving.observability import JsonFormatter, log_config, valid_request_id
from serving.services.users import UserSpec, upsert_users
from tests.factories import add_holder, add_provider, add_training

PASSWORD = "correct horse battery"


def _settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(db_url=db_url, data_dir=tmp_path, cache_dir=get_settings().resolved_cache_dir())


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with session_scope(db_url) as session:
        add_provider(session)
        add_training(session, "T-ACC", "Accounting and payroll certificate",
                     description="Bookkeeping, tax returns, payroll and financial statements.")
        add_training(session, "T-MAS", "Hot stone massage", description="Massage therapy with heated stones.")
        add_holder(session, "H1", cpf_balance_cents=100_000, jobs=["accountant assistant"])
    upsert_users(db_url, [UserSpec("h1", PASSWORD, "holder", holder_id="H1")], source="test")
    with TestClient(create_app(_settings(db_url, tmp_path))) as test_client:
        yield test_client


def _samples(client: TestClient) -> list[tuple[str, dict[str, str], float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(response.text)
            for s in family.samples]


# --- /ready ----------------------------------------------------------------------------------------------------------


def test_ready_is_200_once_started(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "model_version": "content-tfidf"}
    assert client.get("/health").json()["model_version"] == "content-tfidf"  # liveness unchanged


def test_ready_is_503_while_starting(db_url: str, tmp_path: Path) -> None:
    # No lifespan run (no `with`): the recommender is still "starting".
    response = TestClient(create_app(_settings(db_url, tmp_path))).get("/ready")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["recommender not loaded: starting"]


def test_ready_is_503_when_the_database_is_unreachable(client: TestClient) -> None:
    # A PostgreSQL URL on a loopback port nobody listens on: the connection is refused at once.
    bad_url = f"postgresql+psycopg://nobody:nothing@127.0.0.1:{_free_port()}/parcours?connect_timeout=3"
    client.app.state.session_factory = session_factory(bad_url)  # type: ignore[attr-defined]
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["reasons"][0].startswith("database unreachable: OperationalError")
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["database"].startswith("error:")


# --- /metrics --------------------------------------------------------------------------------------------------------


def test_metrics_expose_latency_histograms_in_flight_recommendations_and_model(client: TestClient) -> None:
    for _ in range(3):
        client.get("/health")
    client.get("/no/such/page")
    login = client.post("/v1/auth/token", data={"username": "h1", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.get("/v1/holders/H1/recommendations", headers=headers).status_code == 200
    samples = _samples(client)

    def value(name: str, **labels: str) -> float:
        return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))

    assert value("parcours_http_request_duration_seconds_count", route="/health", method="GET", status="2xx") >= 3
    assert value("parcours_http_request_duration_seconds_bucket", route="/health", method="GET", status="2xx",
                 le="+Inf") >= 3
    # Unknown URLs share one label (the label set cannot grow with what clients send).
    assert value("parcours_http_request_duration_seconds_count", route="<unmatched>", status="4xx") >= 1
    assert not any(lab.get("route") == "/no/such/page" for _n, lab, _v in samples)
    assert value("parcours_http_request_duration_seconds_count", route="/v1/holders/{holder_id}/recommendations",
                 method="GET", status="2xx") >= 1
    assert value("parcours_recommendation_duration_seconds_count") >= 1
    assert any(n == "parcours_http_requests_in_flight" for n, _lab, _v in samples)
    assert value("parcours_model_info", model_version="content-tfidf") == 1.0


# --- request ids and JSON logs ---------------------------------------------------------------------------------------


def test_request_id_is_returned_and_generated_when_absent_or_unsafe(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc-123.XYZ_9"}).headers["X-Request-ID"] == "abc-123.XYZ_9"
    generated = client.get("/health").headers["X-Request-ID"]
    assert valid_request_id(generated) and len(generated) == 32
    for unsafe in (b"a b", b"x" * 65, b"<script>", "\u00fcmlaut".encode(), b""):
        answered = client.get("/health", headers=[(b"X-Request-ID", unsafe)])
        assert answered.headers["X-Request-ID"].encode() != unsafe
        assert valid_request_id(answered.headers["X-Request-ID"])
    assert client.get("/no/such/page").headers["X-Request-ID"]  # errors carry one too


def test_access_log_is_one_json_object_with_the_request_id(client: TestClient,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="parcours.access"):
        client.get("/ready", headers={"X-Request-ID": "trace-42"})
    records = [r for r in caplog.records
               if r.name == "parcours.access" and getattr(r, "request_id", None) == "trace-42"]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "trace-42" and entry["logger"] == "parcours.access" and entry["level"] == "INFO"
    assert entry["method"] == "GET" and entry["path"] == "/ready" and entry["status"] == 200
    assert isinstance(entry["duration_ms"], float) and entry["time"].endswith("Z")
    assert "GET /ready 200" in entry["message"]


def test_log_config_knows_json_and_text_only() -> None:
    assert log_config("json")["formatters"]["main"]["()"] == "serving.observability.JsonFormatter"
    assert "request_id" in log_config("text")["formatters"]["main"]["format"]
    with pytest.raises(ValueError, match="json or text"):
        log_config("xml")
    assert Settings(log_format="json").log_format == "json"


# --- parcours serve --------------------------------------------------------------------------------------------------


def test_serve_help_shows_workers() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    assert "--workers" in result.output and "--log-format" in result.output and "--keep-alive" in result.output


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_workers_answer_and_stop_cleanly_on_sigterm(sqlite_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PARCOURS_DATA_DIR": str(tmp_path / "data"), "PARCOURS_LOG_FORMAT": "json",
           "PARCOURS_CACHE_DIR": str(get_settings().resolved_cache_dir()), "PARCOURS_GRACEFUL_SHUTDOWN_SECONDS": "5"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "parcours.cli", "serve", "--workers", "2", "--host", "127.0.0.1",
               "--port", str(port), "--db", sqlite_url]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ready = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"{base}/ready", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, server.poll()
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        for _ in range(6):
            httpx.get(f"{base}/health", timeout=5)
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'parcours_http_request_duration_seconds_count{' in metrics
        assert "parcours_http_requests_in_flight" in metrics
    finally:
        server.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        try:
            _out, err = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
            pytest.fail("the server did not stop within 20 s of SIGTERM")
    assert server.returncode == 0, err.decode()[-2000:]
    assert time.monotonic() - stopping < 10
    assert not list(Path(tmp_path).glob("parcours-metrics-*"))
    lines = [line for line in err.decode().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert entries and len(entries) == len(lines), [line for line in lines if not line.startswith("{")]
    access = [e for e in entries if e["logger"] == "parcours.access"]
    assert access and all(e["request_id"] for e in access)
    assert len({e["message"] for e in entries if "Started server process" in e["message"]}) == 2
