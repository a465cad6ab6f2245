"""Fabric mode's desired state, incremental like overlay's (apps/incremental.py).

A change recomputes only the pieces that read it, on only the switches that carry the networks
it touches (``FabricState.update``):

==============================  ==================================================================
change                          recomputed
==============================  ==================================================================
port added/updated/deleted      its binding (binding:profile), its pieces and its network's flood
                                pieces on the switches carrying its network(s) before and after
network updated/deleted,        every piece of the network on the switches carrying it
subnet
routes of a network changed     every piece of the network on the switches carrying it before or
(topology/graph.py RouteTable)  after: a link down reroutes only the networks that used it
a switch's ports or links       its own ``chassis`` piece (its fabric ports); ports whose
                                binding names it are rebound (then as port changes above)
QoS policy                      the ports it applies to (their local piece's meters)
==============================  ==================================================================

The pieces are those of apps/pieces.py: the edge families are built exactly as in overlay mode
(apps/flows.py), the transport families from the routes (apps/fabric_flows.py). The result is
always what ``fabric_flows.compile_fabric`` computes from scratch (tests/unit/
test_fabric_incremental.py).
"""
import dataclasses

from apps import fabric_flows as ff
from apps.incremental import Counters, PieceState


@dataclasses.dataclass(frozen=True)
class SwitchView:
    """What the desired state reads of a switch in the graph: its port names (number -> name,
    in the order the switch described them) and the ports that lead to other switches."""

    names: tuple
    fabric_ports: frozenset

    @classmethod
    def of(cls, fabric, dpid):
        return cls(tuple(fabric.port_names(dpid).items()), frozenset(fabric.fabric_ports(dpid)))

    def resolve(self, which):
        """The port number a binding names (a number or a port name), or None."""
        ofport = which if isinstance(which, int) else next(
            (no for no, name in self.names if name == which), None)
        return None if ofport is None or ofport in self.fabric_ports else ofport


