"""Fabric mode, tier 1: paths and trees on graphs, and compiled flows traced across fake switches.

Frames are followed hop by hop through in-process switches wired as the topology
(simulations/fabric_sim.py), so these assert what reaches whom, not flow text.
"""
import networkx as nx
import pytest

from apps import fabric_flows
from controller.logical import Binding
from simulations.fabric_sim import SimFabric, fat_tree, tree_topology
from tests.unit.overlay_fixtures import model, network, port
from topology.graph import FabricGraph, RouteTable, broadcast_tree, network_routes, path, \
    sink_tree

IPV4, ARP = 0x0800, 0x0806
BCAST = "ff:ff:ff:ff:ff:ff"


def mac(i):
    return f"fa:16:3e:00:01:{i:02x}"


def ip_to(src, dst, hosts):
    return dict(eth_src=hosts[src]["mac"], eth_dst=hosts[dst]["mac"], eth_type=IPV4,
                ipv4_src=hosts[src]["ip"], ipv4_dst=hosts[dst]["ip"], ip_proto=6,
                tcp_dst=80)


def build(graph, placement):
    """``placement``: host name -> (switch, network id). Networks get VNIs 1001...; returns
    (SimFabric, LogicalModel, hosts)."""
    sim = SimFabric(graph)
    nets = sorted({n for _, n in placement.values()})
    hosts, ports = {}, []
    for i, (name, (switch, net)) in enumerate(sorted(placement.items()), start=1):
        binding = sim.add_host(name, switch)
        hosts[name] = {"mac": mac(i), "ip": f"10.0.0.{10 + i}", "net": net}
        ports.append(port("p-" + name, net, mac(i), hosts[name]["ip"], "vm-" + name,
                          binding=binding))
    m = model([network(n, 1001 + k) for k, n in enumerate(nets)], ports)
    sim.program(m)
    return sim, m, hosts


# Two tenants, three networks (the same CIDR everywhere), hosts on different leaves.
TREE_HOSTS = {"a1": (2, "a-web"), "a2": (3, "a-web"), "a3": (4, "a-db"), "a4": (2, "a-db"),
              "b1": (3, "b-web"), "b2": (4, "b-web")}


@pytest.fixture
def tree():
    return build(tree_topology(2, 3), TREE_HOSTS)


def mesh():
    """Four switches in a ring plus a chord: two loops."""
    return nx.Graph([(1, 2), (2, 3), (3, 4), (4, 1), (1, 3)])


# -- graph -----------------------------------------------------------------------------------
def test_sink_tree_takes_shortest_paths_and_spreads_ties_by_destination():
    g = nx.Graph([(1, 2), (2, 4), (1, 3), (3, 4)] + [(4, d) for d in range(5, 13)])
    paths = [path(sink_tree(g, d), 1, d) for d in range(5, 13)]
    assert all(len(p) == 4 for p in paths)                  # shortest: 1 - 2|3 - 4 - d
    assert {p[1] for p in paths} == {2, 3}                  # both parallel paths used
    assert sink_tree(g, 5) == sink_tree(g.copy(), 5)        # same graph, same tree


def test_broadcast_tree_spans_the_members_without_a_cycle_on_a_mesh():
    g = fat_tree(4)[0]
    members = {9, 10, 13, 17, 20}
    edges = broadcast_tree(g, members)
    t = nx.Graph(list(edges))
    assert nx.is_tree(t) and members <= set(t)


def test_network_routes_only_involve_switches_on_its_paths():
    sim = SimFabric(fat_tree(4)[0])
    r = network_routes(sim.fabric.live(), {7, 8}, {})     # two edge switches of one pod
    assert r.carriers - {7, 8} <= {5, 6}  # through the pod's aggregation layer, no core


