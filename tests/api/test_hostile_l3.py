"""Project B (bob) against project A (alice) with routers and floating IPs (issue 12): B tries
every way into A's routers, subnets, ports and floating IPs, and every admin-only knob of the
gateway and the external network; each attempt is refused with Neutron's code and changes
nothing (``refused``). Orders matter where both build the same thing (the same CIDRs behind
their own routers, a router of another project on A's subnet): those run B first and A first.
"""
import pytest

from tests.api.test_hostile import created, refused

V2 = "/v2.0"


@pytest.fixture
def a(api):
    return api


@pytest.fixture
def b(api):
    return api.as_project("bob")


@pytest.fixture
def ops(api):
    return api.as_project("ops", admin=True)


@pytest.fixture
def ext(ops):
    net = created(ops.post(f"{V2}/networks", {"network": {
        "name": "public", "router:external": True}}), "network")
    created(ops.post(f"{V2}/subnets", {"subnet": {"network_id": net["id"],
                                                  "cidr": "203.0.113.0/24"}}), "subnet")
    return net


def tenant(client, ext, cidr="10.0.0.0/24"):
    """A network, subnet and port, and a router with its gateway on ``ext`` and an interface
    on the subnet."""
    t = {"net": created(client.post(f"{V2}/networks", {"network": {}}), "network")}
    t["subnet"] = created(client.post(f"{V2}/subnets", {"subnet": {
        "network_id": t["net"]["id"], "cidr": cidr}}), "subnet")
    t["port"] = created(client.post(f"{V2}/ports", {"port": {"network_id": t["net"]["id"]}}),
                        "port")
    t["router"] = created(client.post(f"{V2}/routers", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}}), "router")
    status, info = client.put(f"{V2}/routers/{t['router']['id']}/add_router_interface",
                              {"subnet_id": t["subnet"]["id"]})
    assert status == 200, info
    t["interface"] = info
    return t


@pytest.fixture
def world(a, b, ext):
    return {"a": tenant(a, ext), "b": tenant(b, ext), "ext": ext}


def test_b_cannot_see_or_touch_as_router(core, b, world):
    router = world["a"]["router"]["id"]
    assert [r["id"] for r in b.get(f"{V2}/routers")[1]["routers"]] == [
        world["b"]["router"]["id"]]
    for method, path, body in (
            ("GET", f"{V2}/routers/{router}", None),
            ("PUT", f"{V2}/routers/{router}", {"router": {"name": "mine"}}),
            ("PUT", f"{V2}/routers/{router}", {"router": {"external_gateway_info": None}}),
            ("PUT", f"{V2}/routers/{router}", {"router": {"admin_state_up": False}}),
            ("PUT", f"{V2}/routers/{router}", {"router": {"routes": [
                {"destination": "192.168.7.0/24", "nexthop": "10.0.0.99"}]}}),
            ("DELETE", f"{V2}/routers/{router}", None),
            ("PUT", f"{V2}/routers/{router}/add_router_interface",
             {"subnet_id": world["b"]["subnet"]["id"]}),
            ("PUT", f"{V2}/routers/{router}/remove_router_interface",
             {"subnet_id": world["a"]["subnet"]["id"]})):
        refused(core, b, method, path, body, 404, "RouterNotFound")


def test_b_cannot_attach_as_subnet_or_port_to_its_own_router(core, b, world):
    url = f"{V2}/routers/{world['b']['router']['id']}/add_router_interface"
    refused(core, b, "PUT", url, {"subnet_id": world["a"]["subnet"]["id"]}, 404,
            "SubnetNotFound")
    refused(core, b, "PUT", url, {"port_id": world["a"]["port"]["id"]}, 404, "PortNotFound")
    refused(core, b, "PUT", url, {"port_id": world["a"]["interface"]["port_id"]}, 404,
            "PortNotFound")


def test_b_cannot_take_the_gateway_of_a_shared_subnet(core, b, ops, world):
    """A router interface takes the subnet's gateway address: on a shared network that would
    make B's router everyone's gateway (Neutron refuses it: 400)."""
    shared = created(ops.post(f"{V2}/networks", {"network": {"shared": True}}), "network")
    subnet = created(ops.post(f"{V2}/subnets", {"subnet": {
        "network_id": shared["id"], "cidr": "10.9.0.0/24"}}), "subnet")
    refused(core, b, "PUT", f"{V2}/routers/{world['b']['router']['id']}/add_router_interface",
            {"subnet_id": subnet["id"]}, 400, "HTTPBadRequest")


