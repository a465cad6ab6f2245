"""``auth = keystone`` against a real Keystone: who sees and changes what, with member, reader
and admin tokens; invalid, revoked and expired tokens; the catalog from openstacksdk."""
import time
import uuid

import openstack
import pytest

from simulations.keystone import KeystoneServer
from tests.keystone.conftest import CACHE_TIME

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_network(api, **attrs):
    status, body = api.post("/v2.0/networks", {"network": {"name": unique("net"), **attrs}})
    assert status == 201, body
    return body["network"]


def test_member_creates_in_its_project_and_sees_only_its_own(cloud):
    alice, bob = cloud.api("alice"), cloud.api("bob")
    a_net = make_network(alice)
    b_net = make_network(bob)
    assert a_net["project_id"] == cloud.project_ids["project-a"]
    assert b_net["project_id"] == cloud.project_ids["project-b"]
    _, body = alice.get("/v2.0/networks")
    ids = {n["id"] for n in body["networks"]}
    assert a_net["id"] in ids and b_net["id"] not in ids
    assert {n["project_id"] for n in body["networks"]} <= {cloud.project_ids["project-a"]}
    before = cloud.snapshot()
    assert alice.get(f"/v2.0/networks/{b_net['id']}")[0] == 404
    assert alice.put(f"/v2.0/networks/{b_net['id']}", {"network": {"name": "x"}})[0] == 404
    assert alice.delete(f"/v2.0/networks/{b_net['id']}")[0] == 404
    assert alice.post("/v2.0/ports", {"port": {"network_id": b_net["id"]}})[0] == 404
    # a member may not create for another project
    status, _ = alice.post("/v2.0/networks", {"network": {
        "name": "x", "project_id": cloud.project_ids["project-b"]}})
    assert status == 403
    assert cloud.snapshot() == before


def test_reader_reads_its_project_and_is_refused_every_write(cloud):
    alice, rita = cloud.api("alice"), cloud.api("rita")
    net = make_network(alice)
    status, body = alice.post("/v2.0/subnets", {"subnet": {"network_id": net["id"],
                                                           "cidr": "10.1.0.0/24"}})
    subnet = body["subnet"]
    port = alice.post("/v2.0/ports", {"port": {"network_id": net["id"]}})[1]["port"]
    policy = alice.post("/v2.0/qos/policies", {"policy": {"name": unique("q")}})[1]["policy"]
    # reads: what its project may read
    assert rita.get(f"/v2.0/networks/{net['id']}")[1]["network"]["id"] == net["id"]
    assert port["id"] in {p["id"] for p in rita.get("/v2.0/ports")[1]["ports"]}
    assert rita.get(f"/v2.0/qos/policies/{policy['id']}")[0] == 200
    before = cloud.snapshot()
    writes = [
        ("POST", "/v2.0/networks", {"network": {"name": "r"}}),
        ("PUT", f"/v2.0/networks/{net['id']}", {"network": {"name": "r"}}),
        ("DELETE", f"/v2.0/networks/{net['id']}", None),
        ("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.2.0.0/24"}}),
        ("PUT", f"/v2.0/subnets/{subnet['id']}", {"subnet": {"name": "r"}}),
        ("DELETE", f"/v2.0/subnets/{subnet['id']}", None),
        ("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}}),
        ("PUT", f"/v2.0/ports/{port['id']}", {"port": {"name": "r"}}),
        ("DELETE", f"/v2.0/ports/{port['id']}", None),
        ("POST", "/v2.0/qos/policies", {"policy": {"name": "r"}}),
        ("PUT", f"/v2.0/qos/policies/{policy['id']}", {"policy": {"name": "r"}}),
        ("DELETE", f"/v2.0/qos/policies/{policy['id']}", None),
        ("POST", f"/v2.0/qos/policies/{policy['id']}/bandwidth_limit_rules",
         {"bandwidth_limit_rule": {"max_kbps": 1000}}),
    ]
    for method, path, body in writes:
        status, reply = rita.request(method, path, body)
        assert status == 403, (method, path, reply)
        assert reply["NeutronError"]["type"] == "PolicyNotAuthorized"
    assert cloud.snapshot() == before


