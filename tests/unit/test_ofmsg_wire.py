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
