"""Incremental desired state: every switch's flows as a ref-counted union of pieces
(apps/flows.py), recomputed only where a change reaches.

Why: ``compile_chassis`` recomputes a whole switch, and recomputing every switch on every API
call costs seconds with a thousand switches and 100,000 ports. As OVN's incremental processing
does, ``DesiredState.update`` takes the ids of what changed and recomputes only the pieces that
read them, on only the switches that hold (or should now hold) them:

=================================  =============================================================
change                             recomputed
=================================  =============================================================
port added/updated/deleted/moved   its arp/local/remote pieces and its network's flood groups, on
                                   the switches hosting its network(s); on a switch that starts or
                                   stops hosting the network, all of that network's pieces
network updated/deleted, subnet    every piece of the network on the switches hosting it
chassis (iface-ids, tunnels)       bindings that changed (as port changes above); the chassis and
                                   flood pieces of a switch whose tunnel ports changed
QoS policy, network's policy       the ports it applies to (as port changes above): their local
                                   piece's meters change, its flows do not
=================================  =============================================================

The machinery is shared with fabric mode (apps/fabric_state.py): ``SwitchPieces`` (a switch's
ref-counted union) and ``PieceState`` (pieces per switch, shared pieces, the edge families of
apps/pieces.py built once for both modes, the views the core reads); ``DesiredState`` adds
overlay's placement (chassis reports) and its transport families (VXLAN tunnels).

So one port change costs O(switches hosting its network), whatever the size of the cloud, and
pieces that are the same everywhere (a network's tunnel_in/DHCP/flood lookups, a port's ARP
answers and the way to it) are computed once and shared by every switch that holds them.
``update`` returns each touched switch's ``ofmsg.Delta``: exactly the flow-mods and group-mods
that take it from the previous desired state to the new one.

Flow economy: a switch holds its own ports' flows, plus per hosted network a constant handful
(tunnel_in, DHCP, two flood lookups, two flood groups whose buckets are its local ports and one
tunnel per peer) and one ARP answer and one l2 flow per port of that network. Networks it does
not host cost nothing, so flows grow with local ports and hosted networks, not with the cloud.
The l2 flow of a remote port names the destination *switch* (reg0 := tunnel tag) and one
tunnel_out flow per peer picks the tunnel port: this costs one extra table lookup per packet,
and buys flows identical on every switch (encoded once), and a re-created tunnel port that
changes one flow instead of one per remote MAC. Flooding unknown unicast instead of a flow per
remote MAC would save those flows but copy every unicast frame to every switch of the network;
with a proactive controller that knows every MAC it is not worth it.
"""
import dataclasses

import netaddr

from apps import flows, l3, pieces, secgroups
from apps import pipeline as pl
from apps.l3_state import External, Routing, networks_of
from apps.ofmsg import Delta
from controller import binding
from tunnel.mesh import tunnel_port_name, tunnel_tag


@dataclasses.dataclass(frozen=True)
class ChassisView:
    """What the desired state reads from a chassis report."""

    tunnel_ip: str | None
    claims: dict          # (iface-id, declared project) -> ofport of the VM interfaces
    tunnel_ports: dict    # remote tunnel ip -> ofport of the VXLAN ports
    physical: dict = dataclasses.field(default_factory=dict)   # physnet -> its patch ofport

    @classmethod
    def of(cls, chassis):
        claims, tunnel_ports = {}, {}
        for iface in chassis.interfaces.values():
            if not iface.ofport or iface.ofport < 0:
                continue
            if iface.type == "vxlan":
                tunnel_ports[iface.remote_ip] = iface.ofport
            elif iface.iface_id:
                claims.setdefault((iface.iface_id, iface.project_id), iface.ofport)
        return cls(chassis.tunnel_ip, claims, tunnel_ports,
                   dict(getattr(chassis, "physical", None) or {}))


@dataclasses.dataclass
class Counters:
    """Work done by the last ``update`` (benchmarks and tests read them)."""

    switches_visited: int = 0    # switches whose pieces were re-evaluated
    switches_touched: int = 0    # switches whose desired state changed
    pieces_computed: int = 0     # pieces built (a shared piece counts once)
    flows_computed: int = 0      # flows and groups in those pieces
    changes: int = 0             # flow and group changes in the returned deltas


