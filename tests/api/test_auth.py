"""Token authentication: who may call, what each token sees, how tokens are stored, and the
``qnet-manage`` commands that create and revoke them (against a real ``qnet serve``)."""
import hashlib
import os
import subprocess
import sys

import pytest
import requests
from sqlalchemy import select

from controller.context import Context
from controller.models import Project, Token
from rest.app import build_app
from rest.auth import create_token
from tests.conftest import Client, snapshot

QNET_MANAGE = os.path.join(os.path.dirname(sys.executable), "qnet-manage")


@pytest.fixture
def token_app(core):
    return build_app(core, auth="token")


@pytest.fixture
def anon(token_app):
    return Client(token_app)


@pytest.fixture
def login(core, token_app):
    """``login(project, admin=False)`` -> a Client carrying a fresh token for ``project``."""
    def make(project, admin=False):
        return Client(token_app, {"X-Auth-Token": create_token(core.db, project, admin)})
    return make


def neutron_error(body, type_):
    assert list(body) == ["NeutronError"], body
    err = body["NeutronError"]
    assert set(err) == {"type", "message", "detail"}
    assert err["type"] == type_
    assert err["message"]
    return err["message"]


def make_net(core, project, name, **attrs):
    return core.networks.create(Context(project), {"name": name, **attrs})["id"]


# -- who may call ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method,path,body", [
    ("GET", "/v2.0/networks", None), ("GET", "/v2.0/ports", None), ("GET", "/v2.0/subnets", None),
    ("GET", "/v2.0", None), ("GET", "/v2.0/extensions", None),
    ("POST", "/v2.0/networks", {"network": {"name": "x"}}),
    ("DELETE", "/v2.0/networks/00000000-0000-0000-0000-000000000000", None)])
def test_no_token_is_401(anon, core, method, path, body):
    before = snapshot(core)
    status, data = anon.request(method, path, body)
    assert status == 401
    assert "X-Auth-Token" in neutron_error(data, "NotAuthenticated")
    assert snapshot(core) == before


def test_bad_token_is_401(anon, core):
    create_token(core.db, "p1")
    for token in ("qnet-not-a-real-token", "", " ", "x" * 500):
        status, data = anon.get("/v2.0/networks", headers={"X-Auth-Token": token})
        assert status == 401, token
        neutron_error(data, "NotAuthenticated")
    status, data = anon.get("/v2.0/networks", headers={"X-Auth-Token": "qnet-bogus"})
    assert neutron_error(data, "NotAuthenticated") == "The token is not valid."


def test_token_of_a_revoked_row_is_401(core, login):
    client = login("p1")
    assert client.get("/v2.0/networks")[0] == 200

    def revoke(session):
        for row in session.scalars(select(Token)):
            session.delete(row)
    core.db.run_write(revoke)
    status, data = client.get("/v2.0/networks")
    assert status == 401
    neutron_error(data, "NotAuthenticated")


def test_noauth_headers_are_ignored_in_token_mode(anon, core, login):
    make_net(core, "p2", "theirs")
    headers = {"X-Project-Id": "p2", "X-Roles": "admin"}
    status, data = anon.get("/v2.0/networks", headers=headers)
    assert status == 401
    neutron_error(data, "NotAuthenticated")
    # A member token does not become admin, nor another project, by adding headers.
    status, data = login("p1").get("/v2.0/networks", headers=headers)
    assert (status, data) == (200, {"networks": []})


def test_public_documents_need_no_token(anon):
    status, body = anon.get("/")
    assert status == 200
    assert [v["id"] for v in body["versions"]] == ["v2.0", "v1.0"]
    for path in ("/openapi.json", "/openapi"):
        status, body = anon.get(path)
        assert status == 200, path
        assert body["openapi"].startswith("3.")
        assert "/v2.0/networks" in body["paths"]
        assert body["components"]["securitySchemes"]["token"]["name"] == "X-Auth-Token"


# -- what a token sees ----------------------------------------------------------------------------
def test_member_token_sees_only_its_project(core, login):
    mine = make_net(core, "p1", "mine")
    theirs = make_net(core, "p2", "theirs")
    p1 = login("p1")
    status, body = p1.get("/v2.0/networks")
    assert status == 200
    assert [n["id"] for n in body["networks"]] == [mine]
    assert p1.get(f"/v2.0/networks/{mine}")[1]["network"]["project_id"] == "p1"
    before = snapshot(core)
    for method, body in (("GET", None), ("PUT", {"network": {"name": "x"}}), ("DELETE", None)):
        status, data = p1.request(method, f"/v2.0/networks/{theirs}", body)
        assert status == 404, method
        assert theirs in neutron_error(data, "NetworkNotFound")
    status, data = p1.post("/v2.0/ports", {"port": {"network_id": theirs}})
    assert status == 404
    neutron_error(data, "NetworkNotFound")
    assert snapshot(core) == before
    # Admin-only attributes are hidden from members.
    assert "provider:segmentation_id" not in p1.get(f"/v2.0/networks/{mine}")[1]["network"]


