"""The routing flows as Open vSwitch reads them: every flow-mod the controller sends for a
router with a gateway and a floating IP, encoded as on the wire and decoded by ``ovs-ofctl
ofp-parse`` (OVS's own OpenFlow parser, no switch needed), carries the conntrack zone, NAT,
TTL and register actions the in-process traces (test_routing.py) rely on. The IPv6 flows
are also loaded into a real ovs-vswitchd (a private one on dummy ports, as OVS's own tests
run it) and packets traced through them with ``ofproto/trace``."""
import os
import re
import shutil
import socket
import struct
import subprocess

import pytest

from apps import ofmsg
from tests.unit.ovsdb_server import OvsdbServer, needs_ovsdb, wait_until
from tests.unit.test_routing import FIP, GW_IP, RMAC, VM, Outside

pytestmark = pytest.mark.skipif(shutil.which("ovs-ofctl") is None,
                                reason="needs ovs-ofctl (openvswitch-common; make setup)")
OFP13, HELLO, ERROR, BARRIER_REQUEST, BARRIER_REPLY = 4, 0, 1, 20, 21


def wire(world, hv):
    """Every message the controller sends ``hv`` from scratch, serialized."""
    dp = world.cloud.hypervisors[hv].dp
    out = []
    for xid, msg in enumerate(ofmsg.messages(dp, ofmsg.changes(
            ofmsg.Installed(), world.plugin.app.desired.state(hv))), 1):
        if msg.xid is None:           # an ADD already sent elsewhere keeps its xid
            msg.set_xid(xid)
        msg.serialize()
        out.append(bytes(msg.buf))
    return out


def decoded(world, hv, tmp_path):
    """(number of messages sent to ``hv`` from scratch, OVS's decoding of them)."""
    msgs = wire(world, hv)
    path = tmp_path / f"{hv}.bin"
    path.write_bytes(b"".join(msgs))
    out = subprocess.run(["ovs-ofctl", "ofp-parse", str(path)], capture_output=True,
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


class Bridge:
    """A private ovs-vswitchd (dummy datapath: no root, no kernel module) whose br-int has a
    dummy port for each port of a hypervisor of the fake cloud, with the same OpenFlow
    numbers, and holds what the controller sends that hypervisor."""

    def __init__(self, rundir):
        self.db = OvsdbServer(rundir / "db", "hv1")
        self.rundir, self.ctl = rundir, rundir / "vswitchd.ctl"
        env = dict(os.environ, OVS_RUNDIR=str(rundir), OVS_LOGDIR=str(rundir))
        self.proc = subprocess.Popen(
            ["ovs-vswitchd", f"unix:{self.db.sock}", "--enable-dummy=override", "--no-chdir",
             f"--unixctl={self.ctl}", "-vconsole:off", f"--log-file={rundir / 'vswitchd.log'}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.db.vsctl("set", "bridge", "br-int", "fail_mode=secure", "protocols=OpenFlow13")

    def load(self, world, hv):
        """Add ``hv``'s ports, send its messages over br-int's management socket (as the
        controller would over TCP); the errors OVS answers, if any."""
        for name, port in sorted(world.cloud.hypervisors[hv].ports.items()):
            self.db.vsctl("add-port", "br-int", name, "--", "set", "interface", name,
                          "type=dummy", f"ofport_request={port['ofport']}")
        mgmt = wait_until(lambda: (self.rundir / "br-int.mgmt").exists() and
                          self.rundir / "br-int.mgmt", "br-int's management socket")
        errors = []
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(mgmt))
            s.sendall(struct.pack("!BBHI", OFP13, HELLO, 8, 0))
            s.sendall(b"".join(wire(world, hv)))
            s.sendall(struct.pack("!BBHI", OFP13, BARRIER_REQUEST, 8, 0xFFFFFFFF))
            while True:
                kind, data = self._receive(s)
                if kind == ERROR:
                    errors.append(data)
                if kind == BARRIER_REPLY:
                    return errors

    @staticmethod
    def _receive(s):
        def exactly(n):
            buf = b""
            while len(buf) < n:
                buf += s.recv(n - len(buf))
            return buf
        head = exactly(8)
        _, kind, length, _ = struct.unpack("!BBHI", head)
        return kind, head + exactly(length - 8)

    def trace(self, flow):
        """``ofproto/trace`` of ``flow``: (the OpenFlow ports it is output to, the datapath
        actions; datapath port numbers are the dummy datapath's own)."""
        out = subprocess.run(["ovs-appctl", "-t", str(self.ctl), "ofproto/trace", "br-int",
                              flow], capture_output=True, text=True, timeout=30,
                             check=True).stdout
        return ([int(p) for p in re.findall(r"^\s+output:(\d+)$", out, re.M)] +
                (["in_port"] if re.search(r"^\s+IN_PORT$", out, re.M) else []),
                out.split("Datapath actions: ", 1)[1].splitlines()[0])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.db.stop()


@pytest.fixture
def bridge(tmp_path):
    if shutil.which("ovs-vswitchd") is None:
        pytest.skip("needs ovs-vswitchd (openvswitch-switch; make setup)")
    b = Bridge(tmp_path)
    yield b
    b.stop()


@needs_ovsdb
def test_ovs_routes_ipv6_as_traced(bridge):
    from tests.unit.test_routing_v6 import VM6, DualStack
    world = DualStack()
    assert bridge.load(world, "hv1") == []
    a = f"in_port={world.ofport['a']},icmp6,dl_src={VM['a'][1]},ipv6_src={VM6['a']}"
    # routed to b on hv2: MACs, hop limit, out of the tunnel to hv2
    ports, actions = bridge.trace(f"{a},dl_dst={RMAC['A']},ipv6_dst={VM6['b']},"
                                  "icmpv6_type=128,nw_ttl=64")
    assert ports == [world.tunnel("hv1", "hv2")]
    assert actions.startswith(f"set(eth(src={RMAC['B']},dst={VM['b'][1]})),"
                              "set(ipv6(hlimit=63)),"), actions
    # echo to the router's other address: answered back out of a's port
    ports, actions = bridge.trace(f"{a},dl_dst={RMAC['A']},ipv6_dst=fd00:2::1,"
                                  "icmpv6_type=128,nw_ttl=64")
    assert ports == ["in_port"]
    assert actions.startswith(f"set(eth(src={RMAC['A']},dst={VM['a'][1]})),"
                              f"set(ipv6(src=fd00:2::1,dst={VM6['a']})),"
                              "set(icmpv6(type=129,code=0)),"), actions
    # a solicitation for the router's address, and a hop limit that runs out: up
    up = "meter(0),userspace(pid=0,controller("
    for flow in (f"{a},dl_dst=33:33:ff:00:00:01,ipv6_dst=ff02::1:ff00:1,icmpv6_type=135,"
                 "nd_target=fd00:1::1,nw_ttl=255",
                 f"{a},dl_dst={RMAC['A']},ipv6_dst={VM6['b']},icmpv6_type=128,nw_ttl=1"):
        ports, actions = bridge.trace(flow)
        assert ports == [] and actions.startswith(up), actions
