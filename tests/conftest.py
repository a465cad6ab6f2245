"""Shared fixtures: an in-process core and API (no sockets: fast), and a real ``qnet serve``
subprocess for tests that need HTTP, concurrency or a real client."""
import json
import os

import hypothesis
import pytest
import webob
from sqlalchemy import select

from controller.context import Context
from controller.core import Core, CoreConfig
from controller.models import Base
from controller.plugins.noop import NoopPlugin
from rest.app import build_app
from simulations.serve import QnetServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Property tests explore new random cases on every developer run; CI runs a fixed set, so a
# red CI always means a change broke something (cases found locally become @example's).
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    hypothesis.settings.load_profile("ci")


@pytest.fixture
def core(tmp_path):
    """A core on a fresh SQLite file with the noop plug-in (``core.plugin.changes`` records)."""
    c = Core.from_url(f"sqlite:///{tmp_path}/qnet.sqlite", NoopPlugin(), CoreConfig())
    yield c
    c.close()


@pytest.fixture
def alice():
    return Context("alice")


@pytest.fixture
def bob():
    return Context("bob")


@pytest.fixture
def admin():
    return Context("admin-project", is_admin=True)


class Client:
    """Calls the WSGI app in-process; returns (status, parsed JSON body or None)."""

    def __init__(self, app, headers=None):
        self.app = app
        self.headers = dict(headers or {})

    def as_project(self, project, admin=False, **headers):
        h = {"X-Project-Id": project, **headers}
        if admin:
            h["X-Roles"] = "admin"
        return Client(self.app, h)

    def request(self, method, path, body=None, headers=None, raw=None):
        req = webob.Request.blank(path, method=method)
        req.headers.update(self.headers)
        req.headers.update(headers or {})
        if raw is not None:
            req.body = raw if isinstance(raw, bytes) else raw.encode()
            req.content_type = "application/json"
        elif body is not None:
            req.body = json.dumps(body).encode()
            req.content_type = "application/json"
        resp = req.get_response(self.app)
        data = json.loads(resp.body) if resp.body else None
        return resp.status_int, data

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def app(core):
    return build_app(core, auth="noauth")


@pytest.fixture
def api(app):
    """Project 'alice' in noauth mode; ``api.as_project('bob')`` for another tenant."""
    return Client(app).as_project("alice")


def snapshot(core):
    """Every row of every table, to prove a failed request changed nothing."""
    with core.db.read() as session:
        return {t.name: sorted(map(repr, session.execute(select(t)).all()))
                for t in Base.metadata.sorted_tables}


@pytest.fixture
def server(tmp_path):
    """A running ``qnet serve`` (noop plug-in, noauth) on free loopback ports."""
    with QnetServer(tmp_path) as srv:
        yield srv


@pytest.fixture
def token_server(tmp_path):
    with QnetServer(tmp_path, auth="token") as srv:
        yield srv


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so fixtures can tell a failure (``browser``)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def browser(request):
    """A headless Chromium (tests/browser.py); on failure the page is kept as artefacts."""
    from tests.browser import chromium, save_artifacts
    driver = chromium()
    try:
        yield driver
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(f"page kept in {save_artifacts(driver, request.node.nodeid)}.png/.html")
        driver.quit()
