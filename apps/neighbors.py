"""External neighbours: the MACs of the hosts beyond a router's gateway, learned with ARP.

Ports' MACs come from the model, but the next hop on an external network (its subnet's
gateway, or an outside host on it) is no port: like OVN's ``MAC_Binding``, the controller
learns it. ARP requests for a gateway or floating IP, and replies to them, reach the
controller from the physical port (apps/l3.py ``_answer_arp``, ``_learn_replies``); a packet
whose next hop is still unknown reaches it from ``external_out``, and the controller asks
for that next hop with an ARP request out of the same physical port. The packet itself is
dropped (TCP retransmits; a ping's next echo goes through).
"""
import struct

import netaddr
from os_ken.lib.packet import arp, ethernet, ipv4, packet

from apps import pipeline as pl

BROADCAST = "ff:ff:ff:ff:ff:ff"
NX_VENDOR_ID, NXT_CT_FLUSH_ZONE = 0x00002320, 29      # nicira-ext.h


def arp_sender(data):
    """(operation, sender MAC, sender IP) of an ARP frame, or None for any other frame."""
    pkt = packet.Packet(bytes(data))
    frame = pkt.get_protocol(arp.arp)
    if frame is None or frame.src_ip == "0.0.0.0":
        return None
    return frame.opcode, frame.src_mac, frame.src_ip


def unresolved(data, match):
    """(MAC and IPv4 address to ask from, next hop to ask for) of a packet ``external_out``
    sent up because its next hop (reg3) is unknown; None if it is not such a packet."""
    pkt = packet.Packet(bytes(data))
    eth, ip = pkt.get_protocol(ethernet.ethernet), pkt.get_protocol(ipv4.ipv4)
    hop = match.get(pl.NEXT_HOP_REG)
    if eth is None or ip is None or not hop:
        return None
    return eth.src, ip.src, str(netaddr.IPAddress(hop))


def flush_zone(dp, zone):
    """Open vSwitch's NXT_CT_FLUSH_ZONE (``ovs-ofctl ct-flush-zone``, which os-ken does not
    name): forget the connections of a conntrack zone, e.g. a deleted router's."""
    parser = dp.ofproto_parser
    return parser.OFPExperimenter(dp, experimenter=NX_VENDOR_ID, exp_type=NXT_CT_FLUSH_ZONE,
                                  data=struct.pack("!6xH", zone))


def arp_request(src_mac, src_ip, target_ip):
    """The bytes of a broadcast ARP request for ``target_ip``; for its own ``src_ip`` it is
    a gratuitous ARP, which the hypervisor a floating IP or gateway moved to sends so the
    outside's switches and neighbours learn where it is now (as Neutron's L3 agents do)."""
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(BROADCAST, src_mac, ethernet.ether.ETH_TYPE_ARP))
    pkt.add_protocol(arp.arp(opcode=arp.ARP_REQUEST, src_mac=src_mac, src_ip=src_ip,
                             dst_mac="00:00:00:00:00:00", dst_ip=target_ip))
    pkt.serialize()
    return bytes(pkt.data)
