"""A hostile VM on real Open vSwitch (issue 11, data plane): a real ``qnet serve`` programs two
namespaced hypervisors; the attacker VM crafts frames on its NICs (an IPv4-only network and a
dual-stack one) and tcpdump in two neighbours -- one on the attacker's switch, one behind the
tunnel -- records what reaches them.

Forged DHCP OFFERs/ACKs, DHCPv6 replies, router advertisements and neighbour advertisements for
a neighbour's address must reach nobody, while the attacker's ordinary frames (a UDP broadcast,
an NA for its own address) arrive: so a capture that sees nothing cannot pass for a guard that
works. Then the attacker floods DHCP DISCOVERs at 10,000/s and the neighbours' DHCP must still
be answered at once: the port's DHCP meter and the switch's packet-in meter take the flood.
"""
import os
import re
import select
import subprocess
import sys
import time

import pytest
from os_ken.lib import pcaplib
from os_ken.lib.packet import dhcp, ethernet, icmpv6, ipv4, ipv6, packet, udp

from apps import flows, meters
from qnetclient import Client
from simulations.fixtures import serialize
from simulations.lab import seed
from simulations.lab.nodes import kill_pid
from simulations.serve import QnetServer

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="!!! LAB TESTS SKIPPED: not root (namespaces, OVS daemons) !!!")

V4_NET, DUAL_NET = "v4-net", "dual-net"
NETWORKS = {V4_NET: ["10.0.5.0/24"], DUAL_NET: ["10.0.6.0/24", "2001:db8:6::/64"]}
ROGUE_PREFIX = "2001:db8:bad::"
FLOOD_RATE, FLOOD_COUNT = 10_000, 30_000     # DISCOVERs per second, in all (3 s)

# Sends raw frames (hex arguments) out of an interface with an AF_PACKET socket: ``rate`` rounds
# per second (0: as fast as it goes), ``count`` rounds; prints when it started and ended.
_SEND = r'''
import socket, sys, time
intf, rate, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
frames = [bytes.fromhex(h) for h in sys.argv[4:]]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((intf, 0))
start, sent = time.time(), 0
while sent < count:
    for f in frames:
        s.send(f)
    sent += 1
    ahead = start + sent / rate - time.time() if rate else 0
    if ahead > 0.002:
        time.sleep(ahead)
print(start, time.time(), sent, flush=True)
'''


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """``evil`` and ``near`` on hv1, ``far`` on hv2, each with a NIC on both networks."""
    from simulations.lab.topo import start_lab
    tmp = tmp_path_factory.mktemp("port-security")
    ctl = QnetServer(tmp, plugin="openflow", log_level="INFO").start()
    try:
        with start_lab(hypervisors=2, subnets=2) as lab:
            lab.connect(ctl)
            api = Client(ctl.url, project="tenant")
            for name, cidrs in NETWORKS.items():
                net = api.networks.create(name=name)
                for cidr in cidrs:
                    api.subnets.create(network_id=net["id"], cidr=cidr,
                                       ip_version=6 if ":" in cidr else 4)
            hv1, hv2 = lab.hypervisors
            servers = {}
            for name, hv in (("evil", hv1), ("near", hv1), ("far", hv2)):
                ports = seed.create_ports(api, name, [V4_NET, DUAL_NET])
                servers[name] = seed.start_vm(lab, "tenant", name, ports, hv, name)
            for server in servers.values():
                seed.wait_active(api, server)
                seed.dhcp(server)
                for nic in server.nics:
                    server.vm.cmd(f"sysctl -qw net.ipv6.conf.{nic.intf}.disable_ipv6=0 "
                                  f"net.ipv6.conf.{nic.intf}.accept_ra=2")
                    for ip in v6_addresses(nic):
                        server.vm.cmd(f"ip -6 addr add {ip}/64 dev {nic.intf} nodad")
            yield lab, servers, tmp
    finally:
        ctl.stop()


