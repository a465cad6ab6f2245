"""A switch model behind the face of an os-ken Datapath, so controller code runs against it
unchanged: ``send_msg`` applies the message at once and hands back the replies."""
import collections
import struct

from os_ken.ofproto import ofproto_parser
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser


class ModelDatapath:
    """What the controller uses of os_ken.controller.controller.Datapath, backed by a
    SwitchModel.

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
        return self._apply(msg, close_socket)

    def send(self, buf, close_socket=False):
        """Raw bytes, as os-ken's Datapath.send takes them: read back into messages as a
        switch reads its socket (``read_messages``), then applied in order."""
        if not self.is_active:
            return False
        for msg in read_messages(self, buf):
            self._apply(msg, False)
        if close_socket:
            self.close()
        return True

    def _apply(self, msg, close_socket):
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
        return '<ModelDatapath id=%s sent=%d>' % (self.id, self.sent_count())


def read_messages(dp, buf):
    """The OpenFlow messages in ``buf``, decoded as a switch would: os-ken's own parser, and
    ours for the two it lacks (a controller never receives them)."""
    buf = bytes(buf)
    offset = 0
    while offset < len(buf):
        version, msg_type, msg_len, xid = struct.unpack_from(ofp.OFP_HEADER_PACK_STR, buf,
                                                             offset)
        if msg_len < ofp.OFP_HEADER_SIZE or offset + msg_len > len(buf):
            raise ValueError('truncated OpenFlow message at byte %d' % offset)
        data = buf[offset:offset + msg_len]
        own = _PARSERS.get(msg_type)
        msg = own(dp, data) if own else ofproto_parser.msg(dp, version, msg_type, msg_len,
                                                           xid, data)
        msg.xid = xid
        offset += msg_len
        yield msg


# Messages a switch reads that os-ken has no parser for (it only ever sends them).
def _parse_group_mod(dp, data):
    command, type_, group_id = struct.unpack_from('!HBxI', data, ofp.OFP_HEADER_SIZE)
    buckets, offset = [], ofp.OFP_GROUP_MOD_SIZE
    while offset < len(data):
        bucket = parser.OFPBucket.parser(data, offset)
        buckets.append(parser.OFPBucket(bucket.weight, bucket.watch_port, bucket.watch_group,
                                        bucket.actions))     # as the controller builds one
        offset += bucket.len
    return parser.OFPGroupMod(dp, command, type_, group_id, buckets)


def _parse_meter_mod(dp, data):
    command, flags, meter_id = struct.unpack_from('!HHI', data, ofp.OFP_HEADER_SIZE)
    bands, offset = [], ofp.OFP_METER_MOD_SIZE
    while offset < len(data):
        band = parser.OFPMeterBandHeader.parser(data, offset)
        bands.append(band)
        offset += band.len
    return parser.OFPMeterMod(dp, command, flags, meter_id, bands)


_PARSERS = {ofp.OFPT_GROUP_MOD: _parse_group_mod, ofp.OFPT_METER_MOD: _parse_meter_mod}
