"""Tests for apps.ofmodel, the in-process OpenFlow 1.3 switch model and packet tracer."""
import random

import pytest
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel import (ModelDatapath, SwitchNetwork, SwitchModel, OFError, flow_table_dump,
                                format_flows, group_dump, meter_dump, packet_fields, switch_dump)

# ---- helpers building os-ken messages ---------------------------------------------------------

M = parser.OFPMatch


def apply_(*actions):
    return parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, list(actions))


def write_(*actions):
    return parser.OFPInstructionActions(ofp.OFPIT_WRITE_ACTIONS, list(actions))


def clear_():
    return parser.OFPInstructionActions(ofp.OFPIT_CLEAR_ACTIONS, [])


def goto(table_id):
    return parser.OFPInstructionGotoTable(table_id)


def out(port):
    return parser.OFPActionOutput(port)


def setf(**kw):
    return parser.OFPActionSetField(**kw)


def move(src, dst, n_bits):
    return parser.NXActionRegMove(src_field=src, dst_field=dst, n_bits=n_bits)


def flow(table_id=0, priority=100, match=None, instructions=(), cookie=0, command=ofp.OFPFC_ADD,
         **kw):
    return parser.OFPFlowMod(None, table_id=table_id, priority=priority, match=match or M(),
                             instructions=list(instructions), cookie=cookie, command=command, **kw)


def delete(table_id=ofp.OFPTT_ALL, match=None, strict=False, priority=0, **kw):
    kw.setdefault('out_port', ofp.OFPP_ANY)
    kw.setdefault('out_group', ofp.OFPG_ANY)
    cmd = ofp.OFPFC_DELETE_STRICT if strict else ofp.OFPFC_DELETE
    return flow(table_id, priority, match, (), command=cmd, **kw)


def group(group_id, type_, *buckets, command=ofp.OFPGC_ADD):
    return parser.OFPGroupMod(None, command, type_, group_id,
                              [parser.OFPBucket(actions=list(acts)) for acts in buckets])


