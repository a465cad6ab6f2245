"""The CLI run in-process against a real ``qnet serve`` (fixture ``server``), as one project."""
import json

import pytest

from qnetclient import cli


class Qnet:
    """Runs ``qnet ARGS`` in-process as one project; returns stdout (asserting the exit code)."""

    def __init__(self, url, capsys, project="alice", token=None):
        self.url, self.capsys, self.project, self.token = url, capsys, project, token

    def __call__(self, *args, expect=0, project=None, token=None):
        ident = ["--token", token or self.token] if (token or self.token) else \
            ["--project", project or self.project]
        code = cli.main(["--url", self.url, *ident, *args])
        out, err = self.capsys.readouterr()
        assert code == expect, f"qnet {' '.join(args)} -> {code}: {err}"
        return err if expect else out

    def json(self, *args, **kw):
        return json.loads(self(*args, "-f", "json", **kw))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("QNET_URL", "QNET_TOKEN", "QNET_PROJECT", "QNET_ADMIN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QNET_CONFIG", str(tmp_path / "no-such-client.ini"))


@pytest.fixture
def qnet(server, capsys):
    return Qnet(server.url, capsys)
