"""Fabric mode against a hostile host: it can neither make nor move a link with LLDP, and frames
are classified by fabric_in only where they legitimately arrive.

The switches are in-process models (apps/ofmodel); the LLDP cases run the real fabric
controller (simulations/fabric_sim.py FabricCloud) and hand it a frame only when the
switch's own flows would (a packet-in), as a real switch does.
"""
from types import SimpleNamespace

import networkx as nx
import pytest
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps import pipeline as pl
from apps.fabric import FabricPlugin
from apps.ofmodel.fields import packet_fields
from controller.context import Context
from controller.core import Core
from simulations.fabric_sim import FabricCloud
from tests.unit.test_fabric import BCAST, ip_to, TREE_HOSTS, build, tree_topology
from topology import lldp
from topology.discovery import Sightings

ADMIN = Context.admin()
FABRIC_IN = pl.TABLES["fabric_in"].number


# -- frames and sightings --------------------------------------------------------------------
def test_only_frames_signed_with_the_controllers_key_for_that_port_are_ours():
    key = lldp.new_key()
    assert lldp.parse(key, lldp.build(key, 2, 1)) == (2, 1)
    assert lldp.parse(key, lldp.build(lldp.new_key(), 2, 1)) is None       # a host's own key
    moved = bytearray(lldp.build(key, 2, 1))
    port_id = moved.index(b"\x00\x00\x00\x01")                             # the port id TLV
    moved[port_id:port_id + 4] = b"\x00\x00\x00\x02"
    assert lldp.parse(key, bytes(moved)) is None        # a captured frame names its own port


def test_a_link_needs_both_directions_heard():
    seen = Sightings()
    assert not seen.hear((1, 1), (2, 1), now=10.0)
    assert not seen.hear((1, 1), (1, 1), now=10.0)      # a switch hearing itself
    assert seen.hear((2, 1), (1, 1), now=11.0)
    assert seen.last_proved((1, 1), (2, 1)) == 10.0
    seen.forget_before(10.5)
    assert seen.last_proved((1, 1), (2, 1)) is None
    assert not seen.hear((2, 1), (3, 1), now=12.0)


# -- fabric_in: the source MAC on the links it comes through only ------------------------------
@pytest.fixture
def tree():
    return build(tree_topology(2, 3), TREE_HOSTS)


def link_port(sim, a, b):
    return sim.fabric.graph.edges[a, b]["ports"][a]


def test_a_remote_mac_is_accepted_only_from_the_link_towards_its_switch(tree):
    sim, _, hosts = tree
    root = sim.switches[1].switch                    # a1 sits on s2, a2 on s3 (a-web)
    frame = ip_to("a1", "a2", hosts)
    legit = root.trace(link_port(sim, 1, 2), **frame)
    assert legit.output_ports() == [link_port(sim, 1, 3)]
    assert root.trace(link_port(sim, 1, 4), **frame).dropped     # a1's MAC from s4's link
    assert sim.send("a1", **frame) == (["a2"], False)            # and the real thing passes


def test_broadcast_is_accepted_along_the_tree_only_from_its_senders_side(tree):
    sim, _, hosts = tree
    root = sim.switches[1].switch
    frame = dict(eth_src=hosts["a1"]["mac"], eth_dst=BCAST, eth_type=0x0800)
    assert root.trace(link_port(sim, 1, 2), **frame).output_ports() == [link_port(sim, 1, 3)]
    assert root.trace(link_port(sim, 1, 3), **frame).dropped


@pytest.mark.parametrize("host", ["a1", None])
def test_frames_from_host_ports_never_reach_fabric_in(tree, host):
    """A bound host (port security stops it) or a host on a port nothing binds, sending with
    the MAC of a host bound elsewhere."""
    sim, _, hosts = tree
    dpid, ofport = sim.where[host] if host else (2, max(sim.fabric.port_names(2)) + 1)
    res = sim.switches[dpid].switch.trace(ofport, **ip_to("a3", "a4", hosts))
    assert res.dropped and FABRIC_IN not in res.tables()