def meter(meter_id, rate=1000, command=ofp.OFPMC_ADD):
    return parser.OFPMeterMod(None, command, ofp.OFPMF_KBPS, meter_id,
                              [parser.OFPMeterBandDrop(rate=rate, burst_size=rate // 10)])


MAC1, MAC2, MAC3 = '00:00:00:00:00:01', '00:00:00:00:00:02', '00:00:00:00:00:03'
BCAST = 'ff:ff:ff:ff:ff:ff'


@pytest.fixture
def sw():
    return SwitchModel(0x1, ports=[1, 2, 3, 4])


def codes(switch):
    return [(e.type_name, e.code_name) for e in switch.errors]


# ---- flow-mod commands ------------------------------------------------------------------------

def test_add_replaces_identical_match_and_priority(sw):
    sw.apply(flow(0, 100, M(in_port=1), [apply_(out(2))], cookie=1))
    sw.apply(flow(0, 100, M(in_port=1), [apply_(out(3))], cookie=2))
    assert sw.flow_count() == 1
    assert sw.trace(1).output_ports() == [3]
    assert sw.flows()[0].cookie == 2
    sw.apply(flow(0, 200, M(in_port=1), [apply_(out(4))]))
    assert sw.flow_count() == 2
    assert sw.trace(1).output_ports() == [4]        # highest priority wins
    assert not sw.errors


def test_add_same_match_written_differently_is_one_entry(sw):
    # a full mask is the same as no mask; masked values are normalised
    sw.apply(flow(0, 10, M(eth_dst=(MAC1, 'ff:ff:ff:ff:ff:ff')), [apply_(out(2))]))
    sw.apply(flow(0, 10, M(eth_dst=MAC1), [apply_(out(3))]))
    sw.apply(flow(0, 10, M(metadata=(0x1ff, 0xff)), [apply_(out(2))]))
    sw.apply(flow(0, 10, M(metadata=(0x0ff, 0xff)), [apply_(out(3))]))
    assert sw.flow_count() == 2


def test_check_overlap_flag(sw):
    sw.apply(flow(0, 10, M(in_port=1), [apply_(out(2))]))
    sw.apply(flow(0, 10, M(eth_dst=MAC1), [apply_(out(3))], flags=ofp.OFPFF_CHECK_OVERLAP))
    assert codes(sw) == [('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_OVERLAP')]
    sw.apply(flow(0, 11, M(eth_dst=MAC1), [apply_(out(3))], flags=ofp.OFPFF_CHECK_OVERLAP))
    sw.apply(flow(0, 10, M(in_port=2), [apply_(out(3))], flags=ofp.OFPFF_CHECK_OVERLAP))
    assert sw.flow_count() == 3 and len(sw.errors) == 1


def test_modify_non_strict_updates_covered_flows_only(sw):
    sw.apply(flow(0, 10, M(in_port=1, eth_dst=MAC1), [apply_(out(2))], cookie=7))
    sw.apply(flow(0, 20, M(in_port=1, eth_dst=MAC2), [apply_(out(2))], cookie=7))
    sw.apply(flow(0, 30, M(in_port=2), [apply_(out(1))], cookie=7))
    sw.apply(flow(0, 0, M(in_port=1), [apply_(out(4))], command=ofp.OFPFC_MODIFY, cookie=99))
    assert sw.trace(1, eth_dst=MAC1).output_ports() == [4]
    assert sw.trace(1, eth_dst=MAC2).output_ports() == [4]
    assert sw.trace(2).output_ports() == [1]
    assert {e.cookie for e in sw.flows()} == {7}    # MODIFY keeps cookies (OF1.3)
    assert sw.flow_count() == 3


def test_modify_honours_cookie_mask_and_never_adds(sw):
    sw.apply(flow(0, 10, M(in_port=1), [apply_(out(2))], cookie=0x100))
    sw.apply(flow(0, 10, M(in_port=2), [apply_(out(1))], cookie=0x200))
    sw.apply(flow(0, 0, M(), [apply_(out(4))], command=ofp.OFPFC_MODIFY,
                  cookie=0x200, cookie_mask=0xf00))
    assert sw.trace(1).output_ports() == [2]
    assert sw.trace(2).output_ports() == [4]
    sw.apply(flow(0, 10, M(in_port=3), [apply_(out(1))], command=ofp.OFPFC_MODIFY))
    assert sw.flow_count() == 2                        # no match: no-op, no add


def test_modify_strict_needs_exact_match_and_priority(sw):
    sw.apply(flow(0, 10, M(in_port=1, eth_dst=MAC1), [apply_(out(2))]))
    sw.apply(flow(0, 10, M(in_port=1), [apply_(out(3))], command=ofp.OFPFC_MODIFY_STRICT))
    sw.apply(flow(0, 11, M(in_port=1, eth_dst=MAC1), [apply_(out(3))],
                  command=ofp.OFPFC_MODIFY_STRICT))
    assert sw.trace(1, eth_dst=MAC1).output_ports() == [2]
    sw.apply(flow(0, 10, M(eth_dst=MAC1, in_port=1), [apply_(out(3))],
                  command=ofp.OFPFC_MODIFY_STRICT))
    assert sw.trace(1, eth_dst=MAC1).output_ports() == [3]


def test_delete_non_strict_by_match_table_and_all_tables(sw):
    sw.apply(flow(0, 10, M(in_port=1, eth_dst=MAC1), [goto(1)]))
    sw.apply(flow(0, 10, M(in_port=1, eth_dst=MAC2), [goto(1)]))
    sw.apply(flow(0, 10, M(in_port=2), [goto(1)]))
    sw.apply(flow(1, 10, M(in_port=1), [apply_(out(2))]))
    sw.apply(delete(0, M(in_port=1)))
    assert sw.flow_count(0) == 1 and sw.flow_count(1) == 1
    sw.apply(delete(ofp.OFPTT_ALL, M()))
    assert sw.flow_count() == 0
    assert not sw.errors


def test_delete_filters_out_port_and_out_group(sw):
    sw.apply(group(5, ofp.OFPGT_ALL, [out(1)], [out(2)]))
    sw.apply(flow(0, 10, M(in_port=1), [apply_(out(2))]))
    sw.apply(flow(0, 10, M(in_port=2), [apply_(out(3))]))
    sw.apply(flow(0, 10, M(in_port=3), [write_(parser.OFPActionGroup(5))]))
    sw.apply(delete(0, M(), out_port=3))
    assert sorted(e.match[0][1] for e in sw.flows()) == [1, 3]
    sw.apply(delete(0, M(), out_group=5))
    assert [e.match[0][1] for e in sw.flows()] == [1]


def test_delete_with_os_ken_default_out_port_deletes_nothing(sw):
    """os-ken's OFPFlowMod defaults out_port/out_group to 0; OVS then keeps every flow (a
    classic controller bug this model reproduces instead of hiding)."""
    sw.apply(flow(0, 10, M(in_port=1), [apply_(out(2))]))
    sw.apply(parser.OFPFlowMod(None, table_id=ofp.OFPTT_ALL, command=ofp.OFPFC_DELETE))
    assert sw.flow_count() == 1


def test_delete_non_strict_honours_cookie_mask(sw):
    sw.apply(flow(0, 10, M(in_port=1), [apply_(out(2))], cookie=0xA0001))
    sw.apply(flow(0, 10, M(in_port=2), [apply_(out(1))], cookie=0xB0001))
    sw.apply(delete(ofp.OFPTT_ALL, M(), cookie=0xA0000, cookie_mask=0xF0000))
    assert [e.cookie for e in sw.flows()] == [0xB0001]


def test_delete_strict_with_cookie_mask_removes_only_its_own_flow(sw):
    app1, app2, mask = 0x1 << 48, 0x2 << 48, 0xffff << 48
    sw.apply(flow(0, 100, M(eth_type=0x0800, in_port=1), [apply_(out(2))], cookie=app1 | 1))
    sw.apply(flow(0, 200, M(eth_type=0x0800, in_port=1), [apply_(out(3))], cookie=app2 | 1))
    sw.apply(flow(0, 100, M(eth_type=0x0800, in_port=2), [apply_(out(1))], cookie=app2 | 2))
    # app2 tries to strictly delete app1's (match, priority): cookie filter protects it
    sw.apply(delete(0, M(eth_type=0x0800, in_port=1), strict=True, priority=100,
                    cookie=app2, cookie_mask=mask))
    assert sw.flow_count() == 3
    # app1 deletes its own: only that entry goes, not the same match at another priority
    sw.apply(delete(0, M(eth_type=0x0800, in_port=1), strict=True, priority=100,
                    cookie=app1, cookie_mask=mask))
    assert sorted(e.cookie for e in sw.flows()) == [app2 | 1, app2 | 2]
    # strict delete needs the exact match: a subset does nothing
    sw.apply(delete(0, M(in_port=1), strict=True, priority=200))
    assert sw.flow_count() == 2


def test_bad_table_ids_are_rejected(sw):
    sw.apply(flow(ofp.OFPTT_ALL, 10, M(), [apply_(out(1))]))
    sw.apply(flow(ofp.OFPTT_ALL, 10, M(), [apply_(out(1))], command=ofp.OFPFC_MODIFY))
    assert codes(sw) == [('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_BAD_TABLE_ID')] * 2
    assert sw.flow_count() == 0


# ---- validation like a switch -----------------------------------------------------------------

def test_goto_table_must_go_forward(sw):
    sw.apply(flow(5, 10, M(), [goto(5)]))
    sw.apply(flow(5, 10, M(), [goto(3)]))
    assert codes(sw) == [('OFPET_BAD_INSTRUCTION', 'OFPBIC_BAD_TABLE_ID')] * 2
    assert sw.flow_count() == 0
    sw.apply(flow(5, 10, M(), [goto(6)]))
    assert sw.flow_count() == 1


def test_match_prerequisites_are_checked(sw):
    sw.apply(flow(0, 10, M(ipv4_dst='10.0.0.1'), [apply_(out(1))]))
    sw.apply(flow(0, 10, M(eth_type=0x0800, tcp_dst=80), [apply_(out(1))]))
    sw.apply(flow(0, 10, M(arp_tpa='10.0.0.1'), [apply_(out(1))]))
    assert codes(sw) == [('OFPET_BAD_MATCH', 'OFPBMC_BAD_PREREQ')] * 3
    sw.apply(flow(0, 10, M(eth_type=0x0800, ip_proto=6, tcp_dst=80), [apply_(out(1))]))
    sw.apply(flow(0, 10, M(eth_type=0x86dd, ip_proto=58, icmpv6_type=135,
                           ipv6_nd_target='fe80::1'), [apply_(out(1))]))
    assert sw.flow_count() == 2 and len(sw.errors) == 3


def test_set_field_and_move_prerequisites_follow_the_match(sw):
    sw.apply(flow(0, 10, M(in_port=1), [apply_(setf(arp_op=2), out(2))]))
    sw.apply(flow(0, 10, M(in_port=1), [apply_(move('arp_sha', 'arp_tha', 48), out(2))]))
    assert codes(sw) == [('OFPET_BAD_ACTION', 'OFPBAC_MATCH_INCONSISTENT')] * 2
    sw.apply(flow(0, 10, M(in_port=1, eth_type=0x0806), [apply_(setf(arp_op=2), out(2))]))
    assert sw.flow_count() == 1


def test_move_outside_field_width_is_rejected(sw):
    sw.apply(flow(0, 10, M(), [apply_(move('reg0', 'eth_dst', 48))]))
    assert codes(sw) == [('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_ARGUMENT')]


def test_flow_referring_to_missing_group_or_meter_is_rejected(sw):
    sw.apply(flow(0, 10, M(), [apply_(parser.OFPActionGroup(7))]))
    sw.apply(flow(0, 10, M(), [parser.OFPInstructionMeter(3), apply_(out(1))]))
    assert codes(sw) == [('OFPET_BAD_ACTION', 'OFPBAC_BAD_OUT_GROUP'),
                         ('OFPET_METER_MOD_FAILED', 'OFPMMFC_INVALID_METER')]
    assert sw.flow_count() == 0


def test_duplicate_instruction_is_rejected(sw):
    sw.apply(flow(0, 10, M(), [apply_(out(1)), apply_(out(2))]))
    assert codes(sw) == [('OFPET_BAD_INSTRUCTION', 'OFPBIC_DUP_INST')]


def test_raise_errors_mode():
    sw = SwitchModel(1, [1, 2], raise_errors=True)
    with pytest.raises(OFError) as exc:
        sw.apply(flow(3, 10, M(), [goto(2)]))
    assert exc.value.error.code_name == 'OFPBIC_BAD_TABLE_ID'


def test_validation_can_be_switched_off():
    sw = SwitchModel(1, [1, 2], validate=False)
    sw.apply(flow(0, 10, M(ipv4_dst='10.0.0.1'), [apply_(parser.OFPActionGroup(9))]))
    assert sw.flow_count() == 1 and not sw.errors


# ---- groups, meters, barriers, unknown messages -----------------------------------------------

def test_group_add_modify_delete_and_errors(sw):
    sw.apply(group(1, ofp.OFPGT_ALL, [out(1)], [out(2)]))
    sw.apply(group(1, ofp.OFPGT_ALL, [out(3)]))                                # exists
    sw.apply(group(2, ofp.OFPGT_INDIRECT, [out(3)], command=ofp.OFPGC_MODIFY))  # missing
    sw.apply(group(3, ofp.OFPGT_INDIRECT, [out(3)], [out(4)]))                 # 2 buckets
    assert codes(sw) == [('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_GROUP_EXISTS'),
                         ('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_UNKNOWN_GROUP'),
                         ('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_INVALID_GROUP')]
    sw.apply(group(1, ofp.OFPGT_INDIRECT, [out(4)], command=ofp.OFPGC_MODIFY))
    assert sw.groups[1].type == ofp.OFPGT_INDIRECT
    sw.apply(flow(0, 10, M(in_port=1), [apply_(parser.OFPActionGroup(1))]))
    assert sw.trace(1).output_ports() == [4]
    desc = sw.group_desc()
    assert [(d.group_id, d.type) for d in desc] == [(1, ofp.OFPGT_INDIRECT)]
    # deleting a group removes the flows that forward to it; deleting a missing one is fine
    sw.apply(group(1, ofp.OFPGT_ALL, command=ofp.OFPGC_DELETE))
    sw.apply(group(1, ofp.OFPGT_ALL, command=ofp.OFPGC_DELETE))
    assert not sw.groups and sw.flow_count() == 0
    assert len(sw.errors) == 3


def test_group_delete_all(sw):
    for gid in (1, 2, 3):
        sw.apply(group(gid, ofp.OFPGT_ALL, [out(gid)]))
    sw.apply(group(ofp.OFPG_ALL, ofp.OFPGT_ALL, command=ofp.OFPGC_DELETE))
    assert not sw.groups


def test_meter_add_modify_delete_and_trace(sw):
    sw.apply(meter(1, 1000))
    sw.apply(meter(1, 2000))                                      # exists
    sw.apply(meter(2, 500, command=ofp.OFPMC_MODIFY))            # missing
    sw.apply(meter(0, 500))                                       # invalid id
    assert codes(sw) == [('OFPET_METER_MOD_FAILED', 'OFPMMFC_METER_EXISTS'),
                         ('OFPET_METER_MOD_FAILED', 'OFPMMFC_UNKNOWN_METER'),
                         ('OFPET_METER_MOD_FAILED', 'OFPMMFC_INVALID_METER')]
    sw.apply(meter(1, 3000, command=ofp.OFPMC_MODIFY))
    assert sw.meters[1].bands[0].rate == 3000
    assert [(c.meter_id, c.bands[0].rate) for c in sw.meter_config()] == [(1, 3000)]
    sw.apply(flow(0, 10, M(in_port=1), [parser.OFPInstructionMeter(1), apply_(out(2))]))
    res = sw.trace(1)
    assert res.meters == [1] and res.output_ports() == [2]
    sw.apply(meter(1, command=ofp.OFPMC_DELETE))
    assert not sw.meters and sw.flow_count() == 0   # flows using the meter go with it


def test_barrier_counted_and_replied(sw):
    replies = sw.apply(parser.OFPBarrierRequest(None))
    sw.apply(parser.OFPBarrierRequest(None))
    assert sw.barriers == 2
    assert isinstance(replies[0], parser.OFPBarrierReply)


def test_unknown_message_is_recorded_not_fatal(sw):
    msg = parser.OFPGetAsyncRequest(None)
    assert sw.apply(msg) == []
    assert sw.unknown == [msg]


def role(sw, which, generation):
    (reply,) = sw.apply(parser.OFPRoleRequest(None, which, generation))
    return reply


def test_a_stale_generation_is_refused_and_changes_no_role(sw):
    assert isinstance(role(sw, ofp.OFPCR_ROLE_MASTER, 5), parser.OFPRoleReply)
    sw.apply(parser.OFPRoleRequest(None, ofp.OFPCR_ROLE_SLAVE, 5))     # same: accepted
    assert sw.role == ofp.OFPCR_ROLE_SLAVE
    refused = role(sw, ofp.OFPCR_ROLE_MASTER, 4)
    assert (refused.type, refused.code) == (ofp.OFPET_ROLE_REQUEST_FAILED, ofp.OFPRRFC_STALE)
    assert (sw.role, sw.generation) == (ofp.OFPCR_ROLE_SLAVE, 5)
    # the distance is signed and wraps: 2**64 - 1 is older than 0
    sw.generation = 2 ** 64 - 1
    assert isinstance(role(sw, ofp.OFPCR_ROLE_MASTER, 0), parser.OFPRoleReply)


def test_a_slave_connection_may_not_write_and_the_table_stays(sw):
    fm = flow(0, 10, M(in_port=1), [apply_(out(2))])
    role(sw, ofp.OFPCR_ROLE_MASTER, 1)
    sw.apply(fm)
    sw.other_master(2)                      # another controller took over with generation 2
    assert sw.role == ofp.OFPCR_ROLE_SLAVE
    (refused,) = sw.apply(flow(0, 20, M(in_port=2), [apply_(out(1))]))
    assert (refused.type, refused.code) == (ofp.OFPET_BAD_REQUEST, ofp.OFPBRC_IS_SLAVE)
    assert [f.priority for f in sw.flows()] == [10]
    # reads still work for a slave
    assert isinstance(sw.apply(parser.OFPBarrierRequest(None))[0], parser.OFPBarrierReply)


def test_error_reply_carries_xid(sw):
    fm = flow(0, 10, M(), [goto(0)])
    fm.xid = 42
    (reply,) = sw.apply(fm)
    assert isinstance(reply, parser.OFPErrorMsg)
    assert reply.xid == 42 and reply.type == ofp.OFPET_BAD_INSTRUCTION


# ---- packet processing --------------------------------------------------------------------------

def test_table_miss_drops(sw):
    res = sw.trace(1, eth_dst=MAC2)
    assert res.dropped and res.path == [(0, None)]
    sw.apply(flow(0, 10, M(in_port=1), [goto(3)]))
    res = sw.trace(1, eth_dst=MAC2)
    assert res.dropped and res.tables() == [0, 3]


def test_masked_eth_and_metadata_matches(sw):
    # table 0: classify by in_port -> metadata (network 5 in the low 24 bits, a flag above)
    sw.apply(flow(0, 10, M(in_port=1), [parser.OFPInstructionWriteMetadata(5, 0xffffff),
                                        goto(1)]))
    sw.apply(flow(0, 10, M(in_port=2), [parser.OFPInstructionWriteMetadata(6, 0xffffff),
                                        goto(1)]))
    # table 1: multicast bit -> flood-ish port 4, unicast of network 5 -> port 3
    sw.apply(flow(1, 20, M(metadata=(5, 0xffffff), eth_dst=('01:00:00:00:00:00',
                                                            '01:00:00:00:00:00')),
                  [apply_(out(4))]))
    sw.apply(flow(1, 10, M(metadata=(5, 0xffffff)), [apply_(out(3))]))
    assert sw.trace(1, eth_dst=BCAST).output_ports() == [4]
    assert sw.trace(1, eth_dst='33:33:00:00:00:01').output_ports() == [4]
    assert sw.trace(1, eth_dst=MAC2).output_ports() == [3]
    assert sw.trace(2, eth_dst=MAC2).dropped        # metadata 6: no entry in table 1
    # OUI-masked source
    sw.apply(flow(2, 10, M(eth_src=('52:54:00:00:00:00', 'ff:ff:ff:00:00:00')), [apply_(out(1))]))
    assert sw.trace(2, table_id=2, eth_src='52:54:00:ab:cd:ef').output_ports() == [1]
    assert sw.trace(2, table_id=2, eth_src='52:55:00:ab:cd:ef').dropped


def test_ip_prefix_matches(sw):
    sw.apply(flow(0, 24, M(eth_type=0x0800, ipv4_dst='10.1.2.0/24'), [apply_(out(2))]))
    sw.apply(flow(0, 16, M(eth_type=0x0800, ipv4_dst=('10.1.0.0', '255.255.0.0')),
                  [apply_(out(3))]))
    sw.apply(flow(0, 64, M(eth_type=0x86dd, ipv6_dst='2001:db8::/64'), [apply_(out(4))]))
    assert sw.trace(1, eth_type=0x0800, ipv4_dst='10.1.2.9').output_ports() == [2]
    assert sw.trace(1, eth_type=0x0800, ipv4_dst='10.1.3.9').output_ports() == [3]
    assert sw.trace(1, eth_type=0x0800, ipv4_dst='10.2.3.9').dropped
    assert sw.trace(1, eth_type=0x86dd, ipv6_dst='2001:db8::5').output_ports() == [4]
    assert sw.trace(1, eth_type=0x86dd, ipv6_dst='2001:db8:1::5').dropped


def test_write_metadata_keeps_unmasked_bits_across_tables(sw):
    sw.apply(flow(0, 10, M(in_port=1), [parser.OFPInstructionWriteMetadata(0xab00, 0xff00),
                                        goto(2)]))
    sw.apply(flow(2, 10, M(), [parser.OFPInstructionWriteMetadata(0x0001, 0x00ff), goto(4)]))
    sw.apply(flow(4, 10, M(metadata=0xab01), [apply_(out(3))]))
    res = sw.trace(1, metadata=0xff0000)
    assert res.tables() == [0, 2, 4]
    assert res.outputs == []                           # 0xffab01 != 0xab01
    res = sw.trace(1)
    assert res.output_ports() == [3] and res.tables() == [0, 2, 4]
    assert res.outputs[0].fields['metadata'] == 0xab01


def test_group_all_floods_but_not_back_to_in_port(sw):
    sw.apply(group(10, ofp.OFPGT_ALL, [out(1)], [out(2)], [out(3)],
                   [setf(tunnel_id=1001), out(4)]))
    sw.apply(flow(0, 10, M(eth_dst=BCAST), [apply_(parser.OFPActionGroup(10))]))
    res = sw.trace(2, eth_dst=BCAST, eth_src=MAC2)
    assert sorted(res.output_ports()) == [1, 3, 4]
    assert res.suppressed == [2]
    assert res.is_output(4, tunnel_id=1001)
    assert not res.is_output(1, tunnel_id=1001)        # bucket copies are independent
    # OFPP_FLOOD / OFPP_ALL likewise skip the in_port
    sw.apply(flow(0, 20, M(eth_dst=BCAST, in_port=3), [apply_(out(ofp.OFPP_FLOOD))]))
    assert sw.trace(3, eth_dst=BCAST).output_ports() == [1, 2, 4]


def test_output_to_in_port_needs_ofpp_in_port(sw):
    sw.apply(flow(0, 10, M(in_port=1), [apply_(out(1))]))
    res = sw.trace(1)
    assert res.dropped and res.suppressed == [1]
    sw.apply(flow(0, 10, M(in_port=1), [apply_(out(ofp.OFPP_IN_PORT))]))
    assert sw.trace(1).output_ports() == [1]


def test_set_tunnel_id_then_output_to_tunnel_port(sw):
    # l2 lookup: network metadata 7 + eth_dst -> remote VM behind the tunnel port 9 (VNI 1001)
    sw.add_port(9, 'vxlan0')
    sw.apply(flow(0, 10, M(in_port=1), [parser.OFPInstructionWriteMetadata(7, 0xffffff),
                                        goto(20)]))
    sw.apply(flow(20, 50, M(metadata=(7, 0xffffff), eth_dst=MAC3),
                  [apply_(setf(tunnel_id=1001), out(9))]))
    res = sw.trace(1, eth_src=MAC1, eth_dst=MAC3, eth_type=0x0800, ipv4_src='10.0.0.1',
                   ipv4_dst='10.0.0.3')
    assert res.output_ports() == [9]
    assert res.is_output(9, tunnel_id=1001, eth_dst=MAC3, ipv4_dst='10.0.0.3')
    assert res.outputs_to(9)[0]['tunnel_id'] == 1001
    # and the receiving side: tunnel_id -> metadata -> local port
    sw.apply(flow(0, 10, M(in_port=9, tunnel_id=1001),
                  [parser.OFPInstructionWriteMetadata(7, 0xffffff), goto(20)]))
    sw.apply(flow(20, 50, M(metadata=(7, 0xffffff), eth_dst=MAC1), [apply_(out(1))]))
    assert sw.trace(9, tunnel_id=1001, eth_dst=MAC1).output_ports() == [1]
    assert sw.trace(9, tunnel_id=1002, eth_dst=MAC1).dropped


def test_arp_responder_with_nicira_reg_moves(sw):
    vm_mac, vm_ip = 'fa:16:3e:00:00:01', '10.0.0.5'
    target_mac, target_ip = 'fa:16:3e:00:00:99', '10.0.0.9'
    sw.apply(flow(0, 10, M(in_port=1), [parser.OFPInstructionWriteMetadata(7, 0xffffff),
                                        goto(10)]))
    responder = [
        move('eth_src', 'eth_dst', 48),
        setf(eth_src=target_mac),
        setf(arp_op=2),
        move('arp_sha', 'arp_tha', 48),
        setf(arp_sha=target_mac),
        move('arp_spa', 'arp_tpa', 32),
        setf(arp_spa=target_ip),
        out(ofp.OFPP_IN_PORT),
    ]
    sw.apply(flow(10, 100, M(metadata=(7, 0xffffff), eth_type=0x0806, arp_op=1,
                             arp_tpa=target_ip), [apply_(*responder)]))
    assert not sw.errors
    res = sw.trace(1, eth_src=vm_mac, eth_dst=BCAST, eth_type=0x0806, arp_op=1,
                   arp_sha=vm_mac, arp_spa=vm_ip, arp_tha='00:00:00:00:00:00',
                   arp_tpa=target_ip)
    assert res.output_ports() == [1]
    reply = res.outputs[0].fields
    assert reply['eth_src'] == target_mac and reply['eth_dst'] == vm_mac
    assert reply['arp_op'] == 2
    assert reply['arp_sha'] == target_mac and reply['arp_spa'] == target_ip
    assert reply['arp_tha'] == vm_mac and reply['arp_tpa'] == vm_ip
    # a request for another IP is not answered
    assert sw.trace(1, eth_src=vm_mac, eth_dst=BCAST, eth_type=0x0806, arp_op=1,
                    arp_sha=vm_mac, arp_spa=vm_ip, arp_tpa='10.0.0.10').dropped


def test_partial_move_and_reg_load_between_registers(sw):
    sw.apply(flow(0, 10, M(), [apply_(
        parser.NXActionRegMove(src_field='reg0', dst_field='reg1', n_bits=8, src_ofs=8,
                               dst_ofs=16),
        parser.NXActionRegLoad(ofs_nbits=(4 << 6) | 3, dst='reg2', value=0xf)), goto(1)]))
    sw.apply(flow(1, 10, M(reg1=0x00ab0000, reg2=0xf0), [apply_(out(2))]))
    res = sw.trace(1, reg0=0x0000ab00)
    assert res.output_ports() == [2]


def test_controller_output_is_a_packet_in(sw):
    sw.apply(flow(0, 0, M(), [apply_(out(ofp.OFPP_CONTROLLER))], cookie=0x99))
    sw.apply(flow(0, 50, M(eth_type=0x0800, ip_proto=17, udp_dst=67),
                  [apply_(parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER))]))
    res = sw.trace(1, eth_type=0x0800, ip_proto=17, udp_src=68, udp_dst=67, eth_src=MAC1)
    assert res.output_ports() == [] and not res.dropped
    (pin,) = res.packet_ins
    reason, fields = pin
    assert reason == ofp.OFPR_ACTION and fields['udp_dst'] == 67 and fields['in_port'] == 1
    res = sw.trace(2, eth_type=0x0806)
    assert res.packet_ins[0].reason == ofp.OFPR_NO_MATCH     # table-miss entry
    assert res.packet_ins[0].cookie == 0x99 and res.sent_to_controller(in_port=2)


def test_action_set_write_clear_and_order(sw):
    sw.apply(group(3, ofp.OFPGT_INDIRECT, [out(3)]))
    # write output:2 and tunnel id in table 0; table 1 adds a group: group wins over output
    sw.apply(flow(0, 10, M(in_port=1), [write_(out(2), setf(tunnel_id=5)), goto(1)]))
    sw.apply(flow(1, 10, M(eth_dst=MAC3), [write_(parser.OFPActionGroup(3))]))
    sw.apply(flow(1, 5, M(), []))
    res = sw.trace(1, eth_dst=MAC3)
    assert res.output_ports() == [3] and res.is_output(3, tunnel_id=5)
    res = sw.trace(1, eth_dst=MAC2)
    assert res.output_ports() == [2] and res.is_output(2, tunnel_id=5)
    # clear-actions empties the set; a miss discards it
    sw.apply(flow(1, 7, M(eth_dst=MAC1), [clear_()]))
    assert sw.trace(1, eth_dst=MAC1).dropped
    sw.apply(delete(1, M()))
    assert sw.trace(1, eth_dst=MAC2).dropped


def test_apply_actions_run_before_goto_and_see_set_fields(sw):
    sw.apply(flow(0, 10, M(in_port=1), [apply_(setf(reg0=42)), goto(1)]))
    sw.apply(flow(1, 10, M(reg0=42), [apply_(setf(vlan_vid=0x1000 | 10), out(2))]))
    res = sw.trace(1)
    assert res.is_output(2, vlan_vid=0x1000 | 10, reg0=42)


def test_resubmit_table(sw):
    sw.apply(flow(0, 10, M(in_port=1), [apply_(parser.NXActionResubmitTable(table_id=5),
                                               out(3))]))
    sw.apply(flow(5, 10, M(), [apply_(out(2))]))
    res = sw.trace(1)
    assert res.output_ports() == [2, 3] and res.tables() == [0, 5]


def test_trace_rejects_unknown_fields(sw):
    with pytest.raises(ValueError):
        sw.trace(1, eth_dest=MAC1)


def test_select_and_fast_failover_groups(sw):
    sw.apply(group(1, ofp.OFPGT_SELECT, [out(2)], [out(3)]))
    sw.apply(flow(0, 10, M(in_port=1), [apply_(parser.OFPActionGroup(1))]))
    assert len(sw.trace(1).outputs) == 1
    sw.apply(parser.OFPGroupMod(None, ofp.OFPGC_ADD, ofp.OFPGT_FF, 2, [
        parser.OFPBucket(watch_port=3, actions=[out(3)]),
        parser.OFPBucket(watch_port=4, actions=[out(4)])]))
    sw.apply(flow(0, 10, M(in_port=2), [apply_(parser.OFPActionGroup(2))]))
    assert sw.trace(2).output_ports() == [3]
    sw.remove_port(3)                                  # watched port gone: next live bucket
    assert sw.trace(2).output_ports() == [4]


def test_resubmitted_flow_writes_into_the_action_set(sw):
    sw.apply(flow(0, 10, M(in_port=1), [apply_(parser.NXActionResubmitTable(table_id=7))]))
    sw.apply(flow(7, 10, M(), [write_(setf(tunnel_id=77), out(4))]))
    res = sw.trace(1)
    assert res.tables() == [0, 7] and res.is_output(4, tunnel_id=77)


def test_old_api_match_is_understood(sw):
    m = parser.OFPMatch()
    m.set_in_port(2)
    m.set_dl_dst(b'\x00\x00\x00\x00\x00\x01')
    sw.apply(flow(0, 10, m, [apply_(out(3))]))
    assert sw.trace(2, eth_dst=MAC1).output_ports() == [3]
    assert sw.trace(2, eth_dst=MAC2).dropped


def test_packet_out_direct_and_through_the_pipeline(sw):
    from os_ken.lib.packet import arp, ethernet, packet
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst=MAC1, src=MAC3, ethertype=0x0806))
    pkt.add_protocol(arp.arp(opcode=2, src_mac=MAC3, src_ip='10.0.0.3', dst_mac=MAC1,
                             dst_ip='10.0.0.1'))
    pkt.serialize()
    fields = packet_fields(pkt.data)
    assert fields['arp_op'] == 2 and fields['arp_tpa'] == '10.0.0.1'
    assert fields['eth_type'] == 0x0806
    direct = parser.OFPPacketOut(None, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                                 actions=[out(2)], data=pkt.data)
    assert sw.apply(direct) == [] and sw.packet_outs == [direct]
    res = sw.trace_packet_out(direct)
    assert res.output_ports() == [2] and res.is_output(2, arp_spa='10.0.0.3')
    sw.apply(flow(0, 10, M(eth_dst=MAC1), [apply_(out(1))]))
    via_table = parser.OFPPacketOut(None, buffer_id=ofp.OFP_NO_BUFFER,
                                    in_port=ofp.OFPP_CONTROLLER,
                                    actions=[out(ofp.OFPP_TABLE)], data=pkt.data)
    res = sw.trace_packet_out(via_table)
    assert res.output_ports() == [1] and res.tables() == [0]


