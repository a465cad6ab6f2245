"""A whole fabric in-process: switch models (apps/ofmodel) wired by links, and hosts.

Used by the unit tests and bench_fabric: build a topology as a networkx graph, bind hosts,
compile with apps/fabric_flows.py, load each switch's diff into its SwitchModel, then ``send``
a frame from a host and follow every copy across links until it is delivered or dropped.
A copy that comes back to a (switch, in port) it already crossed is counted as a loop.

``FabricCloud`` runs the real fabric controller (apps/fabric.py) instead of compiling: switches
connect and describe their ports, links are heard as LLDP would report them and cut with port
status, and the controller's passes run until it has nothing left to do.
"""
from types import SimpleNamespace

import networkx as nx
from os_ken.controller import ofp_event
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from apps import fabric_flows, ofmsg
from apps.fabric import FabricController
from apps.ofmodel import ModelDatapath, SwitchModel
from controller.logical import Binding
from simulations.fakecloud import AnsweredAtOnce, settle
from topology.graph import FabricGraph, RouteTable


def tree_topology(depth=2, fanout=3):
    """Mininet's TreeTopo switch graph: dpid 1 is the root, numbered breadth first."""
    g = nx.balanced_tree(fanout, depth - 1)
    return nx.relabel_nodes(g, {n: n + 1 for n in g})


def fat_tree(k=4):
    """A k-ary fat tree's switches: (k/2)^2 core, k pods of k/2 aggregation + k/2 edge
    switches (20 switches for k=4). Returns (graph, edge switch dpids)."""
    half = k // 2
    g, dpid = nx.Graph(), iter(range(1, 10_000))
    core = [next(dpid) for _ in range(half * half)]
    edges = []
    for _ in range(k):
        agg = [next(dpid) for _ in range(half)]
        edge = [next(dpid) for _ in range(half)]
        edges += edge
        for i, a in enumerate(agg):
            g.add_edges_from((a, c) for c in core[i * half:(i + 1) * half])
            g.add_edges_from((a, e) for e in edge)
    return g, edges


def on_the_wire(fields):
    """What survives a link: header fields, not the switch's metadata and registers."""
    return {k: v for k, v in fields.items()
            if k not in ("in_port", "metadata", "tunnel_id") and not k.startswith("reg")}


class SimFabric:
    """Fake switches wired as ``graph``; host ports numbered after the link ports."""

    def __init__(self, graph):
        self.fabric = FabricGraph()
        self.peer = {}                     # (dpid, port) -> (peer dpid, peer port)
        self.hosts = {}                    # (dpid, port) -> host name
        self.where = {}                    # host name -> (dpid, port)
        self.next_port = {}
        for s in sorted(graph):
            self.fabric.add_switch(s)
            self.next_port[s] = 1
        for a, b in sorted((min(e), max(e)) for e in graph.edges):
            pa, pb = self._new_port(a), self._new_port(b)
            self.fabric.link_up(a, pa, b, pb)
            self.peer[(a, pa)], self.peer[(b, pb)] = (b, pb), (a, pa)
        self.switches = {s: ModelDatapath(SwitchModel(s, ports=range(1, 64)), record=False)
                         for s in graph}
        self.installed = {s: ofmsg.Installed() for s in graph}
        self.routes = RouteTable()

    def _new_port(self, dpid):
        port = self.next_port[dpid]
        self.next_port[dpid] += 1
        self.fabric.set_port(dpid, port, f"s{dpid}-eth{port}")
        return port

    def add_host(self, name, dpid):
        """A host on a new port of ``dpid``; returns the Binding of a port there (by name)."""
        port = self._new_port(dpid)
        self.hosts[(dpid, port)] = name
        self.where[name] = (dpid, port)
        return Binding(dpid, port_name=f"s{dpid}-eth{port}")

    def cut(self, a, b):
        self.fabric.link_down(a, b)
        self.routes.links_changed(down=[(a, b)])

    def program(self, model):
        """Compile and push the difference to every switch; returns messages sent."""
        bound = fabric_flows.bind_ports(model, self.fabric)
        self.routes.update(self.fabric.live(), fabric_flows.hosted_networks(model, bound))
        desired = fabric_flows.compile_fabric(model, self.fabric, bound, self.routes.routes)
        sent = 0
        for dpid, state in desired.items():
            dp = self.switches[dpid]
            msgs = ofmsg.diff(dp, self.installed[dpid], state)
            for msg in msgs:
                dp.send_msg(msg)
            if dp.switch.errors:
                raise AssertionError(f"switch {dpid} refused flows: {dp.switch.errors}")
            self.installed[dpid] = ofmsg.Installed.from_state(state)
            sent += len(msgs)
        self.desired = desired
        return sent

    def send(self, host, max_hops=64, **fields):
        """Follow a frame from ``host``; returns (hosts it reached, with repeats, loop seen)."""
        todo = [(*self.where[host], fields, 0)]
        seen, delivered, looped = set(), [], False
        while todo:
            dpid, in_port, pkt, hops = todo.pop()
            if (dpid, in_port) in seen or hops > max_hops:
                looped = True
                continue
            seen.add((dpid, in_port))
            res = self.switches[dpid].switch.trace(in_port, **pkt)
            for out in res.outputs:
                if (dpid, out.port) in self.peer:
                    peer, peer_port = self.peer[(dpid, out.port)]
                    if self.fabric.graph.edges[dpid, peer]["up"]:
                        todo.append((peer, peer_port, on_the_wire(out.fields), hops + 1))
                elif (dpid, out.port) in self.hosts:
                    delivered.append(self.hosts[(dpid, out.port)])
        return delivered, looped

    def flow_counts(self):
        return {dpid: dp.switch.flow_count() for dpid, dp in self.switches.items()}


