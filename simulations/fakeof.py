"""An in-process model of an OpenFlow 1.3 switch (docs/architecture.md, test tier 1).

Feed it the os-ken OF1.3 message *objects* the controller builds (``OFPFlowMod``,
``OFPGroupMod``, ``OFPMeterMod``, ``OFPBarrierRequest``, stats requests...) and then ask what the
switch would do with a packet::

    sw = FakeSwitch(dpid=1, ports=[1, 2, 3])
    sw.apply_all(msgs)                     # or FakeDatapath(sw).send_msg(msg)
    res = sw.trace(in_port=1, eth_src='..', eth_dst='..', eth_type=0x0800, ...)
    assert res.output_ports() == [2]
    assert res.is_output(9, tunnel_id=1001)

Modelled (cheaply, in the way Open vSwitch behaves where the specification leaves room):

* flow tables 0..254: ADD (same match and priority replaces, optional CHECK_OVERLAP), MODIFY,
  MODIFY_STRICT, DELETE, DELETE_STRICT with cookie/cookie_mask, out_port/out_group (os-ken's
  OFPFlowMod defaults both to 0, which, as on OVS, makes a DELETE match nothing: pass OFPP_ANY /
  OFPG_ANY), table_id=OFPTT_ALL for deletes;
* checks a switch makes when it accepts a flow: match prerequisites (ipv4_dst needs eth_type=0x0800,
  tcp_dst needs ip_proto=6...), set_field and NXM move prerequisites against the flow's match,
  goto_table only forward, groups and meters a flow refers to must exist, duplicate instructions;
  a failed check leaves the tables untouched and records an error (``switch.errors``; an
  ``OFPErrorMsg`` reply; or an exception with ``raise_errors=True``);
* groups ALL, INDIRECT, SELECT (first bucket of non-zero weight), FAST_FAILOVER (first bucket whose
  watch port is up); deleting a group or meter removes the flows that use it;
* meters: configuration only (a trace records which meters the packet passed);
* the pipeline: instructions in specification order, apply-actions, action set (write/clear,
  executed at the end in specification order), write_metadata, goto_table, set_field, push/pop VLAN,
  output (IN_PORT, CONTROLLER -> packet-in, FLOOD/ALL, LOCAL, NORMAL), group, and the Nicira
  actions reg_move, reg_load, reg_load2, resubmit, resubmit_table, output_reg.  Output to the
  packet's own in_port is suppressed (as OVS does) unless OFPP_IN_PORT is used.  A table miss drops.

Not modelled: counters, timeouts, rate limiting, packet parsing (a packet is a dict of OXM fields;
a field the packet does not carry reads as 0, like OVS), conntrack, learn.
"""
import bisect
import collections
import ipaddress
import itertools
from functools import lru_cache

from os_ken.lib import type_desc
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_4
from os_ken.ofproto import ofproto_v1_3_parser as parser

__all__ = [
    'FakeSwitch', 'FakeDatapath', 'FakeNetwork', 'FlowEntry', 'GroupEntry', 'MeterEntry',
    'TraceResult', 'Output', 'PacketIn', 'SwitchError', 'OFError', 'flow_table_dump',
    'packet_fields',
    'group_dump', 'meter_dump', 'switch_dump', 'format_flows', 'field_to_int', 'field_to_user',
]

MAX_TABLE = 254
MAX_DEPTH = 64

# --------------------------------------------------------------------------------------------
# Fields: names, widths, conversions between os-ken "user" values and integers
# --------------------------------------------------------------------------------------------

_KIND_INT, _KIND_MAC, _KIND_IPV4, _KIND_IPV6 = 'int', 'mac', 'ipv4', 'ipv6'


def _build_fields():
    fields = {}
    for f in ofp.oxm_types:
        t = f.type
        if t is type_desc.MacAddr:
            kind = _KIND_MAC
        elif t is type_desc.IPv4Addr:
            kind = _KIND_IPV4
        elif t is type_desc.IPv6Addr:
            kind = _KIND_IPV6
        elif isinstance(t, type_desc.IntDescr):
            kind = _KIND_INT
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


def _canon_name(name):
    return ALIASES.get(name, name)


def _field_info(name):
    try:
        return FIELDS[name]
    except KeyError:
        raise KeyError('unknown OXM field %r' % (name,)) from None


@lru_cache(maxsize=1 << 16)
def field_to_int(name, value):
    """Convert a field value in os-ken's user format ('00:11:..', '10.0.0.1', int) to an int."""
    kind, bits = _field_info(_canon_name(name))
    if isinstance(value, bool):
        raise TypeError('%s: bad value %r' % (name, value))
    if isinstance(value, int):
        v = value
    elif isinstance(value, (bytes, bytearray)):
        v = int.from_bytes(value, 'big')
    elif kind == _KIND_MAC:
        digits = value.replace(':', '').replace('-', '')
        if len(digits) != 12:
            raise ValueError('%s: bad MAC %r' % (name, value))
        v = int(digits, 16)
    elif kind == _KIND_IPV4:
        v = int(ipaddress.IPv4Address(value))
    elif kind == _KIND_IPV6:
        v = int(ipaddress.IPv6Address(value))
    else:
        v = int(value, 0)
    if v < 0 or v >> bits:
        raise ValueError('%s: value %r does not fit in %d bits' % (name, value, bits))
    return v


def field_to_user(name, value):
    """Convert an int back to os-ken's user format for that field."""
    kind = _field_info(_canon_name(name))[0]
    if kind == _KIND_INT:
        return value
    if kind == _KIND_MAC:
        h = '%012x' % value
        return ':'.join(h[i:i + 2] for i in range(0, 12, 2))
    if kind == _KIND_IPV4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


def _value_mask(name, value):
    """(int value, int mask or None) from a match value: v, (v, m) or an 'a.b.c.d/len' string."""
    kind, bits = _field_info(name)
    if isinstance(value, tuple):
        v, m = value
        return field_to_int(name, v), field_to_int(name, m)
    if isinstance(value, str) and '/' in value and kind in (_KIND_IPV4, _KIND_IPV6):
        net = ipaddress.ip_network(value, strict=False)
        return int(net.network_address), int(net.netmask)
    return field_to_int(name, value), None


# Match prerequisites: field -> ((required field, allowed values), ...). Every clause must hold,
# with the required field matched exactly in the flow's match.
_IP = frozenset((0x0800, 0x86dd))
_PREREQS = {
    'ip_dscp': (('eth_type', _IP),), 'ip_ecn': (('eth_type', _IP),),
    'ip_proto': (('eth_type', _IP),),
    'ipv4_src': (('eth_type', {0x0800}),), 'ipv4_dst': (('eth_type', {0x0800}),),
    'ipv6_src': (('eth_type', {0x86dd}),), 'ipv6_dst': (('eth_type', {0x86dd}),),
    'ipv6_flabel': (('eth_type', {0x86dd}),), 'ipv6_exthdr': (('eth_type', {0x86dd}),),
    'tcp_src': (('ip_proto', {6}),), 'tcp_dst': (('ip_proto', {6}),),
    'tcp_flags': (('ip_proto', {6}),),
    'udp_src': (('ip_proto', {17}),), 'udp_dst': (('ip_proto', {17}),),
    'sctp_src': (('ip_proto', {132}),), 'sctp_dst': (('ip_proto', {132}),),
    'icmpv4_type': (('eth_type', {0x0800}), ('ip_proto', {1})),
    'icmpv4_code': (('eth_type', {0x0800}), ('ip_proto', {1})),
    'icmpv6_type': (('eth_type', {0x86dd}), ('ip_proto', {58})),
    'icmpv6_code': (('eth_type', {0x86dd}), ('ip_proto', {58})),
    'ipv6_nd_target': (('icmpv6_type', {135, 136}),),
    'ipv6_nd_sll': (('icmpv6_type', {135}),), 'ipv6_nd_tll': (('icmpv6_type', {136}),),
    'arp_op': (('eth_type', {0x0806, 0x8035}),), 'arp_spa': (('eth_type', {0x0806, 0x8035}),),
    'arp_tpa': (('eth_type', {0x0806, 0x8035}),), 'arp_sha': (('eth_type', {0x0806, 0x8035}),),
    'arp_tha': (('eth_type', {0x0806, 0x8035}),),
    'mpls_label': (('eth_type', {0x8847, 0x8848}),), 'mpls_tc': (('eth_type', {0x8847, 0x8848}),),
    'mpls_bos': (('eth_type', {0x8847, 0x8848}),), 'pbb_isid': (('eth_type', {0x88e7}),),
    'vlan_pcp': (('vlan_vid', 'present'),),
}


