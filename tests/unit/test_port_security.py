"""Tier 1: what a VM port may send, traced through in-process switches (issue 11, data plane).

A VM must not act as a DHCP or DHCPv6 server, a router (RAs, redirects), or the owner of a
neighbour's IPv6 address (NA, DAD); IPv6 goes out only from its own addresses and its EUI-64
link-local address, and not at all from an IPv4-only port; and what it sends to the controller (DHCP) passes its own DHCP meter and
the switch's packet-in meter. Frames that must pass are checked alongside, so that a guard
that drops everything fails here too.
"""
import dataclasses

import pytest
from os_ken.ofproto import ofproto_v1_3 as ofp

from apps import fabric_flows, flows, meters
from apps.model import place
from tests.unit.overlay_fixtures import chassis, iface, model, network, port
from tests.unit.test_overlay_behaviour import program

BCAST, ALL_NODES = "ff:ff:ff:ff:ff:ff", "33:33:00:00:00:01"
IPV4, IPV6, UDP, ICMPV6 = 0x0800, 0x86DD, 17, 58
RS, RA, NS, NA, REDIRECT, MLD2_REPORT = 133, 134, 135, 136, 137, 143
TUNNEL = 9

# ofport: (port id, MAC, addresses, extra Port fields)
PORTS = {
    1: ("v4", "fa:16:3e:00:00:01", ("10.0.0.11",), {}),
    2: ("v4-neighbour", "fa:16:3e:00:00:02", ("10.0.0.12",), {}),
    3: ("dual", "fa:16:3e:00:00:03", ("10.0.0.13", "2001:db8::13"), {}),
    4: ("v6-neighbour", "fa:16:3e:00:00:04", ("2001:db8::14",), {}),
    5: ("router", "fa:16:3e:00:00:05", ("10.0.0.1", "2001:db8::1"), {"router": True}),
    6: ("open", "fa:16:3e:00:00:06", ("10.0.0.16",), {"security": False}),
    7: ("bare", "fa:16:3e:00:00:07", (), {}),
}
V4, NEIGHBOUR, DUAL, V6_NEIGHBOUR, ROUTER, OPEN, BARE = 1, 2, 3, 4, 5, 6, 7


def mac(ofport):
    return PORTS[ofport][1]


def addr(ofport, version):
    return next(a for a in PORTS[ofport][2] if (":" in a) == (version == 6))


def lla(ofport):
    return flows.link_local(mac(ofport))


@pytest.fixture(scope="module")
def hv():
    """One switch with the ports above, and a tunnel to a second that hosts the network too."""
    ports = []
    for ofport, (pid, mac_, ips, extra) in PORTS.items():
        p = port(pid, "net", mac_, None, f"vm-{pid}", **extra)
        ports.append(dataclasses.replace(p, ipv4=tuple(i for i in ips if ":" not in i),
                                         ipv6=tuple(i for i in ips if ":" in i)))
    ports.append(port("far", "net", "fa:16:3e:00:00:99", "10.0.0.99", "vm-far"))
    m = model([network("net", 1001)], ports)
    hv1 = chassis("hv1", "172.16.1.1", *(iface(f"tap{o}", o, f"vm-{p[0]}")
                                         for o, p in PORTS.items()),
                  iface("vx", TUNNEL, type_="vxlan", remote_ip="172.16.2.1"))
    hv2 = chassis("hv2", "172.16.2.1", iface("tap", 1, "vm-far"),
                  iface("vx", 7, type_="vxlan", remote_ip="172.16.1.1"), datapath_id=2)
    return program(m, [hv1, hv2])["hv1"].switch


def reaches_nobody(out):
    return not out.outputs and not out.packet_ins


def neighbours(ofport):
    return sorted(set(PORTS) - {ofport} | {TUNNEL})