def test_member_creates_in_its_own_project(core, login):
    status, body = login("p1").post("/v2.0/networks", {"network": {"name": "n"}})
    assert status == 201
    assert body["network"]["project_id"] == "p1" == body["network"]["tenant_id"]
    status, body = login("p1").post("/v2.0/networks",
                                    {"network": {"name": "n2", "project_id": "p1"}})
    assert status == 201 and body["network"]["project_id"] == "p1"


def test_admin_token_sees_all_and_creates_for_another_project(core, login):
    a = make_net(core, "p1", "a")
    b = make_net(core, "p2", "b")
    admin = login("ops", admin=True)
    status, body = admin.get("/v2.0/networks")
    assert status == 200
    assert sorted(n["id"] for n in body["networks"]) == sorted([a, b])
    assert "provider:segmentation_id" in body["networks"][0]
    status, body = admin.post("/v2.0/networks", {"network": {"name": "c", "project_id": "p2"}})
    assert status == 201
    assert body["network"]["project_id"] == "p2"
    c = body["network"]["id"]
    status, body = login("p2").get("/v2.0/networks")
    assert sorted(n["id"] for n in body["networks"]) == sorted([b, c])
    assert [n["id"] for n in login("p1").get("/v2.0/networks")[1]["networks"]] == [a]


@pytest.mark.parametrize("owner", [{"project_id": "p2"}, {"tenant_id": "p2"}])
def test_member_cannot_create_for_another_project(core, login, owner):
    p1 = login("p1")
    before = snapshot(core)
    status, data = p1.post("/v2.0/networks", {"network": {"name": "x", **owner}})
    assert status == 403
    assert "project_id" in neutron_error(data, "PolicyNotAuthorized")
    assert snapshot(core) == before


def test_member_cannot_create_port_for_another_project(core, login):
    net = make_net(core, "p1", "mine")
    p1 = login("p1")
    before = snapshot(core)
    status, data = p1.post("/v2.0/ports", {"port": {"network_id": net, "project_id": "p2"}})
    assert status == 403
    neutron_error(data, "PolicyNotAuthorized")
    assert snapshot(core) == before


def test_member_cannot_share_a_network(core, login):
    p1 = login("p1")
    before = snapshot(core)
    status, data = p1.post("/v2.0/networks", {"network": {"name": "x", "shared": True}})
    assert status == 403
    assert "shared" in neutron_error(data, "PolicyNotAuthorized")
    assert snapshot(core) == before
    net = make_net(core, "p1", "mine")
    before = snapshot(core)
    for value in (True, False):  # on update, any explicit value is an attempt to change it
        status, data = p1.put(f"/v2.0/networks/{net}", {"network": {"shared": value}})
        assert status == 403, value
        neutron_error(data, "PolicyNotAuthorized")
    assert snapshot(core) == before


def test_admin_can_share_a_network_and_members_then_see_it(core, login):
    status, body = login("ops", admin=True).post(
        "/v2.0/networks", {"network": {"name": "pub", "shared": True, "project_id": "p2"}})
    assert status == 201 and body["network"]["shared"] is True
    status, body = login("p1").get("/v2.0/networks")
    assert [n["name"] for n in body["networks"]] == ["pub"]


def test_member_may_create_network_with_default_shared_false(login):
    status, body = login("p1").post("/v2.0/networks", {"network": {"name": "x",
                                                                   "shared": False}})
    assert status == 201, body
    assert body["network"]["shared"] is False


def test_v1_in_token_mode(core, anon, login):
    status, data = anon.get("/v1.0/tenants/p1/networks")
    assert status == 401
    assert list(data) == ["unauthorized"] and data["unauthorized"]["code"] == 401
    p1 = login("p1")
    status, body = p1.post("/v1.0/tenants/p1/networks", {"network": {"name": "n"}})
    assert status == 200
    net = body["network"]["id"]
    assert p1.get("/v1.0/tenants/p1/networks") == (200, {"networks": [{"id": net}]})
    # The URL does not make the caller that tenant: the token does.
    p2 = login("p2")
    for path in ("/v1.0/tenants/p1/networks", f"/v1.0/tenants/p1/networks/{net}"):
        status, data = p2.get(path)
        assert status == 403, path
        assert list(data) == ["forbidden"] and data["forbidden"]["code"] == 403
    admin = login("ops", admin=True)
    assert admin.get("/v1.0/tenants/p1/networks") == (200, {"networks": [{"id": net}]})


