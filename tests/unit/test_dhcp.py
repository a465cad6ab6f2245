"""The controller's DHCP responder: real client frames built with os_ken.lib.packet go in, the
reply is parsed back with os_ken.lib.packet and every field, option byte and checksum is checked."""
import dataclasses
import random
import struct

import pytest
from os_ken.lib.packet import arp, dhcp, ethernet, ipv4, packet, tcp, udp

from apps import dhcp as responder
from apps.dhcp import ACK, DECLINE, DISCOVER, INFORM, NAK, OFFER, RELEASE, REQUEST, Lease

VM_MAC = "fa:16:3e:12:34:56"
SERVER_MAC = "fa:16:3e:00:00:01"
LEASE = Lease(mac=VM_MAC, ip="10.0.0.5", prefixlen=24, gateway="10.0.0.1",
              dns=("10.0.0.2", "8.8.8.8"), server_ip="10.0.0.1", server_mac=SERVER_MAC,
              hostname="vm-1", domain="openstacklocal")
ROUTED = dataclasses.replace(LEASE, host_routes=(("10.8.0.0/16", "10.0.0.254"),))


def leases(*known):
    table = {lease.mac: lease for lease in known or (LEASE,)}
    return table.get


def client_frame(mtype, mac=VM_MAC, xid=0x3903F326, flags=0, ciaddr="0.0.0.0", requested=None,
                 server_id=None, src_ip="0.0.0.0", dst_ip="255.255.255.255", sport=68, dport=67,
                 op=dhcp.DHCP_BOOT_REQUEST, chaddr=None, giaddr="0.0.0.0", raw_options=None):
    """A DHCP client frame as a VM sends it (parameter request list included, like dhclient)."""
    opts = [dhcp.option(53, bytes([mtype]))]
    if requested:
        opts.append(dhcp.option(50, ipv4_bytes(requested)))
    if server_id:
        opts.append(dhcp.option(54, ipv4_bytes(server_id)))
    opts.append(dhcp.option(55, bytes([1, 3, 6, 12, 15, 26, 28, 121])))
    if raw_options is not None:
        opts = [raw_options]  # after the cookie os-ken writes; no END added after raw bytes
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst="ff:ff:ff:ff:ff:ff", src=mac, ethertype=0x0800))
    pkt.add_protocol(ipv4.ipv4(src=src_ip, dst=dst_ip, proto=17))
    pkt.add_protocol(udp.udp(src_port=sport, dst_port=dport))
    pkt.add_protocol(dhcp.dhcp(op=op, chaddr=chaddr or mac, xid=xid, flags=flags, ciaddr=ciaddr,
                               giaddr=giaddr, options=dhcp.options(opts)))
    pkt.serialize()
    return bytes(pkt.data)


def ipv4_bytes(addr):
    return bytes(int(x) for x in addr.split("."))


def ones_complement_sum(data):
    """RFC 1071, written out here rather than borrowed from os-ken, whose output is under test."""
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


class Reply:
    """A parsed reply frame: headers, options as {tag: bytes} (RFC 3396 parts joined), raw bytes."""

    def __init__(self, frame):
        self.raw = frame
        pkt = packet.Packet(frame)
        self.eth = pkt.get_protocol(ethernet.ethernet)
        self.ip = pkt.get_protocol(ipv4.ipv4)
        self.udp = pkt.get_protocol(udp.udp)
        self.dhcp = pkt.get_protocol(dhcp.dhcp)
        assert None not in (self.eth, self.ip, self.udp, self.dhcp)
        self.tags = [o.tag for o in self.dhcp.options.option_list]
        self.opts = {}
        for o in self.dhcp.options.option_list:
            self.opts[o.tag] = self.opts.get(o.tag, b"") + o.value

    @property
    def mtype(self):
        return self.opts[53][0]

    def u32(self, tag):
        return struct.unpack("!I", self.opts[tag])[0]

    def addrs(self, tag):
        v = self.opts[tag]
        return [".".join(str(b) for b in v[i:i + 4]) for i in range(0, len(v), 4)]