def test_admin_sees_every_project_and_acts_for_any(cloud):
    admin = cloud.api("admin")
    a_net = make_network(cloud.api("alice"))
    b_net = make_network(cloud.api("bob"))
    ids = {n["id"] for n in admin.get("/v2.0/networks")[1]["networks"]}
    assert {a_net["id"], b_net["id"]} <= ids
    made = make_network(admin, project_id=cloud.project_ids["project-c"], shared=True)
    assert made["project_id"] == cloud.project_ids["project-c"]
    assert admin.get("/v2.0/network-ip-availabilities")[0] == 200
    assert cloud.api("alice").get("/v2.0/network-ip-availabilities")[0] == 403


def test_a_system_scoped_admin_token_is_an_admin(cloud):
    system = cloud.api(token=cloud.new_token("admin", system=True))
    a_net = make_network(cloud.api("alice"))
    assert a_net["id"] in {n["id"] for n in system.get("/v2.0/networks")[1]["networks"]}


def test_no_bad_or_forged_token_is_401_and_changes_nothing(cloud):
    a_net = make_network(cloud.api("alice"))
    before = cloud.snapshot()
    for token in (None, "gAAAAAB-not-a-fernet-token", "x" * 300):
        status, body = cloud.api(token=token).post("/v2.0/networks", {"network": {"name": "x"}})
        assert status == 401, token
        assert body["NeutronError"]["type"] == "NotAuthenticated"
    # identity headers a client sends are dropped by the middleware, not believed
    forged = {"X-Identity-Status": "Confirmed", "X-Roles": "admin",
              "X-Project-Id": cloud.project_ids["project-a"]}
    status, _ = cloud.api(token=None).post("/v2.0/networks", {"network": {"name": "x"}},
                                           headers=forged)
    assert status == 401
    status, body = cloud.api("bob").get("/v2.0/networks", headers=forged)
    assert status == 200
    assert a_net["id"] not in {n["id"] for n in body["networks"]}
    assert all(n["project_id"] == cloud.project_ids["project-b"] or n["shared"]
               for n in body["networks"])
    assert cloud.snapshot() == before
    # the version document stays public
    status, body = cloud.api(token=None).get("/")
    assert status == 200 and body["versions"][0]["id"] == "v2.0"


def test_401_names_keystone(cloud):
    import requests
    resp = requests.get(cloud.qnet.url + "/v2.0/networks", timeout=10)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{cloud.keystone.url}"'


def test_a_revoked_token_is_401_within_the_cache_time(cloud):
    token = cloud.new_token("alice")
    api = cloud.api(token=token)
    assert api.get("/v2.0/networks")[0] == 200      # validated, now in the middleware's cache
    cloud.keystone.revoke(token)
    time.sleep(CACHE_TIME + 0.5)                    # the cached validation has expired
    before = cloud.snapshot()
    assert api.get("/v2.0/networks")[0] == 401
    assert api.post("/v2.0/networks", {"network": {"name": "x"}})[0] == 401
    assert cloud.snapshot() == before


def test_an_expired_token_is_401(cloud, tmp_path):
    """A second Keystone on the same database and keys issues tokens that live 2 s; once
    expired, the first Keystone (the one qnet asks) calls them invalid."""
    short = KeystoneServer(tmp_path, token_expiration=2)
    short.dir = cloud.keystone.dir  # same database and fernet keys, its own config
    short.config = tmp_path / "short.conf"
    short.admin_password = cloud.keystone.admin_password
    text = cloud.keystone.config.read_text().replace("expiration = 3600", "expiration = 2")
    short.config.write_text(text)
    short.proc = None
    short.start(bootstrap=False)
    try:
        token = short.token("alice", cloud.passwords["alice"], "project-a")
    finally:
        short.stop()
    time.sleep(2.5)
    before = cloud.snapshot()
    status, body = cloud.api(token=token).post("/v2.0/networks", {"network": {"name": "x"}})
    assert status == 401, body
    assert cloud.snapshot() == before


def test_openstacksdk_finds_qnet_in_the_catalog(cloud):
    assert "network" in cloud.registered and "public endpoint" in cloud.registered
    os_vars = cloud.os_vars("alice")
    conn = openstack.connect(
        load_yaml_config=False, load_envvars=False, auth_type="password",
        auth={"auth_url": os_vars["os_auth_url"], "username": "alice",
              "password": os_vars["os_password"], "project_name": "project-a",
              "user_domain_name": "Default", "project_domain_name": "Default"})
    try:
        assert conn.network.get_endpoint().rstrip("/").startswith(cloud.qnet.url)
        net = conn.network.create_network(name=unique("sdk"))
        assert net.project_id == cloud.project_ids["project-a"]
        assert net.id in {n.id for n in conn.network.networks()}
        conn.network.delete_network(net)
    finally:
        conn.close()
