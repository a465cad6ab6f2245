"""Routers end to end (issue 12): a real ``qnet serve`` programs three namespaced hypervisors;
two tenants with the same CIDRs sit behind their own routers on one external network, which
hv1 and hv2 reach through a bridge mapping and where an "outside" host plays the internet.

One set-up, the issue's checks in order: east-west across hypervisors (ping and TCP, and
ICMP time exceeded from the router when the TTL runs out) between members of the tenant's
default security group on two subnets (a remote-group rule admits routed members), SNAT
to the outside (it sees the router's gateway IP), the outside reaching a floating IP (and its
replies coming back), the floating IP moved to another VM (timed), the tenants never reaching
each other's private addresses, and a router without its gateway answering ICMP net
unreachable, then deleted, leaving no flow and no conntrack zone.
"""
import os
import re
import time

import pytest

from qnetclient import Client
from simulations.lab import check
from simulations.lab.nodes import LabError, wait_for
from simulations.serve import QnetServer

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="!!! LAB TESTS SKIPPED: not root (namespaces, OVS daemons) !!!")

V2 = "/v2.0"
TENANTS = {"t1": (10, 99), "t2": (100, 199)}   # same CIDRs, disjoint pools
# (tenant, vm) -> (network, hypervisor); hv3 has no bridge mapping
VMS = {("t1", "a1"): ("a", "hv1"), ("t1", "b1"): ("b", "hv2"), ("t1", "a3"): ("a", "hv3"),
       ("t2", "a1"): ("a", "hv2"), ("t2", "b1"): ("b", "hv3")}
ROUTER_TABLES = range(11, 18)
FIP_VMS = {("t1", "b1"), ("t1", "a3")}     # reached from the outside through a floating IP


def created(client, path, key, body):
    return client.request("POST", f"{V2}/{path}", {key: body})[key]


def build(ctl, lab):
    """The API calls of the scenario; returns (clients, routers, ports, external network)."""
    admin = Client(ctl.url, project="admin", admin=True)
    ext = created(admin, "networks", "network", {
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "physnet1"})
    created(admin, "subnets", "subnet", {
        "network_id": ext["id"], "cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.254",
        "enable_dhcp": False,
        "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.99"}]})
    clients, routers, ports = {}, {}, {}
    for tenant, (low, high) in TENANTS.items():
        c = clients[tenant] = Client(ctl.url, project=tenant)
        router = routers[tenant] = created(c, "routers", "router", {
            "name": f"{tenant}-router", "external_gateway_info": {"network_id": ext["id"]}})
        nets = {}
        for name, cidr in (("a", "10.0.1.0/24"), ("b", "10.0.2.0/24")):
            net = nets[name] = created(c, "networks", "network", {"name": name})
            prefix = cidr.rsplit(".", 1)[0]
            sub = created(c, "subnets", "subnet", {
                "network_id": net["id"], "cidr": cidr,
                "allocation_pools": [{"start": f"{prefix}.{low}", "end": f"{prefix}.{high}"}]})
            c.request("PUT", f"{V2}/routers/{router['id']}/add_router_interface",
                      {"subnet_id": sub["id"]})
        # every VM is in its project's default group, which admits its members also across
        # the router (east-west); the floating IP's VMs also admit the outside, as a Neutron
        # user sets up for floating IPs (egress is open in every group)
        default = c.request("GET", f"{V2}/security-groups?name=default")["security_groups"]
        group = created(c, "security-groups", "security_group", {"name": "from-outside"})
        created(c, "security-group-rules", "security_group_rule", {
            "security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv4",
            "remote_ip_prefix": "203.0.113.0/24"})
        for (t, vm), (net, hv) in VMS.items():
            if t != tenant:
                continue
            groups = [default[0]["id"]] + ([group["id"]] if (t, vm) in FIP_VMS else [])
            port = ports[(t, vm)] = created(c, "ports", "port", {
                "network_id": nets[net]["id"], "security_groups": groups})
            ip = port["fixed_ips"][0]["ip_address"]
            host = lab.add_vm(f"{t}{vm}", hv, f"{ip}/24", mac=port["mac_address"],
                              iface_id=port["id"])
            host.cmd(f"ip route replace default via {ip.rsplit('.', 1)[0]}.1")
    return clients, routers, ports, ext