def test_b_cannot_point_a_floating_ip_at_as_port_nor_touch_as(core, a, b, world):
    url = f"{V2}/floatingips"
    ext = world["ext"]["id"]
    refused(core, b, "POST", url, {"floatingip": {
        "floating_network_id": ext, "port_id": world["a"]["port"]["id"]}}, 404, "PortNotFound")
    mine = created(b.post(url, {"floatingip": {"floating_network_id": ext}}), "floatingip")
    refused(core, b, "PUT", f"{url}/{mine['id']}", {"floatingip": {
        "port_id": world["a"]["port"]["id"]}}, 404, "PortNotFound")
    theirs = created(a.post(url, {"floatingip": {"floating_network_id": ext,
                                                 "port_id": world["a"]["port"]["id"]}}),
                     "floatingip")
    assert [f["id"] for f in b.get(url)[1]["floatingips"]] == [mine["id"]]
    # now that A's port holds a floating IP: still "no such port" for B, not a 409 that
    # would tell B the port exists and is taken, and A's address is not B's to ask for
    for method, path, body in (
            ("PUT", f"{url}/{mine['id']}", {"floatingip": {"port_id": world["a"]["port"]["id"]}}),
            ("POST", url, {"floatingip": {"floating_network_id": ext,
                                          "port_id": world["a"]["port"]["id"]}})):
        refused(core, b, method, path, body, 404, "PortNotFound")
    refused(core, b, "POST", url, {"floatingip": {
        "floating_network_id": ext, "floating_ip_address": theirs["floating_ip_address"]}},
        403, "PolicyNotAuthorized")
    for method, body in (("GET", None), ("DELETE", None),
                         ("PUT", {"floatingip": {"port_id": None}}),
                         ("PUT", {"floatingip": {"port_id": world["b"]["port"]["id"]}})):
        refused(core, b, method, f"{url}/{theirs['id']}", body, 404, "FloatingIPNotFound")
    refused(core, b, "POST", url, {"floatingip": {"floating_network_id": ext,
                                                  "project_id": "alice"}}, 403,
            "PolicyNotAuthorized")


def test_b_gets_no_admin_knob_of_gateways_and_external_networks(core, b, world):
    ext, router = world["ext"]["id"], world["b"]["router"]["id"]
    for info in ({"network_id": ext, "enable_snat": False},
                 {"network_id": ext, "external_fixed_ips": [{"ip_address": "203.0.113.5"}]}):
        refused(core, b, "POST", f"{V2}/routers", {"router": {"external_gateway_info": info}},
                403, "PolicyNotAuthorized")
        refused(core, b, "PUT", f"{V2}/routers/{router}", {"router": {
            "external_gateway_info": info}}, 403, "PolicyNotAuthorized")
    refused(core, b, "POST", f"{V2}/floatingips", {"floatingip": {
        "floating_network_id": ext, "floating_ip_address": "203.0.113.7"}}, 403,
        "PolicyNotAuthorized")
    refused(core, b, "POST", f"{V2}/networks", {"network": {"router:external": True}}, 403,
            "PolicyNotAuthorized")
    refused(core, b, "PUT", f"{V2}/networks/{ext}", {"network": {"router:external": False}},
            403, "PolicyNotAuthorized")
    refused(core, b, "POST", f"{V2}/ports", {"port": {"network_id": ext}}, 404,
            "NetworkNotFound")
    refused(core, b, "POST", f"{V2}/subnets", {"subnet": {"network_id": ext,
                                                          "cidr": "198.51.100.0/24"}}, 404,
            "NetworkNotFound")
    # stating the default is no privilege
    assert b.post(f"{V2}/routers", {"router": {"external_gateway_info": {
        "network_id": ext, "enable_snat": True}}})[0] == 201