# -- storage --------------------------------------------------------------------------------------
def test_tokens_are_stored_hashed(core, tmp_path):
    token = create_token(core.db, "p1", True, description="marker-description-7f3a")
    assert token.startswith("qnet-") and len(token) > 40
    other = create_token(core.db, "p1")
    assert other != token
    with core.db.read() as session:
        rows = session.scalars(select(Token).order_by(Token.id)).all()
        assert [r.digest for r in rows] == [hashlib.sha256(t.encode()).hexdigest()
                                            for t in (token, other)]
        assert all(r.digest != t for r, t in zip(rows, (token, other)))
        assert [r.is_admin for r in rows] == [True, False]
        assert session.get(Project, "p1") is not None
    raw = b"".join((tmp_path / name).read_bytes() for name in os.listdir(tmp_path)
                   if name.startswith("qnet.sqlite"))
    assert b"marker-description-7f3a" in raw  # the scan does cover the stored rows
    for t in (token, other):
        assert t.encode() not in raw
        assert t.removeprefix("qnet-").encode() not in raw


# -- qnet-manage against a running server ---------------------------------------------------------
def token_rows(srv):
    """``qnet-manage token list`` as [(id, project, role, description)]."""
    rows = []
    for line in srv.manage("token", "list").splitlines():
        # manage() strips the output, and with it the last line's empty description.
        id_, project, role, _created, _expires, description = (line.split("\t") + [""])[:6]
        rows.append((int(id_), project, role, description))
    return rows


def test_manage_token_create_use_list_revoke(token_server):
    url = token_server.url + "/v2.0/networks"
    assert requests.get(url, timeout=10).status_code == 401
    token = token_server.manage("token", "create", "--project", "demo",
                                "--description", "ci")
    assert token.startswith("qnet-") and "\n" not in token
    headers = {"X-Auth-Token": token}
    resp = requests.post(url, json={"network": {"name": "over-http"}}, headers=headers,
                         timeout=10)
    assert resp.status_code == 201, resp.text
    assert resp.json()["network"]["project_id"] == "demo"
    resp = requests.get(url, headers=headers, timeout=10)
    assert resp.status_code == 200
    assert [n["name"] for n in resp.json()["networks"]] == ["over-http"]

    listing = token_server.manage("token", "list")
    assert token not in listing
    rows = token_rows(token_server)
    assert [(p, r, d) for _, p, r, d in rows] == [("demo", "member", "ci")]

    assert token_server.manage("token", "revoke", str(rows[0][0])) == f"revoked token {rows[0][0]}"
    resp = requests.get(url, headers=headers, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["NeutronError"]["type"] == "NotAuthenticated"
    assert token_rows(token_server) == []


def test_manage_admin_token_and_revoking_one_leaves_others(token_server):
    url = token_server.url + "/v2.0/networks"
    admin = token_server.manage("token", "create", "--project", "ops", "--admin")
    member = token_server.manage("token", "create", "--project", "demo")
    resp = requests.post(url, json={"network": {"name": "n", "project_id": "demo"}},
                         headers={"X-Auth-Token": admin}, timeout=10)
    assert resp.status_code == 201 and resp.json()["network"]["project_id"] == "demo"
    resp = requests.post(url, json={"network": {"name": "n", "project_id": "ops"}},
                         headers={"X-Auth-Token": member}, timeout=10)
    assert resp.status_code == 403
    rows = token_rows(token_server)
    assert [(p, r) for _, p, r, _ in rows] == [("ops", "admin"), ("demo", "member")]
    token_server.manage("token", "revoke", str(rows[0][0]))
    assert requests.get(url, headers={"X-Auth-Token": admin}, timeout=10).status_code == 401
    assert requests.get(url, headers={"X-Auth-Token": member}, timeout=10).status_code == 200


def test_manage_revoke_unknown_token_fails(token_server):
    out = subprocess.run([QNET_MANAGE, "--db-url", token_server.db_url, "token", "revoke", "999"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "no token 999" in out.stderr


def test_manage_projects(token_server):
    assert token_server.manage("project", "create", "acme", "--name", "Acme Corp") == "acme"
    assert token_server.manage("project", "create", "beta") == "beta"
    assert token_server.manage("project", "create", "acme") == "acme"  # idempotent
    lines = [line.split("\t") for line in token_server.manage("project", "list").splitlines()]
    assert [(p, n) for p, n, _created in lines] == [("acme", "Acme Corp"), ("beta", "beta")]
    # A token for a new project creates the project.
    token_server.manage("token", "create", "--project", "gamma")
    projects = [line.split("\t")[0] for line in token_server.manage("project", "list").splitlines()]
    assert projects == ["acme", "beta", "gamma"]
