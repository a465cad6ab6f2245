"""Distributed routing (apps/l3.py), traced through the in-process switches the real overlay
controller programs: packets are routed on the hypervisor they were sent from, the router's
addresses answer ARP and ping, TTL runs out, tenants with the same addresses stay apart, and a
router that goes leaves nothing behind."""
import dataclasses
import ipaddress

from types import SimpleNamespace

import pytest
from os_ken.lib.packet import ethernet, icmp, ipv4, packet
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps import l3
from apps import pipeline as pl
from apps.ofmodel import packet_fields
from apps.openflow import OpenFlowPlugin
from controller.context import Context
from controller.logical import FloatingIP, Router, RouterInterface
from controller.plugin import Change
from simulations.fakecloud import FakeCloud, StatusBoard
from simulations.fixtures import network, port, serialize
from tunnel.mesh import tunnel_port_name

ARP, IPV4, ICMP = 0x0806, 0x0800, 1
ROUTER_TABLES = {pl.TABLES[n].number for n in ("router_in", "dnat", "ip_routing",
                                                "arp_resolve", "snat", "external_out")}
# tenant 1: networks A and B behind router R1; tenant 2: network C (A's addresses) behind R2
NETS = {"A": (101, "10.0.1.0/24"), "B": (102, "10.0.2.0/24"), "C": (201, "10.0.1.0/24")}
RMAC = {"A": "fa:16:3e:aa:00:01", "B": "fa:16:3e:bb:00:01", "C": "fa:16:3e:cc:00:01"}
VM = {"a": ("A", "fa:16:3e:00:0a:01", "10.0.1.10", "hv1"),
      "b": ("B", "fa:16:3e:00:0b:01", "10.0.2.10", "hv2"),
      "c": ("C", "fa:16:3e:00:0c:01", "10.0.1.10", "hv3")}


def interface(net):
    vni, cidr = NETS[net]
    return RouterInterface(f"r-{net}", f"sub-{net}", net, RMAC[net], cidr[:-4] + "1", cidr)


def router(router_id, zone, *nets, routes=()):
    return Router(router_id, "p", True, zone, True, tuple(interface(n) for n in nets), None,
                  routes)


class World:
    """Three hypervisors under the real overlay controller, the model fed as the core would
    (Changes of typed values)."""

    def __init__(self):
        self.plugin = OpenFlowPlugin()
        self.plugin.core = StatusBoard()
        self.cloud = FakeCloud(self.plugin)
        for h in (1, 2, 3):
            self.cloud.add_hypervisor(f"hv{h}", f"172.16.0.{h}", h)
        self.ofport, self.vms = {}, dict(VM)
        for name, (vni, cidr) in NETS.items():
            net, sub = network(name, vni, cidr=cidr, gateway=cidr[:-4] + "1")
            self.put("network", net)
            self.put("subnet", sub)
            self.put("port", port(f"r-{name}", name, RMAC[name], cidr[:-4] + "1",
                                  router=True))
        for vm, (net, mac, ip, hv) in self.vms.items():
            self.put("port", port(f"p-{vm}", net, mac, ip, f"vm-{vm}"))
            self.ofport[vm] = self.cloud.plug(hv, f"tap-{vm}", f"vm-{vm}")
        self.put("router", router("R1", 1, "A", "B"))
        self.put("router", router("R2", 2, "C"))
        self.cloud.settle()

    def put(self, resource, value, before=None):
        self.plugin.notify(Change(resource, "update" if before else "create", Context.admin(),
                                  None, None, before, value))

    def delete(self, resource, value):
        self.plugin.notify(Change(resource, "delete", Context.admin(), None, None, value,
                                  None))

    def switch(self, hv):
        return self.cloud.hypervisors[hv].dp.switch

    def tunnel(self, src, dst):
        name = tunnel_port_name(self.cloud.hypervisors[dst].tunnel_ip)
        return self.cloud.hypervisors[src].ports[name]["ofport"]

    def send(self, vm, dst_ip, dst_mac=None, ttl=64, **extra):
        """What VM ``vm`` sends to ``dst_ip`` through its router (its default gateway)."""
        net, mac, ip, hv = self.vms[vm]
        fields = dict(eth_src=mac, eth_dst=dst_mac or RMAC[net], eth_type=IPV4, ipv4_src=ip,
                      ipv4_dst=dst_ip, ip_proto=ICMP, icmpv4_type=8, nw_ttl=ttl)
        fields.update(extra)
        return self.switch(hv).trace(self.ofport[vm], **fields)