# -- frames ----------------------------------------------------------------------------------
def udp4(src, dst_mac=BCAST, dst_ip="255.255.255.255", sport=67, dport=68, src_ip=None):
    return dict(eth_src=mac(src), eth_dst=dst_mac, eth_type=IPV4,
                ipv4_src=src_ip or addr(src, 4), ipv4_dst=dst_ip, ip_proto=UDP, udp_src=sport,
                udp_dst=dport)


def ip6(src, src_ip, dst_mac=ALL_NODES, dst_ip="ff02::1", **extra):
    """An IPv6 frame (ICMPv6 unless ``ip_proto`` says otherwise); ``extra`` fields win."""
    return {"eth_src": mac(src), "eth_dst": dst_mac, "eth_type": IPV6, "ipv6_src": src_ip,
            "ipv6_dst": dst_ip, "ip_proto": ICMPV6, **extra}


def icmp6(src, kind, src_ip=None, **extra):
    return ip6(src, src_ip or lla(src), icmpv6_type=kind, icmpv6_code=0, **extra)


def na(src, target, tll=None, **extra):
    return icmp6(src, NA, ipv6_nd_target=target, ipv6_nd_tll=tll or mac(src), **extra)


def ns(src, target, src_ip=None, sll=None):
    return icmp6(src, NS, src_ip=src_ip, dst_mac="33:33:ff:00:00:01",
                 dst_ip="ff02::1:ff00:1", ipv6_nd_target=target,
                 **({} if sll is None else {"ipv6_nd_sll": sll}))


# -- DHCP and DHCPv6 servers -----------------------------------------------------------------
@pytest.mark.parametrize("src", [V4, DUAL, ROUTER])
@pytest.mark.parametrize("frame", [
    dict(),                                                       # OFFER/ACK, broadcast
    dict(dst_mac=PORTS[2][1], dst_ip="10.0.0.12"),                # ... unicast to a neighbour
    dict(dst_mac="fa:16:3e:00:00:99", dst_ip="10.0.0.99"),        # ... across the tunnel
    dict(sport=5000),                                             # to the client port only
    dict(dport=67, dst_mac=PORTS[2][1], dst_ip="10.0.0.12"),      # from the server port only
], ids=["offer-bcast", "ack-unicast", "ack-remote", "to-68", "from-67"])
def test_a_vm_is_no_dhcp_server(hv, src, frame):
    assert reaches_nobody(hv.trace(src, **udp4(src, **frame)))


@pytest.mark.parametrize("src", [V4, DUAL, BARE])
@pytest.mark.parametrize("sport,dport", [(547, 546), (547, 547), (1000, 546)],
                         ids=["advertise-reply", "from-547", "to-546"])
def test_a_vm_is_no_dhcpv6_server(hv, src, sport, dport):
    frame = ip6(src, lla(src), dst_mac="33:33:00:01:00:02", dst_ip="ff02::1:2", ip_proto=UDP,
                udp_src=sport, udp_dst=dport)
    assert reaches_nobody(hv.trace(src, **frame))
    unicast = dict(frame, eth_dst=mac(V6_NEIGHBOUR), ipv6_dst=lla(V6_NEIGHBOUR))
    assert reaches_nobody(hv.trace(src, **unicast))


def test_dhcp_client_packets_reach_the_controller_through_both_meters(hv):
    discover = udp4(V4, sport=68, dport=67, src_ip="0.0.0.0")
    renew = udp4(V4, dst_mac=mac(ROUTER), dst_ip="10.0.0.1", sport=68, dport=67)
    for frame in (discover, renew):
        out = hv.trace(V4, **frame)
        assert out.packet_ins and not out.outputs
        assert out.meters == [meters.port_dhcp_meter(V4).meter_id,
                              meters.switch_packet_in_meter().meter_id]
    # a neighbour's DHCP counts against its own meter, not the first port's
    assert hv.trace(DUAL, **udp4(DUAL, sport=68, dport=67, src_ip="0.0.0.0")).meters[0] == \
        meters.port_dhcp_meter(DUAL).meter_id
    # DHCP client packets from someone else's address are still spoofed
    assert reaches_nobody(hv.trace(V4, **udp4(V4, sport=68, dport=67, src_ip="10.0.0.12")))


