"""The back-end's typed logical model (controller/logical.py): built alike from API bodies and from
the tables, binding profiles parsed once, and no API attribute name read below the controller."""
import ast
import pathlib

import pytest

from controller import logical
from controller.context import Context

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: packages that program switches: they read typed values only
BACK_END = ("apps", "topology", "tunnel")
#: attribute names of the API's bodies (plus any name with a colon, e.g. binding:profile)
API_NAMES = {"fixed_ips", "mac_address", "admin_state_up", "port_security_enabled",
             "allowed_address_pairs", "cidr", "gateway_ip", "dns_nameservers", "host_routes",
             "enable_dhcp", "ip_version", "network_id", "subnet_id", "ip_address",
             "qos_policy_id", "segmentation_id", "attachment", "device_owner", "device_id",
             "tenant_id", "project_id", "status", "rules", "max_kbps", "max_burst_kbps",
             "direction", "revision_number", "security_groups", "security_group_rules",
             "security_group_id", "remote_group_id", "remote_ip_prefix", "port_range_min",
             "port_range_max", "ethertype", "stateful"}


# -- binding profiles ------------------------------------------------------------------------
@pytest.mark.parametrize("profile,expected", [
    ({}, None), (None, None), ({"other": 1}, None),
    ({"datapath_id": "000000000000000a", "port_number": 3}, (10, 3)),
    ({"datapath_id": 10, "port_name": "s10-eth3"}, (10, "s10-eth3")),
    ({"datapath_id": "0x1f", "port_number": 1}, (31, 1))])
def test_a_binding_profile_names_a_switch_port(profile, expected):
    binding = logical.binding_of(profile)
    assert binding.switch_port == expected and binding.invalid is None


@pytest.mark.parametrize("profile", [
    {"datapath_id": "zz", "port_number": 1}, {"datapath_id": 0, "port_number": 1},
    {"datapath_id": None, "port_number": 1}, {"datapath_id": [1], "port_number": 1},
    {"datapath_id": 1}, {"datapath_id": 1, "port_number": 1, "port_name": "x"},
    {"datapath_id": 1, "port_number": -2}, {"datapath_id": 1, "port_number": True},
    {"datapath_id": 1, "port_name": ""}])
def test_a_bad_binding_profile_says_why_and_names_no_port(profile):
    binding = logical.binding_of(profile)
    assert binding.switch_port is None and "binding:profile" in binding.invalid
    hash(binding)           # a port and its binding may be kept in sets and dict keys


# -- the two ways in agree -------------------------------------------------------------------
def test_changes_and_the_snapshot_give_the_same_values(core, alice):
    """What a plug-in is told (Change.after, from the API body) and what it boots from
    (Core.logical_snapshot, from the tables) are the same values."""
    admin = Context.admin()
    seen = []
    core.plugin.notify = seen.append
    policy = core.qos.create(admin, {"name": "gold", "project_id": "alice"})
    core.qos_rules.within(admin, policy["id"]).create(
        admin, {"max_kbps": 1000, "direction": "ingress"})
    net = core.networks.create(alice, {"name": "n", "qos_policy_id": policy["id"]})
    core.subnets.create(alice, {"network_id": net["id"], "cidr": "10.1.0.0/24",
                                "ip_version": 4, "dns_nameservers": ["10.1.0.53"],
                                "host_routes": [{"destination": "10.2.0.0/16",
                                                 "nexthop": "10.1.0.254"}]})
    core.subnets.create(alice, {"network_id": net["id"], "cidr": "fd00::/64", "ip_version": 6})
    web = core.security_groups.create(alice, {"name": "web", "stateful": False})
    core.security_group_rules.create(alice, {
        "security_group_id": web["id"], "direction": "ingress", "protocol": "tcp",
        "port_range_min": 80, "port_range_max": 81, "remote_ip_prefix": "10.9.0.7/24"})
    core.security_group_rules.create(alice, {
        "security_group_id": web["id"], "direction": "ingress", "ethertype": "IPv6",
        "protocol": "icmp", "port_range_min": 128, "remote_group_id": web["id"]})
    port = core.ports.create(admin, {
        "network_id": net["id"], "tenant_id": "alice", "attachment": "vm-1",
        "allowed_address_pairs": [{"ip_address": "10.1.0.0/28"}],
        "binding:profile": {"datapath_id": "0x2", "port_name": "s2-eth1"},
        "security_groups": [web["id"]]})
    core.ports.report_status(port["id"], "ACTIVE", "hv1", "0000000000000002", 1)

    told = {}
    for change in seen:
        told[change.subject.id] = change.after
    snap = core.logical_snapshot()
    booted = {v.id: v for v in (*snap.networks, *snap.subnets, *snap.ports, *snap.qos_policies,
                                *snap.security_groups)}
    assert booted == told
    typed = booted[port["id"]]
    assert (typed.ipv4, len(typed.ipv6), typed.pairs) == (
        (port["fixed_ips"][0]["ip_address"],), 1, ((port["mac_address"], "10.1.0.0/28"),))
    assert typed.binding == told[port["id"]].binding == logical.Binding(2, port_name="s2-eth1")
    assert booted[policy["id"]].bandwidth_limits == (logical.BandwidthLimit("ingress", 1000),)
    assert snap.active_hosts == {"hv1"}
    assert typed.security_groups == (web["id"],)
    group = booted[web["id"]]
    assert group.stateful is False
    assert {(r.direction, r.ethertype, r.protocol, r.port_min, r.port_max, r.remote_prefix,
             r.remote_group_id) for r in group.rules} == {
        ("egress", "IPv4", None, None, None, None, None),
        ("egress", "IPv6", None, None, None, None, None),
        ("ingress", "IPv4", 6, 80, 81, "10.9.0.0/24", None),
        ("ingress", "IPv6", 58, 128, None, None, web["id"])}
    assert len(snap.security_groups) == 2       # and alice's default group, made on first use


