"""LLDP frames that say "I left switch DPID through port N" (link discovery), signed.

The controller sends one out of every port of every switch that no host port binding claims;
when a switch hands one back in a packet-in, the sender (dpid, port) has reached the receiver
(dpid, in port). The chassis id carries the dpid as "dpid:<16 hex digits>" (the convention of
os-ken's topology app), the port id the port number (4 bytes, big endian).

A host can send LLDP too. So that it cannot claim to be a switch, every frame carries a
signature in an organizationally specific TLV: an HMAC of the sender (dpid, port) under a key
only the controller knows (a new one each run, ``new_key``). A frame without a valid signature
is not ours; a captured frame only ever vouches for the port it was sent from, and the
controller does not send any out of bound host ports (apps/fabric.py).
"""
import hashlib
import hmac
import os
import struct

from os_ken.lib.packet import ethernet, lldp, packet

LLDP_MAC_NEAREST_BRIDGE = "01:80:c2:00:00:0e"
CHASSIS_PREFIX = b"dpid:"
TTL_SECONDS = 120
#: organizationally specific TLV of the signature: a locally administered OUI ("\x02qn")
SIGNATURE_OUI, SIGNATURE_SUBTYPE = b"\x02qn", 1
SIGNATURE_BYTES = 16


def new_key():
    """A fresh signing key (one per controller run)."""
    return os.urandom(32)


def signature(key, dpid, port_no):
    return hmac.new(key, struct.pack("!QI", dpid, port_no),
                    hashlib.sha256).digest()[:SIGNATURE_BYTES]


def build(key, dpid, port_no, src_mac="02:71:6e:65:74:02"):
    """The frame the controller sends out of ``dpid``'s port ``port_no``, signed with ``key``."""
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(LLDP_MAC_NEAREST_BRIDGE, src_mac,
                                       ethernet.ether.ETH_TYPE_LLDP))
    pkt.add_protocol(lldp.lldp([
        lldp.ChassisID(subtype=lldp.ChassisID.SUB_LOCALLY_ASSIGNED,
                       chassis_id=CHASSIS_PREFIX + b"%016x" % dpid),
        lldp.PortID(subtype=lldp.PortID.SUB_PORT_COMPONENT,
                    port_id=struct.pack("!I", port_no)),
        lldp.TTL(ttl=TTL_SECONDS),
        lldp.OrganizationallySpecific(oui=SIGNATURE_OUI, subtype=SIGNATURE_SUBTYPE,
                                      info=signature(key, dpid, port_no)),
        lldp.End()]))
    pkt.serialize()
    return bytes(pkt.data)


def parse(key, data):
    """(dpid, port number) of a frame ``build`` signed with ``key``, or None for anything
    else (not LLDP, not in our shape, unsigned or signed with another key)."""
    try:
        pkt = packet.Packet(bytes(data))
    except Exception:          # a malformed frame from the wire is not ours
        return None
    msg = pkt.get_protocol(lldp.lldp)
    if msg is None or len(msg.tlvs) < 2:
        return None
    chassis, port = msg.tlvs[0], msg.tlvs[1]
    if not isinstance(chassis, lldp.ChassisID) or not isinstance(port, lldp.PortID) or \
            not chassis.chassis_id.startswith(CHASSIS_PREFIX) or len(port.port_id) != 4:
        return None
    try:
        dpid = int(chassis.chassis_id[len(CHASSIS_PREFIX):], 16)
    except ValueError:
        return None
    port_no = struct.unpack("!I", port.port_id)[0]
    signed = [t.info for t in msg.tlvs if isinstance(t, lldp.OrganizationallySpecific) and
              t.oui == SIGNATURE_OUI and t.subtype == SIGNATURE_SUBTYPE]
    if len(signed) != 1 or not hmac.compare_digest(signed[0], signature(key, dpid, port_no)):
        return None
    return dpid, port_no
