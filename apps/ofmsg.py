"""From flow values to OpenFlow 1.3 messages (os-ken objects), and the diff that says which to send.

``diff`` is pure: given what a switch holds and what it should hold, it returns the messages that
take it there -- meters and groups before the flows that use them, deletions of flows before the
groups and meters they used (OVS deletes the flows that use a deleted meter), a barrier last.
Nothing is ever wiped: flows that are already right are not touched, and a meter whose rate
changes is modified in place.
``messages`` encodes a ``Delta`` (what diff computes, or what apps/incremental.py computes without
looking at the whole switch) the same way.

Encoding is the costly part of a flow-mod in Python (docs/scale.md), so it is done as
little as possible: match fields are normalised once per distinct (field, value) instead of by
``OFPMatch(**kwargs)`` for every flow, and the ADD message of a flow is kept for a while and sent
as it is to the next switch that needs the same flow (flows that name no local port -- ARP
answers, the way to a remote port -- are identical on every switch hosting the network).
"""
import collections
import dataclasses
import functools
import re
import socket
import struct

from os_ken.lib import type_desc
from os_ken.ofproto import nicira_ext

from apps import pipeline as pl
from apps.meters import KBPS, PKTPS, Meter

INSTRUCTION_ORDER = {"meter": 0, "apply": 1, "metadata": 2, "goto": 3}
ALL_ONES = 0xFFFFFFFFFFFFFFFF


def _port(dp, port):
    ofp = dp.ofproto
    return {"in_port": ofp.OFPP_IN_PORT, "controller": ofp.OFPP_CONTROLLER}.get(port, port)


def encode_actions(dp, actions):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    out = []
    for action in actions:
        kind = action[0]
        if kind == "output":
            out.append(parser.OFPActionOutput(_port(dp, action[1]), ofp.OFPCML_NO_BUFFER))
        elif kind == "set":
            out.append(parser.OFPActionSetField(**{action[1]: action[2]}))
        elif kind == "group":
            out.append(parser.OFPActionGroup(action[1]))
        elif kind == "move":
            out.append(parser.NXActionRegMove(src_field=action[1], dst_field=action[2],
                                              n_bits=action[3]))
        elif kind == "load":                   # ("load", field, first bit, bits, value)
            _, field, ofs, n_bits, value = action
            out.append(parser.NXActionRegLoad(
                ofs_nbits=nicira_ext.ofs_nbits(ofs, ofs + n_bits - 1), dst=field, value=value))
        elif kind == "output_reg":             # ("output_reg", field): out of the port it holds
            out.append(parser.NXActionOutputReg(ofs_nbits=nicira_ext.ofs_nbits(0, 31),
                                                src=action[1], max_len=0))
        elif kind == "conjunction":            # ("conjunction", id, k, n): clause k of n
            out.append(parser.NXActionConjunction(clause=action[2] - 1, n_clauses=action[3],
                                                  id_=action[1]))
        elif kind == "dec_ttl":
            out.append(parser.OFPActionDecNwTtl())
        elif kind == "ct":
            out.append(encode_ct(dp, *action[1:]))
        else:
            raise ValueError(f"unknown action {action!r}")
    return out


#: nicira-ext.h's NX_NAT_F_* flags (os-ken names only the range bits)
NAT_SRC, NAT_DST = 1, 2