def answer(frame, lookup=None):
    out = responder.handle_dhcp(frame, lookup or leases())
    assert out is not None
    assert isinstance(out, bytes)
    return Reply(out)


def assert_checksums(r):
    ip_hdr = r.raw[14:14 + r.ip.header_length * 4]
    assert ones_complement_sum(ip_hdr) == 0xFFFF
    segment = r.raw[14 + len(ip_hdr):14 + r.ip.total_length]
    assert len(segment) == r.udp.total_length == r.ip.total_length - len(ip_hdr)
    assert r.udp.csum != 0  # 0 would mean "no checksum": os-ken must have filled it in
    pseudo = ipv4_bytes(r.ip.src) + ipv4_bytes(r.ip.dst) + struct.pack("!BBH", 0, 17, len(segment))
    assert ones_complement_sum(pseudo + segment) == 0xFFFF


def assert_common(r, mtype, xid=0x3903F326, flags=0):
    assert r.eth.src == SERVER_MAC and r.eth.ethertype == 0x0800
    assert r.ip.src == "10.0.0.1" and r.ip.proto == 17 and r.ip.version == 4
    assert (r.udp.src_port, r.udp.dst_port) == (67, 68)
    assert r.dhcp.op == dhcp.DHCP_BOOT_REPLY and r.dhcp.htype == 1 and r.dhcp.hlen == 6
    assert r.dhcp.xid == xid and r.dhcp.flags == flags and r.dhcp.chaddr == VM_MAC
    assert r.dhcp.siaddr == "0.0.0.0" and r.dhcp.giaddr == "0.0.0.0"
    assert r.dhcp.options.magic_cookie == "99.130.83.99"
    assert r.tags[:2] == [53, 54] and r.mtype == mtype
    assert r.addrs(54) == ["10.0.0.1"]
    assert r.udp.total_length - 8 >= 300  # BOOTP minimum, padded after END
    assert_checksums(r)


def assert_full_config(r, lease_times=True):
    assert r.addrs(1) == ["255.255.255.0"]
    assert r.addrs(3) == ["10.0.0.1"]
    assert r.addrs(6) == ["10.0.0.2", "8.8.8.8"]
    assert r.opts[26] == b"\x05\xaa" and struct.unpack("!H", r.opts[26])[0] == 1450
    assert r.opts[12] == b"vm-1" and r.opts[15] == b"openstacklocal"
    if lease_times:
        assert (r.u32(51), r.u32(58), r.u32(59)) == (86400, 43200, 75600)
    else:
        assert not {51, 58, 59} & set(r.opts)


def test_discover_gets_an_offer_with_every_option():
    r = answer(client_frame(DISCOVER))
    assert_common(r, OFFER)
    assert r.dhcp.yiaddr == "10.0.0.5" and r.dhcp.ciaddr == "0.0.0.0"
    assert r.eth.dst == VM_MAC and r.ip.dst == "10.0.0.5"  # no broadcast flag: unicast
    assert_full_config(r)
    assert 121 not in r.opts  # no host routes: option 3 alone carries the default route
    assert r.tags == [53, 54, 51, 58, 59, 1, 3, 6, 26, 12, 15]


def test_broadcast_flag_makes_the_reply_broadcast_and_is_copied():
    r = answer(client_frame(DISCOVER, flags=0x8000))
    assert_common(r, OFFER, flags=0x8000)
    assert r.eth.dst == "ff:ff:ff:ff:ff:ff" and r.ip.dst == "255.255.255.255"
    assert r.dhcp.yiaddr == "10.0.0.5"


def test_request_for_the_offered_address_is_acked():
    r = answer(client_frame(REQUEST, requested="10.0.0.5", server_id="10.0.0.1", xid=7))
    assert_common(r, ACK, xid=7)
    assert r.dhcp.yiaddr == "10.0.0.5" and r.ip.dst == "10.0.0.5" and r.eth.dst == VM_MAC
    assert_full_config(r)