def test_link_down_recomputes_only_the_networks_that_used_it():
    fabric = FabricGraph()
    for s in range(1, 5):
        fabric.add_switch(s)
    for port, (a, b) in enumerate([(1, 2), (2, 3), (3, 4), (4, 1)], start=1):
        fabric.link_up(a, port, b, port + 10)
    table = RouteTable()
    assert table.update(fabric.live(), {"n12": {1, 2}, "n34": {3, 4}}) == {"n12", "n34"}
    fabric.link_down(1, 2)
    table.links_changed(down=[(1, 2)])
    assert table.update(fabric.live(), {"n12": {1, 2}, "n34": {3, 4}}) == {"n12"}
    assert table.routes["n12"].edges == {(1, 4), (3, 4), (2, 3)}
    fabric.link_up(1, 1, 2, 11)
    table.links_changed(up=True)
    assert table.update(fabric.live(), {"n12": {1, 2}, "n34": {3, 4}}) == {"n12"}
    assert table.routes["n12"].edges == {(1, 2)}


# -- binding ---------------------------------------------------------------------------------
def test_a_binding_on_an_inter_switch_link_is_ignored():
    sim = SimFabric(tree_topology(2, 3))
    p = port("p", "n", mac(1), "10.0.0.1", "vm",
             binding=Binding(1, port_number=1))                    # s1-eth1 leads to s2
    assert fabric_flows.bind_ports(model([network("n", 1001)], [p]), sim.fabric) == {}


# -- traffic on the tree -----------------------------------------------------------------------
@pytest.mark.parametrize("src,dst", [("a1", "a2"), ("a2", "a1"), ("a3", "a4"), ("b1", "b2")])
def test_same_network_unicast_is_delivered_across_the_fabric(tree, src, dst):
    sim, _, hosts = tree
    assert sim.send(src, **ip_to(src, dst, hosts)) == ([dst], False)


@pytest.mark.parametrize("src,dst", [("a1", "a3"), ("a1", "b1"), ("b2", "a2"), ("a4", "a2")])
def test_other_networks_and_tenants_are_unreachable(tree, src, dst):
    sim, _, hosts = tree
    assert sim.send(src, **ip_to(src, dst, hosts)) == ([], False)


def test_cross_network_frames_never_leave_their_edge_switch(tree):
    sim, _, hosts = tree
    switch, ofport = sim.where["a1"]
    for dst in ("a3", "a4", "b1"):
        assert sim.switches[switch].switch.trace(ofport, **ip_to("a1", dst, hosts)).dropped


def test_spoofed_source_is_dropped_at_the_edge(tree):
    sim, _, hosts = tree
    frame = ip_to("b1", "b2", hosts)
    frame["eth_src"] = hosts["a2"]["mac"]        # b1 pretending to be a2 (same switch s3)
    assert sim.send("b1", **frame) == ([], False)


def test_arp_for_a_known_address_is_answered_at_the_edge(tree):
    sim, _, hosts = tree
    delivered, _ = sim.send("a1", eth_src=hosts["a1"]["mac"], eth_dst=BCAST, eth_type=ARP,
                            arp_op=1, arp_sha=hosts["a1"]["mac"], arp_spa=hosts["a1"]["ip"],
                            arp_tpa=hosts["a2"]["ip"])
    assert delivered == ["a1"]                   # the reply, back out of the asking port


def test_broadcast_reaches_each_host_of_the_network_once(tree):
    sim, _, hosts = tree
    delivered, looped = sim.send("a1", eth_src=hosts["a1"]["mac"], eth_dst=BCAST,
                                 eth_type=IPV4, ipv4_src=hosts["a1"]["ip"],
                                 ipv4_dst="10.0.0.255", ip_proto=17)
    assert (sorted(delivered), looped) == (["a2"], False)


def test_transit_switches_hold_only_macs_of_networks_crossing_them(tree):
    sim, _, hosts = tree
    root = sim.switches[1].switch
    macs = {dict(f.user_match()).get("eth_src") for f in root.iter_flows(1)}
    assert macs == {hosts[h]["mac"] for h in ("a1", "a2", "a3", "a4", "b1", "b2")}
    leaf4 = sim.switches[4].switch             # hosts a-db and b-web: nothing of a-web
    dsts = {dict(f.user_match()).get("eth_dst") for f in leaf4.iter_flows()}
    assert hosts["a1"]["mac"] not in dsts and hosts["a2"]["mac"] not in dsts


def test_reprogramming_an_unchanged_fabric_sends_nothing(tree):
    sim, m, _ = tree
    assert sim.program(m) == 0


