"""A real Keystone and a ``qnet serve --auth keystone`` behind it, started once per test session.

Keystone (from PyPI: SQLite, fernet keys in a temporary directory, on a loopback port) gets the
projects and users below; qnet validates tokens with keystonemiddleware as the ``qnet`` service
user and is registered in the catalog with ``qnet-manage keystone register``, so clients find
it from the auth URL alone. Tests share the one qnet: each makes its own names and asserts on
what it made, never on empty lists.
"""
import os
import subprocess

import pytest
import requests

from controller.db import Database
from simulations.keystone import KeystoneServer
from simulations.serve import QnetServer, qnet_command
from tests.conftest import snapshot

#: keystonemiddleware's token cache time in these tests (seconds); the default is 300.
CACHE_TIME = 2

USERS = {  # name: (project, roles)
    "alice": ("project-a", ("member",)),
    "rita": ("project-a", ("reader",)),
    "bob": ("project-b", ("member",)),
    "carol": ("project-c", ("member",)),
}


class Cloud:
    """Keystone, qnet in keystone mode, and who is who."""

    def __init__(self, keystone, qnet, passwords):
        self.keystone, self.qnet, self.passwords = keystone, qnet, passwords
        self.project_ids = {name: keystone.project(name)
                            for name in ("admin", "project-a", "project-b", "project-c")}
        self._tokens = {}
        self._db = Database(qnet.db_url)
        self.db = self._db  # what tests.conftest.snapshot reads

    def token(self, user):
        """A (cached) project-scoped token of ``user``."""
        if user not in self._tokens:
            self._tokens[user] = self.new_token(user)
        return self._tokens[user]

    def new_token(self, user, system=False):
        project = "admin" if user == "admin" else USERS[user][0]
        return self.keystone.token(user, self.passwords[user], None if system else project,
                                   system)

    def api(self, user=None, token=None):
        return Api(self.qnet.url, token or (self.token(user) if user else None))

    def snapshot(self):
        """Every row of the running server's database, less its own heartbeat (the
        cluster_instances row a live instance refreshes on its own)."""
        rows = snapshot(self)
        rows.pop("cluster_instances", None)
        return rows

    def os_vars(self, user):
        """The OS_* variables of ``user``, as an openrc file sets them: no endpoint given."""
        project = "admin" if user == "admin" else USERS[user][0]
        return {"os_auth_url": self.keystone.url, "os_username": user,
                "os_password": self.passwords[user], "os_project_name": project,
                "os_user_domain_name": "Default", "os_project_domain_name": "Default",
                "os_identity_api_version": "3", "os_interface": "public",
                "os_region_name": "RegionOne"}


class Api:
    """requests against qnet with one token: ``api.get(path)`` -> (status, body)."""

    def __init__(self, url, token):
        self.url, self.token = url, token

    def request(self, method, path, body=None, headers=None):
        h = {"X-Auth-Token": self.token} if self.token else {}
        resp = requests.request(method, self.url + path, json=body, timeout=30,
                                headers={**h, **(headers or {})})
        return resp.status_code, (resp.json() if resp.content else None)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("keystone")
    with KeystoneServer(workdir) as keystone:
        passwords = {"admin": keystone.admin_password,
                     "qnet": keystone.add_user("qnet", "service", "service")}
        for user, (project, roles) in USERS.items():
            passwords[user] = keystone.add_user(user, project, *roles)
        config = workdir / "qnet.ini"
        config.write_text("[qnet]\nauth = keystone\n" + keystone.qnet_authtoken_section(
            passwords["qnet"], cache_time=CACHE_TIME))
        with QnetServer(workdir, auth="keystone", extra=["--config", str(config)]) as qnet:
            world = Cloud(keystone, qnet, passwords)
            admin_vars = {k.upper(): v for k, v in world.os_vars("admin").items()}
            register = subprocess.run(
                [qnet_command("qnet-manage"), "keystone", "register", "--url", qnet.url],
                env={**os.environ, **admin_vars}, capture_output=True, text=True, timeout=60)
            assert register.returncode == 0, register.stderr
            world.registered = register.stdout
            yield world
