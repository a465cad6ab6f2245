"""Shared fixtures: an in-process core and API (no sockets: fast), and a real ``qnet serve``
subprocess for tests that need HTTP, concurrency or a real client."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import hypothesis
import pytest
import webob
from sqlalchemy import select

from controller.context import Context
from controller.core import Core, CoreConfig
from controller.models import Base
from controller.plugins.noop import NoopPlugin
from rest.app import build_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Property tests explore new random cases on every developer run; CI runs a fixed set, so a
# red CI always means a change broke something (cases found locally become @example's).
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    hypothesis.settings.load_profile("ci")
QNET = os.path.join(os.path.dirname(sys.executable), "qnet")


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ``qnet serve`` subprocess on free loopback ports; stopped by pid."""

    def __init__(self, tmp_path, auth="noauth", db_url=None, extra=(), api_port=None,
                 ofp_port=None):
        self.api_port, self.ofp_port = api_port or free_port(), ofp_port or free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.db_url = db_url or f"sqlite:///{tmp_path}/serve.sqlite"
        self.log_path = tmp_path / "serve.log"
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [QNET, "serve", "--db-url", self.db_url, "--auth", auth, "--plugin", "noop",
             "--api-listen", f"127.0.0.1:{self.api_port}",
             "--ofp-listen", f"127.0.0.1:{self.ofp_port}", "--log-level", "WARNING", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("qnet serve exited: " + self.log_path.read_text())
            try:
                socket.create_connection(("127.0.0.1", self.api_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("qnet serve did not start: " + self.log_path.read_text())

    def manage(self, *args):
        out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "qnet-manage"),
                              "--db-url", self.db_url, *args],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def token_server(tmp_path):
    srv = Server(tmp_path, auth="token")
    yield srv
    srv.stop()