class SwitchPieces:
    """The pieces one switch holds and the union they add up to.

    ``flows``/``groups``/``meters`` are the union (cookie -> Flow, group id -> Group, meter id ->
    Meter); ``extra`` counts the additional pieces holding the same entry, so removing one of two
    pieces that share an entry keeps it. What the union held before the current update is remembered per changed
    entry, so an entry removed and added back within one update costs nothing.
    """

    __slots__ = ("pieces", "flows", "groups", "meters", "extra", "was")

    def __init__(self):
        self.pieces, self.flows, self.groups, self.meters = {}, {}, {}, {}
        self.extra = ({}, {}, {})   # flows, groups, meters: key -> holders beyond the first
        self.was = ({}, {}, {})     # same: key -> value before this update (None: absent)

    def put(self, key, piece):
        """Hold ``piece`` under ``key`` (None: hold nothing there)."""
        old = self.pieces.get(key)
        if old is piece or (old is not None and piece is not None and old == piece):
            return
        if old is not None:
            del self.pieces[key]
            for f in old.flows:
                self._drop(0, self.flows, f.cookie)
            for g in old.groups:
                self._drop(1, self.groups, g.group_id)
            for m in old.meters:
                self._drop(2, self.meters, m.meter_id)
        if piece is not None:
            self.pieces[key] = piece
            for f in piece.flows:
                self._add(0, self.flows, f.cookie, f)
            for g in piece.groups:
                self._add(1, self.groups, g.group_id, g)
            for m in piece.meters:
                self._add(2, self.meters, m.meter_id, m)

    def _add(self, kind, table, key, value):
        if key in table:
            extra = self.extra[kind]
            extra[key] = extra.get(key, 0) + 1
            return
        self.was[kind].setdefault(key, None)
        table[key] = value

    def _drop(self, kind, table, key):
        extra = self.extra[kind]
        n = extra.get(key)
        if n:
            if n == 1:
                del extra[key]
            else:
                extra[key] = n - 1
            return
        self.was[kind].setdefault(key, table[key])
        del table[key]

    def take_delta(self):
        """The Delta since the last call: what changed in the union."""
        delta = Delta()
        was_flows, was_groups, was_meters = self.was
        for cookie, before in was_flows.items():
            now = self.flows.get(cookie)
            if before is None and now is not None:
                delta.adds.append(now)
            elif before is not None and now is None:
                delta.deletes.append((pl.TABLES[before.table].number, before.priority,
                                      before.match, cookie))
        for gid, before in sorted(was_groups.items()):
            now = self.groups.get(gid)
            if now is None:
                if before is not None:
                    delta.group_deletes.append(gid)
            elif before != now:
                delta.groups.append((now, before is not None))
        for mid, before in sorted(was_meters.items()):
            now = self.meters.get(mid)
            if now is None:
                if before is not None:
                    delta.meter_deletes.append(mid)
            elif before != now:   # a new rate: the meter is modified in place
                delta.meters.append((now, before is not None))
        self.was = ({}, {}, {})
        return delta

    def state(self):
        return flows.SwitchState(self.flows, self.groups, self.meters)