def v6_addresses(nic):
    return [i["ip_address"] for i in nic.port["fixed_ips"] if ":" in i["ip_address"]]


def v4_address(nic):
    return next(i["ip_address"] for i in nic.port["fixed_ips"] if ":" not in i["ip_address"])


# -- frames, built with the os-ken packet library (simulations/fixtures.py serialize) ---------


def dhcp_reply(nic, kind, dst_mac="ff:ff:ff:ff:ff:ff", dst_ip="255.255.255.255",
               chaddr="ff:ff:ff:ff:ff:ff"):
    """A DHCP OFFER (2) or ACK (5) from ``nic``'s own addresses, handing out a rogue lease."""
    me = v4_address(nic)
    opts = dhcp.options([dhcp.option(53, bytes([kind])), dhcp.option(54, bytes(map(int, me.split(".")))),
                         dhcp.option(3, bytes(map(int, me.split("."))))])
    return serialize(ethernet.ethernet(dst_mac, nic.port["mac_address"], 0x0800),
                     ipv4.ipv4(src=me, dst=dst_ip, proto=17),
                     udp.udp(67, 68),
                     dhcp.dhcp(op=dhcp.DHCP_BOOT_REPLY, chaddr=chaddr, xid=0x5eed,
                               yiaddr="10.0.5.200", options=opts))


def dhcp_discover(nic):
    mac = nic.port["mac_address"]
    return serialize(ethernet.ethernet("ff:ff:ff:ff:ff:ff", mac, 0x0800),
                     ipv4.ipv4(src="0.0.0.0", dst="255.255.255.255", proto=17),
                     udp.udp(68, 67),
                     dhcp.dhcp(op=dhcp.DHCP_BOOT_REQUEST, chaddr=mac, xid=0xf100d,
                               options=dhcp.options([dhcp.option(53, b"\x01")])))


def icmp6(nic, message, src=None, dst="ff02::1", dst_mac="33:33:00:00:00:01"):
    mac = nic.port["mac_address"]
    return serialize(ethernet.ethernet(dst_mac, mac, 0x86DD),
                     ipv6.ipv6(src=src or flows.link_local(mac), dst=dst, nxt=58, hop_limit=255),
                     message)


def router_advert(nic):
    """An RA for a rogue prefix, with autonomous configuration on (SLAAC)."""
    prefix = icmpv6.nd_option_pi(pl=64, res1=0b110, val_l=86400, pre_l=14400,
                                 prefix=ROGUE_PREFIX)
    return icmp6(nic, icmpv6.icmpv6(type_=icmpv6.ND_ROUTER_ADVERT, data=icmpv6.nd_router_advert(
        ch_l=64, res=0, rou_l=1800, options=[prefix])))


def neighbour_advert(nic, target, src=None):
    """An unsolicited NA with the override flag: 'target is at nic's MAC'."""
    return icmp6(nic, icmpv6.icmpv6(type_=icmpv6.ND_NEIGHBOR_ADVERT, data=icmpv6.nd_neighbor(
        res=0b001, dst=target, option=icmpv6.nd_option_tla(hw_src=nic.port["mac_address"]))),
        src=src)


def dhcpv6_reply(nic, to):
    """A DHCPv6 ADVERTISE (2) from nic's link-local address to ``to``'s."""
    mac = nic.port["mac_address"]
    return serialize(ethernet.ethernet(to.port["mac_address"], mac, 0x86DD),
                     ipv6.ipv6(src=flows.link_local(mac),
                               dst=flows.link_local(to.port["mac_address"]), nxt=17),
                     udp.udp(547, 546), b"\x02\x00\x5e\xed")


def marker(nic):
    """An ordinary UDP broadcast from nic's own address: it must arrive."""
    return serialize(ethernet.ethernet("ff:ff:ff:ff:ff:ff", nic.port["mac_address"], 0x0800),
                     ipv4.ipv4(src=v4_address(nic), dst="255.255.255.255", proto=17),
                     udp.udp(5067, 5068), b"marker")