def _prereq_missing(name, match_dict):
    """Return a text describing the missing prerequisite of `name`, or None."""
    for req, allowed in _PREREQS.get(name, ()):
        vm = match_dict.get(req)
        if allowed == 'present':
            if vm is None or not (vm[0] & ofp.OFPVID_PRESENT) or (
                    vm[1] is not None and not vm[1] & ofp.OFPVID_PRESENT):
                return '%s needs a VLAN (vlan_vid with OFPVID_PRESENT)' % name
            continue
        if vm is None or vm[1] is not None or vm[0] not in allowed:
            return '%s needs %s in %s' % (name, req, sorted(allowed))
    return None


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

SwitchError = collections.namedtuple('SwitchError', 'type code type_name code_name msg text')


class OFError(Exception):
    """Raised by FakeSwitch.apply when raise_errors=True; .error is the SwitchError."""

    def __init__(self, error):
        super().__init__('%s/%s: %s' % (error.type_name, error.code_name, error.text))
        self.error = error


def _err_const(name):
    # OFPBIC_DUP_INST only got a number in OF1.4 (OVS sends it on OF1.3 connections too)
    return getattr(ofp, name) if hasattr(ofp, name) else getattr(ofproto_v1_4, name)


class _Reject(Exception):
    def __init__(self, type_name, code_name, text):
        super().__init__(text)
        self.type_name, self.code_name, self.text = type_name, code_name, text


# --------------------------------------------------------------------------------------------
# Table state
# --------------------------------------------------------------------------------------------

def _compile_match(match):
    """Canonical match: sorted tuple of (field, value, mask-or-None), masked values normalised."""
    if match is None:
        items = ()
    elif isinstance(match, parser.OFPMatch):
        if match._composed_with_old_api():
            buf = bytearray()
            match.serialize(buf, 0)
            match = parser.OFPMatch.parser(bytes(buf), 0)
        items = match.items()
    elif isinstance(match, dict):
        items = match.items()
    else:
        items = match
    out = {}
    for name, value in items:
        name = _canon_name(name)
        if name not in FIELDS:
            raise _Reject('OFPET_BAD_MATCH', 'OFPBMC_BAD_FIELD', 'unknown field %s' % name)
        if name in out:
            raise _Reject('OFPET_BAD_MATCH', 'OFPBMC_DUP_FIELD', 'duplicate field %s' % name)
        try:
            v, m = _value_mask(name, value)
        except (ValueError, TypeError) as e:
            raise _Reject('OFPET_BAD_MATCH', 'OFPBMC_BAD_VALUE', str(e)) from None
        if m is not None:
            full = (1 << FIELDS[name][1]) - 1
            if m == full:
                m = None
            elif m == 0:
                continue
            else:
                v &= m
        out[name] = (v, m)
    return tuple(_intern((k, v, m)) for k, (v, m) in sorted(out.items()))


_INTERNED = {}


def _intern(triple):
    # (field, value, mask) triples repeat across flows and switches (metadata, in_port, MACs
    # present on every switch of a network): share them to keep large simulations small.
    t = _INTERNED.get(triple)
    if t is None:
        if len(_INTERNED) >= 1 << 20:
            _INTERNED.clear()
        t = _INTERNED[triple] = triple
    return t


def _match_dict(cmatch):
    return {k: (v, m) for k, v, m in cmatch}


def _covers(general, specific):
    """True if every packet matching `specific` matches `general` (non-strict flow-mod match)."""
    if not general:
        return True
    spec = _match_dict(specific)
    for name, v, m in general:
        sv = spec.get(name)
        if sv is None:
            return False
        s_val, s_mask = sv
        if m is None:
            if s_mask is not None or s_val != v:
                return False
        else:
            if s_mask is not None and (s_mask & m) != m:
                return False
            if (s_val & m) != v:
                return False
    return True


def _overlaps(a, b):
    """True if some packet could match both canonical matches."""
    bd = _match_dict(b)
    for name, v, m in a:
        o = bd.get(name)
        if o is None:
            continue
        ov, om = o
        mask = (m if m is not None else -1) & (om if om is not None else -1)
        if (v ^ ov) & mask:
            return False
    return True


_INST_ORDER = {ofp.OFPIT_METER: 0, ofp.OFPIT_APPLY_ACTIONS: 1, ofp.OFPIT_CLEAR_ACTIONS: 2,
               ofp.OFPIT_WRITE_ACTIONS: 3, ofp.OFPIT_WRITE_METADATA: 4, ofp.OFPIT_GOTO_TABLE: 5}


def _actions_of(instructions):
    for inst in instructions:
        if isinstance(inst, parser.OFPInstructionActions):
            yield from inst.actions


class FlowEntry:
    """One flow entry. ``match`` is the canonical tuple ((field, int value, int mask|None), ...);
    ``instructions`` the os-ken instruction objects (in specification order)."""
    __slots__ = ('table_id', 'priority', 'match', 'cookie', 'instructions', 'idle_timeout',
                 'hard_timeout', 'flags', 'seq')

    def __init__(self, table_id, priority, match, cookie, instructions, idle_timeout=0,
                 hard_timeout=0, flags=0, seq=0):
        self.table_id = table_id
        self.priority = priority
        self.match = match
        self.cookie = cookie
        self.instructions = instructions
        self.idle_timeout = idle_timeout
        self.hard_timeout = hard_timeout
        self.flags = flags
        self.seq = seq

    def sort_key(self):
        return (-self.priority, self.seq)

    def matches(self, pkt):
        for name, v, m in self.match:
            pv = pkt.get(name, 0)
            if m is None:
                if pv != v:
                    return False
            elif pv & m != v:
                return False
        return True

    def is_table_miss(self):
        return self.priority == 0 and not self.match

    def user_match(self):
        """The match as os-ken OFPMatch keyword arguments."""
        return {k: field_to_user(k, v) if m is None else
                (field_to_user(k, v), field_to_user(k, m)) for k, v, m in self.match}

    def ofp_match(self):
        return parser.OFPMatch(**self.user_match())

    def outputs_to(self, port):
        for a in _actions_of(self.instructions):
            if isinstance(a, parser.OFPActionOutput) and a.port == port:
                return True
        return False

    def uses_group(self, group_id):
        for a in _actions_of(self.instructions):
            if isinstance(a, parser.OFPActionGroup) and a.group_id == group_id:
                return True
        return False

    def uses_meter(self, meter_id):
        for inst in self.instructions:
            if isinstance(inst, parser.OFPInstructionMeter) and inst.meter_id == meter_id:
                return True
        return False

    def __repr__(self):
        return 'FlowEntry(%s)' % _format_entry(self)


