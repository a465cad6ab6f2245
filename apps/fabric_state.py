"""Fabric mode's desired state: every switch's flows from the bindings and the routes."""
from apps import fabric_flows, ofmsg
from apps.incremental import Counters


class FabricState:
    """The desired state of every fabric switch, with the interface of
    apps/incremental.DesiredState that the core (apps/reconcile.py) reads."""

    def __init__(self):
        self.states = {}          # dpid -> SwitchState
        self.bound = {}           # port id -> (dpid, ofport)
        self.bound_on = {}        # dpid -> {port id: ofport}
        self.ports_changed = set()
        self.rerouted = set()     # networks whose routes the last update changed
        self.counters = Counters()

    def update(self, model, fabric, routes, ports=(), networks=()):
        bound = fabric_flows.bind_ports(model, fabric)
        self.ports_changed = set(ports) | {p for p in bound.keys() | self.bound.keys()
                                           if bound.get(p) != self.bound.get(p)}
        self.rerouted = routes.update(fabric.live(), fabric_flows.hosted_networks(model, bound))
        new = fabric_flows.compile_fabric(model, fabric, bound, routes.routes)
        deltas = {}
        for dpid, state in new.items():
            delta = ofmsg.changes(ofmsg.Installed.from_state(self.states[dpid])
                                  if dpid in self.states else ofmsg.Installed(), state)
            if delta:
                deltas[dpid] = delta
        self.states, self.bound = new, bound
        self.bound_on = {}
        for port_id, (dpid, ofport) in bound.items():
            self.bound_on.setdefault(dpid, {})[port_id] = ofport
        return deltas

    def state(self, dpid):
        return self.states.get(dpid) or fabric_flows.fl.SwitchState({}, {})

    def port_at(self, dpid, ofport):
        for port_id, where in self.bound_on.get(dpid, {}).items():
            if where == ofport:
                return port_id
        return None
