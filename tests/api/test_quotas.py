"""Quotas (controller/quotas.py): a project's floating IPs and routers are capped, so that no
project can take every address of an external network that all of them draw on. B tries to
read and set A's limits and to use up the pool before and after A takes an address; each
refusal has Neutron's code and changes nothing (``refused``)."""
import pytest

from tests.api.test_hostile import b, created, ops, refused  # noqa: F401 (b, ops: fixtures)
from tests.conftest import snapshot

V2 = "/v2.0"


@pytest.fixture
def ext(ops):
    """An external network with room for five floating IPs."""
    net = created(ops.post(f"{V2}/networks", {"network": {"router:external": True}}),
                  "network")
    created(ops.post(f"{V2}/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "203.0.113.0/24",
        "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.14"}]}}), "subnet")
    return net


def fip(client, ext):
    return client.post(f"{V2}/floatingips", {"floatingip": {"floating_network_id": ext["id"]}})


def test_a_project_reads_its_own_limits_the_defaults_of_neutron(api):
    assert api.get(f"{V2}/quotas/alice") == (200, {"quota": {
        "project_id": "alice", "tenant_id": "alice", "floatingip": 50, "router": 10}})
    assert "quotas" in [e["alias"] for e in api.get(f"{V2}/extensions")[1]["extensions"]]


def test_b_neither_reads_nor_sets_as_limits_nor_its_own(core, api, b, ops):
    assert ops.put(f"{V2}/quotas/alice", {"quota": {"router": 3}})[0] == 200
    for method, path, body in (
            ("GET", f"{V2}/quotas/alice", None),
            ("GET", f"{V2}/quotas", None),
            ("PUT", f"{V2}/quotas/alice", {"quota": {"router": 0}}),
            ("PUT", f"{V2}/quotas/bob", {"quota": {"floatingip": -1}}),
            ("DELETE", f"{V2}/quotas/alice", None)):
        refused(core, b, method, path, body, 403, "PolicyNotAuthorized")
    # nor does A set its own
    refused(core, api, "PUT", f"{V2}/quotas/alice", {"quota": {"router": 100}}, 403,
            "PolicyNotAuthorized")
    assert api.get(f"{V2}/quotas/alice")[1]["quota"]["router"] == 3


def test_an_admin_sets_lists_and_resets_a_projects_limits(api, ops):
    status, body = ops.put(f"{V2}/quotas/alice", {"quota": {"floatingip": 2}})
    assert (status, body) == (200, {"quota": {"project_id": "alice", "tenant_id": "alice",
                                              "floatingip": 2, "router": 10}})
    assert ops.get(f"{V2}/quotas") == (200, {"quotas": [body["quota"]]})
    assert api.get(f"{V2}/quotas/alice")[1]["quota"]["floatingip"] == 2
    assert ops.delete(f"{V2}/quotas/alice")[0] == 204
    assert api.get(f"{V2}/quotas/alice")[1]["quota"] == {
        "project_id": "alice", "tenant_id": "alice", "floatingip": 50, "router": 10}
    assert ops.get(f"{V2}/quotas") == (200, {"quotas": []})


@pytest.mark.parametrize("method, path, body, kind", [
    ("PUT", f"{V2}/quotas/alice", {"quota": {"router": -2}}, "InvalidInput"),
    ("PUT", f"{V2}/quotas/alice", {"quota": {"router": "many"}}, "InvalidInput"),
    ("PUT", f"{V2}/quotas/alice", {"quota": {"network": 5}}, "HTTPBadRequest"),
    ("PUT", f"{V2}/quotas/alice", {"quota": {"project_id": "bob"}}, "HTTPBadRequest"),
    ("PUT", f"{V2}/quotas/{'p' * 65}", {"quota": {"router": 5}}, "InvalidInput")])
def test_bad_limits_are_refused(core, ops, method, path, body, kind):
    refused(core, ops, method, path, body, 400, kind)


def test_quotas_are_set_not_created(core, ops):
    before = snapshot(core)
    assert ops.post(f"{V2}/quotas", {"quota": {"router": 5}})[0] in (404, 405)
    assert snapshot(core) == before


def test_a_router_past_the_limit_is_refused_and_minus_one_lifts_it(core, api, ops):
    ops.put(f"{V2}/quotas/alice", {"quota": {"router": 1}})
    created(api.post(f"{V2}/routers", {"router": {"name": "r1"}}), "router")
    error = refused(core, api, "POST", f"{V2}/routers", {"router": {"name": "r2"}}, 409,
                    "OverQuota")
    assert "router" in error["message"]
    # an admin creating for alice counts against alice too
    refused(core, ops, "POST", f"{V2}/routers", {"router": {"project_id": "alice"}}, 409,
            "OverQuota")
    ops.put(f"{V2}/quotas/alice", {"quota": {"router": -1}})
    created(api.post(f"{V2}/routers", {"router": {"name": "r2"}}), "router")


@pytest.mark.parametrize("a_first", [True, False], ids=["A-first", "B-first"])
def test_b_cannot_take_every_floating_ip_of_the_external_network(core, api, b, ops, ext,
                                                                 a_first):
    """Five addresses, B's quota three: whoever comes first, A still gets its own."""
    ops.put(f"{V2}/quotas/bob", {"quota": {"floatingip": 3}})
    if a_first:
        created(fip(api, ext), "floatingip")
    for _ in range(3):
        created(fip(b, ext), "floatingip")
    refused(core, b, "POST", f"{V2}/floatingips", {"floatingip": {
        "floating_network_id": ext["id"]}}, 409, "OverQuota")
    if not a_first:
        created(fip(api, ext), "floatingip")
    assert len(b.get(f"{V2}/floatingips")[1]["floatingips"]) == 3
    assert len(api.get(f"{V2}/floatingips")[1]["floatingips"]) == 1


def test_deleting_makes_room_again(core, api, ops, ext):
    ops.put(f"{V2}/quotas/alice", {"quota": {"floatingip": 1}})
    first = created(fip(api, ext), "floatingip")
    before = snapshot(core)
    assert fip(api, ext)[0] == 409 and snapshot(core) == before
    assert api.delete(f"{V2}/floatingips/{first['id']}")[0] == 204
    created(fip(api, ext), "floatingip")
