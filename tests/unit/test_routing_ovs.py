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
