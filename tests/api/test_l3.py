"""Routers, external networks and floating IPs through the v2.0 API (issue 12): what each call
does, and every rule with the code Neutron answers; each refusal changes nothing (database and
back-end: ``refused``)."""
import pytest

from controller import logical
from tests.api.test_hostile import created, refused
from tests.conftest import snapshot

V2 = "/v2.0"


@pytest.fixture
def ops(api):
    return api.as_project("ops", admin=True)


@pytest.fixture
def w(api, ops):
    """The admin's external network (203.0.113.0/24); alice's two networks with a subnet
    each, a port on the first, and a router with its gateway on the external network."""
    w = {}
    w["ext"] = created(ops.post(f"{V2}/networks", {"network": {
        "name": "public", "router:external": True}}), "network")
    w["ext_subnet"] = created(ops.post(f"{V2}/subnets", {"subnet": {
        "network_id": w["ext"]["id"], "cidr": "203.0.113.0/24"}}), "subnet")
    for i in (1, 2):
        w[f"net{i}"] = created(api.post(f"{V2}/networks", {"network": {"name": f"n{i}"}}),
                               "network")
        w[f"sub{i}"] = created(api.post(f"{V2}/subnets", {"subnet": {
            "network_id": w[f"net{i}"]["id"], "cidr": f"10.0.{i}.0/24"}}), "subnet")
    w["port"] = created(api.post(f"{V2}/ports", {"port": {"network_id": w["net1"]["id"]}}),
                        "port")
    w["router"] = created(api.post(f"{V2}/routers", {"router": {
        "name": "r1", "external_gateway_info": {"network_id": w["ext"]["id"]}}}), "router")
    return w


def attach(client, router, **body):
    status, info = client.put(f"{V2}/routers/{router['id']}/add_router_interface", body)
    assert status == 200, info
    return info


def typed_router(core, router_id):
    return next(r for r in core.logical_snapshot().routers if r.id == router_id)


# -- routers ---------------------------------------------------------------------------------
def test_a_router_routes_its_subnets_through_their_gateway_addresses(core, api, w):
    gateway = w["router"]["external_gateway_info"]
    assert gateway["network_id"] == w["ext"]["id"] and gateway["enable_snat"] is True
    [gw_ip] = gateway["external_fixed_ips"]
    assert gw_ip["subnet_id"] == w["ext_subnet"]["id"]
    info = attach(api, w["router"], subnet_id=w["sub1"]["id"])
    assert (info["id"], info["subnet_id"], info["network_id"]) == (
        w["router"]["id"], w["sub1"]["id"], w["net1"]["id"])
    status, port = api.get(f"{V2}/ports/{info['port_id']}")
    assert port["port"]["device_owner"] == "network:router_interface"
    assert port["port"]["device_id"] == w["router"]["id"]
    # the interface is the subnet's gateway: what DHCP hands out as the router (option 3)
    assert port["port"]["fixed_ips"] == [{"subnet_id": w["sub1"]["id"],
                                          "ip_address": w["sub1"]["gateway_ip"]}]
    # by port: a free port of the caller's, with its own address
    spare = created(api.post(f"{V2}/ports", {"port": {"network_id": w["net2"]["id"]}}), "port")
    attach(api, w["router"], port_id=spare["id"])
    router = typed_router(core, w["router"]["id"])
    assert [(i.subnet_id, i.ip) for i in router.interfaces] == sorted([
        (w["sub1"]["id"], w["sub1"]["gateway_ip"]),
        (w["sub2"]["id"], spare["fixed_ips"][0]["ip_address"])])
    assert router.gateway.ip == gw_ip["ip_address"] and router.snat and \
        router.gateway.network_id == w["ext"]["id"]
    # the back-end heard of each step with the router as it then was
    last = [c for c in core.plugin.changes if c.resource == "router"][-1]
    assert last.action == "updated" and last.after == router
    assert len(last.before.interfaces) == 1

    status, info = api.put(f"{V2}/routers/{w['router']['id']}/remove_router_interface",
                           {"subnet_id": w["sub1"]["id"]})
    assert status == 200 and info["port_id"] != spare["id"]
    assert api.get(f"{V2}/ports/{info['port_id']}")[0] == 404
    api.put(f"{V2}/routers/{w['router']['id']}/remove_router_interface",
            {"port_id": spare["id"]})
    assert typed_router(core, w["router"]["id"]).interfaces == ()
    assert api.delete(f"{V2}/routers/{w['router']['id']}")[0] == 204
    # its gateway port went with it
    assert api.as_project("ops", admin=True).get(
        f"{V2}/ports?device_id={w['router']['id']}")[1]["ports"] == []
    assert core.plugin.changes[-1].hook == "router_deleted"