def test_a_port_without_port_security_is_trusted_but_metered(hv):
    """As in Neutron: port security off means no anti-spoofing at all (an admin's choice, e.g.
    for a VM that is a router or a DHCP server); its DHCP requests are still metered."""
    assert hv.trace(OPEN, **udp4(OPEN)).output_ports() == neighbours(OPEN)
    assert hv.trace(OPEN, **udp4(OPEN, sport=68, dport=67)).meters[0] == \
        meters.port_dhcp_meter(OPEN).meter_id
    assert hv.trace(OPEN, **icmp6(OPEN, RA)).output_ports() == neighbours(OPEN)


# -- IPv6 sources ----------------------------------------------------------------------------
def test_an_ipv4_only_port_sends_no_ipv6(hv):
    """As OVN's port security, which Neutron's ML2/OVN fills with a port's MAC and addresses:
    no IPv6 source (its link-local address neither), no DAD, MLD or neighbour discovery."""
    to_neighbour = dict(dst_mac=mac(V6_NEIGHBOUR), dst_ip=addr(V6_NEIGHBOUR, 6), ip_proto=6)
    for src_ip in (lla(V4), "2001:db8::11", lla(NEIGHBOUR), "fe80::1", "::"):
        assert reaches_nobody(hv.trace(V4, **ip6(V4, src_ip, **to_neighbour))), src_ip
    for frame in (ns(V4, addr(V6_NEIGHBOUR, 6)), ns(V4, addr(V6_NEIGHBOUR, 6), sll=mac(V4)),
                  ns(V4, lla(V4), src_ip="::"), na(V4, lla(V4)),
                  icmp6(V4, MLD2_REPORT, src_ip="::", ipv6_dst="ff02::16"),
                  icmp6(V4, RS, src_ip="::", ipv6_dst="ff02::2")):
        assert reaches_nobody(hv.trace(V4, **frame)), frame
    # ... while its IPv4 flows, and a port with IPv6 addresses still has its link-local one
    assert hv.trace(V4, **udp4(V4, dst_mac=mac(NEIGHBOUR), dst_ip="10.0.0.12", sport=5000,
                               dport=53)).output_ports() == [NEIGHBOUR]
    assert hv.trace(DUAL, **ip6(DUAL, lla(DUAL), **to_neighbour)).output_ports() == \
        [V6_NEIGHBOUR]


def test_a_port_without_addresses_sends_ipv6_only_from_its_link_local(hv):
    to_neighbour = dict(dst_mac=mac(V6_NEIGHBOUR), dst_ip=addr(V6_NEIGHBOUR, 6), ip_proto=6)
    assert hv.trace(BARE, **ip6(BARE, lla(BARE), **to_neighbour)).output_ports() == \
        [V6_NEIGHBOUR]
    for forged in ("2001:db8::11", "2001:db8::14", lla(NEIGHBOUR), "fe80::1", "::"):
        assert reaches_nobody(hv.trace(BARE, **ip6(BARE, forged, **to_neighbour))), forged
    # its own link-local address with another MAC is spoofed too
    other_mac = dict(ip6(BARE, lla(BARE), **to_neighbour), eth_src="fa:16:3e:00:00:77")
    assert reaches_nobody(hv.trace(BARE, **other_mac))


def test_a_port_with_ipv6_addresses_sends_from_those_and_its_link_local(hv):
    to_neighbour = dict(dst_mac=mac(V6_NEIGHBOUR), dst_ip=addr(V6_NEIGHBOUR, 6), ip_proto=6)
    for own in (addr(DUAL, 6), lla(DUAL)):
        assert hv.trace(DUAL, **ip6(DUAL, own, **to_neighbour)).output_ports() == \
            [V6_NEIGHBOUR], own
    for forged in ("2001:db8::99", addr(V6_NEIGHBOUR, 6), "fe80::1", lla(V4)):
        assert reaches_nobody(hv.trace(DUAL, **ip6(DUAL, forged, **to_neighbour))), forged


