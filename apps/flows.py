"""What a switch should hold: pure functions from the logical model to flows and groups.

Nothing here talks to a switch. ``compile_chassis`` returns the complete desired state of one
integration bridge; the app compares it with what the bridge holds and sends the difference.
Flows are immutable values; a flow's cookie is a hash of its content (see pipeline.py), so two
compilations that agree produce identical cookies and a diff is a set difference.
"""
import dataclasses
import functools
import hashlib
import socket

import netaddr

from apps import meters as qos
from apps import pipeline as pl
from apps import secgroups

BROADCAST_MASK = ("01:00:00:00:00:00", "01:00:00:00:00:00")
ETH_ARP, ETH_IPV4, ETH_IPV6 = 0x0806, 0x0800, 0x86DD
UDP = 17
PRIO_HIGH, PRIO_NORMAL, PRIO_LOW, PRIO_MISS = 200, 100, 50, 0


@dataclasses.dataclass(frozen=True, slots=True)
class Flow:
    table: str
    priority: int
    match: tuple          # ((field, value or (value, mask)), ...) sorted by field
    instructions: tuple   # ("goto", table) | ("metadata", value, mask) | ("apply", actions)
    # A hash of the content, computed once: slots and no lazily filled __dict__ keep a flow at
    # a few hundred bytes, which matters with millions of them (simulations/bench_scale.py).
    cookie: int = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self):
        digest = hashlib.blake2b(repr((self.table, self.priority, self.match,
                                       self.instructions)).encode(), digest_size=7).digest()
        object.__setattr__(self, "cookie", pl.COOKIE_PREFIX | int.from_bytes(digest, "big"))


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


class _Shared:
    """One copy of each equal value (a match field, a set of instructions): a port's MAC is in
    all its port-security flows, ``eth_type=0x0800`` or ``goto port_security`` in thousands of
    flows. Bounded: when full it starts over (values stay correct, only sharing is lost)."""

    def __init__(self, size):
        self.size, self.values = size, {}

    def __call__(self, value):
        return self.all((value,))[0]

    def all(self, values):
        """The shared copy of each of ``values``, as a tuple (one call for a flow's match
        fields: a cold start builds hundreds of thousands of flows)."""
        if len(self.values) >= self.size:
            self.values.clear()
        share = self.values.setdefault
        return tuple([share(v, v) for v in values])


_shared = _Shared(1 << 20)


def flow(table, priority, match, *instructions):
    return pl.check_flow(Flow(table, priority, _shared.all(sorted(match.items())),
                              _shared(instructions)))


def goto(table):
    return ("goto", table)


def apply(*actions):
    return ("apply", tuple(actions))


def flood_group_ids(vni):
    """Two groups per network: to local ports and tunnels, and (from a tunnel) local only."""
    return vni << 1, (vni << 1) | 1


def _is_v6(address):
    """IPv6 or IPv4 (the model holds validated addresses and CIDRs: a colon says which)."""
    return ":" in address


def _masked(cidr):
    """An address as a match value: itself when it is already written as netaddr would write
    it (a cold start has a few per port, more than a memo holds), or (network, netmask) of a
    CIDR wider than one address."""
    if "/" not in cidr and "." not in cidr and _canonical(socket.AF_INET6, cidr) or \
            "/" not in cidr and ":" not in cidr and _canonical(socket.AF_INET, cidr):
        return cidr
    return _masked_cidr(cidr)


def _canonical(family, text):
    """Whether inet_ntop writes ``text`` back as it is: for a dotted quad, and for IPv6
    without an embedded IPv4 address, that is netaddr's text too (tests/unit/test_flows.py)."""
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, text)) == text
    except OSError:
        return False


@functools.lru_cache(maxsize=1 << 16)
def _masked_cidr(cidr):
    net = netaddr.IPNetwork(cidr)
    return str(net.ip) if net.size == 1 else (str(net.network), str(net.netmask))