@pytest.mark.parametrize("first", ["alice", "bob"])
def test_the_same_cidrs_behind_two_routers_in_either_order(core, api, ext, first):
    """Overlap is a rule of one router: two projects' routers on the same CIDRs and the same
    external network both work, whoever comes first, and each router holds only its own."""
    order = ["alice", "bob"] if first == "alice" else ["bob", "alice"]
    built = {p: tenant(api.as_project(p), ext) for p in order}
    routers = {r.id: r for r in core.logical_snapshot().routers}
    for project, t in built.items():
        router = routers[t["router"]["id"]]
        assert router.project_id == project
        assert [(i.subnet_id, i.ip) for i in router.interfaces] == [
            (t["subnet"]["id"], "10.0.0.1")]
    assert routers[built["alice"]["router"]["id"]].zone != \
        routers[built["bob"]["router"]["id"]].zone
    assert routers[built["alice"]["router"]["id"]].gateway.ip != \
        routers[built["bob"]["router"]["id"]].gateway.ip


@pytest.mark.parametrize("router_first", [True, False])
def test_a_router_of_another_project_is_no_way_in_for_a_floating_ip(core, a, ops, ext,
                                                                    router_first):
    """An admin puts B's router on A's subnet (admins may): A's floating IP for A's port
    still needs a router of A's own, whether B's router came before or after A asked."""
    net = created(a.post(f"{V2}/networks", {"network": {}}), "network")
    subnet = created(a.post(f"{V2}/subnets", {"subnet": {"network_id": net["id"],
                                                         "cidr": "10.5.0.0/24"}}), "subnet")
    port = created(a.post(f"{V2}/ports", {"port": {"network_id": net["id"]}}), "port")
    body = {"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"]}}

    def bobs_router():
        router = created(ops.post(f"{V2}/routers", {"router": {
            "project_id": "bob", "external_gateway_info": {"network_id": ext["id"]}}}),
            "router")
        assert ops.put(f"{V2}/routers/{router['id']}/add_router_interface",
                       {"subnet_id": subnet["id"]})[0] == 200

    if router_first:
        bobs_router()
        refused(core, a, "POST", f"{V2}/floatingips", body, 404,
                "ExternalGatewayForFloatingIPNotFound")
    else:
        fip = created(a.post(f"{V2}/floatingips", {"floatingip": {
            "floating_network_id": ext["id"]}}), "floatingip")
        bobs_router()
        refused(core, a, "PUT", f"{V2}/floatingips/{fip['id']}",
                {"floatingip": {"port_id": port["id"]}}, 404,
                "ExternalGatewayForFloatingIPNotFound")


@pytest.mark.parametrize("plug_first", [True, False], ids=["plugged-then-adopted",
                                                            "adopted-then-plugged"])
def test_b_gets_no_unfiltered_interface_on_as_network_through_a_router_port(core, a, b, world,
                                                                            plug_first):
    """A shares its network with B (RBAC). B may put its router on it through a port of its
    own, as Neutron allows, and the router's port has port security off: it forwards other
    addresses. Were B able to plug an interface into that port, in either order, B's VM
    would sit on A's network sending as anyone, the router included."""
    net = world["a"]["net"]
    created(a.post(f"{V2}/rbac-policies", {"rbac_policy": {
        "object_type": "network", "object_id": net["id"], "action": "access_as_shared",
        "target_tenant": "bob"}}), "rbac_policy")
    port = created(b.post(f"{V2}/ports", {"port": {"network_id": net["id"]}}), "port")
    assert port["port_security_enabled"] is True
    port_url, vif = f"{V2}/ports/{port['id']}", "nova.example.com/bob/server/1/eth0"
    # a router of B's on none of A's addresses yet (B's own subnet has A's CIDR)
    router = created(b.post(f"{V2}/routers", {"router": {"name": "into-a"}}), "router")
    adopt = (f"{V2}/routers/{router['id']}/add_router_interface", {"port_id": port["id"]})
    if plug_first:
        assert b.put(port_url, {"port": {"attachment": vif}})[0] == 200
        refused(core, b, "PUT", *adopt, 409, "RouterPortInUse")
        assert b.get(port_url)[1]["port"]["port_security_enabled"] is True
    else:
        assert b.put(*adopt)[0] == 200
        assert b.get(port_url)[1]["port"]["port_security_enabled"] is False
        refused(core, b, "PUT", port_url, {"port": {"attachment": vif}}, 409, "L3PortInUse")
        # filtering on A's network stays A's (or an admin's) to change
        for change in ({"port_security_enabled": True},
                       {"allowed_address_pairs": [{"ip_address": "10.0.0.0/24"}]}):
            refused(core, b, "PUT", port_url, {"port": change}, 403, "PolicyNotAuthorized")
        assert b.get(port_url)[1]["port"]["attachment"] is None
