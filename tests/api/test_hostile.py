"""Project B (bob) against project A (alice) and the admin's shared network: every rule of the
authorization policy and of tenancy, tried as a hostile tenant would, in v2.0 and v1.0.

Each refused attempt asserts its code and error type *and* that the database did not change
(``snapshot``); attempts the design allows (naming the same attachment string) assert instead
that A keeps everything it had and that B's claim can never bind A's interface. Orders matter
for attachments, so those run with B first, with A first, and after A detaches.
"""
from types import SimpleNamespace

import pytest

from controller import binding
from controller.context import Context
from tests.conftest import snapshot

V2 = "/v2.0"
IFACE = "nova.example.com/alice/server/web-1/eth0"   # predictable, as the issue says
ADMIN = Context("ops", is_admin=True)


@pytest.fixture
def a(api):
    return api  # alice


@pytest.fixture
def b(api):
    return api.as_project("bob")


@pytest.fixture
def ops(api):
    return api.as_project("ops", admin=True)


def created(response, key):
    status, body = response
    assert status == 201, body
    return body[key]


@pytest.fixture
def world(a, ops):
    """A's private network, subnet, port and QoS policy; the admin's shared network with a
    subnet (gateway 10.9.0.1) and a shared QoS policy."""
    w = {}
    w["net"] = created(a.post(f"{V2}/networks", {"network": {"name": "a-private"}}), "network")
    w["subnet"] = created(a.post(f"{V2}/subnets", {"subnet": {
        "network_id": w["net"]["id"], "cidr": "10.1.0.0/24"}}), "subnet")
    w["port"] = created(a.post(f"{V2}/ports", {"port": {"network_id": w["net"]["id"]}}), "port")
    w["qos"] = created(a.post(f"{V2}/qos/policies", {"policy": {"name": "a-gold"}}), "policy")
    w["rule"] = created(a.post(f"{V2}/qos/policies/{w['qos']['id']}/bandwidth_limit_rules",
                               {"bandwidth_limit_rule": {"max_kbps": 1000}}),
                        "bandwidth_limit_rule")
    w["shared"] = created(ops.post(f"{V2}/networks", {"network": {
        "name": "public", "shared": True}}), "network")
    w["shared_subnet"] = created(ops.post(f"{V2}/subnets", {"subnet": {
        "network_id": w["shared"]["id"], "cidr": "10.9.0.0/24"}}), "subnet")
    w["shared_qos"] = created(ops.post(f"{V2}/qos/policies", {"policy": {
        "name": "silver", "shared": True}}), "policy")
    return w


def refused(core, client, method, path, body, code, kind):
    """``client`` tries; the answer is ``code`` with a NeutronError ``kind``; nothing changed.
    Returns the error."""
    before = snapshot(core)
    changes = len(core.plugin.changes)
    status, data = client.request(method, path, body)
    assert status == code, (method, path, body, data)
    assert data["NeutronError"]["type"] == kind, data
    assert snapshot(core) == before
    assert len(core.plugin.changes) == changes  # and the back-end was told nothing
    return data["NeutronError"]


def refused_v1(core, client, method, path, body, code, fault):
    before = snapshot(core)
    status, data = client.request(method, path, body)
    assert status == code, (method, path, body, data)
    assert list(data) == [fault] and data[fault]["code"] == code, data
    assert snapshot(core) == before


# -- the shared network: gateway theft and spoofing rights ----------------------------------------
def shared_port_bodies(w):
    """What only the network's owner (or an admin) may put on a port of a shared network."""
    gateway = w["shared_subnet"]["gateway_ip"]
    subnet = w["shared_subnet"]["id"]
    return {
        "router-interface-with-gateway": {"device_owner": "network:router_interface",
                                          "fixed_ips": [{"subnet_id": subnet,
                                                         "ip_address": gateway}]},
        "router-interface": {"device_owner": "network:router_interface"},
        "router-gateway": {"device_owner": "network:router_gateway"},
        "dhcp": {"device_owner": "network:dhcp"},
        "gateway-ip": {"fixed_ips": [{"ip_address": gateway}]},
        "chosen-ip": {"fixed_ips": [{"subnet_id": subnet, "ip_address": "10.9.0.77"}]},
        "mac": {"mac_address": "fa:16:3e:00:00:01"},
        "no-port-security": {"port_security_enabled": False},
        "address-pairs": {"allowed_address_pairs": [{"ip_address": "0.0.0.0/0"}]},
        "binding-host": {"binding:host_id": "hv1"},
        "binding-profile": {"binding:profile": {"switch": "s1", "port": 1}},
    }