@pytest.fixture
def world():
    return World()


def test_east_west_is_routed_on_the_sending_hypervisor(world):
    out = world.send("a", "10.0.2.10")
    hop = world.tunnel("hv1", "hv2")
    assert out.output_ports() == [hop], out.describe()
    f = out.outputs[0].fields
    assert (f["tunnel_id"], f["eth_src"], f["eth_dst"], f["nw_ttl"]) == \
        (102, RMAC["B"], VM["b"][1], 63)
    # the receiving hypervisor only delivers: it is network B's frame for b's MAC by then
    f.pop("in_port")
    back = world.switch("hv2").trace(world.tunnel("hv2", "hv1"), **f)
    assert back.output_ports() == [world.ofport["b"]], back.describe()


def test_the_reply_is_routed_on_its_own_sending_hypervisor(world):
    out = world.send("b", "10.0.1.10", icmpv4_type=0)
    assert out.output_ports() == [world.tunnel("hv2", "hv1")]
    f = out.outputs[0].fields
    assert (f["tunnel_id"], f["eth_dst"], f["eth_src"]) == (101, VM["a"][1], RMAC["A"])


def sent_up_from_a(world, dst, ttl, message):
    """The packet-outs the controller sends when the router's ip_routing stage sends it the
    ICMP ``message`` from a to ``dst`` with ``ttl``."""
    net, mac, ip, hv = VM["a"]
    frame = serialize(ethernet.ethernet(RMAC["A"], mac, IPV4),
                      ipv4.ipv4(src=ip, dst=dst, proto=ICMP, ttl=ttl), message)
    dp = world.cloud.hypervisors[hv].dp
    before = len(dp.switch.packet_outs)
    match = parser.OFPMatch(in_port=world.ofport["a"], metadata=101, reg2=1)
    world.cloud.controller._packet_in(SimpleNamespace(msg=parser.OFPPacketIn(
        dp, table_id=pl.TABLES["ip_routing"].number, match=match, data=frame)))
    return dp.switch.packet_outs[before:]


def icmp_answer(world, dst, ttl):
    """The controller's answer to an echo request from a to ``dst`` sent up by the router
    (parsed), asserting that it goes back out of a's port."""
    [reply] = sent_up_from_a(world, dst, ttl,
                             icmp.icmp(type_=8, data=icmp.echo(id_=7, seq=1, data=b"x" * 16)))
    assert [a.port for a in reply.actions] == [world.ofport["a"]]
    return packet.Packet(reply.data)


def test_ttl_that_would_run_out_is_answered_time_exceeded(world):
    assert not world.send("a", "10.0.2.10", ttl=2).dropped
    out = world.send("a", "10.0.2.10", ttl=1)
    assert out.output_ports() == [] and out.sent_to_controller(nw_ttl=1)
    assert world.send("a", "10.0.2.10", ttl=0).dropped
    # the controller answers from the router's address on a's network, out of a's port
    got = icmp_answer(world, "10.0.2.10", ttl=1)
    assert (got.get_protocol(ipv4.ipv4).src, got.get_protocol(ipv4.ipv4).dst,
            got.get_protocol(icmp.icmp).type, got.get_protocol(ethernet.ethernet).src) == \
        ("10.0.1.1", VM["a"][2], 11, RMAC["A"])
    # an ICMP error whose TTL runs out gets none
    assert sent_up_from_a(world, "10.0.2.10", 1, icmp.icmp(
        type_=3, code=1, data=icmp.dest_unreach(data=b"y" * 28))) == []