def test_renewal_by_ciaddr_is_acked_unicast_to_ciaddr():
    r = answer(client_frame(REQUEST, ciaddr="10.0.0.5", src_ip="10.0.0.5", dst_ip="10.0.0.1"))
    assert_common(r, ACK)
    assert r.dhcp.ciaddr == "10.0.0.5" and r.dhcp.yiaddr == "10.0.0.5"
    assert r.ip.dst == "10.0.0.5" and r.eth.dst == VM_MAC


def test_request_naming_no_address_is_acked():
    r = answer(client_frame(REQUEST))
    assert_common(r, ACK)
    assert r.dhcp.yiaddr == "10.0.0.5"


@pytest.mark.parametrize("kwargs", [
    {"requested": "10.0.0.99"},                    # INIT-REBOOT after the port's IP changed
    {"requested": "10.0.0.99", "server_id": "10.0.0.1"},
    {"ciaddr": "192.168.1.7", "src_ip": "192.168.1.7"},  # renewing an address we never gave
])
def test_request_for_another_address_is_naked_by_broadcast(kwargs):
    r = answer(client_frame(REQUEST, **kwargs))
    assert_common(r, NAK)
    assert r.dhcp.yiaddr == "0.0.0.0" and r.dhcp.ciaddr == "0.0.0.0"
    assert r.eth.dst == "ff:ff:ff:ff:ff:ff" and r.ip.dst == "255.255.255.255"
    assert r.tags == [53, 54]  # a NAK carries no configuration


def test_request_for_another_servers_offer_gets_no_answer():
    assert responder.handle_dhcp(
        client_frame(REQUEST, requested="10.0.0.5", server_id="10.0.0.3"), leases()) is None


def test_inform_gets_configuration_without_address_or_lease_times():
    r = answer(client_frame(INFORM, ciaddr="10.0.0.5", src_ip="10.0.0.5"))
    assert_common(r, ACK)
    assert r.dhcp.yiaddr == "0.0.0.0" and r.dhcp.ciaddr == "10.0.0.5"
    assert r.ip.dst == "10.0.0.5" and r.eth.dst == VM_MAC
    assert_full_config(r, lease_times=False)


def test_option_121_is_byte_exact_and_carries_the_default_route():
    r = answer(client_frame(DISCOVER), leases(ROUTED))
    assert r.opts[121] == bytes([16, 10, 8, 10, 0, 0, 254,   # 10.8.0.0/16 via 10.0.0.254
                                 0, 10, 0, 0, 1])           # 0.0.0.0/0 via the gateway
    assert r.addrs(3) == ["10.0.0.1"]  # still sent, for clients without 121
    assert r.tags.index(121) > r.tags.index(26)
    assert_checksums(r)


@pytest.mark.parametrize("routes, gateway, encoded", [
    ([("0.0.0.0/0", "10.0.0.9")], "10.0.0.1", "00 0a000009"),  # explicit default wins
    ([("10.0.0.0/8", "1.2.3.4")], None, "08 0a 01020304"),     # no gateway: no default
    ([("192.168.7.0/24", "10.0.0.254")], None, "18 c0a807 0a0000fe"),
    ([("172.16.128.0/17", "10.0.0.254")], None, "11 ac1080 0a0000fe"),
    ([("172.16.0.128/25", "10.0.0.254")], None, "19 ac100080 0a0000fe"),
    ([("10.1.2.3/32", "0.0.0.0")], None, "20 0a010203 00000000"),  # on-link host route
    ([["10.9.0.0/16", "10.0.0.254"]], "10.0.0.1", "10 0a09 0a0000fe 00 0a000001"),
])
def test_classless_routes_encoding(routes, gateway, encoded):
    assert responder.classless_routes(routes, gateway) == bytes.fromhex(encoded.replace(" ", ""))


