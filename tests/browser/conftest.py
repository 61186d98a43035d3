"""A headless Chromium, driven by Selenium, on the admin that pytest-django's live server runs.

The browser is Debian's (``apt-get install chromium chromium-driver``); nothing is downloaded
at run time. Without it, or without selenium (``pip install -e '.[browser]'``), the tests are
skipped, except under CI (``CI=true``), where a missing browser fails them: CI installs it.

Each test saves screenshots of its key moments as ``<test>-<step>.png`` in the folder
``OAUTH_CC_ARTEFACTS`` names (default ``build/browser-artefacts/``), and one named
``<test>-failure.png`` (and the page's HTML, ``<test>-failure.html``) when it fails.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote_plus, urlencode

import django.contrib.admin
import pytest

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the browser extra is not installed: the fixture skips (or fails in CI)
    webdriver = None

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]
ADMIN_TITLE_SUFFIX = "| Django site admin"
#: Texts of Django's own error pages (DEBUG off: no traceback, but these titles and headings).
ERROR_PAGE_TEXTS = ("Traceback", "Server Error (500)", "Bad Request (400)", "403 Forbidden",
                    "Not Found", "CSRF verification failed")
PASSWORD = "a-browser-test-password-7"
WAIT_SECONDS = 15

# pytest-django's live server binds "localhost" unless told otherwise: keep it on 127.0.0.1.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def artefacts_folder() -> Path:
    """``OAUTH_CC_ARTEFACTS``, or ``build/browser-artefacts`` in the repository."""
    configured = os.environ.get("OAUTH_CC_ARTEFACTS")
    folder = Path(configured) if configured else ROOT / "build" / "browser-artefacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def missing_pieces() -> list[str]:
    """What the browser tests need and this machine lacks."""
    missing = []
    if webdriver is None:
        missing.append("selenium (pip install -e '.[browser]')")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            missing.append(f"{path} (apt-get install {package})")
    return missing


def require_browser() -> None:
    """Skip without a browser; under CI, which installs one, fail instead."""
    missing = missing_pieces()
    if not missing:
        return
    reason = "browser tests need " + ", ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI installs them (.ci/run)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the item, so the browser fixture knows a test failed."""
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


