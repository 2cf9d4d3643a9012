"""The advisers' page over plain HTTP (no browser needed): security headers, French, accessible structure, nothing
inline (so ``default-src 'self'`` holds), every asset served by the app itself with hashed URLs."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from parcours.settings import Settings, get_settings
from serving.app import create_app


class Page(HTMLParser):
    """What the checks need of the page: tags with their attributes, inline code, labels and inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture
def client(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(db_url=sqlite_url, data_dir=tmp_path, cache_dir=get_settings().resolved_cache_dir()))
    with TestClient(app) as test_client:
        yield test_client


def parsed(client: TestClient) -> Page:
    page = Page()
    page.feed(client.get("/adviser").text)
    return page


def test_the_page_sends_its_security_headers(client: TestClient) -> None:
    response = client.get("/adviser")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'self'") and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers


def test_nothing_inline_and_every_asset_from_the_app(client: TestClient) -> None:
    page = parsed(client)
    assert page.inline_scripts == 0
    assert not page.all("style")
    assert not [attrs for _tag, attrs in page.tags if "style" in attrs]
    assert not [name for _tag, attrs in page.tags for name in attrs if name.startswith("on")]  # no onclick=…
    assets = [str(a["src"]) for a in page.all("script")] + [str(a["href"]) for a in page.all("link")]
    assert len(assets) == 3
    for url in assets:
        assert url.startswith("/static/") and "?v=" in url
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in response.headers["cache-control"]
    kinds = {client.get(url).headers["content-type"].split(";")[0] for url in assets}
    assert kinds == {"text/javascript", "text/css", "image/svg+xml"}


def test_french_landmarks_and_a_label_for_every_input(client: TestClient) -> None:
    page = parsed(client)
    assert page.all("html")[0]["lang"] == "fr"
    for landmark in ("header", "nav", "main", "footer"):
        assert len(page.all(landmark)) == 1, landmark
    labelled = {attrs["for"] for attrs in page.all("label")}
    inputs = [attrs for attrs in page.all("input") + page.all("select")]
    assert inputs and all(attrs["id"] in labelled for attrs in inputs)
    assert all(attrs.get("scope") in ("col", "row") for attrs in page.all("th"))
    assert [a for a in page.all("svg") if a.get("id") == "chart"][0]["role"] == "img"
    texts = client.get("/adviser").text
    for words in ("Conseiller", "Bénéficiaires ayant donné leur accord", "Comparer les parcours", "Identifiant",
                  "Mot de passe", "Métier visé", "Proposer des parcours"):
        assert words in texts


def test_static_files_stay_in_their_folder(client: TestClient) -> None:
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404
    assert client.get("/static/nothing.js").status_code == 404
