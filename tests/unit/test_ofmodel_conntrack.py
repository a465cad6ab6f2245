"""The switch model's conntrack (ct action, ct_state/ct_zone/ct_mark matches) and conjunctive
matches (conjunction actions, conj_id), driven with the os-ken messages a controller sends."""
import pytest
from os_ken.ofproto import nicira_ext
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel import SwitchModel, format_flows
from apps.ofmodel import conntrack as ct
from tests.unit.test_ofmodel import M, apply_, flow, goto, out

A = dict(eth_src="fa:16:3e:00:00:01", eth_dst="fa:16:3e:00:00:02", eth_type=0x0800,
         ipv4_src="10.0.0.1", ipv4_dst="10.0.0.2", ip_proto=6, tcp_src=40000, tcp_dst=80)
B = dict(eth_src=A["eth_dst"], eth_dst=A["eth_src"], eth_type=0x0800, ipv4_src="10.0.0.2",
         ipv4_dst="10.0.0.1", ip_proto=6, tcp_src=80, tcp_dst=40000)
SYN, SYN_ACK, ACK = 0x02, 0x12, 0x10


def ct_action(zone=None, table=0xff, commit=False, exec_=(), zone_field=None):
    if zone_field is not None:
        return parser.NXActionCT(flags=int(commit), zone_src=zone_field,
                                 zone_ofs_nbits=nicira_ext.ofs_nbits(0, 15),
                                 recirc_table=table, alg=0, actions=list(exec_))
    return parser.NXActionCT(flags=int(commit), zone_src="", zone_ofs_nbits=zone,
                             recirc_table=table, alg=0, actions=list(exec_))


def mark(value, bit=0):
    return parser.NXActionRegLoad(ofs_nbits=nicira_ext.ofs_nbits(bit, bit), dst="ct_mark",
                                  value=value)


def conj(id_, k, n):
    return parser.NXActionConjunction(clause=k - 1, n_clauses=n, id_=id_)


def firewall():
    """Port 1 may open connections to port 2 (committed in zone 7 with mark bit 0 clear);
    port 2 may only answer them, unless their mark says they are cut; TCP to port 2 is only
    allowed from 10.0.0.1 to port 80 (a conjunction of two clauses)."""
    sw = SwitchModel(1, [1, 2], raise_errors=True)
    ip = dict(eth_type=0x0800)
    est = (ct.TRK | ct.EST, ct.TRK | ct.EST)
    sw.apply_all([
        flow(0, 100, M(in_port=1, **ip), [apply_(ct_action(7, table=1))]),
        flow(0, 100, M(in_port=2, **ip), [apply_(ct_action(7, table=1))]),
        flow(1, 300, M(ct_state=(ct.TRK | ct.INV, ct.TRK | ct.INV), **ip), []),
        flow(1, 290, M(ct_state=est, ct_mark=(1, 1), **ip), []),
        flow(1, 200, M(in_port=1, ct_state=est, **ip), [apply_(out(2))]),
        flow(1, 200, M(in_port=2, ct_state=est, **ip), [apply_(out(1))]),
        flow(1, 100, M(in_port=1, ipv4_src="10.0.0.1", **ip), [apply_(conj(9, 1, 2))]),
        flow(1, 100, M(in_port=1, ip_proto=6, tcp_dst=80, **ip), [apply_(conj(9, 2, 2))]),
        flow(1, 100, M(conj_id=9, **ip),
             [apply_(ct_action(7, commit=True, exec_=[mark(0)]), out(2))]),
    ])
    return sw


def test_a_new_connection_is_committed_and_its_replies_are_established():
    sw = firewall()
    first = sw.trace(1, **A, tcp_flags=SYN)
    assert first.output_ports() == [2], first.describe()
    assert first.outputs[0].fields["ct_state"] == ct.TRK | ct.NEW
    reply = sw.trace(2, **B, tcp_flags=SYN_ACK)
    assert reply.output_ports() == [1], reply.describe()
    assert reply.outputs[0].fields["ct_state"] == ct.TRK | ct.EST | ct.RPL
    assert reply.outputs[0].fields["ct_zone"] == 7
    assert sw.trace(1, **A, tcp_flags=ACK).outputs[0].fields["ct_state"] == ct.TRK | ct.EST
    assert len(sw.conntrack.connections(7)) == 1 and not sw.conntrack.connections(8)


def test_an_answer_without_a_connection_and_a_non_syn_start_are_invalid_and_dropped():
    sw = firewall()
    assert sw.trace(2, **B, tcp_flags=SYN_ACK).dropped
    assert sw.trace(1, **A, tcp_flags=ACK).dropped
    assert not sw.conntrack.connections()