# ---- equivalence helpers ----------------------------------------------------------------------

def _pipeline_msgs():
    return [
        meter(1),
        group(1, ofp.OFPGT_ALL, [out(1)], [out(2)], [setf(tunnel_id=1001), out(4)]),
        flow(0, 10, M(in_port=1), [parser.OFPInstructionMeter(1),
                                   parser.OFPInstructionWriteMetadata(7, 0xffffff), goto(10)],
             cookie=0x10001),
        flow(0, 10, M(in_port=4, tunnel_id=1001),
             [parser.OFPInstructionWriteMetadata(7, 0xffffff), goto(10)], cookie=0x10002),
        flow(10, 100, M(metadata=(7, 0xffffff), eth_type=0x0806, arp_op=1, arp_tpa='10.0.0.9'),
             [apply_(move('eth_src', 'eth_dst', 48), setf(eth_src=MAC3), setf(arp_op=2),
                     out(ofp.OFPP_IN_PORT))], cookie=0x10003),
        flow(10, 0, M(), [goto(20)], cookie=0x10004),
        flow(20, 50, M(metadata=(7, 0xffffff), eth_dst=MAC2), [apply_(out(2))], cookie=0x10005),
        flow(20, 10, M(metadata=(7, 0xffffff), eth_dst=('01:00:00:00:00:00', '01:00:00:00:00:00')),
             [apply_(parser.OFPActionGroup(1))], cookie=0x10006),
    ]


