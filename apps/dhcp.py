"""DHCPv4 answered by the controller: pure functions from a client's frame to the reply frame.

Flows send a VM's DHCP client packets (UDP 68 -> 67) to the controller; the controller calls
``handle_dhcp(frame, lookup)`` and sends whatever comes back as a packet-out to the in_port. There
is no lease database: a port's address is fixed by IPAM, so every answer is a function of the
frame and of the port's ``Lease``. No I/O happens here, so all of it is unit-testable.

The os-ken packet library does the header work, with a few traits worth knowing:

* option values are raw bytes in both directions (no encoding of ints or addresses), and a value
  longer than 255 bytes makes ``serialize`` raise ``struct.error``: long values are split here
  into consecutive options of the same tag, as RFC 3396 prescribes;
* its option parser stops at the first PAD (0) as if it were END, and a non-ASCII ``sname`` or
  ``file`` raises ``UnicodeDecodeError`` out of ``packet.Packet``: requests are therefore read
  with the per-protocol parsers, options are walked here, and any exception means "not for us";
* ``ipv4.serialize`` always recomputes the header checksum, ``udp.serialize`` only when ``csum``
  is 0, so replies are built from fresh headers, never from parsed ones.
"""
import dataclasses
import ipaddress
import struct

from os_ken.lib.packet import dhcp, ethernet, ipv4, packet, udp

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)  # option 53 values

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
BROADCAST_IP = "255.255.255.255"
BROADCAST_FLAG = 0x8000
MAGIC_COOKIE = b"\x63\x82\x53\x63"
BOOTP_MIN_LEN = 300  # BOOTP's fixed size (RFC 951/1542); some old clients drop shorter replies

# Option tags used here (os-ken names the common ones; these short names keep the code readable)
OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN, OPT_MTU = 1, 3, 6, 12, 15, 26
OPT_REQUESTED_IP, OPT_LEASE_TIME, OPT_MSG_TYPE, OPT_SERVER_ID = 50, 51, 53, 54
OPT_T1, OPT_T2, OPT_CLASSLESS_ROUTES = 58, 59, 121


@dataclasses.dataclass(frozen=True)
class Lease:
    """What a port gets from DHCP.

    ``mtu`` defaults to 1450 because tenant traffic crosses the underlay inside VXLAN, which adds
    50 bytes (outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8) to every frame: a VM left at 1500
    on a 1500-byte underlay would send packets that are silently dropped once encapsulated.
    ``server_ip`` (option 54) and ``server_mac`` are required keywords: the caller chooses them
    (the subnet's gateway, or an address reserved for DHCP) so that renewals unicast to
    ``server_ip`` come back to the controller's flows.
    """
    mac: str
    ip: str
    prefixlen: int
    gateway: str | None
    dns: tuple = ()
    mtu: int = 1450
    host_routes: tuple = ()  # ((cidr, nexthop), ...)
    lease_seconds: int = 86400
    server_ip: str = dataclasses.field(kw_only=True)
    server_mac: str = dataclasses.field(kw_only=True)
    hostname: str | None = None
    domain: str | None = None

    def __post_init__(self):
        # Accept lists (as they come out of JSON columns) but keep the object hashable.
        object.__setattr__(self, "dns", tuple(self.dns))
        object.__setattr__(self, "host_routes", tuple(tuple(r) for r in self.host_routes))


