"""``parcours stats report`` on the tiny world: index.html in French with one PNG chart per indicator, the tables
with suppressed cells shown « s », the method, and JSON and CSV files — none of them with a holder id or a
published cell of 1-10 holders.

The world folder has interactions but no enrolment files and no impressions, so the test adds, straight to the
database, one file per (holder, training) enrolled in (cancelled or completed as the interactions say) and an
impression an hour before each view."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ingest.world_import import import_folder
from parcours.cli import app
from parcours.store.engine import get_engine, session_scope
from parcours.store.models import Holder, Interaction, Training
from parcours.store.supporting_models import Enrolment
from serving.services.statistics import BY, INDICATORS, log_impressions
from training.datasets.world import generate_world


def _files_and_impressions(url: str) -> int:
    with session_scope(url) as session:
        events = session.execute(
            select(Interaction.holder_id, Interaction.training_id, Interaction.event, Interaction.occurred_at)
            .order_by(Interaction.occurred_at, Interaction.interaction_id)
        ).all()
        trainings = {t.training_id: t for t in session.scalars(select(Training))}
        outcome: dict[tuple[str, str], str] = {}
        opened: dict[tuple[str, str], dt.datetime] = {}
        for holder_id, training_id, event, when in events:
            pair = (holder_id, training_id)
            if event == "enrol" and pair not in opened:
                opened[pair] = when
            elif event in ("cancel", "complete") and pair in opened:
                outcome.setdefault(pair, event)
            elif event == "view":
                log_impressions(session, holder_id, [training_id], "test-model", shown_at=when - dt.timedelta(hours=1))
        for (holder_id, training_id), when in opened.items():
            training = trainings[training_id]
            state = {"cancel": "cancelled_by_holder", "complete": "closed"}.get(outcome.get((holder_id, training_id),
                                                                                            ""), "confirmed")
            session.add(Enrolment(
                holder_id=holder_id, training_id=training_id, provider_id=training.provider_id,
                session_start=when.date() + dt.timedelta(days=30), price_cents=training.price_cents, state=state,
                completion_basis_points=10_000 if state == "closed" else None, created_at=when,
            ))
        return len(opened)


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("stats-world") / "world"
    generate_world(folder, scale="tiny", seed=1)
    url = f"sqlite:///{folder.parent / 'stats.db'}"
    import_folder(folder, url)
    assert _files_and_impressions(url) > 0
    yield url
    get_engine(url).dispose()


def test_report_writes_html_charts_json_and_csv(tiny_db, tmp_path):
    out = tmp_path / "rapport"
    result = CliRunner().invoke(app, ["stats", "report", "--out", str(out), "--db", tiny_db])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<h1>Statistiques d'usage du CPF</h1>" in page and "Méthode" in page and "Hundepool" in page
    for name, spec in INDICATORS.items():
        chart = out / "graphiques" / f"{name}.png"
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f'src="graphiques/{name}.png"' in page
        assert spec.title.replace("'", "&#x27;") in page
    assert "<td>s</td>" in page  # some suppressed cells on a world of 200 holders
    tables = json.loads((out / "statistiques.json").read_text(encoding="utf-8"))["tables"]
    assert len(tables) == len(INDICATORS) * len(BY)
    enrolments = next(t for t in tables if (t["indicator"], t["by"]) == ("enrolments", "month"))
    assert enrolments["total"]["value"] > 0 and not enrolments["total"]["suppressed"]
    for table in tables:
        for cell in [*table["cells"], table["total"]]:
            assert cell["suppressed"] or cell["holders"] == 0 or cell["holders"] >= 11, (table["indicator"], cell)
    with (out / "csv" / "enrolments_par_region.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["key"] == "total" and {"holders", "value", "suppressed"} <= set(rows[0])
    with session_scope(tiny_db) as session:
        holder_ids = set(session.scalars(select(Holder.holder_id)))
    written = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.suffix in (".html", ".json", ".csv"))
    assert not [h for h in holder_ids if h in written]


def test_report_on_an_empty_database(sqlite_url, tmp_path):
    result = CliRunner().invoke(app, ["stats", "report", "--out", str(tmp_path / "vide"), "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "vide" / "graphiques" / "enrolments.png").exists()
    tables = json.loads((tmp_path / "vide" / "statistiques.json").read_text(encoding="utf-8"))["tables"]
    assert tables[0]["cells"] == [] and tables[0]["total"] == {"key": "total", "holders": 0, "value": 0,
                                                               "suppressed": False}