def test_routers_get_distinct_zones_and_a_freed_zone_is_found_again(core, api, w):
    zones = [typed_router(core, created(api.post(f"{V2}/routers", {"router": {}}),
                                        "router")["id"]).zone for _ in range(2)]
    assert len({typed_router(core, w["router"]["id"]).zone, *zones}) == 3
    assert all(1 <= z <= 32767 for z in zones)


def test_a_subnet_joins_a_router_once_and_overlapping_subnets_never(core, api, w):
    attach(api, w["router"], subnet_id=w["sub1"]["id"])
    url = f"{V2}/routers/{w['router']['id']}/add_router_interface"
    refused(core, api, "PUT", url, {"subnet_id": w["sub1"]["id"]}, 400, "HTTPBadRequest")
    net = created(api.post(f"{V2}/networks", {"network": {}}), "network")
    inside = created(api.post(f"{V2}/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.0.1.128/25"}}), "subnet")
    refused(core, api, "PUT", url, {"subnet_id": inside["id"]}, 400, "HTTPBadRequest")
    # by port too: a port on the overlapping subnet
    port = created(api.post(f"{V2}/ports", {"port": {"network_id": net["id"]}}), "port")
    refused(core, api, "PUT", url, {"port_id": port["id"]}, 400, "HTTPBadRequest")
    # the external network's subnet is the gateway's, never an interface
    refused(core, api, "PUT", url, {"subnet_id": w["ext_subnet"]["id"]}, 400, "HTTPBadRequest")


@pytest.mark.parametrize("body", [{}, {"subnet_id": None}, {"network_id": "x"},
                                  {"subnet_id": "not-a-uuid"}, [], "both"])
def test_add_router_interface_takes_exactly_a_subnet_or_a_port(core, api, w, body):
    kind = "InvalidInput"
    if body == "both":
        body, kind = {"subnet_id": w["sub1"]["id"], "port_id": w["port"]["id"]}, "HTTPBadRequest"
    if body == []:
        kind = "MalformedRequestBody"
    refused(core, api, "PUT", f"{V2}/routers/{w['router']['id']}/add_router_interface", body,
            400, kind)


def test_what_an_interface_needs_is_refused_without_it(core, api, w):
    url = f"{V2}/routers/{w['router']['id']}/add_router_interface"
    net = created(api.post(f"{V2}/networks", {"network": {}}), "network")
    gatewayless = created(api.post(f"{V2}/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.7.0.0/24", "gateway_ip": None}}), "subnet")
    refused(core, api, "PUT", url, {"subnet_id": gatewayless["id"]}, 400, "HTTPBadRequest")
    bare = created(api.post(f"{V2}/ports", {"port": {"network_id": net["id"],
                                                     "fixed_ips": []}}), "port")
    refused(core, api, "PUT", url, {"port_id": bare["id"]}, 400, "HTTPBadRequest")
    busy = created(api.post(f"{V2}/ports", {"port": {"network_id": w["net2"]["id"],
                                                     "device_id": "vm-1"}}), "port")
    refused(core, api, "PUT", url, {"port_id": busy["id"]}, 409, "RouterPortInUse")
    # the gateway address already held by another port
    holder = created(api.post(f"{V2}/ports", {"port": {"network_id": w["net2"]["id"],
                                                       "device_owner":
                                                           "network:router_interface",
                                                       "fixed_ips": [{
                                                           "ip_address": w["sub2"][
                                                               "gateway_ip"]}]}}), "port")
    refused(core, api, "PUT", url, {"subnet_id": w["sub2"]["id"]}, 409, "IpAddressInUse")
    assert holder
    refused(core, api, "PUT", f"{V2}/routers/{w['router']['id']}/remove_router_interface",
            {"subnet_id": w["sub1"]["id"]}, 404, "RouterInterfaceNotFoundForSubnet")
    refused(core, api, "PUT", f"{V2}/routers/{w['router']['id']}/remove_router_interface",
            {"port_id": w["port"]["id"]}, 404, "RouterInterfaceNotFound")