def test_ipv6_address_pairs_and_their_macs(hv):
    vip, vrrp_mac = "2001:db8::100", "00:00:5e:00:02:01"
    pairs = [(mac(DUAL), vip), (vrrp_mac, "2001:db8::200")]
    m = model([network("net", 7)], [
        dataclasses.replace(port("p", "net", mac(DUAL), "2001:db8::13", "vm", pairs=pairs)),
        port("q", "net", mac(V6_NEIGHBOUR), "2001:db8::14", "vq")])
    sw = program(m, [chassis("hv", "172.16.1.1", iface("a", 1, "vm"),
                             iface("b", 2, "vq"))])["hv"].switch
    to_q = dict(dst_mac=mac(V6_NEIGHBOUR), dst_ip="2001:db8::14", ip_proto=6)
    assert sw.trace(1, **ip6(DUAL, vip, **to_q)).output_ports() == [2]
    assert sw.trace(1, **dict(ip6(DUAL, "2001:db8::200", **to_q),
                              eth_src=vrrp_mac)).output_ports() == [2]
    assert sw.trace(1, **ip6(DUAL, "2001:db8::200", **to_q)).dropped  # pair's IP, wrong MAC
    # the pair's address may be advertised; others' may not
    assert sw.trace(1, **na(DUAL, vip)).output_ports() == [2]
    assert sw.trace(1, **na(DUAL, "2001:db8::14")).dropped


# -- neighbour discovery ---------------------------------------------------------------------
@pytest.mark.parametrize("src", [BARE, DUAL])
def test_a_port_advertises_only_its_own_addresses(hv, src):
    own = [lla(src)] + ([addr(src, 6)] if src == DUAL else [])
    for target in own:
        assert hv.trace(src, **na(src, target)).output_ports() == neighbours(src), target
        assert hv.trace(src, **na(src, target, tll="00:00:00:00:00:00")).output_ports() == \
            neighbours(src)
        # ... with its own MAC as the link-layer address, never another
        assert reaches_nobody(hv.trace(src, **na(src, target, tll=mac(NEIGHBOUR))))
    for target in (addr(V6_NEIGHBOUR, 6), lla(NEIGHBOUR), "2001:db8::1", "2001:db8::99"):
        for dst in ({}, dict(dst_mac=mac(V6_NEIGHBOUR), dst_ip=addr(V6_NEIGHBOUR, 6))):
            assert reaches_nobody(hv.trace(src, **na(src, target, **dst))), target


@pytest.mark.parametrize("src", [BARE, DUAL])
def test_solicitations_and_duplicate_address_detection(hv, src):
    # asking for a neighbour's address is what ND is for
    assert hv.trace(src, **ns(src, addr(V6_NEIGHBOUR, 6))).output_ports() == neighbours(src)
    assert hv.trace(src, **ns(src, addr(V6_NEIGHBOUR, 6), sll=mac(src))).output_ports() == \
        neighbours(src)
    # ... but not announcing someone else's MAC while asking
    assert reaches_nobody(hv.trace(src, **ns(src, addr(V6_NEIGHBOUR, 6), sll=mac(NEIGHBOUR))))
    # DAD (from ::) for its own link-local address passes, for anyone else's it does not
    assert hv.trace(src, **ns(src, lla(src), src_ip="::")).output_ports() == neighbours(src)
    for target in (lla(NEIGHBOUR), addr(V6_NEIGHBOUR, 6)):
        assert reaches_nobody(hv.trace(src, **ns(src, target, src_ip="::"))), target
    # MLD reports and router solicitations from :: while the address is tentative
    for kind, dst in ((MLD2_REPORT, "ff02::16"), (RS, "ff02::2")):
        out = hv.trace(src, **icmp6(src, kind, src_ip="::", ipv6_dst=dst))
        assert out.output_ports() == neighbours(src), kind
    # nothing else from ::
    assert reaches_nobody(hv.trace(src, **ip6(src, "::", dst_mac=mac(NEIGHBOUR),
                                              dst_ip=lla(NEIGHBOUR), ip_proto=UDP)))


