"""The advisers' page in real headless Chromium (issue 14): sign in, the consenting holders, a holder's profile,
paths requested and compared (cards, French euros, the SVG chart), a path printed, no serious or critical
axe-core violation at each stage, a keyboard-only walk, unknown targets and a revoked consent.

The screenshot of two paths compared is written to ``docs/img/adviser_compare.png``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from parcours.store.engine import session_scope
from parcours.store.models import Consent
from tests.browser.conftest import ADVISER, CONSENTING, PASSWORD, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("tiny_world")]

# The screenshot of two paths compared: docs/img/adviser_compare.png when PARCOURS_UPDATE_SCREENSHOTS=1, else a
# temporary file (a test run leaves the committed image alone).
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "adviser_compare.png"
# French amounts as Intl formats them: narrow no-break spaces between thousands, a no-break space before €.
EUROS = re.compile(r"^\d{1,3}(?:[\u202f\u00a0 ]\d{3})*,\d{2}[\u00a0\u202f ]€$")
COMPARED_HOLDER = "H000078"  # three or more distinct paths towards their target (the compare view)


def expect(locator):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def axe_problems(page: Any) -> list[dict[str, Any]]:
    """The serious and critical violations axe-core finds in the page as it is now."""
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def assert_clean(page: Any, *, allowed: tuple[str, ...] = ()) -> None:
    """No CSP violation, no script error, no console error (but the ``allowed`` ones)."""
    assert page.evaluate("window.__cspViolations") == []
    problems = [p for p in page.problems if not any(a in p for a in allowed)]
    assert problems == []


def sign_in(page: Any, username: str = ADVISER) -> None:
    page.goto("/adviser")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Bénéficiaires ayant donné leur accord")).to_be_visible()


def open_holder(page: Any, holder_id: str) -> None:
    page.get_by_role("button", name=f"Ouvrir le dossier de {holder_id}").click()
    expect(page.get_by_role("heading", name=f"Bénéficiaire {holder_id}")).to_be_visible()
    expect(page.locator("#skills-body tr").first).to_be_visible()
    expect(page.locator("#status")).to_have_text(f"Dossier de {holder_id} chargé.")


def tab_until(page: Any, condition: str, limit: int) -> int:
    """Press Tab until the JavaScript ``condition`` (on ``document.activeElement`` as ``el``) holds."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return Boolean({condition}); }})()"):
            return presses
    raise AssertionError(f"{condition} not reached in {limit} Tab presses "
                         f"(focus on {page.evaluate('document.activeElement.outerHTML.slice(0, 120)')})")


def focus_is_visible(page: Any) -> bool:
    style = page.evaluate("""(() => { const s = getComputedStyle(document.activeElement);
                                      return [s.outlineStyle, s.outlineWidth]; })()""")
    return style[0] != "none" and float(style[1].removesuffix("px")) >= 2