@pytest.mark.parametrize("target", ["10.0.1.1", "10.0.2.1"])
def test_router_addresses_answer_ping(world, target):
    out = world.send("a", target)
    assert out.output_ports() == [world.ofport["a"]], out.describe()
    f = out.outputs[0].fields
    assert (f["eth_src"], f["eth_dst"], f["ipv4_src"], f["ipv4_dst"], f["icmpv4_type"]) == \
        (RMAC["A"], VM["a"][1], target, VM["a"][2], 0)


def test_router_address_answers_arp(world):
    net, mac, ip, hv = VM["a"]
    out = world.switch(hv).trace(world.ofport["a"], eth_src=mac, eth_dst="ff:ff:ff:ff:ff:ff",
                                 eth_type=ARP, arp_op=1, arp_sha=mac, arp_spa=ip,
                                 arp_tha="00:00:00:00:00:00", arp_tpa="10.0.1.1")
    assert out.output_ports() == [world.ofport["a"]]
    assert out.outputs[0].fields["arp_sha"] == RMAC["A"]


def test_tenants_with_the_same_addresses_never_reach_each_other(world):
    # c has a's address; its router has no route to B (only up, for net unreachable), and
    # R1's MAC is not on C
    assert world.send("c", "10.0.2.10", dst_mac=RMAC["C"]).output_ports() == []
    assert world.send("c", "10.0.2.10", dst_mac=RMAC["A"]).dropped
    # and hv3, which carries none of R1's networks, holds none of its flows nor its VNIs
    assert matching(world.switch("hv3"), reg2=1) == []
    assert matching(world.switch("hv3"), tunnel_id=101) == []
    assert matching(world.switch("hv1"), reg2=1) != []


def matching(switch, **fields):
    """The flows of ``switch`` whose match pins every one of ``fields`` to that value."""
    return [e for e in switch.iter_flows()
            if all((k, v, None) in e.match for k, v in fields.items())]


def test_extra_route_through_a_port_of_a_subnet(world):
    old = world.plugin.model.routers["R1"]
    world.put("router", router("R1", 1, "A", "B", routes=(("192.168.7.0/24", "10.0.2.10"),)),
              before=old)
    world.cloud.settle()
    out = world.send("a", "192.168.7.5")
    assert out.output_ports() == [world.tunnel("hv1", "hv2")]
    assert out.outputs[0].fields["eth_dst"] == VM["b"][1]


def test_a_next_hop_at_another_tenants_address_stays_in_its_own_tenant(world):
    """Tenant 2 routes through 10.0.1.10, which is c on its own network C and also a, tenant
    1's VM, on A: the next hop is looked up on the router's own networks only, so the route
    leads to c and never hands tenant 2's packets to a (nor lets tenant 2 reach into A)."""
    net, sub = network("D", 202, cidr="10.0.3.0/24", gateway="10.0.3.1")
    world.put("network", net)
    world.put("subnet", sub)
    world.put("port", port("r-D", "D", "fa:16:3e:dd:00:01", "10.0.3.1", router=True))
    world.put("port", port("p-d", "D", "fa:16:3e:00:0d:01", "10.0.3.10", "vm-d"))
    world.vms["d"] = ("D", "fa:16:3e:00:0d:01", "10.0.3.10", "hv1")
    world.ofport["d"] = world.cloud.plug("hv1", "tap-d", "vm-d")
    d = RouterInterface("r-D", "sub-D", "D", "fa:16:3e:dd:00:01", "10.0.3.1", "10.0.3.0/24")
    old = world.plugin.model.routers["R2"]
    world.put("router", dataclasses.replace(
        old, interfaces=old.interfaces + (d,), routes=(("192.168.7.0/24", "10.0.1.10"),)),
        before=old)
    world.cloud.settle()
    # d shares hv1 with a, tenant 1's 10.0.1.10: still the route leads to c, on hv3
    out = world.send("d", "192.168.7.5", dst_mac="fa:16:3e:dd:00:01")
    assert out.output_ports() == [world.tunnel("hv1", "hv3")], out.describe()
    f = out.outputs[0].fields
    assert (f["tunnel_id"], f["eth_dst"]) == (201, VM["c"][1])
    assert world.ofport["a"] not in out.output_ports()
    # and tenant 1's own route to the same place is tenant 1's: a
    old = world.plugin.model.routers["R1"]
    world.put("router", router("R1", 1, "A", "B", routes=(("192.168.7.0/24", "10.0.1.10"),)),
              before=old)
    world.cloud.settle()
    out = world.send("b", "192.168.7.5")
    assert out.output_ports() == [world.tunnel("hv2", "hv1")], out.describe()
    assert (out.outputs[0].fields["tunnel_id"], out.outputs[0].fields["eth_dst"]) == \
        (101, VM["a"][1])


