"""API hygiene over real HTTP (eventlet's server, not webob in-process): the body limit holds for
chunked uploads and is set by ``qnet serve --max-request-body-size``; ``qnet-manage token create
--expires`` stores a lifetime that ``token list`` shows."""
import subprocess

import pytest
import requests

from simulations.serve import QnetServer


@pytest.fixture
def small_server(tmp_path):
    with QnetServer(tmp_path, extra=["--max-request-body-size", "1000"]) as srv:
        yield srv


def chunks(total, size=256):
    """A body of ``total`` bytes sent with Transfer-Encoding: chunked (no Content-Length)."""
    body = b'{"network": {"name": "' + b"x" * (total - 26) + b'"}}'
    for i in range(0, len(body), size):
        yield body[i:i + size]


def test_body_limit_flag_and_chunked_uploads(small_server):
    url = small_server.url + "/v2.0/networks"
    headers = {"X-Project-Id": "demo", "Content-Type": "application/json"}
    resp = requests.post(url, data=chunks(5000), headers=headers, timeout=10)
    assert resp.status_code == 413, resp.text
    err = resp.json()["NeutronError"]
    assert err["type"] == "HTTPRequestEntityTooLarge" and "1000 bytes" in err["message"]
    resp = requests.post(url, json={"network": {"name": "x" * 1000}}, headers=headers,
                         timeout=10)
    assert resp.status_code == 413
    resp = requests.post(url, data=chunks(200), headers=headers, timeout=10)
    assert resp.status_code == 201, resp.text
    names = [n["name"] for n in requests.get(url, headers=headers, timeout=10).json()["networks"]]
    assert names == ["x" * 174]  # only the body within the limit made a network


def test_token_expiry_is_stored_and_listed(token_server):
    url = token_server.url + "/v2.0/networks"
    lasting = token_server.manage("token", "create", "--project", "demo", "--expires", "3600")
    dated = token_server.manage("token", "create", "--project", "demo",
                                "--expires", "2999-01-02T03:04:05+01:00")
    forever = token_server.manage("token", "create", "--project", "demo")
    for token in (lasting, dated, forever):
        assert requests.get(url, headers={"X-Auth-Token": token}, timeout=10).status_code == 200
    expiries = [line.split("\t")[4] for line in token_server.manage("token", "list").splitlines()]
    assert expiries[0].startswith("expires 2") and expiries[0].endswith("Z")
    assert expiries[1:] == ["expires 2999-01-02T02:04:05Z", "expires never"]
    for bad in ("2001-01-01", "yesterday", "0", "9" * 30):
        with pytest.raises(subprocess.CalledProcessError) as failed:
            token_server.manage("token", "create", "--project", "demo", "--expires", bad)
        assert "--expires" in failed.value.stderr
    for args in (["--project", "p" * 65], ["--project", "demo", "--description", "d" * 256]):
        with pytest.raises(subprocess.CalledProcessError) as failed:
            token_server.manage("token", "create", *args)
        assert "longer than" in failed.value.stderr