class _Table:
    __slots__ = ('entries', 'index')

    def __init__(self):
        self.entries = []   # sorted by (-priority, seq)
        self.index = {}     # (priority, match) -> entry


class GroupEntry:
    __slots__ = ('group_id', 'type', 'buckets')

    def __init__(self, group_id, type_, buckets):
        self.group_id, self.type, self.buckets = group_id, type_, buckets

    def __repr__(self):
        return 'GroupEntry(id=%d, type=%d, buckets=%r)' % (self.group_id, self.type, self.buckets)


class MeterEntry:
    __slots__ = ('meter_id', 'flags', 'bands')

    def __init__(self, meter_id, flags, bands):
        self.meter_id, self.flags, self.bands = meter_id, flags, bands

    def __repr__(self):
        return 'MeterEntry(id=%d, flags=%d, bands=%r)' % (self.meter_id, self.flags, self.bands)


# --------------------------------------------------------------------------------------------
# Trace results
# --------------------------------------------------------------------------------------------

Output = collections.namedtuple('Output', 'port fields')


class PacketIn(collections.namedtuple('PacketIn', 'reason fields')):
    """(reason, fields); also .table_id and .cookie of the flow that sent it."""

    def __new__(cls, reason, fields, table_id=None, cookie=None):
        self = super().__new__(cls, reason, fields)
        self.table_id = table_id
        self.cookie = cookie
        return self


class TraceResult:
    """What happened to one packet. ``outputs``: [Output(port, fields)], ``packet_ins``:
    [PacketIn(reason, fields)], ``path``: [(table_id, FlowEntry or None for a miss)],
    ``meters``: meter ids passed, ``suppressed``: ports not output to because they were the
    in_port, ``notes``: things the model skipped (unsupported actions, depth limit)."""
    __slots__ = ('in_fields', 'outputs', 'packet_ins', 'path', 'meters', 'suppressed', 'notes',
                 'action_set')

    def __init__(self, in_fields):
        self.in_fields = in_fields
        self.action_set = {}        # internal: the packet's action set while it is processed
        self.outputs = []
        self.packet_ins = []
        self.path = []
        self.meters = []
        self.suppressed = []
        self.notes = []

    @property
    def dropped(self):
        return not self.outputs and not self.packet_ins

    def output_ports(self):
        return [o.port for o in self.outputs]

    def outputs_to(self, port):
        """Fields of every copy output to `port`."""
        return [o.fields for o in self.outputs if o.port == port]

    def is_output(self, port=None, **fields):
        """True if a copy went to `port` (any port if None) carrying these field values."""
        for o in self.outputs:
            if port is not None and o.port != port:
                continue
            if _fields_agree(o.fields, fields):
                return True
        return False

    def sent_to_controller(self, **fields):
        return any(_fields_agree(p.fields, fields) for p in self.packet_ins)

    def tables(self):
        return [t for t, _ in self.path]

    def cookies(self):
        return [e.cookie for _, e in self.path if e is not None]

    def __repr__(self):
        return '<TraceResult outputs=%r packet_ins=%r tables=%r meters=%r dropped=%s>' % (
            [(o.port, o.fields) for o in self.outputs], list(self.packet_ins), self.tables(),
            self.meters, self.dropped)

    def describe(self):
        lines = ['packet %r' % (self.in_fields,)]
        for t, e in self.path:
            lines.append('  table %d: %s' % (t, 'MISS' if e is None else _format_entry(e)))
        for o in self.outputs:
            lines.append('  -> port %s %r' % (o.port, o.fields))
        for p in self.packet_ins:
            lines.append('  -> controller reason=%s %r' % (p.reason, p.fields))
        for n in self.notes:
            lines.append('  note: %s' % n)
        if self.dropped:
            lines.append('  DROPPED')
        return '\n'.join(lines)


def _fields_agree(actual, expected):
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


def _packet_dict(in_port, fields):
    pkt = {}
    for name, value in fields.items():
        cname = _canon_name(name)
        if cname not in FIELDS:
            raise ValueError('unknown field %r' % name)
        pkt[cname] = field_to_int(cname, value)
    pkt['in_port'] = in_port
    return pkt


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


def _snapshot(pkt):
    return {k: field_to_user(k, v) for k, v in pkt.items()}


# action-set execution order (OF1.3 5.10); value = rank
_SET_RANK = {
    parser.OFPActionCopyTtlIn: 0, parser.OFPActionPopMpls: 1, parser.OFPActionPopVlan: 1,
    parser.OFPActionPopPbb: 1, parser.OFPActionPushMpls: 2, parser.OFPActionPushPbb: 3,
    parser.OFPActionPushVlan: 4, parser.OFPActionCopyTtlOut: 5, parser.OFPActionDecMplsTtl: 6,
    parser.OFPActionDecNwTtl: 6, parser.OFPActionSetMplsTtl: 7, parser.OFPActionSetNwTtl: 7,
    parser.OFPActionSetField: 7, parser.OFPActionSetQueue: 8, parser.OFPActionGroup: 9,
    parser.OFPActionOutput: 10,
}

_RESERVED_OUT = frozenset((ofp.OFPP_IN_PORT, ofp.OFPP_TABLE, ofp.OFPP_NORMAL, ofp.OFPP_FLOOD,
                           ofp.OFPP_ALL, ofp.OFPP_CONTROLLER, ofp.OFPP_LOCAL))


def _bits_get(value, ofs, n):
    return (value >> ofs) & ((1 << n) - 1)


def _bits_set(value, ofs, n, bits):
    mask = ((1 << n) - 1) << ofs
    return (value & ~mask) | ((bits << ofs) & mask)


def _ofs_nbits(ofs_nbits):
    return ofs_nbits >> 6, (ofs_nbits & 0x3f) + 1


# --------------------------------------------------------------------------------------------
# The switch
# --------------------------------------------------------------------------------------------

def _make_port(port_no, name=None, hw_addr=None):
    if hw_addr is None:
        hw_addr = field_to_user('eth_src', (0x0a << 40) | (port_no & 0xffffffffff))
    return parser.OFPPort(port_no=port_no, hw_addr=hw_addr, name=(name or 'p%d' % port_no).encode(),
                          config=0, state=ofp.OFPPS_LIVE, curr=0, advertised=0, supported=0,
                          peer=0, curr_speed=0, max_speed=0)