ABUSES = ["router-interface-with-gateway", "router-interface", "router-gateway", "dhcp",
          "gateway-ip", "chosen-ip", "mac", "no-port-security", "address-pairs",
          "binding-host", "binding-profile"]


@pytest.mark.parametrize("abuse", ABUSES)
def test_non_owner_cannot_create_a_privileged_port_on_a_shared_network(core, b, world, abuse):
    body = {"network_id": world["shared"]["id"], **shared_port_bodies(world)[abuse]}
    refused(core, b, "POST", f"{V2}/ports", {"port": body}, 403, "PolicyNotAuthorized")


@pytest.mark.parametrize("abuse", ABUSES)
def test_non_owner_cannot_make_its_port_on_a_shared_network_privileged(core, b, world, abuse):
    port = created(b.post(f"{V2}/ports", {"port": {"network_id": world["shared"]["id"]}}),
                   "port")
    refused(core, b, "PUT", f"{V2}/ports/{port['id']}",
            {"port": shared_port_bodies(world)[abuse]}, 403, "PolicyNotAuthorized")
    assert b.get(f"{V2}/ports/{port['id']}") == (200, {"port": port})


def test_what_a_non_owner_may_do_on_a_shared_network(core, b, world):
    """The rules refuse privileges, not ordinary use: a port, a chosen subnet, the defaults
    stated outright, an ordinary device_owner."""
    subnet = world["shared_subnet"]
    port = created(b.post(f"{V2}/ports", {"port": {
        "network_id": world["shared"]["id"], "fixed_ips": [{"subnet_id": subnet["id"]}],
        "port_security_enabled": True, "allowed_address_pairs": [],
        "device_owner": "compute:nova", "qos_policy_id": world["shared_qos"]["id"]}}), "port")
    assert port["project_id"] == "bob" and port["port_security_enabled"] is True
    assert port["fixed_ips"][0]["subnet_id"] == subnet["id"]
    assert port["fixed_ips"][0]["ip_address"] != subnet["gateway_ip"]
    status, body = b.put(f"{V2}/ports/{port['id']}", {"port": {"name": "mine"}})
    assert status == 200 and body["port"]["name"] == "mine"


@pytest.mark.parametrize("abuse", [a for a in ABUSES if a != "gateway-ip"])
def test_the_network_owner_and_the_admin_keep_those_rights(core, a, ops, world, abuse):
    """The same bodies pass for whoever owns the network: the rule, not the body, refused B.
    (The gateway address is a router port's only: 409 for anyone else, owner included.)"""
    admin_port = created(ops.post(f"{V2}/ports", {"port": {
        "network_id": world["shared"]["id"], **shared_port_bodies(world)[abuse]}}), "port")
    assert admin_port["project_id"] == "ops"
    if abuse.startswith("binding"):
        return  # admin only, even for the network's owner (checked below)
    body = shared_port_bodies(world)[abuse]
    mine = created(a.post(f"{V2}/networks", {"network": {"name": "own"}}), "network")
    sub = created(a.post(f"{V2}/subnets", {"subnet": {
        "network_id": mine["id"], "cidr": "10.9.0.0/24"}}), "subnet")
    body = {k: ([{**f, "subnet_id": sub["id"]} if "subnet_id" in f else f for f in v]
                if k == "fixed_ips" else v) for k, v in body.items()}
    if abuse == "no-port-security":
        body["allowed_address_pairs"] = []
    port = created(a.post(f"{V2}/ports", {"port": {"network_id": mine["id"], **body}}), "port")
    if abuse == "router-interface-with-gateway":
        assert port["fixed_ips"][0]["ip_address"] == "10.9.0.1"


def test_binding_attributes_are_admin_only_even_for_the_network_owner(core, a, ops, world):
    for key, value in (("binding:host_id", "hv1"), ("binding:profile", {"switch": "s1"})):
        refused(core, a, "POST", f"{V2}/ports",
                {"port": {"network_id": world["net"]["id"], key: value}},
                403, "PolicyNotAuthorized")
        refused(core, a, "PUT", f"{V2}/ports/{world['port']['id']}", {"port": {key: value}},
                403, "PolicyNotAuthorized")
    assert "binding:host_id" not in a.get(f"{V2}/ports/{world['port']['id']}")[1]["port"]
    assert ops.get(f"{V2}/ports/{world['port']['id']}")[1]["port"]["binding:host_id"] == ""


