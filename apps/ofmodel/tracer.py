"""The packet tracer: what a switch model does with one packet, and why.

Instructions run in specification order: meter, apply-actions, clear/write-actions (the action
set, executed at the end of the pipeline in specification order), write_metadata, goto_table.
Actions: set_field, push/pop VLAN, output (IN_PORT, CONTROLLER -> packet-in, FLOOD/ALL, TABLE in
a packet-out), group (ALL; INDIRECT; SELECT: first bucket of non-zero weight; FAST_FAILOVER:
first bucket whose watch port is up) and the Nicira actions reg_move, reg_load, reg_load2,
resubmit, resubmit_table, output_reg, ct and conjunction. Output to the packet's own in_port is
suppressed (as OVS does) unless OFPP_IN_PORT is used. A table miss drops.

``ct(zone=..., table=N, commit, exec(...))`` looks the packet up in the switch's connection table
(apps/ofmodel/conntrack.py) in the zone given as a value or a field's bits; with ``commit`` it
creates the connection and applies the ``exec`` loads of ``ct_mark``/``ct_label`` to it; with a
table the packet, its ct fields set, is recirculated there (its other fields and registers
kept), while the actions after ``ct`` go on with the packet as it was; ``nat`` inside it
rewrites the recirculated packet's IPv4 addresses as the connection's NAT says. A trace
therefore changes the switch's connections, as a real packet does.
Conjunctive flows are matched as OVS does: among the flows of a table that match, those with
``conjunction`` actions above the best ordinary match count only when every clause of one
conjunction id matched at one priority; the table is then looked up again with ``conj_id`` set.

Not modelled: counters, rate limiting (a trace records the meters a packet passed), learn,
IPv6 NAT, port ranges in NAT, packet parsing beyond ``packet_fields`` (a packet is a dict of OXM fields).
"""
import collections

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel import conntrack
from apps.ofmodel.dump import format_entry
from apps.ofmodel.fields import (bits_get, bits_set, canon_name, field_to_int, fields_agree,
                                 ofs_nbits, packet_dict, packet_fields, snapshot)

MAX_DEPTH = 64
NX_CT_F_COMMIT, NX_CT_RECIRC_NONE = 1, 0xff

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
            if fields_agree(o.fields, fields):
                return True
        return False

    def sent_to_controller(self, **fields):
        return any(fields_agree(p.fields, fields) for p in self.packet_ins)

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
            lines.append('  table %d: %s' % (t, 'MISS' if e is None else format_entry(e)))
        for o in self.outputs:
            lines.append('  -> port %s %r' % (o.port, o.fields))
        for p in self.packet_ins:
            lines.append('  -> controller reason=%s %r' % (p.reason, p.fields))
        for n in self.notes:
            lines.append('  note: %s' % n)
        if self.dropped:
            lines.append('  DROPPED')
        return '\n'.join(lines)


def trace(switch, in_port, table_id, fields):
    """Run a packet (OXM field names as os-ken's OFPMatch uses them) through the switch's
    pipeline starting at `table_id`; return a TraceResult."""
    pkt = packet_dict(in_port, fields)
    res = TraceResult(snapshot(pkt))
    _pipeline(switch, table_id, pkt, res, 0)
    return res


def trace_packet_out(switch, msg, fields):
    """Run an OFPPacketOut's actions (output:TABLE enters the pipeline at table 0). The
    packet is `fields` if given, else what packet_fields() parses from msg.data."""
    if not fields:
        fields = packet_fields(msg.data) if msg.data else {}
    pkt = packet_dict(msg.in_port, fields)
    res = TraceResult(snapshot(pkt))
    _exec_actions(switch, msg.actions, pkt, res, 0, None)
    return res


# action-set execution order (OF1.3 5.10); value = rank
_SET_RANK = {
    parser.OFPActionCopyTtlIn: 0, parser.OFPActionPopMpls: 1, parser.OFPActionPopVlan: 1,
    parser.OFPActionPopPbb: 1, parser.OFPActionPushMpls: 2, parser.OFPActionPushPbb: 3,
    parser.OFPActionPushVlan: 4, parser.OFPActionCopyTtlOut: 5, parser.OFPActionDecMplsTtl: 6,
    parser.OFPActionDecNwTtl: 6, parser.OFPActionSetMplsTtl: 7, parser.OFPActionSetNwTtl: 7,
    parser.OFPActionSetField: 7, parser.OFPActionSetQueue: 8, parser.OFPActionGroup: 9,
    parser.OFPActionOutput: 10,
}


def _pipeline(sw, table_id, pkt, res, depth):
    res.action_set = {}
    if not _run(sw, table_id, pkt, res.action_set, res, depth):
        _exec_action_set(sw, res.action_set, pkt, res, depth)


