"""Distributed routing (apps/l3.py), traced through the in-process switches the real overlay
controller programs: packets are routed on the hypervisor they were sent from, the router's
addresses answer ARP and ping, TTL runs out, tenants with the same addresses stay apart, and a
router that goes leaves nothing behind."""
import pytest

from apps import pipeline as pl
from apps.openflow import OpenFlowPlugin
from controller.context import Context
from controller.logical import Router, RouterInterface
from controller.plugin import Change
from simulations.fakecloud import FakeCloud, StatusBoard
from simulations.fixtures import network, port
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
        self.ofport = {}
        for name, (vni, cidr) in NETS.items():
            net, sub = network(name, vni, cidr=cidr, gateway=cidr[:-4] + "1")
            self.put("network", net)
            self.put("subnet", sub)
            self.put("port", port(f"r-{name}", name, RMAC[name], cidr[:-4] + "1",
                                  router=True))
        for vm, (net, mac, ip, hv) in VM.items():
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
        net, mac, ip, hv = VM[vm]
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


def test_ttl_that_would_run_out_is_dropped(world):
    assert world.send("a", "10.0.2.10", ttl=1).dropped
    assert not world.send("a", "10.0.2.10", ttl=2).dropped


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
    # c has a's address; its router has no route to B, and R1's MAC is not on C
    assert world.send("c", "10.0.2.10", dst_mac=RMAC["C"]).dropped
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


def test_a_port_bound_later_is_reachable_through_the_router(world):
    world.put("port", port("p-b2", "B", "fa:16:3e:00:0b:02", "10.0.2.20", "vm-b2"))
    world.cloud.plug("hv3", "tap-b2", "vm-b2")
    world.cloud.settle()
    out = world.send("a", "10.0.2.20")
    assert out.output_ports() == [world.tunnel("hv1", "hv3")], out.describe()


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
