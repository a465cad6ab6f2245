"""IPv6 routing between a router's IPv6 subnets (apps/l3.py), traced through the in-process
switches the real overlay controller programs, as test_routing.py does for IPv4: routed on the
sending hypervisor (MACs, hop limit, VNI), the router's addresses answer neighbour
solicitations (through the controller) and ICMPv6 echo, hop limit 1 is answered ICMPv6 time
exceeded and no route destination unreachable, the spoof guard covers IPv6, and nothing goes
through the gateway (no NAT for IPv6)."""
import dataclasses
from types import SimpleNamespace

import pytest
from os_ken.lib.packet import ethernet, icmpv6, ipv6, packet
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps import pipeline as pl
from apps.flows import link_local
from controller.logical import RouterInterface, Subnet
from simulations.fixtures import port, serialize
from tests.unit import test_security_groups_routed as sgr
from tests.unit.test_routing import NETS, RMAC, VM, World, matching

IPV6, ICMPV6, TCP = 0x86DD, 58, 6
V6 = {"A": "fd00:1::/64", "B": "fd00:2::/64", "C": "fd00:1::/64"}
VM6 = {"a": "fd00:1::10", "b": "fd00:2::10", "c": "fd00:1::10", "s": "fd00:2::20"}


def gateway6(net):
    return V6[net][:-3] + "1"


class DualStack(World):
    """World with an IPv6 subnet on every network: the routers' ports and the VMs' have an
    address in each; vm s on B (hv2) has no port security (it may claim any source)."""

    def __init__(self):
        super().__init__()
        for name in NETS:
            self.put("subnet", Subnet(f"sub6-{name}", name, 6, V6[name], gateway6(name), False))
            self.put("port", port(f"r-{name}", name, RMAC[name],
                                  (NETS[name][1][:-4] + "1", gateway6(name)), router=True))
        for vm, (net, mac, ip, hv) in VM.items():
            self.put("port", port(f"p-{vm}", net, mac, (ip, VM6[vm]), f"vm-{vm}"))
        self.vms["s"] = ("B", "fa:16:3e:00:0b:02", "10.0.2.20", "hv2")
        self.put("port", port("p-s", "B", "fa:16:3e:00:0b:02", ("10.0.2.20", VM6["s"]),
                              "vm-s", security=False))
        self.ofport["s"] = self.cloud.plug("hv2", "tap-s", "vm-s")
        for rid, nets in (("R1", "AB"), ("R2", "C")):
            old = self.plugin.model.routers[rid]
            v6 = tuple(RouterInterface(f"r-{n}", f"sub6-{n}", n, RMAC[n], gateway6(n), V6[n])
                       for n in nets)
            self.put("router", dataclasses.replace(old, interfaces=tuple(sorted(
                old.interfaces + v6, key=lambda i: (i.subnet_id, i.port_id)))), before=old)
        self.cloud.settle()

    def send6(self, vm, dst_ip, dst_mac=None, hop_limit=64, src=None, **extra):
        """What ``vm`` sends to ``dst_ip`` through its router: an ICMPv6 echo request unless
        ``extra`` says otherwise."""
        net, mac, _, hv = self.vms[vm]
        fields = dict(eth_src=mac, eth_dst=dst_mac or RMAC[net], eth_type=IPV6,
                      ipv6_src=src or VM6[vm], ipv6_dst=dst_ip, ip_proto=ICMPV6,
                      icmpv6_type=128, nw_ttl=hop_limit)
        fields.update(extra)
        return self.switch(hv).trace(self.ofport[vm], **fields)

    def packet_in(self, vm, table, frame):
        """Hand ``frame`` to the controller as ``vm``'s switch would from ``table``; returns
        what the controller sent back (a packet-out) or None."""
        net, _, _, hv = self.vms[vm]
        dp = self.cloud.hypervisors[hv].dp
        before = len(dp.switch.packet_outs)
        match = parser.OFPMatch(in_port=self.ofport[vm], metadata=NETS[net][0], reg2=1)
        self.cloud.controller._packet_in(SimpleNamespace(msg=parser.OFPPacketIn(
            dp, table_id=pl.TABLES[table].number, match=match, data=frame)))
        outs = dp.switch.packet_outs[before:]
        return outs[-1] if outs else None


