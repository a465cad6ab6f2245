"""OXM fields of the switch model: names, widths, and the conversions between os-ken's "user"
values ('00:11:..', '10.0.0.1', int) and the integers the model stores and compares.

A packet in the model is a dict {canonical field name: int}; a field the packet does not carry
reads as 0, as in Open vSwitch. ``packet_fields`` turns a raw frame into such fields.
"""
import ipaddress
from functools import lru_cache

from os_ken.lib import type_desc
from os_ken.ofproto import ofproto_v1_3 as ofp

KIND_INT, KIND_MAC, KIND_IPV4, KIND_IPV6 = 'int', 'mac', 'ipv4', 'ipv6'


def _build_fields():
    """{name: (kind, bits)} from os-ken's OXM table, and {alias: canonical name}."""
    fields = {}
    for f in ofp.oxm_types:
        t = f.type
        if t is type_desc.MacAddr:
            kind = KIND_MAC
        elif t is type_desc.IPv4Addr:
            kind = KIND_IPV4
        elif t is type_desc.IPv6Addr:
            kind = KIND_IPV6
        elif isinstance(t, type_desc.IntDescr):
            kind = KIND_INT
        else:
            continue
        fields.setdefault(f.name, (kind, t.size * 8))
    aliases = {}
    for name in list(fields):
        if name.endswith('_nxm') and name[:-4] in fields:
            aliases[name] = name[:-4]
    aliases.update({'nd_target': 'ipv6_nd_target', 'nd_sll': 'ipv6_nd_sll',
                    'nd_tll': 'ipv6_nd_tll', 'ipv6_label': 'ipv6_flabel', 'tun_id': 'tunnel_id'})
    return fields, aliases


FIELDS, ALIASES = _build_fields()


def canon_name(name):
    """The one name the model uses for a field os-ken knows under several (tun_id, *_nxm...)."""
    return ALIASES.get(name, name)


def field_info(name):
    try:
        return FIELDS[name]
    except KeyError:
        raise KeyError('unknown OXM field %r' % (name,)) from None


@lru_cache(maxsize=1 << 16)
def field_to_int(name, value):
    """Convert a field value in os-ken's user format ('00:11:..', '10.0.0.1', int) to an int."""
    kind, bits = field_info(canon_name(name))
    if isinstance(value, bool):
        raise TypeError('%s: bad value %r' % (name, value))
    if isinstance(value, int):
        v = value
    elif isinstance(value, (bytes, bytearray)):
        v = int.from_bytes(value, 'big')
    elif kind == KIND_MAC:
        digits = value.replace(':', '').replace('-', '')
        if len(digits) != 12:
            raise ValueError('%s: bad MAC %r' % (name, value))
        v = int(digits, 16)
    elif kind == KIND_IPV4:
        v = int(ipaddress.IPv4Address(value))
    elif kind == KIND_IPV6:
        v = int(ipaddress.IPv6Address(value))
    else:
        v = int(value, 0)
    if v < 0 or v >> bits:
        raise ValueError('%s: value %r does not fit in %d bits' % (name, value, bits))
    return v


def field_to_user(name, value):
    """Convert an int back to os-ken's user format for that field."""
    kind = field_info(canon_name(name))[0]
    if kind == KIND_INT:
        return value
    if kind == KIND_MAC:
        h = '%012x' % value
        return ':'.join(h[i:i + 2] for i in range(0, 12, 2))
    if kind == KIND_IPV4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


def value_mask(name, value):
    """(int value, int mask or None) from a match value: v, (v, m) or an 'a.b.c.d/len' string."""
    kind, bits = field_info(name)
    if isinstance(value, tuple):
        v, m = value
        return field_to_int(name, v), field_to_int(name, m)
    if isinstance(value, str) and '/' in value and kind in (KIND_IPV4, KIND_IPV6):
        net = ipaddress.ip_network(value, strict=False)
        return int(net.network_address), int(net.netmask)
    return field_to_int(name, value), None


def packet_dict(in_port, fields):
    """The model's packet: {canonical name: int} from user values, plus in_port."""
    pkt = {}
    for name, value in fields.items():
        cname = canon_name(name)
        if cname not in FIELDS:
            raise ValueError('unknown field %r' % name)
        pkt[cname] = field_to_int(cname, value)
    pkt['in_port'] = in_port
    return pkt


def snapshot(pkt):
    """A packet's fields back in user format (what a trace reports)."""
    return {k: field_to_user(k, v) for k, v in pkt.items()}


def fields_agree(actual, expected):
    """True if the user-format fields `actual` carry every value of `expected` (None: absent or
    anything; a field `actual` lacks reads as 0)."""
    for name, value in expected.items():
        if name not in actual and value is None:
            continue
        if name not in actual:
            if field_to_int(name, value) != 0:
                return False
            continue
        if field_to_int(name, actual[name]) != field_to_int(name, value):
            return False
    return True


def packet_fields(data):
    """OXM fields of a raw frame (bytes), parsed with os_ken.lib.packet: Ethernet, 802.1Q,
    ARP, IPv4, IPv6, TCP, UDP, ICMP, ICMPv6 (with the ND target)."""
    from os_ken.lib.packet import (arp, ethernet, icmp, icmpv6, ipv4, ipv6, packet, tcp, udp,
                                   vlan)
    f = {}
    for proto in packet.Packet(bytes(data)).protocols:
        if isinstance(proto, ethernet.ethernet):
            f.update(eth_src=proto.src, eth_dst=proto.dst, eth_type=proto.ethertype)
        elif isinstance(proto, vlan.vlan):
            f.update(vlan_vid=ofp.OFPVID_PRESENT | proto.vid, vlan_pcp=proto.pcp,
                     eth_type=proto.ethertype)
        elif isinstance(proto, arp.arp):
            f.update(arp_op=proto.opcode, arp_sha=proto.src_mac, arp_spa=proto.src_ip,
                     arp_tha=proto.dst_mac, arp_tpa=proto.dst_ip)
        elif isinstance(proto, ipv4.ipv4):
            f.update(ipv4_src=proto.src, ipv4_dst=proto.dst, ip_proto=proto.proto,
                     ip_dscp=proto.tos >> 2)
        elif isinstance(proto, ipv6.ipv6):
            f.update(ipv6_src=proto.src, ipv6_dst=proto.dst, ip_proto=proto.nxt)
        elif isinstance(proto, tcp.tcp):
            f.update(tcp_src=proto.src_port, tcp_dst=proto.dst_port)
        elif isinstance(proto, udp.udp):
            f.update(udp_src=proto.src_port, udp_dst=proto.dst_port)
        elif isinstance(proto, icmp.icmp):
            f.update(icmpv4_type=proto.type, icmpv4_code=proto.code)
        elif isinstance(proto, icmpv6.icmpv6):
            f.update(icmpv6_type=proto.type_, icmpv6_code=proto.code)
            if isinstance(proto.data, (icmpv6.nd_neighbor,)):
                f['ipv6_nd_target'] = proto.data.dst
    return f


def bits_get(value, ofs, n):
    """Bits ofs..ofs+n-1 of value (NXM sub-field read)."""
    return (value >> ofs) & ((1 << n) - 1)


def bits_set(value, ofs, n, bits):
    """value with bits ofs..ofs+n-1 replaced (NXM sub-field write)."""
    mask = ((1 << n) - 1) << ofs
    return (value & ~mask) | ((bits << ofs) & mask)


def ofs_nbits(ofs_nbits):
    """(offset, number of bits) from Nicira's packed ofs_nbits."""
    return ofs_nbits >> 6, (ofs_nbits & 0x3f) + 1