@pytest.fixture(scope="module")
def l3lab(tmp_path_factory):
    from simulations.lab.outside import add_outside
    from simulations.lab.topo import start_lab
    tmp = tmp_path_factory.mktemp("l3")
    ctl = QnetServer(tmp, plugin="openflow", log_level="INFO").start()
    try:
        with start_lab(hypervisors=3, subnets=2) as lab:
            outside = add_outside(lab, ["hv1", "hv2"])
            lab.connect(ctl)
            clients, routers, ports, ext = build(ctl, lab)
            for (t, vm), port in ports.items():
                wait_for(lambda p=port, c=clients[t]: c.request(
                    "GET", f"{V2}/ports/{p['id']}")["port"]["status"] == "ACTIVE",
                    timeout=30, what=f"{t}{vm} ACTIVE")
            yield lab, outside, clients, routers, ports, ext
    finally:
        ctl.stop()


def ip_of(port):
    return port["fixed_ips"][0]["ip_address"]


def gateway_ip(router):
    return router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]


def test_east_west_between_a_tenants_subnets_across_hypervisors(l3lab):
    lab, _, _, _, ports, _ = l3lab
    a1, b1 = lab["t1a1"], lab["t1b1"]
    assert check.wait_ping(a1, ip_of(ports[("t1", "b1")]))
    assert check.tcp_transfer(a1, b1, ip_of(ports[("t1", "b1")]), nbytes=1 << 20)
    # the router's own address on the other subnet answers too
    assert check.ping(a1, "10.0.2.1")
    # and a TTL that runs out on the router is answered from its address on a1's subnet
    out = a1.cmd(f"ping -n -c1 -W2 -t1 {ip_of(ports[('t1', 'b1')])}")
    assert "From 10.0.1.1" in out and "Time to live exceeded" in out, out


def test_ipv6_east_west_across_hypervisors(l3lab):
    """t1's networks get IPv6 subnets on its router and a1, b1 an IPv6 address each, set by
    hand in the VM (qnet sends no router advertisements): the router answers neighbour
    solicitation and ping6, routes a1 -> b1 from hv1 to hv2 through the default group (IPv6
    members across the router), and answers an expiring hop limit and a destination with no
    route in ICMPv6."""
    lab, _, clients, routers, ports, _ = l3lab
    c, router = clients["t1"], routers["t1"]
    v6 = {}
    for vm, prefix in (("a1", "fd00:1::"), ("b1", "fd00:2::")):
        port = ports[("t1", vm)]
        sub = created(c, "subnets", "subnet", {
            "network_id": port["network_id"], "ip_version": 6, "cidr": prefix + "/64",
            "gateway_ip": prefix + "1", "enable_dhcp": False})
        c.request("PUT", f"{V2}/routers/{router['id']}/add_router_interface",
                  {"subnet_id": sub["id"]})
        fixed = c.request("PUT", f"{V2}/ports/{port['id']}", {"port": {"fixed_ips": [
            *port["fixed_ips"], {"subnet_id": sub["id"]}]}})["port"]["fixed_ips"]
        v6[vm] = next(f["ip_address"] for f in fixed if ":" in f["ip_address"])
        host = lab[f"t1{vm}"]
        intf = host.defaultIntf().name
        host.cmd(f"sysctl -qw net.ipv6.conf.{intf}.disable_ipv6=0; "
                 f"ip -6 addr add {v6[vm]}/64 dev {intf} nodad; "
                 f"ip -6 route replace default via {prefix}1 dev {intf}")
    a1 = lab["t1a1"]
    assert wait_for(lambda: check.ping(a1, "fd00:1::1"), timeout=15, interval=0.2,
                    what="ping6 to the router's address")
    assert check.wait_ping(a1, v6["b1"])
    assert check.ping(a1, "fd00:2::1")
    out = a1.cmd(f"ping -6 -n -c1 -W2 -t1 {v6['b1']}")
    assert "From fd00:1::1" in out and "Time exceeded" in out, out
    out = a1.cmd("ping -6 -n -c1 -W2 2001:db8::7")
    assert "From fd00:1::1" in out and "No route" in out, out


@pytest.mark.parametrize("vm", ["a1", "a3"])   # on the gateway hypervisor, and handed over
def test_the_outside_sees_the_routers_gateway_ip(l3lab, vm):
    lab, outside, _, routers, _, _ = l3lab
    seen, told = wait_for(lambda: _try(check.peer_seen, lab[f"t1{vm}"], outside,
                                       "203.0.113.254"), timeout=15, interval=0.2,
                          what="SNAT to the outside")
    assert seen == told == gateway_ip(routers["t1"])


def _try(probe, *args, **kw):
    try:
        return probe(*args, **kw)
    except LabError:
        return None