@pytest.fixture
def world():
    return DualStack()


def echo6(src_mac, dst_mac, src, dst, hop_limit=64):
    return serialize(ethernet.ethernet(dst_mac, src_mac, IPV6),
                     ipv6.ipv6(src=src, dst=dst, nxt=ICMPV6, hop_limit=hop_limit),
                     icmpv6.icmpv6(type_=128, data=icmpv6.echo(id_=7, seq=1, data=b"x" * 16)))


def test_ipv6_east_west_is_routed_on_the_sending_hypervisor(world):
    out = world.send6("a", VM6["b"], ip_proto=TCP, tcp_src=5000, tcp_dst=80)
    assert out.output_ports() == [world.tunnel("hv1", "hv2")], out.describe()
    f = out.outputs[0].fields
    assert (f["tunnel_id"], f["eth_src"], f["eth_dst"], f["nw_ttl"], f["ipv6_dst"]) == \
        (102, RMAC["B"], VM["b"][1], 63, VM6["b"])
    f.pop("in_port")
    back = world.switch("hv2").trace(world.tunnel("hv2", "hv1"), **f)
    assert back.output_ports() == [world.ofport["b"]], back.describe()
    # and the answer is routed on its own sending hypervisor
    reply = world.send6("b", VM6["a"], icmpv6_type=129)
    assert reply.output_ports() == [world.tunnel("hv2", "hv1")], reply.describe()
    assert reply.outputs[0].fields["eth_dst"] == VM["a"][1]


@pytest.mark.parametrize("target", ["fd00:1::1", "fd00:2::1"])
def test_router_ipv6_addresses_answer_echo(world, target):
    expected = {"eth_src": RMAC["A"], "eth_dst": VM["a"][1], "ipv6_src": target,
                "ipv6_dst": VM6["a"], "icmpv6_type": 129}
    [answer] = world.send6("a", target).outputs_to(world.ofport["a"])
    assert {k: answer[k] for k in expected} == expected


def test_router_ipv6_address_answers_neighbour_solicitation(world):
    net, mac, _, hv = VM["a"]
    solicited = "33:33:ff:00:00:01"
    out = world.switch(hv).trace(world.ofport["a"], eth_src=mac, eth_dst=solicited,
                                 eth_type=IPV6, ipv6_src=VM6["a"], ipv6_dst="ff02::1:ff00:1",
                                 ip_proto=ICMPV6, icmpv6_type=135, ipv6_nd_target="fd00:1::1",
                                 ipv6_nd_sll=mac, nw_ttl=255)
    assert out.output_ports() == [] and out.sent_to_controller(ipv6_nd_target="fd00:1::1")
    ns = serialize(ethernet.ethernet(solicited, mac, IPV6),
                   ipv6.ipv6(src=VM6["a"], dst="ff02::1:ff00:1", nxt=ICMPV6, hop_limit=255),
                   icmpv6.icmpv6(type_=135, data=icmpv6.nd_neighbor(
                       dst="fd00:1::1", option=icmpv6.nd_option_sla(hw_src=mac))))
    reply = world.packet_in("a", "arp_responder", ns)
    assert [a.port for a in reply.actions] == [world.ofport["a"]]
    got = packet.Packet(reply.data)
    eth, ip, na = (got.get_protocol(p) for p in (ethernet.ethernet, ipv6.ipv6, icmpv6.icmpv6))
    assert (eth.src, eth.dst, ip.src, ip.dst, ip.hop_limit) == \
        (RMAC["A"], mac, "fd00:1::1", VM6["a"], 255)
    assert (na.type_, na.data.dst, na.data.res, na.data.option.hw_src) == \
        (136, "fd00:1::1", 0b111, RMAC["A"])
    # a solicitation for another VM's address is none of the router's business
    out = world.switch(hv).trace(world.ofport["a"], eth_src=mac, eth_dst="33:33:ff:00:00:10",
                                 eth_type=IPV6, ipv6_src=VM6["a"], ipv6_dst="ff02::1:ff00:10",
                                 ip_proto=ICMPV6, icmpv6_type=135, ipv6_nd_target="fd00:1::99",
                                 ipv6_nd_sll=mac, nw_ttl=255)
    assert not out.sent_to_controller()