class FakeSwitch:
    """State of one OF1.3 switch. ``apply(msg)`` takes an os-ken message object and returns the
    replies the switch would send (possibly empty); ``trace(in_port, **fields)`` runs a packet."""
    __slots__ = ('dpid', 'ports', 'tables', 'groups', 'meters', 'errors', 'barriers',
                 'packet_outs', 'unknown', 'raise_errors', 'validate', 'msg_count', '_seq',
                 '__weakref__')

    def __init__(self, dpid, ports=(), raise_errors=False, validate=True):
        self.dpid = dpid
        self.ports = {}
        for p in ports:
            if isinstance(p, parser.OFPPort):
                self.ports[p.port_no] = p
            else:
                self.ports[p] = _make_port(p)
        self.tables = {}
        self.groups = {}
        self.meters = {}
        self.errors = []
        self.barriers = 0
        self.packet_outs = []
        self.unknown = []
        self.raise_errors = raise_errors
        self.validate = validate
        self.msg_count = 0
        self._seq = itertools.count()

    def __repr__(self):
        return '<FakeSwitch dpid=%s flows=%d groups=%d meters=%d>' % (
            self.dpid, self.flow_count(), len(self.groups), len(self.meters))

    # ---- ports -------------------------------------------------------------------------------
    def add_port(self, port_no, name=None, hw_addr=None):
        self.ports[port_no] = _make_port(port_no, name, hw_addr)
        return self.ports[port_no]

    def remove_port(self, port_no):
        return self.ports.pop(port_no, None)

    # ---- messages ----------------------------------------------------------------------------
    def apply(self, msg):
        """Apply one os-ken message; return the list of reply messages (errors included)."""
        self.msg_count += 1
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            self.unknown.append(msg)
            return []
        try:
            return handler(self, msg) or []
        except _Reject as rej:
            return [self._error(msg, rej)]

    def apply_all(self, msgs):
        replies = []
        for m in msgs:
            replies.extend(self.apply(m))
        return replies

    def _error(self, msg, rej):
        err = SwitchError(_err_const(rej.type_name), _err_const(rej.code_name),
                          rej.type_name, rej.code_name, msg, rej.text)
        self.errors.append(err)
        if self.raise_errors:
            raise OFError(err)
        reply = parser.OFPErrorMsg(None, type_=err.type, code=err.code, data=b'')
        reply.xid = getattr(msg, 'xid', None)
        reply.text = rej.text
        return reply

    # ---- flow-mod ----------------------------------------------------------------------------
    def _flow_mod(self, fm):
        cmd = fm.command
        table_id = fm.table_id
        if cmd in (ofp.OFPFC_DELETE, ofp.OFPFC_DELETE_STRICT):
            if table_id != ofp.OFPTT_ALL and table_id > MAX_TABLE:
                raise _Reject('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_BAD_TABLE_ID',
                              'bad table %r' % table_id)
            match = self._flow_match(fm.match)
            self._delete(table_id, match, fm.priority if cmd == ofp.OFPFC_DELETE_STRICT else None,
                         fm.cookie, fm.cookie_mask, fm.out_port, fm.out_group)
            return
        if table_id is None or table_id > MAX_TABLE:
            raise _Reject('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_BAD_TABLE_ID',
                          'bad table %r for command %d' % (table_id, cmd))
        match, instructions = self._checked(fm, table_id)
        if cmd == ofp.OFPFC_ADD:
            self._add(table_id, fm, match, instructions)
        elif cmd in (ofp.OFPFC_MODIFY, ofp.OFPFC_MODIFY_STRICT):
            table = self.tables.get(table_id)
            if table is None:
                return
            if cmd == ofp.OFPFC_MODIFY_STRICT:
                e = table.index.get((fm.priority, match))
                targets = [e] if e is not None else []
            else:
                targets = [e for e in table.entries if _covers(match, e.match)]
            for e in targets:
                if (e.cookie ^ fm.cookie) & fm.cookie_mask:
                    continue
                e.instructions = instructions
        else:
            raise _Reject('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_BAD_COMMAND', 'command %r' % cmd)

    def _checked(self, fm, table_id):
        """(canonical match, instructions) of a flow-mod, validated.

        What does not depend on this switch is checked once per message object and kept on
        it: a controller that sends the same message to many switches (a large simulation)
        pays the checks once. Groups and meters the flow uses must exist here, every time.
        """
        memo = getattr(fm, '_fakeof_checked', None)
        if memo is not None and memo[0] is fm.match and memo[1] is fm.instructions and \
                memo[2] == (table_id, self.validate):
            match, instructions, groups, meters = memo[3]
            if self.validate:
                for gid in groups:
                    if gid not in self.groups:
                        raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_OUT_GROUP',
                                      'group %d does not exist' % gid)
                for mid in meters:
                    if mid not in self.meters:
                        raise _Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_INVALID_METER',
                                      'meter %d does not exist' % mid)
            return match, instructions
        match = self._flow_match(fm.match)
        instructions = self._check_instructions(table_id, match, fm.instructions)
        groups = tuple(a.group_id for a in _actions_of(instructions)
                       if isinstance(a, parser.OFPActionGroup))
        meters = tuple(i.meter_id for i in instructions
                       if isinstance(i, parser.OFPInstructionMeter))
        fm._fakeof_checked = (fm.match, fm.instructions, (table_id, self.validate),
                              (match, instructions, groups, meters))
        return match, instructions

    def _flow_match(self, match):
        cmatch = _compile_match(match)
        if self.validate:
            mdict = _match_dict(cmatch)
            for name, _, _ in cmatch:
                missing = _prereq_missing(name, mdict)
                if missing:
                    raise _Reject('OFPET_BAD_MATCH', 'OFPBMC_BAD_PREREQ', missing)
        return cmatch

    def _add(self, table_id, fm, match, instructions):
        table = self.tables.get(table_id)
        if table is None:
            table = self.tables[table_id] = _Table()
        key = (fm.priority, match)
        old = table.index.get(key)
        if old is None and fm.flags & ofp.OFPFF_CHECK_OVERLAP:
            for e in table.entries:
                if e.priority == fm.priority and _overlaps(match, e.match):
                    raise _Reject('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_OVERLAP',
                                  'overlaps %s' % _format_entry(e))
        flags = fm.flags & (ofp.OFPFF_SEND_FLOW_REM | ofp.OFPFF_NO_PKT_COUNTS |
                            ofp.OFPFF_NO_BYT_COUNTS)
        if old is not None:
            old.cookie = fm.cookie
            old.instructions = instructions
            old.idle_timeout = fm.idle_timeout
            old.hard_timeout = fm.hard_timeout
            old.flags = flags
            return
        e = FlowEntry(table_id, fm.priority, match, fm.cookie, instructions, fm.idle_timeout,
                      fm.hard_timeout, flags, next(self._seq))
        table.index[key] = e
        bisect.insort(table.entries, e, key=FlowEntry.sort_key)

    def _select(self, table_id, match, priority, cookie, cookie_mask, out_port, out_group):
        if table_id == ofp.OFPTT_ALL:
            tables = sorted(self.tables.items())
        else:
            t = self.tables.get(table_id)
            tables = [(table_id, t)] if t is not None else []
        for tid, table in tables:
            if priority is not None:
                e = table.index.get((priority, match))
                cands = [e] if e is not None else []
            else:
                cands = [e for e in table.entries if _covers(match, e.match)]
            for e in cands:
                if cookie_mask and (e.cookie ^ cookie) & cookie_mask:
                    continue
                if out_port is not None and out_port != ofp.OFPP_ANY and not e.outputs_to(out_port):
                    continue
                if (out_group is not None and out_group != ofp.OFPG_ANY
                        and not e.uses_group(out_group)):
                    continue
                yield e

    def _delete(self, table_id, match, priority, cookie, cookie_mask, out_port, out_group):
        doomed = list(self._select(table_id, match, priority, cookie, cookie_mask, out_port,
                                   out_group))
        self._remove_entries(doomed)
        return doomed

    def _remove_entries(self, doomed):
        by_table = collections.defaultdict(set)
        for e in doomed:
            by_table[e.table_id].add(id(e))
        for tid, ids in by_table.items():
            table = self.tables[tid]
            table.entries = [e for e in table.entries if id(e) not in ids]
            for e in doomed:
                if e.table_id == tid:
                    table.index.pop((e.priority, e.match), None)
            if not table.entries:
                del self.tables[tid]

    # ---- validation --------------------------------------------------------------------------
    def _check_instructions(self, table_id, match, instructions):
        seen = set()
        for inst in instructions:
            t = getattr(inst, 'type', None)
            if t not in _INST_ORDER:
                raise _Reject('OFPET_BAD_INSTRUCTION', 'OFPBIC_UNKNOWN_INST', repr(inst))
            if t in seen:
                raise _Reject('OFPET_BAD_INSTRUCTION', 'OFPBIC_DUP_INST', repr(inst))
            seen.add(t)
            if not self.validate:
                continue
            if t == ofp.OFPIT_GOTO_TABLE:
                if not table_id < inst.table_id <= MAX_TABLE:
                    raise _Reject('OFPET_BAD_INSTRUCTION', 'OFPBIC_BAD_TABLE_ID',
                                  'goto_table:%d from table %d' % (inst.table_id, table_id))
            elif t == ofp.OFPIT_METER:
                if inst.meter_id not in self.meters:
                    raise _Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_INVALID_METER',
                                  'meter %d does not exist' % inst.meter_id)
            elif t in (ofp.OFPIT_APPLY_ACTIONS, ofp.OFPIT_WRITE_ACTIONS):
                self._check_actions(inst.actions, _match_dict(match))
        ranks = [_INST_ORDER[i.type] for i in instructions]
        if ranks == sorted(ranks):
            return tuple(instructions)
        return tuple(sorted(instructions, key=lambda i: _INST_ORDER[i.type]))

    def _check_actions(self, actions, mdict):
        for a in actions:
            if isinstance(a, parser.OFPActionOutput):
                p = a.port
                if p == 0 or (p > ofp.OFPP_MAX and p not in _RESERVED_OUT):
                    raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_OUT_PORT', 'output:%d' % p)
            elif isinstance(a, parser.OFPActionGroup):
                if a.group_id not in self.groups:
                    raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_OUT_GROUP',
                                  'group %d does not exist' % a.group_id)
            elif isinstance(a, parser.OFPActionSetField):
                if a._composed_with_old_api():
                    raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_TYPE',
                                  'old-API set_field is not modelled')
                name = _canon_name(a.key)
                if name not in FIELDS:
                    raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_TYPE', a.key)
                try:
                    field_to_int(name, a.value)
                except (ValueError, TypeError) as e:
                    raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_ARGUMENT', str(e)) from None
                self._check_prereq(name, mdict)
            elif isinstance(a, parser.NXActionRegMove):
                for name, ofs in ((a.src_field, a.src_ofs), (a.dst_field, a.dst_ofs)):
                    self._check_bits(name, ofs, a.n_bits, mdict)
            elif isinstance(a, parser.NXActionRegLoad):
                ofs, n = _ofs_nbits(a.ofs_nbits)
                self._check_bits(a.dst, ofs, n, mdict)
                if a.value >> n:
                    raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_ARGUMENT',
                                  'load %#x does not fit %d bits' % (a.value, n))
            elif isinstance(a, parser.NXActionOutputReg):
                ofs, n = _ofs_nbits(a.ofs_nbits)
                self._check_bits(a.src, ofs, n, mdict)
            elif isinstance(a, parser.NXActionResubmitTable):
                if a.table_id != 0xff and a.table_id > MAX_TABLE:
                    raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT',
                                  'resubmit to table %d' % a.table_id)

    def _check_bits(self, name, ofs, n, mdict):
        cname = _canon_name(name)
        if cname not in FIELDS:
            raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_TYPE', 'unknown field %s' % name)
        width = FIELDS[cname][1]
        if n <= 0 or ofs < 0 or ofs + n > width:
            raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_ARGUMENT',
                          '%s[%d..%d] outside its %d bits' % (name, ofs, ofs + n - 1, width))
        self._check_prereq(cname, mdict)

    def _check_prereq(self, name, mdict):
        if mdict is None or not self.validate:
            return
        missing = _prereq_missing(name, mdict)
        if missing:
            raise _Reject('OFPET_BAD_ACTION', 'OFPBAC_MATCH_INCONSISTENT', missing)

    # ---- group-mod / meter-mod ---------------------------------------------------------------
    def _group_mod(self, gm):
        gid, cmd = gm.group_id, gm.command
        if cmd == ofp.OFPGC_DELETE:
            if gid == ofp.OFPG_ALL:
                doomed = list(self.groups)
            else:
                doomed = [gid] if gid in self.groups else []
            for g in doomed:
                del self.groups[g]
            if doomed:
                ds = set(doomed)
                self._remove_entries([e for e in self.iter_flows()
                                      if any(isinstance(a, parser.OFPActionGroup)
                                             and a.group_id in ds
                                             for a in _actions_of(e.instructions))])
            return
        if gid > ofp.OFPG_MAX:
            raise _Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_INVALID_GROUP', 'group id %#x' % gid)
        if cmd == ofp.OFPGC_ADD and gid in self.groups:
            raise _Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_GROUP_EXISTS', 'group %d' % gid)
        if cmd == ofp.OFPGC_MODIFY and gid not in self.groups:
            raise _Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_UNKNOWN_GROUP', 'group %d' % gid)
        if cmd not in (ofp.OFPGC_ADD, ofp.OFPGC_MODIFY):
            raise _Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_BAD_COMMAND', 'command %r' % cmd)
        if gm.type not in (ofp.OFPGT_ALL, ofp.OFPGT_SELECT, ofp.OFPGT_INDIRECT, ofp.OFPGT_FF):
            raise _Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_BAD_TYPE', 'type %r' % gm.type)
        buckets = list(gm.buckets or [])
        if gm.type == ofp.OFPGT_INDIRECT and len(buckets) != 1:
            raise _Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_INVALID_GROUP',
                          'indirect group needs exactly one bucket, got %d' % len(buckets))
        if self.validate:
            for b in buckets:
                for a in b.actions:
                    if isinstance(a, parser.OFPActionGroup) and a.group_id == gid:
                        raise _Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_LOOP', 'group %d' % gid)
                self._check_actions(b.actions, None)
        self.groups[gid] = GroupEntry(gid, gm.type, buckets)

    def _meter_mod(self, mm):
        mid, cmd = mm.meter_id, mm.command
        if cmd == ofp.OFPMC_DELETE:
            doomed = list(self.meters) if mid == ofp.OFPM_ALL else (
                [mid] if mid in self.meters else [])
            for m in doomed:
                del self.meters[m]
            if doomed:
                ds = set(doomed)
                self._remove_entries([e for e in self.iter_flows()
                                      if any(isinstance(i, parser.OFPInstructionMeter)
                                             and i.meter_id in ds for i in e.instructions)])
            return
        if mid == 0 or mid > ofp.OFPM_MAX:
            raise _Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_INVALID_METER', 'meter %#x' % mid)
        if cmd == ofp.OFPMC_ADD and mid in self.meters:
            raise _Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_METER_EXISTS', 'meter %d' % mid)
        if cmd == ofp.OFPMC_MODIFY and mid not in self.meters:
            raise _Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_UNKNOWN_METER', 'meter %d' % mid)
        if cmd not in (ofp.OFPMC_ADD, ofp.OFPMC_MODIFY):
            raise _Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_BAD_COMMAND', 'command %r' % cmd)
        self.meters[mid] = MeterEntry(mid, mm.flags, list(mm.bands or []))

    # ---- other messages ----------------------------------------------------------------------
    def _reply(self, req, reply):
        reply.xid = req.xid
        return [reply]

    def _barrier(self, msg):
        self.barriers += 1
        return self._reply(msg, parser.OFPBarrierReply(None))

    def _echo(self, msg):
        return self._reply(msg, parser.OFPEchoReply(None, data=msg.data))

    def _features(self, msg):
        return self._reply(msg, parser.OFPSwitchFeatures(
            None, datapath_id=self.dpid, n_buffers=0, n_tables=MAX_TABLE + 1, auxiliary_id=0,
            capabilities=ofp.OFPC_FLOW_STATS | ofp.OFPC_GROUP_STATS))

    def _flow_stats_req(self, msg):
        body = self.flow_stats(msg.cookie, msg.cookie_mask, msg.table_id, msg.match,
                               msg.out_port, msg.out_group)
        return self._reply(msg, parser.OFPFlowStatsReply(None, body=body, flags=0))

    def _group_desc_req(self, msg):
        return self._reply(msg, parser.OFPGroupDescStatsReply(None, body=self.group_desc(),
                                                              flags=0))

    def _meter_config_req(self, msg):
        return self._reply(msg, parser.OFPMeterConfigStatsReply(
            None, body=self.meter_config(msg.meter_id), flags=0))

    def _port_desc_req(self, msg):
        return self._reply(msg, parser.OFPPortDescStatsReply(
            None, body=[self.ports[p] for p in sorted(self.ports)], flags=0))

    def _packet_out(self, msg):
        self.packet_outs.append(msg)

    def _ignore(self, msg):
        return None

    # ---- queries -----------------------------------------------------------------------------
    def iter_flows(self, table_id=None):
        if table_id is not None and table_id != ofp.OFPTT_ALL:
            t = self.tables.get(table_id)
            return iter(t.entries if t else ())
        return itertools.chain.from_iterable(self.tables[t].entries for t in sorted(self.tables))

    def flows(self, table_id=None):
        return list(self.iter_flows(table_id))

    def flow_count(self, table_id=None):
        if table_id is not None:
            t = self.tables.get(table_id)
            return len(t.entries) if t else 0
        return sum(len(t.entries) for t in self.tables.values())

    def flow_stats(self, cookie=None, cookie_mask=0, table_id=ofp.OFPTT_ALL, match=None,
                   out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY):
        """os-ken OFPFlowStats objects for the flows a flow-stats request would select."""
        cmatch = _compile_match(match)
        sel = self._select(table_id, cmatch, None, cookie or 0, cookie_mask, out_port, out_group)
        return [parser.OFPFlowStats(
            table_id=e.table_id, duration_sec=0, duration_nsec=0, priority=e.priority,
            idle_timeout=e.idle_timeout, hard_timeout=e.hard_timeout, flags=e.flags,
            cookie=e.cookie, packet_count=0, byte_count=0, match=e.ofp_match(),
            instructions=list(e.instructions)) for e in sel]

    def group_desc(self, group_id=None):
        ids = sorted(self.groups) if group_id in (None, ofp.OFPG_ALL) else (
            [group_id] if group_id in self.groups else [])
        return [parser.OFPGroupDescStats(type_=self.groups[g].type, group_id=g,
                                         buckets=list(self.groups[g].buckets)) for g in ids]

    def meter_config(self, meter_id=None):
        ids = sorted(self.meters) if meter_id in (None, ofp.OFPM_ALL) else (
            [meter_id] if meter_id in self.meters else [])
        return [parser.OFPMeterConfigStats(flags=self.meters[m].flags, meter_id=m,
                                           bands=list(self.meters[m].bands)) for m in ids]

    def lookup(self, table_id, pkt):
        """Highest-priority entry of `table_id` matching `pkt` (a dict of int field values)."""
        t = self.tables.get(table_id)
        if t is None:
            return None
        for e in t.entries:
            for name, v, m in e.match:
                pv = pkt.get(name, 0)
                if (pv if m is None else pv & m) != v:
                    break
            else:
                return e
        return None

    # ---- packet processing -------------------------------------------------------------------
    def trace(self, in_port, table_id=0, **fields):
        """Run a packet (OXM field names as os-ken's OFPMatch uses them) through the pipeline
        starting at `table_id`; return a TraceResult."""
        pkt = _packet_dict(in_port, fields)
        res = TraceResult(_snapshot(pkt))
        self._pipeline(table_id, pkt, res, 0)
        return res

    def trace_packet_out(self, msg, **fields):
        """Run an OFPPacketOut's actions (output:TABLE enters the pipeline at table 0). The
        packet is `fields` if given, else what packet_fields() parses from msg.data."""
        if not fields:
            fields = packet_fields(msg.data) if msg.data else {}
        pkt = _packet_dict(msg.in_port, fields)
        res = TraceResult(_snapshot(pkt))
        self._exec_actions(msg.actions, pkt, res, 0, None)
        return res

    def _pipeline(self, table_id, pkt, res, depth):
        res.action_set = {}
        if not self._run(table_id, pkt, res.action_set, res, depth):
            self._exec_action_set(res.action_set, pkt, res, depth)

    def _run(self, table_id, pkt, action_set, res, depth):
        """Run tables from table_id until an entry has no goto; True if it ended in a miss."""
        while True:
            entry = self.lookup(table_id, pkt)
            res.path.append((table_id, entry))
            if entry is None:
                return True
            next_table = self._exec_entry(entry, pkt, action_set, res, depth)
            if next_table is None:
                return False
            if next_table <= table_id:      # only reachable with validate=False
                res.notes.append('goto_table:%d from table %d ignored' % (next_table, table_id))
                return False
            table_id = next_table

    def _exec_entry(self, entry, pkt, action_set, res, depth):
        next_table = None
        for inst in entry.instructions:        # stored in specification order
            t = inst.type
            if t == ofp.OFPIT_APPLY_ACTIONS:
                self._exec_actions(inst.actions, pkt, res, depth, entry)
            elif t == ofp.OFPIT_WRITE_METADATA:
                m = inst.metadata_mask
                pkt['metadata'] = (pkt.get('metadata', 0) & ~m) | (inst.metadata & m)
            elif t == ofp.OFPIT_GOTO_TABLE:
                next_table = inst.table_id
            elif t == ofp.OFPIT_METER:
                res.meters.append(inst.meter_id)
            elif t == ofp.OFPIT_WRITE_ACTIONS:
                for a in inst.actions:
                    rank = _SET_RANK.get(type(a), 7)
                    sub = _canon_name(a.key) if isinstance(a, parser.OFPActionSetField) else (
                        type(a).__name__ if rank == 7 else None)
                    action_set[(rank, sub)] = a
            elif t == ofp.OFPIT_CLEAR_ACTIONS:
                action_set.clear()
        return next_table

    def _exec_action_set(self, action_set, pkt, res, depth):
        if not action_set:
            return
        keys = sorted(action_set, key=lambda k: (k[0], k[1] or ''))
        has_group = any(k[0] == 9 for k in keys)
        acts = [action_set[k] for k in keys if not (has_group and k[0] == 10)]
        self._exec_actions(acts, pkt, res, depth, None)

    def _exec_actions(self, actions, pkt, res, depth, entry):
        for a in actions:
            h = _ACTIONS.get(type(a))
            if h is None:
                res.notes.append('unsupported action %r' % (a,))
                continue
            h(self, a, pkt, res, depth, entry)

    def _output(self, port, pkt, res, entry, max_len=None):
        in_port = pkt.get('in_port')
        if port == ofp.OFPP_CONTROLLER:
            reason = ofp.OFPR_NO_MATCH if entry is not None and entry.is_table_miss() \
                else ofp.OFPR_ACTION
            res.packet_ins.append(PacketIn(reason, _snapshot(pkt),
                                           entry.table_id if entry else None,
                                           entry.cookie if entry else None))
        elif port == ofp.OFPP_IN_PORT:
            res.outputs.append(Output(in_port, _snapshot(pkt)))
        elif port in (ofp.OFPP_FLOOD, ofp.OFPP_ALL):
            for p in sorted(self.ports):
                if p != in_port:
                    res.outputs.append(Output(p, _snapshot(pkt)))
        elif port == in_port:
            res.suppressed.append(port)
        elif port == ofp.OFPP_TABLE:
            res.notes.append('output:TABLE is only meaningful in packet-out')
        else:
            res.outputs.append(Output(port, _snapshot(pkt)))

    # action handlers (self, action, pkt, res, depth, entry)
    def _a_output(self, a, pkt, res, depth, entry):
        if a.port == ofp.OFPP_TABLE and entry is None and depth == 0:   # packet-out
            self._pipeline(0, dict(pkt), res, depth + 1)
            return
        self._output(a.port, pkt, res, entry, a.max_len)

    def _a_group(self, a, pkt, res, depth, entry):
        g = self.groups.get(a.group_id)
        if g is None:
            res.notes.append('group %d does not exist' % a.group_id)
            return
        if depth >= MAX_DEPTH:
            res.notes.append('depth limit reached at group %d' % a.group_id)
            return
        if g.type == ofp.OFPGT_ALL:
            buckets = g.buckets
        elif g.type == ofp.OFPGT_SELECT:
            buckets = [b for b in g.buckets if b.weight][:1] or g.buckets[:1]
        elif g.type == ofp.OFPGT_FF:
            buckets = [b for b in g.buckets if b.watch_port == ofp.OFPP_ANY
                       or b.watch_port in self.ports][:1]
        else:
            buckets = g.buckets[:1]
        for b in buckets:
            self._exec_actions(b.actions, dict(pkt), res, depth + 1, entry)

    def _a_set_field(self, a, pkt, res, depth, entry):
        name = _canon_name(a.key)
        pkt[name] = field_to_int(name, a.value)

    def _a_push_vlan(self, a, pkt, res, depth, entry):
        pkt['vlan_vid'] = ofp.OFPVID_PRESENT | (pkt.get('vlan_vid', 0) & 0xfff)

    def _a_pop_vlan(self, a, pkt, res, depth, entry):
        pkt['vlan_vid'] = ofp.OFPVID_NONE
        pkt.pop('vlan_pcp', None)

    def _a_noop(self, a, pkt, res, depth, entry):
        return None

    def _a_reg_move(self, a, pkt, res, depth, entry):
        src, dst = _canon_name(a.src_field), _canon_name(a.dst_field)
        bits = _bits_get(pkt.get(src, 0), a.src_ofs, a.n_bits)
        pkt[dst] = _bits_set(pkt.get(dst, 0), a.dst_ofs, a.n_bits, bits)

    def _a_reg_load(self, a, pkt, res, depth, entry):
        dst = _canon_name(a.dst)
        ofs, n = _ofs_nbits(a.ofs_nbits)
        pkt[dst] = _bits_set(pkt.get(dst, 0), ofs, n, a.value)

    def _a_reg_load2(self, a, pkt, res, depth, entry):
        dst = _canon_name(a.dst)
        v = field_to_int(dst, a.value)
        if a.mask is None:
            pkt[dst] = v
        else:
            m = field_to_int(dst, a.mask)
            pkt[dst] = (pkt.get(dst, 0) & ~m) | (v & m)

    def _a_output_reg(self, a, pkt, res, depth, entry):
        ofs, n = _ofs_nbits(a.ofs_nbits)
        self._output(_bits_get(pkt.get(_canon_name(a.src), 0), ofs, n), pkt, res, entry)

    def _a_resubmit(self, a, pkt, res, depth, entry):
        table_id = getattr(a, 'table_id', 0xff)
        if table_id == 0xff:
            table_id = entry.table_id if entry is not None else 0
        if depth >= MAX_DEPTH:
            res.notes.append('depth limit reached at resubmit(,%d)' % table_id)
            return
        saved = pkt.get('in_port')
        if a.in_port != ofp.OFPP_IN_PORT:
            pkt['in_port'] = a.in_port
        self._run(table_id, pkt, res.action_set, res, depth + 1)
        pkt['in_port'] = saved


