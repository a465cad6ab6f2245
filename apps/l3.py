"""Distributed routing in flows: pure functions from routers and floating IPs to pieces.

Like OVN's distributed logical router, a packet is routed on the hypervisor it was sent
from: the router's flows are on every hypervisor that carries one of its networks, and a
routed packet continues to ``l2_lookup`` in the destination network (which that hypervisor
therefore carries too: apps/incremental.py), so it crosses at most one tunnel and no router
VM. The stages (apps/pipeline.py) follow OVN's ``lr_in_*``: ``router_in`` (admission by the
router's MAC, echo replies for its own addresses), ``dnat``, ``ip_routing`` (longest prefix
first, TTL), ``arp_resolve`` (the next hop's MAC from the model), ``snat`` and
``external_out``.

Traffic to and from the outside needs conntrack, and a connection's two directions must
meet the same conntrack table (one per ovs-vswitchd): so SNAT to the router's gateway IP
happens on one hypervisor, the router's *gateway hypervisor* (the lowest system-id among
those with a bridge mapping for the external network's physical network), which alone
answers ARP for the gateway IP; other hypervisors hand such packets, unrouted, to it
through the tunnel. A floating IP is distributed (OVN's ``dnat_and_snat`` with a
``logical_port``): where its port's hypervisor has the mapping, the floating IP lives
there, with a MAC of its own so the outside's switches never see one MAC in two places.
Each router has its own conntrack zone (``pipeline.ROUTER_ZONE_BASE`` + its zone index),
so tenants with the same addresses never share a connection.

IPv6 is routed between a router's IPv6 subnets the same way (admission, echo, hop limit,
routes, the next hop's MAC), with no NAT (as in Neutron) and so nothing through the gateway;
the router's IPv6 addresses answer neighbour solicitations through the controller, as OVN's
``nd_na`` does through ovn-controller (apps/icmp_errors.py ``neighbor_advert``).

Pieces (apps/pieces.py): ``router`` (the same on every hypervisor carrying the router),
``gateway`` (on its gateway hypervisor), ``fip`` (where the floating IP lives),
``localnet`` (per external network on a hypervisor that has a gateway or floating IP on
it: its physical port, learned next hops) and ``neighbor`` (per port of a routed
network: its MAC for arp_resolve).
"""
import netaddr

from apps import flows as fl
from apps import pipeline as pl
from apps.flows import ETH_ARP, ETH_IPV4, ETH_IPV6, ICMPV6, NS, Piece, apply, flow, goto

ICMP, ECHO_REQUEST, ECHO_REPLY = 1, 8, 0
ECHO6_REQUEST, ECHO6_REPLY = 128, 129
PRIO_ECHO, PRIO_ROUTE, PRIO_TTL, PRIO_OWN = 300, 100, 400, 390
PRIO_SPOOF = 350
PRIO_NO_ROUTE = PRIO_ROUTE - 1     # below every route, the default route included
#: a gateway hypervisor's routes through the gateway outrank the hand-over to it, and a
#: floating IP's outranks both: same prefix, so the order is kept by these offsets
GATEWAY_BONUS, FIP_BONUS = 1, 2
ANY = "0.0.0.0/0"
#: per family: its ethertype, its address fields and the register holding the next hop
FAMILIES = {4: (ETH_IPV4, "ipv4_src", "ipv4_dst", pl.NEXT_HOP_REG, 32),
            6: (ETH_IPV6, "ipv6_src", "ipv6_dst", pl.NEXT_HOP6_REG, 128)}


def zone_of(router):
    """The router's conntrack zone (16 bits; 32768-65535 are the routers')."""
    return pl.ROUTER_ZONE_BASE + router.zone


def fip_mac(floating_ip):
    """The MAC a floating IP answers ARP with on the external network: locally
    administered, made of the address, so it is unique wherever the address is."""
    b = netaddr.IPAddress(floating_ip).words
    return "fa:71:%02x:%02x:%02x:%02x" % b


def _vni_match(vni, from_tunnel=None):
    """metadata matching a network; ``from_tunnel`` True/False also pins FROM_TUNNEL."""
    if from_tunnel is None:
        return (vni, pl.VNI_MASK)
    return (vni | (pl.FROM_TUNNEL if from_tunnel else 0), pl.METADATA_MASK)