def encode_ct(dp, commit, zone, table, nat=None, exec_=()):
    """``ct(commit?, zone=zone, table=table, nat(...), exec(...))``: ``zone`` a number or a
    register (its bits 0-15); ``table`` a pipeline table's name or None (no recirculation);
    ``nat`` None (no NAT), () (apply a connection's NAT), or ("src" | "dst", address);
    ``exec_`` actions run on commit (loads of ct_mark / ct_label)."""
    parser = dp.ofproto_parser
    actions = []
    if nat is not None:
        if nat:
            kind, ip = nat
            actions.append(parser.NXActionNAT(NAT_SRC if kind == "src" else NAT_DST,
                                              range_ipv4_min=ip, range_ipv4_max=ip))
        else:
            actions.append(parser.NXActionNAT(0))
    by_field = isinstance(zone, str)
    return parser.NXActionCT(
        flags=nicira_ext.NX_CT_F_COMMIT if commit else 0,
        zone_src=zone if by_field else None,
        zone_ofs_nbits=nicira_ext.ofs_nbits(0, 15) if by_field else zone,
        recirc_table=nicira_ext.NX_CT_RECIRC_NONE if table is None else pl.TABLES[table].number,
        alg=0, actions=actions + encode_actions(dp, exec_))


def encode_instructions(dp, instructions):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    out = []
    for ins in sorted(instructions, key=lambda i: INSTRUCTION_ORDER[i[0]]):
        if ins[0] == "goto":
            out.append(parser.OFPInstructionGotoTable(pl.TABLES[ins[1]].number))
        elif ins[0] == "metadata":
            out.append(parser.OFPInstructionWriteMetadata(ins[1], ins[2]))
        elif ins[0] == "apply":
            out.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                                    encode_actions(dp, ins[1])))
        elif ins[0] == "meter":
            out.append(parser.OFPInstructionMeter(ins[1]))
    return out