_ACTIONS = {
    parser.OFPActionOutput: FakeSwitch._a_output,
    parser.OFPActionGroup: FakeSwitch._a_group,
    parser.OFPActionSetField: FakeSwitch._a_set_field,
    parser.OFPActionPushVlan: FakeSwitch._a_push_vlan,
    parser.OFPActionPopVlan: FakeSwitch._a_pop_vlan,
    parser.OFPActionDecNwTtl: FakeSwitch._a_noop,
    parser.OFPActionSetNwTtl: FakeSwitch._a_noop,
    parser.OFPActionCopyTtlIn: FakeSwitch._a_noop,
    parser.OFPActionCopyTtlOut: FakeSwitch._a_noop,
    parser.OFPActionSetQueue: FakeSwitch._a_noop,
    parser.NXActionNote: FakeSwitch._a_noop,
    parser.NXActionRegMove: FakeSwitch._a_reg_move,
    parser.NXActionRegLoad: FakeSwitch._a_reg_load,
    parser.NXActionRegLoad2: FakeSwitch._a_reg_load2,
    parser.NXActionOutputReg: FakeSwitch._a_output_reg,
    parser.NXActionResubmit: FakeSwitch._a_resubmit,
    parser.NXActionResubmitTable: FakeSwitch._a_resubmit,
}

