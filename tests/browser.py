"""A real headless browser for the dashboard tests: Debian's chromium and chromium-driver,
driven by Selenium (no browser is downloaded at run time), and a WSGI application served over
HTTP from a thread (the browser needs a socket; the fake cloud's tests stay in one process).

On a test's failure the ``browser`` fixture (tests/conftest.py) saves a screenshot and the
page's HTML under ``test-artifacts/`` (``QNET_TEST_ARTIFACTS``).
"""
import contextlib
import os
import shutil
import threading
import wsgiref.simple_server

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.environ.get("QNET_TEST_ARTIFACTS", os.path.join(ROOT, "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 15          # seconds a page has to show what a test waits for (it polls every 2 s)


def chromium():
    """A headless Chromium (root needs --no-sandbox); skips loudly when it is not installed."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (make setup installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,800"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(DRIVER))


def save_artifacts(driver, name):
    """The page as it is: a screenshot and its HTML, for a failed test."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    base = os.path.join(ARTIFACTS, name.replace("/", "_").replace("::", "-"))
    driver.save_screenshot(base + ".png")
    with open(base + ".html", "w", encoding="utf-8") as f:
        f.write(driver.page_source)
    return base


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def http_server(app, lock):
    """Serve ``app`` on a free loopback port from a thread; each request holds ``lock``
    (so a test that drives the fake cloud while the page polls never runs both at once).
    Yields the base URL."""
    def locked(environ, start_response):
        with lock:
            return app(environ, start_response)
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, locked, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Page:
    """The dashboard as a user sees it, through the browser."""

    def __init__(self, driver, url):
        self.driver, self.url = driver, url

    def by(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, condition, what, timeout=WAIT):
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait
        # the page redraws while it polls: an element found a moment ago may be gone
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: condition(), message=f"the page did not show {what} in {timeout} s")

    def attribute(self, css, name):
        """An attribute of the first element ``css`` selects, read as one step."""
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); "
            "return e && e.getAttribute(arguments[1]);", css, name)

    def login(self, token=None, project=None, admin=False):
        # forget an earlier login on a page that runs no script (the dashboard's own would
        # save its session again while it starts)
        self.driver.get(self.url + "/ui/style.css")
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.get(self.url + "/ui/")
        if token is not None:
            self.by("#login-form input[name=token]")[0].send_keys(token)
        else:
            field = self.by("#login-form input[name=project]")[0]
            field.clear()
            field.send_keys(project)
            if admin:
                self.by("#login-form input[name=admin]")[0].click()
        self.by("#login-form button")[0].click()
        self.wait(lambda: self.by("#app") and self.by("#app")[0].is_displayed(), "the app")

    def tab(self, name):
        self.by(f"#tabs a[data-tab={name}]")[0].click()
        self.wait(lambda: self.by(f"#{name}")[0].is_displayed(), f"the {name} tab")

    def create(self, tab, **fields):
        """Fill the tab's create form (a select is chosen by its option's text) and submit."""
        from selenium.webdriver.support.ui import Select
        self.tab(tab)
        form = f"#{tab} form.create"
        for name, value in fields.items():
            el = self.by(f"{form} [name={name}]")[0]
            if el.tag_name == "select":
                self.wait(lambda: any(o.text.startswith(value)
                                      for o in Select(el).options), f"option {value}")
                Select(el).select_by_visible_text(next(
                    o.text for o in Select(el).options if o.text.startswith(value)))
            else:
                el.clear()
                el.send_keys(value)
        self.by(f"{form} button")[0].click()

    def rows(self, tab):
        return [r.text for r in self.by(f"#{tab} table.list tr[data-id]")]

    def error(self):
        box = self.by("#error")[0]
        return box.text if box.is_displayed() else ""
