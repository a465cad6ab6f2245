"""What a fabric switch should hold: pure functions from the model and the fabric's routes.

Fabric mode reuses the overlay pipeline (apps/pipeline.py) and its edge flows (apps/flows.py:
classify, port security, ARP responder, DHCP, local delivery, the ports' QoS meters from
apps/meters.py); only what crosses switches is
new, and it needs neither VLAN tags nor tunnels (docs/fabric.md):

* a frame arriving on an inter-switch link goes to ``fabric_in``, where its source MAC -- which
  port security at its edge switch vouched for, and which is unique across the fabric --
  gives it its network (metadata := VNI + FROM_TUNNEL), but only on the links through which
  that host's frames arrive (its paths and its network's broadcast tree); anything else is
  dropped. Host ports never reach ``fabric_in``;
* LLDP goes to the controller from inter-switch links and from ports no binding claims (where
  new links are found), never from a bound host port (apps/fabric.py checks again);
* ``l2_lookup`` sends a known MAC of the network to the next hop of the destination switch's
  sink tree (or the local port); transit switches only hold the MACs of networks whose
  paths cross them;
* broadcast is copied along the network's loop-free tree: from a local port or a tree link
  to the network's group (local ports + tree links; OpenFlow never outputs to the in-port),
  from any other link it is dropped, so loops in the topology cannot make storms.
"""
from apps import flows as fl
from apps import pipeline as pl
from apps import secgroups

ETH_LLDP = 0x88CC


def bind_ports(model, fabric):
    """port id -> (dpid, ofport) for ports whose Binding names a connected switch's host port
    (never an inter-switch link). Invalid bindings were refused by ``FabricPlugin.check``."""
    bound = {}
    taken = set()
    for port in sorted(model.ports.values(), key=lambda p: p.id):
        where = port.binding.switch_port
        if where is None or where[0] not in fabric.graph:
            continue
        dpid, which = where
        names = fabric.port_names(dpid)
        ofport = which if isinstance(which, int) else next(
            (no for no, name in names.items() if name == which), None)
        if ofport is None or ofport in fabric.fabric_ports(dpid) or (dpid, ofport) in taken:
            continue
        taken.add((dpid, ofport))
        bound[port.id] = (dpid, ofport)
    return bound


def hosted_networks(model, bound):
    """network id -> switches with an admin-up port of it (admin-up networks only)."""
    out = {}
    for port_id, (dpid, _) in bound.items():
        port = model.ports.get(port_id)
        net = model.networks.get(port.network_id) if port else None
        if net is not None and net.admin_up and port.admin_up:
            out.setdefault(net.id, set()).add(dpid)
    return out


# -- flow families ---------------------------------------------------------------------------
#: LLDP from a port nothing classifies (no link, no binding yet): below every port's own
#: classification, so that a bound host port's flow shadows it and its LLDP never gets here
PRIO_LLDP_UNCLAIMED = fl.PRIO_LOW


def lldp_to_controller(fabric_ports):
    """Link discovery: LLDP from the switch's links, above everything else, and from ports
    no binding claims (where new links appear), below every port's classification."""
    return [fl.flow("classify", fl.PRIO_HIGH, {"in_port": p, "eth_type": ETH_LLDP},
                    *fl.to_controller()) for p in sorted(fabric_ports)] + [
        fl.flow("classify", PRIO_LLDP_UNCLAIMED, {"eth_type": ETH_LLDP}, *fl.to_controller())]


def classify_fabric_port(ofport):
    return fl.flow("classify", fl.PRIO_NORMAL, {"in_port": ofport}, fl.goto("fabric_in"))


def accept_from_fabric(mac, vni, ofport):
    """A frame from another switch belongs to the network of its (unique) source MAC, if it
    came in through a link on that host's way here (``ofport``)."""
    return fl.flow("fabric_in", fl.PRIO_NORMAL, {"in_port": ofport, "eth_src": mac},
                   ("metadata", vni | pl.FROM_TUNNEL, pl.METADATA_MASK), fl.goto("l2_lookup"))


def forward_to_next_hop(mac, vni, ofport):
    """Towards the switch that hosts ``mac``, from a local port or relayed from a link."""
    return fl.flow("l2_lookup", fl.PRIO_NORMAL,
                   {"metadata": (vni, pl.VNI_MASK), "eth_dst": mac},
                   fl.apply(("output", ofport)))


