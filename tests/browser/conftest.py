"""Browser tests of the advisers' page: the app served by uvicorn on 127.0.0.1 (a free port, a background thread)
over a copy of the tiny world, driven by Playwright in the system's headless Chromium (``/usr/bin/chromium``,
Debian's package; Playwright's own browser download is never used).

The tests are marked ``browser`` and skipped, with the reason, only when ``/usr/bin/chromium`` is absent
(``.ci/run`` installs it). Users: the adviser ``conseiller`` (password ``PASSWORD``), to whom the holders of
``CONSENTING`` consent; ``autre-conseiller`` has no consent.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from parcours.settings import Settings, get_settings
from parcours.store.engine import session_scope
from parcours.store.models import Consent
from serving.services.users import UserSpec, upsert_users

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "browser-tests-password"
ADVISER = "conseiller"
CONSENTING = ("H000046", "H000078", "H000001")  # H000078: three or more distinct paths towards their target
TIMEOUT_MS = 90_000  # the first free-text target loads the matcher's encoder in the server (seconds, on 2 cores)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the advisers' page in headless Chromium (/usr/bin/chromium)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium; "
                                   ".ci/run does) to run the browser tests")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


@dataclass(frozen=True)
class LiveServer:
    url: str
    db_url: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tiny_world: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app over a private copy of the tiny world, served by uvicorn in a thread for one test module."""
    import uvicorn

    from serving.app import create_app
    from serving.services import paths as paths_service

    _folder, url = tiny_world
    where = tmp_path_factory.mktemp("browser")
    copy = where / "tiny.db"
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    db_url = f"sqlite:///{copy}"
    upsert_users(db_url, [UserSpec(ADVISER, PASSWORD, "adviser"), UserSpec("autre-conseiller", PASSWORD, "adviser")],
                 source="test")
    with session_scope(db_url) as session:
        for holder_id in CONSENTING:
            session.add(Consent(holder_id=holder_id, adviser_username=ADVISER))
    settings = Settings(db_url=db_url, data_dir=where / "data", cache_dir=get_settings().resolved_cache_dir())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    with pytest.MonkeyPatch.context() as patch:
        # Exact paths whatever the load on the shared cores (served: 1 s, then the greedy fallback's one path).
        patch.setattr(paths_service, "TIME_LIMIT_S", 30.0)
        thread = threading.Thread(target=server.run, name="uvicorn-browser-tests", daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        yield LiveServer(f"http://127.0.0.1:{port}", db_url)
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium from the system, launched by Playwright (never ``playwright install``)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server: LiveServer) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh page (its own context: empty sessionStorage) with axe-core available, French locale, 1280×900.

    axe is added as an init script (DevTools injection, which the page's CSP does not govern: the page itself
    still allows no inline script). Console errors and CSP violations are collected in ``page.problems``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR",
                                  timezone_id="Europe/Paris", base_url=live_server.url, service_workers="block")
    context.add_init_script(path=str(AXE))
    context.add_init_script(script="""
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
        });
    """)
    context.set_default_timeout(TIMEOUT_MS)
    new = context.new_page()
    problems: list[str] = []
    new.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    new.on("pageerror", lambda error: problems.append(str(error)))
    new.problems = problems  # type: ignore[attr-defined]
    yield new
    context.close()