def test_sign_in_open_a_holder_request_and_compare_paths(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    response = page.goto("/adviser")
    assert response.status == 200
    headers = response.headers
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert page.locator("html").get_attribute("lang") == "fr"
    assert [landmark for landmark in ("header", "nav", "main") if page.locator(landmark).count() == 1] == [
        "header", "nav", "main"]
    assert axe_problems(page) == []

    sign_in(page)
    rows = page.locator("#holders-body tr")
    expect(rows).to_have_count(len(CONSENTING))
    assert sorted(rows.locator("th").all_inner_texts()) == sorted(CONSENTING)
    assert page.evaluate("sessionStorage.getItem('parcours.adviser.token')")  # kept for the tab only
    assert page.context.cookies() == []  # never a cookie
    assert axe_problems(page) == []

    open_holder(page, COMPARED_HOLDER)
    provenance = page.locator("#skills-body tr td:nth-child(3)").first.inner_text()
    assert provenance.startswith(("Déclaré", "Vérifié"))
    expect(page.locator("#occupations-body tr").first).to_be_visible()
    assert EUROS.match(page.locator("#balances dd").first.inner_text())
    expect(page.locator("#target")).not_to_have_value("")  # the holder's target, from their preferences
    preferences = page.locator("#preferences").inner_text()
    assert "Reste à charge maximal" in preferences and "Région pour se former" in preferences, preferences

    page.get_by_role("button", name="Proposer des parcours").click()
    cards = page.locator(".path-card")
    expect(cards.first).to_be_visible()
    n = cards.count()
    assert n >= 3
    for i in range(n):
        card = cards.nth(i)
        assert EUROS.match(card.locator(".out-of-pocket").inner_text()), card.locator(".out-of-pocket").inner_text()
        text = card.inner_text()
        assert "Reste à charge" in text and "Compétences acquises" in text and "Couverture du manque" in text
        assert card.locator(".steps > li").count() >= 1
    assert "Recommandé" in cards.first.locator(".badges").inner_text()

    # Three paths compared at first (the most there can be), then two.
    expect(page.get_by_role("heading", name="Comparer les parcours")).to_be_visible()
    chart = page.locator("#chart")
    assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-labelledby") == "chart-title chart-desc"
    expect(chart.locator("circle.point")).to_have_count(3)
    if n > 3:
        expect(page.locator("#compare-4")).to_be_disabled()  # three at most
    page.get_by_label("Comparer").nth(2).uncheck()
    expect(chart.locator("circle.point")).to_have_count(2)
    expect(page.locator("#compare-head th")).to_have_count(3)
    assert page.locator("#chart-desc").text_content().startswith("Parcours 1 : coût total ")
    row_headers = page.locator("#compare-body th[scope=row]").all_inner_texts()
    assert {"Reste à charge", "Coût total", "Couverture du manque", "Compétences acquises"} <= set(row_headers)
    compared = page.locator("#compare-body tr", has=page.locator("th", has_text="Reste à charge")).locator("td")
    assert all(EUROS.match(t) for t in compared.all_inner_texts())
    page.locator("#axis-oop").check()
    expect(chart.locator("text.axis-label").first).to_have_text("Reste à charge")
    page.locator("#axis-total").check()
    assert axe_problems(page) == []
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the tables scroll, still by keyboard
    assert axe_problems(page) == []
    page.set_viewport_size({"width": 1280, "height": 900})

    screenshot = DOCS_SCREENSHOT if os.environ.get("PARCOURS_UPDATE_SCREENSHOTS") == "1" else tmp_path / "compare.png"
    page.locator("#parcours-zone").screenshot(path=str(screenshot))  # the paths and their comparison
    assert screenshot.stat().st_size > 10_000

    # A printable summary of one path: only it is printed.
    page.evaluate("() => { window.print = () => { window.__printed = (window.__printed || 0) + 1; }; }")
    page.get_by_role("button", name="Imprimer le parcours 1").click()
    assert page.evaluate("window.__printed") == 1
    page.emulate_media(media="print")
    summary = page.locator("#print-summary")
    expect(summary).to_be_visible()
    expect(cards.first).to_be_hidden()
    expect(page.locator(".site-header")).to_be_hidden()
    target = page.locator("#target-label").text_content()
    assert target and target in summary.locator("h1").inner_text()
    assert "Reste à charge" in summary.inner_text() and f"Bénéficiaire {COMPARED_HOLDER}" in summary.inner_text()
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    expect(cards.first).to_be_visible()
    assert_clean(page)


def test_keyboard_only_sign_in_holder_and_path_request(page: Any) -> None:
    page.goto("/adviser")
    tab_until(page, "el.classList.contains('skip-link')", 3)
    assert focus_is_visible(page)
    tab_until(page, "el.id === 'username'", 5)
    assert focus_is_visible(page)
    page.keyboard.type(ADVISER)
    tab_until(page, "el.id === 'password'", 2)
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#beneficiaires-titre")).to_be_focused()

    holder = "H000078"
    tab_until(page, f"el.dataset.holder === '{holder}'", 20)
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator("#beneficiaire-titre")).to_be_focused()
    expect(page.locator("#status")).to_have_text(f"Dossier de {holder} chargé.")

    tab_until(page, "el.id === 'target'", 80)
    assert focus_is_visible(page)
    page.keyboard.press("Control+A")
    page.keyboard.type("comptable")
    tab_until(page, "el.id === 'request-paths'", 8)
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator(".path-card").first).to_be_visible()
    expect(page.locator("#resultats-titre")).to_be_focused()
    assert page.locator("#target-label").text_content() == "comptable"

    # The comparison is driven from the keyboard too (Space on a checkbox).
    tab_until(page, "el.id === 'compare-1'", 80)
    before = page.locator("#chart circle.point").count()
    page.keyboard.press("Space")
    assert page.locator("#chart circle.point").count() == before - 1
    assert_clean(page)


def test_a_wrong_password_is_said_in_french(page: Any) -> None:
    page.goto("/adviser")
    page.get_by_label("Identifiant").fill(ADVISER)
    page.get_by_label("Mot de passe").fill("not the password")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert").first).to_have_text("Identifiant ou mot de passe incorrect.")
    expect(page.get_by_label("Mot de passe")).to_be_focused()
    assert axe_problems(page) == []
    assert_clean(page, allowed=("401",))


def test_an_unknown_target_offers_occupations_to_choose(page: Any) -> None:
    sign_in(page)
    open_holder(page, "H000001")
    page.get_by_label("Métier visé").fill("xqzv plorb")
    page.get_by_role("button", name="Proposer des parcours").click()
    suggestions = page.locator("#suggestions-list button")
    expect(suggestions.first).to_be_visible()
    expect(suggestions.first).to_be_focused()
    assert "xqzv plorb" in page.locator("#path-error").inner_text()
    assert axe_problems(page) == []
    chosen = suggestions.first.inner_text()
    suggestions.first.click()
    expect(page.locator("#resultats-titre")).to_be_visible()
    assert page.locator("#target-label").text_content() == chosen
    assert_clean(page, allowed=("404",))


def test_a_revoked_consent_closes_the_holder(page: Any, live_server: LiveServer) -> None:
    sign_in(page)
    holder = "H000001"
    with session_scope(live_server.db_url) as session:
        session.execute(update(Consent).where(Consent.holder_id == holder, Consent.adviser_username == ADVISER)
                        .values(revoked_at=dt.datetime.now(dt.UTC)))
    page.get_by_role("button", name=f"Ouvrir le dossier de {holder}").click()
    expect(page.locator("#status")).to_have_text(
        "L'accord de ce bénéficiaire n'est plus actif : son dossier n'est plus accessible.")
    page.get_by_role("link", name="Bénéficiaires", exact=True).click()
    expect(page.locator("#holders-body tr")).to_have_count(len(CONSENTING) - 1)
    assert_clean(page, allowed=("403",))
