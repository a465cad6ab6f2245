"""The fabric as a networkx graph, and the paths and trees each network uses across it.

Switches are nodes (datapath ids); an inter-switch link is an edge whose ``ports`` attribute
maps each end's dpid to its port number, with ``up`` telling whether it carries traffic. Links
come from LLDP (apps/fabric.py) and go down on port status or LLDP timeout; everything below
only looks at links that are up.

Path choice is deterministic (hop count, ties broken by the destination's dpid), so every computation
from the same graph gives the same flows: that keeps the desired-state diff empty when nothing
changed, and makes every switch agree on one sink tree per destination (no unicast loops).
"""
import dataclasses

import networkx as nx


class FabricGraph:
    """Switches and links with state; mutations return whether anything changed."""

    def __init__(self):
        self.graph = nx.Graph()

    # -- switches --------------------------------------------------------------------------
    def add_switch(self, dpid, ports=None):
        """``ports``: port number -> name (the switch's port description)."""
        self.graph.add_node(dpid, ports=dict(ports or {}))

    def remove_switch(self, dpid):
        if dpid not in self.graph:
            return False
        self.graph.remove_node(dpid)
        return True

    def switches(self):
        return sorted(self.graph.nodes)

    def port_names(self, dpid):
        return self.graph.nodes[dpid]["ports"] if dpid in self.graph else {}

    def set_port(self, dpid, port_no, name):
        if dpid in self.graph:
            self.graph.nodes[dpid]["ports"][port_no] = name

    # -- links -----------------------------------------------------------------------------
    def link_up(self, a, port_a, b, port_b):
        """Record a link seen by LLDP. A link already up between the same ports changes
        nothing; the same pair of switches through other ports replaces the old one."""
        if a == b or a not in self.graph or b not in self.graph:
            return False
        ports = {a: port_a, b: port_b}
        data = self.graph.get_edge_data(a, b)
        if data is not None and data["ports"] == ports and data["up"]:
            return False
        self.graph.add_edge(a, b, ports=ports, up=True)
        return True

    def link_down(self, a, b):
        data = self.graph.get_edge_data(a, b)
        if data is None or not data["up"]:
            return False
        data["up"] = False
        return True

    def port_down(self, dpid, port_no):
        """Take down the link on ``dpid``'s port ``port_no``; returns the peer dpid or None."""
        for peer in list(self.graph.adj.get(dpid, ())):
            data = self.graph.edges[dpid, peer]
            if data["ports"][dpid] == port_no and self.link_down(dpid, peer):
                return peer
        return None

    def link_at(self, dpid, port_no):
        """(peer dpid, peer port) of the link, up or down, on ``dpid``'s port, or None."""
        for peer in self.graph.adj.get(dpid, ()):
            ports = self.graph.edges[dpid, peer]["ports"]
            if ports[dpid] == port_no:
                return peer, ports[peer]
        return None

    def links(self):
        """Every link as (a, port_a, b, port_b, up) with a < b, sorted."""
        out = []
        for a, b, data in self.graph.edges(data=True):
            a, b = min(a, b), max(a, b)
            out.append((a, data["ports"][a], b, data["ports"][b], data["up"]))
        return sorted(out)

    def fabric_ports(self, dpid):
        """Ports of ``dpid`` that lead to another switch (links up or down): never host ports."""
        return {d["ports"][dpid] for _, _, d in self.graph.edges(dpid, data=True)}

    def live(self):
        """The graph of links that are up (a read-only view)."""
        return nx.subgraph_view(self.graph, filter_edge=lambda a, b: self.graph[a][b]["up"])


# -- paths and trees (pure functions of a graph of live links) ---------------------------------
def port_towards(graph, a, b):
    return graph.edges[a, b]["ports"][a]


def sink_tree(graph, dst):
    """For every switch that can reach ``dst``: the neighbour its traffic to ``dst`` goes to.

    Shortest in hops. Among equal next hops the choice depends only on ``dst`` and the
    distance left (a fixed integer hash of both indexes the candidates in dpid order): stable from one computation to the next, and trees
    towards different switches spread over parallel paths (a fat tree's cores)."""
    if dst not in graph:
        return {}
    dist = nx.single_source_shortest_path_length(graph, dst)
    nxt = {}
    for node, d in dist.items():
        if d:
            candidates = sorted(n for n in graph.adj[node] if dist.get(n) == d - 1)
            nxt[node] = candidates[_spread(dst, d) % len(candidates)]
    return nxt


def _spread(dst, dist):
    """A fixed 64-bit mix of (destination, distance): neighbouring dpids and levels of a
    fat tree land on unrelated candidates."""
    x = (dst * 0x9E3779B97F4A7C15 + dist * 0xC2B2AE3D27D4EB4F) & (1 << 64) - 1
    x ^= x >> 31
    return (x * 0xBF58476D1CE4E5B9 & (1 << 64) - 1) >> 32