# -- loops and failover on a mesh --------------------------------------------------------------
MESH_HOSTS = {"a1": (1, "a"), "a2": (3, "a"), "a3": (4, "a"), "b1": (2, "b"), "b2": (4, "b")}


def test_broadcast_on_a_topology_with_loops_does_not_loop():
    sim, _, hosts = build(mesh(), MESH_HOSTS)
    delivered, looped = sim.send("a2", eth_src=hosts["a2"]["mac"], eth_dst=BCAST,
                                 eth_type=ARP, arp_op=1, arp_sha=hosts["a2"]["mac"],
                                 arp_spa=hosts["a2"]["ip"], arp_tpa="10.0.0.99")
    assert (sorted(delivered), looped) == (["a1", "a3"], False)


def test_broadcast_arriving_on_a_link_off_the_tree_is_dropped():
    sim, _, hosts = build(mesh(), MESH_HOSTS)
    tree_ports = sim.routes.routes["a"].tree_ports
    off_tree = next(p for p in sim.fabric.fabric_ports(3) if p not in tree_ports.get(3, ()))
    res = sim.switches[3].switch.trace(off_tree, eth_src=hosts["a1"]["mac"], eth_dst=BCAST,
                                       eth_type=IPV4)
    assert res.dropped


def test_cutting_the_active_link_reroutes_and_back_again():
    sim, m, hosts = build(mesh(), MESH_HOSTS)
    assert sim.send("a1", **ip_to("a1", "a2", hosts)) == (["a2"], False)
    assert sim.routes.routes["a"].next_port[(1, 3)] == sim.fabric.graph.edges[1, 3]["ports"][1]
    sim.cut(1, 3)
    sent = sim.program(m)
    assert 0 < sent
    for src, dst in (("a1", "a2"), ("a2", "a1"), ("a3", "a1"), ("b1", "b2")):
        assert sim.send(src, **ip_to(src, dst, hosts)) == ([dst], False)
    assert sim.send("a1", **ip_to("a1", "b2", hosts)) == ([], False)
    sim.fabric.link_up(1, sim.fabric.graph.edges[1, 3]["ports"][1], 3,
                       sim.fabric.graph.edges[1, 3]["ports"][3])
    sim.routes.links_changed(up=True)
    sim.program(m)
    assert sim.routes.routes["a"].next_port[(1, 3)] == sim.fabric.graph.edges[1, 3]["ports"][1]
    assert sim.send("a1", **ip_to("a1", "a2", hosts)) == (["a2"], False)


def test_fat_tree_isolates_twenty_networks():
    g, edge = fat_tree(4)
    placement = {f"h{i}": (edge[i % len(edge)], f"net{i % 20}") for i in range(60)}
    sim, _, hosts = build(g, placement)
    for i in range(0, 60, 7):
        src, same, other = f"h{i}", f"h{(i + 20) % 60}", f"h{(i + 1) % 60}"
        assert sim.send(src, **ip_to(src, same, hosts)) == ([same], False)
        assert sim.send(src, **ip_to(src, other, hosts)) == ([], False)


def test_dhcp_and_lldp_go_to_the_controller_and_only_there(tree):
    sim, _, hosts = tree
    switch, ofport = sim.where["a1"]
    res = sim.switches[switch].switch.trace(
        ofport, eth_src=hosts["a1"]["mac"], eth_dst=BCAST, eth_type=IPV4, ipv4_src="0.0.0.0",
        ipv4_dst="255.255.255.255", ip_proto=17, udp_src=68, udp_dst=67)
    assert res.packet_ins and not res.outputs
    fabric_port = next(iter(sim.fabric.fabric_ports(1)))
    lldp = sim.switches[1].switch.trace(fabric_port, eth_src="02:00:00:00:00:01",
                                        eth_dst="01:80:c2:00:00:0e", eth_type=0x88CC)
    assert lldp.packet_ins and not lldp.outputs


def test_lldp_frames_name_their_sender():
    from topology import lldp
    key = lldp.new_key()
    assert lldp.parse(key, lldp.build(key, 0x2a, 7)) == (0x2a, 7)
    assert lldp.parse(key, b"\xff" * 60) is None
