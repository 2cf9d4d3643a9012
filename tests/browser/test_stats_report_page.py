"""The statistics report (``parcours stats report``) opened in headless Chromium: its French title and every chart
load. Files and impressions are drawn from the tiny world's interactions as the statistics benchmark draws them
(an imported world has neither). ``PARCOURS_SCREENSHOT`` names a PNG to save the first screen to (how
docs/img/stats_report.png was taken, on the demo world)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from parcours.store.engine import get_engine, session_scope
from serving.services.stats_report import write_report
from training.bench.bench_stats import populate

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("tiny_world")]


def test_report_opens_with_its_charts(browser, tiny_world: tuple[Path, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _folder, url = tiny_world
    copy = tmp_path / "report.db"
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    db_url = f"sqlite:///{copy}"
    drawn = populate(db_url)
    assert drawn["files"] > 0 and drawn["impressions"] > 0
    with session_scope(db_url) as session:
        write_report(session, tmp_path / "report")
    get_engine(db_url).dispose()
    context = browser.new_context(viewport={"width": 1200, "height": 1500}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto((tmp_path / "report" / "index.html").as_uri())
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "Statistiques d'usage du CPF"
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0])")
        assert len(images) >= 14, images  # one chart per indicator
        assert [src for src, loaded in images if not loaded] == []
        if os.environ.get("PARCOURS_SCREENSHOT"):
            page.screenshot(path=os.environ["PARCOURS_SCREENSHOT"])
    finally:
        context.close()