def test_a_port_bound_later_is_reachable_through_the_router(world):
    world.put("port", port("p-b2", "B", "fa:16:3e:00:0b:02", "10.0.2.20", "vm-b2"))
    world.cloud.plug("hv3", "tap-b2", "vm-b2")
    world.cloud.settle()
    out = world.send("a", "10.0.2.20")
    assert out.output_ports() == [world.tunnel("hv1", "hv3")], out.describe()


def test_a_router_set_down_routes_nothing_until_it_is_up_again(world):
    up = world.plugin.model.routers["R1"]
    world.put("router", dataclasses.replace(up, admin_up=False), before=up)
    world.cloud.settle()
    for hv in ("hv1", "hv2"):
        assert matching(world.switch(hv), reg2=1) == [], hv
    assert world.send("a", "10.0.2.10").output_ports() == []
    assert world.send("a", "10.0.1.1").output_ports() == []      # its address is silent too
    # the other tenant's router goes on
    assert matching(world.switch("hv3"), reg2=2) != []
    world.put("router", up, before=world.plugin.model.routers["R1"])
    world.cloud.settle()
    assert world.send("a", "10.0.2.10").output_ports() == [world.tunnel("hv1", "hv2")]


def test_removing_the_router_leaves_no_router_flow(world):
    world.delete("router", world.plugin.model.routers["R1"])
    world.delete("router", world.plugin.model.routers["R2"])
    world.cloud.settle()
    for hv in ("hv1", "hv2", "hv3"):
        left = [e for e in world.switch(hv).iter_flows()
                if e.table_id in ROUTER_TABLES and e.priority]
        assert left == [], hv
    assert world.send("a", "10.0.2.10").dropped
    # and hv1 no longer carries B (it had no port there), nor hv2 A
    assert matching(world.switch("hv1"), tunnel_id=102) == []
    assert matching(world.switch("hv2"), tunnel_id=101) == []


# -- the way out: SNAT on the gateway hypervisor, floating IPs where their port is ---------------
EXT_VNI, GW_IP, FIP, OUTSIDE = 300, "203.0.113.10", "203.0.113.50", "203.0.113.254"
GW_MAC, OUTSIDE_MAC, FAR = "fa:16:3e:ee:00:01", "02:00:00:00:99:99", "198.51.100.7"
TCP = 6