def _run(sw, table_id, pkt, action_set, res, depth):
    """Run tables from table_id until an entry has no goto; True if it ended in a miss."""
    lookup = sw.flow_tables.lookup_conjunctive
    while True:
        entry = lookup(table_id, pkt)
        res.path.append((table_id, entry))
        if entry is None:
            return True
        next_table = _exec_entry(sw, entry, pkt, action_set, res, depth)
        if next_table is None:
            return False
        if next_table <= table_id:      # only reachable with validate=False
            res.notes.append('goto_table:%d from table %d ignored' % (next_table, table_id))
            return False
        table_id = next_table


def _exec_entry(sw, entry, pkt, action_set, res, depth):
    next_table = None
    for inst in entry.instructions:        # stored in specification order
        t = inst.type
        if t == ofp.OFPIT_APPLY_ACTIONS:
            _exec_actions(sw, inst.actions, pkt, res, depth, entry)
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
                sub = canon_name(a.key) if isinstance(a, parser.OFPActionSetField) else (
                    type(a).__name__ if rank == 7 else None)
                action_set[(rank, sub)] = a
        elif t == ofp.OFPIT_CLEAR_ACTIONS:
            action_set.clear()
    return next_table


def _exec_action_set(sw, action_set, pkt, res, depth):
    if not action_set:
        return
    keys = sorted(action_set, key=lambda k: (k[0], k[1] or ''))
    has_group = any(k[0] == 9 for k in keys)
    acts = [action_set[k] for k in keys if not (has_group and k[0] == 10)]
    _exec_actions(sw, acts, pkt, res, depth, None)


def _exec_actions(sw, actions, pkt, res, depth, entry):
    for a in actions:
        h = _ACTIONS.get(type(a))
        if h is None:
            res.notes.append('unsupported action %r' % (a,))
            continue
        h(sw, a, pkt, res, depth, entry)


def _output(sw, port, pkt, res, entry):
    in_port = pkt.get('in_port')
    if port == ofp.OFPP_CONTROLLER:
        reason = ofp.OFPR_NO_MATCH if entry is not None and entry.is_table_miss() \
            else ofp.OFPR_ACTION
        res.packet_ins.append(PacketIn(reason, snapshot(pkt),
                                       entry.table_id if entry else None,
                                       entry.cookie if entry else None))
    elif port == ofp.OFPP_IN_PORT:
        res.outputs.append(Output(in_port, snapshot(pkt)))
    elif port in (ofp.OFPP_FLOOD, ofp.OFPP_ALL):
        for p in sorted(sw.ports):
            if p != in_port:
                res.outputs.append(Output(p, snapshot(pkt)))
    elif port == in_port:
        res.suppressed.append(port)
    elif port == ofp.OFPP_TABLE:
        res.notes.append('output:TABLE is only meaningful in packet-out')
    else:
        res.outputs.append(Output(port, snapshot(pkt)))


# ---- action handlers (switch, action, pkt, res, depth, entry) ----------------------------

def _a_output(sw, a, pkt, res, depth, entry):
    if a.port == ofp.OFPP_TABLE and entry is None and depth == 0:   # packet-out
        _pipeline(sw, 0, dict(pkt), res, depth + 1)
        return
    _output(sw, a.port, pkt, res, entry)


def _a_group(sw, a, pkt, res, depth, entry):
    g = sw.groups.get(a.group_id)
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
                   or b.watch_port in sw.ports][:1]
    else:
        buckets = g.buckets[:1]
    for b in buckets:
        _exec_actions(sw, b.actions, dict(pkt), res, depth + 1, entry)


def _a_set_field(sw, a, pkt, res, depth, entry):
    name = canon_name(a.key)
    pkt[name] = field_to_int(name, a.value)


def _a_push_vlan(sw, a, pkt, res, depth, entry):
    pkt['vlan_vid'] = ofp.OFPVID_PRESENT | (pkt.get('vlan_vid', 0) & 0xfff)


def _a_pop_vlan(sw, a, pkt, res, depth, entry):
    pkt['vlan_vid'] = ofp.OFPVID_NONE
    pkt.pop('vlan_pcp', None)


def _a_noop(sw, a, pkt, res, depth, entry):
    return None


def _a_dec_nw_ttl(sw, a, pkt, res, depth, entry):
    """TTL - 1 (a TTL that would reach 0 is OVS's invalid-TTL case: noted, left as it is)."""
    if pkt.get('nw_ttl', 0) <= 1:
        res.notes.append('dec_ttl: invalid TTL %d' % pkt.get('nw_ttl', 0))
    else:
        pkt['nw_ttl'] -= 1


def _a_reg_move(sw, a, pkt, res, depth, entry):
    src, dst = canon_name(a.src_field), canon_name(a.dst_field)
    bits = bits_get(pkt.get(src, 0), a.src_ofs, a.n_bits)
    pkt[dst] = bits_set(pkt.get(dst, 0), a.dst_ofs, a.n_bits, bits)