def test_non_owner_cannot_change_or_unshare_a_shared_network(core, b, a, world):
    shared = world["shared"]["id"]
    for body in ({"network": {"name": "mine"}}, {"network": {"shared": False}},
                 {"network": {"admin_state_up": False}}):
        refused(core, b, "PUT", f"{V2}/networks/{shared}", body, 403, "PolicyNotAuthorized")
    refused(core, b, "DELETE", f"{V2}/networks/{shared}", None, 403, "PolicyNotAuthorized")
    refused(core, b, "POST", f"{V2}/subnets",
            {"subnet": {"network_id": shared, "cidr": "10.10.0.0/24"}}, 403,
            "PolicyNotAuthorized")
    refused(core, b, "PUT", f"{V2}/subnets/{world['shared_subnet']['id']}",
            {"subnet": {"gateway_ip": "10.9.0.254"}}, 403, "PolicyNotAuthorized")
    refused(core, b, "DELETE", f"{V2}/subnets/{world['shared_subnet']['id']}", None, 403,
            "PolicyNotAuthorized")


def test_a_non_admin_cannot_share_or_reach_the_wire(core, a, world):
    for body in ({"network": {"name": "x", "shared": True}},
                 {"network": {"name": "x", "provider:segmentation_id": 4242}},
                 {"network": {"name": "x", "provider:network_type": "vxlan"}}):
        refused(core, a, "POST", f"{V2}/networks", body, 403, "PolicyNotAuthorized")
    for body in ({"network": {"shared": True}}, {"network": {"shared": False}},
                 {"network": {"provider:segmentation_id": 4242}}):
        refused(core, a, "PUT", f"{V2}/networks/{world['net']['id']}", body, 403,
                "PolicyNotAuthorized")
    refused(core, a, "POST", f"{V2}/qos/policies", {"policy": {"name": "x", "shared": True}},
            403, "PolicyNotAuthorized")
    refused(core, a, "PUT", f"{V2}/qos/policies/{world['qos']['id']}",
            {"policy": {"shared": True}}, 403, "PolicyNotAuthorized")
    assert "provider:segmentation_id" not in a.get(f"{V2}/networks/{world['net']['id']}")[1][
        "network"]
    for path in ("/v2.0/network-ip-availabilities", "/v2.0/qnet/topology"):
        refused(core, a, "GET", path, None, 403, "PolicyNotAuthorized")


# -- A's private resources: invisible to B (404, never 403: existence does not leak) --------------
def private_paths(w):
    return [("network", f"{V2}/networks/{w['net']['id']}", "NetworkNotFound"),
            ("subnet", f"{V2}/subnets/{w['subnet']['id']}", "SubnetNotFound"),
            ("port", f"{V2}/ports/{w['port']['id']}", "PortNotFound"),
            ("policy", f"{V2}/qos/policies/{w['qos']['id']}", "QosPolicyNotFound"),
            ("bandwidth_limit_rule",
             f"{V2}/qos/policies/{w['qos']['id']}/bandwidth_limit_rules/{w['rule']['id']}",
             "QosPolicyNotFound")]


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_private_resource_of_another_project_is_not_found(core, b, world, index, method):
    resource, path, kind = private_paths(world)[index]
    body = {resource: {"name": "stolen"} if resource != "bandwidth_limit_rule"
            else {"max_kbps": 1}} if method == "PUT" else None
    refused(core, b, method, path, body, 404, kind)


def test_nothing_of_another_project_can_be_used_or_listed(core, b, world):
    net, policy = world["net"]["id"], world["qos"]["id"]
    refused(core, b, "POST", f"{V2}/ports", {"port": {"network_id": net}}, 404,
            "NetworkNotFound")
    refused(core, b, "POST", f"{V2}/subnets",
            {"subnet": {"network_id": net, "cidr": "10.2.0.0/24"}}, 404, "NetworkNotFound")
    refused(core, b, "POST", f"{V2}/qos/policies/{policy}/bandwidth_limit_rules",
            {"bandwidth_limit_rule": {"max_kbps": 5}}, 404, "QosPolicyNotFound")
    refused(core, b, "POST", f"{V2}/ports", {"port": {"network_id": world["shared"]["id"],
                                                      "qos_policy_id": policy}},
            404, "QosPolicyNotFound")
    refused(core, b, "POST", f"{V2}/networks", {"network": {"name": "x",
                                                            "qos_policy_id": policy}},
            404, "QosPolicyNotFound")
    for collection in ("networks", "subnets", "ports", "qos/policies"):
        items = b.get(f"{V2}/{collection}")[1][collection.split("/")[-1]]
        assert all(item.get("project_id") != "alice" for item in items), collection