def test_options_longer_than_255_bytes_are_split_rfc3396():
    routes = tuple((f"10.{i}.0.0/16", "10.0.0.254") for i in range(50))  # 50 * 7 + 5 bytes
    r = answer(client_frame(DISCOVER), leases(dataclasses.replace(LEASE, host_routes=routes)))
    parts = [o.value for o in r.dhcp.options.option_list if o.tag == 121]
    assert [len(p) for p in parts] == [255, 100]
    assert r.opts[121] == responder.classless_routes(routes, "10.0.0.1")
    assert_checksums(r)


def test_optional_options_follow_the_lease():
    bare = Lease(mac=VM_MAC, ip="172.16.5.200", prefixlen=20, gateway=None, mtu=9000,
                 lease_seconds=3600, server_ip="10.0.0.1", server_mac=SERVER_MAC)
    r = answer(client_frame(DISCOVER), leases(bare))
    assert r.addrs(1) == ["255.255.240.0"] and r.dhcp.yiaddr == "172.16.5.200"
    assert r.opts[26] == b"\x23\x28"
    assert (r.u32(51), r.u32(58), r.u32(59)) == (3600, 1800, 3150)
    assert not {3, 6, 12, 15, 121} & set(r.opts)


def test_lease_requires_server_fields_and_stays_hashable():
    with pytest.raises(TypeError):
        Lease(mac=VM_MAC, ip="10.0.0.5", prefixlen=24, gateway=None)
    lease = Lease(VM_MAC, "10.0.0.5", 24, "10.0.0.1", ["10.0.0.2"],
                  host_routes=[["10.8.0.0/16", "10.0.0.254"]], server_ip="10.0.0.1", server_mac=SERVER_MAC)
    assert lease.dns == ("10.0.0.2",) and lease.host_routes == (("10.8.0.0/16", "10.0.0.254"),)
    hash(lease)


def test_lookup_is_by_client_mac_and_unknown_macs_get_nothing():
    seen = []

    def lookup(mac):
        seen.append(mac)
        return None

    assert responder.handle_dhcp(client_frame(DISCOVER), lookup) is None
    assert seen == [VM_MAC]
    other = client_frame(DISCOVER, mac="fa:16:3e:99:99:99")
    assert responder.handle_dhcp(other, leases()) is None


@pytest.mark.parametrize("mtype", [RELEASE, DECLINE, OFFER, ACK, NAK, 42])
def test_release_decline_and_server_messages_get_nothing(mtype):
    assert responder.handle_dhcp(client_frame(mtype, ciaddr="10.0.0.5"), leases()) is None


def test_pad_options_do_not_hide_the_message_type():
    # os-ken's own option parser stops at the first PAD; the responder must not.
    raw = b"\x00" + b"\x35\x01\x01" + b"\x00\x00\x00" + b"\xff"  # odd PAD count on purpose
    r = answer(client_frame(DISCOVER, raw_options=raw))
    assert r.mtype == OFFER


def test_split_request_options_are_joined_rfc3396():
    raw = b"\x35\x01\x03" + b"\x32\x02\x0a\x00" + b"\x32\x02\x00\x05" + b"\xff"  # 50 in two parts
    assert answer(client_frame(REQUEST, raw_options=raw)).mtype == ACK


def test_non_ascii_sname_is_tolerated():
    frame = bytearray(client_frame(DISCOVER))
    frame[14 + 20 + 8 + 44] = 0xE9  # os-ken's parser would raise UnicodeDecodeError
    frame[14 + 20 + 6:14 + 20 + 8] = b"\x00\x00"  # UDP checksum 0: "none" (not verified anyway)
    assert answer(bytes(frame)).mtype == OFFER


