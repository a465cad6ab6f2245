"""ICMP errors a router sends: time exceeded for a packet whose TTL runs out on it, net
unreachable for a packet no route of the router matches.

``ip_routing`` sends a packet with TTL 1, or one it has no route for, to the controller
instead of routing it (apps/l3.py ``ttl_expiry``); the controller answers, as OVN's ``icmp4 {}`` action does through
ovn-controller: ICMP type 11 (or 3 code 0) from the router's address on the network the packet came from,
carrying the packet's IP header and first 8 bytes of payload (RFC 792), out of the port it
came in on. No ICMP error answers an ICMP error (RFC 1122), nor a packet from an address
that is no host's. IPv6 alike (RFC 4443): ICMPv6 time exceeded (3) and destination
unreachable, no route (1 code 0), quoting as much of the packet as fits in 1280 bytes.

The router's IPv6 addresses answer neighbour solicitations here too (``neighbor_advert``):
the switch sends them up (apps/l3.py ``neighbor_solicitations``), as OVN's ``nd_na`` goes
through ovn-controller.
"""
import netaddr
from os_ken.lib.packet import ethernet, icmp, icmpv6, in_proto, ipv4, ipv6, packet

TIME_EXCEEDED = 11
UNREACHABLE, NET_UNREACHABLE = 3, 0
TIME_EXCEEDED6, UNREACHABLE6, NO_ROUTE6 = 3, 1, 0
ETH_HEADER = 14          # routed frames carry no VLAN tag
IPV6_MIN_MTU, IPV6_HEADER, ICMP6_HEADER = 1280, 40, 8
#: ICMP types that are errors themselves: never answered with another one
ERRORS = frozenset({3, 4, 5, 11, 12})
#: ICMPv6 types below 128 are errors (RFC 4443)
ERRORS6 = range(128)
#: a neighbour advertisement's flags: router, solicited, override (RFC 4861)
NA_ROUTER_SOLICITED_OVERRIDE = 0b111


def time_exceeded(data, router_mac, router_ip):
    """The bytes of the ICMP time exceeded that answers frame ``data``, or None."""
    return _error(data, router_mac, router_ip, TIME_EXCEEDED, 0, icmp.TimeExceeded)


def net_unreachable(data, router_mac, router_ip):
    """The bytes of the ICMP net unreachable that answers frame ``data``, or None."""
    return _error(data, router_mac, router_ip, UNREACHABLE, NET_UNREACHABLE, icmp.dest_unreach)


def ip_version(data):
    """4 or 6: the IP version of frame ``data`` (None: neither)."""
    pkt = packet.Packet(bytes(data))
    return 4 if pkt.get_protocol(ipv4.ipv4) else 6 if pkt.get_protocol(ipv6.ipv6) else None


def answer(data, router_mac, router_ip):
    """What answers a frame ``ip_routing`` sent up: time exceeded when its TTL (hop limit)
    would run out, else (no route for it) net unreachable; ``router_ip`` of the frame's IP
    version."""
    pkt = packet.Packet(bytes(data))
    ip6 = pkt.get_protocol(ipv6.ipv6)
    if ip6 is not None:
        return _error6(data, pkt, ip6, router_mac, router_ip,
                       UNREACHABLE6 if ip6.hop_limit > 1 else TIME_EXCEEDED6)
    ip = pkt.get_protocol(ipv4.ipv4)
    if ip is not None and ip.ttl > 1:
        return net_unreachable(data, router_mac, router_ip)
    return time_exceeded(data, router_mac, router_ip)


def _error6(data, pkt, ip6, router_mac, router_ip, type_):
    sender = netaddr.IPAddress(ip6.src)
    inner = pkt.get_protocol(icmpv6.icmpv6)
    if sender.is_multicast() or sender == netaddr.IPAddress("::") or \
            (inner is not None and inner.type_ in ERRORS6):
        return None
    eth = pkt.get_protocol(ethernet.ethernet)
    room = IPV6_MIN_MTU - IPV6_HEADER - ICMP6_HEADER
    reply = packet.Packet()
    reply.add_protocol(ethernet.ethernet(eth.src, router_mac, ethernet.ether.ETH_TYPE_IPV6))
    reply.add_protocol(ipv6.ipv6(src=router_ip, dst=ip6.src, nxt=in_proto.IPPROTO_ICMPV6,
                                 hop_limit=255))
    reply.add_protocol(icmpv6.icmpv6(type_=type_, code=0,
                                     data=bytes(4) + bytes(data)[ETH_HEADER:ETH_HEADER + room]))
    reply.serialize()
    return bytes(reply.data)


def solicited_target(data):
    """The target address of neighbour solicitation ``data`` from a host (not DAD), or None."""
    pkt = packet.Packet(bytes(data))
    ip6, ns = pkt.get_protocol(ipv6.ipv6), pkt.get_protocol(icmpv6.icmpv6)
    if ip6 is None or ns is None or ns.type_ != icmpv6.ND_NEIGHBOR_SOLICIT or \
            netaddr.IPAddress(ip6.src) == netaddr.IPAddress("::"):
        return None
    return ns.data.dst


def neighbor_advert(data, router_mac):
    """The bytes of the neighbour advertisement that answers solicitation ``data`` for a
    router address with ``router_mac`` (router, solicited, override; the target's
    link-layer address), to the asker; None if ``data`` is no host's solicitation."""
    target = solicited_target(data)
    if target is None:
        return None
    pkt = packet.Packet(bytes(data))
    eth, ip6 = pkt.get_protocol(ethernet.ethernet), pkt.get_protocol(ipv6.ipv6)
    reply = packet.Packet()
    reply.add_protocol(ethernet.ethernet(eth.src, router_mac, ethernet.ether.ETH_TYPE_IPV6))
    reply.add_protocol(ipv6.ipv6(src=target, dst=ip6.src, nxt=in_proto.IPPROTO_ICMPV6,
                                 hop_limit=255))
    reply.add_protocol(icmpv6.icmpv6(
        type_=icmpv6.ND_NEIGHBOR_ADVERT,
        data=icmpv6.nd_neighbor(res=NA_ROUTER_SOLICITED_OVERRIDE, dst=target,
                                option=icmpv6.nd_option_tla(hw_src=router_mac))))
    reply.serialize()
    return bytes(reply.data)


def _error(data, router_mac, router_ip, type_, code, body):
    pkt = packet.Packet(bytes(data))
    eth, ip = pkt.get_protocol(ethernet.ethernet), pkt.get_protocol(ipv4.ipv4)
    if eth is None or ip is None:
        return None
    sender = netaddr.IPAddress(ip.src)
    if sender.is_multicast() or ip.src in ("0.0.0.0", "255.255.255.255"):
        return None
    inner = pkt.get_protocol(icmp.icmp)
    if inner is not None and inner.type in ERRORS:
        return None
    quoted = bytes(data)[ETH_HEADER:ETH_HEADER + ip.header_length * 4 + 8]
    reply = packet.Packet()
    reply.add_protocol(ethernet.ethernet(eth.src, router_mac, ethernet.ether.ETH_TYPE_IP))
    reply.add_protocol(ipv4.ipv4(src=router_ip, dst=ip.src, proto=1, ttl=255))
    reply.add_protocol(icmp.icmp(type_=type_, code=code, data=body(data=quoted)))
    reply.serialize()
    return bytes(reply.data)