def test_applying_twice_leaves_the_same_tables():
    a, b = SwitchModel(1, [1, 2, 4]), SwitchModel(1, [1, 2, 4])
    a.apply_all(_pipeline_msgs())
    b.apply_all(_pipeline_msgs())
    b.apply_all([m for m in _pipeline_msgs() if isinstance(m, parser.OFPFlowMod)])
    assert flow_table_dump(a) == flow_table_dump(b)
    assert switch_dump(a) == switch_dump(b)
    assert not a.errors and not b.errors


def test_reordered_flow_mods_leave_the_same_tables():
    msgs = _pipeline_msgs()
    head, flows = msgs[:2], msgs[2:]
    ref = SwitchModel(1, [1, 2, 4])
    ref.apply_all(msgs)
    for seed in range(5):
        shuffled = flows[:]
        random.Random(seed).shuffle(shuffled)
        other = SwitchModel(1, [1, 2, 4])
        other.apply_all(head + shuffled)
        assert flow_table_dump(other) == flow_table_dump(ref), format_flows(other)


def test_dump_sees_real_differences():
    a, b = SwitchModel(1), SwitchModel(1)
    a.apply(flow(0, 10, M(in_port=1), [apply_(out(2))], cookie=1))
    b.apply(flow(0, 10, M(in_port=1), [apply_(out(2))], cookie=2))
    assert flow_table_dump(a) != flow_table_dump(b)
    b.apply(flow(0, 10, M(in_port=1), [apply_(out(2))], cookie=1))
    assert flow_table_dump(a) == flow_table_dump(b)
    b.apply(flow(0, 10, M(in_port=1), [apply_(out(3))], cookie=1))
    assert flow_table_dump(a) != flow_table_dump(b)


