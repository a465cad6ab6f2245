"""What a switch model does with each os-ken OpenFlow 1.3 message object it is sent, and the
reply messages it answers with: ``HANDLERS[type(msg)](switch, msg)`` -> replies or None.

Flow-mods: ADD (same match and priority replaces, optional CHECK_OVERLAP), MODIFY,
MODIFY_STRICT, DELETE, DELETE_STRICT with cookie/cookie_mask, out_port/out_group (os-ken's
OFPFlowMod defaults both to 0, which, as on OVS, makes a DELETE match nothing: pass OFPP_ANY /
OFPG_ANY), table_id=OFPTT_ALL for deletes. Barrier, echo, features and the flow / group-desc /
meter-config / port-desc stats requests get their replies; packet-outs are kept; Nicira's
conntrack zone flush empties the zone. Role requests as Open vSwitch answers them, for the one
controller connection the model has (``role_request``).
"""
import struct

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel import groups
from apps.ofmodel.checks import checked_flow, checked_match
from apps.ofmodel.errors import Reject
from apps.ofmodel.flowtable import MAX_TABLE


def flow_mod(switch, fm):
    cmd = fm.command
    table_id = fm.table_id
    if cmd in (ofp.OFPFC_DELETE, ofp.OFPFC_DELETE_STRICT):
        if table_id != ofp.OFPTT_ALL and table_id > MAX_TABLE:
            raise Reject('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_BAD_TABLE_ID',
                         'bad table %r' % table_id)
        match = checked_match(switch, fm.match)
        switch.flow_tables.delete(table_id, match,
                                  fm.priority if cmd == ofp.OFPFC_DELETE_STRICT else None,
                                  fm.cookie, fm.cookie_mask, fm.out_port, fm.out_group)
        return
    if table_id is None or table_id > MAX_TABLE:
        raise Reject('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_BAD_TABLE_ID',
                     'bad table %r for command %d' % (table_id, cmd))
    match, instructions = checked_flow(switch, fm, table_id)
    if cmd == ofp.OFPFC_ADD:
        switch.flow_tables.add(table_id, fm, match, instructions)
    elif cmd in (ofp.OFPFC_MODIFY, ofp.OFPFC_MODIFY_STRICT):
        switch.flow_tables.modify(table_id, fm, match, instructions,
                                  strict=cmd == ofp.OFPFC_MODIFY_STRICT)
    else:
        raise Reject('OFPET_FLOW_MOD_FAILED', 'OFPFMFC_BAD_COMMAND', 'command %r' % cmd)


def _reply(req, reply):
    reply.xid = req.xid
    return [reply]


def barrier(switch, msg):
    switch.barriers += 1
    return _reply(msg, parser.OFPBarrierReply(None))


def echo(switch, msg):
    return _reply(msg, parser.OFPEchoReply(None, data=msg.data))


def features(switch, msg):
    return _reply(msg, parser.OFPSwitchFeatures(
        None, datapath_id=switch.dpid, n_buffers=0, n_tables=MAX_TABLE + 1, auxiliary_id=0,
        capabilities=ofp.OFPC_FLOW_STATS | ofp.OFPC_GROUP_STATS))


def flow_stats_request(switch, msg):
    body = switch.flow_stats(msg.cookie, msg.cookie_mask, msg.table_id, msg.match,
                             msg.out_port, msg.out_group)
    return _reply(msg, parser.OFPFlowStatsReply(None, body=body, flags=0))


def group_desc_request(switch, msg):
    return _reply(msg, parser.OFPGroupDescStatsReply(None, body=switch.group_desc(), flags=0))


def meter_config_request(switch, msg):
    return _reply(msg, parser.OFPMeterConfigStatsReply(
        None, body=switch.meter_config(msg.meter_id), flags=0))


def port_desc_request(switch, msg):
    return _reply(msg, parser.OFPPortDescStatsReply(
        None, body=[switch.ports[p] for p in sorted(switch.ports)], flags=0))


def packet_out(switch, msg):
    switch.packet_outs.append(msg)


def role_request(switch, msg):
    """As Open vSwitch: a MASTER or SLAVE request whose generation is older than the newest
    the switch has seen (by the signed 64-bit distance OpenFlow 1.3 prescribes) is refused as
    stale and leaves the connection's role as it was; otherwise the role is taken and the
    reply says it. EQUAL and NOCHANGE carry no generation."""
    if msg.role in (ofp.OFPCR_ROLE_MASTER, ofp.OFPCR_ROLE_SLAVE):
        if switch.generation is not None and \
                (msg.generation_id - switch.generation) % (1 << 64) >= 1 << 63:
            raise Reject('OFPET_ROLE_REQUEST_FAILED', 'OFPRRFC_STALE',
                         'generation %d is older than %d' % (msg.generation_id,
                                                             switch.generation))
        switch.generation = msg.generation_id
    if msg.role != ofp.OFPCR_ROLE_NOCHANGE:
        switch.role = msg.role
    return _reply(msg, parser.OFPRoleReply(None, switch.role, switch.generation or 0))


def ignore(switch, msg):
    return None


NX_VENDOR_ID, NXT_CT_FLUSH_ZONE = 0x2320, 29


def experimenter(switch, msg):
    """Nicira's NXT_CT_FLUSH_ZONE empties one conntrack zone; other experimenter messages
    are kept in ``unknown``."""
    if msg.experimenter == NX_VENDOR_ID and msg.exp_type == NXT_CT_FLUSH_ZONE:
        switch.conntrack.flush(struct.unpack('!6xH', bytes(msg.data)[:8])[0])
    else:
        switch.unknown.append(msg)


#: What a connection in the SLAVE role may not send (Open vSwitch refuses it: OFPBRC_IS_SLAVE).
WRITES = (parser.OFPFlowMod, parser.OFPGroupMod, parser.OFPMeterMod, parser.OFPPacketOut)

HANDLERS = {
    parser.OFPFlowMod: flow_mod,
    parser.OFPGroupMod: groups.group_mod,
    parser.OFPMeterMod: groups.meter_mod,
    parser.OFPBarrierRequest: barrier,
    parser.OFPEchoRequest: echo,
    parser.OFPFeaturesRequest: features,
    parser.OFPFlowStatsRequest: flow_stats_request,
    parser.OFPGroupDescStatsRequest: group_desc_request,
    parser.OFPMeterConfigStatsRequest: meter_config_request,
    parser.OFPPortDescStatsRequest: port_desc_request,
    parser.OFPPacketOut: packet_out,
    parser.OFPRoleRequest: role_request,
    parser.OFPSetConfig: ignore,
    parser.OFPExperimenter: experimenter,
}