def path(tree, src, dst):
    """Switches from ``src`` to ``dst`` following ``tree`` = sink_tree(graph, dst)."""
    hops = [src]
    while hops[-1] != dst:
        if hops[-1] not in tree:
            return None
        hops.append(tree[hops[-1]])
    return hops


def broadcast_tree(graph, members, trees=None):
    """A loop-free set of edges spanning ``members``: their paths to the lowest member in that
    member's sink tree. A subtree of one shortest-path tree has no cycle, whatever the
    topology's loops. Members cut off from the root are left out (they are unreachable)."""
    members = sorted(members)
    if not members:
        return set()
    root = members[0]
    tree = (trees or {}).get(root) or sink_tree(graph, root)
    edges = set()
    for m in members[1:]:
        hops = path(tree, m, root)
        for a, b in zip(hops or (), (hops or ())[1:]):
            edges.add((min(a, b), max(a, b)))
    return edges


@dataclasses.dataclass(frozen=True)
class NetworkRoutes:
    """How one network crosses the fabric.

    ``next_port[(switch, dst_switch)]``: port out of ``switch`` towards ``dst_switch`` for
    every switch on a path between two members; ``tree_ports[switch]``: the ports of the
    network's broadcast tree at ``switch``; ``in_ports[(switch, src_switch)]``: the ports
    through which frames of hosts on ``src_switch`` reach ``switch`` (on their paths to the
    other members and along the broadcast tree); ``carriers``: every switch that carries it.
    """

    members: frozenset
    next_port: dict
    tree_ports: dict
    edges: frozenset      # (a, b) with a < b: the links the network uses
    in_ports: dict

    @property
    def carriers(self):
        return self.members | set(self.tree_ports) | {s for s, _ in self.next_port}


def network_routes(graph, members, trees):
    """Routes of a network hosted on ``members``; ``trees`` caches sink trees by dpid."""
    members = frozenset(m for m in members if m in graph)
    for m in members:
        if m not in trees:
            trees[m] = sink_tree(graph, m)
    next_port, edges, in_ports = {}, set(), {}

    def arrives(at, src, prev):
        in_ports.setdefault((at, src), set()).add(port_towards(graph, at, prev))
    for dst in members:
        tree = trees[dst]
        for src in members - {dst}:
            hops = path(tree, src, dst) or ()
            for a, b in zip(hops, hops[1:]):
                next_port[(a, dst)] = port_towards(graph, a, b)
                edges.add((min(a, b), max(a, b)))
                arrives(b, src, a)
    tree_ports = {}
    flood = nx.Graph()
    for a, b in broadcast_tree(graph, members, trees):
        edges.add((a, b))
        flood.add_edge(a, b)
        tree_ports.setdefault(a, set()).add(port_towards(graph, a, b))
        tree_ports.setdefault(b, set()).add(port_towards(graph, b, a))
    for src in members & set(flood):          # a broadcast runs down the tree, away from src
        for prev, at in nx.bfs_edges(flood, src):
            arrives(at, src, prev)
    return NetworkRoutes(members, next_port, {s: frozenset(p) for s, p in tree_ports.items()},
                         frozenset(edges), {k: frozenset(p) for k, p in in_ports.items()})


class RouteTable:
    """Routes of every network, recomputed only where a change can matter.

    A link going down affects the networks whose routes use it; a link coming up (or a switch
    joining) may shorten any path, so every network is recomputed then (rebalance); a network
    whose members changed is recomputed alone. ``update`` says which networks' routes differ.
    """

    def __init__(self):
        self.routes = {}          # network id -> NetworkRoutes
        self._dirty_all = True
        self._dirty_links = set()

    def links_changed(self, down=(), up=False):
        """Note links that went down ((a, b) pairs) and whether any came up."""
        self._dirty_links |= {(min(a, b), max(a, b)) for a, b in down}
        self._dirty_all |= bool(up)

    def update(self, live, hosted):
        """Bring routes in line with ``live`` (graph of links up) and ``hosted`` (network id
        -> member switches); return the ids of the networks whose routes changed."""
        stale = set(self.routes) - set(hosted)
        todo = set(hosted) if self._dirty_all else {
            n for n, members in hosted.items()
            if n not in self.routes or self.routes[n].members != frozenset(
                m for m in members if m in live) or self.routes[n].edges & self._dirty_links}
        trees, changed = {}, set(stale)
        for n in stale:
            del self.routes[n]
        for n in todo:
            new = network_routes(live, hosted[n], trees)
            if self.routes.get(n) != new:
                changed.add(n)
                self.routes[n] = new
        self._dirty_all, self._dirty_links = False, set()
        return changed
