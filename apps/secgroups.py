"""Security groups as flows: pure functions from ports and their groups to flows (issue 13).

Where: after port security on the way out (``sg_egress`` 7, ``sg_egress_rules`` 8,
``sg_egress_commit`` 9, then ``arp_responder``), and between l2_lookup's choice of a local port
and the output to it on the way in (``sg_ingress`` 21, ``sg_ingress_rules`` 22,
``sg_ingress_deliver`` 23): l2_lookup delivers to a port with groups by writing its OpenFlow
port into ``reg1`` (after the port's ingress meter) and going to ``sg_ingress``, so frames from
local ports, from tunnels and (later) from routers all pass the same checks.

How, as Neutron's OVS firewall and OVN do it:

* **conntrack per port**: a port's zone is its OpenFlow port number (unique on its switch, no
  allocator; ``REG_ZONE`` carries it). Both directions of a port's connections are tracked in
  its zone: what it sends in ``sg_egress``, what it receives in ``sg_ingress``, each
  recirculated to the rules table. ``+inv`` is dropped; ``+est+rpl`` (the answer to a
  connection this side let in or out) and ``+rel`` pass without a rule; ``+new`` and the
  original direction of an established connection are checked against the rules; a new one
  that passes is committed in the commit stage.
* **cut when a rule goes**: an established connection's packets in its original direction are
  checked against the rules again (as Neutron does); when none allows them any more, the
  connection is marked (``ct_mark`` bit 0, ``CT_MARK_BLOCKED``) and dropped, and a marked
  connection's packets are dropped both ways.
* **stateless groups** skip conntrack: their packets reach the rules untracked and nothing is
  committed; answers need rules of their own.
* **rules per group set**: a port's rule flows match its group set (``REG_SET``, written
  with its zone), not the port, so ports with the same groups share them.
* **remote groups as conjunctions**: a rule "from group G" of the ports with group set S is
  one flow per (S, rule shape) with ``conjunction(c_G, 1/2)`` and, once per member address of
  G, one flow ``ip_src=address`` with ``conjunction(c_G, 2/2)`` (``ip_dst`` on the way out),
  only on switches where a port's rules name G (``members_wanted``). So a group of N members
  that admits its own members costs O(N) flows per switch, not O(N^2), and a member joining
  or leaving changes only its own address flows (``member_piece``) and, on its own switch, its
  own pieces. The conjunction id is a hash of the group id and the direction (``Ids``: never
  one that another group has); the address flows match the network (metadata VNI), so equal
  addresses of different tenants' networks never meet: remote-group rules admit members on
  the same network.

Always allowed, before the rules (as Neutron's base flows): DHCP and DHCPv6 client packets,
router solicitations and MLD out; neighbour discovery and MLD in; anything that is not IP (ARP
was checked by port security). Ports without port security, and ports with no group, are not
filtered.
"""
import dataclasses
import hashlib

import netaddr

from apps import flows
from apps import pipeline as pl

#: registers and ct_mark bits of this feature (docs/pipeline.md)
REG_OUT_PORT = "reg1"        # the local port a frame is delivered to (ingress stages)
REG_SET = "reg6"             # the group set of the port being checked (``set_id``)
REG_ZONE = "reg5"            # the conntrack zone of the port being checked (0: not filtered)
REG_FLAGS = "reg4"           # bit 0: the port being checked is stateless
STATELESS = 1
CT_MARK_BLOCKED = 1          # ct_mark bit 0: a rule that allowed the connection is gone
MAX_ZONE = 32767             # zones 1..32767 are this feature's (routers use the rest)

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
# ct_state bits (ovs-fields(7))
NEW, EST, REL, RPL, INV, TRK = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
TCP, UDP, ICMP, SCTP, ICMPV6 = 6, 17, 1, 132, 58
PORT_FIELDS = {TCP: "tcp_dst", UDP: "udp_dst", SCTP: "sctp_dst"}
ETH_TYPES = {"IPv4": ETH_IPV4, "IPv6": ETH_IPV6}