def _tcp_frame():
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(src=VM_MAC, ethertype=0x0800))
    pkt.add_protocol(ipv4.ipv4(src="10.0.0.5", dst="10.0.0.1", proto=6))
    pkt.add_protocol(tcp.tcp(src_port=68, dst_port=67))
    pkt.serialize()
    return bytes(pkt.data)


def _arp_frame():
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(src=VM_MAC, ethertype=0x0806))
    pkt.add_protocol(arp.arp_ip(arp.ARP_REQUEST, VM_MAC, "10.0.0.5", "00:00:00:00:00:00", "10.0.0.1"))
    pkt.serialize()
    return bytes(pkt.data)


def _no_cookie():
    f = bytearray(client_frame(DISCOVER))
    f[14 + 20 + 8 + 236] = 0
    return bytes(f)


def _lengths(ip_delta=0, udp_delta=0):
    """A DISCOVER whose IP or UDP length field claims more bytes than the frame holds."""
    f = bytearray(client_frame(DISCOVER))
    f[16:18] = (struct.unpack("!H", f[16:18])[0] + ip_delta).to_bytes(2, "big")
    f[38:40] = (struct.unpack("!H", f[38:40])[0] + udp_delta).to_bytes(2, "big")
    return bytes(f)


def _fragment():
    f = bytearray(client_frame(DISCOVER))
    f[14 + 6] |= 0x20  # more fragments
    return bytes(f)


@pytest.mark.parametrize("frame", [
    b"", b"\x00", b"\xff" * 13, bytes(60), bytes(400), b"garbage" * 50,
    client_frame(DISCOVER, dport=53),                                     # other UDP
    client_frame(DISCOVER, sport=67, dport=68, op=dhcp.DHCP_BOOT_REPLY),  # another server's reply
    client_frame(DISCOVER, op=dhcp.DHCP_BOOT_REPLY),
    client_frame(DISCOVER, chaddr="fa:16:3e:00:00:99"),                   # chaddr != source MAC
    client_frame(DISCOVER, giaddr="10.9.9.9"),                            # relayed
    client_frame(DISCOVER, raw_options=b"\xff"),          # no message type
    client_frame(DISCOVER, raw_options=b"\x35\x02\x01\x01\xff"),  # bad type length
    _tcp_frame(), _arp_frame(), _no_cookie(), _fragment(),
    _lengths(ip_delta=4), _lengths(udp_delta=4), _lengths(udp_delta=-250), _lengths(ip_delta=-250),
], ids=lambda f: f"{len(f)}B")
def test_non_dhcp_and_malformed_frames_get_nothing(frame):
    assert responder.handle_dhcp(frame, lambda mac: LEASE) is None


def test_truncated_frames_get_nothing():
    whole = client_frame(REQUEST, requested="10.0.0.5")
    assert responder.handle_dhcp(whole, leases()) is not None
    for n in range(len(whole)):
        assert responder.handle_dhcp(whole[:n], leases()) is None, n
    assert responder.handle_dhcp(bytearray(whole) + bytes(4), leases()) is not None  # trailer ok


def test_random_bytes_and_mutations_never_raise():
    rng = random.Random(1234)
    seeds = [client_frame(t, requested="10.0.0.5", ciaddr=c)
             for t in (DISCOVER, REQUEST, INFORM) for c in ("0.0.0.0", "10.0.0.5")]

    def lookup(mac):  # any MAC has a lease, so mutated frames reach the reply builder too
        return dataclasses.replace(ROUTED, mac=mac)

    replies = 0
    for _ in range(3000):
        frame = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            frame[rng.randrange(len(frame))] = rng.randrange(256)
        if rng.random() < 0.2:
            frame = frame[:rng.randrange(len(frame))]
        out = responder.handle_dhcp(bytes(frame), lookup)
        if out is not None:
            replies += 1
            assert_checksums(Reply(out))
        assert responder.handle_dhcp(rng.randbytes(rng.randrange(600)), lookup) is None
    assert replies > 300  # mutations that keep the frame valid were still answered
