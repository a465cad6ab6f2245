"""What a switch should hold: pure functions from the logical model to flows and groups.

Nothing here talks to a switch. ``compile_chassis`` returns the complete desired state of one
integration bridge; the app compares it with what the bridge holds and sends the difference.
Flows are immutable values; a flow's cookie is a hash of its content (see pipeline.py), so two
compilations that agree produce identical cookies and a diff is a set difference.
"""
import dataclasses
import functools
import hashlib

import netaddr

from apps import meters as qos
from apps import pipeline as pl

BROADCAST_MASK = ("01:00:00:00:00:00", "01:00:00:00:00:00")
ETH_ARP, ETH_IPV4, ETH_IPV6 = 0x0806, 0x0800, 0x86DD
UDP = 17
PRIO_HIGH, PRIO_NORMAL, PRIO_LOW, PRIO_MISS = 200, 100, 50, 0


@dataclasses.dataclass(frozen=True)
class Flow:
    table: str
    priority: int
    match: tuple          # ((field, value or (value, mask)), ...) sorted by field
    instructions: tuple   # ("goto", table) | ("metadata", value, mask) | ("apply", actions)

    @functools.cached_property
    def cookie(self):
        digest = hashlib.blake2b(repr((self.table, self.priority, self.match,
                                       self.instructions)).encode(), digest_size=7).digest()
        return pl.COOKIE_PREFIX | int.from_bytes(digest, "big")


@dataclasses.dataclass(frozen=True)
class Group:
    """An ALL group: every bucket gets a copy (flooding)."""

    group_id: int
    buckets: tuple        # (actions, ...)


@dataclasses.dataclass
class SwitchState:
    flows: dict           # cookie -> Flow
    groups: dict          # group id -> Group
    meters: dict = dataclasses.field(default_factory=dict)   # meter id -> meters.Meter

    @classmethod
    def of(cls, flows, groups=(), meters=()):
        return cls({f.cookie: f for f in flows}, {g.group_id: g for g in groups},
                   {m.meter_id: m for m in meters})


def flow(table, priority, match, *instructions):
    return pl.check_flow(Flow(table, priority, tuple(sorted(match.items())), instructions))


def goto(table):
    return ("goto", table)


def apply(*actions):
    return ("apply", tuple(actions))


def flood_group_ids(vni):
    """Two groups per network: to local ports and tunnels, and (from a tunnel) local only."""
    return vni << 1, (vni << 1) | 1


def _masked(cidr):
    net = netaddr.IPNetwork(cidr)
    return str(net.ip) if net.size == 1 else (str(net.network), str(net.netmask))


# -- classify ----------------------------------------------------------------------------------
def classify_vm_port(ofport, vni, port_meters=None):
    """What a VM sends enters its network here, through the port's egress meter if any."""
    return flow("classify", PRIO_NORMAL, {"in_port": ofport},
                *qos.meter_instruction(port_meters or {}, qos.EGRESS),
                ("metadata", vni, pl.METADATA_MASK), goto("port_security"))


def classify_tunnel_port(ofport):
    return flow("classify", PRIO_NORMAL, {"in_port": ofport}, goto("tunnel_in"))


def accept_tunneled_network(vni):
    """Only VNIs this switch hosts are accepted from tunnels; anything else hits the miss."""
    return flow("tunnel_in", PRIO_NORMAL, {"tunnel_id": vni},
                ("metadata", vni | pl.FROM_TUNNEL, pl.METADATA_MASK), goto("l2_lookup"))


# -- port security -----------------------------------------------------------------------------
def install_port_security(port, ofport):
    """A port may send only from its MAC and addresses; DHCP discovery and ARP probes from
    0.0.0.0, IPv6 link-local and DAD (::) are let through. Without port security: anything."""
    if not port.security:
        return [flow("port_security", PRIO_LOW, {"in_port": ofport}, goto("arp_responder"))]
    out = []
    allow = (lambda **match: out.append(flow("port_security", PRIO_NORMAL,
                                             {"in_port": ofport, **match},
                                             goto("arp_responder"))))
    mac = port.mac
    sources = [(mac, ip) for ip in port.ipv4 + port.ipv6] + list(port.pairs)
    v4 = [(m, a) for m, a in sources if netaddr.IPNetwork(a).version == 4]
    v6 = [(m, a) for m, a in sources if netaddr.IPNetwork(a).version == 6]
    if not port.ipv4 and not [p for p in port.pairs if netaddr.IPNetwork(p[1]).version == 4]:
        v4 = [(mac, "0.0.0.0/0")]
    if not port.ipv6 and not [p for p in port.pairs if netaddr.IPNetwork(p[1]).version == 6]:
        v6 = [(mac, "::/0")]
    for src_mac, addr in v4:
        allow(eth_src=src_mac, eth_type=ETH_IPV4, ipv4_src=_masked(addr))
        allow(eth_src=src_mac, eth_type=ETH_ARP, arp_sha=src_mac, arp_spa=_masked(addr))
    for src_mac, addr in v6:
        allow(eth_src=src_mac, eth_type=ETH_IPV6, ipv6_src=_masked(addr))
    allow(eth_src=mac, eth_type=ETH_IPV4, ipv4_src="0.0.0.0", ip_proto=UDP, udp_src=68,
          udp_dst=67)
    allow(eth_src=mac, eth_type=ETH_ARP, arp_sha=mac, arp_spa="0.0.0.0")
    if port.ipv6 or v6 != [(mac, "::/0")]:
        allow(eth_src=mac, eth_type=ETH_IPV6, ipv6_src=_masked("fe80::/10"))
        allow(eth_src=mac, eth_type=ETH_IPV6, ipv6_src="::")
    return out


