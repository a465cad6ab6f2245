"""Groups and meters of a switch model: the group-mods and meter-mods that change them.

Groups ALL, INDIRECT, SELECT and FAST_FAILOVER are kept with their buckets (the tracer picks the
buckets a packet takes); meters are configuration only. Deleting a group or a meter removes the
flows that use it, as a switch does.
"""
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel.checks import check_actions
from apps.ofmodel.errors import Reject
from apps.ofmodel.flowtable import actions_of


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


def group_mod(switch, gm):
    """Apply an OFPGroupMod to `switch`."""
    gid, cmd = gm.group_id, gm.command
    if cmd == ofp.OFPGC_DELETE:
        if gid == ofp.OFPG_ALL:
            doomed = list(switch.groups)
        else:
            doomed = [gid] if gid in switch.groups else []
        for g in doomed:
            del switch.groups[g]
        if doomed:
            ds = set(doomed)
            switch.flow_tables.remove([e for e in switch.iter_flows()
                                       if any(isinstance(a, parser.OFPActionGroup)
                                              and a.group_id in ds
                                              for a in actions_of(e.instructions))])
        return
    if gid > ofp.OFPG_MAX:
        raise Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_INVALID_GROUP', 'group id %#x' % gid)
    if cmd == ofp.OFPGC_ADD and gid in switch.groups:
        raise Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_GROUP_EXISTS', 'group %d' % gid)
    if cmd == ofp.OFPGC_MODIFY and gid not in switch.groups:
        raise Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_UNKNOWN_GROUP', 'group %d' % gid)
    if cmd not in (ofp.OFPGC_ADD, ofp.OFPGC_MODIFY):
        raise Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_BAD_COMMAND', 'command %r' % cmd)
    if gm.type not in (ofp.OFPGT_ALL, ofp.OFPGT_SELECT, ofp.OFPGT_INDIRECT, ofp.OFPGT_FF):
        raise Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_BAD_TYPE', 'type %r' % gm.type)
    buckets = list(gm.buckets or [])
    if gm.type == ofp.OFPGT_INDIRECT and len(buckets) != 1:
        raise Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_INVALID_GROUP',
                     'indirect group needs exactly one bucket, got %d' % len(buckets))
    if switch.validate:
        for b in buckets:
            for a in b.actions:
                if isinstance(a, parser.OFPActionGroup) and a.group_id == gid:
                    raise Reject('OFPET_GROUP_MOD_FAILED', 'OFPGMFC_LOOP', 'group %d' % gid)
            check_actions(switch, b.actions, None)
    switch.groups[gid] = GroupEntry(gid, gm.type, buckets)


def meter_mod(switch, mm):
    """Apply an OFPMeterMod to `switch`."""
    mid, cmd = mm.meter_id, mm.command
    if cmd == ofp.OFPMC_DELETE:
        doomed = list(switch.meters) if mid == ofp.OFPM_ALL else (
            [mid] if mid in switch.meters else [])
        for m in doomed:
            del switch.meters[m]
        if doomed:
            ds = set(doomed)
            switch.flow_tables.remove([e for e in switch.iter_flows()
                                       if any(isinstance(i, parser.OFPInstructionMeter)
                                              and i.meter_id in ds for i in e.instructions)])
        return
    if mid == 0 or mid > ofp.OFPM_MAX:
        raise Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_INVALID_METER', 'meter %#x' % mid)
    if cmd == ofp.OFPMC_ADD and mid in switch.meters:
        raise Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_METER_EXISTS', 'meter %d' % mid)
    if cmd == ofp.OFPMC_MODIFY and mid not in switch.meters:
        raise Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_UNKNOWN_METER', 'meter %d' % mid)
    if cmd not in (ofp.OFPMC_ADD, ofp.OFPMC_MODIFY):
        raise Reject('OFPET_METER_MOD_FAILED', 'OFPMMFC_BAD_COMMAND', 'command %r' % cmd)
    switch.meters[mid] = MeterEntry(mid, mm.flags, list(mm.bands or []))