def classless_routes(routes, gateway=None):
    """Encode option 121 (RFC 3442): per route, the prefix length, the destination's significant
    octets only (ceil(len/8) of them), then the 4-byte next hop.

    When the option is present, RFC 3442 tells clients to ignore option 3 (the router), and Linux
    dhclient, systemd-networkd and udhcpc all do; the default route must therefore travel inside
    121 as well (0.0.0.0/0 via the gateway, encoded as ``00`` + gateway), or VMs with host routes
    would lose their default route. An explicit 0.0.0.0/0 among ``routes`` wins over the gateway.
    """
    routes = [(ipaddress.IPv4Network(cidr, strict=False), ipaddress.IPv4Address(hop))
              for cidr, hop in routes]
    if gateway and not any(net.prefixlen == 0 for net, _ in routes):
        routes.append((ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv4Address(gateway)))
    out = bytearray()
    for net, hop in routes:
        out += bytes([net.prefixlen]) + net.network_address.packed[:(net.prefixlen + 7) // 8]
        out += hop.packed
    return bytes(out)


def handle_dhcp(frame: bytes, lookup) -> bytes | None:
    """Answer one DHCP client frame; ``lookup(mac) -> Lease | None``.

    DISCOVER -> OFFER; REQUEST -> ACK if the requested address (option 50, else ciaddr) is the
    lease's or none is given, NAK otherwise; INFORM -> ACK with configuration only (no yiaddr,
    no lease times, RFC 2131 4.3.5); RELEASE, DECLINE, unknown MACs and anything that is not a
    well-formed DHCP request -> None. A frame never makes this raise; errors in the caller's
    ``lookup`` or ``Lease`` data do propagate, so that they get logged instead of hidden.
    """
    try:
        req = _parse(frame)
    except Exception:  # garbage from a VM must never take the packet-in handler down
        return None
    if req is None:
        return None
    msg, opts = req
    mtype = opts[OPT_MSG_TYPE][0] if len(opts.get(OPT_MSG_TYPE, b"")) == 1 else None
    if mtype not in (DISCOVER, REQUEST, INFORM):
        return None  # RELEASE/DECLINE: nothing to free, the address is fixed by IPAM
    lease = lookup(msg.chaddr)
    if lease is None:
        return None
    if mtype == DISCOVER:
        return _reply(msg, lease, OFFER)
    if mtype == INFORM:
        return _reply(msg, lease, ACK, inform=True)
    server_id = opts.get(OPT_SERVER_ID)
    if server_id is not None and server_id != ipaddress.IPv4Address(lease.server_ip).packed:
        return None  # RFC 2131 4.3.2: the client selected another server's offer; stay silent
    wanted = opts.get(OPT_REQUESTED_IP)  # SELECTING / INIT-REBOOT put it here, RENEWING in ciaddr
    if wanted is None and msg.ciaddr != "0.0.0.0":
        wanted = ipaddress.IPv4Address(msg.ciaddr).packed
    if wanted is not None and wanted != ipaddress.IPv4Address(lease.ip).packed:
        return _reply(msg, lease, NAK)
    return _reply(msg, lease, ACK)


def _parse(frame):
    """Return (dhcp header, {tag: value}) for a whole BOOTREQUEST in an untagged IPv4/UDP frame
    to port 67, or None. VLAN tags are not expected: OVS strips them before the packet-in. A
    frame shorter than its IP or UDP length says is refused rather than half-answered (packet-ins
    must be sent with max_len=OFPCML_NO_BUFFER, or every DHCP request arrives cut at 128 bytes)."""
    eth, _, rest = ethernet.ethernet.parser(bytes(frame))
    if eth.ethertype != 0x0800 or len(rest) < 20:
        return None
    ip, _, rest = ipv4.ipv4.parser(rest)
    if (ip.version != 4 or ip.header_length < 5 or ip.proto != 17 or ip.offset or ip.flags & 1
            or len(rest) < ip.total_length - ip.header_length * 4 or len(rest) < 8):
        return None  # also refuses fragments and truncation
    udph, _, payload = udp.udp.parser(rest)
    if (udph.dst_port != 67 or udph.total_length != len(payload) + 8
            or len(payload) < 240 or payload[236:240] != MAGIC_COOKIE):
        return None
    # sname/file are server fields we ignore; os-ken decodes them as ASCII and would raise on
    # anything else, so blank them rather than refuse an otherwise valid request.
    msg, _, _ = dhcp.dhcp.parser(payload[:44] + bytes(192))  # options are walked below
    if (msg.op != dhcp.DHCP_BOOT_REQUEST or msg.htype != 1 or msg.hlen != 6
            or msg.giaddr != "0.0.0.0"):  # relayed requests are not ours to answer
        return None
    if msg.chaddr != eth.src:
        return None  # leases are keyed by the port's MAC, which port security pins to eth.src
    return msg, _walk_options(payload[240:])


def _walk_options(buf):
    """{tag: value} from an options field: PAD skipped, END or truncation stops, and repeated
    tags concatenated (RFC 3396)."""
    opts, i = {}, 0
    while i < len(buf) and buf[i] != 255:
        if buf[i] == 0:
            i += 1
            continue
        if i + 2 > len(buf) or i + 2 + buf[i + 1] > len(buf):
            break
        opts[buf[i]] = opts.get(buf[i], b"") + bytes(buf[i + 2:i + 2 + buf[i + 1]])
        i += 2 + buf[i + 1]
    return opts


def _options(tag, value):
    """One option, or several of the same tag when the value exceeds 255 bytes (RFC 3396)."""
    return [dhcp.option(tag, value[i:i + 255]) for i in range(0, max(len(value), 1), 255)]


def _reply(msg, lease, mtype, inform=False):
    ip = ipaddress.IPv4Address
    opts = _options(OPT_MSG_TYPE, bytes([mtype])) + _options(OPT_SERVER_ID, ip(lease.server_ip).packed)
    if mtype != NAK:  # a NAK carries only its type and the server id (RFC 2131 table 3)
        if not inform:
            t = lease.lease_seconds
            for tag, secs in ((OPT_LEASE_TIME, t), (OPT_T1, t // 2), (OPT_T2, t * 7 // 8)):
                opts += _options(tag, struct.pack("!I", secs))
        opts += _options(OPT_MASK, ipaddress.IPv4Network(f"0.0.0.0/{lease.prefixlen}").netmask.packed)
        if lease.gateway:
            opts += _options(OPT_ROUTER, ip(lease.gateway).packed)
        if lease.dns:
            opts += _options(OPT_DNS, b"".join(ip(a).packed for a in lease.dns))
        opts += _options(OPT_MTU, struct.pack("!H", lease.mtu))
        if lease.host_routes:
            opts += _options(OPT_CLASSLESS_ROUTES, classless_routes(lease.host_routes, lease.gateway))
        if lease.hostname:
            opts += _options(OPT_HOSTNAME, lease.hostname.encode("ascii"))
        if lease.domain:
            opts += _options(OPT_DOMAIN, lease.domain.encode("ascii"))

    yiaddr = lease.ip if mtype in (OFFER, ACK) and not inform else "0.0.0.0"
    # Destination as in RFC 2131 4.1 (giaddr is always 0 here): a NAK is broadcast; a client that
    # already has an address (RENEWING, INFORM) is unicast at its ciaddr; one that set the
    # broadcast flag cannot receive unicast yet; otherwise unicast to the new address and chaddr.
    if msg.ciaddr != "0.0.0.0" and mtype != NAK:
        dst_ip, dst_mac = msg.ciaddr, msg.chaddr
    elif mtype == NAK or msg.flags & BROADCAST_FLAG or yiaddr == "0.0.0.0":
        dst_ip, dst_mac = BROADCAST_IP, BROADCAST_MAC
    else:
        dst_ip, dst_mac = yiaddr, msg.chaddr
    ciaddr = msg.ciaddr if mtype == ACK else "0.0.0.0"

    body = dhcp.dhcp(op=dhcp.DHCP_BOOT_REPLY, chaddr=msg.chaddr, xid=msg.xid, flags=msg.flags,
                     ciaddr=ciaddr, yiaddr=yiaddr, options=dhcp.options(opts))
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst=dst_mac, src=lease.server_mac, ethertype=0x0800))
    pkt.add_protocol(ipv4.ipv4(src=lease.server_ip, dst=dst_ip, proto=17, ttl=64))
    pkt.add_protocol(udp.udp(src_port=67, dst_port=68))  # csum=0: os-ken computes it
    pkt.add_protocol(body)
    size = len(body.serialize())
    if size < BOOTP_MIN_LEN:
        pkt.add_protocol(bytes(BOOTP_MIN_LEN - size))  # zero PADs after END, inside UDP
    pkt.serialize()
    return bytes(pkt.data)
