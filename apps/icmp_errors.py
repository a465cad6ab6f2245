"""ICMP errors a router sends: time exceeded for a packet whose TTL runs out on it, net
unreachable for a packet no route of the router matches.

``ip_routing`` sends a packet with TTL 1, or one it has no route for, to the controller
instead of routing it (apps/l3.py ``ttl_expiry``); the controller answers, as OVN's ``icmp4 {}`` action does through
ovn-controller: ICMP type 11 (or 3 code 0) from the router's address on the network the packet came from,
carrying the packet's IP header and first 8 bytes of payload (RFC 792), out of the port it
came in on. No ICMP error answers an ICMP error (RFC 1122), nor a packet from an address
that is no host's.
"""
import netaddr
from os_ken.lib.packet import ethernet, icmp, ipv4, packet

TIME_EXCEEDED = 11
UNREACHABLE, NET_UNREACHABLE = 3, 0
ETH_HEADER = 14          # routed frames carry no VLAN tag
#: ICMP types that are errors themselves: never answered with another one
ERRORS = frozenset({3, 4, 5, 11, 12})


def time_exceeded(data, router_mac, router_ip):
    """The bytes of the ICMP time exceeded that answers frame ``data``, or None."""
    return _error(data, router_mac, router_ip, TIME_EXCEEDED, 0, icmp.TimeExceeded)


def net_unreachable(data, router_mac, router_ip):
    """The bytes of the ICMP net unreachable that answers frame ``data``, or None."""
    return _error(data, router_mac, router_ip, UNREACHABLE, NET_UNREACHABLE, icmp.dest_unreach)


def answer(data, router_mac, router_ip):
    """What answers a frame ``ip_routing`` sent up: time exceeded when its TTL would run
    out, else (no route for it) net unreachable."""
    ip = packet.Packet(bytes(data)).get_protocol(ipv4.ipv4)
    if ip is not None and ip.ttl > 1:
        return net_unreachable(data, router_mac, router_ip)
    return time_exceeded(data, router_mac, router_ip)


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