_HANDLERS = {
    parser.OFPFlowMod: FakeSwitch._flow_mod,
    parser.OFPGroupMod: FakeSwitch._group_mod,
    parser.OFPMeterMod: FakeSwitch._meter_mod,
    parser.OFPBarrierRequest: FakeSwitch._barrier,
    parser.OFPEchoRequest: FakeSwitch._echo,
    parser.OFPFeaturesRequest: FakeSwitch._features,
    parser.OFPFlowStatsRequest: FakeSwitch._flow_stats_req,
    parser.OFPGroupDescStatsRequest: FakeSwitch._group_desc_req,
    parser.OFPMeterConfigStatsRequest: FakeSwitch._meter_config_req,
    parser.OFPPortDescStatsRequest: FakeSwitch._port_desc_req,
    parser.OFPPacketOut: FakeSwitch._packet_out,
    parser.OFPSetConfig: FakeSwitch._ignore,
}


# --------------------------------------------------------------------------------------------
# Canonical dumps (for "same messages twice / reordered -> same tables" assertions)
# --------------------------------------------------------------------------------------------

_SKIP_ATTRS = frozenset(('len', 'len_', 'length', 'datapath', 'buf', 'xid', 'msg_len',
                         'version', 'msg_type'))


def _canon(obj):
    if isinstance(obj, (list, tuple)):
        return tuple(_canon(x) for x in obj)
    if isinstance(obj, parser.OFPActionSetField) and not obj._composed_with_old_api():
        name = _canon_name(obj.key)
        return ('set_field', name, field_to_int(name, obj.value))
    if isinstance(obj, (parser.NXActionRegMove,)):
        return ('move', _canon_name(obj.src_field), obj.src_ofs, _canon_name(obj.dst_field),
                obj.dst_ofs, obj.n_bits)
    if isinstance(obj, parser.OFPActionOutput):
        return ('output', obj.port, obj.max_len if obj.port == ofp.OFPP_CONTROLLER else 0)
    d = getattr(obj, '__dict__', None)
    if d is None:
        return obj
    return (type(obj).__name__,) + tuple(sorted(
        (k, _canon(v)) for k, v in d.items() if k not in _SKIP_ATTRS and not k.startswith('_')))