def what(frame):
    """What a captured frame is: 'dhcp-server', 'ra', 'redirect', 'na <target>', 'marker'."""
    try:
        pkt = packet.Packet(frame)
    except Exception:
        return "unparsed"
    u, icmp = pkt.get_protocol(udp.udp), pkt.get_protocol(icmpv6.icmpv6)
    if u is not None:
        if u.src_port in (67, 547) or u.dst_port in (68, 546):
            return "dhcp-server"
        return "marker" if u.dst_port == 5068 else "udp"
    if icmp is not None:
        kinds = {icmpv6.ND_ROUTER_ADVERT: "ra", 137: "redirect"}
        if icmp.type_ == icmpv6.ND_NEIGHBOR_ADVERT:
            return f"na {icmp.data.dst}"
        return kinds.get(icmp.type_, f"icmpv6 {icmp.type_}")
    return "other"


# -- sending and capturing -------------------------------------------------------------------
def send(server, nic, frames, rate=0, count=1):
    """Send ``frames`` ``count`` times from ``nic``; returns (start, end, rounds)."""
    proc = server.vm.popen([sys.executable, "-c", _SEND, nic.intf, str(rate), str(count),
                            *(f.hex() for f in frames)], stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=60)
    start, end, rounds = out.split()
    return float(start), float(end), int(rounds)


class Capture:
    """tcpdump on a neighbour's NIC of what comes from ``src_mac``, read back as kinds."""

    def __init__(self, server, nic, src_mac, path):
        self.path = path
        self.proc = server.vm.popen(["tcpdump", "-i", nic.intf, "-U", "-n", "-w", path,
                                     "ether", "src", src_mac], stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stderr], [], [], 10)
        assert ready and b"listening" in self.proc.stderr.readline(), "tcpdump did not start"
        time.sleep(0.5)       # it says "listening" a moment before it captures

    def stop(self):
        time.sleep(0.5)                         # what is in flight arrives
        kill_pid(self.proc.pid)
        self.proc.communicate()
        with open(self.path, "rb") as f:
            return [what(buf) for _, buf in pcaplib.Reader(f)]


def test_forged_servers_and_advertisements_reach_no_neighbour(hostile):
    _, servers, tmp = hostile
    evil, near, far = servers["evil"], servers["near"], servers["far"]
    for net in (V4_NET, DUAL_NET):
        nic = evil.nic(net)
        victims = [s.nic(net) for s in (near, far)]
        lla = flows.link_local(nic.port["mac_address"])
        # an IPv4-only port sends no IPv6, not even from its link-local address
        mine, silenced = ([lla, *v6_addresses(nic)], []) if v6_addresses(nic) else ([], [lla])
        theirs = [a for v in victims
                  for a in (flows.link_local(v.port["mac_address"]), *v6_addresses(v))]
        forged = [dhcp_reply(nic, 2), router_advert(nic)]
        for v in victims:
            forged += [dhcp_reply(nic, 5, v.port["mac_address"], v4_address(v),
                                  chaddr=v.port["mac_address"]),
                       dhcpv6_reply(nic, v)]
        forged += [neighbour_advert(nic, target) for target in theirs]
        # a spoofed NA from the victim's own address, to the victim's MAC
        forged += [neighbour_advert(nic, theirs[0], src=theirs[0])]
        forged += [neighbour_advert(nic, own, src=own) for own in silenced]
        allowed = [marker(nic)] + [neighbour_advert(nic, own, src=own) for own in mine]
        captures = {s.name: Capture(s, s.nic(net), nic.port["mac_address"],
                                    str(tmp / f"{s.name}-{net}.pcap")) for s in (near, far)}
        send(evil, nic, forged + allowed, rate=10, count=5)
        for name, cap in captures.items():
            got = cap.stop()
            print(f"\n{name} on {net} saw from evil: {sorted(set(got))}")
            assert "marker" in got and all(f"na {own}" in got for own in mine), got
            assert not {"dhcp-server", "ra", "redirect"} & set(got), got
            assert not [k for k in got if k.startswith("na ") and k[3:] in theirs + silenced], got
    # nobody took an address from the rogue prefix (SLAAC from the forged RA)
    for s in (near, far):
        assert ROGUE_PREFIX[:-1] not in s.vm.cmd("ip -6 addr show")