@pytest.mark.parametrize("collection,body", [
    ("networks", {"network": {"name": "x"}}),
    ("ports", None),
    ("qos/policies", {"policy": {"name": "x"}})])
@pytest.mark.parametrize("owner", ["project_id", "tenant_id"])
def test_nothing_can_be_created_in_another_project(core, b, world, collection, body, owner):
    if body is None:
        body = {"port": {"network_id": world["shared"]["id"]}}
    key = next(iter(body))
    refused(core, b, "POST", f"{V2}/{collection}", {key: {**body[key], owner: "alice"}}, 403,
            "PolicyNotAuthorized")


def test_a_shared_qos_policy_is_usable_not_writable(core, b, world):
    policy = world["shared_qos"]["id"]
    refused(core, b, "PUT", f"{V2}/qos/policies/{policy}", {"policy": {"name": "x"}}, 403,
            "PolicyNotAuthorized")
    refused(core, b, "DELETE", f"{V2}/qos/policies/{policy}", None, 403, "PolicyNotAuthorized")
    refused(core, b, "POST", f"{V2}/qos/policies/{policy}/bandwidth_limit_rules",
            {"bandwidth_limit_rule": {"max_kbps": 5}}, 403, "PolicyNotAuthorized")


# -- Quantum v1.0 ---------------------------------------------------------------------------------
def test_v1_another_tenants_url_is_forbidden(core, b, world):
    net, port = world["net"]["id"], world["port"]["id"]
    base = f"/v1.0/tenants/alice/networks/{net}/ports/{port}"
    for method, path, body in (("GET", "/v1.0/tenants/alice/networks", None),
                               ("POST", "/v1.0/tenants/alice/networks",
                                {"network": {"name": "x"}}),
                               ("PUT", f"/v1.0/tenants/alice/networks/{net}",
                                {"network": {"name": "x"}}),
                               ("DELETE", base, None),
                               ("PUT", base + "/attachment", {"attachment": {"id": IFACE}}),
                               ("DELETE", base + "/attachment", None)):
        refused_v1(core, b, method, path, body, 403, "forbidden")


def test_v1_another_tenants_ids_in_ones_own_url_are_not_found(core, b, world):
    net, port = world["net"]["id"], world["port"]["id"]
    own = created(b.post(f"{V2}/networks", {"network": {"name": "b"}}), "network")["id"]
    refused_v1(core, b, "GET", f"/v1.0/tenants/bob/networks/{net}", None, 404,
               "networkNotFound")
    refused_v1(core, b, "PUT", f"/v1.0/tenants/bob/networks/{own}/ports/{port}/attachment",
               {"attachment": {"id": IFACE}}, 404, "portNotFound")
    refused_v1(core, b, "PUT",
               f"/v1.0/tenants/bob/networks/{world['shared']['id']}/ports/{port}",
               {"port": {"state": "DOWN"}}, 404, "networkNotFound")


# -- attachments: B names A's interface -------------------------------------------------------------
def b_port(b, world):
    net = created(b.post(f"{V2}/networks", {"network": {"name": "b-net"}}), "network")
    return net["id"], created(b.post(f"{V2}/ports", {"port": {"network_id": net["id"]}}),
                              "port")["id"]


def plug_v1(client, tenant, net, port, iface=IFACE):
    return client.put(f"/v1.0/tenants/{tenant}/networks/{net}/ports/{port}/attachment",
                      {"attachment": {"id": iface}})


def plug_v2(client, tenant, net, port, iface=IFACE):
    status, body = client.put(f"{V2}/ports/{port}", {"port": {"attachment": iface}})
    return (204 if status == 200 else status), body


def unplug(client, tenant, net, port):
    return client.delete(f"/v1.0/tenants/{tenant}/networks/{net}/ports/{port}/attachment")


def claim(core, iface_id, project):
    """What one hypervisor interface (``iface_id``, declared for ``project`` or None) binds,
    by the binding authority over what the API stored: (ids of the ports it binds,
    {port id: binding error})."""
    claims = {}
    binding.add_claim(claims, iface_id, project, "hv1", 7)
    bound, errors = [], {}
    for port in core.ports.list(ADMIN)[0]:
        holders, error = binding.holders_of(SimpleNamespace(
            id=port["id"], project_id=port["project_id"], attachment=port["attachment"]), claims)
        if holders:
            bound.append(port["id"])
        if error:
            errors[port["id"]] = error
    return bound, errors