class FabricState(PieceState):
    """The desired state of every switch of the fabric graph, kept current by ``update``."""

    def __init__(self):
        super().__init__()
        self.views = {}           # dpid -> SwitchView
        self.targets = {}         # port id -> (dpid, ofport) its binding resolves to
        self.claims = {}          # (dpid, ofport) -> port ids whose binding resolves there
        self.naming = {}          # dpid -> ids of the ports whose binding names that switch
        self.hosted = {}          # network id -> member switches (RouteTable input)
        self.routes = {}          # network id -> NetworkRoutes folded in
        self.rerouted = set()     # networks whose routes the last update changed

    # -- the one entry point ----------------------------------------------------------------
    def update(self, model, fabric, route_table, ports=(), networks=()):
        """Fold in the ports and networks (ids) that changed in ``model``, the switches and
        links of ``fabric`` (topology.graph.FabricGraph), and bring ``route_table``
        (topology.graph.RouteTable, told of link events by the controller) up to date.
        The first update takes in everything. Returns {dpid: Delta} for switches whose
        desired state changed."""
        self.counters = Counters()
        ports, networks = set(ports), set(networks)
        if self.cold:
            ports |= set(model.ports)
            networks |= set(model.networks)
            self.cold = False
        views = {dpid: SwitchView.of(fabric, dpid) for dpid in fabric.switches()}
        moved = {d for d in views.keys() | self.views.keys() if views.get(d) != self.views.get(d)}
        self.views = views
        for d in moved:
            ports |= self.naming.get(d, set())
        ports |= self._claim(model, ports)
        port_nets = {p: {v.network_id for v in (self.ports.get(p), model.ports.get(p))
                         if v is not None} for p in ports}
        for n in networks:
            self._fold_network(model, n)
        for p in ports:
            self._fold_port(model, p)
        for n in networks.union(*port_nets.values()):
            members = self._members(n)
            if members:
                self.hosted[n] = members
            else:
                self.hosted.pop(n, None)
        before = self.routes
        self.rerouted = route_table.update(fabric.live(), self.hosted)
        self.routes = dict(route_table.routes)

        def carriers(n):
            return ((before[n].carriers if n in before else set()) |
                    (self.routes[n].carriers if n in self.routes else set()))
        refresh = {d: {("chassis",)} for d in moved if d in views}
        for n in networks | self.rerouted:
            for d in carriers(n):
                refresh.setdefault(d, set()).update(self._network_keys(n, d))
        for p, its_nets in port_nets.items():
            keys = set(self._port_keys(p))
            for n in its_nets:
                for d in carriers(n):
                    refresh.setdefault(d, set()).update(keys | {("flood", n)})
        self._members_moved(refresh)
        self.ports_changed = ports
        deltas = self._refresh(refresh, views)
        for d in set(self.switches) - set(views):
            del self.switches[d]
        self._forget_pieces(ports)
        return deltas

    # -- folding inputs in ------------------------------------------------------------------
    def _claim(self, model, ports):
        """Resolve the bindings of ``ports`` against the switches' views. Where two ports
        claim one switch port the lowest id holds it; returns the other ports whose hold may
        have changed with these claims."""
        others = set()
        for p in ports:
            old_port, new_port = self.ports.get(p), model.ports.get(p)
            for port, add in ((old_port, False), (new_port, True)):
                where = port.binding.switch_port if port is not None else None
                if where is not None:
                    naming = self.naming.setdefault(where[0], set())
                    naming.add(p) if add else naming.discard(p)
            old = self.targets.pop(p, None)
            where = new_port.binding.switch_port if new_port is not None else None
            view = self.views.get(where[0]) if where is not None else None
            ofport = view.resolve(where[1]) if view is not None else None
            new = (where[0], ofport) if ofport is not None else None
            if new is not None:
                self.targets[p] = new
            if old == new:
                continue
            for target, add in ((old, False), (new, True)):
                if target is None:
                    continue
                holders = self.claims.setdefault(target, set())
                holders.add(p) if add else holders.discard(p)
                others |= holders
                if not holders:
                    del self.claims[target]
        return others - set(ports)

    def placement_of(self, port):
        """The switch port its binding:profile names, unless a lower port id claims it."""
        target = self.targets.get(port.id)
        return target if target is not None and min(self.claims[target]) == port.id else None

    def _members(self, net_id):
        """Switches with an admin-up port of an admin-up network: the network's members."""
        net = self.networks.get(net_id)
        if net is None or not net.admin_up:
            return set()
        return {d for d, bound in self.bound_by_net.get(net_id, {}).items()
                if any(self.ports[p].admin_up for p in bound)}

    # -- what a switch should hold ----------------------------------------------------------
    def is_edge(self, dpid, net_id):
        r = self.routes.get(net_id)
        return r is not None and dpid in r.members

    def _carries(self, dpid, net_id):
        r = self.routes.get(net_id)
        return r is not None and net_id in self.networks and dpid in r.carriers

    # -- the transport families (apps/pieces.py): paths across the fabric -------------------
    def transport_chassis(self, dpid, _):
        piece = ff.switch_piece(self.views[dpid].fabric_ports)
        self._count(piece)
        return piece

    def transport_network(self, dpid, net_id):
        net = self.networks.get(net_id)
        if net is None or not net.dhcp or not self.is_edge(dpid, net_id):
            return None
        return self._shared(("network", net_id), (net.vni,), ff.dhcp_piece)

    def transport_flood(self, dpid, net_id):
        if not self._carries(dpid, net_id):
            return None
        local = [ofport for p, ofport in self.bound_by_net.get(net_id, {}).get(dpid, {}).items()
                 if self.ports[p].admin_up]
        piece = ff.flood_piece(self.networks[net_id].vni, local,
                               self.routes[net_id].tree_ports.get(dpid, ()))
        self._count(piece)
        return piece

    def transport_remote(self, dpid, port_id):
        port = self.ports.get(port_id)
        where = self.bound.get(port_id)
        if port is None or where is None or not port.admin_up or where[0] == dpid or \
                not self._carries(dpid, port.network_id):
            return None
        routes = self.routes[port.network_id]
        piece = ff.remote_piece(port, self.networks[port.network_id].vni,
                                routes.next_port.get((dpid, where[0])),
                                routes.in_ports.get((dpid, where[0]), ()))
        self._count(piece)
        return piece