def meter_counts(hv):
    """{meter id: (packets in, packets dropped by its band)} of the packet-in meters."""
    out = hv.ofctl("meter-stats", "br-int")
    return {int(m): (int(n), int(d)) for m, n, d in re.findall(
        r"meter:(\d+) .*?packet_in_count:(\d+).*?bands:\s*0: packet_count:(\d+)", out, re.S)
        if int(m) >= meters.PACKET_IN_METERS}


def dhcp_seconds(server, nic):
    """How long one DHCP exchange (DISCOVER..ACK) of ``nic`` takes; udhcpc retries after 1 s,
    so an answer that was lost shows as more than a second."""
    start = time.monotonic()
    out = server.vm.cmd(f"busybox udhcpc -i {nic.intf} -n -q -f -t 3 -T 1 "
                        f"-s {seed.UDHCPC_SCRIPT} 2>&1")
    took = time.monotonic() - start
    assert "lease of" in out or "obtained" in out, out
    return took


def test_a_dhcp_flood_leaves_the_neighbours_dhcp_fast(hostile):
    lab, servers, _ = hostile
    evil, near, far = servers["evil"], servers["near"], servers["far"]
    hv1 = lab.hypervisors[0]
    nic = evil.nic(V4_NET)
    before = {who: dhcp_seconds(s, s.nic(V4_NET)) for who, s in (("near", near), ("far", far))}
    counts_before = meter_counts(hv1)
    flood = evil.vm.popen([sys.executable, "-c", _SEND, nic.intf, str(FLOOD_RATE),
                           str(FLOOD_COUNT), dhcp_discover(nic).hex()],
                          stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        during, windows = {}, []
        for who, s in (("near", near), ("far", far)):
            t0 = time.time()
            during[who] = dhcp_seconds(s, s.nic(V4_NET))
            windows.append((t0, time.time()))
        out, _ = flood.communicate(timeout=FLOOD_COUNT / FLOOD_RATE * 3 + 30)
    finally:
        kill_pid(flood.pid)
    start, end, sent = out.split()
    start, end, sent = float(start), float(end), int(sent)
    counts = meter_counts(hv1)
    evils = meters.port_dhcp_meter(hv1.ofport(nic.hv_intf)).meter_id
    port_in, port_dropped = (a - b for a, b in zip(counts[evils],
                                                   counts_before.get(evils, (0, 0))))
    print(f"\nDHCP flood: {sent} DISCOVERs in {end - start:.2f} s ({sent / (end - start):.0f}/s);"
          f" evil's DHCP meter passed {port_in - port_dropped}, dropped {port_dropped}; "
          f"DHCP exchange before the flood: " +
          ", ".join(f"{w} {t * 1000:.0f} ms" for w, t in before.items()) + "; during: " +
          ", ".join(f"{w} {t * 1000:.0f} ms" for w, t in during.items()))
    print("packet-in meters of hv1:", counts)
    # the flood ran at the rate asked for, and the neighbours were asked during it
    assert sent == FLOOD_COUNT and sent / (end - start) > FLOOD_RATE * 0.8
    assert all(start < t0 and t1 < end for t0, t1 in windows)
    # ... and were answered on their first DISCOVER (a lost one costs a one-second retry)
    assert all(t < 1.0 for t in during.values()), during
    # the flood was stopped at the port's DHCP meter
    assert port_dropped > sent / 2