def _prefix_priority(cidr, bonus=0):
    """Longest prefix first: 3 priorities per IPv4 prefix length (hand-over, gateway,
    floating IP); one per IPv6 prefix length (nothing leaves through the gateway), so that
    every route, /128 included, stays below the TTL flows."""
    net = netaddr.IPNetwork(cidr)
    return PRIO_ROUTE + (net.prefixlen if net.version == 6 else 3 * net.prefixlen) + bonus


def _family(address):
    return FAMILIES[netaddr.IPNetwork(address).version]


def _dst(cidr):
    return fl._masked(cidr)


# -- router_in -----------------------------------------------------------------------------
def _eth_types(router):
    """What the router routes: IPv4, and IPv6 once it has an IPv6 subnet (before that, IPv6
    to its MAC is nobody's and is not sent up to be answered)."""
    return (ETH_IPV4,) + ((ETH_IPV6,) if any(":" in i.cidr for i in router.interfaces) else ())


def admit(router, mac, vni):
    """IPv4 (and IPv6) to the router's MAC on one of its networks: to ip_routing, as that
    router."""
    return [flow("router_in", PRIO_ROUTE,
                 {"metadata": _vni_match(vni), "eth_dst": mac, "eth_type": eth_type},
                 apply(("set", pl.ROUTER_REG, router.zone)), goto("ip_routing"))
            for eth_type in _eth_types(router)]


def echo_replies(mac, vni, addresses):
    """Echo requests (ICMP or ICMPv6) to any of the router's ``addresses`` sent to its MAC
    ``mac`` on network ``vni``: answered out of the asker's port (MACs and addresses swapped;
    the switch fixes the checksums)."""
    out = []
    for ip in addresses:
        eth_type, src, dst, _, bits = _family(ip)
        v6 = eth_type == ETH_IPV6
        kind = "icmpv6_type" if v6 else "icmpv4_type"
        out.append(flow("router_in", PRIO_ECHO,
                        {"metadata": _vni_match(vni), "eth_dst": mac, "eth_type": eth_type,
                         dst: ip, "ip_proto": ICMPV6 if v6 else ICMP,
                         kind: ECHO6_REQUEST if v6 else ECHO_REQUEST},
                        apply(("move", "eth_src", "eth_dst", 48), ("set", "eth_src", mac),
                              ("move", src, dst, bits), ("set", src, ip),
                              ("set", kind, ECHO6_REPLY if v6 else ECHO_REPLY),
                              ("output", "in_port"))))
    return out


def spoof_guard(router, mac, vni, network_id=None):
    """What reaches the router's MAC ``mac`` on network ``vni`` (``network_id``: None for
    the external network) from a source inside one of its subnets (IPv4 or IPv6) on
    *another* network: dropped (strict reverse-path filtering of its own subnets). So a
    routed packet whose source is in the router's subnet on network M really came from M,
    where port security checked it, and security groups may count it as a member's
    (apps/secgroups.py ``member_flows``), whatever the outside or another network claims."""
    out = []
    for cidr in sorted({i.cidr for i in router.interfaces if i.network_id != network_id}):
        eth_type, src, _, _, _ = _family(cidr)
        out.append(flow("router_in", PRIO_SPOOF,
                        {"metadata": _vni_match(vni), "eth_dst": mac, "eth_type": eth_type,
                         src: _dst(cidr)}))
    return out


def neighbor_solicitations(mac, vni, addresses):
    """Neighbour solicitations for the router's IPv6 ``addresses`` on network ``vni``
    (multicast, or unicast to ``mac`` when the asker checks it is still there): to the
    controller, which answers with a neighbour advertisement from ``mac`` out of the asker's
    port (apps/openflow.py), as ARP for its IPv4 addresses is answered here."""
    return [flow("arp_responder", fl.PRIO_HIGH,
                 {"metadata": _vni_match(vni), "eth_type": ETH_IPV6, "ip_proto": ICMPV6,
                  "icmpv6_type": NS, "ipv6_nd_target": ip}, *fl.to_controller())
            for ip in addresses if ":" in ip]


def hand_over(mac, vni):
    """A frame to the router's MAC that came through a tunnel (another hypervisor handing
    it to this gateway hypervisor): routed here, as if sent here."""
    return flow("tunnel_in", fl.PRIO_HIGH, {"tunnel_id": vni, "eth_dst": mac},
                ("metadata", vni | pl.FROM_TUNNEL, pl.METADATA_MASK), goto("router_in"))


