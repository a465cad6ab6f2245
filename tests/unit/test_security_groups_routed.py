"""Remote-group rules across a router (issue 13): a member of the default group on another
network of the same router is admitted, as Neutron does, and nobody else is: not a non-member
of the member's network, not another tenant's host with the member's very address routed in
by its own router, not a spoofed source arriving at the router from another of its networks.

Traced through the in-process switches the real overlay controller programs (conntrack
modelled), hop by hop through the tunnels. Tenant 1: networks A and B behind router R1;
tenant 2: network C, with A's addresses, behind R2, which also has a leg on B (a shared
network), so tenant 2's packets can reach B carrying a member's address.
"""
import itertools

import pytest

from controller.context import Context
from controller.logical import Router, RouterInterface, SecurityGroup, SecurityGroupRule
from controller.plugin import Change
from apps.openflow import OpenFlowPlugin
from simulations.fakecloud import FakeCloud, StatusBoard
from simulations.fixtures import network, port
from tunnel.mesh import tunnel_port_name

IPV4, TCP, SYN = 0x0800, 6, 0x02
NETS = {"A": (101, "10.0.1.0/24"), "B": (102, "10.0.2.0/24"), "C": (201, "10.0.1.0/24"),
        "D": (103, "10.0.3.0/24")}
# (router, network): (MAC, address)
LEGS = {("R1", "A"): ("fa:16:3e:aa:00:01", "10.0.1.1"),
        ("R1", "B"): ("fa:16:3e:bb:00:01", "10.0.2.1"),
        ("R1", "D"): ("fa:16:3e:dd:00:01", "10.0.3.1"),
        ("R2", "C"): ("fa:16:3e:cc:00:01", "10.0.1.1"),
        ("R2", "B"): ("fa:16:3e:bb:00:02", "10.0.2.2")}
# vm: (network, MAC, address, hypervisor, groups, port security)
VMS = {"a": ("A", "fa:16:3e:00:0a:01", "10.0.1.10", "hv1", ("default",), True),
       "n": ("A", "fa:16:3e:00:0a:02", "10.0.1.20", "hv1", ("quiet",), True),
       "b": ("B", "fa:16:3e:00:0b:01", "10.0.2.10", "hv2", ("default",), True),
       "c": ("C", "fa:16:3e:00:0c:01", "10.0.1.10", "hv3", ("default2",), True),
       "d": ("D", "fa:16:3e:00:0d:01", "10.0.3.10", "hv3", (), False)}


def rule(rid, direction, remote_group_id=None):
    return SecurityGroupRule(rid, direction, "IPv4", remote_group_id=remote_group_id)


def default_group(gid, project):
    return SecurityGroup(gid, project, rules=(rule(f"{gid}-in", "ingress", gid),
                                              rule(f"{gid}-out", "egress")))


GROUPS = (default_group("default", "t1"), default_group("default2", "t2"),
          SecurityGroup("quiet", "t1", rules=(rule("quiet-out", "egress"),)))


def router(router_id, zone, project, *nets):
    itfs = []
    for net in nets:
        mac, ip = LEGS[(router_id, net)]
        itfs.append(RouterInterface(f"{router_id}-{net}", f"sub-{net}", net, mac, ip,
                                    NETS[net][1]))
    return Router(router_id, project, True, zone, True, tuple(itfs), None, ())