# -- classify ----------------------------------------------------------------------------------
def classify_vm_port(ofport, vni, port_meters=None, registers=()):
    """What a VM sends enters its network here, through the port's egress meter if any;
    ``registers``: the actions naming its security groups' zone and mode (apps/secgroups.py)."""
    return flow("classify", PRIO_NORMAL, {"in_port": ofport},
                *qos.meter_instruction(port_meters or {}, qos.EGRESS),
                *((apply(*registers),) if registers else ()),
                ("metadata", vni, pl.METADATA_MASK), goto("port_security"))


def classify_tunnel_port(ofport):
    return flow("classify", PRIO_NORMAL, {"in_port": ofport}, goto("tunnel_in"))


def accept_tunneled_network(vni):
    """Only VNIs this switch hosts are accepted from tunnels; anything else hits the miss."""
    return flow("tunnel_in", PRIO_NORMAL, {"tunnel_id": vni},
                ("metadata", vni | pl.FROM_TUNNEL, pl.METADATA_MASK), goto("l2_lookup"))


# -- port security -----------------------------------------------------------------------------
ICMPV6 = 58
RS, RA, NS, NA, REDIRECT = 133, 134, 135, 136, 137
NO_MAC = "00:00:00:00:00:00"      # an ND option that is absent reads as this
# (eth_type, port a server sends from, port a client listens on) of DHCP and DHCPv6
DHCP_SERVER_PORTS = ((ETH_IPV4, 67, 68), (ETH_IPV6, 547, 546))
PRIO_DHCP_CLIENT = 120            # above the source checks: DHCP client packets are metered
PRIO_ND, PRIO_DAD_DROP, PRIO_DAD = 150, 160, 170


def link_local(mac):
    """The EUI-64 IPv6 link-local address a host derives from ``mac`` (RFC 4291): fe80::/64,
    the MAC with its universal/local bit flipped and ff:fe in its middle. Written with
    inet_ntop, which gives netaddr's text for these addresses (the fe80::/64 prefix's run of
    zeros is always the longest), at a tenth of the cost of netaddr.EUI: a cold start derives
    one per port."""
    try:
        eui = bytes.fromhex(mac.replace(":", ""))
    except ValueError:
        eui = b""
    if len(eui) != 6:                  # not twelve hex digits in pairs: netaddr reads it
        eui = netaddr.EUI(mac).packed
    return socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + bytes(6) + bytes((eui[0] ^ 2,)) +
                            eui[1:3] + b"\xff\xfe" + eui[3:])


def ipv6_sources(port):
    """[(mac, IPv6 address or CIDR)] a port with port security may send from: its fixed
    addresses, its IPv6 address pairs, and the link-local address of each of its MACs (of
    its own and of its pairs'), which an IPv6 host needs (neighbour discovery, MLD, DHCPv6).

    An IPv4-only port (IPv4 addresses or pairs, no IPv6 ones) sends no IPv6 at all, not even
    from its link-local address: its port security lists what it was given, as Neutron's
    default back-end (ML2/OVN) and OVN do. It saves such a port six flows (its link-local
    source, DAD and MLD from ::, four neighbour-discovery guards) and a tenant the IPv6
    surface of a network that has no IPv6. A port without any address keeps its link-local
    address, as it keeps any IPv4 source."""
    v6 = [(port.mac, ip) for ip in port.ipv6] + [(m, a) for m, a in port.pairs if _is_v6(a)]
    if not v6 and (port.ipv4 or any(not _is_v6(a) for _, a in port.pairs)):
        return []
    macs = [port.mac] + sorted({m for m, _ in port.pairs} - {port.mac})
    return [(m, link_local(m)) for m in macs] + v6


