"""The checks a switch makes before it accepts a flow or a group: match prerequisites
(ipv4_dst needs eth_type=0x0800...), set_field and NXM sub-field prerequisites against the
flow's match, goto_table only forward, groups and meters the flow uses must exist, no duplicate
instructions. A failed check raises Reject; the switch's tables stay untouched.

With ``switch.validate`` false only the structural checks remain (unknown or duplicate
instruction, bad table): a model of a switch that trusts its controller.
"""
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel.errors import Reject
from apps.ofmodel.fields import FIELDS, canon_name, field_to_int, ofs_nbits
from apps.ofmodel.flowtable import MAX_TABLE, actions_of
from apps.ofmodel.match import compile_match, match_dict, prereq_missing

# instruction order of the specification (OF1.3 5.9): the order a flow entry keeps them in
INST_ORDER = {ofp.OFPIT_METER: 0, ofp.OFPIT_APPLY_ACTIONS: 1, ofp.OFPIT_CLEAR_ACTIONS: 2,
              ofp.OFPIT_WRITE_ACTIONS: 3, ofp.OFPIT_WRITE_METADATA: 4, ofp.OFPIT_GOTO_TABLE: 5}

_RESERVED_OUT = frozenset((ofp.OFPP_IN_PORT, ofp.OFPP_TABLE, ofp.OFPP_NORMAL, ofp.OFPP_FLOOD,
                           ofp.OFPP_ALL, ofp.OFPP_CONTROLLER, ofp.OFPP_LOCAL))


def checked_flow(switch, fm, table_id):
    """(canonical match, instructions) of a flow-mod, validated.

    What does not depend on this switch is checked once per message object and kept on
    it: a controller that sends the same message to many switches (a large simulation)
    pays the checks once. Groups and meters the flow uses must exist here, every time.
    """
    memo = getattr(fm, '_ofmodel_checked', None)
    if memo is not None and memo[0] is fm.match and memo[1] is fm.instructions and \
            memo[2] == (table_id, switch.validate):
        match, instructions, groups, meters = memo[3]
        if switch.validate:
            for gid in groups:
                if gid not in switch.groups:
                    raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_OUT_GROUP',
                                 'group %d does not exist' % gid)
            for mid in meters:
                if mid not in switch.meters:
                    raise Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_INVALID_METER',
                                 'meter %d does not exist' % mid)
        return match, instructions
    match = checked_match(switch, fm.match)
    instructions = _check_instructions(switch, table_id, match, fm.instructions)
    groups = tuple(a.group_id for a in actions_of(instructions)
                   if isinstance(a, parser.OFPActionGroup))
    meters = tuple(i.meter_id for i in instructions
                   if isinstance(i, parser.OFPInstructionMeter))
    fm._ofmodel_checked = (fm.match, fm.instructions, (table_id, switch.validate),
                           (match, instructions, groups, meters))
    return match, instructions


def checked_match(switch, match):
    """Canonical match, its prerequisites checked if the switch validates."""
    cmatch = compile_match(match)
    if switch.validate:
        mdict = match_dict(cmatch)
        for name, _, _ in cmatch:
            missing = prereq_missing(name, mdict)
            if missing:
                raise Reject('OFPET_BAD_MATCH', 'OFPBMC_BAD_PREREQ', missing)
    return cmatch


def _check_instructions(switch, table_id, match, instructions):
    """The instructions in specification order, checked."""
    seen = set()
    for inst in instructions:
        t = getattr(inst, 'type', None)
        if t not in INST_ORDER:
            raise Reject('OFPET_BAD_INSTRUCTION', 'OFPBIC_UNKNOWN_INST', repr(inst))
        if t in seen:
            raise Reject('OFPET_BAD_INSTRUCTION', 'OFPBIC_DUP_INST', repr(inst))
        seen.add(t)
        if not switch.validate:
            continue
        if t == ofp.OFPIT_GOTO_TABLE:
            if not table_id < inst.table_id <= MAX_TABLE:
                raise Reject('OFPET_BAD_INSTRUCTION', 'OFPBIC_BAD_TABLE_ID',
                             'goto_table:%d from table %d' % (inst.table_id, table_id))
        elif t == ofp.OFPIT_METER:
            if inst.meter_id not in switch.meters:
                raise Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_INVALID_METER',
                             'meter %d does not exist' % inst.meter_id)
        elif t in (ofp.OFPIT_APPLY_ACTIONS, ofp.OFPIT_WRITE_ACTIONS):
            check_actions(switch, inst.actions, match_dict(match))
    if switch.validate:
        _check_conjunctive(instructions)
    ranks = [INST_ORDER[i.type] for i in instructions]
    if ranks == sorted(ranks):
        return tuple(instructions)
    return tuple(sorted(instructions, key=lambda i: INST_ORDER[i.type]))