def assert_binding_authority(core, a_port, b_port_id):
    """A's interface (declared for alice) binds A's port only; declared for bob, B's only; an
    undeclared claim binds nobody and says so on every port naming it; a port id binds its
    own port whoever declares it."""
    assert claim(core, IFACE, "alice") == ([a_port] if a_port else [], {})
    assert claim(core, IFACE, "bob") == ([b_port_id], {})
    bound, errors = claim(core, IFACE, None)
    assert bound == [] and set(errors) == ({a_port, b_port_id} if a_port else {b_port_id})
    assert all("qnet-project-id" in e for e in errors.values())
    assert claim(core, b_port_id, None) == ([b_port_id], {})
    if a_port:
        assert claim(core, a_port, "bob") == ([a_port], {})


PLUGS = {"v1": plug_v1, "v2": plug_v2}


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_b_names_the_interface_first_and_blocks_nothing(core, a, b, world, api_version):
    plug = PLUGS[api_version]
    b_net, b_port_id = b_port(b, world)
    assert plug(b, "bob", b_net, b_port_id)[0] == 204
    assert plug(a, "alice", world["net"]["id"], world["port"]["id"])[0] == 204  # no 409
    assert a.get(f"{V2}/ports/{world['port']['id']}")[1]["port"]["attachment"] == IFACE
    assert_binding_authority(core, world["port"]["id"], b_port_id)


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_b_names_the_interface_after_a_and_takes_nothing(core, a, b, world, api_version):
    plug = PLUGS[api_version]
    assert plug(a, "alice", world["net"]["id"], world["port"]["id"])[0] == 204
    a_before = a.get(f"{V2}/ports/{world['port']['id']}")
    b_net, b_port_id = b_port(b, world)
    assert plug(b, "bob", b_net, b_port_id)[0] == 204
    assert a.get(f"{V2}/ports/{world['port']['id']}") == a_before
    assert_binding_authority(core, world["port"]["id"], b_port_id)


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_b_names_the_interface_after_a_detaches_and_gets_nothing_of_a(core, a, b, world,
                                                                        api_version):
    plug = PLUGS[api_version]
    assert plug(a, "alice", world["net"]["id"], world["port"]["id"])[0] == 204
    assert unplug(a, "alice", world["net"]["id"], world["port"]["id"])[0] == 204
    b_net, b_port_id = b_port(b, world)
    assert plug(b, "bob", b_net, b_port_id)[0] == 204
    # A's VM, still started for alice, binds nothing of B's ...
    assert claim(core, IFACE, "alice") == ([], {})
    # ... and A plugs it again, unblocked.
    assert plug(a, "alice", world["net"]["id"], world["port"]["id"])[0] == 204
    assert_binding_authority(core, world["port"]["id"], b_port_id)


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_b_cannot_move_or_unplug_as_attachment_of_a(core, b, world, api_version):
    """B cannot write A's port at all, in either API: the attachment stays A's."""
    net, port = world["net"]["id"], world["port"]["id"]
    if api_version == "v1":
        refused_v1(core, b, "PUT", f"/v1.0/tenants/alice/networks/{net}/ports/{port}/attachment",
                   {"attachment": {"id": IFACE}}, 403, "forbidden")
    else:
        refused(core, b, "PUT", f"{V2}/ports/{port}", {"port": {"attachment": IFACE}}, 404,
                "PortNotFound")
        refused(core, b, "DELETE", f"{V2}/ports/{port}", None, 404, "PortNotFound")


def test_within_a_project_an_interface_still_plugs_into_one_port(core, a, world):
    assert plug_v2(a, "alice", None, world["port"]["id"])[0] == 204
    other = created(a.post(f"{V2}/ports", {"port": {"network_id": world["net"]["id"]}}), "port")
    refused(core, a, "PUT", f"{V2}/ports/{other['id']}", {"port": {"attachment": IFACE}}, 409,
            "AlreadyAttached")


def test_another_projects_port_on_a_shared_network_is_not_found(core, a, b, world):
    """Sharing a network shares no port on it: A's port there is as invisible to B as any."""
    port = created(a.post(f"{V2}/ports", {"port": {"network_id": world["shared"]["id"]}}),
                   "port")
    for method, body in (("GET", None), ("PUT", {"port": {"name": "stolen"}}),
                         ("PUT", {"port": {"attachment": IFACE}}), ("DELETE", None)):
        refused(core, b, method, f"{V2}/ports/{port['id']}", body, 404, "PortNotFound")
    listed = b.get(f"{V2}/ports?network_id={world['shared']['id']}")[1]["ports"]
    assert port["id"] not in [p["id"] for p in listed]
