"""Connection tracking in the switch model: what OVS's ``ct`` action sees and remembers.

Each switch holds a ``Conntrack``: per zone, the connections committed there, keyed by their
5-tuple in the original direction (and found again by the reply direction's). The ``ct`` action
(apps/ofmodel/tracer.py) asks ``track`` for the packet's state -- ``ct_state`` bits as OVS sets
them, ``ct_zone``, and the connection's ``ct_mark``/``ct_label`` -- and ``commit`` creates the
connection or updates its mark and label.

Modelled as the userspace datapath behaves: a packet of no connection is ``+new``, or ``+inv``
when it cannot start one (a TCP segment, if its ``tcp_flags`` are given, without SYN or with
SYN+ACK); a packet of a committed connection is ``+est``, plus ``+rpl`` in the reply direction.
ICMP echo request and reply (v4 and v6) are one connection. IPv4 NAT (``nat``): a connection
committed with ``nat(src=A)`` or ``nat(dst=A)`` keeps it in ``Conn.nat`` and is found in the
reply direction by its NATed tuple, as OVS does.

Not modelled: timeouts, TCP window tracking, ``+rel`` (ICMP errors for a connection), helpers
(ALGs), and ``force``. ``flush(zone)`` empties a zone, as ``ovs-appctl dpctl/flush-conntrack
zone=N`` does.
"""
import dataclasses

# ct_state bits (ovs-fields(7))
NEW, EST, REL, RPL, INV, TRK, SNAT, DNAT = (1 << i for i in range(8))

_TCP, _UDP, _SCTP, _ICMP, _ICMPV6 = 6, 17, 132, 1, 58
_SYN, _ACK = 0x02, 0x10
# ICMP types whose reply pairs with them: (request, reply), v4 and v6
_ECHO = {(_ICMP, 8): 0, (_ICMP, 0): 0, (_ICMPV6, 128): 128, (_ICMPV6, 129): 128}


def _addresses(pkt):
    if pkt.get('eth_type') == 0x86dd:
        return pkt.get('ipv6_src', 0), pkt.get('ipv6_dst', 0)
    return pkt.get('ipv4_src', 0), pkt.get('ipv4_dst', 0)


def packet_tuple(pkt):
    """(eth_type, ip_proto, src, dst, source port, destination port) of an IP packet, or None
    for a packet conntrack cannot track (not IPv4/IPv6)."""
    eth_type = pkt.get('eth_type')
    if eth_type not in (0x0800, 0x86dd):
        return None
    proto = pkt.get('ip_proto', 0)
    src, dst = _addresses(pkt)
    if proto == _TCP:
        ports = pkt.get('tcp_src', 0), pkt.get('tcp_dst', 0)
    elif proto == _UDP:
        ports = pkt.get('udp_src', 0), pkt.get('udp_dst', 0)
    elif proto == _SCTP:
        ports = pkt.get('sctp_src', 0), pkt.get('sctp_dst', 0)
    elif proto in (_ICMP, _ICMPV6):
        kind = pkt.get('icmpv4_type' if proto == _ICMP else 'icmpv6_type', 0)
        ports = (_ECHO.get((proto, kind), kind), 0)
    else:
        ports = (0, 0)
    return (eth_type, proto, src, dst) + ports


def reverse(tup):
    eth_type, proto, src, dst, sport, dport = tup
    if proto in (_ICMP, _ICMPV6):
        return (eth_type, proto, dst, src, sport, dport)
    return (eth_type, proto, dst, src, dport, sport)


def _may_start(pkt, tup):
    """Whether a packet of no connection may start one (a TCP segment: SYN without ACK)."""
    if tup[1] != _TCP or 'tcp_flags' not in pkt:
        return True
    flags = pkt['tcp_flags']
    return bool(flags & _SYN) and not flags & _ACK


@dataclasses.dataclass
class Conn:
    """One tracked connection: its tuple in the original direction, its mark and label, and
    whatever a NAT model keeps (None here)."""

    zone: int
    orig: tuple
    mark: int = 0
    label: int = 0
    nat: object = None


class Conntrack:
    """The connection table of one switch: ``zones[zone][tuple] -> (Conn, is_reply)``, each
    connection under its original and its reply tuple."""

    def __init__(self):
        self.zones = {}

    def lookup(self, zone, pkt):
        """(Conn or None, is reply direction, the packet's tuple or None)."""
        tup = packet_tuple(pkt)
        if tup is None:
            return None, False, None
        hit = self.zones.get(zone, {}).get(tup)
        return (hit[0], hit[1], tup) if hit else (None, False, tup)

    def track(self, zone, pkt):
        """The ct fields a ``ct(zone=zone)`` lookup gives ``pkt``:
        {'ct_state', 'ct_zone', 'ct_mark', 'ct_label'}."""
        conn, is_reply, tup = self.lookup(zone, pkt)
        if tup is None:
            state = TRK | INV
        elif conn is not None:
            state = TRK | EST | (RPL if is_reply else 0)
        else:
            state = TRK | (NEW if _may_start(pkt, tup) else INV)
        return {'ct_state': state, 'ct_zone': zone,
                'ct_mark': conn.mark if conn else 0, 'ct_label': conn.label if conn else 0}

    def commit(self, zone, pkt, mark=None, label=None):
        """Create the packet's connection (unless it has one or cannot start one) and set its
        mark and label if given; returns the Conn or None."""
        conn, _, tup = self.lookup(zone, pkt)
        if tup is None:
            return None
        if conn is None:
            if not _may_start(pkt, tup):
                return None
            conn = Conn(zone, tup)
            table = self.zones.setdefault(zone, {})
            table[tup] = (conn, False)
            table[reverse(tup)] = (conn, True)
        if mark is not None:
            conn.mark = mark
        if label is not None:
            conn.label = label
        return conn

    def nat(self, zone, pkt, commit, kind=None, address=None):
        """OVS's ``ct(nat...)``: the address fields to rewrite in ``pkt``. A connection NATed
        when it was committed (``kind`` "src" or "dst" to the int ``address``) rewrites that
        address in its original direction and the other one back in its replies; the reply
        direction is then found by the NATed tuple. A packet of no connection is rewritten
        only when this commits it with a NAT ``kind``."""
        conn, is_reply, tup = self.lookup(zone, pkt)
        if tup is None or tup[0] != 0x0800:
            return {}
        if conn is None:
            if not (commit and kind and _may_start(pkt, tup)):
                return {}
            eth_type, proto, src, dst, sport, dport = tup
            natted = (eth_type, proto, *((address, dst) if kind == 'src' else (src, address)),
                      sport, dport)
            conn = Conn(zone, tup, nat=(kind, address))
            table = self.zones.setdefault(zone, {})
            table[tup] = (conn, False)
            table[reverse(natted)] = (conn, True)
        if conn.nat is None:
            return {}
        kind, address = conn.nat
        if not is_reply:
            return {'ipv4_src' if kind == 'src' else 'ipv4_dst': address}
        return {'ipv4_dst': conn.orig[2]} if kind == 'src' else {'ipv4_src': conn.orig[3]}

    def connections(self, zone=None):
        """The connections of one zone, or of all."""
        tables = [self.zones.get(zone, {})] if zone is not None else self.zones.values()
        return [c for t in tables for c, is_reply in t.values() if not is_reply]

    def flush(self, zone=None):
        """Forget the connections of ``zone`` (all zones if None)."""
        if zone is None:
            self.zones.clear()
        else:
            self.zones.pop(zone, None)
