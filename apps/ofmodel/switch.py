"""One OpenFlow 1.3 switch, in process: its ports, flow tables, groups and meters.

``apply(msg)`` takes the os-ken message object a controller would send and returns the replies
the switch would send (errors included); ``trace(in_port, **fields)`` runs a packet through it.
Where the specification leaves room the model behaves like Open vSwitch.
"""
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps.ofmodel import tracer
from apps.ofmodel.conntrack import Conntrack
from apps.ofmodel.errors import OFError, Reject, error_reply, switch_error
from apps.ofmodel.fields import field_to_user
from apps.ofmodel.flowtable import FlowTables
from apps.ofmodel.match import compile_match
from apps.ofmodel.messages import HANDLERS, WRITES


def _make_port(port_no, name=None, hw_addr=None):
    if hw_addr is None:
        hw_addr = field_to_user('eth_src', (0x0a << 40) | (port_no & 0xffffffffff))
    return parser.OFPPort(port_no=port_no, hw_addr=hw_addr, name=(name or 'p%d' % port_no).encode(),
                          config=0, state=ofp.OFPPS_LIVE, curr=0, advertised=0, supported=0,
                          peer=0, curr_speed=0, max_speed=0)


class SwitchModel:
    """State of one OF1.3 switch.

    ``ports`` {port_no: OFPPort}; ``flow_tables`` (FlowTables); ``groups`` {id: GroupEntry};
    ``meters`` {id: MeterEntry}; ``conntrack`` its connections (apps/ofmodel/conntrack.py,
    changed by the packets traced); ``errors`` the SwitchErrors of refused messages (raised as
    OFError instead with raise_errors=True); ``validate=False`` skips the checks a switch makes
    on what it is sent; ``barriers``, ``packet_outs``, ``unknown`` (messages it has no model
    for) and ``msg_count`` record what it received. ``role`` is the controller connection's
    OpenFlow role (EQUAL until a role request) and ``generation`` the newest master-election
    generation the switch has seen (None: none yet); ``other_master`` stands for another
    controller's connection becoming master."""
    __slots__ = ('dpid', 'ports', 'flow_tables', 'groups', 'meters', 'conntrack', 'errors', 'barriers',
                 'packet_outs', 'unknown', 'raise_errors', 'validate', 'msg_count', 'role',
                 'generation', '__weakref__')

    def __init__(self, dpid, ports=(), raise_errors=False, validate=True):
        self.dpid = dpid
        self.ports = {}
        for p in ports:
            if isinstance(p, parser.OFPPort):
                self.ports[p.port_no] = p
            else:
                self.ports[p] = _make_port(p)
        self.flow_tables = FlowTables()
        self.groups = {}
        self.meters = {}
        self.conntrack = Conntrack()
        self.errors = []
        self.barriers = 0
        self.packet_outs = []
        self.unknown = []
        self.raise_errors = raise_errors
        self.validate = validate
        self.msg_count = 0
        self.role = ofp.OFPCR_ROLE_EQUAL
        self.generation = None

    def __repr__(self):
        return '<SwitchModel dpid=%s flows=%d groups=%d meters=%d>' % (
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
        handler = HANDLERS.get(type(msg))
        if handler is None:
            self.unknown.append(msg)
            return []
        try:
            if self.role == ofp.OFPCR_ROLE_SLAVE and isinstance(msg, WRITES):
                raise Reject('OFPET_BAD_REQUEST', 'OFPBRC_IS_SLAVE',
                             'the connection is a slave: %s refused' % type(msg).__name__)
            return handler(self, msg) or []
        except Reject as rej:
            err = switch_error(msg, rej)
            self.errors.append(err)
            if self.raise_errors:
                raise OFError(err)
            return [error_reply(msg, err)]

    def apply_all(self, msgs):
        replies = []
        for m in msgs:
            replies.extend(self.apply(m))
        return replies

    def other_master(self, generation):
        """Another controller's connection became master with ``generation``: as Open vSwitch
        does, a master connection of ours turns slave and older generations are stale."""
        self.generation = generation
        if self.role == ofp.OFPCR_ROLE_MASTER:
            self.role = ofp.OFPCR_ROLE_SLAVE

    # ---- queries -----------------------------------------------------------------------------
    def iter_flows(self, table_id=None):
        return self.flow_tables.iter_flows(table_id)

    def flows(self, table_id=None):
        return list(self.flow_tables.iter_flows(table_id))

    def flow_count(self, table_id=None):
        return self.flow_tables.count(table_id)

    def lookup(self, table_id, pkt):
        """Highest-priority entry of `table_id` matching `pkt` (a dict of int field values)."""
        return self.flow_tables.lookup(table_id, pkt)

    def flow_stats(self, cookie=None, cookie_mask=0, table_id=ofp.OFPTT_ALL, match=None,
                   out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY):
        """os-ken OFPFlowStats objects for the flows a flow-stats request would select."""
        sel = self.flow_tables.select(table_id, compile_match(match), None, cookie or 0,
                                      cookie_mask, out_port, out_group)
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

    # ---- packets -----------------------------------------------------------------------------
    def trace(self, in_port, table_id=0, **fields):
        """Run a packet (OXM field names as os-ken's OFPMatch uses them) through the pipeline
        starting at `table_id`; return a TraceResult."""
        return tracer.trace(self, in_port, table_id, fields)

    def trace_packet_out(self, msg, **fields):
        """Run an OFPPacketOut's actions (output:TABLE enters the pipeline at table 0). The
        packet is `fields` if given, else what packet_fields() parses from msg.data."""
        return tracer.trace_packet_out(self, msg, fields)
