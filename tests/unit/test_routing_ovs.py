"""The routing flows as Open vSwitch reads them: every flow-mod the controller sends for a
router with a gateway and a floating IP, encoded as on the wire and decoded by ``ovs-ofctl
ofp-parse`` (OVS's own OpenFlow parser, no switch needed), carries the conntrack zone, NAT,
TTL and register actions the in-process traces (test_routing.py) rely on."""
import shutil
import subprocess

import pytest

from apps import ofmsg
from tests.unit.test_routing import FIP, GW_IP, VM, Outside

pytestmark = pytest.mark.skipif(shutil.which("ovs-ofctl") is None,
                                reason="needs ovs-ofctl (openvswitch-common; make setup)")


def decoded(world, hv, tmp_path):
    """(number of messages sent to ``hv`` from scratch, OVS's decoding of them)."""
    dp = world.cloud.hypervisors[hv].dp
    msgs = list(ofmsg.messages(dp, ofmsg.changes(ofmsg.Installed(),
                                                 world.plugin.app.desired.state(hv))))
    wire = tmp_path / f"{hv}.bin"
    with open(wire, "wb") as f:
        for xid, msg in enumerate(msgs, 1):
            if msg.xid is None:       # an ADD already sent elsewhere keeps its xid
                msg.set_xid(xid)
            msg.serialize()
            f.write(bytes(msg.buf))
    out = subprocess.run(["ovs-ofctl", "ofp-parse", str(wire)], capture_output=True,
                         text=True, timeout=30, check=True)
    return len(msgs), out.stdout


def test_ovs_decodes_the_routing_flows(tmp_path):
    world = Outside()
    world.learn_outside()
    world.associate("b")
    sent, text = decoded(world, "hv1", tmp_path)
    assert text.count("OFPT_FLOW_MOD") + text.count("OFPT_GROUP_MOD") + \
        text.count("OFPT_METER_MOD") == sent
    assert "actions=ct(commit,table=17,zone=32769,nat(src=%s))" % GW_IP in text
    assert "actions=ct(table=13,zone=32769,nat)" in text
    assert "nw_ttl=1" in text and "dec_ttl" in text
    assert "move:NXM_OF_IP_DST[]->NXM_NX_REG3[]" in text
    _, text = decoded(world, "hv2", tmp_path)
    assert "actions=ct(commit,table=13,zone=32769,nat(dst=%s))" % VM["b"][2] in text
    assert "actions=ct(commit,table=17,zone=32769,nat(src=%s))" % FIP in text


def test_ovs_decodes_the_ipv6_routing_flows(tmp_path):
    from tests.unit.test_routing_v6 import DualStack
    world = DualStack()
    sent, text = decoded(world, "hv1", tmp_path)
    assert text.count("OFPT_FLOW_MOD") + text.count("OFPT_GROUP_MOD") + \
        text.count("OFPT_METER_MOD") == sent
    # routed: hop limit, the next hop in xxreg2 (reg8 the most significant word), its MAC
    assert "ipv6,reg2=0x1,ipv6_dst=fd00:2::/64" in text
    assert "actions=dec_ttl,set_field:fa:16:3e:bb:00:01->eth_src," \
           "move:NXM_NX_IPV6_DST[]->NXM_NX_XXREG2[]" in text
    assert "reg8=0xfd000002,reg9=0,reg10=0,reg11=0x10,metadata=0x66/0xffffff" in text
    # echo answered in place, neighbour solicitations up, the spoof guard, the hop limit
    assert "move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[],set_field:fd00:2::1->ipv6_src," \
           "set_field:129->icmpv6_type,IN_PORT" in text
    assert "icmp_type=135,nd_target=fd00:1::1" in text
    assert "dl_dst=fa:16:3e:aa:00:01,ipv6_src=fd00:2::/64" in text
    assert "ipv6,reg2=0x1,nw_ttl=1" in text