class Outside(World):
    """World, plus external network X (physnet1, mapped on hv1 and hv2), R1's gateway on it
    (hv1 is its gateway hypervisor) and vm a2 on A on hv3, which has no mapping."""

    def __init__(self):
        super().__init__()
        self.physical = {hv: self.cloud.hypervisors[hv].map_physical("physnet1")
                         for hv in ("hv1", "hv2")}
        self.cloud.reported |= {"hv1", "hv2"}
        ext = network("X", EXT_VNI, cidr="203.0.113.0/24", gateway=OUTSIDE)
        self.put("network", dataclasses.replace(ext[0], external=True,
                                                physical_network="physnet1"))
        self.put("subnet", ext[1])
        self.put("port", port("gw-R1", "X", GW_MAC, GW_IP, router=True))
        self.put("port", port("p-a2", "A", "fa:16:3e:00:0a:02", "10.0.1.20", "vm-a2"))
        self.vms["a2"] = ("A", "fa:16:3e:00:0a:02", "10.0.1.20", "hv3")
        self.ofport["a2"] = self.cloud.plug("hv3", "tap-a2", "vm-a2")
        r1 = self.plugin.model.routers["R1"]
        self.put("router", dataclasses.replace(r1, gateway=RouterInterface(
            "gw-R1", "sub-X", "X", GW_MAC, GW_IP, "203.0.113.0/24")), before=r1)
        self.cloud.settle()

    def from_outside(self, hv, dst_ip, dst_mac, src=OUTSIDE, **extra):
        fields = dict(eth_src=OUTSIDE_MAC, eth_dst=dst_mac, eth_type=IPV4, ipv4_src=src,
                      ipv4_dst=dst_ip, ip_proto=TCP, tcp_src=40000, tcp_dst=80, nw_ttl=64)
        fields.update(extra)
        return self.switch(hv).trace(self.physical[hv], **fields)

    def outside_asks(self, hv, ip):
        return self.switch(hv).trace(self.physical[hv], eth_src=OUTSIDE_MAC,
                                     eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ARP, arp_op=1,
                                     arp_sha=OUTSIDE_MAC, arp_spa=OUTSIDE,
                                     arp_tha="00:00:00:00:00:00", arp_tpa=ip)

    def learn_outside(self):
        self.plugin.app.desired.routing.learn("X", OUTSIDE, OUTSIDE_MAC)
        self.plugin.app.dirty_neighbors.add("X")
        self.plugin.app.kick()
        self.cloud.settle()

    def associate(self, vm):
        fixed = self.vms[vm][2]
        old = self.plugin.model.floating_ips.get("F")
        self.put("floating_ip", FloatingIP("F", "p", "R1", "X", FIP, f"p-{vm}", fixed),
                 before=old)
        return self.cloud.settle()[0]


@pytest.fixture
def outside():
    return Outside()


def test_only_the_gateway_hypervisor_answers_for_the_gateway_ip(outside):
    answer = outside.outside_asks("hv1", GW_IP)
    assert answer.output_ports() == [outside.physical["hv1"]]
    assert answer.outputs[0].fields["arp_sha"] == GW_MAC
    assert answer.sent_to_controller(arp_spa=OUTSIDE)       # it learns who asked
    assert outside.outside_asks("hv2", GW_IP).output_ports() == []


def test_an_unknown_next_hop_goes_to_the_controller(outside):
    out = outside.send("a", FAR, ip_proto=TCP, tcp_src=5000, tcp_dst=80)
    assert out.output_ports() == [] and \
        out.sent_to_controller(reg3=int(ipaddress.IPv4Address(OUTSIDE)))


def test_snat_on_the_gateway_hypervisor_and_the_reply_back(outside):
    outside.learn_outside()
    out = outside.send("a", FAR, ip_proto=TCP, tcp_src=5000, tcp_dst=80)
    assert out.output_ports() == [outside.physical["hv1"]], out.describe()
    f = out.outputs[0].fields
    assert (f["ipv4_src"], f["eth_src"], f["eth_dst"], f["nw_ttl"]) == \
        (GW_IP, GW_MAC, OUTSIDE_MAC, 63)
    back = outside.from_outside("hv1", GW_IP, GW_MAC, src=FAR, tcp_src=80, tcp_dst=5000)
    assert back.output_ports() == [outside.ofport["a"]], back.describe()
    assert back.outputs[0].fields["ipv4_dst"] == VM["a"][2]
    # nothing that is not a reply gets in through the gateway IP
    assert outside.from_outside("hv1", GW_IP, GW_MAC, src=FAR, tcp_src=81,
                                tcp_dst=5001).dropped