# -- LLDP from hosts ---------------------------------------------------------------------------
class Fabric:
    """s1 - s2 - s3 on the real controller; a port bound on a host port of s1 and of s2."""

    def __init__(self, cable_up=True):
        self.plugin = FabricPlugin()
        self.core = Core.from_url("sqlite://", self.plugin)
        self.cloud = FabricCloud(self.plugin, nx.Graph([(1, 2), (2, 3)]), host_ports=2)
        self.ctl = self.cloud.controller
        if not cable_up:
            self.cloud.cables[(1, 2)] = False
        for dpid in (1, 2, 3):
            self.cloud.connect(dpid)
        net = self.core.networks.create(ADMIN, {"name": "n", "tenant_id": "t"})
        self.core.subnets.create(ADMIN, {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                         "tenant_id": "t"})
        self.host_port, self.free_port = {}, {}
        for dpid in (1, 2):
            name, free = self.cloud.host_ports(dpid)
            self.core.ports.create(ADMIN, {"network_id": net["id"], "tenant_id": "t",
                                           "binding:profile": {"datapath_id": dpid,
                                                               "port_name": name}})
            self.host_port[dpid] = self.number(dpid, name)
            self.free_port[dpid] = self.number(dpid, free)
        self.cloud.settle()

    def number(self, dpid, name):
        ports = self.cloud.switches[dpid].switch.ports
        return next(no for no, p in ports.items() if p.name.decode() == name)

    def link_port(self, a, b):
        return self.cloud._ports_of(a, b)

    def receive(self, dpid, in_port, frame):
        """A frame arrives on a switch port: the controller gets it if the switch's flows send
        it there. Returns whether they did."""
        dp = self.cloud.switches[dpid]
        res = dp.switch.trace(in_port, **packet_fields(frame))
        if res.packet_ins:
            self.ctl._packet_in(SimpleNamespace(msg=SimpleNamespace(
                datapath=dp, match={"in_port": in_port}, data=frame)))
        self.cloud.settle()
        return bool(res.packet_ins)

    def controller_hears(self, dpid, in_port, frame):
        """The controller's own check, whatever the flows (a packet-in that got through)."""
        self.ctl._packet_in(SimpleNamespace(msg=SimpleNamespace(
            datapath=self.cloud.switches[dpid], match={"in_port": in_port}, data=frame)))
        self.cloud.settle()

    def lldp_sent_out_of(self, dpid):
        dp = self.cloud.switches[dpid]
        dp.record, dp.sent = True, []
        self.ctl._send_lldp(dp, self.ctl.fabric.port_names(dpid))
        dp.record = False
        return {m.actions[0].port for m in dp.sent if isinstance(m, parser.OFPPacketOut)}

    def attacks(self):
        """Everything a host on s1's bound port, or on s2's free port, can send."""
        key, forged = self.ctl.lldp_key, lldp.build(lldp.new_key(), 2, self.link_port(2, 1))
        h1, free2 = self.host_port[1], self.free_port[2]
        return [
            (1, h1, forged),                                   # "I am s2's link port"
            (1, h1, lldp.build(key, 2, free2)),                # relayed from s2's free port
            (2, free2, lldp.build(key, 1, h1)),                # and the other way round
            (1, h1, lldp.build(key, 1, h1)),                   # replayed (never sent there)
            (2, free2, lldp.build(key, 2, free2)),             # its own port's frame, back
            (2, self.link_port(2, 1), lldp.build(key, 1, h1)),  # a host port's frame on a link
        ]


def real_link(f):
    return (1, f.link_port(1, 2), 2, f.link_port(2, 1), True)


def test_no_lldp_goes_out_of_or_comes_in_from_a_bound_host_port():
    f = Fabric()
    assert f.host_port[1] not in f.lldp_sent_out_of(1)
    assert {f.free_port[1], f.link_port(1, 2)} <= f.lldp_sent_out_of(1)
    frame = lldp.build(f.ctl.lldp_key, 2, f.link_port(2, 1))
    assert not f.receive(1, f.host_port[1], frame)         # its own flow shadows LLDP
    assert f.receive(1, f.free_port[1], frame)             # where new links may appear
    assert f.receive(1, f.link_port(1, 2), frame)


def test_a_hostile_host_changes_no_link_once_the_real_link_is_up():
    f = Fabric()
    before = f.ctl.fabric.links()
    assert real_link(f) in before
    for dpid, port, frame in f.attacks():
        f.receive(dpid, port, frame)
        f.controller_hears(dpid, port, frame)
        assert f.ctl.fabric.links() == before


def test_a_hostile_host_makes_no_link_before_the_real_one_and_does_not_stop_it():
    f = Fabric(cable_up=False)
    before = f.ctl.fabric.links()
    assert [link[:4] for link in before] == [(2, f.link_port(2, 3), 3, f.link_port(3, 2))]
    for dpid, port, frame in f.attacks():
        f.receive(dpid, port, frame)
        f.controller_hears(dpid, port, frame)
        assert f.ctl.fabric.links() == before
    f.cloud.cable(1, 2, up=True)
    f.cloud.settle()
    assert real_link(f) in f.ctl.fabric.links()
    assert f.ctl.fabric.fabric_ports(1) == {f.link_port(1, 2)}


def test_one_direction_of_a_real_link_is_not_enough():
    f = Fabric(cable_up=False)
    key = f.ctl.lldp_key
    f.receive(2, f.link_port(2, 1), lldp.build(key, 1, f.link_port(1, 2)))
    assert (1, 2) not in f.ctl.fabric.graph.edges
    f.receive(1, f.link_port(1, 2), lldp.build(key, 2, f.link_port(2, 1)))
    assert real_link(f) in f.ctl.fabric.links()