def test_what_a_router_uses_is_not_deleted_under_it(core, api, w):
    info = attach(api, w["router"], subnet_id=w["sub1"]["id"])
    refused(core, api, "DELETE", f"{V2}/routers/{w['router']['id']}", None, 409, "RouterInUse")
    refused(core, api, "DELETE", f"{V2}/networks/{w['net1']['id']}", None, 409, "NetworkInUse")
    refused(core, api, "DELETE", f"{V2}/subnets/{w['sub1']['id']}", None, 409, "SubnetInUse")
    # the interface keeps the subnet's gateway address, which DHCP hands out
    for gateway in ("10.0.1.254", None):
        refused(core, api, "PUT", f"{V2}/subnets/{w['sub1']['id']}",
                {"subnet": {"gateway_ip": gateway}}, 409, "GatewayIpInUse")
    assert api.put(f"{V2}/subnets/{w['sub1']['id']}", {"subnet": {
        "gateway_ip": w["sub1"]["gateway_ip"], "name": "same"}})[0] == 200
    # its ports are the router's: not deleted or re-addressed through the port API
    port_url = f"{V2}/ports/{info['port_id']}"
    refused(core, api, "DELETE", port_url, None, 409, "L3PortInUse")
    # nor plugged nor filtered differently: an interface plugged into a router's port (port
    # security off) could send as the router and as anyone else on the network
    for change in ({"fixed_ips": []}, {"device_owner": ""}, {"device_id": "x"},
                   {"mac_address": "fa:16:3e:00:00:99"},
                   {"attachment": "nova.example.com/alice/server/1/eth0"},
                   {"port_security_enabled": True},
                   {"allowed_address_pairs": [{"ip_address": "10.0.1.77"}]},
                   {"security_groups": []}):
        error = refused(core, api, "PUT", port_url, {"port": change}, 409, "L3PortInUse")
        assert "network:router_interface" in error["message"] and \
            f"given a new {next(iter(change))}" in error["message"]
    gw_port = w["router"]["external_gateway_info"]["external_fixed_ips"][0]
    ops = api.as_project("ops", admin=True)
    [gw] = ops.get(f"{V2}/ports?fixed_ips=ip_address={gw_port['ip_address']}")[1]["ports"]
    assert gw["device_owner"] == "network:router_gateway"
    refused(core, ops, "DELETE", f"{V2}/ports/{gw['id']}", None, 409, "L3PortInUse")
    # through Quantum v1.0 too: not deleted, not plugged
    v1_port = f"/v1.0/tenants/alice/networks/{w['net1']['id']}/ports/{info['port_id']}"
    assert api.delete(v1_port)[0] == 409
    before = snapshot(core)
    status, _ = api.put(f"{v1_port}/attachment", {"attachment": {
        "id": "nova.example.com/alice/server/1/eth0"}})
    assert status == 409 and snapshot(core) == before
    assert api.get(f"{v1_port}/attachment") == (200, {"attachment": {}})
    # a rename is fine
    assert api.put(port_url, {"port": {"name": "r1-n1"}})[0] == 200


def test_the_gateway_goes_only_to_an_external_network(core, api, w):
    url = f"{V2}/routers/{w['router']['id']}"
    refused(core, api, "PUT", url, {"router": {"external_gateway_info": {
        "network_id": w["net1"]["id"]}}}, 400, "HTTPBadRequest")
    other = api.as_project("bob").post(f"{V2}/networks", {"network": {}})[1]["network"]
    refused(core, api, "PUT", url, {"router": {"external_gateway_info": {
        "network_id": other["id"]}}}, 404, "NetworkNotFound")
    # a gateway subnet that overlaps one of the router's interfaces
    ops = api.as_project("ops", admin=True)
    clash = created(ops.post(f"{V2}/networks", {"network": {"router:external": True}}),
                    "network")
    created(ops.post(f"{V2}/subnets", {"subnet": {"network_id": clash["id"],
                                                  "cidr": "10.0.0.0/16"}}), "subnet")
    attach(api, w["router"], subnet_id=w["sub1"]["id"])
    refused(core, api, "PUT", url, {"router": {"external_gateway_info": {
        "network_id": clash["id"]}}}, 400, "HTTPBadRequest")
    api.put(f"{url}/remove_router_interface", {"subnet_id": w["sub1"]["id"]})
    status, body = api.put(url, {"router": {"external_gateway_info": None}})
    assert status == 200 and body["router"]["external_gateway_info"] is None
    assert typed_router(core, w["router"]["id"]).gateway is None


def test_extra_routes_need_a_next_hop_on_the_routers_subnets(core, api, w):
    info = attach(api, w["router"], subnet_id=w["sub1"]["id"])
    url = f"{V2}/routers/{w['router']['id']}"
    for hop in ("10.9.9.9", w["sub1"]["gateway_ip"]):   # not connected; the router's own
        refused(core, api, "PUT", url, {"router": {"routes": [
            {"destination": "192.168.0.0/16", "nexthop": hop}]}}, 400, "HTTPBadRequest")
    status, body = api.put(url, {"router": {"routes": [
        {"destination": "192.168.0.0/16", "nexthop": "10.0.1.50"}]}})
    assert status == 200 and body["router"]["routes"] == [
        {"destination": "192.168.0.0/16", "nexthop": "10.0.1.50"}]
    assert typed_router(core, w["router"]["id"]).routes == (("192.168.0.0/16", "10.0.1.50"),)
    refused(core, api, "PUT", f"{url}/remove_router_interface", {"port_id": info["port_id"]},
            409, "RouterInterfaceInUseByRoute")
    refused(core, api, "POST", f"{V2}/routers", {"router": {"routes": []}}, 400,
            "HTTPBadRequest")