class Browser:
    """One Chromium window on the live server, with what an admin test needs."""

    def __init__(self, driver: Any, base_url: str, test_name: str, folder: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.folder = folder
        self.screenshots: list[Path] = []

    # --- pages ---------------------------------------------------------------------------

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)
        self.check_page()

    def refresh(self) -> None:
        self.driver.refresh()
        self.check_page()

    def back(self) -> None:
        self.driver.back()
        self.check_page()

    @property
    def title(self) -> str:
        return str(self.driver.title)

    @property
    def path(self) -> str:
        url = str(self.driver.current_url)
        assert url.startswith(self.base_url), url
        return url.removeprefix(self.base_url)

    @property
    def source(self) -> str:
        return str(self.driver.page_source)

    def text(self, css: str = "body") -> str:
        return str(self.find(css).text)

    def check_page(self) -> None:
        """The page is an admin page in English, not one of Django's error pages."""
        title, source = self.title, self.source
        assert title.endswith(ADMIN_TITLE_SUFFIX), f"not an admin page: {title!r}"
        for text in ERROR_PAGE_TEXTS:
            assert text not in title and text not in source, f"{text!r} on {self.path}"
        lang = self.find("html").get_attribute("lang")
        assert lang.startswith("en"), lang

    def shot(self, step: str) -> Path:
        """Save a screenshot of the whole page (not only the window) as
        ``<test>-<step>.png``."""
        target = self.folder / f"{self.test_name}-{step}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        png = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1},
        })["data"]
        target.write_bytes(base64.b64decode(png))
        self.screenshots.append(target)
        return target

    def forget_old_screenshots(self) -> None:
        """Remove this test's screenshots from an earlier run (a stale ``failure``)."""
        for old in [*self.folder.glob(f"{self.test_name}-*.png"),
                    *self.folder.glob(f"{self.test_name}-failure.html")]:
            old.unlink()

    # --- elements -------------------------------------------------------------------------

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def exists(self, css: str) -> bool:
        try:
            self.find(css)
        except NoSuchElementException:
            return False
        return True

    def fill(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def tick(self, css: str) -> None:
        box = self.find(css)
        if not box.is_selected():
            box.click()
        assert box.is_selected(), css

    def click_and_load(self, element: WebElement) -> None:
        """Click something that loads a new page, and wait until it has."""
        old = self.find("html")
        element.click()
        WebDriverWait(self.driver, WAIT_SECONDS).until(expected_conditions.staleness_of(old))
        WebDriverWait(self.driver, WAIT_SECONDS).until(
            lambda driver: driver.execute_script("return document.readyState") == "complete")
        self.check_page()

    def click(self, css: str) -> None:
        self.click_and_load(self.find(css))

    def click_link(self, text: str) -> None:
        """Follow the link whose text is ``text`` (as written: CSS may upper-case it)."""
        self.click_and_load(self.driver.find_element(
            By.XPATH, f"//a[normalize-space()={json.dumps(text)}]"))

    # --- the admin --------------------------------------------------------------------------

    def log_in(self, username: str, password: str = PASSWORD) -> None:
        """Through the login form, as a person does."""
        self.open("/admin/")
        assert self.path.startswith("/admin/login/"), self.path
        assert self.title == f"Log in {ADMIN_TITLE_SUFFIX}"
        self.fill("#id_username", username)
        self.fill("#id_password", password)
        self.shot("00-login")
        self.click("#login-form input[type=submit]")
        assert self.path == "/admin/", self.path
        assert self.title == f"Site administration {ADMIN_TITLE_SUFFIX}"

    def messages(self) -> list[str]:
        """The admin's messages (``ul.messagelist``)."""
        return [str(item.text) for item in self.find_all("ul.messagelist li")]

    def column(self, name: str, table: str = "#result_list") -> list[str]:
        """Texts of one column, top to bottom: of the changelist, or of the inline
        ``table`` (such as ``#secrets-group``)."""
        return [str(cell.text) for cell in self.find_all(f"{table} td.field-{name}, "
                                                          f"{table} th.field-{name}")]

    def rows(self, *names: str) -> list[tuple[str, ...]]:
        """The changelist as tuples of the named columns."""
        return list(zip(*(self.column(name) for name in names), strict=True))

    def run_action(self, action: str, *, select: list[str] | None = None) -> None:
        """Select rows (by primary key; all when ``select`` is None), run an action."""
        if select is None:
            self.tick("#action-toggle")
        else:
            for pk in select:
                self.tick(f"#result_list input.action-select[value='{pk}']")
        Select(self.find("select[name=action]")).select_by_value(action)
        self.click("button[name=index]")


@pytest.fixture
def browser_settings(settings: Any) -> Any:
    """The admin's CSS from Django's own folder (no collectstatic: the live server serves
    ``STATIC_ROOT``), and HTTPS for requests that say so: the live server speaks plain HTTP,
    as if behind a TLS proxy, and the token endpoint requires HTTPS."""
    settings.STATIC_ROOT = str(Path(django.contrib.admin.__file__).parent / "static")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


@pytest.fixture
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """Errors the live server logs (a 500 the page might hide); the test fails on any."""
    records: list[logging.LogRecord] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Recorder(level=logging.ERROR)
    loggers = [logging.getLogger(name) for name in ("django.request", "django.server")]
    for logger in loggers:
        logger.addHandler(handler)
    yield records
    for logger in loggers:
        logger.removeHandler(handler)
    assert [record.getMessage() for record in records] == []


@pytest.fixture
def browser(request: pytest.FixtureRequest, live_server: Any, browser_settings: Any,
            server_errors: list[logging.LogRecord]) -> Iterator[Browser]:
    """A headless Chromium on the live server; a screenshot is kept if the test fails."""
    require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--lang=en-US"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "intl.accept_languages": "en-US,en",
        "credentials_enable_service": False,
        "profile.password_manager_enabled": False,
        "profile.password_manager_leak_detection": False,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    browser = Browser(driver, live_server.url, request.node.name, artefacts_folder())
    browser.forget_old_screenshots()
    try:
        yield browser
    finally:
        report = request.node.stash.get(_REPORTS, {}).get("call")
        if report is None or report.failed:
            try:
                browser.shot("failure")
                (browser.folder / f"{browser.test_name}-failure.html").write_text(
                    f"<!-- {browser.driver.current_url} -->\n{browser.source}")
            except Exception:  # noqa: S110 (the test's own error is the one to report)
                pass
        driver.quit()


@pytest.fixture
def superuser(django_user_model: Any) -> str:
    """A superuser's username (password ``PASSWORD``)."""
    django_user_model.objects.create_superuser("operator", "operator@example.test", PASSWORD)
    return "operator"


# --- plain HTTP to the live server ------------------------------------------------------------

def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: form-encode each part, join with a colon, base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def call(url: str, *, form: dict[str, str] | None = None, authorization: str | None = None
         ) -> tuple[int, dict[str, Any]]:
    """GET (or POST ``form``) over HTTP as through a TLS proxy; ``(status, JSON body)``."""
    headers = {"X-Forwarded-Proto": "https", "Accept": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    data = None
    if form is not None:
        data = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert url.startswith("http://127.0.0.1:"), url  # the live server, nothing else
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.load(response)
    except HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if body else {}
