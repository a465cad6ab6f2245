"""The controller's own wire encoding (apps/ofmsg.py ``wire``, ``add_flow_bytes``) gives exactly
the bytes os-ken's ``serialize()`` gives, and a switch reads them back to the same flows."""
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps import ofmsg
from apps.flows import Flow, Group
from apps.meters import KBPS, Meter
from apps.ofmodel.datapath import read_messages
from simulations.fakecloud import Scenario


class DP:
    ofproto, ofproto_parser = ofp, parser


HAND_MADE = [
    Flow("classify", 100, (("in_port", 7),), (("metadata", 1001, 0x1ffffff),
                                             ("goto", "port_security"))),
    Flow("l2_lookup", 90, (("eth_dst", "FA:16:3E:00:00:01"), ("metadata", (1001, 0xffffff))),
         (("apply", (("set", "tunnel_id", 1001), ("set", "reg0", 3))), ("goto", "tunnel_out"))),
    Flow("dhcp", 50, (("eth_type", 0x0800), ("ip_proto", 17), ("udp_dst", 67)),
         (("apply", (("output", "controller"),)),)),
    Flow("arp_responder", 40, (("eth_type", 0x0806), ("arp_tpa", "10.0.0.5")),
         (("apply", (("move", "eth_src", "eth_dst", 48), ("output", "in_port"))),)),
    Flow("l2_lookup", 10, (), (("meter", 9), ("apply", (("group", 2000), ("dec_ttl",))))),
    # nw_ttl (a Nicira field numbered before eth_type) must follow its prerequisite on the
    # wire too, or OVS refuses the flow-mod (OFPBMC_BAD_PREREQ)
    Flow("ip_routing", 100, (("nw_ttl", 1), ("eth_type", 0x0800)),
         (("apply", (("output", "controller"),)),)),
]


def cloud_flows():
    cloud = Scenario(4, 60, per_network=20).build()
    cloud.publish()
    cloud.settle()
    state = cloud.controller.desired.state(Scenario.system_id(0))
    return list(state.flows.values()), state


def test_a_prerequisite_precedes_the_field_that_needs_it_on_the_wire():
    (mod,) = read_messages(DP(), ofmsg.add_flow_bytes(DP(), HAND_MADE[-1]))
    names = [name for name, _ in mod.match._fields2]
    assert names.index("eth_type") < names.index("nw_ttl")


def test_an_add_is_the_bytes_os_ken_serialises():
    dp = DP()
    flows, _ = cloud_flows()
    assert len(flows) > 50
    for flow in flows + HAND_MADE:
        assert ofmsg.add_flow_bytes(dp, flow) == ofmsg.message_bytes(ofmsg.add_flow(dp, flow))


def test_wire_carries_the_messages_in_order_and_a_switch_reads_them_back():
    dp = DP()
    flows, state = cloud_flows()
    delta = ofmsg.changes(ofmsg.Installed(), state)
    delta.meters = [(Meter(9, 1000, 100, KBPS), False)]
    delta.groups.append((Group(77, ((("output", 3),), (("output", 4),))), True))
    delta.deletes = [(20, 100, (("eth_dst", "fa:16:3e:00:00:09"),), 0xabc)]
    delta.group_deletes, delta.meter_deletes = [78], [10]
    chunks = list(ofmsg.wire(dp, delta, chunk=2048))
    assert len(chunks) > 1 and all(len(c) < 2048 + 512 for c in chunks[:-1])
    assert b"".join(chunks) == b"".join(ofmsg.message_bytes(m)
                                        for m in ofmsg.messages(dp, delta))
    read = list(read_messages(dp, b"".join(chunks)))
    assert len(read) == len(delta)
    adds = [m for m in read if isinstance(m, parser.OFPFlowMod) and m.command == ofp.OFPFC_ADD]
    assert [m.cookie for m in adds] == [f.cookie for f in delta.adds]
    assert [type(m).__name__ for m in read[:3]] == ["OFPMeterMod", "OFPGroupMod", "OFPGroupMod"]