FlowDump = collections.namedtuple(
    'FlowDump', 'table_id priority match cookie instructions idle_timeout hard_timeout flags')


def _dump_entry(e):
    match = tuple((k, field_to_user(k, v), None if m is None else field_to_user(k, m))
                  for k, v, m in e.match)
    return FlowDump(e.table_id, e.priority, match, e.cookie, _canon(e.instructions),
                    e.idle_timeout, e.hard_timeout, e.flags)


def flow_table_dump(switch, table_id=None):
    """Canonical, comparable, sorted representation of the flow tables (timeouts and the
    flags a switch keeps included; counters and order of arrival not)."""
    return sorted((_dump_entry(e) for e in switch.iter_flows(table_id)),
                  key=lambda d: (d.table_id, -d.priority, repr(d.match), repr(d)))


def group_dump(switch):
    return [(g.group_id, g.type, _canon(g.buckets)) for g in
            (switch.groups[i] for i in sorted(switch.groups))]


def meter_dump(switch):
    return [(m.meter_id, m.flags, _canon(m.bands)) for m in
            (switch.meters[i] for i in sorted(switch.meters))]


def switch_dump(switch):
    return {'flows': flow_table_dump(switch), 'groups': group_dump(switch),
            'meters': meter_dump(switch)}


# ---- human-readable form, roughly ovs-ofctl's ---------------------------------------------

