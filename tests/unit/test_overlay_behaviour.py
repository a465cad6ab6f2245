"""Tier 1: compiled flows loaded into in-process OF1.3 switches, and packets traced through them.

These assert behaviour (a frame is delivered, tunnelled with the right VNI, answered, dropped),
not flow text, so they survive refactoring of the pipeline.
"""
import random

import pytest

from apps import flows, ofmsg
from apps.model import place
from apps.ofmodel import ModelDatapath, SwitchModel, flow_table_dump, switch_dump
from tests.unit.overlay_fixtures import chassis, iface, model, network, port, two_hypervisors

MAC1, MAC2 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"
IP1, IP2 = "10.0.0.11", "10.0.0.12"
ARP, IPV4 = 0x0806, 0x0800


def program(m, chs):
    """Compile every chassis and push the diff into a fake switch; return {chassis: dp}."""
    placement = place(m, chs)
    dps = {}
    for ch in chs:
        dp = ModelDatapath(SwitchModel(ch.datapath_id, ports=range(1, 10)))
        for msg in ofmsg.diff(dp, ofmsg.Installed(), flows.compile_chassis(ch.system_id, m,
                                                                           placement)):
            dp.send_msg(msg)
        assert dp.switch.errors == []
        dps[ch.system_id] = dp
    return dps


@pytest.fixture
def lab():
    m, chs = two_hypervisors()
    return program(m, chs)


def ip_frame(src_mac, dst_mac, src_ip, dst_ip):
    return dict(eth_src=src_mac, eth_dst=dst_mac, eth_type=IPV4, ipv4_src=src_ip,
                ipv4_dst=dst_ip, ip_proto=1)


def test_unicast_crosses_the_tunnel_with_the_network_vni(lab):
    out = lab["hv1"].switch.trace(1, **ip_frame(MAC1, MAC2, IP1, IP2))
    assert out.output_ports() == [5]
    assert out.outputs[0].fields["tunnel_id"] == 1001
    back = lab["hv2"].switch.trace(7, tunnel_id=1001, **ip_frame(MAC1, MAC2, IP1, IP2))
    assert back.output_ports() == [1]


def test_tunnel_frames_of_networks_not_hosted_are_dropped(lab):
    assert lab["hv2"].switch.trace(7, tunnel_id=4242, **ip_frame(MAC1, MAC2, IP1, IP2)).dropped
    # and a tunnelled frame for a remote MAC is never sent back into a tunnel
    assert lab["hv1"].switch.trace(5, tunnel_id=1001,
                                   **ip_frame(MAC1, MAC2, IP1, IP2)).dropped


@pytest.mark.parametrize("src_mac,src_ip", [("fa:16:3e:99:99:99", IP1), (MAC1, "10.0.0.99"),
                                            (MAC2, IP2)])
def test_spoofed_sources_are_dropped(lab, src_mac, src_ip):
    assert lab["hv1"].switch.trace(1, **ip_frame(src_mac, MAC2, src_ip, IP2)).dropped


def test_spoofed_arp_is_dropped(lab):
    assert lab["hv1"].switch.trace(1, eth_src=MAC1, eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ARP,
                                   arp_op=1, arp_sha=MAC1, arp_spa="10.0.0.99",
                                   arp_tpa=IP2).dropped


def test_arp_for_a_known_address_is_answered_locally(lab):
    out = lab["hv1"].switch.trace(1, eth_src=MAC1, eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ARP,
                                  arp_op=1, arp_sha=MAC1, arp_spa=IP1,
                                  arp_tha="00:00:00:00:00:00", arp_tpa=IP2)
    assert len(out.outputs) == 1
    reply = out.outputs[0]
    assert reply.port == 1  # back out of the asking port, via OFPP_IN_PORT
    f = reply.fields
    assert (f["eth_src"], f["eth_dst"], f["arp_op"]) == (MAC2, MAC1, 2)
    assert (f["arp_sha"], f["arp_spa"], f["arp_tha"], f["arp_tpa"]) == (MAC2, IP2, MAC1, IP1)


def test_broadcast_floods_within_the_network_with_split_horizon(lab):
    bcast = dict(eth_src=MAC1, eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ARP, arp_op=1,
                 arp_sha=MAC1, arp_spa=IP1, arp_tpa="10.0.0.200")  # nobody has .200
    out = lab["hv1"].switch.trace(1, **bcast)
    assert out.output_ports() == [5] and out.outputs[0].fields["tunnel_id"] == 1001
    remote = lab["hv2"].switch.trace(7, tunnel_id=1001, **{**bcast, "eth_src": MAC1})
    assert remote.output_ports() == [1]  # local ports only, never back into tunnels