class World:
    """Three hypervisors under the real overlay controller, fed Changes as the core would."""

    def __init__(self):
        self.plugin = OpenFlowPlugin()
        self.plugin.core = StatusBoard()
        self.cloud = FakeCloud(self.plugin)
        for h in (1, 2, 3):
            self.cloud.add_hypervisor(f"hv{h}", f"172.16.0.{h}", h)
        for g in GROUPS:
            self.put("security_group", g)
        for name, (vni, cidr) in NETS.items():
            net, sub = network(name, vni, cidr=cidr, gateway=cidr[:-4] + "1")
            self.put("network", net)
            self.put("subnet", sub)
        for (r, net), (mac, ip) in LEGS.items():
            self.put("port", port(f"{r}-{net}", net, mac, ip, router=True))
        self.ofport = {}
        for vm, (net, mac, ip, hv, groups, security) in VMS.items():
            self.put("port", port(f"p-{vm}", net, mac, ip, f"vm-{vm}", security=security,
                                  security_groups=groups))
            self.ofport[vm] = self.cloud.plug(hv, f"tap-{vm}", f"vm-{vm}")
        self.put("router", router("R1", 1, "t1", "A", "B", "D"))
        self.put("router", router("R2", 2, "t2", "C", "B"))
        self.cloud.settle()

    def put(self, resource, value, before=None):
        self.plugin.notify(Change(resource, "update" if before else "create", Context.admin(),
                                  None, None, before, value))

    def switch(self, hv):
        return self.cloud.hypervisors[hv].dp.switch

    def tunnel(self, src, dst):
        name = tunnel_port_name(self.cloud.hypervisors[dst].tunnel_ip)
        return self.cloud.hypervisors[src].ports[name]["ofport"]

    sports = itertools.count(40000)

    def routed(self, vm, router_id, dst, src_ip=None):
        """The trace, on ``vm``'s hypervisor, of a TCP SYN of a new connection from ``vm``
        (claiming ``src_ip``) through ``router_id`` to ``dst`` (a cut connection stays cut:
        each check is a connection of its own)."""
        net, mac, ip, hv = VMS[vm][:4]
        fields = dict(eth_src=mac, eth_dst=LEGS[(router_id, net)][0], eth_type=IPV4,
                      ipv4_src=src_ip or ip, ipv4_dst=VMS[dst][2], ip_proto=TCP,
                      tcp_src=next(self.sports), tcp_dst=22, tcp_flags=SYN, nw_ttl=64)
        return self.switch(hv).trace(self.ofport[vm], **fields)

    def connects(self, vm, router_id, dst, src_ip=None):
        """Whether that SYN reaches ``dst``'s port, following the tunnel to ``dst``'s
        hypervisor."""
        hv, dhv = VMS[vm][3], VMS[dst][3]
        out = self.routed(vm, router_id, dst, src_ip)
        if hv != dhv:
            if out.output_ports() != [self.tunnel(hv, dhv)]:
                return False
            fields = dict(out.outputs[0].fields)
            fields.pop("in_port")
            out = self.switch(dhv).trace(self.tunnel(dhv, hv), **fields)
        return out.output_ports() == [self.ofport[dst]]


@pytest.fixture(scope="module")
def world():
    return World()


def test_a_member_on_another_network_of_the_router_is_admitted_both_ways(world):
    assert world.connects("a", "R1", "b")
    assert world.connects("b", "R1", "a")


def test_a_non_member_of_the_members_network_is_refused(world):
    assert not world.connects("n", "R1", "b")


def test_another_tenant_with_the_members_address_is_refused(world):
    # c claims a's very address, reaches B through its own router R2: not R1's MAC, no member
    assert not world.connects("c", "R2", "b")


def test_a_spoofed_member_address_from_another_network_of_the_router_is_dropped(world):
    # d has no port security and claims a's address: R1 drops what claims A's subnet from D
    assert world.routed("d", "R1", "b", src_ip="10.0.1.10").dropped
    assert not world.connects("d", "R1", "b", src_ip="10.0.1.10")
    # with its own address it is routed (and then refused at b: not a member)
    assert world.routed("d", "R1", "b").output_ports() == [world.tunnel("hv3", "hv2")]
    assert not world.connects("d", "R1", "b")


def test_a_member_leaving_its_group_is_refused_through_the_router(world):
    old = world.plugin.model.ports["p-a"]
    net, mac, ip, hv, groups, security = VMS["a"]
    world.put("port", port("p-a", net, mac, ip, "vm-a", security_groups=("quiet",)),
              before=old)
    world.cloud.settle()
    try:
        assert not world.connects("a", "R1", "b")
    finally:
        world.put("port", old, before=world.plugin.model.ports["p-a"])
        world.cloud.settle()
    assert world.connects("a", "R1", "b")


def member_flows_via(world, router_mac):
    """Member address flows (conjunction clause 2) that match a router's MAC, on any switch."""
    mac = int(router_mac.replace(":", ""), 16)
    return [e for hv in ("hv1", "hv2", "hv3") for e in world.switch(hv).iter_flows()
            if ("eth_src", mac, None) in e.match
            and any(k == "ipv4_src" for k, _, _ in e.match)]


def test_the_routed_member_flows_follow_the_routers_interfaces(world):
    r1_on_b = LEGS[("R1", "B")][0]
    assert member_flows_via(world, r1_on_b)
    old = world.plugin.model.routers["R1"]
    world.put("router", router("R1", 1, "t1", "A", "D"), before=old)
    world.cloud.settle()
    try:
        assert member_flows_via(world, r1_on_b) == []
    finally:
        world.put("router", old, before=world.plugin.model.routers["R1"])
        world.cloud.settle()
    assert member_flows_via(world, r1_on_b)
    assert world.connects("a", "R1", "b")