def test_hop_limit_that_would_run_out_is_answered_time_exceeded(world):
    assert not world.send6("a", VM6["b"], hop_limit=2).dropped
    out = world.send6("a", VM6["b"], hop_limit=1)
    assert out.output_ports() == [] and out.sent_to_controller(nw_ttl=1)
    assert world.send6("a", VM6["b"], hop_limit=0).dropped
    net, mac, _, _ = VM["a"]
    reply = world.packet_in("a", "ip_routing", echo6(mac, RMAC["A"], VM6["a"], VM6["b"], 1))
    assert [a.port for a in reply.actions] == [world.ofport["a"]]
    got = packet.Packet(reply.data)
    ip, err = got.get_protocol(ipv6.ipv6), got.get_protocol(icmpv6.icmpv6)
    assert (ip.src, ip.dst, err.type_, err.code, got.get_protocol(ethernet.ethernet).src) == \
        ("fd00:1::1", VM6["a"], 3, 0, RMAC["A"])
    # an ICMPv6 error whose hop limit runs out gets none
    error = serialize(ethernet.ethernet(RMAC["A"], mac, IPV6),
                      ipv6.ipv6(src=VM6["a"], dst=VM6["b"], nxt=ICMPV6, hop_limit=1),
                      icmpv6.icmpv6(type_=1, code=3, data=bytes(4) + b"y" * 48))
    assert world.packet_in("a", "ip_routing", error) is None


def test_no_ipv6_route_is_answered_destination_unreachable(world):
    # nothing leaves through a gateway in IPv6 (no NAT): beyond the router's subnets, no route
    out = world.send6("a", "2001:db8::7")
    assert out.output_ports() == [] and out.sent_to_controller()
    net, mac, _, _ = VM["a"]
    reply = world.packet_in("a", "ip_routing", echo6(mac, RMAC["A"], VM6["a"], "2001:db8::7"))
    got = packet.Packet(reply.data)
    assert (got.get_protocol(ipv6.ipv6).src, got.get_protocol(icmpv6.icmpv6).type_,
            got.get_protocol(icmpv6.icmpv6).code) == ("fd00:1::1", 1, 0)


def test_the_spoof_guard_covers_ipv6(world):
    # s (no port security) on B claims a source in A's IPv6 subnet: the router drops it
    assert not world.send6("s", VM6["a"]).dropped
    assert world.send6("s", VM6["a"], src="fd00:1::99").dropped


def test_tenants_with_the_same_ipv6_addresses_never_reach_each_other(world):
    # c has a's IPv6 address; its router R2 has no route to B's subnet
    assert world.send6("c", VM6["b"], dst_mac=RMAC["C"]).output_ports() == []
    assert world.send6("c", VM6["b"], dst_mac=RMAC["A"]).dropped
    assert matching(world.switch("hv3"), reg2=1) == []


def test_an_ipv6_extra_route_through_a_port_of_a_subnet(world):
    old = world.plugin.model.routers["R1"]
    world.put("router", dataclasses.replace(old, routes=(("fd00:7::/64", VM6["b"]),)),
              before=old)
    world.cloud.settle()
    out = world.send6("a", "fd00:7::5")
    assert out.output_ports() == [world.tunnel("hv1", "hv2")], out.describe()
    assert out.outputs[0].fields["eth_dst"] == VM["b"][1]