class SimController(AnsweredAtOnce, FabricController):
    """The real fabric controller on in-process switches."""


class FabricCloud:
    """Switch models wired as ``graph`` (hosts' ports numbered after the links), driven by the
    real fabric controller and plug-in (``plugin``: an apps.fabric.FabricPlugin whose ``core``
    takes the status reports)."""

    def __init__(self, plugin, graph, host_ports=4):
        self.plugin = plugin
        self.controller = SimController()
        plugin.app = self.controller
        self.controller.attach(plugin)
        self.switches, self.peer, self.cables = {}, {}, {}
        numbers = {s: iter(range(1, 1000)) for s in graph}
        models = {s: SwitchModel(s) for s in graph}
        for a, b in sorted((min(e), max(e)) for e in graph.edges):
            pa, pb = next(numbers[a]), next(numbers[b])
            models[a].add_port(pa, f"s{a}-eth{pa}")
            models[b].add_port(pb, f"s{b}-eth{pb}")
            self.peer[(a, pa)], self.peer[(b, pb)] = (b, pb), (a, pa)
            self.cables[(a, b)] = True
        for s, model in models.items():
            for _ in range(host_ports):
                no = next(numbers[s])
                model.add_port(no, f"s{s}-eth{no}")
            self.switches[s] = ModelDatapath(model, record=False)
            self.switches[s].is_active = False

    def host_ports(self, dpid):
        """Names of ``dpid``'s ports that lead to no other switch."""
        return [p.name.decode() for no, p in sorted(self.switches[dpid].switch.ports.items())
                if (dpid, no) not in self.peer]

    def connect(self, dpid):
        """The switch connects and describes its ports; its links are heard (LLDP)."""
        dp = self.switches[dpid]
        dp.is_active = True
        self.controller._switch_connected(SimpleNamespace(msg=SimpleNamespace(datapath=dp)))
        desc = [r for r in dp.replies if isinstance(r, parser.OFPPortDescStatsReply)]
        dp.replies = []
        for reply in desc:
            self.controller._port_desc(ofp_event.EventOFPPortDescStatsReply(reply))
        for (a, b), up in self.cables.items():
            if up and dpid in (a, b):
                self._hear(a, b)

    def disconnect(self, dpid):
        dp = self.switches[dpid]
        dp.is_active = False
        self.controller._switch_gone(SimpleNamespace(datapath=dp))

    def _ports_of(self, a, b):
        return next(pa for (s, pa), (peer, _) in self.peer.items() if s == a and peer == b)

    def _hear(self, a, b):
        if self.switches[a].is_active and self.switches[b].is_active:
            self.controller._lldp_heard((a, self._ports_of(a, b)), (b, self._ports_of(b, a)))

    def cable(self, a, b, up):
        """A link's carrier comes or goes: both ends report port status, and a link coming
        up is heard by LLDP."""
        a, b = min(a, b), max(a, b)
        self.cables[(a, b)] = up
        for s, peer in ((a, b), (b, a)):
            dp = self.switches[s]
            if not dp.is_active:
                continue
            no = self._ports_of(s, peer)
            port = dp.switch.ports[no] = dp.switch.ports[no]._replace(
                state=ofp.OFPPS_LIVE if up else ofp.OFPPS_LINK_DOWN)
            msg = parser.OFPPortStatus(dp, ofp.OFPPR_MODIFY, port)
            self.controller._port_status(ofp_event.EventOFPPortStatus(msg))
        if up:
            self._hear(a, b)

    def settle(self, max_passes=10):
        """Run controller passes until nothing is left to do; returns the work counters of
        those passes summed and the flow-, group- and meter-mods sent."""
        return settle(self.controller, lambda: None, max_passes)