class PieceState:
    """What both modes' desired states share: each switch's SwitchPieces, pieces that are
    the same on every switch built once, the work counters, and the views the core
    (apps/reconcile.py) reads: ``bound``, ``bound_on``, ``ports_changed``, ``state()``,
    ``port_at()``. Which pieces exist and who builds them is apps/pieces.py ``FAMILIES``;
    a mode supplies its placement (``is_edge``) and its transport families
    (``transport_<family>``)."""

    def __init__(self):
        self.cold = True          # nothing folded in yet
        self.switches = {}        # switch key -> SwitchPieces
        self.ports = {}           # port id -> Port (controller/logical.py) folded in
        self.networks = {}        # network id -> Network folded in
        self.net_ports = {}       # network id -> set of port ids
        self.bound = {}           # port id -> (switch key, ofport)
        self.bound_by_net = {}    # network id -> {switch key: {port id: ofport}}
        self.bound_on = {}        # switch key -> {port id: ofport}
        self.binding_errors = {}  # port id -> why an interface claiming it may not bind it
        self.inputs = {}          # port id -> PortInputs folded in (model.inputs_of)
        self.shared = {}          # piece key -> (inputs, Piece)
        self.keys = {}            # port id -> its piece keys
        #: security groups: switch key -> {group id: bound ports there whose rules name it},
        #: port id -> (switch key, the groups it counts for there), group id -> ids of its
        #: member ports, and the (switch, group) whose first or last naming port came or went
        #: in this update (its members' address flows come or go there: ``_members_moved``)
        self.wanting, self.counted, self.group_members, self.wanting_moved = {}, {}, {}, set()
        self.ports_changed = set()   # ports whose binding or view the last update changed
        self.counters = Counters()

    def is_edge(self, switch, net_id):
        """Whether ``switch`` hosts ports of ``net_id`` (holds its EDGE pieces)."""
        raise NotImplementedError

    def routed_piece(self, switch, key):
        """A routing family's piece (apps/pieces.py ``routed``); None: the mode routes not."""
        return None

    def routed_legs(self, port):
        """``port``'s addresses as they arrive through its network's routers
        (apps/secgroups.py ``routed_legs``); none where the mode routes not."""
        return ()

    def state(self, key):
        """The full desired SwitchState of a switch (for a resync against what it holds)."""
        switch = self.switches.get(key)
        return switch.state() if switch else flows.SwitchState({}, {})

    def port_at(self, key, ofport):
        """The id of the port bound to ``ofport`` on a switch, or None."""
        for port_id, where in self.bound_on.get(key, {}).items():
            if where == ofport:
                return port_id
        return None

    def placement_of(self, port):
        """(switch key, ofport) where the mode binds ``port`` now, or None."""
        raise NotImplementedError

    def unplace(self, port):
        """Forget what the mode noted of ``port`` when it was placed."""

    def _fold_network(self, model, net_id):
        net = model.networks.get(net_id)
        if net is None:
            self.networks.pop(net_id, None)
            self.shared.pop(("network", net_id), None)
        else:
            self.networks[net_id] = net

    def _fold_port(self, model, port_id):
        old, new = self.ports.get(port_id), model.ports.get(port_id)
        where = self.bound.pop(port_id, None)
        self._uncount_wanting(port_id)
        if old is not None:
            for g in old.security_groups:
                self.group_members.get(g, set()).discard(port_id)
            self.net_ports.get(old.network_id, set()).discard(port_id)
            self.unplace(old)
            if where is not None:
                del self.bound_by_net[old.network_id][where[0]][port_id]
                del self.bound_on[where[0]][port_id]
        if new is None:
            self.ports.pop(port_id, None)
            self.inputs.pop(port_id, None)
            return
        self.ports[port_id] = new
        self.inputs[port_id] = model.inputs_of(new)
        self.net_ports.setdefault(new.network_id, set()).add(port_id)
        for g in new.security_groups:
            self.group_members.setdefault(g, set()).add(port_id)
        where = self.placement_of(new)
        if where is not None:
            self.bound[port_id] = where
            self.bound_by_net.setdefault(new.network_id, {}).setdefault(where[0], {})[
                port_id] = where[1]
            self.bound_on.setdefault(where[0], {})[port_id] = where[1]
            self._count_wanting(port_id, where[0],
                               secgroups.members_wanted(new, self.inputs[port_id].groups))

    def _count_wanting(self, port_id, switch, groups):
        if not groups:
            return
        self.counted[port_id] = (switch, groups)
        wanting = self.wanting.setdefault(switch, {})
        for g in groups:
            wanting[g] = wanting.get(g, 0) + 1
            if wanting[g] == 1:
                self.wanting_moved.add((switch, g))

    def _uncount_wanting(self, port_id):
        switch, groups = self.counted.pop(port_id, (None, ()))
        wanting = self.wanting.get(switch)
        for g in groups:
            wanting[g] -= 1
            if not wanting[g]:
                del wanting[g]
                self.wanting_moved.add((switch, g))

    def _members_moved(self, refresh):
        """Where a switch started or stopped needing a group's members (its first port naming
        the group came, or its last went), their address flows are re-evaluated there: a
        switch holds a member's flows only where some port's rules name its groups."""
        for switch, g in self.wanting_moved:
            refresh.setdefault(switch, set()).update(("sg_member", p)
                                                     for p in self.group_members.get(g, ()))
        self.wanting_moved = set()

    def _refresh(self, refresh, live):
        """Re-evaluate the given pieces of each switch; the deltas of those that changed."""
        deltas = {}
        for c, keys in refresh.items():
            if c not in live:
                continue
            switch = self.switches.get(c)
            if switch is None:
                switch = self.switches[c] = SwitchPieces()
            self.counters.switches_visited += 1
            for key in keys:
                switch.put(key, self._want(c, key))
            delta = switch.take_delta()
            if delta:
                deltas[c] = delta
                self.counters.switches_touched += 1
                self.counters.changes += len(delta)
        return deltas

    def _forget_pieces(self, ports):
        """Drop the shared pieces of deleted ports."""
        for p in ports:
            if p not in self.ports:
                for key in self.keys.pop(p, ()):
                    self.shared.pop(key, None)

    def _network_keys(self, net_id, switch):
        """Keys of the pieces of a network a switch may hold: the network's own, and per port
        its EDGE pieces and either its HOST or its REMOTE ones (a port whose binding changed
        is refreshed with all its keys by its own change)."""
        keys = [(f.name, net_id) for f in pieces.NETWORK_FAMILIES]
        for p in self.net_ports.get(net_id, ()):
            here = self.bound.get(p, (None,))[0] == switch
            keys += [(f.name, p) for f in pieces.PORT_FAMILIES
                     if f.held_on not in (pieces.HOST, pieces.REMOTE)
                     or (f.held_on == pieces.HOST) == here]
        return keys

    def _port_keys(self, port_id):
        """("arp", id), ("local", id), ("remote", id)...: made once, held by many switches."""
        keys = self.keys.get(port_id)
        if keys is None:
            keys = self.keys[port_id] = tuple((f.name, port_id) for f in pieces.PORT_FAMILIES)
        return keys

    def _shared(self, key, inputs, build):
        """A piece that is the same on every switch: built once per distinct ``inputs``."""
        cached = self.shared.get(key)
        if cached is not None and cached[0] == inputs:
            return cached[1]
        piece = build(*inputs)
        self.shared[key] = (inputs, piece)
        if piece is not None:
            self._count(piece)
        return piece

    def _count(self, piece):
        self.counters.pieces_computed += 1
        self.counters.flows_computed += len(piece.flows) + len(piece.groups)

    def _want(self, c, key):
        """The piece switch ``c`` should hold under ``key`` now, or None: an edge family is
        built here, the same way in both modes; a transport family by the mode."""
        family = pieces.BY_NAME[key[0]]
        if family.routed:
            return self.routed_piece(c, key)
        if family.build is None:
            return getattr(self, "transport_" + family.name)(c, key[-1])
        port = self.ports.get(key[-1])
        if port is None or not self.is_edge(c, port.network_id):
            return None
        vni = self.networks[port.network_id].vni
        if family.held_on == pieces.NAMING and \
                not secgroups.wanted_here(port, self.wanting.get(c, {})):
            return None
        if family.held_on in (pieces.EDGE, pieces.NAMING):
            inputs = self.inputs.get(port.id)
            if family.through_routers and inputs is not None and inputs.referenced:
                inputs = dataclasses.replace(inputs, legs=self.routed_legs(port))
            return self._shared(key, (port, vni, inputs), family.build)
        where = self.bound.get(port.id)
        if where is None or not port.admin_up or where[0] != c:
            return None
        return self._shared(key, (port, vni, where[1], self.inputs.get(port.id)),
                            family.build)