PRIO_BASE, PRIO_STATE, PRIO_BLOCKED, PRIO_PASS = 200, 300, 290, 280
PRIO_CONJ, PRIO_RULE, PRIO_CUT = 110, 100, 10
PRIO_UNFILTERED, PRIO_STATELESS = 150, 120
# ICMPv6: MLD query, report, done, v2 report; RS, RA, NS, NA
MLD = (130, 131, 132, 143)
RS, RA, NS, NA = 133, 134, 135, 136


@dataclasses.dataclass(frozen=True)
class Direction:
    """What differs between the two ways through a port's firewall."""

    name: str            # a rule's direction: "egress" (sent by the port) or "ingress"
    entry: str           # table that sends to conntrack
    rules: str           # table of the rules
    commit: str          # table that commits new connections and lets packets on
    peer: str            # "src" or "dst": which address is the remote side's


EGRESS = Direction("egress", "sg_egress", "sg_egress_rules", "sg_egress_commit", "dst")
INGRESS = Direction("ingress", "sg_ingress", "sg_ingress_rules", "sg_ingress_deliver", "src")
DIRECTIONS = (EGRESS, INGRESS)


def zone_of(ofport):
    """The conntrack zone of a local port: its OpenFlow port number (1..32767)."""
    return (ofport - 1) % MAX_ZONE + 1


