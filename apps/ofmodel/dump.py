"""What a switch model holds, as data and as text.

Canonical dumps compare switches ("same messages twice / reordered -> same tables"); the text
form, roughly ovs-ofctl's dump-flows, goes into assertion messages and traces.
"""
import collections

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel.fields import canon_name, field_to_int, field_to_user

_SKIP_ATTRS = frozenset(('len', 'len_', 'length', 'datapath', 'buf', 'xid', 'msg_len',
                         'version', 'msg_type'))


def _canon(obj):
    if isinstance(obj, (list, tuple)):
        return tuple(_canon(x) for x in obj)
    if isinstance(obj, parser.OFPActionSetField) and not obj._composed_with_old_api():
        name = canon_name(obj.key)
        return ('set_field', name, field_to_int(name, obj.value))
    if isinstance(obj, (parser.NXActionRegMove,)):
        return ('move', canon_name(obj.src_field), obj.src_ofs, canon_name(obj.dst_field),
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
    if isinstance(a, parser.NXActionConjunction):
        return 'conjunction(%d,%d/%d)' % (a.id, a.clause + 1, a.n_clauses)
    if isinstance(a, parser.NXActionCT):
        return _format_ct(a)
    if isinstance(a, parser.NXActionRegLoad):
        ofs, n = a.ofs_nbits >> 6, (a.ofs_nbits & 0x3f) + 1
        return 'load:%#x->%s[%d..%d]' % (a.value, a.dst, ofs, ofs + n - 1)
    if isinstance(a, parser.NXActionOutputReg):
        ofs, n = a.ofs_nbits >> 6, (a.ofs_nbits & 0x3f) + 1
        return 'output:%s[%d..%d]' % (a.src, ofs, ofs + n - 1)
    if isinstance(a, parser.NXActionResubmitTable):
        return 'resubmit(%s,%d)' % ('' if a.in_port == ofp.OFPP_IN_PORT else a.in_port,
                                    a.table_id)
    return type(a).__name__.replace('OFPAction', '').lower()


def _format_ct(a):
    parts = ['commit'] if a.flags & 1 else []
    if a.zone_src:
        ofs, n = a.zone_ofs_nbits >> 6, (a.zone_ofs_nbits & 0x3f) + 1
        parts.append('zone=%s[%d..%d]' % (a.zone_src, ofs, ofs + n - 1))
    else:
        parts.append('zone=%d' % a.zone_ofs_nbits)
    if a.recirc_table != 0xff:
        parts.append('table=%d' % a.recirc_table)
    if a.actions:
        parts.append('exec(%s)' % ','.join(_format_action(x) for x in a.actions))
    return 'ct(%s)' % ','.join(parts)


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


def format_entry(e):
    """One flow entry as a dump-flows line."""
    match = ','.join('%s=%s' % (k, field_to_user(k, v)) if m is None else
                     '%s=%s/%s' % (k, field_to_user(k, v), field_to_user(k, m))
                     for k, v, m in e.match)
    return 'table=%d, cookie=%#x, priority=%d%s actions=%s' % (
        e.table_id, e.cookie, e.priority, ',' + match if match else '',
        _format_instructions(e.instructions))


def format_flows(switch, table_id=None):
    """A dump-flows-like text, for assertion messages."""
    return '\n'.join(format_entry(e) for e in switch.iter_flows(table_id))