# -- ARP responder and DHCP --------------------------------------------------------------------
def install_arp_responder(port, vni):
    """Answer "who has IP?" for every IPv4 address of ``port``, on the asker's own switch."""
    out = []
    for ip in port.ipv4:
        out.append(flow(
            "arp_responder", PRIO_NORMAL,
            {"metadata": (vni, pl.METADATA_MASK), "eth_type": ETH_ARP, "arp_op": 1,
             "arp_tpa": ip},
            apply(("move", "eth_src", "eth_dst", 48), ("set", "eth_src", port.mac),
                  ("set", "arp_op", 2), ("move", "arp_sha", "arp_tha", 48),
                  ("set", "arp_sha", port.mac), ("move", "arp_spa", "arp_tpa", 32),
                  ("set", "arp_spa", ip), ("output", "in_port"))))
    return out


def send_dhcp_to_controller(vni):
    return flow("dhcp", PRIO_NORMAL,
                {"metadata": (vni, pl.METADATA_MASK), "eth_type": ETH_IPV4, "ip_proto": UDP,
                 "udp_src": 68, "udp_dst": 67},
                apply(("output", "controller")))


def table_miss_flows():
    """Tables whose miss continues rather than drops get a priority-0 goto."""
    return [flow(name, PRIO_MISS, {}, goto(nxt)) for name, nxt in pl.table_misses() if nxt]


# -- L2 forwarding and flooding ----------------------------------------------------------------
def deliver_to_local_port(port, ofport, vni, port_meters=None):
    """From anywhere (local or tunnel) to a port on this switch, through the port's ingress
    meter if any (flooded frames reach it through the group, unmetered)."""
    return flow("l2_lookup", PRIO_NORMAL,
                {"metadata": (vni, pl.VNI_MASK), "eth_dst": port.mac},
                *qos.meter_instruction(port_meters or {}, qos.INGRESS),
                apply(("output", ofport)))


def forward_to_remote_port(port, vni, tunnel_ofport):
    """From a local port to a port on another switch; tunnelled frames never go back out."""
    return flow("l2_lookup", PRIO_NORMAL,
                {"metadata": (vni, pl.METADATA_MASK), "eth_dst": port.mac},
                apply(("set", "tunnel_id", vni), ("output", tunnel_ofport)))


def install_flooding(vni, local_ofports, tunnel_ofports):
    """Broadcast/multicast stays in the network: local ports, plus the tunnels to the other
    switches that host it when the frame was sent here (split horizon for tunnelled frames)."""
    gid_all, gid_local = flood_group_ids(vni)
    local = tuple((("output", p),) for p in sorted(local_ofports))
    remote = tuple((("set", "tunnel_id", vni), ("output", t)) for t in sorted(tunnel_ofports))
    groups = [Group(gid_all, local + remote), Group(gid_local, local)]
    flows = [
        flow("l2_lookup", PRIO_LOW, {"metadata": (vni, pl.METADATA_MASK),
                                     "eth_dst": BROADCAST_MASK}, apply(("group", gid_all))),
        flow("l2_lookup", PRIO_LOW, {"metadata": (vni | pl.FROM_TUNNEL, pl.METADATA_MASK),
                                     "eth_dst": BROADCAST_MASK}, apply(("group", gid_local))),
    ]
    return flows, groups


# -- one switch --------------------------------------------------------------------------------
def compile_chassis(chassis_id, model, placement):
    """The complete desired state of ``chassis_id``'s integration bridge.

    ``model`` is a LogicalModel (apps/model.py); ``placement`` says where each bound port is
    (chassis, ofport) and which tunnel port leads from this chassis to each other chassis.
    """
    flows, groups, meters = list(table_miss_flows()), [], []
    tunnels = placement.tunnels.get(chassis_id, {})
    for ofport in sorted(tunnels.values()):
        flows.append(classify_tunnel_port(ofport))
    for net_id in sorted(placement.networks_on(chassis_id, model)):
        net = model.networks[net_id]
        vni = net.vni
        local, remote_chassis = {}, set()
        for port in model.ports_on_network(net_id):
            where = placement.bound.get(port.id)
            if port.ipv4 or port.ipv6:
                flows += install_arp_responder(port, vni)
            if where is None or not port.admin_up:
                continue
            host, ofport = where
            if host == chassis_id:
                local[port.id] = ofport
                port_meters = qos.port_meters(ofport, model.limits_of(port))
                meters += port_meters.values()
                flows.append(classify_vm_port(ofport, vni, port_meters))
                flows += install_port_security(port, ofport)
                flows.append(deliver_to_local_port(port, ofport, vni, port_meters))
            elif host in tunnels:
                remote_chassis.add(host)
                flows.append(forward_to_remote_port(port, vni, tunnels[host]))
        flows.append(accept_tunneled_network(vni))
        if net.dhcp:
            flows.append(send_dhcp_to_controller(vni))
        flood_flows, flood_groups = install_flooding(
            vni, local.values(), [tunnels[c] for c in remote_chassis])
        flows += flood_flows
        groups += flood_groups
    return SwitchState.of(flows, groups, meters)