def test_a_hypervisor_without_the_mapping_hands_over_to_the_gateway(outside):
    outside.learn_outside()
    out = outside.send("a2", FAR, ip_proto=TCP, tcp_src=5000, tcp_dst=80)
    assert out.output_ports() == [outside.tunnel("hv3", "hv1")], out.describe()
    f = out.outputs[0].fields
    assert (f["tunnel_id"], f["eth_dst"], f["ipv4_src"]) == (101, RMAC["A"], "10.0.1.20")
    f.pop("in_port")
    there = outside.switch("hv1").trace(outside.tunnel("hv1", "hv3"), **f)
    assert there.output_ports() == [outside.physical["hv1"]], there.describe()
    assert there.outputs[0].fields["ipv4_src"] == GW_IP


def test_a_floating_ip_lives_on_its_ports_hypervisor(outside):
    outside.learn_outside()
    outside.associate("b")
    assert outside.outside_asks("hv1", FIP).output_ports() == []
    answer = outside.outside_asks("hv2", FIP)
    assert answer.outputs[0].fields["arp_sha"] == l3.fip_mac(FIP)
    inbound = outside.from_outside("hv2", FIP, l3.fip_mac(FIP), tcp_flags=0x02)
    assert inbound.output_ports() == [outside.ofport["b"]], inbound.describe()
    assert (inbound.outputs[0].fields["ipv4_dst"], inbound.outputs[0].fields["eth_dst"]) == \
        (VM["b"][2], VM["b"][1])
    reply = outside.send("b", OUTSIDE, dst_mac=RMAC["B"], ip_proto=TCP, tcp_src=80,
                         tcp_dst=40000)
    assert reply.output_ports() == [outside.physical["hv2"]], reply.describe()
    f = reply.outputs[0].fields
    assert (f["ipv4_src"], f["eth_src"], f["eth_dst"]) == (FIP, l3.fip_mac(FIP), OUTSIDE_MAC)


def test_moving_a_floating_ip_moves_only_its_pieces(outside):
    outside.learn_outside()
    outside.associate("b")
    work = outside.associate("a")
    assert outside.outside_asks("hv2", FIP).output_ports() == []
    assert outside.outside_asks("hv1", FIP).outputs[0].fields["arp_sha"] == l3.fip_mac(FIP)
    inbound = outside.from_outside("hv1", FIP, l3.fip_mac(FIP), tcp_flags=0x02)
    assert inbound.output_ports() == [outside.ofport["a"]], inbound.describe()
    # the floating IP's piece left hv2 and came to hv1, with hv1's localnet: nothing else
    assert (work.switches_touched, work.pieces_computed) == (2, 2)


def test_a_router_has_its_own_zone_and_leaves_none_behind(outside):
    outside.learn_outside()
    outside.send("a", FAR, ip_proto=TCP, tcp_src=5000, tcp_dst=80)
    zones = {c.zone for c in outside.switch("hv1").conntrack.connections()}
    assert zones == {pl.ROUTER_ZONE_BASE + 1}
    outside.delete("router", outside.plugin.model.routers["R1"])
    outside.cloud.settle()
    assert outside.switch("hv1").conntrack.connections() == []
    for hv in ("hv1", "hv2", "hv3"):
        assert matching(outside.switch(hv), reg2=1) == [], hv


def test_a_moved_floating_ip_announces_itself_where_it_lands(outside):
    outside.associate("b")
    outside.associate("a")
    sent = [packet_fields(m.data) for m in outside.switch("hv1").packet_outs
            if any(a.port == outside.physical["hv1"] for a in m.actions)]
    assert {"arp_spa": FIP, "arp_tpa": FIP, "arp_sha": l3.fip_mac(FIP)}.items() <= \
        sent[-1].items()


