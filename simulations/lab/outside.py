"""The lab's "outside": a host that plays the internet, on a flat physical network that some
hypervisors reach through a bridge mapping (docs/l3.md).

Shape::

    outside (203.0.113.254) -- ext (a kernel bridge) --+-- hv1: br-ex == patch == br-int
                                                       +-- hv2: br-ex == patch == br-int

Each mapped hypervisor gets ``br-ex`` (netdev, a plain learning switch) holding its leg to the
``ext`` segment, a patch pair to br-int, and ``external_ids:qnet-bridge-mappings`` naming it,
as an admin sets up OVN's ``ovn-bridge-mappings``. Nodes are added to the running lab, so
``Lab.stop`` removes them with the rest.
"""
from .nodes import VM, LabNode, _ethtool_tx_off

PHYSNET = "physnet1"
ADDRESS = "203.0.113.254/24"


class ExternalSegment(LabNode):
    """The external L2 segment: a kernel bridge in its own namespace, ports added later."""

    def config(self, **params):
        r = super().config(**params)
        self.sh("ip link add seg type bridge stp_state 0 forward_delay 0")
        self.sh("ip link set seg up")
        return r

    def enslave(self, intf):
        self.sh("ip link set %s master seg up" % intf)
        _ethtool_tx_off(self, intf)


def add_outside(lab, hypervisors, physnet=PHYSNET, address=ADDRESS, ovn=False):
    """Add the ext segment, the outside host (``address``, MTU 1450 like the VMs) and a
    bridge mapping for ``physnet`` on each of ``hypervisors``; returns the outside host.
    ``ovn``: the mapping is ``ovn-bridge-mappings`` and ovn-controller makes the patch ports
    (the OVN peer, simulations/bench_l3.py)."""
    net = lab.net
    seg = net.addHost("ext", cls=ExternalSegment)
    seg.configDefault()
    outside = net.addHost("outside", cls=VM, ip=address)
    net.addLink(outside, seg, intfName1="outside-eth0", intfName2="ext-outside")
    outside.configDefault()
    seg.enslave("ext-outside")
    for hv in hypervisors:
        hv = net[hv] if isinstance(hv, str) else hv
        leg = "%s-ex" % hv.name
        net.addLink(hv, seg, intfName1=leg, intfName2="ext-%s" % hv.name)
        seg.enslave("ext-%s" % hv.name)
        hv.sh("ip link set %s up" % leg)
        _ethtool_tx_off(hv, leg)
        hv.vsctl("add-br", "br-ex", "--", "set", "Bridge", "br-ex", "datapath_type=netdev",
                 "other_config:disable-in-band=true")
        hv.vsctl("add-port", "br-ex", leg)
        hv.sh("ip link set br-ex up")
        if ovn:
            hv.vsctl("set", "Open_vSwitch", ".",
                     "external_ids:ovn-bridge-mappings=%s:br-ex" % physnet)
            continue
        hv.vsctl("add-port", "br-int", "patch-%s" % physnet, "--", "set", "Interface",
                 "patch-%s" % physnet, "type=patch", "options:peer=patch-int-%s" % physnet)
        hv.vsctl("add-port", "br-ex", "patch-int-%s" % physnet, "--", "set", "Interface",
                 "patch-int-%s" % physnet, "type=patch", "options:peer=patch-%s" % physnet)
        hv.vsctl("set", "Open_vSwitch", ".",
                 "external_ids:qnet-bridge-mappings=%s:br-ex" % physnet)
    return outside