def test_dhcp_goes_to_the_controller(lab):
    out = lab["hv1"].switch.trace(1, eth_src=MAC1, eth_dst="ff:ff:ff:ff:ff:ff",
                                  eth_type=IPV4, ipv4_src="0.0.0.0",
                                  ipv4_dst="255.255.255.255", ip_proto=17, udp_src=68,
                                  udp_dst=67)
    assert len(out.packet_ins) == 1 and out.outputs == []


def test_networks_and_tenants_with_the_same_cidr_are_isolated():
    m = model([network("a", 1), network("b", 2)], [
        port("a1", "a", MAC1, "10.0.0.5", "va1"), port("a2", "a", MAC2, "10.0.0.6", "va2"),
        port("b1", "b", "fa:16:3e:00:00:0b", "10.0.0.6", "vb1")])
    hv = chassis("hv", "172.16.1.1", iface("1", 1, "va1"), iface("2", 2, "va2"),
                 iface("3", 3, "vb1"))
    sw = program(m, [hv])["hv"].switch
    assert sw.trace(1, **ip_frame(MAC1, MAC2, "10.0.0.5", "10.0.0.6")).output_ports() == [2]
    # the same destination IP in the other network, reached by its MAC: dropped
    assert sw.trace(1, **ip_frame(MAC1, "fa:16:3e:00:00:0b", "10.0.0.5", "10.0.0.6")).dropped
    assert sw.trace(3, **ip_frame("fa:16:3e:00:00:0b", MAC2, "10.0.0.6", "10.0.0.6")).dropped
    # ARP for 10.0.0.6 is answered with the MAC of the asker's own network
    arp = sw.trace(3, eth_src="fa:16:3e:00:00:0b", eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ARP,
                   arp_op=1, arp_sha="fa:16:3e:00:00:0b", arp_spa="10.0.0.6",
                   arp_tpa="10.0.0.5")
    assert arp.dropped or arp.output_ports() == []  # nobody in b has .5: flooded to nobody
    flood = sw.trace(1, eth_src=MAC1, eth_dst="ff:ff:ff:ff:ff:ff", eth_type=ARP, arp_op=1,
                     arp_sha=MAC1, arp_spa="10.0.0.5", arp_tpa="10.0.0.9")
    assert flood.output_ports() == [2]  # never to port 3 of network b


def test_admin_down_port_carries_nothing():
    m, chs = two_hypervisors()
    m.put(port("p1", "net", MAC1, IP1, "vm1", admin_up=False))
    sw = program(m, chs)["hv1"].switch
    assert sw.trace(1, **ip_frame(MAC1, MAC2, IP1, IP2)).dropped


def test_applying_the_same_messages_twice_or_reordered_changes_nothing():
    m, chs = two_hypervisors()
    state = flows.compile_chassis("hv1", m, place(m, chs))
    once = ModelDatapath(SwitchModel(1, ports=range(1, 10)))
    msgs = ofmsg.diff(once, ofmsg.Installed(), state)
    for msg in msgs:
        once.send_msg(msg)
    twice = ModelDatapath(SwitchModel(1, ports=range(1, 10)))
    groups = [x for x in msgs if type(x).__name__ == "OFPGroupMod"]
    rest = [x for x in msgs if x not in groups]
    shuffled = rest[:]
    random.Random(3).shuffle(shuffled)
    for msg in groups + shuffled + [x for x in rest if type(x).__name__ == "OFPFlowMod"]:
        twice.send_msg(msg)
    assert flow_table_dump(once.switch) == flow_table_dump(twice.switch)


def test_resync_from_flow_stats_sends_nothing_and_removes_strangers():
    """What a reconnecting controller does: read flows back, diff, send only the difference."""
    m, chs = two_hypervisors()
    state = flows.compile_chassis("hv1", m, place(m, chs))
    dp = ModelDatapath(SwitchModel(1, ports=range(1, 10)))
    for msg in ofmsg.diff(dp, ofmsg.Installed(), state):
        dp.send_msg(msg)
    parser = dp.ofproto_parser
    stranger = parser.OFPFlowMod(dp, cookie=0x1234, table_id=0, priority=1,
                                 match=parser.OFPMatch(in_port=9), instructions=[])
    dp.send_msg(stranger)
    before = switch_dump(dp.switch)
    installed = ofmsg.Installed(
        {s.cookie: (s.table_id, s.priority, s.match) for s in dp.switch.flow_stats()},
        {g.group_id: None for g in dp.switch.group_desc()})
    msgs = ofmsg.diff(dp, installed, state)
    flow_mods = [x for x in msgs if type(x).__name__ == "OFPFlowMod"]
    assert [x.cookie for x in flow_mods] == [0x1234]  # only the stranger is touched
    for msg in msgs:
        dp.send_msg(msg)
    after = flow_table_dump(dp.switch)
    assert after == [f for f in before["flows"] if f.cookie != 0x1234]