@pytest.mark.parametrize("protocol,number", [
    (None, None), ("tcp", 6), ("udp", 17), ("icmp", 1), ("ipv6-icmp", 58), ("icmpv6", 58),
    ("sctp", 132), ("47", 47), (0, 0), ("255", 255)])
def test_a_rule_protocol_is_a_number(protocol, number):
    assert logical.protocol_number(protocol) == number


def test_a_port_without_port_security_is_in_no_group():
    port = logical.make_port("p", "n", "fa:16:3e:00:00:01", ["10.0.0.2"], False, [], True,
                             None, None, {}, security_groups=["b", "a"])
    assert port.security_groups == ()
    port = logical.make_port("p", "n", "fa:16:3e:00:00:01", ["10.0.0.2"], True, [], True,
                             None, None, {}, security_groups=["b", "a"])
    assert port.security_groups == ("a", "b")


def test_a_delete_carries_what_was_deleted(core, alice):
    seen = []
    core.plugin.notify = seen.append
    net = core.networks.create(alice, {"name": "n"})
    core.networks.delete(alice, net["id"])
    assert isinstance(seen[-1].before, logical.Network) and seen[-1].after is None
    assert seen[-1].subject.id == net["id"]


# -- no API names below the controller ---------------------------------------------------------
def api_names_read(source):
    """(line, name) of each API attribute name ``source`` reads from a dict: as a subscript,
    or as the key of get/pop/setdefault."""
    found = []
    for node in ast.walk(ast.parse(source)):
        key = None
        if isinstance(node, ast.Subscript):
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("get", "pop", "setdefault") and node.args:
            key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and \
                (":" in key.value or key.value in API_NAMES):
            found.append((node.lineno, key.value))
    return found


def test_the_scan_finds_api_names():
    assert api_names_read('p["binding:profile"]\nn.get("provider:segmentation_id")\n'
                          'x = s["cidr"]\nr.pop("fixed_ips", None)\n') == [
        (1, "binding:profile"), (2, "provider:segmentation_id"), (3, "cidr"), (4, "fixed_ips")]
    assert api_names_read('port.binding\nrow["external_ids"]\n') == []


@pytest.mark.parametrize("package", BACK_END)
def test_the_back_end_reads_no_api_attribute_names(package):
    offending = [f"{path.relative_to(ROOT)}:{line}: {name}"
                 for path in sorted((ROOT / package).rglob("*.py"))
                 for line, name in api_names_read(path.read_text())]
    assert offending == [], "read typed values (controller/logical.py) instead"


def test_a_router_is_built_from_its_ports_addresses():
    """The gateway is the gateway port's IPv4 address, interfaces come sorted, routes typed."""
    gw = logical.ROUTER_GATEWAY
    inside = logical.ROUTER_INTERFACE
    router = logical.make_router("r", "alice", True, 7, False,
                                 [{"destination": "10.9.0.0/16", "nexthop": "10.1.0.9"}], [
                                     (inside, "p2", "s2", "n2", "fa:16:3e:00:00:02",
                                      "10.2.0.1", "10.2.0.0/24"),
                                     (gw, "pg", "sx6", "nx", "fa:16:3e:00:00:09",
                                      "2001:db8::5", "2001:db8::/64"),
                                     (gw, "pg", "sx", "nx", "fa:16:3e:00:00:09",
                                      "203.0.113.5", "203.0.113.0/24"),
                                     (inside, "p1", "s1", "n1", "fa:16:3e:00:00:01",
                                      "10.1.0.1", "10.1.0.0/24")])
    assert [i.subnet_id for i in router.interfaces] == ["s1", "s2"]
    assert router.gateway == logical.RouterInterface("pg", "sx", "nx", "fa:16:3e:00:00:09",
                                                     "203.0.113.5", "203.0.113.0/24")
    assert (router.zone, router.snat, router.routes) == (7, False, (("10.9.0.0/16",
                                                                     "10.1.0.9"),))
    assert logical.make_router("r", "alice", True, 7, True, [], ()).gateway is None


def test_routers_and_floating_ips_are_told_as_they_boot(core, alice):
    """Every router and floating IP Change carries the value the snapshot reads back."""
    admin = Context("ops", is_admin=True)
    seen = []
    core.plugin.notify = seen.append
    ext = core.networks.create(admin, {"router:external": True})
    core.subnets.create(admin, {"network_id": ext["id"], "cidr": "198.51.100.0/24"})
    net = core.networks.create(alice, {})
    sub = core.subnets.create(alice, {"network_id": net["id"], "cidr": "10.3.0.0/24"})
    router = core.routers.create(alice, {"external_gateway_info": {"network_id": ext["id"]}})
    core.routers.add_router_interface(alice, router["id"], {"subnet_id": sub["id"]})
    core.routers.update(alice, router["id"], {"routes": [{"destination": "10.8.0.0/16",
                                                          "nexthop": "10.3.0.8"}]})
    port = core.ports.create(alice, {"network_id": net["id"]})
    core.floating_ips.create(alice, {"floating_network_id": ext["id"], "port_id": port["id"]})
    told = {c.subject.id: c.after for c in seen}
    snap = core.logical_snapshot()
    booted = {v.id: v for v in (*snap.networks, *snap.ports, *snap.routers,
                                *snap.floating_ips)}
    assert {k: told[k] for k in booted} == booted
    [typed] = snap.routers
    assert typed.interfaces[0].ip == sub["gateway_ip"] and typed.gateway is not None
    assert snap.networks[[n.id for n in snap.networks].index(ext["id"])].external