def install_port_security(port, ofport):
    """A port may send only from its MAC and addresses; DHCP discovery and ARP probes from
    0.0.0.0, and ICMPv6 to link-scope multicast from :: (DAD, MLD, RS), are let through; its
    DHCP client packets pass its DHCP meter. What it sends then passes ``egress_guard``,
    where ``install_nd_security`` vouches for its neighbour discovery.

    A port without IPv4 addresses (nor IPv4 pairs) may send any IPv4 source, as before; an
    IPv4-only port no IPv6 (``ipv6_sources``); a port without any address only what its
    link-local address needs. Without port security:
    anything (the DHCP meter still applies), and the guard is skipped too, as Neutron does (a
    VM that is trusted with port security off may be a DHCP server or a router)."""
    dhcp_meter = ("meter", qos.port_dhcp_meter(ofport).meter_id)
    dhcp_client = {"eth_type": ETH_IPV4, "ip_proto": UDP, "udp_src": 68, "udp_dst": 67}
    if not port.security:
        return [flow("port_security", PRIO_DHCP_CLIENT, {"in_port": ofport, **dhcp_client},
                     dhcp_meter, goto("arp_responder")),
                flow("port_security", PRIO_LOW, {"in_port": ofport}, goto("arp_responder"))]
    out = []

    def allow(*instructions, priority=PRIO_NORMAL, **match):
        out.append(flow("port_security", priority, {"in_port": ofport, **match},
                        *instructions, goto("egress_guard")))

    mac = port.mac
    v4 = [(mac, ip) for ip in port.ipv4] + [(m, a) for m, a in port.pairs if not _is_v6(a)]
    dhcp_sources = v4 + [(mac, "0.0.0.0")] if v4 else [(mac, "0.0.0.0/0")]
    for src_mac, addr in v4 or [(mac, "0.0.0.0/0")]:
        allow(eth_src=src_mac, eth_type=ETH_IPV4, ipv4_src=_masked(addr))
        allow(eth_src=src_mac, eth_type=ETH_ARP, arp_sha=src_mac, arp_spa=_masked(addr))
    for src_mac, addr in dhcp_sources:
        allow(dhcp_meter, priority=PRIO_DHCP_CLIENT, eth_src=src_mac, ipv4_src=_masked(addr),
              **dhcp_client)
    allow(eth_src=mac, eth_type=ETH_ARP, arp_sha=mac, arp_spa="0.0.0.0")
    v6 = ipv6_sources(port)
    for src_mac, addr in v6:
        allow(eth_src=src_mac, eth_type=ETH_IPV6, ipv6_src=_masked(addr))
    if v6:
        allow(eth_src=mac, eth_type=ETH_IPV6, ipv6_src="::", ipv6_dst=_masked("ff02::/16"),
              ip_proto=ICMPV6)
    return out + install_nd_security(port, ofport)


def install_nd_security(port, ofport):
    """Neutron's and OVN's ND rules, in ``egress_guard`` after port security checked the
    source addresses (so per port, rather than per source and target): a port
    advertises (NA target) only addresses it may send from, with its own MAC or none as the
    target link-layer address; it solicits with its own MAC or none as source link-layer
    address, and probes for duplicates (DAD: NS from ::) only its own addresses. A router port
    may also send router advertisements and redirects from its link-local address. What
    matches none of these meets the guard's drops of every other NS, NA, RA and redirect."""
    out = []

    def nd(priority, instructions, **match):
        out.append(flow("egress_guard", priority, {"in_port": ofport, "eth_type": ETH_IPV6,
                                                   "ip_proto": ICMPV6, **match},
                        *instructions))

    vouched = (goto("arp_responder"),)
    sources = ipv6_sources(port)
    for src_mac in dict.fromkeys(m for m, _ in sources):
        nd(PRIO_ND, vouched, eth_src=src_mac, icmpv6_type=NS, ipv6_nd_sll=src_mac)
    for src_mac, addr in sources:
        for tll in (src_mac, NO_MAC):
            nd(PRIO_ND, vouched, eth_src=src_mac, icmpv6_type=NA,
               ipv6_nd_target=_masked(addr), ipv6_nd_tll=tll)
        nd(PRIO_DAD, vouched, eth_src=src_mac, ipv6_src="::", icmpv6_type=NS,
           ipv6_nd_target=_masked(addr), ipv6_nd_sll=NO_MAC)
    if port.router:
        for src_mac, addr in sources[:1]:
            for kind in (RA, REDIRECT):
                nd(PRIO_ND, vouched, eth_src=src_mac, ipv6_src=addr, icmpv6_type=kind)
    return out