# -- ip_routing ----------------------------------------------------------------------------
def ttl_expiry(router):
    """Nothing leaves the router with TTL 0: TTL 1 goes to the controller (through the
    switch's packet-in meter), which answers ICMP time exceeded (apps/icmp_errors.py), so
    traceroute works; TTL 0 is dropped. A packet no route matches goes up the same way and
    is answered ICMP destination unreachable (net unreachable), as OVN and Linux do. The
    same for IPv6 (hop limit; ICMPv6 time exceeded and no route to destination)."""
    out = []
    for eth_type in _eth_types(router):
        match = {pl.ROUTER_REG: router.zone, "eth_type": eth_type}
        out += [flow("ip_routing", PRIO_TTL, {**match, "nw_ttl": 0}),
                flow("ip_routing", PRIO_TTL, {**match, "nw_ttl": 1}, *fl.to_controller()),
                flow("ip_routing", PRIO_NO_ROUTE, match, *fl.to_controller())]
    return out


def route(router, dst, out_mac, out_vni, next_hop=None, table="arp_resolve", bonus=0,
          **match):
    """A route of ``router``: TTL (hop limit) - 1, eth_src := its MAC on the way out, the
    next hop's register (reg3; IPv6: xxreg2) := the next hop (the destination itself when
    on-link), metadata := the outgoing network."""
    eth_type, _, dst_field, reg, bits = _family(dst)
    hop = ("set", reg, int(netaddr.IPAddress(next_hop))) if next_hop else \
        ("move", dst_field, reg, bits)
    return flow("ip_routing", _prefix_priority(dst, bonus),
                {pl.ROUTER_REG: router.zone, "eth_type": eth_type, **match,
                 **({dst_field: _dst(dst)} if dst != ANY else {})},
                apply(("dec_ttl",), ("set", "eth_src", out_mac), hop),
                ("metadata", out_vni, pl.METADATA_MASK), goto(table))


def connected_routes(router, vnis):
    """One route per subnet of the router, on-link."""
    return [route(router, itf.cidr, itf.mac, vnis[itf.network_id])
            for itf in router.interfaces if itf.network_id in vnis]


def extra_routes(router, vnis):
    """The router's extra routes whose next hop is on one of its subnets."""
    out = []
    for dst, hop in router.routes:
        itf = _interface_for(router.interfaces, hop)
        if itf is not None and itf.network_id in vnis:
            out.append(route(router, dst, itf.mac, vnis[itf.network_id], next_hop=hop))
    return out


def _interface_for(interfaces, ip):
    ip = netaddr.IPAddress(ip)
    return next((i for i in interfaces if ip in netaddr.IPNetwork(i.cidr)), None)


def gateway_destinations(router, ext_gateway_ip):
    """(destination, next hop) of what leaves through the gateway: the external subnet
    on-link, the rest through the external subnet's gateway (or on-link without one)."""
    own = [(router.gateway.cidr, None)]
    return own + [(ANY, ext_gateway_ip)] if ext_gateway_ip else own + [(ANY, None)]


def hand_overs_to_gateway(router, vnis, gateway_tag, ext_gateway_ip):
    """On a hypervisor that is not the router's gateway: what would leave through the gateway
    goes, as it came (to the router's MAC), through the tunnel to the gateway hypervisor. Only
    frames sent here: a handed-over frame is never handed on (no loop when views differ)."""
    out = []
    for _, network_id in _legs(router):
        vni = vnis.get(network_id)
        if vni is None:
            continue
        for dst, _ in gateway_destinations(router, ext_gateway_ip):
            out.append(flow("ip_routing", _prefix_priority(dst),
                            {pl.ROUTER_REG: router.zone, "eth_type": ETH_IPV4,
                             "metadata": _vni_match(vni, from_tunnel=False),
                             **({"ipv4_dst": _dst(dst)} if dst != ANY else {})},
                            apply(("set", "tunnel_id", vni),
                                  ("set", pl.TUNNEL_DEST_REG, gateway_tag)),
                            goto("tunnel_out")))
    return out