_PORT_NAMES = {ofp.OFPP_IN_PORT: 'IN_PORT', ofp.OFPP_TABLE: 'TABLE', ofp.OFPP_NORMAL: 'NORMAL',
               ofp.OFPP_FLOOD: 'FLOOD', ofp.OFPP_ALL: 'ALL', ofp.OFPP_CONTROLLER: 'CONTROLLER',
               ofp.OFPP_LOCAL: 'LOCAL', ofp.OFPP_ANY: 'ANY'}


def _format_action(a):
    if isinstance(a, parser.OFPActionOutput):
        return 'output:%s' % _PORT_NAMES.get(a.port, a.port)
    if isinstance(a, parser.OFPActionGroup):
        return 'group:%d' % a.group_id
    if isinstance(a, parser.OFPActionSetField) and not a._composed_with_old_api():
        v = a.value
        return 'set_field:%s->%s' % (hex(v) if isinstance(v, int) and v > 9 else v, a.key)
    if isinstance(a, parser.NXActionRegMove):
        return 'move:%s[%d..%d]->%s[%d..%d]' % (a.src_field, a.src_ofs, a.src_ofs + a.n_bits - 1,
                                               a.dst_field, a.dst_ofs, a.dst_ofs + a.n_bits - 1)
    if isinstance(a, parser.NXActionResubmitTable):
        return 'resubmit(%s,%d)' % ('' if a.in_port == ofp.OFPP_IN_PORT else a.in_port,
                                    a.table_id)
    return type(a).__name__.replace('OFPAction', '').lower()


def _format_instructions(instructions):
    parts = []
    for i in instructions:
        if i.type == ofp.OFPIT_APPLY_ACTIONS:
            parts.extend(_format_action(a) for a in i.actions)
        elif i.type == ofp.OFPIT_WRITE_ACTIONS:
            parts.append('write_actions(%s)' % ','.join(_format_action(a) for a in i.actions))
        elif i.type == ofp.OFPIT_CLEAR_ACTIONS:
            parts.append('clear_actions')
        elif i.type == ofp.OFPIT_WRITE_METADATA:
            parts.append('write_metadata:%#x/%#x' % (i.metadata, i.metadata_mask))
        elif i.type == ofp.OFPIT_GOTO_TABLE:
            parts.append('goto_table:%d' % i.table_id)
        elif i.type == ofp.OFPIT_METER:
            parts.append('meter:%d' % i.meter_id)
    return ','.join(parts) or 'drop'


def _format_entry(e):
    match = ','.join('%s=%s' % (k, field_to_user(k, v)) if m is None else
                     '%s=%s/%s' % (k, field_to_user(k, v), field_to_user(k, m))
                     for k, v, m in e.match)
    return 'table=%d, cookie=%#x, priority=%d%s actions=%s' % (
        e.table_id, e.cookie, e.priority, ',' + match if match else '',
        _format_instructions(e.instructions))


def format_flows(switch, table_id=None):
    """A dump-flows-like text, for assertion messages."""
    return '\n'.join(_format_entry(e) for e in switch.iter_flows(table_id))


# --------------------------------------------------------------------------------------------
# os-ken Datapath façade
# --------------------------------------------------------------------------------------------

class FakeDatapath:
    """What the controller uses of os_ken.controller.controller.Datapath, backed by a FakeSwitch.

    ``send_msg`` assigns an xid, applies the message at once, counts it (``sent_counts`` by
    message class name), keeps it in ``sent`` (unless record=False, for large simulations) and
    hands every reply (barrier replies, stats replies, OFPErrorMsg) to ``on_reply(reply)`` if
    given, else appends it to ``replies``."""
    __slots__ = ('switch', 'id', 'ofproto', 'ofproto_parser', 'is_active', 'address', 'xid',
                 'sent', 'sent_counts', 'replies', 'on_reply', 'record', '__weakref__')

    def __init__(self, switch, on_reply=None, record=True, address=('127.0.0.1', 0)):
        self.switch = switch
        self.id = switch.dpid
        self.ofproto = ofp
        self.ofproto_parser = parser
        self.is_active = True
        self.address = address
        self.xid = 0
        self.sent = []
        self.sent_counts = collections.Counter()
        self.replies = []
        self.on_reply = on_reply
        self.record = record

    @property
    def ports(self):
        return self.switch.ports

    def set_xid(self, msg):
        self.xid = (self.xid + 1) & ofp.MAX_XID
        msg.set_xid(self.xid)
        return self.xid

    def send_msg(self, msg, close_socket=False):
        if not isinstance(msg, parser.MsgBase):
            raise TypeError('send_msg needs an OpenFlow message, got %r' % (msg,))
        if not self.is_active:
            return False
        if msg.xid is None:
            self.set_xid(msg)
        if msg.datapath is None:
            msg.datapath = self
        self.sent_counts[type(msg).__name__] += 1
        if self.record:
            self.sent.append(msg)
        for reply in self.switch.apply(msg):
            reply.datapath = self
            if self.on_reply is not None:
                self.on_reply(reply)
            else:
                self.replies.append(reply)
        if close_socket:
            self.close()
        return True

    def send_barrier(self):
        return self.send_msg(parser.OFPBarrierRequest(self))

    def close(self):
        self.is_active = False

    def sent_count(self, cls=None):
        """Messages sent (of one class, given as class or name, if cls is given)."""
        if cls is None:
            return sum(self.sent_counts.values())
        return self.sent_counts[cls if isinstance(cls, str) else cls.__name__]

    def __repr__(self):
        return '<FakeDatapath id=%s sent=%d>' % (self.id, self.sent_count())


class FakeNetwork:
    """Many fake switches in one process: ``add_switch(dpid, ports)`` -> FakeDatapath."""

    def __init__(self):
        self.switches = {}
        self.datapaths = {}

    def add_switch(self, dpid, ports=(), **dp_kwargs):
        sw = self.switches[dpid] = FakeSwitch(dpid, ports)
        dp = self.datapaths[dpid] = FakeDatapath(sw, **dp_kwargs)
        return dp

    def __getitem__(self, dpid):
        return self.switches[dpid]

    def __len__(self):
        return len(self.switches)