def test_floating_ip_reaches_its_vm_and_follows_it_when_moved(l3lab):
    lab, outside, clients, _, ports, ext = l3lab
    c = clients["t1"]
    fip = created(c, "floatingips", "floatingip", {"floating_network_id": ext["id"],
                                                   "port_id": ports[("t1", "b1")]["id"]})
    address = fip["floating_ip_address"]
    b1, a3 = lab["t1b1"], lab["t1a3"]
    seen, told = wait_for(lambda: _try(check.peer_seen, outside, b1, address, timeout=2),
                          timeout=15, interval=0.1, what="the floating IP from outside")
    assert seen == told == "203.0.113.254"      # no NAT of the outside's address
    # and what the VM starts goes out as its floating IP
    assert check.peer_seen(lab["t1b1"], outside, "203.0.113.254")[0] == address
    start = time.monotonic()
    c.request("PUT", f"{V2}/floatingips/{fip['id']}",
              {"floatingip": {"port_id": ports[("t1", "a3")]["id"]}})
    seen, _ = wait_for(lambda: _try(check.peer_seen, outside, a3, address, timeout=1),
                       timeout=20, interval=0, what="the moved floating IP")
    print(f"\nfloating IP moved: reachable at its new VM after "
          f"{time.monotonic() - start:.2f} s")
    assert seen == "203.0.113.254"
    assert _try(check.peer_seen, outside, b1, address, timeout=1) is None


def test_tenants_never_reach_each_others_private_addresses(l3lab):
    lab, _, _, _, ports, _ = l3lab
    # the same CIDRs on both sides: each router routes only into its own tenant's subnets
    assert check.wait_ping(lab["t2a1"], ip_of(ports[("t2", "b1")]))
    for src, dst in ((("t2", "a1"), ("t1", "b1")), (("t1", "a1"), ("t2", "b1")),
                     (("t2", "b1"), ("t1", "a3"))):
        assert not check.ping(lab["".join(src)], ip_of(ports[dst]), count=2), (src, dst)


def test_deleting_a_router_leaves_no_flow_and_no_conntrack_zone(l3lab):
    lab, outside, clients, routers, _, _ = l3lab
    c, router = clients["t2"], routers["t2"]
    hv1 = lab["hv1"]                    # both routers' gateway hypervisor (lowest mapped)

    def zones(hv):
        dump = hv.appctl("dpctl/dump-conntrack", "-m")
        return {int(z) for z in re.findall(r"zone=(\d+)", dump) if int(z) >= 32768}
    before = zones(hv1)
    check.peer_seen(lab["t2a1"], outside, "203.0.113.254")   # through its SNAT: its zone
    mine = zones(hv1) - before
    assert mine, "the router's connection is in a zone of its own"
    keys = router_keys(lab)
    assert len(keys) == 2
    # without its gateway the router has no default route: what it cannot route is
    # answered ICMP net unreachable from its address on the sender's subnet
    c.request("PUT", f"{V2}/routers/{router['id']}", {"router": {"external_gateway_info": None}})
    out = wait_for(lambda: _unreachable(lab["t2a1"], "198.51.100.7"), timeout=15,
                   interval=0.2, what="net unreachable from the router")
    assert "From 10.0.1.1" in out, out
    for port in c.request("GET", f"{V2}/ports", params={"device_id": router["id"]})["ports"]:
        if port["device_owner"] == "network:router_interface":
            c.request("PUT", f"{V2}/routers/{router['id']}/remove_router_interface",
                      {"port_id": port["id"]})
    c.request("DELETE", f"{V2}/routers/{router['id']}")
    wait_for(lambda: len(router_keys(lab)) == 1, timeout=15, what="the router's flows to go")
    [gone] = keys - router_keys(lab)
    for hv in lab.hypervisors:
        assert f"reg2=0x{gone:x}" not in hv.ofctl("dump-flows", "br-int"), hv.name
        assert not zones(hv) & mine, hv.name


def _unreachable(vm, ip):
    """ping's output when it reports "Destination Net Unreachable" (ICMP type 3 code 0)."""
    out = vm.cmd(f"ping -n -c1 -W1 {ip}")
    return out if "Destination Net Unreachable" in out else None


def router_keys(lab):
    """The router keys (reg2 values) router_in still writes on any hypervisor."""
    keys = set()
    for hv in lab.hypervisors:
        keys |= set(re.findall(r"set_field:(0x[0-9a-f]+)->reg2",
                               hv.ofctl("dump-flows", "br-int")))
    return {int(k, 16) for k in keys}