def arp_resolve(port, vni):
    """A port of a routed network is the next hop for its addresses (IPv4 in reg3, IPv6 in
    xxreg2): eth_dst := its MAC."""
    return [flow("arp_resolve", fl.PRIO_NORMAL,
                 {"metadata": _vni_match(vni), _family(ip)[3]: int(netaddr.IPAddress(ip))},
                 apply(("set", "eth_dst", port.mac)), goto("l2_lookup"))
            for ip in port.ipv4 + port.ipv6]


def _legs(router):
    """(MAC, network id) of each of the router's interface ports, once (a port with an IPv4
    and an IPv6 address is two RouterInterfaces)."""
    return sorted({(i.mac, i.network_id) for i in router.interfaces})


# -- the pieces ----------------------------------------------------------------------------
def router_piece(router, vnis, gateway_tag=None, ext_gateway_ip=None):
    """What every hypervisor carrying ``router`` holds, identically: admission and echo
    replies on each of its networks (``vnis``: network id -> VNI of those carried), TTL,
    connected and extra routes, and, with a gateway on another hypervisor (``gateway_tag``),
    the hand-over of what leaves through it."""
    if not router.admin_up:
        return None
    addresses = [i.ip for i in router.interfaces] + \
        ([router.gateway.ip] if router.gateway else [])
    out = ttl_expiry(router)
    for mac, network_id in _legs(router):
        vni = vnis.get(network_id)
        if vni is None:
            continue
        out += [*admit(router, mac, vni), hand_over(mac, vni),
                *echo_replies(mac, vni, addresses),
                *spoof_guard(router, mac, vni, network_id),
                *neighbor_solicitations(mac, vni, [i.ip for i in router.interfaces
                                                   if i.mac == mac])]
    out += connected_routes(router, vnis) + extra_routes(router, vnis)
    if router.gateway is not None and gateway_tag is not None:
        out += hand_overs_to_gateway(router, vnis, gateway_tag, ext_gateway_ip)
    return Piece(tuple(out))


def neighbor_piece(port, vni):
    return Piece(tuple(arp_resolve(port, vni))) if port.ipv4 or port.ipv6 else None


def _ct(zone, table, commit=False, nat=None):
    """A conntrack action: ("ct", commit, zone, recirculation table, nat) (apps/ofmsg.py)."""
    return ("ct", commit, zone, table, nat)


def _answer_arp(mac, ip, ext_vni):
    """An ARP request from the external network for ``ip``: answered with ``mac``; a copy
    goes to the controller first (it learns the asker: ``learn_neighbor``)."""
    return flow("arp_responder", fl.PRIO_HIGH,
                {"metadata": _vni_match(ext_vni), "eth_type": ETH_ARP, "arp_op": 1,
                 "arp_tpa": ip},
                ("meter", fl.qos.switch_packet_in_meter().meter_id),
                apply(("output", "controller"),
                      ("move", "eth_src", "eth_dst", 48), ("set", "eth_src", mac),
                      ("set", "arp_op", 2), ("move", "arp_sha", "arp_tha", 48),
                      ("set", "arp_sha", mac), ("move", "arp_spa", "arp_tpa", 32),
                      ("set", "arp_spa", ip), ("output", "in_port")))


def _learn_replies(ip, ext_vni):
    """ARP replies to ``ip`` (answers to the controller's questions): to the controller."""
    return flow("arp_responder", fl.PRIO_HIGH,
                {"metadata": _vni_match(ext_vni), "eth_type": ETH_ARP, "arp_op": 2,
                 "arp_tpa": ip}, *fl.to_controller())


def _outside_routes(router, out_mac, ext_vni, ext_gateway_ip, bonus, **match):
    return [route(router, dst, out_mac, ext_vni, next_hop=hop, table="snat", bonus=bonus,
                  **match)
            for dst, hop in gateway_destinations(router, ext_gateway_ip)]