def _hash32(text):
    """A 32-bit hash of ``text``, never 0 (0 means "none" in the registers it goes to)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") or 1


class Ids:
    """32-bit ids for keys, as conjunction ids and group-set registers need: the hash of the
    key, so that every switch, every instance and every restart agree, but never an id that
    another key already has. Two keys with one id would merge what they stand for (a member
    of one group admitted as a member of another, one group set given another's rules), so a
    key whose hash is taken gets the hash of a salted key instead; only then does the id
    depend on which key came first. Tenants cannot choose the ids hashed (server-made UUIDs).
    Kept for the life of the process: a handful of bytes per group and group set."""

    def __init__(self, hash32=_hash32):
        self.hash32 = hash32
        self.by_key, self.owner = {}, {}

    def __call__(self, key):
        got = self.by_key.get(key)
        if got is None:
            salt = 0
            got = self.hash32(key)
            while got in self.owner:
                salt += 1
                got = self.hash32(f"{salt}|{key}")
            self.by_key[key], self.owner[got] = got, key
        return got


#: conjunction ids ("a member of G", per direction and family) and group-set ids (``REG_SET``)
CONJ_IDS, SET_IDS = Ids(), Ids()


def conj_id(group_id, direction, eth_type):
    """The conjunction id of "a member of ``group_id``" in one direction and family: the same
    on every switch (``Ids``)."""
    return CONJ_IDS(f"{group_id}|{direction}|{eth_type}")


def set_id(groups):
    """The id of a set of security groups (never 0: 0 is "no groups"): what a port's rule
    flows match (``REG_SET``) instead of the port. Ports with the same groups have the same
    rules, so their rule flows are the same flows, held once per switch (the union of pieces
    counts holders): rules cost O(distinct group sets) per switch, not O(ports). The same on
    every switch (``Ids``)."""
    return SET_IDS("set|" + "|".join(sorted({g.id for g in groups})))


def _address_field(eth_type, side):
    return f"{'ipv4' if eth_type == ETH_IPV4 else 'ipv6'}_{side}"


def port_range_masks(lo, hi):
    """[(value, mask)] that together match exactly the ports lo..hi (a value alone when the
    block is one port), as Neutron's port_rule_masking: few flows for any range."""
    out = []
    while lo <= hi:
        size = lo & -lo if lo else 1 << 16
        while lo + size - 1 > hi:
            size >>= 1
        out.append(lo if size == 1 else (lo, 0xFFFF & ~(size - 1)))
        lo += size
    return out


def rule_matches(rule):
    """The protocol part of a rule's flows: [match dict], one per masked port block (empty
    when nothing can match: a family mismatch, or ports of a protocol OpenFlow cannot
    read, which Neutron's OVS firewall cannot enforce either: the rule then admits nothing)."""
    eth_type = ETH_TYPES[rule.ethertype]
    base = {"eth_type": eth_type}
    proto = rule.protocol
    if proto == ICMP and eth_type == ETH_IPV6:
        proto = ICMPV6
    if proto is None:
        return [base]
    base["ip_proto"] = proto
    if proto in (ICMP, ICMPV6):
        if (proto == ICMP) != (eth_type == ETH_IPV4):
            return []
        kind = "icmpv4" if proto == ICMP else "icmpv6"
        if rule.port_min is not None:
            base[f"{kind}_type"] = rule.port_min
            if rule.port_max is not None:
                base[f"{kind}_code"] = rule.port_max
        return [base]
    if rule.port_min is None and rule.port_max is None:
        return [base]
    field = PORT_FIELDS.get(proto)
    if field is None:
        return []
    lo = rule.port_min if rule.port_min is not None else 1
    hi = rule.port_max if rule.port_max is not None else 65535
    if (lo, hi) == (1, 65535) or (lo, hi) == (0, 65535):
        return [base]
    return [{**base, field: block} for block in port_range_masks(lo, hi)]


def _prefix_matches(rule, direction):
    if rule.remote_prefix is None:
        return {}
    eth_type = ETH_TYPES[rule.ethertype]
    if (":" in rule.remote_prefix) != (eth_type == ETH_IPV6):
        return None
    if netaddr.IPNetwork(rule.remote_prefix).prefixlen == 0:
        return {}
    return {_address_field(eth_type, direction.peer): flows._masked(rule.remote_prefix)}


def references(groups, member_of):
    """{(group id, direction, ethertype)} of the rules of ``groups`` that name one of the
    groups in ``member_of`` as their remote group: in which ways a member is looked for."""
    return frozenset((r.remote_group_id, r.direction, r.ethertype) for g in groups
                     for r in g.rules if r.remote_group_id in member_of)


def members_wanted(port, groups):
    """The groups whose members' addresses a switch needs because ``port`` (with ``groups``)
    is bound there: the remote groups its rules name, if it is filtered and up. A member's
    address flows sit only on switches that need them (``wanted_here``), not on every switch
    of its network: a switch whose ports all belong to one group holds that group's members
    only."""
    if not (filtered(port) and port.admin_up):
        return frozenset()
    return frozenset(r.remote_group_id for g in groups for r in g.rules
                     if r.remote_group_id is not None)


def wanted_here(member, wanted):
    """Whether a switch that needs the members of ``wanted`` (the union of ``members_wanted``
    of its ports) holds ``member``'s address flows."""
    return any(g in wanted for g in member.security_groups)


def is_stateful(groups):
    """A port is tracked unless all its groups are stateless (Neutron refuses a mix)."""
    return any(g.stateful for g in groups)


# -- what every switch holds -------------------------------------------------------------------
def base_flows():
    """The flows of the six stages that are the same on every switch: what always passes,
    the conntrack state checks, cutting and committing connections, delivery by reg1."""
    out = []
    for eth_type, kinds, client in ((ETH_IPV4, (), (68, 67)), (ETH_IPV6, (RS,) + MLD,
                                                               (546, 547))):
        out.append(flows.flow("sg_egress", PRIO_BASE, {"eth_type": eth_type, "ip_proto": UDP,
                                                 "udp_src": client[0], "udp_dst": client[1]},
                        flows.goto("arp_responder")))
        for kind in kinds:
            out.append(flows.flow("sg_egress", PRIO_BASE, {"eth_type": eth_type, "ip_proto": ICMPV6,
                                                     "icmpv6_type": kind},
                            flows.goto("arp_responder")))
    for kind in MLD + (RA, NS, NA):
        out.append(flows.flow("sg_ingress", PRIO_BASE, {"eth_type": ETH_IPV6, "ip_proto": ICMPV6,
                                                  "icmpv6_type": kind},
                        flows.goto("sg_ingress_deliver")))
    for eth_type in (ETH_IPV4, ETH_IPV6):
        ip = {"eth_type": eth_type}
        out.append(flows.flow("sg_egress", PRIO_UNFILTERED, {**ip, REG_ZONE: 0},
                              flows.goto("arp_responder")))
        for d in DIRECTIONS:
            out += [flows.flow(d.entry, PRIO_STATELESS, {**ip, REG_FLAGS: (STATELESS, STATELESS)},
                               flows.goto(d.rules)),
                    flows.flow(d.entry, PRIO_RULE, ip,
                               flows.apply(_ct(REG_ZONE, d.rules)))]
    # the conntrack state counts only for a stateful port: a stateless one's packets may carry
    # the state of another port's lookup (its sender's, on the same switch)
    tracked = {REG_FLAGS: (0, STATELESS)}
    for d in DIRECTIONS:
        passed = flows.goto("arp_responder") if d is EGRESS else flows.goto(d.commit)
        out += [
            flows.flow(d.rules, PRIO_STATE, {**tracked, "ct_state": (TRK | INV, TRK | INV)}),
            flows.flow(d.rules, PRIO_BLOCKED, {**tracked, "ct_state": (TRK, TRK),
                                         "ct_mark": (CT_MARK_BLOCKED, CT_MARK_BLOCKED)}),
            flows.flow(d.rules, PRIO_PASS,
                       {**tracked, "ct_state": (TRK | EST | RPL, TRK | EST | RPL)}, passed),
            flows.flow(d.rules, PRIO_PASS,
                       {**tracked, "ct_state": (TRK | REL, TRK | REL | INV)}, passed),
        ]
        for eth_type in (ETH_IPV4, ETH_IPV6):
            ip = {"eth_type": eth_type}
            out += [
                flows.flow(d.rules, PRIO_CUT,
                           {**ip, **tracked, "ct_state": (TRK | EST, TRK | EST | RPL)},
                     flows.apply(_ct(commit=True, exec_=(_mark(CT_MARK_BLOCKED),)))),
                flows.flow(d.commit, PRIO_RULE,
                           {**ip, **tracked, "ct_state": (TRK | NEW, TRK | NEW)},
                     flows.apply(_ct(commit=True, exec_=(_mark(0),)), *_delivered(d)),
                     *_onwards(d)),
            ]
    out.append(flows.flow("sg_ingress_deliver", flows.PRIO_MISS, {}, flows.apply(*_delivered(INGRESS))))
    return out


def _ct(zone=REG_ZONE, table=None, commit=False, exec_=()):
    return ("ct", commit, zone, table, None, exec_)


def _mark(bit_value):
    return ("load", "ct_mark", 0, 1, bit_value)


def _delivered(d):
    return (("output_reg", REG_OUT_PORT),) if d is INGRESS else ()


def _onwards(d):
    return (flows.goto("arp_responder"),) if d is EGRESS else ()


# -- what a local port with groups adds ----------------------------------------------------------
def port_registers(port, ofport, groups):
    """The actions that name a filtered port's zone, mode and group set in registers, where
    its frames enter (classify) and where frames are delivered to it (l2_lookup): reg5 := its
    zone, reg4 := STATELESS or 0, reg6 := ``set_id`` of its groups. The entry stages then need
    no flow per port, and the rules none either: they match the group set."""
    if not filtered(port):
        return ()
    return (("set", REG_ZONE, zone_of(ofport)),
            ("set", REG_FLAGS, 0 if is_stateful(groups) else STATELESS),
            ("set", REG_SET, set_id(groups)))


def deliver_instructions(port, ofport, groups):
    """l2_lookup's way to a local port with groups: its port into reg1, its zone and mode
    into reg5 and reg4, then the checks."""
    return (flows.apply(("set", REG_OUT_PORT, ofport), *port_registers(port, ofport, groups)),
            flows.goto("sg_ingress"))


def port_flows(groups):
    """The rules of a local port with ``groups``, and the conj_id flows of the remote groups
    they name: the same flows for every port with the same groups (they match ``REG_SET``)."""
    out = []
    for d in DIRECTIONS:
        out += _rule_flows(d, {REG_SET: set_id(groups)},
                           [r for g in groups for r in g.rules if r.direction == d.name])
    return out


def _rule_flows(d, key, rules):
    plain, conj = {}, {}   # match items -> None (plain) / {(conjunction id, clause)} (conj)
    for rule in rules:
        cid = rule_conj_id(rule)
        if cid is None:
            prefix = _prefix_matches(rule, d)
            if prefix is None:
                continue
            for m in rule_matches(rule):
                plain[tuple(sorted({**key, **m, **prefix}.items()))] = None
            continue
        for m in rule_matches(rule) if rule.remote_group_id or _address_clause(rule, d) \
                else ():
            conj.setdefault(tuple(sorted({**key, **m}.items())), set()).add((cid, 1))
        for m in _address_clause(rule, d) if rule.remote_address_group_id else ():
            conj.setdefault(tuple(sorted({**key, **m}.items())), set()).add((cid, 2))
    out = [flows.flow(d.rules, PRIO_RULE, dict(m), flows.goto(d.commit)) for m in sorted(plain)]
    for m, clauses in sorted(conj.items()):
        out.append(flows.flow(d.rules, PRIO_CONJ, dict(m),
                              flows.apply(*(("conjunction", i, k, 2)
                                            for i, k in sorted(clauses)))))
    ids = sorted({i for s in conj.values() for i, k in s if k == 1})
    out += [flows.flow(d.rules, PRIO_CONJ, {"conj_id": i}, flows.goto(d.commit)) for i in ids]
    return out


def rule_conj_id(rule):
    """The conjunction a rule's flows are the first clause of: "a member of its remote
    group", or "an address of its address group" (when that group holds some address of
    the rule's family and not all of them); None: a plain rule (a prefix, or anywhere)."""
    eth_type = ETH_TYPES[rule.ethertype]
    if rule.remote_group_id is not None:
        return conj_id(rule.remote_group_id, rule.direction, eth_type)
    if rule.remote_address_group_id is not None and not _address_group_is_anywhere(rule):
        return conj_id(f"address-group|{rule.remote_address_group_id}", rule.direction,
                       eth_type)
    return None


def _family_addresses(rule):
    v6 = ETH_TYPES[rule.ethertype] == ETH_IPV6
    return [a for a in rule.remote_addresses if (":" in a) == v6]


def _address_group_is_anywhere(rule):
    """An address group holding 0.0.0.0/0 (::/0) admits anyone of that family: the rule is
    then a plain one, as with no prefix."""
    return any(netaddr.IPNetwork(a).prefixlen == 0 for a in _family_addresses(rule))


def _address_clause(rule, d):
    """The second clause of an address-group rule: one match per CIDR of the rule's family
    (none: the rule admits nothing). Its flows carry the rule's group set too (the rule
    flows' ``key``), so two group sets naming address groups with a CIDR in common never
    write one match twice with different conjunctions."""
    eth_type = ETH_TYPES[rule.ethertype]
    return [{"eth_type": eth_type, _address_field(eth_type, d.peer): flows._masked(a)}
            for a in _family_addresses(rule)]


def rules_behind(flow, groups):
    """The (group, rule) pairs of ``groups`` whose rules made ``flow`` of a rules table (a
    rule's own flow, or the ``conj_id`` flow of the remote group or address group it names):
    what admitted a packet that matched it. Empty for any other flow."""
    d = next((d for d in DIRECTIONS if d.rules == flow.table), None)
    if d is None:
        return []
    match = dict(flow.match)
    out = []
    for g in groups:
        for r in g.rules:
            if r.direction != d.name:
                continue
            if "conj_id" in match:
                if rule_conj_id(r) == match["conj_id"]:
                    out.append((g, r))
            elif rule_conj_id(r) is None and any(
                    dict(f.match) == match
                    for f in _rule_flows(d, {REG_SET: match.get(REG_SET)}, [r])):
                out.append((g, r))
    return out


def describe_rule(rule, group_name=str):
    """A rule in a few words: "ingress IPv4 tcp ports 80-80 from 0.0.0.0/0" (``group_name``
    names a remote group by its id)."""
    names = {TCP: "tcp", UDP: "udp", ICMP: "icmp", SCTP: "sctp", ICMPV6: "icmpv6"}
    words = [rule.direction, rule.ethertype,
             names.get(rule.protocol, str(rule.protocol)) if rule.protocol is not None
             else "any protocol"]
    if rule.port_min is not None or rule.port_max is not None:
        kind = "type/code" if rule.protocol in (ICMP, ICMPV6) else "ports"
        words.append(f"{kind} {rule.port_min if rule.port_min is not None else 'any'}-"
                     f"{rule.port_max if rule.port_max is not None else 'any'}")
    side = "from" if rule.direction == "ingress" else "to"
    if rule.remote_group_id is not None:
        words.append(f"{side} members of {group_name(rule.remote_group_id)}")
    elif rule.remote_address_group_id is not None:
        words.append(f"{side} address group {rule.remote_address_group_id} "
                     f"({', '.join(rule.remote_addresses) or 'no addresses'})")
    else:
        words.append(f"{side} {rule.remote_prefix or 'anywhere'}")
    return " ".join(words)


# -- what a member of groups adds where its network is -------------------------------------------
def member_flows(port, vni, referenced, legs=()):
    """The second clause of every remote-group conjunction naming a group of ``port``: one
    flow per address and direction in which a rule names one of its groups (``referenced``:
    {(group id, direction, ethertype)} of the rules that name them), on the switches of its
    network where a port's rules name one of its groups (``wanted_here``). Fixed addresses only (as OVN's port-group address sets), not allowed address
    pairs, which two ports may share.

    ``legs`` ((address, router MAC, VNI), ...): the port's addresses as seen on the other
    networks of the routers of its network (``RoutedLeg``). There a packet from it carries
    the router's MAC as its source (to it: as its destination) and that network's VNI, so the
    address counts only with the router's MAC: routers drop what claims a source in one of
    their subnets but arrives from another of their networks (apps/l3.py ``spoof_guard``),
    so such a packet really came from the member's network, where port security checked it."""
    out = []
    for d in DIRECTIONS:
        for ip in port.ipv4 + port.ipv6:
            eth_type = ETH_IPV6 if ":" in ip else ETH_IPV4
            family = "IPv6" if eth_type == ETH_IPV6 else "IPv4"
            ids = sorted(conj_id(g, d.name, eth_type) for g in port.security_groups
                         if (g, d.name, family) in referenced)
            if not ids:
                continue
            clause = flows.apply(*(("conjunction", i, 2, 2) for i in ids))
            where = [(vni, {})] + [(leg.vni, {f"eth_{d.peer}": leg.router_mac})
                                   for leg in legs if leg.address == ip]
            for net, via in where:
                out.append(flows.flow(d.rules, PRIO_CONJ,
                                      {"metadata": (net, pl.VNI_MASK), **via,
                                       "eth_type": eth_type,
                                       _address_field(eth_type, d.peer): ip}, clause))
    return out


@dataclasses.dataclass(frozen=True, order=True)
class RoutedLeg:
    """A member address as it arrives on another network of a router of its network."""

    address: str          # the member's address, inside the router's subnet on its network
    router_mac: str       # the router's MAC on the other network
    vni: int              # the other network's VNI


def routed_legs(port, routers, vnis):
    """The RoutedLegs of ``port``'s addresses through ``routers`` (admin-up routers with
    an interface on its network; ``vnis``: network id -> VNI of the networks carried): an
    address counts where its router's subnet on the port's network holds it (IPv4 and IPv6:
    the routers' spoof guard, apps/l3.py, covers both)."""
    out = set()
    for router in routers:
        if not router.admin_up:
            continue
        own = [netaddr.IPNetwork(i.cidr) for i in router.interfaces
               if i.network_id == port.network_id]
        inside = [ip for ip in port.ipv4 + port.ipv6
                  if any(netaddr.IPAddress(ip) in c for c in own)]
        for itf in router.interfaces:
            if itf.network_id != port.network_id and itf.network_id in vnis:
                out |= {RoutedLeg(ip, itf.mac, vnis[itf.network_id]) for ip in inside}
    return tuple(sorted(out))


def filtered(port):
    """Whether security groups filter ``port``: port security on and at least one group."""
    return port.security and bool(port.security_groups)