# -- external and flat networks --------------------------------------------------------------
def test_every_project_sees_an_external_network_but_only_its_owner_changes_it(core, api, w):
    bob = api.as_project("bob")
    assert bob.get(f"{V2}/networks/{w['ext']['id']}")[1]["network"]["router:external"]
    assert bob.get(f"{V2}/subnets/{w['ext_subnet']['id']}")[0] == 200
    assert [n["id"] for n in bob.get(f"{V2}/networks?router:external=true")[1]["networks"]] \
        == [w["ext"]["id"]]
    refused(core, bob, "PUT", f"{V2}/networks/{w['ext']['id']}", {"network": {"name": "x"}},
            403, "PolicyNotAuthorized")
    refused(core, bob, "DELETE", f"{V2}/networks/{w['ext']['id']}", None, 403,
            "PolicyNotAuthorized")
    refused(core, bob, "POST", f"{V2}/ports", {"port": {"network_id": w["ext"]["id"]}}, 404,
            "NetworkNotFound")
    for body in ({"router:external": True}, ):
        refused(core, api, "POST", f"{V2}/networks", {"network": body}, 403,
                "PolicyNotAuthorized")
    refused(core, api, "PUT", f"{V2}/networks/{w['net1']['id']}",
            {"network": {"router:external": True}}, 403, "PolicyNotAuthorized")
    assert api.post(f"{V2}/networks", {"network": {"router:external": False}})[0] == 201
    # an external network with gateways on it stays external
    ops = api.as_project("ops", admin=True)
    refused(core, ops, "PUT", f"{V2}/networks/{w['ext']['id']}",
            {"network": {"router:external": False}}, 409, "ExternalNetworkInUse")


def test_a_flat_network_names_its_physical_network_once(core, api):
    ops = api.as_project("ops", admin=True)
    flat = created(ops.post(f"{V2}/networks", {"network": {
        "provider:network_type": "flat", "provider:physical_network": "physnet1",
        "router:external": True}}), "network")
    assert (flat["provider:network_type"], flat["provider:physical_network"]) == (
        "flat", "physnet1")
    typed = next(n for n in core.logical_snapshot().networks if n.id == flat["id"])
    assert (typed.physical_network, typed.external) == ("physnet1", True)
    assert core.plugin.changes[-1].after == typed
    for body, code, kind in (
            ({"provider:network_type": "flat", "provider:physical_network": "physnet1"}, 409,
             "FlatNetworkInUse"),
            ({"provider:network_type": "flat"}, 400, "InvalidInput"),
            ({"provider:physical_network": "physnet2"}, 400, "InvalidInput"),
            ({"provider:network_type": "flat", "provider:physical_network": "physnet2",
              "provider:segmentation_id": 5}, 400, "InvalidInput")):
        refused(core, ops, "POST", f"{V2}/networks", {"network": body}, code, kind)
    refused(core, api, "POST", f"{V2}/networks", {"network": {
        "provider:network_type": "flat", "provider:physical_network": "physnet2"}}, 403,
        "PolicyNotAuthorized")
    assert [n["id"] for n in ops.get(f"{V2}/networks?provider:network_type=flat")[1][
        "networks"]] == [flat["id"]]