def gateway_piece(router, ext_vni, ext_gateway_ip):
    """On the router's gateway hypervisor: ARP and admission for the gateway IP on the
    external network, replies un-SNATed (ct(nat) in the router's zone), what leaves routed
    out with SNAT to the gateway IP (or without, when the router does no SNAT)."""
    if not router.admin_up or router.gateway is None:
        return None
    gw, zone = router.gateway, zone_of(router)
    out = [_answer_arp(gw.mac, gw.ip, ext_vni), _learn_replies(gw.ip, ext_vni),
           *spoof_guard(router, gw.mac, ext_vni),
           flow("router_in", PRIO_ROUTE,
                {"metadata": _vni_match(ext_vni), "eth_dst": gw.mac, "eth_type": ETH_IPV4,
                 "ipv4_dst": gw.ip},
                apply(("set", pl.ROUTER_REG, router.zone)), goto("dnat")),
           flow("dnat", fl.PRIO_NORMAL,
                {pl.ROUTER_REG: router.zone, "eth_type": ETH_IPV4, "ipv4_dst": gw.ip},
                apply(_ct(zone, "ip_routing", nat=()))),
           # not a reply to one of its connections: not for anyone behind it
           flow("ip_routing", PRIO_OWN, {pl.ROUTER_REG: router.zone, "eth_type": ETH_IPV4,
                                         "ipv4_dst": gw.ip}),
           *_outside_routes(router, gw.mac, ext_vni, ext_gateway_ip, GATEWAY_BONUS)]
    out.append(flow("snat", fl.PRIO_LOW, {pl.ROUTER_REG: router.zone, "eth_type": ETH_IPV4},
                    apply(_ct(zone, "external_out", commit=True, nat=("src", gw.ip)))
                    if router.snat else goto("external_out")))
    if not router.snat:
        # without SNAT the outside routes to the router's subnets through its gateway IP
        out.append(flow("router_in", fl.PRIO_LOW,
                        {"metadata": _vni_match(ext_vni), "eth_dst": gw.mac,
                         "eth_type": ETH_IPV4},
                        apply(("set", pl.ROUTER_REG, router.zone)), goto("ip_routing")))
    return Piece(tuple(out))


def fip_piece(router, fip, ext_vni, ext_gateway_ip):
    """Where a floating IP lives: ARP for it (its own MAC) and admission on the external
    network, DNAT to the fixed IP (ct(commit, nat(dst))) and, for what its port sends out,
    SNAT to it (ct(commit, nat(src))), in the router's zone. The replies of each direction
    meet the same conntrack entry, so one flow per direction serves both."""
    if not router.admin_up or router.gateway is None or fip.port_id is None:
        return None
    mac, zone = fip_mac(fip.floating_ip), zone_of(router)
    out = [_answer_arp(mac, fip.floating_ip, ext_vni), _learn_replies(fip.floating_ip, ext_vni),
           *spoof_guard(router, mac, ext_vni),
           flow("router_in", PRIO_ROUTE,
                {"metadata": _vni_match(ext_vni), "eth_dst": mac, "eth_type": ETH_IPV4,
                 "ipv4_dst": fip.floating_ip},
                apply(("set", pl.ROUTER_REG, router.zone)), goto("dnat")),
           flow("dnat", fl.PRIO_NORMAL,
                {pl.ROUTER_REG: router.zone, "eth_type": ETH_IPV4,
                 "ipv4_dst": fip.floating_ip},
                apply(_ct(zone, "ip_routing", commit=True, nat=("dst", fip.fixed_ip)))),
           *_outside_routes(router, mac, ext_vni, ext_gateway_ip, FIP_BONUS,
                            ipv4_src=fip.fixed_ip),
           flow("snat", fl.PRIO_NORMAL, {pl.ROUTER_REG: router.zone, "eth_type": ETH_IPV4,
                                         "ipv4_src": fip.fixed_ip},
                apply(_ct(zone, "external_out", commit=True,
                          nat=("src", fip.floating_ip))))]
    return Piece(tuple(out))


def localnet_piece(ext_vni, ofport, neighbors):
    """An external network on a hypervisor with a gateway or floating IP on it: its
    physical port (bridge mapping) enters the network, and what leaves goes out of it to
    the next hop's learned MAC (``neighbors``: {ip: mac}); an unknown next hop goes to the
    controller, which asks for it (``arp_request``)."""
    out = [flow("classify", fl.PRIO_NORMAL, {"in_port": ofport},
                ("metadata", ext_vni, pl.METADATA_MASK), goto("arp_responder")),
           flow("external_out", fl.PRIO_LOW, {"metadata": _vni_match(ext_vni)},
                *fl.to_controller())]
    for ip, mac in sorted(neighbors.items()):
        out.append(flow("external_out", fl.PRIO_NORMAL,
                        {"metadata": _vni_match(ext_vni),
                         pl.NEXT_HOP_REG: int(netaddr.IPAddress(ip))},
                        apply(("set", "eth_dst", mac), ("output", ofport))))
    return Piece(tuple(out))