def test_the_conjunction_needs_every_clause():
    sw = firewall()
    assert sw.trace(1, **{**A, "tcp_dst": 81}, tcp_flags=SYN).dropped       # clause 2 misses
    assert sw.trace(1, **{**A, "ipv4_src": "10.0.0.9"}, tcp_flags=SYN).dropped  # clause 1
    assert sw.trace(1, **A, tcp_flags=SYN).output_ports() == [2]


def test_a_conjunction_that_does_not_complete_falls_through_to_lower_priorities():
    sw = SwitchModel(1, [1, 2, 3], raise_errors=True)
    sw.apply_all([
        flow(0, 100, M(ipv4_src="10.0.0.1", eth_type=0x0800), [apply_(conj(5, 1, 2))]),
        flow(0, 100, M(ip_proto=6, tcp_dst=80, eth_type=0x0800), [apply_(conj(5, 2, 2))]),
        flow(0, 100, M(conj_id=5, eth_type=0x0800), [apply_(out(2))]),
        flow(0, 10, M(eth_type=0x0800), [apply_(out(3))]),
    ])
    assert sw.trace(1, **A).output_ports() == [2]
    assert sw.trace(1, **{**A, "tcp_dst": 22}).output_ports() == [3]


def test_a_mark_set_on_commit_cuts_the_connection_both_ways():
    sw = firewall()
    sw.trace(1, **A, tcp_flags=SYN)
    [conn] = sw.conntrack.connections(7)
    assert conn.mark == 0
    # what a controller does when the rule that allowed it goes: mark it (bit 0), keep the rest
    sw.apply(flow(1, 250, M(in_port=1, ct_state=(ct.TRK | ct.EST, ct.TRK | ct.EST | ct.RPL),
                            eth_type=0x0800),
                  [apply_(ct_action(7, commit=True, exec_=[mark(1)]))]))
    assert sw.trace(1, **A, tcp_flags=ACK).dropped
    assert conn.mark == 1
    assert sw.trace(2, **B, tcp_flags=ACK).dropped
    sw.conntrack.flush(7)
    assert not sw.conntrack.connections()


def test_the_zone_comes_from_a_register_and_zones_are_separate():
    sw = SwitchModel(1, [1, 2], raise_errors=True)
    ip = dict(eth_type=0x0800)
    sw.apply_all([
        flow(0, 100, M(in_port=1, **ip), [apply_(parser.OFPActionSetField(reg5=3),
                                                 ct_action(zone_field="reg5", table=1))]),
        flow(0, 100, M(in_port=2, **ip), [apply_(ct_action(4, table=1))]),
        flow(1, 100, M(ct_state=(ct.NEW, ct.NEW), **ip),
             [apply_(ct_action(zone_field="reg5", commit=True), out(2))]),
        flow(1, 100, M(ct_state=(ct.EST, ct.EST), **ip), [apply_(out(1))]),
    ])
    assert sw.trace(1, **A).output_ports() == [2]
    assert [c.zone for c in sw.conntrack.connections()] == [3]
    # the reply is looked up in zone 4, where nothing was committed: new, not established
    assert not sw.trace(2, **B).is_output(1)
    assert "ct(commit,zone=reg5[0..15])" in format_flows(sw, 1)


def test_icmp_echo_and_its_reply_are_one_connection():
    tracker = ct.Conntrack()
    ping = dict(eth_type=0x0800, ipv4_src=1, ipv4_dst=2, ip_proto=1, icmpv4_type=8)
    pong = dict(eth_type=0x0800, ipv4_src=2, ipv4_dst=1, ip_proto=1, icmpv4_type=0)
    assert tracker.track(1, ping)["ct_state"] == ct.TRK | ct.NEW
    tracker.commit(1, ping)
    assert tracker.track(1, pong)["ct_state"] == ct.TRK | ct.EST | ct.RPL
    assert tracker.track(1, {"eth_type": 0x0806})["ct_state"] == ct.TRK | ct.INV


@pytest.mark.parametrize("bad,why", [
    (lambda: flow(0, 1, M(in_port=1), [apply_(ct_action(1))]), "eth_type"),
    (lambda: flow(0, 1, M(eth_type=0x0800), [apply_(ct_action(1, exec_=[mark(1)]))]), "commit"),
    (lambda: flow(0, 1, M(eth_type=0x0800), [apply_(conj(1, 1, 2), out(2))]), "no other"),
    (lambda: flow(0, 1, M(eth_type=0x0800), [apply_(conj(1, 1, 2)), goto(2)]), "no other"),
    (lambda: flow(0, 1, M(eth_type=0x0800), [apply_(conj(1, 3, 2))]), "conjunction"),
])
def test_the_switch_refuses_what_ovs_refuses(bad, why):
    sw = SwitchModel(1, [1, 2])
    sw.apply(bad())
    assert sw.errors and why in sw.errors[0].text and not sw.flow_count()
