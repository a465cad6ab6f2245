"""The security-group flows as Open vSwitch takes them: a hypervisor's flow-mods (rules per
group set in reg6, remote-group and address-group conjunctions, conntrack) loaded into a
private ovs-vswitchd (dummy datapath, as tests/unit/test_routing_ovs.py) without an error,
and packets traced through them with ``ofproto/trace``, conntrack states given for each
recirculation (``--ct-next``): what the in-process traces of test_security_group_flows.py
admit and refuse, real OVS does too."""
import dataclasses
import re
import subprocess

from controller.logical import SecurityGroupRule
from tests.unit.ovsdb_server import needs_ovsdb
from tests.unit.test_routing_ovs import bridge  # noqa: F401 (a fixture)
from tests.unit.test_security_groups_routed import VMS, World


def trace(bridge, flow, *ct_states):
    """The OpenFlow ports ``flow`` is output to, each conntrack recirculation seeing the
    next of ``ct_states``."""
    args = [a for s in ct_states for a in ("--ct-next", s)]
    out = subprocess.run(["ovs-appctl", "-t", str(bridge.ctl), "ofproto/trace", *args,
                          "br-int", flow], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return [int(p) for p in re.findall(r"^\s+(?:output:|-> output port is )(\d+)$", out,
                                        re.M)]


@needs_ovsdb
def test_ovs_takes_the_security_group_flows_and_admits_as_traced(bridge):  # noqa: F811
    world = World()
    old = world.plugin.model.security_groups["default"]
    ssh = SecurityGroupRule("ssh", "ingress", "IPv4", 6, 22, 22, remote_address_group_id="ag",
                            remote_addresses=("10.0.1.16/29", "2001:db8::/64"))
    world.put("security_group", dataclasses.replace(old, rules=old.rules + (ssh,)), before=old)
    world.cloud.settle()
    assert bridge.load(world, "hv1") == []
    # n (group quiet, 10.0.1.20) to a (group default) on hv1: out of n, into a, both new
    n = (f"in_port={world.ofport['n']},tcp,dl_src={VMS['n'][1]},dl_dst={VMS['a'][1]},"
         f"nw_src={VMS['n'][2]},nw_dst={VMS['a'][2]},nw_ttl=64,tcp_flags=0x002")
    assert trace(bridge, f"{n},tp_dst=22", "trk,new", "trk,new") == [world.ofport["a"]]
    assert trace(bridge, f"{n},tp_dst=23", "trk,new", "trk,new") == []
    # a's answer to n's connection (established, a reply) passes both ways out and in,
    # although n (group quiet) has no ingress rule
    a = (f"in_port={world.ofport['a']},tcp,dl_src={VMS['a'][1]},dl_dst={VMS['n'][1]},"
         f"nw_src={VMS['a'][2]},nw_dst={VMS['n'][2]},nw_ttl=64")
    assert trace(bridge, f"{a},tp_src=22,tp_dst=40000", "trk,est,rpl", "trk,est,rpl") == \
        [world.ofport["n"]]