class DesiredState(PieceState):
    """The desired state of every chassis (overlay mode), kept current by ``update`` (see the
    module doc).

    It keeps its own copy of what it last folded in (port and network views, chassis views),
    so a change is judged against what the switches were given, whatever the model says now.
    """

    def __init__(self):
        super().__init__()
        self.views = {}           # chassis id -> ChassisView
        self.claims = {}          # iface-id -> {project: {chassis id: ofport}} (binding.py)
        self.by_ip = {}           # tunnel ip -> chassis id
        self.tags = {}            # chassis id -> tunnel tag
        self.tunnels = {}         # chassis id -> {remote chassis id: tunnel ofport}
        self.attached = {}        # iface-id -> ids of the folded ports it can bind
        self.tunnels_dirty = set()   # chassis whose wanted tunnel ports may have changed
        self.routing = Routing()  # routers and floating IPs folded in (apps/l3_state.py)
        self.mapped = {}          # chassis id -> {physical network: ofport} (bridge mappings)
        self.fip_at = {}          # floating IP id -> the hypervisor it lives on
        #: what the last update asks the controller to tell switches besides flows:
        #: (chassis, external network id, mac, ip, target) to send as ARP from there: a
        #: gratuitous one (target None) for a floating IP or gateway that moved there, and a
        #: request for a new gateway's next hop (target: its address) when it is not known
        #: yet, so the first packet out does not wait for it; {chassis: conntrack zones to flush}
        #: (routers that no longer route there: deleted, or their last port there gone)
        self.announce, self.flush = [], {}

    # -- the one entry point ----------------------------------------------------------------
    def update(self, model, chassis, ports=(), networks=(), dirty_chassis=None, routers=(),
               fips=(), neighbors=()):
        """Fold in the ports, networks, routers and floating IPs (ids) that changed in
        ``model``, the external networks whose learned neighbours changed, and the chassis
        reports (``chassis``: the connected ones; ``dirty_chassis``: ids of those that changed,
        None to compare them all). The first update takes in everything. Returns
        {chassis id: Delta} for switches whose desired state changed."""
        self.counters = Counters()
        self.announce, self.flush = [], {}
        ports, networks = set(ports), set(networks)
        routers, fips = set(routers), set(fips)
        if self.cold:
            ports |= set(model.ports)
            networks |= set(model.networks)
            routers |= set(model.routers)
            fips |= set(model.floating_ips)
            dirty_chassis, self.cold = None, False
        live = {c.system_id: c for c in chassis}
        candidates = set(live) if dirty_chassis is None else set(dirty_chassis) & set(live)
        candidates |= set(self.views) - set(live)
        tunnels_changed, new_chassis = self._fold_chassis(model, live, candidates, ports)
        remapped = self._fold_mappings()
        if remapped:
            fips |= set(self.routing.fips)
        refresh = {}                                     # chassis id -> set of piece keys
        nets, port_nets, full = self._fold_model(model, ports, networks, routers, fips,
                                                 refresh)
        for c in new_chassis | tunnels_changed:
            keys = refresh.setdefault(c, set())
            keys.add(("chassis",))
            keys.update(("flood", n) for n in self._hosted_by(c))
        for n, (before, after) in nets.items():
            moved = before ^ after                       # switches starting/stopping to host n
            for c in (before | after) if n in full else moved:
                refresh.setdefault(c, set()).update(self._network_keys(n, c))
            if moved:
                self.tunnels_dirty |= before | after
        for p, its_nets in port_nets.items():
            keys = set(self._port_keys(p))
            for n in its_nets:
                for c in nets[n][0] | nets[n][1]:
                    refresh.setdefault(c, set()).update(keys | {("flood", n)})
        for c in remapped:
            refresh.setdefault(c, set()).update(("localnet", n) for n in self.networks)
        for n in neighbors:
            for c in self._localnet_holders(n):
                refresh.setdefault(c, set()).add(("localnet", n))
        self._members_moved(refresh)
        self.ports_changed = ports
        deltas = self._refresh(refresh, live)
        for c in set(self.switches) - set(live):
            del self.switches[c]
        self._forget_pieces(ports)
        return deltas

    def _fold_model(self, model, ports, networks, routers, fips, refresh):
        """Take in changed ports, networks, routers and floating IPs. Returns {network id:
        (hosts before, hosts after)} for the networks they touch (with those routed into
        from them), {port id: its networks before and after}, and the networks to refresh
        whole on all their hosts (changed ones, and those of changed routers). The routing
        pieces they reach go into ``refresh`` directly."""
        rt = self.routing
        port_nets = {p: {v.network_id for v in (self.ports.get(p), model.ports.get(p))
                         if v is not None} for p in ports}
        router_nets = set().union(*(networks_of(v) for r in routers
                                    for v in (rt.routers.get(r), model.routers.get(r)) if v))
        touched = set(networks).union(*port_nets.values()) | router_nets
        touched |= set().union(*(rt.linked(n) for n in touched))
        reached = set(routers).union(*(rt.net_routers.get(n, ()) for n in touched))
        fips = set(fips).union(*(rt.port_fips.get(p, ()) for p in ports))
        fips |= {f for f, v in rt.fips.items() if v.router_id in reached}
        before = {n: self._hosts(n) for n in touched}
        router_before = {r: self._router_hosts(r) for r in reached}
        for n in networks:
            self._fold_network(model, n)
        for p in ports:
            self._fold_port(model, p)
        zones = {r: l3.zone_of(rt.routers[r]) for r in reached if r in rt.routers}
        for r in routers:
            router = model.routers.get(r)
            rt.fold_router(r, router)
            sub = model.subnets.get(router.gateway.subnet_id) if router and router.gateway \
                else None
            if sub is None:
                rt.ext_gateway_ip.pop(r, None)
            else:
                rt.ext_gateway_ip[r] = sub.gateway
        for f in fips:
            rt.fold_fip(f, model.floating_ips.get(f))
        for r, (old, new) in rt.choose_gateways(self._physnet_of, self.mapped).items():
            self.tunnels_dirty |= {old, new} - {None}
            reached.add(r)
            router_before.setdefault(r, self._router_hosts(r) | {old} - {None})
            fips |= {f for f, v in rt.fips.items() if v.router_id == r}
            ext = rt.gateway_network(r)
            if new is not None:
                gw = rt.routers[r].gateway
                self.announce.append((new, ext, gw.mac, gw.ip, None))
                hop = rt.ext_gateway_ip.get(r)
                if hop and hop not in rt.neighbors.get(ext, {}):
                    self.announce.append((new, ext, gw.mac, gw.ip, hop))
            for c in {old, new} - {None}:
                keys = refresh.setdefault(c, set())
                keys.update({("localnet", ext), ("gateway", r)})
                for n in networks_of(rt.routers[r]) if r in rt.routers else ():
                    keys.update(self._network_keys(n, c))
        for r in reached:
            after = self._router_hosts(r)
            for c in router_before[r] - after if r in zones else ():
                self.flush.setdefault(c, set()).add(zones[r])   # it no longer routes there
            for c in (router_before[r] | after) if r in routers else \
                    (router_before[r] ^ after):
                refresh.setdefault(c, set()).update({("router", r), ("gateway", r)})
        for f in fips:
            old, new = self.fip_at.get(f), self._fip_host(f)
            if new is None:
                self.fip_at.pop(f, None)
            else:
                self.fip_at[f] = new
            fip = self.routing.fips.get(f)
            ext = fip.network_id if fip else None
            if new is not None and new != old:
                self.announce.append((new, ext, l3.fip_mac(fip.floating_ip), fip.floating_ip,
                                      None))
            for c in {old, new} - {None}:
                refresh.setdefault(c, set()).update({("fip", f), ("localnet", ext)})
        full = set(networks) | router_nets
        return {n: (before[n], self._hosts(n)) for n in touched}, port_nets, full

    def wanted_tunnels(self, chassis_id):
        """{tunnel port name: remote ip} the chassis needs: one per switch it shares a network
        with (see tunnel/mesh.py)."""
        own = self.views[chassis_id].tunnel_ip if chassis_id in self.views else None
        if not own:
            return {}
        peers = set()
        for n in self._hosted_by(chassis_id):
            peers |= self._hosts(n)
        peers.discard(chassis_id)
        ips = (self.views[c].tunnel_ip for c in peers)
        return {tunnel_port_name(ip): ip for ip in ips if ip}

    # -- folding inputs in ------------------------------------------------------------------
    def _fold_chassis(self, model, live, candidates, ports):
        """Take in changed chassis reports: claims (which port each iface-id binds), tunnel
        tags and tunnel ports. Ports whose binding may move are added to ``ports``."""
        tunnels_changed, new_chassis, retag = set(), set(), False
        for c in sorted(candidates):
            old = self.views.get(c)
            new = ChassisView.of(live[c]) if c in live else None
            if old == new:
                continue
            if old is None:
                new_chassis.add(c)
            old_claims = old.claims if old else {}
            new_claims = new.claims if new else {}
            for key in old_claims.keys() | new_claims.keys():
                if old_claims.get(key) == new_claims.get(key):
                    continue
                iface_id, project = key
                binding.drop_claim(self.claims, iface_id, project, c)
                if key in new_claims:
                    binding.add_claim(self.claims, iface_id, project, c, new_claims[key])
                ports.update(self.attached.get(iface_id, ()))
            if (old and old.tunnel_ip) != (new and new.tunnel_ip):
                retag = True
            if (old and old.tunnel_ports) != (new and new.tunnel_ports):
                tunnels_changed.add(c)
                self.tunnels_dirty.add(c)   # e.g. a reset OVSDB lost them: ask again
            if new is None:
                del self.views[c]
            else:
                self.views[c] = new
        if retag:
            self.by_ip = {v.tunnel_ip: c for c, v in sorted(self.views.items()) if v.tunnel_ip}
            tags = {c: tunnel_tag(ip) for ip, c in self.by_ip.items()}
            for c in self.tags.keys() | tags.keys():
                if self.tags.get(c) != tags.get(c):
                    ports.update(self.bound_on.get(c, ()))
            self.tags = tags
            tunnels_changed |= set(self.views)
            self.tunnels_dirty |= set(self.views)
        for c in list(tunnels_changed):
            view = self.views.get(c)
            tunnels = {} if view is None else {
                self.by_ip[ip]: ofport for ip, ofport in view.tunnel_ports.items()
                if ip in self.by_ip}
            if tunnels != self.tunnels.get(c, {}):
                self.tunnels[c] = tunnels
            else:
                tunnels_changed.discard(c)
            if view is None:
                self.tunnels.pop(c, None)
        return tunnels_changed, new_chassis

    def placement_of(self, port):
        """Where ``port`` (just folded in) is bound: the switch whose OVSDB reports an
        interface that binds it (controller/binding.py: its id, or its attachment declared for
        its project; the lowest system-id if several do). A claim that may not bind it is
        noted in ``binding_errors``, which its DOWN status carries."""
        for iface_id in binding.claimed_ids(port):
            self.attached.setdefault(iface_id, set()).add(port.id)
        holders, error = binding.holders_of(port, self.claims)
        if error:
            self.binding_errors[port.id] = error
        else:
            self.binding_errors.pop(port.id, None)
        if not holders:
            return None
        host = min(holders)
        return host, holders[host]

    def unplace(self, port):
        for iface_id in binding.claimed_ids(port):
            ids = self.attached.get(iface_id)
            if ids is not None:
                ids.discard(port.id)
                if not ids:
                    del self.attached[iface_id]
        self.binding_errors.pop(port.id, None)

    def _fold_mappings(self):
        """Take in the chassis' bridge mappings; the chassis whose mappings changed."""
        mapped = {c: v.physical for c, v in self.views.items() if v.physical}
        changed = {c for c in mapped.keys() | self.mapped.keys()
                   if mapped.get(c) != self.mapped.get(c)}
        self.mapped = mapped
        return changed

    # -- what a switch should hold ----------------------------------------------------------
    def _bound_hosts(self, net_id):
        return {c for c, bound in self.bound_by_net.get(net_id, {}).items() if bound}

    def _router_hosts(self, router_id):
        """Chassis carrying a router: those with ports on its networks, and its gateway."""
        router = self.routing.routers.get(router_id)
        hosts = set().union(*(self._bound_hosts(n) for n in networks_of(router))) \
            if router else set()
        gateway = self.routing.gateway_of.get(router_id)
        return hosts | {gateway} if gateway else hosts

    def _hosts(self, net_id):
        """Chassis hosting a network: an admin-up network with a port bound there, or that
        routes into it (it carries a router of the network)."""
        net = self.networks.get(net_id)
        if net is None or not net.admin_up:
            return set()
        hosts = self._bound_hosts(net_id)
        for r in self.routing.net_routers.get(net_id, ()):
            hosts |= self._router_hosts(r)
        return hosts

    def is_edge(self, chassis_id, net_id):
        net = self.networks.get(net_id)
        if net is None or not net.admin_up:
            return False
        if self.bound_by_net.get(net_id, {}).get(chassis_id):
            return True
        return net_id in self.routing.net_routers and chassis_id in self._hosts(net_id)

    def _hosted_by(self, chassis_id):
        nets = {self.ports[p].network_id for p in self.bound_on.get(chassis_id, ())}
        nets |= set().union(*(self.routing.linked(n) for n in nets))
        nets |= set().union(*(networks_of(self.routing.routers[r])
                              for r, c in self.routing.gateway_of.items() if c == chassis_id))
        return {n for n in nets if self.is_edge(chassis_id, n)}

    # -- routing (apps/l3.py) -------------------------------------------------------------------
    def _physnet_of(self, net_id):
        net = self.networks.get(net_id)
        return net.physical_network if net is not None and net.external else None

    def external_networks(self, physnet):
        """Ids of the external networks on physical network ``physnet``."""
        return [n for n in self.networks if self._physnet_of(n) == physnet]

    def external_network_of(self, vni):
        """The id of the external network with ``vni``, or None."""
        return next((n for n, net in self.networks.items() if net.vni == vni and net.external),
                    None)

    def router_leg(self, key, vni, version=4):
        """(MAC, IPv4 or IPv6 address) of the router with key ``key`` (its zone index) on
        the network with ``vni`` (its gateway's on the external network), or None."""
        router = next((r for r in self.routing.routers.values() if r.zone == key), None)
        for itf in (router.interfaces + ((router.gateway,) if router.gateway else ())
                    if router else ()):
            net = self.networks.get(itf.network_id)
            if net is not None and net.vni == vni and (":" in itf.ip) == (version == 6):
                return itf.mac, itf.ip
        return None

    def router_mac(self, vni, ip):
        """The MAC of the router interface holding address ``ip`` on the network with
        ``vni``, or None."""
        ip = netaddr.IPAddress(ip)
        for router in self.routing.routers.values():
            for itf in router.interfaces:
                net = self.networks.get(itf.network_id)
                if net is not None and net.vni == vni and netaddr.IPAddress(itf.ip) == ip:
                    return itf.mac
        return None

    def _fip_host(self, fip_id):
        return self.routing.fip_host(fip_id, self.bound, self._physnet_of, self.mapped)

    def _external(self, router):
        """The External of the router's gateway network, or None (none, or not known)."""
        net = self.networks.get(router.gateway.network_id) if router.gateway else None
        if net is None or not net.external:
            return None
        return External(net.vni, self.routing.ext_gateway_ip.get(router.id))

    def _localnet_holders(self, net_id):
        """Chassis holding the external network's localnet piece: gateways and floating
        IP hosts on it."""
        rt = self.routing
        holders = {rt.gateway_of.get(r) for r in rt.routers_through(net_id)}
        holders |= {self.fip_at.get(f) for f, v in rt.fips.items() if v.network_id == net_id}
        return holders - {None}

    def routed_piece(self, c, key):
        name, ident = key
        return getattr(self, "_routed_" + name)(c, ident)

    def routed_legs(self, port):
        routers = [self.routing.routers[r]
                   for r in sorted(self.routing.net_routers.get(port.network_id, ()))]
        nets = {i.network_id for r in routers for i in r.interfaces}
        vnis = {n: self.networks[n].vni for n in nets
                if n in self.networks and self.networks[n].admin_up}
        return secgroups.routed_legs(port, routers, vnis) if routers else ()

    def _routed_neighbor(self, c, port_id):
        port = self.ports.get(port_id)
        if port is None or port.network_id not in self.routing.net_routers or \
                not self.is_edge(c, port.network_id):
            return None
        return self._shared(("neighbor", port_id),
                            (port, self.networks[port.network_id].vni), l3.neighbor_piece)

    def _routed_router(self, c, router_id):
        router = self.routing.routers.get(router_id)
        if router is None or c not in self._router_hosts(router_id):
            return None
        vnis = {n: self.networks[n].vni for n in sorted(networks_of(router))
                if n in self.networks and self.networks[n].admin_up}
        ext = self._external(router)
        gateway = self.routing.gateway_of.get(router_id)
        tag = self.tags.get(gateway) if ext is not None and gateway is not None else None
        return self._shared(("router", router_id),
                            (router, tuple(sorted(vnis.items())), tag,
                             ext.gateway_ip if ext else None),
                            lambda r, v, t, g: l3.router_piece(r, dict(v), t, g))

    def _routed_gateway(self, c, router_id):
        router = self.routing.routers.get(router_id)
        if router is None or self.routing.gateway_of.get(router_id) != c:
            return None
        ext = self._external(router)
        if ext is None:
            return None
        return self._shared(("gateway", router_id), (router, ext.vni, ext.gateway_ip),
                            l3.gateway_piece)

    def _routed_fip(self, c, fip_id):
        fip = self.routing.fips.get(fip_id)
        router = self.routing.routers.get(fip.router_id) if fip and fip.router_id else None
        if router is None or self.fip_at.get(fip_id) != c:
            return None
        ext = self._external(router)
        if ext is None:
            return None
        return self._shared(("fip", fip_id), (router, fip, ext.vni, ext.gateway_ip),
                            l3.fip_piece)

    def _routed_localnet(self, c, net_id):
        net = self.networks.get(net_id)
        if net is None or not net.external or c not in self._localnet_holders(net_id):
            return None
        ofport = self.mapped.get(c, {}).get(net.physical_network)
        if ofport is None:
            return None
        piece = l3.localnet_piece(net.vni, ofport,
                                  dict(self.routing.neighbors.get(net_id, {})))
        self._count(piece)
        return piece

    # -- the transport families (apps/pieces.py): VXLAN tunnels between chassis --------------
    def transport_chassis(self, c, _):
        piece = flows.chassis_piece({self.tags[r]: ofport for r, ofport
                                     in self.tunnels.get(c, {}).items()})
        self._count(piece)
        return piece

    def transport_network(self, c, net_id):
        if not self.is_edge(c, net_id):
            return None
        return self._shared(("network", net_id), (self.networks[net_id],), flows.network_piece)

    def transport_flood(self, c, net_id):
        return self._flood(c, self.networks[net_id]) if self.is_edge(c, net_id) else None

    def transport_remote(self, c, port_id):
        port = self.ports.get(port_id)
        if port is None or not self.is_edge(c, port.network_id):
            return None
        where = self.bound.get(port_id)
        if where is None or not port.admin_up:
            return None
        host = where[0]
        if host == c or host not in self.tags:
            return None
        return self._shared(("remote", port_id),
                            (port, self.networks[port.network_id].vni, self.tags[host]),
                            flows.remote_port_piece)

    def _flood(self, c, net):
        tunnels = self.tunnels.get(c, {})
        local, remote = [], []
        for host, bound in self.bound_by_net.get(net.id, {}).items():
            up = [ofport for p, ofport in bound.items() if self.ports[p].admin_up]
            if host == c:
                local = up
            elif up and host in tunnels:
                remote.append(tunnels[host])
        piece = flows.flood_piece(net.vni, local, remote)
        self._count(piece)
        return piece