def test_flow_stats_filters_and_rebuilds_the_same_tables():
    sw = SwitchModel(1, [1, 2, 4])
    sw.apply_all(_pipeline_msgs())
    stats = sw.flow_stats()
    assert len(stats) == 6 and all(isinstance(s, parser.OFPFlowStats) for s in stats)
    assert [s.cookie for s in sw.flow_stats(cookie=0x10005, cookie_mask=0xffffffff)] == [0x10005]
    assert {s.table_id for s in sw.flow_stats(table_id=20)} == {20}
    assert [s.cookie for s in sw.flow_stats(out_group=1)] == [0x10006]
    s = sw.flow_stats(cookie=0x10003, cookie_mask=0xffffffff)[0]
    assert s.match['arp_tpa'] == '10.0.0.9' and s.match['metadata'] == (7, 0xffffff)
    # a controller resyncing from flow stats can rebuild an identical switch
    clone = SwitchModel(1, [1, 2, 4])
    clone.apply_all(_pipeline_msgs()[:2])
    for st in stats:
        clone.apply(flow(st.table_id, st.priority, st.match, st.instructions, cookie=st.cookie))
    assert flow_table_dump(clone) == flow_table_dump(sw)
    assert group_dump(clone) == group_dump(sw) and meter_dump(clone) == meter_dump(sw)