# -- security groups: routed IPv6 passes the same checks as IPv4 (test_security_groups_routed) --
class GroupsDualStack(sgr.World):
    """test_security_groups_routed's world with an IPv6 subnet on every network, IPv6
    addresses on every port and IPv6 rules beside the IPv4 ones in every group."""

    V6 = {"A": "fd00:1::", "B": "fd00:2::", "C": "fd00:1::", "D": "fd00:3::"}

    def __init__(self):
        super().__init__()
        for g in sgr.GROUPS:
            extra = tuple(dataclasses.replace(r, id=r.id + "-6", ethertype="IPv6")
                          for r in g.rules)
            self.put("security_group", dataclasses.replace(g, rules=g.rules + extra),
                     before=g)
        for name in sgr.NETS:
            self.put("subnet", Subnet(f"sub6-{name}", name, 6, self.V6[name] + "/64",
                                      None, False))
        for (r, net), (mac, ip) in sgr.LEGS.items():
            self.put("port", port(f"{r}-{net}", net, mac, (ip, self.v6_of(r, net)),
                                  router=True))
        for vm, (net, mac, ip, hv, groups, security) in sgr.VMS.items():
            self.put("port", port(f"p-{vm}", net, mac, (ip, self.v6(vm)), f"vm-{vm}",
                                  security=security, security_groups=groups))
        for rid, zone, project, nets in (("R1", 1, "t1", "ABD"), ("R2", 2, "t2", "CB")):
            old = self.plugin.model.routers[rid]
            v6 = tuple(RouterInterface(f"{rid}-{n}", f"sub6-{n}", n, sgr.LEGS[(rid, n)][0],
                                       self.v6_of(rid, n), self.V6[n] + "/64") for n in nets)
            self.put("router", dataclasses.replace(old, interfaces=tuple(sorted(
                old.interfaces + v6, key=lambda i: (i.subnet_id, i.port_id)))), before=old)
        self.cloud.settle()

    def v6_of(self, router_id, net):
        """The router's IPv6 address on ``net``: its IPv4 address's last byte."""
        return self.V6[net] + sgr.LEGS[(router_id, net)][1].rsplit(".", 1)[1]

    def v6(self, vm):
        net, _, ip = sgr.VMS[vm][:3]
        return self.V6[net] + ip.rsplit(".", 1)[1]

    def routed(self, vm, router_id, dst, src_ip=None):
        net, mac, _, hv = sgr.VMS[vm][:4]
        fields = dict(eth_src=mac, eth_dst=sgr.LEGS[(router_id, net)][0], eth_type=IPV6,
                      ipv6_src=src_ip or self.v6(vm), ipv6_dst=self.v6(dst), ip_proto=TCP,
                      tcp_src=next(self.sports), tcp_dst=22, tcp_flags=sgr.SYN, nw_ttl=64)
        return self.switch(hv).trace(self.ofport[vm], **fields)


@pytest.fixture(scope="module")
def groups():
    return GroupsDualStack()


def test_routed_ipv6_passes_the_same_security_group_checks(groups):
    # members of the default group on two networks of R1: admitted both ways
    assert groups.connects("a", "R1", "b") and groups.connects("b", "R1", "a")
    # a non-member of the member's network, another tenant with the member's very address
    assert not groups.connects("n", "R1", "b")
    assert not groups.connects("c", "R2", "b")
    # a member's address claimed from another network of the router: dropped by R1
    assert groups.routed("d", "R1", "b", src_ip=groups.v6("a")).dropped
    assert groups.routed("d", "R1", "b").output_ports() == [groups.tunnel("hv3", "hv2")]
    assert not groups.connects("d", "R1", "b")


def test_a_router_without_ipv6_subnets_sends_no_ipv6_up():
    # World's routers are IPv4 only: IPv6 to their MAC is nobody's, not the controller's
    # (World's VMs are IPv4-only too, so their port security drops it first)
    world = World()
    out = world.switch("hv1").trace(world.ofport["a"], eth_src=VM["a"][1], eth_dst=RMAC["A"],
                                    eth_type=IPV6, ipv6_src=link_local(VM["a"][1]),
                                    ipv6_dst="2001:db8::7",
                                    ip_proto=ICMPV6, icmpv6_type=128, nw_ttl=64)
    assert out.dropped and not out.packet_ins, out.describe()
    assert not [e for e in world.switch("hv1").iter_flows()
                if ("eth_type", IPV6, None) in e.match and e.table_id in
                (pl.TABLES["router_in"].number, pl.TABLES["ip_routing"].number)]