# -- floating IPs ----------------------------------------------------------------------------
def test_a_floating_ip_stands_for_a_port_behind_a_router_of_its_project(core, api, w):
    url = f"{V2}/floatingips"
    body = {"floatingip": {"floating_network_id": w["ext"]["id"], "port_id": w["port"]["id"]}}
    # no router joins the port's subnet to the external network yet
    refused(core, api, "POST", url, body, 404, "ExternalGatewayForFloatingIPNotFound")
    attach(api, w["router"], subnet_id=w["sub1"]["id"])
    fip = created(api.post(url, body), "floatingip")
    assert (fip["port_id"], fip["fixed_ip_address"], fip["router_id"]) == (
        w["port"]["id"], w["port"]["fixed_ips"][0]["ip_address"], w["router"]["id"])
    assert fip["floating_ip_address"].startswith("203.0.113.")
    typed = core.plugin.changes[-1].after
    assert typed == logical.FloatingIP(fip["id"], "alice", w["router"]["id"], w["ext"]["id"],
                                       fip["floating_ip_address"], w["port"]["id"],
                                       fip["fixed_ip_address"])
    assert core.logical_snapshot().floating_ips == (typed,)
    # one floating IP per fixed address; the error names the address's floating IP network
    error = refused(core, api, "POST", url, body, 409, "FloatingIPPortAlreadyAssociated")
    assert f"using fixed IP {fip['fixed_ip_address']}" in error["message"]
    assert error["message"].endswith(f"on external network {w['ext']['id']}.")
    # what it needs stays
    refused(core, api, "PUT", f"{V2}/routers/{w['router']['id']}/remove_router_interface",
            {"subnet_id": w["sub1"]["id"]}, 409, "RouterInterfaceInUseByFloatingIP")
    refused(core, api, "PUT", f"{V2}/routers/{w['router']['id']}",
            {"router": {"external_gateway_info": None}}, 409,
            "RouterExternalGatewayInUseByFloatingIp")
    # moved to another port, then nowhere
    other = created(api.post(f"{V2}/ports", {"port": {"network_id": w["net1"]["id"]}}), "port")
    status, moved = api.put(f"{url}/{fip['id']}", {"floatingip": {"port_id": other["id"]}})
    assert status == 200 and moved["floatingip"]["fixed_ip_address"] == \
        other["fixed_ips"][0]["ip_address"]
    assert core.plugin.changes[-1].after.port_id == other["id"]
    status, free = api.put(f"{url}/{fip['id']}", {"floatingip": {"port_id": None}})
    assert status == 200 and (free["floatingip"]["port_id"], free["floatingip"]["router_id"],
                              free["floatingip"]["status"]) == (None, None, "DOWN")
    # deleting the port it stands for lets it go, in the same transaction
    api.put(f"{url}/{fip['id']}", {"floatingip": {"port_id": other["id"]}})
    assert api.delete(f"{V2}/ports/{other['id']}")[0] == 204
    assert api.get(f"{url}/{fip['id']}")[1]["floatingip"]["port_id"] is None
    assert [c.hook for c in list(core.plugin.changes)[-2:]] == ["floating_ip_updated",
                                                                "port_deleted"]
    # its address is held by a port of its own, which goes with it
    ops = api.as_project("ops", admin=True)
    [held] = ops.get(f"{V2}/ports?device_id={fip['id']}")[1]["ports"]
    assert held["device_owner"] == "network:floatingip"
    refused(core, ops, "DELETE", f"{V2}/ports/{held['id']}", None, 409, "L3PortInUse")
    assert api.delete(f"{url}/{fip['id']}")[0] == 204
    assert ops.get(f"{V2}/ports/{held['id']}")[0] == 404


def test_a_floating_ip_comes_only_from_an_external_network(core, api, w):
    url = f"{V2}/floatingips"
    refused(core, api, "POST", url, {"floatingip": {"floating_network_id": w["net1"]["id"]}},
            400, "HTTPBadRequest")
    refused(core, api, "POST", url, {"floatingip": {
        "floating_network_id": w["ext"]["id"], "floating_ip_address": "203.0.113.9"}}, 403,
        "PolicyNotAuthorized")
    attach(api, w["router"], subnet_id=w["sub1"]["id"])
    for port_body, code in (({"port_id": w["port"]["id"], "fixed_ip_address": "10.0.1.1"},
                             400),
                            ({"fixed_ip_address": w["port"]["fixed_ips"][0]["ip_address"]},
                             400)):
        refused(core, api, "POST", url, {"floatingip": {"floating_network_id": w["ext"]["id"],
                                                        **port_body}}, code, "HTTPBadRequest")
    interface = api.get(f"{V2}/ports?device_owner=network:router_interface")[1]["ports"][0]
    refused(core, api, "POST", url, {"floatingip": {
        "floating_network_id": w["ext"]["id"], "port_id": interface["id"]}}, 400,
        "HTTPBadRequest")
    # an admin may choose the address; a taken one is a conflict
    ops = api.as_project("ops", admin=True)
    chosen = created(ops.post(url, {"floatingip": {"floating_network_id": w["ext"]["id"],
                                                   "floating_ip_address": "203.0.113.9"}}),
                     "floatingip")
    assert chosen["floating_ip_address"] == "203.0.113.9"
    refused(core, ops, "POST", url, {"floatingip": {"floating_network_id": w["ext"]["id"],
                                                    "floating_ip_address": "203.0.113.9"}},
            409, "IpAddressInUse")