def test_format_flows_is_readable():
    sw = SwitchModel(1, [1, 2, 4])
    sw.apply_all(_pipeline_msgs())
    text = format_flows(sw)
    assert 'move:eth_src[0..47]->eth_dst[0..47]' in text
    assert 'arp_tpa=10.0.0.9' in text and 'goto_table:10' in text


# ---- the os-ken Datapath façade ---------------------------------------------------------------

def test_model_datapath_send_msg_counts_assigns_xids_and_replies():
    sw = SwitchModel(0xabc, ports=[1, 2])
    dp = ModelDatapath(sw)
    assert dp.id == 0xabc and dp.ofproto is ofp and dp.ofproto_parser is parser
    assert dp.is_active and set(dp.ports) == {1, 2}
    p = dp.ofproto_parser
    dp.send_msg(p.OFPFlowMod(dp, table_id=0, priority=1, match=p.OFPMatch(in_port=1),
                             instructions=[apply_(out(2))]))
    dp.send_msg(p.OFPFlowMod(dp, table_id=0, priority=1, match=p.OFPMatch(in_port=2),
                             instructions=[apply_(out(1))]))
    dp.send_barrier()
    assert dp.sent_count() == 3
    assert dp.sent_count(p.OFPFlowMod) == 2 and dp.sent_count('OFPBarrierRequest') == 1
    xids = [m.xid for m in dp.sent]
    assert len(set(xids)) == 3 and xids == sorted(xids)
    assert sw.flow_count() == 2 and sw.barriers == 1
    (reply,) = dp.replies
    assert isinstance(reply, p.OFPBarrierReply) and reply.xid == xids[2]
    assert reply.datapath is dp