@pytest.mark.parametrize("kind", [RA, REDIRECT])
@pytest.mark.parametrize("src", [V4, DUAL, BARE])
def test_only_router_ports_advertise_routes_or_redirect(hv, kind, src):
    assert reaches_nobody(hv.trace(src, **icmp6(src, kind)))
    assert reaches_nobody(hv.trace(src, **icmp6(src, kind, eth_dst=mac(V6_NEIGHBOUR),
                                                ipv6_dst=lla(V6_NEIGHBOUR))))
    assert hv.trace(ROUTER, **icmp6(ROUTER, kind)).output_ports() == neighbours(ROUTER)
    # a router port's RAs come from its link-local address (RFC 4861), its own
    assert reaches_nobody(hv.trace(ROUTER, **icmp6(ROUTER, kind, src_ip=lla(V4))))


def test_ordinary_traffic_still_flows(hv):
    to_neighbour = udp4(V4, dst_mac=mac(NEIGHBOUR), dst_ip="10.0.0.12", sport=5000, dport=53)
    assert hv.trace(V4, **to_neighbour).output_ports() == [NEIGHBOUR]
    ping6 = icmp6(DUAL, 128, src_ip=addr(DUAL, 6), eth_dst=mac(V6_NEIGHBOUR),
                  ipv6_dst=addr(V6_NEIGHBOUR, 6))
    assert hv.trace(DUAL, **ping6).output_ports() == [V6_NEIGHBOUR]
    dhcpv6_solicit = ip6(DUAL, lla(DUAL), dst_mac="33:33:00:01:00:02", dst_ip="ff02::1:2",
                         ip_proto=UDP, udp_src=546, udp_dst=547)
    assert hv.trace(DUAL, **dhcpv6_solicit).output_ports() == neighbours(DUAL)


# -- packet-in meters ------------------------------------------------------------------------
def test_every_controller_bound_flow_passes_the_switch_packet_in_meter(hv):
    meter = hv.meters[meters.PACKET_IN_METERS]
    assert meter.flags & ofp.OFPMF_PKTPS
    assert (meter.bands[0].rate, meter.bands[0].burst_size) == (
        meters.SWITCH_PACKET_IN_RATE_PPS, meters.SWITCH_PACKET_IN_BURST)
    to_controller = [f for f in hv.iter_flows() if f.outputs_to(ofp.OFPP_CONTROLLER)]
    assert to_controller, "no flow sends to the controller"
    assert all(f.uses_meter(meters.PACKET_IN_METERS) for f in to_controller)


def test_packet_in_meter_ids_never_collide_with_bandwidth_meters():
    ofports = range(1, 0xff00)          # every port number Open vSwitch hands out
    qos = {meters.meter_id(p, d) for p in ofports for d in (meters.EGRESS, meters.INGRESS)}
    packet_in = {meters.port_dhcp_meter(p).meter_id for p in ofports} | \
        {meters.switch_packet_in_meter().meter_id}
    assert len(packet_in) == len(ofports) + 1 and not qos & packet_in
    assert max(packet_in) <= 0xffff0000                  # OFPM_MAX: a regular meter id