def test_without_snat_the_outside_routes_to_the_subnets_through_the_gateway(outside):
    outside.learn_outside()
    r1 = outside.plugin.model.routers["R1"]
    outside.put("router", dataclasses.replace(r1, snat=False), before=r1)
    outside.cloud.settle()
    out = outside.send("a", FAR, ip_proto=TCP, tcp_src=5000, tcp_dst=80)
    assert out.outputs[0].fields["ipv4_src"] == VM["a"][2]
    back = outside.from_outside("hv1", VM["a"][2], GW_MAC, src=FAR, tcp_src=80, tcp_dst=5000)
    assert back.output_ports() == [outside.ofport["a"]], back.describe()
    # with SNAT, the same packet is not let in
    outside.put("router", r1, before=dataclasses.replace(r1, snat=False))
    outside.cloud.settle()
    assert outside.from_outside("hv1", VM["a"][2], GW_MAC, src=FAR, tcp_src=80,
                                tcp_dst=5001).dropped


def test_a_destination_with_no_route_is_answered_net_unreachable(world):
    out = world.send("a", "192.0.2.7")
    assert out.output_ports() == [] and out.sent_to_controller()
    got = icmp_answer(world, "192.0.2.7", ttl=64)
    assert (got.get_protocol(ipv4.ipv4).src, got.get_protocol(ipv4.ipv4).dst,
            got.get_protocol(icmp.icmp).type, got.get_protocol(icmp.icmp).code) == \
        ("10.0.1.1", VM["a"][2], 3, 0)


def test_two_tenants_with_the_same_address_snat_apart_and_get_their_own_replies(outside):
    """a (tenant 1, R1) and c (tenant 2, R2) are both 10.0.1.10 and open the same connection
    to the same far host: each router's own zone keeps them apart, each leaves with its own
    gateway IP and each reply reaches only its sender."""
    outside.learn_outside()
    gw2_ip, gw2_mac = "203.0.113.11", "fa:16:3e:ee:00:02"
    outside.put("port", port("gw-R2", "X", gw2_mac, gw2_ip, router=True))
    r2 = outside.plugin.model.routers["R2"]
    outside.put("router", dataclasses.replace(r2, gateway=RouterInterface(
        "gw-R2", "sub-X", "X", gw2_mac, gw2_ip, "203.0.113.0/24")), before=r2)
    outside.cloud.settle()
    tcp = dict(ip_proto=TCP, tcp_src=5000, tcp_dst=80)
    out_a = outside.send("a", FAR, **tcp)
    assert out_a.outputs[0].fields["ipv4_src"] == GW_IP, out_a.describe()
    # c's hypervisor, hv3, has no mapping: R2's gateway hypervisor SNATs it
    [gw_hv] = [hv for hv in ("hv1", "hv2")
               if outside.send("c", FAR, **tcp).output_ports() == [outside.tunnel("hv3", hv)]]
    f = outside.send("c", FAR, **tcp).outputs[0].fields
    f.pop("in_port")
    out_c = outside.switch(gw_hv).trace(outside.tunnel(gw_hv, "hv3"), **f)
    assert out_c.output_ports() == [outside.physical[gw_hv]], out_c.describe()
    assert out_c.outputs[0].fields["ipv4_src"] == gw2_ip
    zones = {c.zone for hv in ("hv1", "hv2") for c in outside.switch(hv).conntrack.connections()}
    assert zones == {pl.ROUTER_ZONE_BASE + 1, pl.ROUTER_ZONE_BASE + 2}
    # each reply goes back to its own sender only
    back_a = outside.from_outside("hv1", GW_IP, GW_MAC, src=FAR, tcp_src=80, tcp_dst=5000)
    assert back_a.output_ports() == [outside.ofport["a"]], back_a.describe()
    back_c = outside.from_outside(gw_hv, gw2_ip, gw2_mac, src=FAR, tcp_src=80, tcp_dst=5000)
    assert back_c.output_ports() == [outside.tunnel(gw_hv, "hv3")], back_c.describe()
    assert (back_c.outputs[0].fields["tunnel_id"], back_c.outputs[0].fields["ipv4_dst"]) == \
        (201, VM["c"][2])
