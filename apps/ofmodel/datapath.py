"""A switch model behind the face of an os-ken Datapath, so controller code runs against it
unchanged: ``send_msg`` applies the message at once and hands back the replies."""
import collections

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