def egress_guard():
    """What only the cloud's own services send, dropped from every port with port security
    (the same flows on every switch, below the ports' own ND flows of
    ``install_nd_security``): DHCP and DHCPv6 server packets -- from the server port,
    or to the client port, since a client may listen whatever the source port --, router
    advertisements and redirects, and neighbour solicitations and advertisements that
    ``install_nd_security`` did not vouch for. Two ND rules hold for every port alike, so
    they are here once rather than in each port's flows: an NS without a source link-layer
    address goes on (the source was checked in port_security), and a DAD probe (NS from ::)
    goes on only if the port's own flow vouched for its target. The controller's own DHCP
    answers are packet-outs and never pass here."""
    nd = {"eth_type": ETH_IPV6, "ip_proto": ICMPV6, "icmpv6_type": NS}
    out = [flow("egress_guard", PRIO_ND, {**nd, "ipv6_nd_sll": NO_MAC}, goto("arp_responder")),
           flow("egress_guard", PRIO_DAD_DROP, {**nd, "ipv6_src": "::"})]
    for eth_type, server, client in DHCP_SERVER_PORTS:
        proto = {"eth_type": eth_type, "ip_proto": UDP}
        out += [flow("egress_guard", PRIO_NORMAL, {**proto, "udp_src": server}),
                flow("egress_guard", PRIO_NORMAL, {**proto, "udp_dst": client})]
    return out + [flow("egress_guard", PRIO_NORMAL,
                       {"eth_type": ETH_IPV6, "ip_proto": ICMPV6, "icmpv6_type": kind})
                  for kind in (RA, NS, NA, REDIRECT)]


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
    """DHCP client packets of the network to the controller, through the switch's packet-in
    meter (the port's DHCP meter was passed in port_security)."""
    return flow("dhcp", PRIO_NORMAL,
                {"metadata": (vni, pl.METADATA_MASK), "eth_type": ETH_IPV4, "ip_proto": UDP,
                 "udp_src": 68, "udp_dst": 67},
                *to_controller())


def to_controller():
    """The instructions of a flow that sends to the controller: through the switch's
    packet-in meter, so that the controller-bound traffic of one switch is capped."""
    return ("meter", qos.switch_packet_in_meter().meter_id), apply(("output", "controller"))


def table_miss_flows():
    """Tables whose miss continues rather than drops get a priority-0 goto."""
    return [flow(name, PRIO_MISS, {}, goto(nxt)) for name, nxt in pl.table_misses() if nxt]


# -- L2 forwarding and flooding ----------------------------------------------------------------
def deliver_to_local_port(port, ofport, vni, port_meters=None, groups=()):
    """From anywhere (local or tunnel) to a port on this switch, through the port's ingress
    meter if any (flooded frames reach it through the group, unmetered), and through its
    security groups' ingress stages if it has any (apps/secgroups.py)."""
    out = secgroups.deliver_instructions(port, ofport, groups) if secgroups.filtered(port) \
        else (apply(("output", ofport)),)
    return flow("l2_lookup", PRIO_NORMAL,
                {"metadata": (vni, pl.VNI_MASK), "eth_dst": port.mac},
                *qos.meter_instruction(port_meters or {}, qos.INGRESS), *out)


def forward_to_remote_port(port, vni, host_tag):
    """From a local port to a port on another switch (tunnelled frames never go back out):
    tun_id := VNI, and the destination switch's tag into a register; tunnel_out picks the port.

    Why a register rather than ``output:<tunnel port>`` here: the tunnel port's number differs
    from switch to switch, the tag does not. So this flow is identical on every switch hosting
    the network -- computed and encoded once per port, not once per switch -- and a tunnel
    port that is re-created changes one tunnel_out flow, not one flow per remote MAC. The
    price is one more table lookup, which OVS's megaflow cache folds away.
    """
    return flow("l2_lookup", PRIO_NORMAL,
                {"metadata": (vni, pl.METADATA_MASK), "eth_dst": port.mac},
                apply(("set", "tunnel_id", vni), ("set", pl.TUNNEL_DEST_REG, host_tag)),
                goto("tunnel_out"))


