"""LLDP frames that say "I left switch DPID through port N" (link discovery).

The controller sends one out of every port of every switch; when a switch hands one back in a
packet-in, the link (sender dpid, sender port) -> (receiver dpid, in port) exists. The chassis
id carries the dpid as "dpid:<16 hex digits>" (the convention of os-ken's topology app), the
port id the port number (4 bytes, big endian).
"""
import struct

from os_ken.lib.packet import ethernet, lldp, packet

LLDP_MAC_NEAREST_BRIDGE = "01:80:c2:00:00:0e"
CHASSIS_PREFIX = b"dpid:"
TTL_SECONDS = 120


def build(dpid, port_no, src_mac="02:71:6e:65:74:02"):
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(LLDP_MAC_NEAREST_BRIDGE, src_mac,
                                       ethernet.ether.ETH_TYPE_LLDP))
    pkt.add_protocol(lldp.lldp([
        lldp.ChassisID(subtype=lldp.ChassisID.SUB_LOCALLY_ASSIGNED,
                       chassis_id=CHASSIS_PREFIX + b"%016x" % dpid),
        lldp.PortID(subtype=lldp.PortID.SUB_PORT_COMPONENT,
                    port_id=struct.pack("!I", port_no)),
        lldp.TTL(ttl=TTL_SECONDS),
        lldp.End()]))
    pkt.serialize()
    return bytes(pkt.data)


def parse(data):
    """(dpid, port number) of a frame built by ``build``, or None for anything else."""
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
    return dpid, struct.unpack("!I", port.port_id)[0]