def test_model_datapath_stats_requests_and_error_callback():
    got = []
    sw = SwitchModel(7, ports=[1, 2])
    dp = ModelDatapath(sw, on_reply=got.append, record=False)
    p = dp.ofproto_parser
    dp.send_msg(p.OFPGroupMod(dp, ofp.OFPGC_ADD, ofp.OFPGT_ALL, 1,
                              [p.OFPBucket(actions=[out(1)])]))
    dp.send_msg(p.OFPFlowMod(dp, table_id=0, priority=1, match=p.OFPMatch(),
                             instructions=[apply_(p.OFPActionGroup(1))], cookie=5))
    dp.send_msg(p.OFPFlowMod(dp, table_id=3, priority=1, instructions=[goto(1)]))  # error
    dp.send_msg(p.OFPFlowStatsRequest(dp))
    dp.send_msg(p.OFPGroupDescStatsRequest(dp))
    dp.send_msg(p.OFPPortDescStatsRequest(dp))
    assert dp.sent == [] and dp.sent_count() == 6
    kinds = [type(r).__name__ for r in got]
    assert kinds == ['OFPErrorMsg', 'OFPFlowStatsReply', 'OFPGroupDescStatsReply',
                     'OFPPortDescStatsReply']
    assert [s.cookie for s in got[1].body] == [5]
    assert got[2].body[0].group_id == 1
    assert sorted(port.port_no for port in got[3].body) == [1, 2]


def test_model_datapath_closed_drops_messages():
    dp = ModelDatapath(SwitchModel(1))
    dp.close()
    assert dp.send_msg(parser.OFPBarrierRequest(dp)) is False
    assert dp.switch.barriers == 0


def test_many_switches_with_a_thousand_flows_each_stay_correct():
    net = SwitchNetwork()
    for dpid in range(1, 4):
        dp = net.add_switch(dpid, ports=[1, 2], record=False)
        for i in range(1000):
            mac = '02:00:00:00:%02x:%02x' % (i >> 8, i & 0xff)
            dp.send_msg(parser.OFPFlowMod(dp, table_id=20, priority=100 + (i % 3),
                                          match=M(metadata=(dpid, 0xffffff), eth_dst=mac),
                                          instructions=[apply_(setf(tunnel_id=i), out(2))]))
    for dpid in range(1, 4):
        sw = net[dpid]
        assert sw.flow_count() == 1000
        res = sw.trace(1, table_id=20, metadata=dpid, eth_dst='02:00:00:00:03:e7')
        assert res.is_output(2, tunnel_id=999)
        assert sw.trace(1, table_id=20, metadata=dpid + 1, eth_dst='02:00:00:00:03:e7').dropped
