"""How the switch model refuses a message: the error it records and replies with.

A refused message leaves the switch untouched; the switch records a ``SwitchError``, replies
with an ``OFPErrorMsg``, or raises ``OFError`` when built with ``raise_errors=True``.
"""
import collections

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser
from os_ken.ofproto import ofproto_v1_4

SwitchError = collections.namedtuple('SwitchError', 'type code type_name code_name msg text')


class OFError(Exception):
    """Raised by SwitchModel.apply when raise_errors=True; .error is the SwitchError."""

    def __init__(self, error):
        super().__init__('%s/%s: %s' % (error.type_name, error.code_name, error.text))
        self.error = error


class Reject(Exception):
    """Raised inside the model where a check fails; the switch turns it into its error."""

    def __init__(self, type_name, code_name, text):
        super().__init__(text)
        self.type_name, self.code_name, self.text = type_name, code_name, text


def _err_const(name):
    # OFPBIC_DUP_INST only got a number in OF1.4 (OVS sends it on OF1.3 connections too)
    return getattr(ofp, name) if hasattr(ofp, name) else getattr(ofproto_v1_4, name)


def switch_error(msg, rej):
    """The SwitchError for message `msg` refused with `rej`."""
    return SwitchError(_err_const(rej.type_name), _err_const(rej.code_name),
                       rej.type_name, rej.code_name, msg, rej.text)


def error_reply(msg, err):
    """The OFPErrorMsg a switch sends back for `msg` (its text kept on .text for assertions)."""
    reply = parser.OFPErrorMsg(None, type_=err.type, code=err.code, data=b'')
    reply.xid = getattr(msg, 'xid', None)
    reply.text = err.text
    return reply
