"""A whole fabric in-process: switch models (apps/ofmodel) wired by links, and hosts.

Used by the unit tests and bench_fabric: build a topology as a networkx graph, bind hosts,
compile with apps/fabric_flows.py, load each switch's diff into its SwitchModel, then ``send``
a frame from a host and follow every copy across links until it is delivered or dropped.
A copy that comes back to a (switch, in port) it already crossed is counted as a loop.
"""
import networkx as nx

from apps import fabric_flows, ofmsg
from apps.ofmodel import ModelDatapath, SwitchModel
from controller.logical import Binding
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