def test_fabric_edges_get_the_same_guard_and_meters():
    from simulations.fabric_sim import SimFabric, tree_topology
    sim = SimFabric(tree_topology(2, 3))
    hosts = {"a": (2, "fa:16:3e:00:01:01", "10.0.0.11"), "b": (3, "fa:16:3e:00:01:02",
                                                              "10.0.0.12")}
    m = model([network("n", 1001)], [port("p-" + h, "n", mac_, ip, "vm-" + h,
                                          binding=sim.add_host(h, sw))
                                     for h, (sw, mac_, ip) in hosts.items()])
    sim.program(m)
    switch, ofport = sim.where["a"]
    sw = sim.switches[switch].switch
    offer = dict(eth_src=hosts["a"][1], eth_dst=BCAST, eth_type=IPV4, ipv4_src="10.0.0.11",
                 ipv4_dst="255.255.255.255", ip_proto=UDP, udp_src=67, udp_dst=68)
    assert reaches_nobody(sw.trace(ofport, **offer))
    ra = dict(eth_src=hosts["a"][1], eth_dst=ALL_NODES, eth_type=IPV6,
              ipv6_src=flows.link_local(hosts["a"][1]), ipv6_dst="ff02::1", ip_proto=ICMPV6,
              icmpv6_type=RA)
    assert reaches_nobody(sw.trace(ofport, **ra))
    assert reaches_nobody(sw.trace(ofport, **dict(ra, icmpv6_type=128)))  # IPv4-only: no IPv6
    unicast = dict(offer, eth_dst=hosts["b"][1], ipv4_dst="10.0.0.12", udp_src=5000,
                   udp_dst=53)
    assert sw.trace(ofport, **unicast).outputs                  # ordinary IPv4 still flows
    discover = dict(offer, ipv4_src="0.0.0.0", udp_src=68, udp_dst=67)
    assert sw.trace(ofport, **discover).meters == [meters.port_dhcp_meter(ofport).meter_id,
                                                   meters.PACKET_IN_METERS]
    link = next(iter(sim.fabric.fabric_ports(1)))
    lldp = sim.switches[1].switch.trace(link, eth_src="02:00:00:00:00:01",
                                        eth_dst="01:80:c2:00:00:0e",
                                        eth_type=fabric_flows.ETH_LLDP)
    assert lldp.packet_ins and lldp.meters == [meters.PACKET_IN_METERS]


def test_the_guard_is_in_every_switch_once_whatever_it_hosts():
    """The guard's drops are shared flows: two networks on one switch hold them once."""
    m = model([network("a", 1), network("b", 2)],
              [port("pa", "a", "fa:16:3e:00:00:01", "10.0.0.2", "va"),
               port("pb", "b", "fa:16:3e:00:00:02", "10.0.0.2", "vb")])
    ch = chassis("hv", "172.16.1.1", iface("t1", 1, "va"), iface("t2", 2, "vb"))
    state = flows.compile_chassis("hv", m, place(m, [ch]))
    shared = [f for f in state.flows.values() if f.table == "egress_guard"
              and "in_port" not in dict(f.match) and f.priority]
    assert sorted(shared, key=repr) == sorted(flows.egress_guard(), key=repr)


def test_a_router_interface_port_is_a_router_to_the_back_end(core, alice, admin):
    """device_owner network:router_* is what lets a port send RAs: the back-end is told so
    by a change and by the snapshot it boots from alike; other owners are not routers."""
    seen = {}
    core.plugin.notify = lambda change: seen.__setitem__(change.subject.id, change.after)
    net = core.networks.create(alice, {"name": "n"})
    core.subnets.create(alice, {"network_id": net["id"], "cidr": "fd00::/64", "ip_version": 6})
    owners = {"network:router_interface": True, "network:router_gateway": True,
              "compute:nova": False, "": False, "network:dhcp": False}
    ports = {core.ports.create(admin, {"network_id": net["id"], "tenant_id": "alice",
                                       "device_owner": owner})["id"]: router
             for owner, router in owners.items()}
    booted = {p.id: p for p in core.logical_snapshot().ports}
    assert {pid: booted[pid].router for pid in ports} == ports
    assert {pid: seen[pid].router for pid in ports} == ports