#: (field, value) a match may hold: the forms the model gives (lower-case MACs, dotted quads,
#: IPv6 text, ints, (value, mask) pairs) and others os-ken accepts and normalises
FIELD_VALUES = [
    ("in_port", 7), ("in_port", 0xfffffffd), ("metadata", 1001), ("metadata", (1001, 0xffffff)),
    ("metadata", (0xfffffffffffff123, 0xf0f0)), ("tunnel_id", 1 << 40), ("reg0", 3),
    ("reg6", (5, 0xff)), ("eth_type", 0x86DD), ("ip_proto", 58), ("udp_dst", 67),
    ("tcp_dst", (0x1000, 0xf000)), ("icmpv6_type", 135), ("nw_ttl", 1), ("ct_state", (0x21, 0x21)),
    ("ct_mark", (1, 1)), ("arp_op", 2), ("vlan_vid", 0x1000 | 5), ("in_port", -1),
    ("eth_dst", "fa:16:3e:00:00:01"), ("eth_src", "FA:16:3E:0A:BC:01"),
    ("eth_dst", ("01:00:00:00:00:00", "01:00:00:00:00:00")), ("arp_sha", "fa:16:3e:00:00:02"),
    ("eth_src", ("fa:16:3e:12:34:56", "ff:ff:ff:00:00:00")), ("eth_dst", "fa-16-3e-00-00-01"),
    ("ipv4_dst", "10.0.0.5"), ("ipv4_src", ("10.1.2.3", "255.255.255.0")), ("arp_tpa", "0.0.0.0"),
    ("ipv4_dst", "10.0.0.0/24"), ("ipv4_dst", ("192.168.7.9", "255.255.0.0")),
    ("arp_spa", "255.255.255.255"), ("ipv6_dst", "fd00::5"), ("ipv6_src", "FD00:0:0:0::1"),
    ("ipv6_dst", ("fd00:1:2:3::99", "ffff:ffff:ffff:ffff::")), ("ipv6_nd_target", "fe80::1"),
    ("ipv6_src", "::ffff:10.0.0.1"), ("ipv6_dst", "fd00::/64"), ("ipv6_nd_sll", "fa:16:3e:00:00:03"),
]


def test_every_field_the_model_uses_is_the_tlv_os_ken_serialises():
    """The fast path packs a field's value itself (``_direct_tlvs``); each field, alone and
    together with the others, gives os-ken's bytes -- or, in a form it does not pack, takes
    os-ken's own path."""
    dp = DP()
    for field in FIELD_VALUES:
        flow = Flow("classify", 100, (field,), (("goto", "port_security"),))
        assert ofmsg.add_flow_bytes(dp, flow) == ofmsg.message_bytes(ofmsg.add_flow(dp, flow)), \
            field
    direct = [f for f in FIELD_VALUES if ofmsg._direct_tlv(ofp, *f) is not None]
    assert len(direct) > 30     # the fast path is taken for the model's forms
    by_name = dict(direct)
    flow = Flow("classify", 100, tuple(sorted(by_name.items())), (("goto", "port_security"),))
    assert ofmsg._direct_tlvs(ofp, flow.match) is not None
    assert ofmsg.add_flow_bytes(dp, flow) == ofmsg.message_bytes(ofmsg.add_flow(dp, flow))


def test_text_the_fast_path_does_not_read_strictly_goes_to_os_ken():
    for field in [("eth_dst", "fa:16:3e:00:0 :01"), ("eth_dst", "fa:16:3e:00:00:0g"),
                  ("eth_dst", "fa:16:3e:00:00:01:02"), ("ipv4_dst", "010.0.0.1"),
                  ("ipv4_dst", "10.1"), ("ipv6_dst", "fe80::1%eth0"), ("in_port", True),
                  ("metadata", (1, None)), ("metadata", (1, 2, 3)), ("pbb_uca", 1)]:
        assert ofmsg._direct_tlv(ofp, *field) is None, field


def test_an_apply_instruction_is_the_bytes_os_ken_serialises():
    """Apply-actions instructions are put together from their actions' bytes (set-fields
    from the field's TLV); each gives os-ken's bytes, alone and in a flow."""
    dp = DP()
    proto = ofmsg._proto(ofp, parser)
    flows, _ = cloud_flows()
    sets = [("set", name, value) for name, value in FIELD_VALUES if not isinstance(value, tuple)]
    actions = sets + [("output", 3), ("output", "in_port"), ("output", "controller"),
                      ("group", 2000), ("dec_ttl",), ("move", "eth_src", "eth_dst", 48),
                      ("load", "reg0", 0, 16, 7), ("output_reg", "reg1"),
                      ("conjunction", 9, 1, 2), ("ct", True, 5, None, None, ())]
    instructions = [ins for f in flows + HAND_MADE for ins in f.instructions
                    if ins[0] == "apply"]
    instructions += [("apply", (action,)) for action in actions] + [("apply", tuple(actions))]
    for ins in instructions:
        (obj,) = ofmsg.encode_instructions(dp, (ins,))
        buf = bytearray()
        obj.serialize(buf, 0)
        assert ofmsg._apply_bytes(proto, ins[1]) == bytes(buf), ins
    flow = Flow("arp_responder", 40, (("eth_type", 0x0806), ("arp_tpa", "10.0.0.9")),
                (("apply", tuple(actions)),))
    assert ofmsg.add_flow_bytes(dp, flow) == ofmsg.message_bytes(ofmsg.add_flow(dp, flow))