def flood_along_tree(vni, local_ofports, tree_ofports):
    """One ALL group per network: local ports + the network's tree links. Entered from a
    local port or from a tree link only; broadcast from any other link is dropped."""
    gid = fl.flood_group_ids(vni)[0]
    group = fl.Group(gid, tuple((("output", p),) for p in sorted(set(local_ofports)
                                                                 | set(tree_ofports))))
    flows = [fl.flow("l2_lookup", fl.PRIO_LOW,
                     {"metadata": (vni, pl.METADATA_MASK), "eth_dst": fl.BROADCAST_MASK},
                     fl.apply(("group", gid)))]
    for port in sorted(tree_ofports):
        flows.append(fl.flow("l2_lookup", fl.PRIO_LOW,
                             {"metadata": (vni | pl.FROM_TUNNEL, pl.METADATA_MASK),
                              "in_port": port, "eth_dst": fl.BROADCAST_MASK},
                             fl.apply(("group", gid))))
    return flows, group


# -- pieces (apps/pieces.py: the transport families of fabric mode) ---------------------------
def switch_piece(fabric_ports):
    """What every switch holds (``flows.switch_piece``: table misses, the egress guard, the
    packet-in meter), LLDP to the controller, and the switch's links into ``fabric_in``."""
    common = fl.switch_piece()
    return fl.Piece(common.flows + tuple(lldp_to_controller(fabric_ports)) +
                    tuple(classify_fabric_port(p) for p in sorted(fabric_ports)),
                    meters=common.meters)


def dhcp_piece(vni):
    """At the network's edge switches: DHCP from its ports goes to the controller."""
    return fl.Piece((fl.send_dhcp_to_controller(vni),))


def flood_piece(vni, local_ofports, tree_ofports):
    flood, group = flood_along_tree(vni, local_ofports, tree_ofports)
    return fl.Piece(tuple(flood), (group,))


def remote_piece(port, vni, next_hop, in_ports):
    """A port bound on another switch: its frames are accepted from the links they come in
    through (``in_ports``), and the way to it (``next_hop``: the port towards its switch, None
    when this switch is not on a path)."""
    macs = sorted({port.mac, *(m for m, _ in port.pairs)})
    out = [accept_from_fabric(mac, vni, p) for mac in macs for p in sorted(in_ports)]
    if next_hop is not None:
        out.append(forward_to_next_hop(port.mac, vni, next_hop))
    return fl.Piece(tuple(out))


# -- one switch, from scratch (the reference the incremental state is tested against) --------
def compile_fabric_switch(dpid, model, bound, routes, fabric_ports):
    """The complete desired state of fabric switch ``dpid``.

    ``bound``: port id -> (dpid, ofport); ``routes``: network id -> topology.graph.NetworkRoutes;
    ``fabric_ports``: this switch's ports that lead to other switches.
    """
    pieces = [switch_piece(fabric_ports)]
    wanted = fl.members_wanted_on(dpid, model, bound)
    for net_id in sorted(routes):
        r = routes[net_id]
        net = model.networks.get(net_id)
        if net is None or dpid not in r.carriers:
            continue
        vni, edge = net.vni, dpid in r.members
        local = []
        for port in model.ports_on_network(net_id):
            if edge and port.ipv4:
                pieces.append(fl.arp_piece(port, vni))
            if edge and secgroups.wanted_here(port, wanted):
                pieces.append(fl.member_piece(port, vni, model.references_to(port))
                              or fl.Piece())
            where = bound.get(port.id)
            if where is None or not port.admin_up:
                continue
            host, ofport = where
            if host == dpid:
                local.append(ofport)
                pieces.append(fl.local_port_piece(port, ofport, vni, model.limits_of(port),
                                                  model.groups_of(port)))
                pieces.append(fl.security_group_piece(port, ofport, model.groups_of(port))
                              or fl.Piece())
            else:
                pieces.append(remote_piece(port, vni, r.next_port.get((dpid, host)),
                                           r.in_ports.get((dpid, host), ())))
        if edge and net.dhcp:
            pieces.append(dhcp_piece(vni))
        pieces.append(flood_piece(vni, local, r.tree_ports.get(dpid, ())))
    return fl.union(pieces)


def compile_fabric(model, fabric, bound, routes):
    """Desired state of every switch of ``fabric`` (topology.graph.FabricGraph), given the
    bindings and the routes per network (topology.graph.RouteTable.routes)."""
    return {dpid: compile_fabric_switch(dpid, model, bound, routes, fabric.fabric_ports(dpid))
            for dpid in fabric.switches()}