def check_actions(switch, actions, mdict):
    """Check a list of actions; `mdict` is the flow's match dict (None in a group bucket)."""
    for a in actions:
        if isinstance(a, parser.OFPActionOutput):
            p = a.port
            if p == 0 or (p > ofp.OFPP_MAX and p not in _RESERVED_OUT):
                raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_OUT_PORT', 'output:%d' % p)
        elif isinstance(a, parser.OFPActionGroup):
            if a.group_id not in switch.groups:
                raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_OUT_GROUP',
                             'group %d does not exist' % a.group_id)
        elif isinstance(a, parser.OFPActionSetField):
            if a._composed_with_old_api():
                raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_TYPE',
                             'old-API set_field is not modelled')
            name = canon_name(a.key)
            if name not in FIELDS:
                raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_TYPE', a.key)
            try:
                field_to_int(name, a.value)
            except (ValueError, TypeError) as e:
                raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_ARGUMENT', str(e)) from None
            _check_prereq(switch, name, mdict)
        elif isinstance(a, parser.NXActionRegMove):
            for name, ofs in ((a.src_field, a.src_ofs), (a.dst_field, a.dst_ofs)):
                _check_bits(switch, name, ofs, a.n_bits, mdict)
        elif isinstance(a, parser.NXActionRegLoad):
            ofs, n = ofs_nbits(a.ofs_nbits)
            _check_bits(switch, a.dst, ofs, n, mdict)
            if a.value >> n:
                raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_ARGUMENT',
                             'load %#x does not fit %d bits' % (a.value, n))
        elif isinstance(a, parser.NXActionOutputReg):
            ofs, n = ofs_nbits(a.ofs_nbits)
            _check_bits(switch, a.src, ofs, n, mdict)
        elif isinstance(a, parser.NXActionCT):
            _check_ct(switch, a, mdict)
        elif isinstance(a, parser.NXActionResubmitTable):
            if a.table_id != 0xff and a.table_id > MAX_TABLE:
                raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT',
                             'resubmit to table %d' % a.table_id)


def _check_conjunctive(instructions):
    """OVS: a flow with ``conjunction`` actions has nothing else (no other action, no other
    instruction), and each clause k of n has 1 <= k+1 <= n, 2 <= n <= 64."""
    acts = list(actions_of(instructions))
    conj = [a for a in acts if isinstance(a, parser.NXActionConjunction)]
    if not conj:
        return
    if len(conj) != len(acts) or len(instructions) != 1:
        raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT',
                     'a flow with conjunction actions may have no other action or instruction')
    for a in conj:
        if not (2 <= a.n_clauses <= 64 and 0 <= a.clause < a.n_clauses):
            raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT',
                         'conjunction(%d,%d/%d)' % (a.id, a.clause + 1, a.n_clauses))


def _check_ct(switch, a, mdict):
    """OVS: ``ct`` only on a flow that matches IPv4 or IPv6; its zone field's bits exist; its
    ``exec`` (only with commit) only loads ct_mark and ct_label, beside which it may ``nat``; a
    recirculation table exists."""
    if mdict is not None and switch.validate:
        eth = mdict.get('eth_type')
        if eth is None or eth[1] is not None or eth[0] not in (0x0800, 0x86dd):
            raise Reject('OFPET_BAD_ACTION', 'OFPBAC_MATCH_INCONSISTENT',
                         'ct needs eth_type 0x0800 or 0x86dd in the match')
    if a.zone_src:
        ofs, n = ofs_nbits(a.zone_ofs_nbits)
        if n > 16:
            raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT', 'ct zone wider than 16 bits')
        _check_bits(switch, a.zone_src, ofs, n, None)
    elif not 0 <= a.zone_ofs_nbits <= 0xffff:
        raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT', 'ct zone %r' % a.zone_ofs_nbits)
    if a.recirc_table != 0xff and a.recirc_table > MAX_TABLE:
        raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT', 'ct table %d' % a.recirc_table)
    loads = [inner for inner in a.actions if not isinstance(inner, parser.NXActionNAT)]
    if loads and not a.flags & 1:
        raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT', 'ct exec needs commit')
    for inner in loads:
        name = canon_name(getattr(inner, 'key', None) or getattr(inner, 'dst', '') or '')
        if name not in ('ct_mark', 'ct_label'):
            raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_ARGUMENT',
                         'ct exec may only set ct_mark or ct_label: %r' % (inner,))


def _check_bits(switch, name, ofs, n, mdict):
    cname = canon_name(name)
    if cname not in FIELDS:
        raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_TYPE', 'unknown field %s' % name)
    width = FIELDS[cname][1]
    if n <= 0 or ofs < 0 or ofs + n > width:
        raise Reject('OFPET_BAD_ACTION', 'OFPBAC_BAD_SET_ARGUMENT',
                     '%s[%d..%d] outside its %d bits' % (name, ofs, ofs + n - 1, width))
    _check_prereq(switch, cname, mdict)


def _check_prereq(switch, name, mdict):
    if mdict is None or not switch.validate:
        return
    missing = prereq_missing(name, mdict)
    if missing:
        raise Reject('OFPET_BAD_ACTION', 'OFPBAC_MATCH_INCONSISTENT', missing)