def output_to_tunnel(host_tag, tunnel_ofport):
    return flow("tunnel_out", PRIO_NORMAL, {pl.TUNNEL_DEST_REG: host_tag},
                apply(("output", tunnel_ofport)))


def flood_groups(vni, local_ofports, tunnel_ofports):
    """Broadcast/multicast stays in the network: local ports, plus the tunnels to the other
    switches that host it when the frame was sent here (split horizon for tunnelled frames)."""
    gid_all, gid_local = flood_group_ids(vni)
    local = tuple((("output", p),) for p in sorted(local_ofports))
    remote = tuple((("set", "tunnel_id", vni), ("output", t)) for t in sorted(tunnel_ofports))
    return [Group(gid_all, local + remote), Group(gid_local, local)]


def flood_lookups(vni):
    """Broadcast of the network to its flood groups: the group for frames sent here, the
    local-only group for frames that came through a tunnel."""
    gid_all, gid_local = flood_group_ids(vni)
    return [
        flow("l2_lookup", PRIO_LOW, {"metadata": (vni, pl.METADATA_MASK),
                                     "eth_dst": BROADCAST_MASK}, apply(("group", gid_all))),
        flow("l2_lookup", PRIO_LOW, {"metadata": (vni | pl.FROM_TUNNEL, pl.METADATA_MASK),
                                     "eth_dst": BROADCAST_MASK}, apply(("group", gid_local))),
    ]


# -- pieces: what one switch holds, in parts that can be recomputed on their own --------------
@dataclasses.dataclass(frozen=True)
class Piece:
    """A part of a switch's desired state that depends on few inputs (one port, one network, the
    switch's tunnels). A switch's state is the union of its pieces; when an input changes only
    the pieces that read it are recomputed (apps/incremental.py). Pieces whose content is the
    same on every switch that holds them (``network``, ``arp``) are computed once and shared."""

    flows: tuple = ()
    groups: tuple = ()
    meters: tuple = ()


def switch_piece():
    """What every switch holds whatever it hosts: table misses, the egress guard, the
    security-group stages' common flows, and the packet-in meter its controller-bound flows go
    through (fabric switches too)."""
    return Piece(tuple(table_miss_flows() + egress_guard() + secgroups.base_flows()),
                 meters=(qos.switch_packet_in_meter(),))


def chassis_piece(tunnel_ofports):
    """What every integration bridge holds (``switch_piece``), and for each tunnel port
    (``{peer's tag: ofport}``) its classification and the way out to the peer."""
    common = switch_piece()
    return Piece(common.flows +
                 tuple(classify_tunnel_port(p) for p in sorted(tunnel_ofports.values())) +
                 tuple(output_to_tunnel(t, p) for t, p in sorted(tunnel_ofports.items())),
                 meters=common.meters)


def network_piece(net):
    """Flows every switch hosting ``net`` holds identically: tunnel_in, DHCP, flood lookups."""
    out = [accept_tunneled_network(net.vni)]
    if net.dhcp:
        out.append(send_dhcp_to_controller(net.vni))
    return Piece(tuple(out + flood_lookups(net.vni)))


def flood_piece(vni, local_ofports, tunnel_ofports):
    """The network's two flood groups on one switch (its local ports, its peers' tunnels)."""
    return Piece(groups=tuple(flood_groups(vni, local_ofports, tunnel_ofports)))


def arp_piece(port, vni):
    """ARP answers for a port's addresses, on every switch hosting its network (shared)."""
    return Piece(tuple(install_arp_responder(port, vni)))


def local_port_piece(port, ofport, vni, limits=(), groups=()):
    """A port bound on this switch: classify, port security, delivery, the meters of its
    bandwidth ``limits`` (BandwidthLimits, apps/meters.py) and its DHCP meter; classify and
    delivery name its security ``groups``' zone and mode in registers."""
    port_meters = qos.port_meters(ofport, limits or ())
    registers = secgroups.port_registers(port, ofport, groups)
    return Piece((classify_vm_port(ofport, vni, port_meters, registers),
                  *install_port_security(port, ofport),
                  deliver_to_local_port(port, ofport, vni, port_meters, groups)),
                 meters=(*port_meters.values(), qos.port_dhcp_meter(ofport)))