# Values os-ken would give back unchanged: lower-case MACs, dotted-quad IPv4 addresses.
_CANONICAL = {type_desc.MacAddr: re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z"),
              type_desc.IPv4Addr: re.compile(r"{0}(\.{0}){{3}}\Z".format(
                  r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"))}


@functools.lru_cache(maxsize=None)
def _field_info(ofp, name):
    return ofp.oxm_from_user_header(name), _CANONICAL.get(
        next((f.type for f in ofp.oxm_types if f.name == name), None))


def _match_field(ofp, name, value):
    """(OXM order, normalised (name, value)) of one match field, exactly as
    ``OFPMatch(**{name: value})`` computes them. A port's MAC or address is already in the
    form os-ken would normalise it to (checked by pattern); anything else takes os-ken's own
    path, memoised, since fields recur flow after flow."""
    num, canonical = _field_info(ofp, name)
    if canonical is not None and isinstance(value, str) and canonical.match(value):
        return num, (name, value)
    return _normalised_field(ofp, name, value)


@functools.lru_cache(maxsize=1 << 16)
def _normalised_field(ofp, name, value):
    name, value = ofp.oxm_normalize_user(name, value)
    num, v, mask = ofp.oxm_from_user(name, value)
    return (num[0] if isinstance(num, tuple) else num), ofp.oxm_to_user(num, v, mask)


#: Nicira fields whose prerequisite (eth_type) is an OpenFlow-basic field with a higher OXM
#: number: OVS checks a field's prerequisites as it reads it, so they go last (os-ken's order
#: by number would put nw_ttl before eth_type, and OVS refuses the match)
AFTER_PREREQUISITES = frozenset({"nw_ttl"})


def _ordered_fields(ofp, match):
    """The (OXM number, (name, value)) of ``match``'s fields in the order a switch accepts."""
    return sorted((_match_field(ofp, k, v) for k, v in match),
                  key=lambda f: (f[1][0] in AFTER_PREREQUISITES, f[0]))


def encode_match(dp, match):
    """OFPMatch for a Flow's match tuple; the same object ``OFPMatch(**dict(match))`` builds.

    os-ken gives every OFPMatch private, empty objects for its old, pre-OXM API (``_flow``:
    some forty attributes, ``_wc``), about a kilobyte per match. qnet never uses that API, so
    its matches share one empty pair: they are only read (to see that the old API was not
    used), never written."""
    parser = dp.ofproto_parser
    out = parser.OFPMatch(_ordered_fields=[f for _, f in _ordered_fields(dp.ofproto, match)])
    out._flow, out._wc = _unused_old_api(parser)
    return out


@functools.lru_cache(maxsize=None)
def _unused_old_api(parser):
    return parser.OFPMatch()._flow, parser.OFPMatch()._wc


class _RecentAdds:
    """The encoded bytes of the last ADD messages, by flow, so a flow sent to many switches is
    encoded once (flows that name no local port are identical on every switch hosting the
    network). Kept by cookie, which names a flow's content everywhere in qnet (pipeline.py)."""

    def __init__(self, size):
        self.size = size
        self.bufs = collections.OrderedDict()

    def get(self, dp, flow):
        key = (flow.cookie, dp.ofproto)
        buf = self.bufs.get(key)
        if buf is not None:
            self.bufs.move_to_end(key)
            return buf
        buf = self.bufs[key] = add_flow_bytes(dp, flow)
        if len(self.bufs) > self.size:
            self.bufs.popitem(last=False)
        return buf


def _encode_add(dp, flow):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    return parser.OFPFlowMod(dp, cookie=flow.cookie, table_id=pl.TABLES[flow.table].number,
                             command=ofp.OFPFC_ADD, priority=flow.priority,
                             match=encode_match(dp, flow.match),
                             instructions=encode_instructions(dp, flow.instructions))


def add_flow(dp, flow):
    """The ADD message of ``flow`` as an os-ken object."""
    return _encode_add(dp, flow)


# -- wire format -----------------------------------------------------------------------------------
# os-ken's serialize() costs ~45 us per flow-mod (docs/scale.md); most of it goes into building
# and walking objects for fields and instructions that recur flow after flow. So an ADD is put
# together here from the bytes of its parts, each encoded once by os-ken itself (a match field,
# an instruction) and kept: the bytes os-ken's serialize() gives, at a fraction of the cost
# (tests/unit/test_ofmsg_wire.py checks that both agree).
_FLOW_MOD = struct.Struct("!BBHIQQBBHHHIIIH2x")       # header + ofp_flow_mod up to the match
_MATCH_HEADER = struct.Struct("!HH")


class _Proto:
    """An OpenFlow version as os-ken's encoders see a datapath: its two modules."""

    def __init__(self, ofproto, ofproto_parser):
        self.ofproto, self.ofproto_parser = ofproto, ofproto_parser


@functools.lru_cache(maxsize=None)
def _proto(ofproto, ofproto_parser):
    return _Proto(ofproto, ofproto_parser)


@functools.lru_cache(maxsize=1 << 17)
def _oxm_bytes(ofp, name, value):
    """One OXM TLV of a match, as OFPMatch.serialize writes it."""
    n, v, m = ofp.oxm_from_user(name, value)
    buf = bytearray()
    ofp.oxm_serialize(n, v, m, buf, 0)
    return bytes(buf)


def _match_bytes(ofp, match):
    tlvs = _direct_tlvs(ofp, match)
    if tlvs is None:
        tlvs = b"".join(_oxm_bytes(ofp, *field) for _, field in _ordered_fields(ofp, match))
    length = 4 + len(tlvs)
    return _MATCH_HEADER.pack(ofp.OFPMT_OXM, length) + tlvs + bytes(-length % 8)


# A match's fields straight from the values the model holds. Through os-ken, every address
# goes from text to bytes through netaddr (and back to text to normalise a masked one), and
# the memo of encoded fields overflows at scale (a cold start of 100,000 ports holds millions
# of distinct addresses): docs/benchmarks.md "Where the cold start goes". A field's TLV header
# is still os-ken's (``_direct_field``); only its value is packed here, and only values in
# a form whose bytes are unambiguous (a colon-separated MAC, a dotted-quad or IPv6 address, an
# int); anything else takes os-ken's path for the whole match.
def _mac_bin(value):
    """A MAC written as six colon-separated hex pairs (any case), else None."""
    if len(value) != 17 or value[2::3] != ":::::":
        return None
    try:
        packed = bytes.fromhex(value.replace(":", ""))
    except ValueError:
        return None
    return packed if len(packed) == 6 else None     # fromhex skips blanks: "0 " is no pair


def _ip_bin(family):
    """inet_pton: strict text (a dotted quad without leading zeros, IPv6 without a prefix or
    scope), which netaddr reads to the same address; anything else is None."""
    def to_bin(value):
        try:
            return socket.inet_pton(family, value)
        except OSError:
            return None
    return to_bin


_TEXT_TO_BIN = {type_desc.MacAddr: _mac_bin, type_desc.IPv4Addr: _ip_bin(socket.AF_INET),
                type_desc.IPv6Addr: _ip_bin(socket.AF_INET6)}


@functools.lru_cache(maxsize=None)
def _direct_field(ofp, name):
    """(sort key, TLV header without a mask, with a mask, value -> bytes or None) of a field
    whose value qnet can pack itself, or None. The headers are what os-ken's own
    ``oxm_serialize`` writes before a value of the field's size."""
    field = next((f for f in ofp.oxm_types if f.name == name), None)
    if field is None or isinstance(field.num, tuple):
        return None
    kind = field.type
    if isinstance(kind, type_desc.IntDescr):
        size, top = kind.size, (1 << 8 * kind.size) - 1

        def to_bin(value):
            return (value & top).to_bytes(size, "big") if type(value) is int else None
    elif kind in _TEXT_TO_BIN:
        size, text_to_bin = kind.size, _TEXT_TO_BIN[kind]

        def to_bin(value):
            return text_to_bin(value) if type(value) is str else None
    else:
        return None
    headers = []
    for mask in (None, bytes(size)):
        buf = bytearray()
        ofp.oxm_serialize(field.num, bytes(size), mask, buf, 0)
        headers.append(bytes(buf[:len(buf) - size * (1 if mask is None else 2)]))
    return (name in AFTER_PREREQUISITES, field.num), headers[0], headers[1], to_bin


def _direct_tlv(ofp, name, value):
    """(sort key, TLV) of one field, or None when os-ken must encode it. A masked value is
    ANDed with its mask, as os-ken normalises it."""
    spec = _direct_field(ofp, name)
    if spec is None:
        return None
    key, plain, masked, to_bin = spec
    if type(value) is tuple:
        if len(value) != 2:
            return None
        v, m = to_bin(value[0]), to_bin(value[1])
        if v is None or m is None:
            return None
        v = (int.from_bytes(v, "big") & int.from_bytes(m, "big")).to_bytes(len(v), "big")
        return key, masked + v + m
    v = to_bin(value)
    return None if v is None else (key, plain + v)


@functools.lru_cache(maxsize=None)
def _recent_tlvs(ofp):
    """(sort key, TLV) of recent fields, by the (name, value) pair of a Flow's match: a port's
    MAC and addresses recur in its dozen port-security flows, ``eth_type`` in most. Cleared
    when full, so it stays small however many addresses a cold start sends."""
    return {}


def _direct_tlvs(ofp, match):
    """The TLVs of ``match`` in the order a switch accepts, or None (os-ken's path)."""
    recent = _recent_tlvs(ofp)
    if len(recent) >= 1 << 16:
        recent.clear()
    tlvs = []
    for field in match:
        tlv = recent.get(field)
        if tlv is None:
            tlv = _direct_tlv(ofp, *field)
            if tlv is None:
                return None
            recent[field] = tlv
        tlvs.append(tlv)
    tlvs.sort(key=_first)
    return b"".join(t for _, t in tlvs)


def _first(pair):
    return pair[0]


@functools.lru_cache(maxsize=1 << 16)
def _instruction_bytes(proto, ins):
    if ins[0] == "apply":
        return _apply_bytes(proto, ins[1])
    (obj,) = encode_instructions(proto, (ins,))
    buf = bytearray()
    obj.serialize(buf, 0)
    return bytes(buf)


_INSTRUCTION_ACTIONS = struct.Struct("!HH4x")
_ACTION_HEADER = struct.Struct("!HH")


def _apply_bytes(proto, actions):
    """An apply-actions instruction, as OFPInstructionActions.serialize writes it, from the
    bytes of its actions: an ARP answer's actions set the port's own MAC and address, so most
    such instructions are new, and os-ken builds and serialises an object per action."""
    ofp = proto.ofproto
    body = b"".join([_action_bytes(proto, action) for action in actions])
    length = _INSTRUCTION_ACTIONS.size + len(body)
    pad = -length % 8
    return _INSTRUCTION_ACTIONS.pack(ofp.OFPIT_APPLY_ACTIONS, length + pad) + body + bytes(pad)


def _action_bytes(proto, action):
    """One action: a set-field from its field's TLV (``_direct_tlv``), padded to 8 bytes as
    OFPActionSetField.serialize pads it; any other, os-ken's bytes, kept."""
    if action[0] == "set" and type(action[2]) is not tuple:
        tlv = _direct_tlv(proto.ofproto, action[1], action[2])
        if tlv is not None:
            length = _ACTION_HEADER.size + len(tlv[1])
            padded = length + -length % 8
            return (_ACTION_HEADER.pack(proto.ofproto.OFPAT_SET_FIELD, padded) + tlv[1] +
                    bytes(padded - length))
    try:
        return _os_ken_action_bytes(proto, action)
    except TypeError:        # an action that cannot be a cache key: encoded afresh
        return _os_ken_action_bytes.__wrapped__(proto, action)


@functools.lru_cache(maxsize=1 << 12)
def _os_ken_action_bytes(proto, action):
    (obj,) = encode_actions(proto, (action,))
    buf = bytearray()
    obj.serialize(buf, 0)
    return bytes(buf)


def add_flow_bytes(dp, flow, xid=0):
    """The ADD flow-mod of ``flow`` on the wire: what ``add_flow(dp, flow)`` serialises to."""
    ofp = dp.ofproto
    proto = _proto(ofp, dp.ofproto_parser)
    ordered = sorted(flow.instructions, key=lambda i: INSTRUCTION_ORDER[i[0]])
    try:
        body = b"".join(_instruction_bytes(proto, ins) for ins in ordered)
    except TypeError:        # an instruction that cannot be a cache key: encoded afresh
        body = b"".join(_instruction_bytes.__wrapped__(proto, ins) for ins in ordered)
    body = _match_bytes(ofp, flow.match) + body
    return _FLOW_MOD.pack(ofp.OFP_VERSION, ofp.OFPT_FLOW_MOD, _FLOW_MOD.size + len(body), xid,
                          flow.cookie, 0, pl.TABLES[flow.table].number, ofp.OFPFC_ADD, 0, 0,
                          flow.priority, ofp.OFP_NO_BUFFER, 0, 0, 0) + body


def message_bytes(msg):
    """An os-ken message on the wire (xid 0 unless it has one)."""
    msg.serialize()
    return bytes(msg.buf)


def delete_flow(dp, table_id, priority, match, cookie):
    """Delete exactly one flow: same table, priority, match *and* cookie, so a newer flow that
    replaced it under the same match (with another cookie) survives."""
    parser, ofp = dp.ofproto_parser, dp.ofproto
    return parser.OFPFlowMod(dp, cookie=cookie, cookie_mask=ALL_ONES, table_id=table_id,
                             command=ofp.OFPFC_DELETE_STRICT, priority=priority, match=match,
                             out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY)


def group_mod(dp, group, command):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    buckets = [parser.OFPBucket(actions=encode_actions(dp, b)) for b in group.buckets]
    return parser.OFPGroupMod(dp, command=command, type_=ofp.OFPGT_ALL,
                              group_id=group.group_id, buckets=buckets)


def meter_mod(dp, meter, command):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    unit = ofp.OFPMF_PKTPS if meter.unit == PKTPS else ofp.OFPMF_KBPS
    return parser.OFPMeterMod(
        dp, command=command, flags=unit | ofp.OFPMF_BURST | ofp.OFPMF_STATS,
        meter_id=meter.meter_id,
        bands=[parser.OFPMeterBandDrop(rate=meter.rate_kbps, burst_size=meter.burst_kbits)])


def delete_meter(dp, meter_id):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    return parser.OFPMeterMod(dp, command=ofp.OFPMC_DELETE, meter_id=meter_id)


def meter_from_config(dp, stat):
    """The Meter a switch's meter config describes, or None if qnet would not have made it
    that way (it will be rewritten)."""
    ofp = dp.ofproto
    unit = {ofp.OFPMF_KBPS: KBPS, ofp.OFPMF_PKTPS: PKTPS}.get(
        stat.flags & (ofp.OFPMF_KBPS | ofp.OFPMF_PKTPS))
    bands = list(stat.bands or [])
    if unit is None or not stat.flags & ofp.OFPMF_BURST or \
            stat.flags & ~(ofp.OFPMF_KBPS | ofp.OFPMF_PKTPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS) \
            or len(bands) != 1 or bands[0].type != ofp.OFPMBT_DROP:
        return None
    return Meter(stat.meter_id, bands[0].rate, bands[0].burst_size, unit)


def delete_group(dp, group_id):
    parser, ofp = dp.ofproto_parser, dp.ofproto
    return parser.OFPGroupMod(dp, command=ofp.OFPGC_DELETE, type_=ofp.OFPGT_ALL,
                              group_id=group_id)


class Installed:
    """What a switch holds, as far as qnet knows: flows by cookie, groups and meters by id.

    A flow is (table_id, priority, match) where match is a Flow's match tuple (flows we sent)
    or an os-ken OFPMatch (flows read back from the switch after a reconnect). A group is its
    Group value, or None when read back (content unknown: it will be rewritten if wanted). A
    meter is its Meter value (read back exactly from the meter config), or None when it is
    not one qnet would make.
    """

    def __init__(self, flows=None, groups=None, meters=None):
        self.flows = dict(flows or {})
        self.groups = dict(groups or {})
        self.meters = dict(meters or {})

    @classmethod
    def from_state(cls, state, kept=None):
        """What a switch holds after ``diff`` took it to ``state``; with ``kept`` (the
        Installed before an unpruned diff), its flows, groups and meters left in place."""
        flows = dict(kept.flows) if kept else {}
        groups = dict(kept.groups) if kept else {}
        meters = dict(kept.meters) if kept else {}
        flows.update((c, (pl.TABLES[f.table].number, f.priority, f.match))
                     for c, f in state.flows.items())
        groups.update(state.groups)
        meters.update(state.meters)
        return cls(flows, groups, meters)


@dataclasses.dataclass
class Delta:
    """What to change on one switch, in the order it must be sent."""

    groups: list = dataclasses.field(default_factory=list)   # (Group, already there?)
    adds: list = dataclasses.field(default_factory=list)     # Flow
    deletes: list = dataclasses.field(default_factory=list)  # (table_id, priority, match, cookie)
    group_deletes: list = dataclasses.field(default_factory=list)   # group ids
    meters: list = dataclasses.field(default_factory=list)   # (Meter, already there?)
    meter_deletes: list = dataclasses.field(default_factory=list)   # meter ids

    def __len__(self):
        return (len(self.groups) + len(self.adds) + len(self.deletes) + len(self.group_deletes)
                + len(self.meters) + len(self.meter_deletes))


def changes(installed, desired, prune=True):
    """The Delta that takes ``installed`` (an Installed) to ``desired`` (a flows.SwitchState).
    With ``prune=False`` nothing is deleted: flows, groups and meters not desired stay."""
    delta = Delta()
    for mid, meter in sorted(desired.meters.items()):
        if mid not in installed.meters:
            delta.meters.append((meter, False))
        elif installed.meters[mid] != meter:
            delta.meters.append((meter, True))
    for gid, group in sorted(desired.groups.items()):
        if gid not in installed.groups:
            delta.groups.append((group, False))
        elif installed.groups[gid] != group:
            delta.groups.append((group, True))
    delta.adds = [flow for cookie, flow in desired.flows.items() if cookie not in installed.flows]
    if prune:
        delta.deletes = [(table_id, priority, match, cookie)
                         for cookie, (table_id, priority, match) in installed.flows.items()
                         if cookie not in desired.flows]
        delta.group_deletes = sorted(set(installed.groups) - set(desired.groups))
        delta.meter_deletes = sorted(set(installed.meters) - set(desired.meters))
    return delta


def messages(dp, delta):
    """The messages that carry out ``delta``, one at a time (a cold start sends hundreds of
    thousands to a switch: they are built as they are sent, never all held at once): meters
    and groups before the flows that use them, deletions of flows before the groups and meters
    they used. The caller ends with a barrier."""
    ofp = dp.ofproto
    for meter, there in delta.meters:
        yield meter_mod(dp, meter, ofp.OFPMC_MODIFY if there else ofp.OFPMC_ADD)
    for group, there in delta.groups:
        yield group_mod(dp, group, ofp.OFPGC_MODIFY if there else ofp.OFPGC_ADD)
    for flow in delta.adds:
        yield add_flow(dp, flow)
    for table_id, priority, match, cookie in delta.deletes:
        if isinstance(match, tuple):
            match = encode_match(dp, match)
        yield delete_flow(dp, table_id, priority, match, cookie)
    for gid in delta.group_deletes:
        yield delete_group(dp, gid)
    for mid in delta.meter_deletes:
        yield delete_meter(dp, mid)


_RECENT_ADDS = _RecentAdds(1 << 16)


def wire(dp, delta, chunk=1 << 16):
    """What ``messages(dp, delta)`` carries, in the same order, as bytes joined into chunks of
    about ``chunk`` bytes (xid 0): one socket write per chunk instead of one per message, and
    each ADD encoded once for all the switches that get it (``_RecentAdds``)."""
    ofp = dp.ofproto
    buf = bytearray()
    for meter, there in delta.meters:
        buf += message_bytes(meter_mod(dp, meter, ofp.OFPMC_MODIFY if there else ofp.OFPMC_ADD))
    for group, there in delta.groups:
        buf += message_bytes(group_mod(dp, group, ofp.OFPGC_MODIFY if there else ofp.OFPGC_ADD))
    for flow in delta.adds:
        buf += _RECENT_ADDS.get(dp, flow)
        if len(buf) >= chunk:
            yield bytes(buf)
            buf.clear()
    for table_id, priority, match, cookie in delta.deletes:
        if isinstance(match, tuple):
            match = encode_match(dp, match)
        buf += message_bytes(delete_flow(dp, table_id, priority, match, cookie))
        if len(buf) >= chunk:
            yield bytes(buf)
            buf.clear()
    for gid in delta.group_deletes:
        buf += message_bytes(delete_group(dp, gid))
    for mid in delta.meter_deletes:
        buf += message_bytes(delete_meter(dp, mid))
    if buf:
        yield bytes(buf)


def diff(dp, installed, desired, prune=True):
    """Messages that take ``installed`` to ``desired`` (a flows.SwitchState), plus a barrier
    (nothing at all when they agree). With ``prune=False`` nothing is deleted: flows and
    groups not desired stay in place."""
    msgs = list(messages(dp, changes(installed, desired, prune)))
    return msgs + [dp.ofproto_parser.OFPBarrierRequest(dp)] if msgs else msgs