def _a_reg_load(sw, a, pkt, res, depth, entry):
    dst = canon_name(a.dst)
    ofs, n = ofs_nbits(a.ofs_nbits)
    pkt[dst] = bits_set(pkt.get(dst, 0), ofs, n, a.value)


def _a_reg_load2(sw, a, pkt, res, depth, entry):
    dst = canon_name(a.dst)
    v = field_to_int(dst, a.value)
    if a.mask is None:
        pkt[dst] = v
    else:
        m = field_to_int(dst, a.mask)
        pkt[dst] = (pkt.get(dst, 0) & ~m) | (v & m)


def _a_output_reg(sw, a, pkt, res, depth, entry):
    ofs, n = ofs_nbits(a.ofs_nbits)
    _output(sw, bits_get(pkt.get(canon_name(a.src), 0), ofs, n), pkt, res, entry)


def _a_resubmit(sw, a, pkt, res, depth, entry):
    table_id = getattr(a, 'table_id', 0xff)
    if table_id == 0xff:
        table_id = entry.table_id if entry is not None else 0
    if depth >= MAX_DEPTH:
        res.notes.append('depth limit reached at resubmit(,%d)' % table_id)
        return
    saved = pkt.get('in_port')
    if a.in_port != ofp.OFPP_IN_PORT:
        pkt['in_port'] = a.in_port
    _run(sw, table_id, pkt, res.action_set, res, depth + 1)
    pkt['in_port'] = saved


NAT_SRC, NAT_DST = 1, 2      # nicira-ext.h NX_NAT_F_SRC / NX_NAT_F_DST


def _a_ct(sw, a, pkt, res, depth, entry):
    zone = a.zone_ofs_nbits if not a.zone_src else \
        bits_get(pkt.get(canon_name(a.zone_src), 0), *ofs_nbits(a.zone_ofs_nbits))
    ct_fields = sw.conntrack.track(zone, pkt)
    nat = next((n for n in a.actions if isinstance(n, parser.NXActionNAT)), None)
    if nat is not None:
        kind = 'src' if nat.flags & NAT_SRC else 'dst' if nat.flags & NAT_DST else None
        address = field_to_int('ipv4_src', nat.range_ipv4_min) if kind else None
        ct_fields.update(sw.conntrack.nat(zone, pkt, a.flags & NX_CT_F_COMMIT, kind, address))
    if a.flags & NX_CT_F_COMMIT:
        loads = {'ct_mark': ct_fields['ct_mark'], 'ct_label': ct_fields['ct_label']}
        for inner in a.actions:
            if inner is nat:
                continue
            h = _ACTIONS.get(type(inner))
            if h is None or h is _a_ct:
                res.notes.append('unsupported action in ct exec: %r' % (inner,))
                continue
            h(sw, inner, loads, res, depth, entry)
        if sw.conntrack.commit(zone, pkt, loads['ct_mark'], loads['ct_label']) is not None:
            ct_fields.update(loads)
    if a.recirc_table == NX_CT_RECIRC_NONE:
        return
    if depth >= MAX_DEPTH:
        res.notes.append('depth limit reached at ct(table=%d)' % a.recirc_table)
        return
    _pipeline_from(sw, a.recirc_table, {**pkt, **ct_fields}, res, depth + 1)


def _pipeline_from(sw, table_id, pkt, res, depth):
    """A recirculated packet: a pipeline pass of its own, with its own action set."""
    saved = res.action_set
    _pipeline(sw, table_id, pkt, res, depth)
    res.action_set = saved


def _a_conjunction(sw, a, pkt, res, depth, entry):
    res.notes.append('conjunction action executed outside a conjunctive lookup')


_ACTIONS = {
    parser.OFPActionOutput: _a_output,
    parser.OFPActionGroup: _a_group,
    parser.OFPActionSetField: _a_set_field,
    parser.OFPActionPushVlan: _a_push_vlan,
    parser.OFPActionPopVlan: _a_pop_vlan,
    parser.OFPActionDecNwTtl: _a_dec_nw_ttl,
    parser.OFPActionSetNwTtl: _a_noop,
    parser.OFPActionCopyTtlIn: _a_noop,
    parser.OFPActionCopyTtlOut: _a_noop,
    parser.OFPActionSetQueue: _a_noop,
    parser.NXActionNote: _a_noop,
    parser.NXActionRegMove: _a_reg_move,
    parser.NXActionRegLoad: _a_reg_load,
    parser.NXActionRegLoad2: _a_reg_load2,
    parser.NXActionOutputReg: _a_output_reg,
    parser.NXActionResubmit: _a_resubmit,
    parser.NXActionResubmitTable: _a_resubmit,
    parser.NXActionCT: _a_ct,
    parser.NXActionConjunction: _a_conjunction,
}