def security_group_piece(port, ofport, groups):
    """A local port's security groups (apps/secgroups.py): its rules and the conj_id flows of
    the remote groups they name; None if it is not filtered or they allow nothing."""
    rules = secgroups.port_flows(groups) if secgroups.filtered(port) else ()
    return Piece(tuple(rules)) if rules else None


def member_piece(port, vni, referenced, legs=()):
    """The port's addresses as members of its groups (conjunction clauses) in the ways rules
    name them (``referenced``), on the switches of its network where a port's rules name
    one of its groups (and, through its routers' ``legs``, as they arrive on their other
    networks); None if none."""
    member = secgroups.member_flows(port, vni, referenced, legs) \
        if secgroups.filtered(port) else ()
    return Piece(tuple(member)) if member else None


def remote_port_piece(port, vni, host_tag):
    """A port bound on another switch: the way to it, the same on every switch but its own."""
    return Piece((forward_to_remote_port(port, vni, host_tag),))


def chassis_pieces(chassis_id, model, placement):
    """Every piece ``chassis_id``'s integration bridge holds, by key:
    ("chassis",), ("network", net id), ("flood", net id), ("arp", port id),
    ("local", port id), ("remote", port id), ("sg", port id), ("sg_member", port id)."""
    tunnels = placement.tunnels.get(chassis_id, {})
    tags = placement.tags
    pieces = {("chassis",): chassis_piece({tags[c]: p for c, p in tunnels.items()})}
    wanted = members_wanted_on(chassis_id, model, placement.bound)
    for net_id in sorted(placement.networks_on(chassis_id, model)):
        net = model.networks[net_id]
        vni = net.vni
        local, remote_chassis = [], set()
        for port in model.ports_on_network(net_id):
            if port.ipv4:
                pieces[("arp", port.id)] = arp_piece(port, vni)
            member = member_piece(port, vni, model.references_to(port)) \
                if secgroups.wanted_here(port, wanted) else None
            if member is not None:
                pieces[("sg_member", port.id)] = member
            where = placement.bound.get(port.id)
            if where is None or not port.admin_up:
                continue
            host, ofport = where
            if host == chassis_id:
                local.append(ofport)
                pieces[("local", port.id)] = local_port_piece(port, ofport, vni,
                                                              model.limits_of(port),
                                                              model.groups_of(port))
                sg = security_group_piece(port, ofport, model.groups_of(port))
                if sg is not None:
                    pieces[("sg", port.id)] = sg
            else:
                if host in tags:
                    pieces[("remote", port.id)] = remote_port_piece(port, vni, tags[host])
                if host in tunnels:
                    remote_chassis.add(host)
        pieces[("network", net_id)] = network_piece(net)
        pieces[("flood", net_id)] = flood_piece(vni, local,
                                                [tunnels[c] for c in remote_chassis])
    return pieces


def members_wanted_on(switch, model, bound):
    """The security groups whose members' address flows ``switch`` holds: those the rules of
    its bound ports name (apps/secgroups.py ``members_wanted``; ``bound``: port id ->
    (switch, ofport))."""
    return frozenset().union(*(secgroups.members_wanted(model.ports[p],
                                                        model.groups_of(model.ports[p]))
                               for p, (host, _) in bound.items()
                               if host == switch and p in model.ports))


def union(pieces):
    """The SwitchState a set of pieces adds up to."""
    return SwitchState({f.cookie: f for p in pieces for f in p.flows},
                       {g.group_id: g for p in pieces for g in p.groups},
                       {m.meter_id: m for p in pieces for m in p.meters})


# -- one switch --------------------------------------------------------------------------------
def compile_chassis(chassis_id, model, placement):
    """The complete desired state of ``chassis_id``'s integration bridge: the union of its pieces.

    ``model`` is a LogicalModel (apps/model.py); ``placement`` says where each bound port is
    (chassis, ofport) and which tunnel port leads from this chassis to each other chassis.
    """
    return union(chassis_pieces(chassis_id, model, placement).values())
